// dice_normaliser: the softmax normaliser of every pixel, (max logit, 1 / sum exp(x - max)),
// for softmax over more classes than one chunk. dice_partials runs once per class
// chunk and dice_gradient passes over the classes twice; with the normaliser stored, each
// reads a pixel's other logits no more (one exp per element and pass).
//
// Dispatch: (groups, min(samples, max_dim)); the threads of workgroup (g, b) take runs of
// pixels of sample b laid out by run_index. Bindings: params, preds (pages in
// bindings_paged.wgsl), the plan's coefficient buffer `coefs`, whose tail after the
// n_rows * C coefficient pairs holds the normalisers [b][s] (write). Workgroup size: WG
// (override).

@group(0) @binding(12) var<storage, read_write> coefs: array<vec2<f32>>;

override WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) n_wg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let n_s = params.spatial;
    // Samples past the dispatch limit (the device's max_compute_workgroups_per_dimension)
    // are taken in a grid-stride loop.
    for (var b = wid.y; b < params.n_samples; b += n_wg.y) {
        let pred_base = params.pred_offset + b * N_CLASSES * n_s;
        let per_pixel = items_per_thread(n_s, n_wg.x);
        for (var i = 0u; i < per_pixel; i++) {
            let s = run_index(wid.x, lid, per_pixel, i);
            if (s < n_s) {
                coefs[norm_index(b * n_s + s)] = softmax_norm(pred_base, s);
            }
        }
    }
}
