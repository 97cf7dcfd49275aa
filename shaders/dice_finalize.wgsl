// dice_finalize: from the (A, P, Y) sums of every row and class, the smoothed dice, the loss
// elements (form, class weights, Generalized Dice weights, empty-class policy) and the
// per-class gradient coefficients d loss / d A and d loss / d P that dice_gradient reads.
// Mirrors `cpu::dice_finalize`. Two entry points, one bind group:
// - `main`: one thread per cell (per row for Generalized Dice, which couples the classes of a
//   row); dispatch (groups, 1, 1), grid-stride over cells or rows;
// - `total`: one workgroup sums the loss elements in a fixed order (strided per-thread sums,
//   then a tree) into out[0]; a counted bad input makes it NaN.
// Bindings (numbers: `softdice::shaders::bindings`): params, fin (uniform), class_info [c] =
// (selected, weight, cross-entropy u, v), sums [r][c][A, P, Y, X1, X2] then the pixel count
// (read), out = [loss, dice[r][c], loss_elements[r][c], cross-entropy, bad labels,
// non-finite] (write), coefs [r][c][cA, cP] then [c][u, v] and (sum v, 0) (write), status
// (read), upstream (read: the upstream gradient of the loss output when params.upstream is
// 1). Workgroup size: WG (override).

// The host's twin is `FinalizeParams` in src/params.rs (tests/shaders.rs checks it).
struct FinalizeParams {
    smooth_nr: f32,
    smooth_dr: f32,
    denom_clamp: f32,   // denominators below this are clamped (0: off)
    log_clamp: f32,     // -log(max(dice, log_clamp)) (0: off)
    loss_form: u32,     // FORM_*
    reduction: u32,     // RED_*
    generalized: u32,   // GDL_*
    zero_absent: u32,   // 1: classes with Y == 0 give zero loss (smp)
    normalize_weights: u32, // 1: mean divides by the sum of the weights (smp class_weights)
    n_selected: u32,    // selected classes
    alpha: f32,         // Tversky weight of the false positives (Dice: 1/2)
    beta: f32,          // Tversky weight of the false negatives (Dice: 1/2)
    loss_exponent: f32, // the reduced loss is raised to this power (1: off)
    lambda_dice: f32,   // the Dice term's weight in the total
    ce_kind: u32,       // CE_*: the fused cross-entropy term
    ce_lambda: f32,     // its weight in the total
    ce_classes: u32,    // the classes it covers (its per-element mean counts them)
    ce_divisor: u32,    // CE_DIV_*: what its mean divides by
    spatial: f32,       // the spatial size (CE_DIV_SPATIAL)
    index: u32,         // INDEX_*: the similarity index
    mcc_eps: f32,       // ε of each MCC count
    _pad0: u32,
    _pad1: u32,
}

const CE_DIV_ONE: u32 = 0u;
const CE_DIV_LABEL_WEIGHT: u32 = 1u;
const CE_DIV_PIXELS: u32 = 2u;
const CE_DIV_ELEMENTS: u32 = 3u;
const CE_DIV_SPATIAL: u32 = 4u;

const INDEX_TVERSKY: u32 = 0u;
const INDEX_MCC: u32 = 1u;

const FORM_ONE_MINUS: u32 = 0u;
const FORM_NEG_LOG: u32 = 1u;
const FORM_NEGATIVE: u32 = 2u;

const RED_MEAN: u32 = 0u;
const RED_SUM: u32 = 1u;
const RED_NONE: u32 = 2u;

const GDL_OFF: u32 = 0u;
const GDL_SQUARE: u32 = 1u;
const GDL_SIMPLE: u32 = 2u;
const GDL_UNIFORM: u32 = 3u;

@group(0) @binding(8) var<uniform> fin: FinalizeParams;
@group(0) @binding(9) var<storage, read> class_info: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read> sums: array<f32>;
@group(0) @binding(11) var<storage, read_write> out: array<f32>;
@group(0) @binding(12) var<storage, read_write> coefs: array<f32>;
@group(0) @binding(4) var<storage, read> status: array<u32, STATUS_WORDS>;
@group(0) @binding(14) var<storage, read> upstream: array<f32>;

// Intersection from the A slot: A itself, or (P + Y - sum|p - y|) / 2 in the soft L1 form.
fn intersection(a: f32, p: f32, y: f32) -> f32 {
    if (params.soft_l1 == 1u) {
        return 0.5 * (p + y - a);
    }
    return a;
}

