// Input readers shared by dice_partials and dice_gradient, prepended after common.wgsl and
// one of the binding files (bindings_flat.wgsl: one binding per tensor; bindings_paged.wgsl:
// tensors larger than one binding, split over pages). Both define `pred_at(e)`,
// `target_word(j)` and `store_grad(e, v)` over element indices relative to the binding start.

// Specialisation: each (activation, target format, sums form, class count) gets its own
// pipeline, so branches on these fold away and class loops have constant trip counts.
override ACTIVATION: u32 = 0u;  // ACT_*
override TARGET_KIND: u32 = 0u; // TARGET_*
override SQUARED: bool = false; // P = sum p^2, Y = sum y^2
override SOFT_L1: bool = false; // A = sum |p - y|
override N_CLASSES: u32 = 1u;   // C
override CE_KIND: u32 = 0u;     // CE_*: the cross-entropy term fused into the passes
// Quads of consecutive pixels per thread with vec4 loads and stores (word by word within a
// page when the tensors are paged). The host sets it only where C <= CLASS_CHUNK, the spatial
// size and every offset are multiples of 4, and labels are integers (u8, u16 or u32).
override VEC4: bool = false;
// Predictions stored as f16 (two per 32-bit word), read with unpack2x16float: half the
// prediction traffic, no shader-f16 feature needed; sums and gradients stay f32.
override PRED_F16: bool = false;

// The input loops' layout over items (pixels, or quads of pixels on the VEC4 paths): workgroup
// g of n_groups takes a contiguous run of items, and within it each group of LANES threads a
// contiguous run of its own, LANES items per step. A CPU rasteriser runs each SIMD group of
// LANES invocations through the whole loop before the next, so each streams through memory in
// order; on a GPU (LANES = WG) every step of the workgroup is one contiguous, coalesced span.
override LANES: u32 = 128u;

// Items each thread takes when the `items` of a sample are spread over n_groups workgroups.
fn items_per_thread(items: u32, n_groups: u32) -> u32 {
    return (items + n_groups * WG - 1u) / (n_groups * WG);
}

// The item (index within the sample) of step i of thread `lid` in workgroup g; at or past the
// sample's item count for the tail threads.
fn run_index(g: u32, lid: u32, per_thread: u32, i: u32) -> u32 {
    return g * per_thread * WG + (lid / LANES) * per_thread * LANES + i * LANES + lid % LANES;
}

// The integer label of pixel `i` (sample-major, i = b * S + s), unpacking u8/u16 words.
fn label_at(i: u32) -> u32 {
    let j = params.target_offset + i;
    switch TARGET_KIND {
        case TARGET_U8: {
            return (target_word(j >> 2u) >> ((j & 3u) * 8u)) & 0xffu;
        }
        case TARGET_U16: {
            return (target_word(j >> 1u) >> ((j & 1u) * 16u)) & 0xffffu;
        }
        case TARGET_U32: {
            return target_word(j);
        }
        default: {
            return UNKNOWN_LABEL;
        }
    }
}

// A pixel's label and whether it takes part (it is not the ignore label); label 0, kept, for
// dense targets, which are masked element by element.
struct PixelLabel {
    label: u32,
    kept: bool,
}

fn pixel_label(pixel: u32) -> PixelLabel {
    if (TARGET_KIND == TARGET_DENSE) {
        return PixelLabel(0u, true);
    }
    let label = label_at(pixel);
    return PixelLabel(label, !ignored_label(label));
}

// The dense target value of element `e` (e = (b * C + c) * S + s).
fn dense_at(e: u32) -> f32 {
    return bitcast<f32>(target_word(params.target_offset + e));
}

// Whether dense target value y is the ignore value: dense targets are masked per element
// (smp's multilabel/binary ignore_index). Never for labels, whose one-hot 0/1 is no target value.
fn ignored_dense(y: f32) -> bool {
    return TARGET_KIND == TARGET_DENSE && params.ignore_label != NO_IGNORE
        && y == f32(params.ignore_label);
}

