// Tensor bindings for inputs that fit one storage binding each (the usual case).
// Bindings: predictions (f32), targets (u32 words: labels as u32, packed u8/u16, or dense f32
// bit patterns), gradient (f32, dice_gradient only); and vec4 views of the same regions for
// the VEC4 path (4 pixels per thread, aligned inputs): predictions, u32 labels, gradient
// (bound to a placeholder when unused). Numbers: `softdice::shaders::bindings`.

@group(0) @binding(1) var<storage, read> preds: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;
@group(0) @binding(6) var<storage, read> preds4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> targets4: array<vec4<u32>>;
@group(0) @binding(13) var<storage, read_write> grad4: array<vec4<f32>>;

// Prediction `e`; with PRED_F16 the binding holds f16 pairs, two to a 32-bit word.
fn pred_at(e: u32) -> f32 {
    if (PRED_F16) {
        return f16_pair(bitcast<u32>(preds[e >> 1u]))[e & 1u];
    }
    return preds[e];
}

// Predictions e .. e + 3 (e a multiple of 4, VEC4 path).
fn pred_quad(e: u32) -> vec4<f32> {
    if (PRED_F16) {
        let j = e >> 1u;
        return vec4<f32>(
            f16_pair(bitcast<u32>(preds[j])),
            f16_pair(bitcast<u32>(preds[j + 1u])),
        );
    }
    return preds4[e >> 2u];
}

fn target_word(j: u32) -> u32 {
    return targets[j];
}

fn store_grad(e: u32, v: f32) {
    grad[e] = v;
}

// Target words j .. j + 3 (j a multiple of 4, VEC4 path).
fn target_quad(j: u32) -> vec4<u32> {
    return targets4[j >> 2u];
}

// Gradient elements e .. e + 3 (e a multiple of 4, VEC4 path).
fn store_grad_quad(e: u32, v: vec4<f32>) {
    grad4[e >> 2u] = v;
}
