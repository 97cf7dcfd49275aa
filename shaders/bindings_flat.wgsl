// Tensor bindings for inputs that fit one storage binding each (the usual case).
// Bindings: 1 predictions (f32), 2 targets (u32 words: labels as u32, packed u8/u16, or dense
// f32 bit patterns), 5 gradient (f32, dice_gradient only); and vec4 views of the same regions
// for the VEC4 path (4 pixels per thread, aligned inputs): 6 predictions, 7 u32 labels,
// 17 gradient (bound to a placeholder when unused).

@group(0) @binding(1) var<storage, read> preds: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;
@group(0) @binding(6) var<storage, read> preds4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> targets4: array<vec4<u32>>;
@group(0) @binding(17) var<storage, read_write> grad4: array<vec4<f32>>;

fn pred_at(e: u32) -> f32 {
    return preds[e];
}

fn target_word(j: u32) -> u32 {
    return targets[j];
}

fn store_grad(e: u32, v: f32) {
    grad[e] = v;
}