// Softmax normaliser of pixel (b, s): the maximum logit and 1 / sum exp(x - max).
fn softmax_norm(pred_base: u32, s: u32) -> vec2<f32> {
    let n_c = N_CLASSES;
    let stride = params.spatial;
    var m = pred_at(pred_base + s);
    for (var c = 1u; c < n_c; c++) {
        m = max(m, pred_at(pred_base + c * stride + s));
    }
    var z = 0.0;
    for (var c = 0u; c < n_c; c++) {
        z += exp(pred_at(pred_base + c * stride + s) - m);
    }
    return vec2<f32>(m, 1.0 / z);
}

// Where the cross-entropy coefficients (u_c, v_c) start in the plan's `coefs` buffer: after the
// n_rows * C Dice coefficient pairs; (sum v, 0) follows them.
fn ce_coef_base() -> u32 {
    return params.n_rows * N_CLASSES;
}

// Where pixel (b * S + s)'s softmax normaliser sits in `coefs`: after the coefficients.
fn norm_index(pixel: u32) -> u32 {
    return ce_coef_base() + N_CLASSES + 1u + pixel;
}

// The stored softmax normaliser of a pixel (b * S + s), in the plan's `coefs` buffer, which
// every input kernel binds (softmax over C > CLASS_CHUNK).
fn norm_at(pixel: u32) -> vec2<f32> {
    return coefs[norm_index(pixel)];
}

// ln σ(x), stable on both sides (WGSL has no log1p; 1 + e rounds only where e < 2^-24, an
// absolute error below 6e-8).
fn log_sigmoid(x: f32) -> f32 {
    return min(x, 0.0) - log(1.0 + exp(-abs(x)));
}

// MONAI's sigmoid focal element and its derivative in x, as `cpu::focal`: f = exp(γ ln σ(z)) B
// with z = -x (2y - 1) (σ(z) = 1 - p_t) and B = x - x y - ln σ(x);
// f' = exp(γ ln σ(z)) (γ σ(-z) (1 - 2y) B + σ(x) - y).
fn focal(x: f32, y: f32) -> vec2<f32> {
    let gamma = params.focal_gamma;
    let z = -x * (2.0 * y - 1.0);
    let m = exp(gamma * log_sigmoid(z));
    let b = x - x * y - log_sigmoid(x);
    return vec2<f32>(m * b, m * (gamma * sigmoid(-z) * (1.0 - 2.0 * y) * b + sigmoid(x) - y));
}

// Whether the cross-entropy term takes the softmax of the raw inputs (its log-sum-exp).
fn softmax_term() -> bool {
    switch CE_KIND {
        case CE_SOFTMAX, CE_SOFTMAX_FOCAL: {
            return true;
        }
        case CE_OFF, CE_SIGMOID, CE_FOCAL: {
            return false;
        }
        // An unknown kind: no softmax here; its terms (`ce_terms`) are NaN.
        default: {
            return false;
        }
    }
}

// (1 - q)^γ and γ (1 - q)^(γ - 1) of MONAI's softmax focal loss (1 and 0 at γ = 0, as
// PyTorch's pow(0, 0) = 1).
fn focal_powers(q: f32) -> vec2<f32> {
    let gamma = params.focal_gamma;
    if (gamma == 0.0) {
        return vec2<f32>(1.0, 0.0);
    }
    let r = log(1.0 - q);
    return vec2<f32>(exp(gamma * r), gamma * exp((gamma - 1.0) * r));
}

// MONAI's softmax focal h_c = a_c q_c d(-(1 - q)^γ ln q)/dq with a_c = u y, as `cpu::focal_h`:
// the element's share of d loss / d x is h_c - q_c sum_k h_k.
fn focal_h(x: f32, lse: f32, y: f32, u: f32) -> f32 {
    let lq = x - lse;
    let q = exp(lq);
    let pw = focal_powers(q);
    return u * y * (pw.y * q * lq - pw.x);
}

