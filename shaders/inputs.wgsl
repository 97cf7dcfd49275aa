// Input readers shared by dice_partials and dice_gradient (prepended after common.wgsl).
// Bindings: 1 predictions (f32), 2 targets (u32 words: labels as u32, packed u8/u16, or dense
// f32 bit patterns).

@group(0) @binding(1) var<storage, read> preds: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;

// The integer label of pixel `i` (sample-major, i = b * S + s), unpacking u8/u16 words.
fn label_at(i: u32) -> u32 {
    let j = params.target_offset + i;
    switch params.target_kind {
        case TARGET_U8: {
            return (targets[j >> 2u] >> ((j & 3u) * 8u)) & 0xffu;
        }
        case TARGET_U16: {
            return (targets[j >> 1u] >> ((j & 1u) * 16u)) & 0xffffu;
        }
        default: {
            return targets[j];
        }
    }
}

// The dense target value of element `e` (e = (b * C + c) * S + s).
fn dense_at(e: u32) -> f32 {
    return bitcast<f32>(targets[params.target_offset + e]);
}

// Softmax normaliser of pixel (b, s): the maximum logit and 1 / sum exp(x - max).
fn softmax_norm(pred_base: u32, s: u32) -> vec2<f32> {
    let n_c = params.n_classes;
    let stride = params.spatial;
    var m = preds[pred_base + s];
    for (var c = 1u; c < n_c; c++) {
        m = max(m, preds[pred_base + c * stride + s]);
    }
    var z = 0.0;
    for (var c = 0u; c < n_c; c++) {
        z += exp(preds[pred_base + c * stride + s] - m);
    }
    return vec2<f32>(m, 1.0 / z);
}

// The probability of one element from its raw value and the pixel's softmax normaliser.
fn activate(x: f32, norm: vec2<f32>) -> f32 {
    switch params.activation {
        case ACT_SOFTMAX: {
            return exp(x - norm.x) * norm.y;
        }
        case ACT_SIGMOID: {
            return sigmoid(x);
        }
        default: {
            return x;
        }
    }
}