// The loss of one dice value and its derivative d loss / d dice.
fn loss_of(d: f32) -> vec2<f32> {
    switch fin.loss_form {
        case FORM_NEG_LOG: {
            if (fin.log_clamp > 0.0 && d < fin.log_clamp) {
                return vec2<f32>(-log(fin.log_clamp), 0.0);
            }
            return vec2<f32>(-log(d), -1.0 / d);
        }
        case FORM_NEGATIVE: {
            return vec2<f32>(-d, -1.0);
        }
        case FORM_ONE_MINUS: {
            return vec2<f32>(1.0 - d, -1.0);
        }
        default: {
            return vec2<f32>(nan(), nan());
        }
    }
}

// Whether denom_clamp replaces a denominator: 0 turns it off (a negative denominator, from
// an activation with negative outputs, stays as it is).
fn clamps(den: f32) -> bool {
    return fin.denom_clamp > 0.0 && den < fin.denom_clamp;
}

// Generalized Dice weight of a class from its ground-truth sum (may be +inf).
fn gdl_weight(y: f32) -> f32 {
    switch fin.generalized {
        case GDL_SQUARE: {
            return 1.0 / (y * y);
        }
        case GDL_SIMPLE: {
            return 1.0 / y;
        }
        case GDL_UNIFORM: {
            return 1.0;
        }
        default: {
            return nan();
        }
    }
}

fn is_inf(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u;
}

// Where (A, P, Y, X1, X2) of cell (r, c) starts in `sums`.
fn cell(r: u32, c: u32) -> u32 {
    return (r * params.n_classes + c) * SUM_TERMS;
}

// Stores the gradient coefficients of a cell from d loss / d I and d loss / d P.
fn store_coefs(r: u32, c: u32, d_i: f32, d_p: f32) {
    let at = (r * params.n_classes + c) * 2u;
    if (params.soft_l1 == 1u) {
        // I = (P + Y - A) / 2
        coefs[at] = -0.5 * d_i;
        coefs[at + 1u] = d_p + 0.5 * d_i;
    } else {
        coefs[at] = d_i;
        coefs[at + 1u] = d_p;
    }
}

override WG: u32 = 128u;

// Reduction multiplier of every loss element (the same in every thread).
fn multiplier() -> f32 {
    let n_r = params.n_rows;
    if (fin.reduction != RED_MEAN) {
        return 1.0;
    }
    if (fin.generalized != GDL_OFF) {
        return 1.0 / f32(n_r);
    }
    if (fin.normalize_weights == 1u) {
        var w_sum = 0.0;
        for (var c = 0u; c < params.n_classes; c++) {
            w_sum += class_info[c].x * class_info[c].y;
        }
        return 1.0 / (f32(n_r) * w_sum);
    }
    return 1.0 / f32(n_r * fin.n_selected);
}

// Dice, loss element and coefficients of one cell (plain per-class dice).
fn finalize_cell(r: u32, c: u32, m: f32) {
    let n_c = params.n_classes;
    let rc = params.n_rows * n_c;
    let at = cell(r, c);
    let p = sums[at + 1u];
    let y = sums[at + 2u];
    let i = intersection(sums[at], p, y);
    // The index and its derivatives d / d I, d / d P.
    var s: vec3<f32>;
    switch fin.index {
        case INDEX_TVERSKY: {
            s = tversky(i, p, y);
        }
        case INDEX_MCC: {
            // The row's elements: the pixels summed over its rows' share.
            s = mcc(i, p, y, sums[params.n_rows * n_c * SUM_TERMS] / f32(params.n_rows));
        }
        default: {
            s = vec3<f32>(nan());
        }
    }
    let d = s.x;
    out[1u + r * n_c + c] = d;
    out[1u + rc + r * n_c + c] = 0.0;
    store_coefs(r, c, 0.0, 0.0);
    if (fin.generalized != GDL_OFF || class_info[c].x == 0.0) {
        return;
    }
    var l = loss_of(d);
    if (fin.zero_absent == 1u && y <= 0.0) {
        l = vec2<f32>(0.0);
    }
    let w = class_info[c].y;
    out[1u + rc + r * n_c + c] = w * l.x;
    let g = m * w * l.y;
    store_coefs(r, c, g * s.y, g * s.z);
}

// The Tversky index in Dice scale and its derivatives d / d I, d / d P:
// (2 I + smooth_nr) / (2 (I + alpha (P - I) + beta (Y - I)) + smooth_dr); a clamped
// denominator is a constant.
fn tversky(i: f32, p: f32, y: f32) -> vec3<f32> {
    let k = 1.0 - fin.alpha - fin.beta;
    let num = 2.0 * i + fin.smooth_nr;
    let den = 2.0 * (k * i + fin.alpha * p + fin.beta * y) + fin.smooth_dr;
    if (clamps(den)) {
        return vec3<f32>(num / fin.denom_clamp, 2.0 / fin.denom_clamp, 0.0);
    }
    return vec3<f32>(num / den, 2.0 / den - 2.0 * k * num / (den * den), -2.0 * fin.alpha * num / (den * den));
}

