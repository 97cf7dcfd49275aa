// Floor kernels for `throughput --floor`: the least a fused soft-Dice pass could do on this
// adapter with the same traffic, no Dice arithmetic, no labels. One quad of pixels per
// thread; dispatch (S / 4 / WG, B). Bindings: 0 preds [B, C, S] (vec4), 1 out [B, C, S]
// (vec4), 2 a one-word sink that keeps the forward floor's sums alive.
//   forward:  read every prediction, apply the activation, sum the probabilities.
//   backward: read every prediction, apply the activation, write one value per element.
//   copy:     out = preds (the device's own copy bandwidth for these bytes).

@group(0) @binding(0) var<storage, read> preds: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> sink: array<f32>;

override N_CLASSES: u32 = 8u;
override ACTIVATION: u32 = 1u; // 0 none, 1 softmax, 2 sigmoid
override S_QUADS: u32 = 1u;    // spatial size / 4
const WG: u32 = 128u;

fn probs(b: u32, q: u32) -> array<vec4<f32>, 8> {
    var p: array<vec4<f32>, 8>;
    let base = b * N_CLASSES * S_QUADS + q;
    var m = preds[base];
    for (var c = 0u; c < N_CLASSES; c++) {
        p[c] = preds[base + c * S_QUADS];
        m = max(m, p[c]);
    }
    if (ACTIVATION == 1u) {
        var z = vec4<f32>(0.0);
        for (var c = 0u; c < N_CLASSES; c++) {
            p[c] = exp(p[c] - m);
            z += p[c];
        }
        let inv = 1.0 / z;
        for (var c = 0u; c < N_CLASSES; c++) {
            p[c] *= inv;
        }
    } else if (ACTIVATION == 2u) {
        for (var c = 0u; c < N_CLASSES; c++) {
            p[c] = 1.0 / (1.0 + exp(-p[c]));
        }
    }
    return p;
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= S_QUADS) {
        return;
    }
    let p = probs(id.y, id.x);
    var acc = vec4<f32>(0.0);
    for (var c = 0u; c < N_CLASSES; c++) {
        acc += p[c];
    }
    // Never true for finite inputs; the compiler cannot know that.
    if (dot(acc, vec4<f32>(1.0)) == -1.0) {
        sink[0] = 1.0;
    }
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= S_QUADS) {
        return;
    }
    let p = probs(id.y, id.x);
    let base = id.y * N_CLASSES * S_QUADS + id.x;
    for (var c = 0u; c < N_CLASSES; c++) {
        out[base + c * S_QUADS] = p[c];
    }
}

@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= S_QUADS) {
        return;
    }
    let base = id.y * N_CLASSES * S_QUADS + id.x;
    for (var c = 0u; c < N_CLASSES; c++) {
        out[base + c * S_QUADS] = preds[base + c * S_QUADS];
    }
}
