// dice_partials: the fused forward pass. Reads every prediction and label once, applies the
// activation in registers, one-hot masks each class on the fly, and accumulates per class
//   A = sum p*y   (or sum |p - y| with soft_l1),  P = sum p (or p^2),  Y = sum y (or y^2)
// over a grid-stride loop, then reduces them with a workgroup tree and writes one partial per
// workgroup. Invalid labels and non-finite inputs are counted into `status`.
//
// Dispatch: (groups, class chunks, samples). Workgroup (g, k, b) covers classes
// [k * CLASS_CHUNK, (k + 1) * CLASS_CHUNK) of sample b, pixels g * WG + i, stepping groups * WG.
// Bindings: 0 params, 1 preds, 2 targets, 3 partials (write), 4 status (atomic counters).
// Partials layout: [(b * chunks + k) * groups + g][3][CLASS_CHUNK].
// Workgroup size: WG (override, a power of two).

@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>, 4>;

override WG: u32 = 128u;

var<workgroup> red: array<f32, 24u * WG>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = wid.x;
    let chunk = wid.y;
    let b = wid.z + params.sample_base;
    let n_c = params.n_classes;
    let n_s = params.spatial;
    let c0 = chunk * CLASS_CHUNK;
    let pred_base = params.pred_offset + b * n_c * n_s;
    let dense = params.target_kind == TARGET_DENSE;

    var acc_a: array<f32, CLASS_CHUNK>;
    var acc_p: array<f32, CLASS_CHUNK>;
    var acc_y: array<f32, CLASS_CHUNK>;
    var bad_labels = 0u;
    var non_finite = 0u;

    for (var s = g * WG + lid; s < n_s; s += params.groups * WG) {
        var label = 0u;
        var valid = true;
        if (!dense) {
            label = label_at(b * n_s + s);
            if (label == params.ignore_label) {
                valid = false;
            } else if (label >= n_c) {
                // Counted once per pixel, by the first chunk only.
                bad_labels += select(0u, 1u, chunk == 0u);
                valid = false;
            }
        }
        var norm = vec2<f32>(0.0, 1.0);
        if (params.activation == ACT_SOFTMAX) {
            norm = softmax_norm(pred_base, s);
        }
        for (var k = 0u; k < CLASS_CHUNK; k++) {
            let c = c0 + k;
            if (c >= n_c) {
                break;
            }
            let x = preds[pred_base + c * n_s + s];
            var y = select(0.0, 1.0, label == c);
            var keep = valid;
            if (dense) {
                // Dense targets are masked per element (smp multilabel/binary ignore_index).
                y = dense_at((b * n_c + c) * n_s + s);
                non_finite += select(1u, 0u, is_finite(y));
                keep = params.ignore_label == NO_IGNORE || y != f32(params.ignore_label);
            }
            non_finite += select(1u, 0u, is_finite(x));
            if (!keep) {
                continue;
            }
            let p = activate(x, norm);
            if (params.soft_l1 == 1u) {
                acc_a[k] += abs(p - y);
            } else {
                acc_a[k] += p * y;
            }
            if (params.squared == 1u) {
                acc_p[k] += p * p;
                acc_y[k] += y * y;
            } else {
                acc_p[k] += p;
                acc_y[k] += y;
            }
        }
    }

    if (bad_labels > 0u) {
        atomicAdd(&status[STATUS_BAD_LABELS], bad_labels);
    }
    if (non_finite > 0u) {
        atomicAdd(&status[STATUS_NON_FINITE], non_finite);
    }

    for (var k = 0u; k < CLASS_CHUNK; k++) {
        red[k * WG + lid] = acc_a[k];
        red[(CLASS_CHUNK + k) * WG + lid] = acc_p[k];
        red[(2u * CLASS_CHUNK + k) * WG + lid] = acc_y[k];
    }
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            for (var j = 0u; j < 3u * CLASS_CHUNK; j++) {
                red[j * WG + lid] += red[j * WG + lid + stride];
            }
        }
        workgroupBarrier();
    }
    let n_chunks = (n_c + CLASS_CHUNK - 1u) / CLASS_CHUNK;
    if (lid < 3u * CLASS_CHUNK) {
        let slot = ((b * n_chunks + chunk) * params.groups + g) * 3u * CLASS_CHUNK;
        partials[slot + lid] = red[lid * WG];
    }
}