// The soft MCC over n elements and its derivatives d / d I, d / d P, as `softdice::mcc`
// (the root does not depend on I).
fn mcc(i: f32, p: f32, y: f32, n: f32) -> vec3<f32> {
    let e = fin.mcc_eps;
    let tp = i + e;
    let fp = p - i + e;
    let fal = y - i + e;
    let tn = n - p - y + i + e;
    let num = tp * tn - fp * fal;
    let s1 = tp + fp;
    let s2 = tp + fal;
    let s4 = tn + fal;
    let root = sqrt(s1 * s2 * (tn + fp) * s4);
    let value = num / root;
    return vec3<f32>(value, (tp + tn + fp + fal) / root, -s2 / root - 0.5 * value * (1.0 / s1 - 1.0 / s4));
}

// Generalized Dice weight of class c in row r, infinite ones replaced by `w_max`.
fn gdl_weight_of(r: u32, c: u32, w_max: f32) -> f32 {
    let w = gdl_weight(sums[cell(r, c) + 2u]);
    return select(w, w_max, is_inf(w));
}

// Generalized Dice over the classes of row r: its loss element (column 0) and the
// coefficients of its classes.
fn finalize_gdl_row(r: u32, m: f32) {
    let n_c = params.n_classes;
    let rc = params.n_rows * n_c;
    // Infinite weights (absent classes) become the row's largest finite weight.
    var w_max = 0.0;
    for (var c = 0u; c < n_c; c++) {
        let w = gdl_weight(sums[cell(r, c) + 2u]);
        if (class_info[c].x != 0.0 && !is_inf(w)) {
            w_max = max(w_max, w);
        }
    }
    var numer = fin.smooth_nr;
    var denom = fin.smooth_dr;
    for (var c = 0u; c < n_c; c++) {
        if (class_info[c].x == 0.0) {
            continue;
        }
        let at = cell(r, c);
        let p = sums[at + 1u];
        let y = sums[at + 2u];
        let w = gdl_weight_of(r, c, w_max);
        numer += 2.0 * w * intersection(sums[at], p, y);
        denom += w * (p + y);
    }
    let clamped = clamps(denom);
    denom = select(denom, fin.denom_clamp, clamped);
    let l = loss_of(numer / denom);
    out[1u + rc + r * n_c] = l.x;
    let g = m * l.y;
    for (var c = 0u; c < n_c; c++) {
        if (class_info[c].x == 0.0) {
            continue;
        }
        let w = gdl_weight_of(r, c, w_max);
        var dd_p = -numer * w / (denom * denom);
        if (clamped) {
            dd_p = 0.0;
        }
        store_coefs(r, c, g * 2.0 * w / denom, g * dd_p);
    }
}

@compute @workgroup_size(WG)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) n_wg: vec3<u32>,
) {
    let n_c = params.n_classes;
    let n_r = params.n_rows;
    let m = multiplier();
    let stride = n_wg.x * WG;
    if (fin.generalized == GDL_OFF) {
        for (var j = gid.x; j < n_r * n_c; j += stride) {
            finalize_cell(j / n_c, j % n_c, m);
        }
        return;
    }
    // One thread owns a whole row: its cells' dice first, then the row's loss and coefficients.
    for (var r = gid.x; r < n_r; r += stride) {
        for (var c = 0u; c < n_c; c++) {
            finalize_cell(r, c, m);
        }
        finalize_gdl_row(r, m);
    }
}

// The cross-entropy term's (u_c, v_c) before λ_ce and the mean's divisor (the host's
// `CrossEntropy::uv`: softmax ((1 - ε) w, ε w / C), sigmoid kinds (w pw, w nw)).
fn ce_uv(c: u32) -> vec2<f32> {
    return class_info[c].zw;
}

// The upstream gradient of the output cell j feeds: 1 without one; the loss's for a reduced
// loss; the cell's own for `Reduction::None` (its row's, column 0, for Generalized Dice);
// NaN after a counted bad input (dice_gradient then writes NaN).
fn upstream_of(j: u32) -> f32 {
    if (params.upstream == 0u) {
        return 1.0;
    }
    if (status_void(status)) {
        return nan();
    }
    if (fin.reduction != RED_NONE) {
        return upstream[0];
    }
    if (fin.generalized != GDL_OFF) {
        return upstream[j - j % params.n_classes];
    }
    return upstream[j];
}

