// Tensor bindings for inputs larger than one storage binding: each tensor is bound as up to
// PAGES consecutive pages of 2^page_shift 32-bit words (page k at binding start + k pages), and
// an element index picks its page with a shift and a mask. Unused pages are bound to a small
// placeholder buffer.
// Bindings: predictions 1, 8, 9, 10; targets 2, 11, 12, 13; gradient 5, 14, 15, 16; the vec4
// views 6, 7, 17 of bindings_flat.wgsl are declared for the shared code but never used here.
// The VEC4 path reads and writes quads word by word within one page: a page holds a multiple
// of 4 words and VEC4 offsets are multiples of 4, so a quad never straddles two pages.

@group(0) @binding(1) var<storage, read> preds: array<f32>;
@group(0) @binding(8) var<storage, read> preds1: array<f32>;
@group(0) @binding(9) var<storage, read> preds2: array<f32>;
@group(0) @binding(10) var<storage, read> preds3: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(11) var<storage, read> targets1: array<u32>;
@group(0) @binding(12) var<storage, read> targets2: array<u32>;
@group(0) @binding(13) var<storage, read> targets3: array<u32>;
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;
@group(0) @binding(14) var<storage, read_write> grad1: array<f32>;
@group(0) @binding(15) var<storage, read_write> grad2: array<f32>;
@group(0) @binding(16) var<storage, read_write> grad3: array<f32>;
@group(0) @binding(6) var<storage, read> preds4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> targets4: array<vec4<u32>>;
@group(0) @binding(17) var<storage, read_write> grad4: array<vec4<f32>>;

fn page_of(e: u32) -> u32 {
    return e >> params.page_shift;
}

fn in_page(e: u32) -> u32 {
    return e & ((1u << params.page_shift) - 1u);
}

// 32-bit word w of the predictions.
fn pred_word(w: u32) -> f32 {
    let j = in_page(w);
    switch page_of(w) {
        case 0u: { return preds[j]; }
        case 1u: { return preds1[j]; }
        case 2u: { return preds2[j]; }
        default: { return preds3[j]; }
    }
}

// Prediction `e`; with PRED_F16 the pages hold f16 pairs, two to a word.
fn pred_at(e: u32) -> f32 {
    if (PRED_F16) {
        return f16_pair(bitcast<u32>(pred_word(e >> 1u)))[e & 1u];
    }
    return pred_word(e);
}

// Predictions e .. e + 3 (e a multiple of 4, VEC4 path).
fn pred_quad(e: u32) -> vec4<f32> {
    if (PRED_F16) {
        let w = e >> 1u;
        return vec4<f32>(f16_pair(bitcast<u32>(pred_word(w))), f16_pair(bitcast<u32>(pred_word(w + 1u))));
    }
    let j = in_page(e);
    switch page_of(e) {
        case 0u: { return vec4<f32>(preds[j], preds[j + 1u], preds[j + 2u], preds[j + 3u]); }
        case 1u: { return vec4<f32>(preds1[j], preds1[j + 1u], preds1[j + 2u], preds1[j + 3u]); }
        case 2u: { return vec4<f32>(preds2[j], preds2[j + 1u], preds2[j + 2u], preds2[j + 3u]); }
        default: { return vec4<f32>(preds3[j], preds3[j + 1u], preds3[j + 2u], preds3[j + 3u]); }
    }
}

fn target_word(e: u32) -> u32 {
    let j = in_page(e);
    switch page_of(e) {
        case 0u: { return targets[j]; }
        case 1u: { return targets1[j]; }
        case 2u: { return targets2[j]; }
        default: { return targets3[j]; }
    }
}

fn store_grad(e: u32, v: f32) {
    let j = in_page(e);
    switch page_of(e) {
        case 0u: { grad[j] = v; }
        case 1u: { grad1[j] = v; }
        case 2u: { grad2[j] = v; }
        default: { grad3[j] = v; }
    }
}

// Target words j .. j + 3 (j a multiple of 4, VEC4 path).
fn target_quad(j: u32) -> vec4<u32> {
    return vec4<u32>(target_word(j), target_word(j + 1u), target_word(j + 2u), target_word(j + 3u));
}

// Gradient elements e .. e + 3 (e a multiple of 4, VEC4 path).
fn store_grad_quad(e: u32, v: vec4<f32>) {
    let j = in_page(e);
    switch page_of(e) {
        case 0u: { grad[j] = v.x; grad[j + 1u] = v.y; grad[j + 2u] = v.z; grad[j + 3u] = v.w; }
        case 1u: { grad1[j] = v.x; grad1[j + 1u] = v.y; grad1[j + 2u] = v.z; grad1[j + 3u] = v.w; }
        case 2u: { grad2[j] = v.x; grad2[j + 1u] = v.y; grad2[j + 2u] = v.z; grad2[j + 3u] = v.w; }
        default: { grad3[j] = v.x; grad3[j + 1u] = v.y; grad3[j + 2u] = v.z; grad3[j + 3u] = v.w; }
    }
}