// The target the sigmoid cross-entropy reads for y: a * y + b, its label smoothing
// (`CrossEntropy::sigmoid_target`).
fn ce_target(y: f32) -> f32 {
    return params.ce_target_scale * y + params.ce_target_offset;
}

// The cross-entropy sums' terms (X1, X2) of one kept element with raw input x and target y, as
// `cpu::Pixel::ce_terms`: softmax (y (lse - x), lse - x) with the pixel's log-sum-exp `lse`;
// sigmoid (-t ln σ(x), -(1 - t) ln(1 - σ(x))) with t = ce_target(y); focal (y f, (1 - y) f);
// softmax focal (y (1 - q)^γ (lse - x), 0).
fn ce_terms(x: f32, lse: f32, y: f32) -> vec2<f32> {
    switch CE_KIND {
        case CE_SOFTMAX: {
            return vec2<f32>(y * (lse - x), lse - x);
        }
        case CE_SIGMOID: {
            let t = ce_target(y);
            return vec2<f32>(-t * log_sigmoid(x), -(1.0 - t) * log_sigmoid(-x));
        }
        case CE_FOCAL: {
            let f = focal(x, y).x;
            return vec2<f32>(y * f, (1.0 - y) * f);
        }
        case CE_SOFTMAX_FOCAL: {
            return vec2<f32>(y * focal_powers(exp(x - lse)).x * (lse - x), 0.0);
        }
        default: {
            return vec2<f32>(nan(), nan());
        }
    }
}

// The probability of one element from its raw value and the pixel's softmax normaliser.
fn activate(x: f32, norm: vec2<f32>) -> f32 {
    switch ACTIVATION {
        case ACT_SOFTMAX: {
            return exp(x - norm.x) * norm.y;
        }
        case ACT_SIGMOID: {
            return sigmoid(x);
        }
        case ACT_NONE: {
            return x;
        }
        default: {
            return nan();
        }
    }
}

// The logits (or probabilities) of one class chunk of a pixel and how many are not finite;
// with a cross-entropy term also the raw inputs and (softmax) the log-sum-exp of the pixel's
// raw inputs.
struct ChunkProbs {
    p: array<f32, CLASS_CHUNK>,
    non_finite: u32,
    x: array<f32, CLASS_CHUNK>,
    lse: f32,
}

// Probabilities of classes [c0, c0 + CLASS_CHUNK) of pixel (pred_base, s); zero past the last
// class. Each logit of the chunk is read once; with softmax over more classes than one chunk
// the normaliser reads the others too. When every class fits one chunk (C <= 8, a constant
// here), softmax needs no second read and no second exp.
fn chunk_probs(pred_base: u32, pixel: u32, s: u32, c0: u32) -> ChunkProbs {
    var out: ChunkProbs;
    for (var k = 0u; k < CLASS_CHUNK; k++) {
        if (c0 + k < N_CLASSES) {
            let x = pred_at(pred_base + (c0 + k) * params.spatial + s);
            out.p[k] = x;
            out.non_finite += select(1u, 0u, is_finite(x));
            if (CE_KIND != CE_OFF) {
                out.x[k] = x;
            }
        }
    }
    let softmax_ce = softmax_term();
    if ((ACTIVATION == ACT_SOFTMAX || softmax_ce) && N_CLASSES <= CLASS_CHUNK) {
        var m = out.p[0];
        for (var k = 1u; k < N_CLASSES; k++) {
            m = max(m, out.p[k]);
        }
        var z = 0.0;
        var e: array<f32, CLASS_CHUNK>;
        for (var k = 0u; k < N_CLASSES; k++) {
            e[k] = exp(out.p[k] - m);
            z += e[k];
        }
        if (softmax_ce) {
            out.lse = m + log(z);
        }
        if (ACTIVATION == ACT_SOFTMAX) {
            let inv = 1.0 / z;
            for (var k = 0u; k < N_CLASSES; k++) {
                out.p[k] = e[k] * inv;
            }
            return out;
        }
    }
    var norm = vec2<f32>(0.0, 1.0);
    if (ACTIVATION == ACT_SOFTMAX || (softmax_ce && N_CLASSES > CLASS_CHUNK)) {
        // Softmax over more classes than one chunk: the normaliser dice_normaliser stored
        // (`norm_at` is defined by each kernel over its binding).
        norm = norm_at(pixel);
        if (softmax_ce) {
            out.lse = norm.x - log(norm.y);
        }
    }
    if (ACTIVATION != ACT_SOFTMAX) {
        norm = vec2<f32>(0.0, 1.0);
    }
    for (var k = 0u; k < CLASS_CHUNK; k++) {
        if (c0 + k < N_CLASSES) {
            out.p[k] = activate(out.p[k], norm);
        }
    }
    return out;
}