@compute @workgroup_size(WG)
fn total(@builtin(local_invocation_index) lid: u32) {
    let n = params.n_rows * params.n_classes;
    // Per thread: the Dice loss elements, the cross-entropy sum and its label weight.
    var acc = vec3<f32>(0.0);
    for (var j = lid; j < n; j += WG) {
        acc.x += out[1u + n + j];
        if (fin.ce_kind != CE_OFF) {
            let c = j % params.n_classes;
            let at = j * SUM_TERMS;
            let uv = ce_uv(c);
            acc.y += uv.x * sums[at + 3u] + uv.y * sums[at + 4u];
            // The label weight w_c = u_c + C v_c (softmax).
            acc.z += (uv.x + f32(params.n_classes) * uv.y) * sums[at + 2u];
        }
    }
    let t = tree_sum(lid, acc);
    let dice_loss = t.x * multiplier();
    // The cross-entropy mean's divisor (the pixel count follows the sums).
    var divisor = 1.0;
    switch fin.ce_divisor {
        case CE_DIV_LABEL_WEIGHT: {
            divisor = t.z;
        }
        case CE_DIV_PIXELS: {
            divisor = sums[n * SUM_TERMS];
        }
        case CE_DIV_ELEMENTS: {
            divisor = sums[n * SUM_TERMS] * f32(fin.ce_classes);
        }
        case CE_DIV_SPATIAL: {
            divisor = fin.spatial;
        }
        case CE_DIV_ONE: {}
        default: {
            divisor = nan();
        }
    }
    // Nothing kept (every pixel ignored): 0, as `cpu::ce_finalize` (PyTorch's mean: 0 / 0).
    let kept = divisor != 0.0;
    let ce = select(0.0, t.y / divisor, kept);
    // λ_dice · loss^γ; λ_dice = 0 drops the term (0 · NaN would not vanish). pow only off 1:
    // pow(x, 1) is exp2(log2(x)) on most drivers, neither exact nor defined for the negative
    // losses of FORM_NEGATIVE.
    var dice_total = 0.0;
    var scale = 0.0;
    if (fin.lambda_dice != 0.0) {
        dice_total = fin.lambda_dice * dice_loss;
        scale = fin.lambda_dice;
        if (fin.loss_exponent != 1.0) {
            dice_total = fin.lambda_dice * pow(dice_loss, fin.loss_exponent);
            scale *= fin.loss_exponent * pow(dice_loss, fin.loss_exponent - 1.0);
        }
    }
    if (lid == 0u) {
        out[0] = dice_total + fin.ce_lambda * ce;
        out[1u + 2u * n] = ce;
        // The counts as floats: merged by addition beside the sums (softdice-burn's state).
        out[2u + 2u * n] = f32(status[STATUS_BAD_LABELS]);
        out[3u + 2u * n] = f32(status[STATUS_NON_FINITE]);
        if (status_void(status)) {
            out[0] = nan();
        }
    }
    // After a counted bad input the loss elements are NaN too (`Reduction::None` returns
    // them); every thread has read its own before the tree's barriers.
    if (status_void(status)) {
        for (var j = lid; j < n; j += WG) {
            out[1u + n + j] = nan();
        }
    }
    // The Dice coefficients (written by `main`, read by dice_gradient after this dispatch)
    // times d total / d loss and the upstream gradient of the output they feed (a
    // vector-Jacobian product); `tree_sum` gave every thread the same loss.
    if (scale != 1.0 || params.upstream == 1u) {
        for (var j = lid; j < 2u * n; j += WG) {
            let f = scale * upstream_of(j / 2u);
            coefs[j] = select(0.0, coefs[j] * f, scale != 0.0);
        }
    }
    // The cross-entropy coefficients (u_c, v_c) with λ_ce, the divisor and the upstream
    // gradient (the total is one value), then (sum v, 0).
    if (fin.ce_kind != CE_OFF) {
        let k = select(0.0, fin.ce_lambda / divisor, kept) * upstream_of(0u);
        for (var c = lid; c < params.n_classes; c += WG) {
            let uv = ce_uv(c) * k;
            coefs[2u * (n + c)] = uv.x;
            coefs[2u * (n + c) + 1u] = uv.y;
        }
        if (lid == 0u) {
            var v_sum = 0.0;
            for (var c = 0u; c < params.n_classes; c++) {
                v_sum += ce_uv(c).y * k;
            }
            coefs[2u * (n + params.n_classes)] = v_sum;
            coefs[2u * (n + params.n_classes) + 1u] = 0.0;
        }
    }
}
