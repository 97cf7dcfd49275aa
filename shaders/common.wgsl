// Shared by every softdice kernel: the parameter block, the shared constants, Kahan's step and
// small numeric helpers. Prepended to each kernel's source by the host (`src/shaders/mod.rs`),
// so every kernel file is validated together with this one.

// The host's twin is `Params` in src/params.rs (tests/shaders.rs checks every offset).
struct Params {
    n_samples: u32,     // B
    n_classes: u32,     // C
    spatial: u32,       // S, product of the spatial dims
    groups: u32,        // workgroups per (sample, class chunk) in dice_partials
    pred_offset: u32,   // element offset of predictions in their binding
    target_offset: u32, // element offset of targets (label index, or f32 index when dense)
    grad_offset: u32,   // element offset of the gradient in its binding
    ignore_label: u32,  // NO_IGNORE when unset
    soft_l1: u32,       // 1: slot A holds sum |p - y| (MONAI soft_label with ord 1)
    batch_scope: u32,   // 1: one row of sums for the whole batch, 0: one row per sample
    n_rows: u32,        // 1 or B
    // Always 1.0. Multiplying by a value the compiler cannot see keeps Kahan's compensation
    // `(t - s) - y` from being folded to 0 by fast-math rewrites (Mesa does fold it).
    one: f32,
    page_shift: u32,    // log2 of the words in one page (bindings_paged.wgsl)
    ce_kind: u32,       // CE_*: the fused cross-entropy term (the input kernels' CE_KIND)
    focal_gamma: f32,   // its focal exponent (CE_FOCAL)
    upstream: u32,      // 1: dice_finalize scales its coefficients by `upstream` (a VJP)
    // The target a * y + b the sigmoid cross-entropy reads (its label smoothing).
    ce_target_scale: f32,
    ce_target_offset: f32,
    // dice_counts' threshold on the probability (its DECISION_THRESHOLD): predicted where
    // p > threshold, or p == threshold too where threshold_inclusive is 1.
    threshold: f32,
    threshold_inclusive: u32,
}
// Activation, target format, squared sums and the class count are not here: they are
// `override` constants of the input kernels (inputs.wgsl), one pipeline per combination.

// One Kahan step on three running sums: returns the new sums and compensations. The product
// with params.one keeps the compiler from folding the compensation away.
fn kahan_add(sum: vec3<f32>, err: vec3<f32>, x: vec3<f32>) -> array<vec3<f32>, 2> {
    let y = x - err;
    let t = (sum + y) * params.one;
    return array<vec3<f32>, 2>(t, (t - sum) - y);
}

const ACT_NONE: u32 = 0u;
const ACT_SOFTMAX: u32 = 1u;
const ACT_SIGMOID: u32 = 2u;

const TARGET_U32: u32 = 0u;
const TARGET_U8: u32 = 1u;
const TARGET_U16: u32 = 2u;
const TARGET_DENSE: u32 = 3u;

const NO_IGNORE: u32 = 0xffffffffu;

// Whether labels are the ignore label. Never where nothing is ignored: a label equal to the
// NO_IGNORE sentinel (u32::MAX, Burn's i32 -1) is then out of range like any other.
fn ignored_label(label: u32) -> bool {
    return params.ignore_label != NO_IGNORE && label == params.ignore_label;
}

fn ignored_quad(labels: vec4<u32>) -> vec4<bool> {
    return (labels == vec4<u32>(params.ignore_label)) & vec4<bool>(params.ignore_label != NO_IGNORE);
}

// Classes handled by one dice_partials workgroup; more classes use more chunks (dispatch y).
const CLASS_CHUNK: u32 = 8u;

// Sums per row and class: the Dice sums (A, P, Y), then the cross-entropy sums (X1, X2).
const SUM_TERMS: u32 = 5u;

// Terms per class in a partial: the cross-entropy sums only where a term is fused (partials
// scale with the workgroups, which tiny spatial sizes and large batches make many).
fn partial_terms(ce_kind: u32) -> u32 {
    return select(3u, SUM_TERMS, ce_kind != CE_OFF);
}

// The cross-entropy term of a compound loss (the CE_KIND override of the input kernels and
// FinalizeParams::ce_kind): off, softmax over the classes, sigmoid per element, MONAI's sigmoid
// focal loss per element, MONAI's softmax focal loss.
const CE_OFF: u32 = 0u;
const CE_SOFTMAX: u32 = 1u;
const CE_SIGMOID: u32 = 2u;
const CE_FOCAL: u32 = 3u;
const CE_SOFTMAX_FOCAL: u32 = 4u;

// Status words, counted with integer atomics (exact and order-independent).
const STATUS_WORDS: u32 = 4u;
const STATUS_BAD_LABELS: u32 = 0u;
const STATUS_NON_FINITE: u32 = 1u;
const STATUS_SUBGROUPS: u32 = 2u;

// Whether a call's status words make its results void: bad input counted, or a device fault
// (dice_finalize and dice_gradient then write NaN).
fn status_void(words: array<u32, STATUS_WORDS>) -> bool {
    return words[STATUS_BAD_LABELS] != 0u || words[STATUS_NON_FINITE] != 0u
        || words[STATUS_SUBGROUPS] != 0u;
}

@group(0) @binding(0) var<uniform> params: Params;

// A quiet NaN: what a void result holds, and what the `default` arm of every switch on a host
// code returns, so that a code the shaders do not know shows as NaN instead of a formula.
fn nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

// The label a reader returns for a target code it does not know: out of every class range,
// so it is counted as a bad label and the call is refused.
const UNKNOWN_LABEL: u32 = 0xfffffffeu;

fn is_finite(x: f32) -> bool {
    // Bit test rather than x == x: a compiler may fold comparisons under fast-math rules.
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn sigmoid(x: f32) -> f32 {
    // Written so neither branch overflows: exp of a non-positive number only.
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// IEEE half (the low 16 bits of `h`) to f32, with integer operations only: unpack2x16float
// would make every module need the f16-in-f32 capability, even where PRED_F16 is off.
fn f16_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let exponent = (h >> 10u) & 0x1fu;
    let mantissa = h & 0x3ffu;
    // Subnormals (and zero): mantissa * 2^-24.
    let tiny = f32(mantissa) * 5.9604645e-8;
    let subnormal = bitcast<f32>(bitcast<u32>(tiny) | sign);
    let inf_nan = bitcast<f32>(sign | 0x7f800000u | (mantissa << 13u));
    let normal = bitcast<f32>(sign | ((exponent + 112u) << 23u) | (mantissa << 13u));
    return select(select(normal, inf_nan, exponent == 31u), subnormal, exponent == 0u);
}

// The two halves of a 32-bit word (low first), as unpack2x16float returns them.
fn f16_pair(w: u32) -> vec2<f32> {
    return vec2<f32>(f16_to_f32(w & 0xffffu), f16_to_f32(w >> 16u));
}