// Labels of pixels i .. i + 3 (i a multiple of 4, VEC4 path): one word of u8 labels, two
// words of u16 labels, or four u32 labels.
fn label_quad(i: u32) -> vec4<u32> {
    let j = params.target_offset + i;
    if (TARGET_KIND == TARGET_U8) {
        let w = target_word(j >> 2u);
        return vec4<u32>(w & 0xffu, (w >> 8u) & 0xffu, (w >> 16u) & 0xffu, w >> 24u);
    }
    if (TARGET_KIND == TARGET_U16) {
        let lo = target_word(j >> 1u);
        let hi = target_word((j >> 1u) + 1u);
        return vec4<u32>(lo & 0xffffu, lo >> 16u, hi & 0xffffu, hi >> 16u);
    }
    return target_quad(j);
}

// Every class (C <= CLASS_CHUNK) of pixels s .. s + 3 (VEC4 path), before normalising: with
// softmax the exponentials exp(x - max) and `inv` = 1 / their sum, so that p = e * inv as
// `chunk_probs` computes it for one pixel; otherwise the probabilities and `inv` = 1. And how
// many inputs are not finite.
struct QuadExps {
    e: array<vec4<f32>, CLASS_CHUNK>,
    inv: vec4<f32>,
    non_finite: u32,
    // With a softmax cross-entropy term (and softmax activation, the only pairing the host
    // sends down this path): the raw logits and each pixel's log-sum-exp.
    x: array<vec4<f32>, CLASS_CHUNK>,
    lse: vec4<f32>,
}

fn quad_exps(pred_base: u32, s: u32) -> QuadExps {
    var out: QuadExps;
    out.inv = vec4<f32>(1.0);
    for (var k = 0u; k < N_CLASSES; k++) {
        let x = pred_quad(pred_base + k * params.spatial + s);
        out.e[k] = x;
        if (CE_KIND == CE_SOFTMAX) {
            out.x[k] = x;
        }
        let bits = bitcast<vec4<u32>>(x) & vec4<u32>(0x7f800000u);
        let inf_or_nan = bits == vec4<u32>(0x7f800000u);
        out.non_finite += dot(select(vec4<u32>(0u), vec4<u32>(1u), inf_or_nan), vec4<u32>(1u));
    }
    if (ACTIVATION == ACT_SOFTMAX) {
        var m = out.e[0];
        for (var k = 1u; k < N_CLASSES; k++) {
            m = max(m, out.e[k]);
        }
        var z = vec4<f32>(0.0);
        for (var k = 0u; k < N_CLASSES; k++) {
            out.e[k] = exp(out.e[k] - m);
            z += out.e[k];
        }
        out.inv = 1.0 / z;
        if (CE_KIND == CE_SOFTMAX) {
            out.lse = m + log(z);
        }
    } else if (ACTIVATION == ACT_SIGMOID) {
        for (var k = 0u; k < N_CLASSES; k++) {
            let x = out.e[k];
            let e = exp(-abs(x));
            out.e[k] = select(e / (1.0 + e), 1.0 / (1.0 + e), x >= vec4<f32>(0.0));
        }
    }
    return out;
}

