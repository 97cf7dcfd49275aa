// dice_reduce: folds the per-workgroup partials of dice_partials into one (A, P, Y) triple per
// row and class, in a fixed order (strided per-thread sums, then a workgroup tree): the same
// input gives the same bits on every run. No float atomics.
//
// Dispatch: (min(classes, max_dim), min(rows, max_dim)). Workgroup (c, r) reduces class c of
// row r, where a row is one sample (per-sample scope) or the whole batch (batch scope: it folds
// every sample's partials).
// Bindings: params, partials (read), sums (write), layout [r][c][A, P, Y, X1, X2], then the
// pixel count.
// Workgroup size: WG (override, a power of two).

@group(0) @binding(3) var<storage, read> partials: array<f32>;
@group(0) @binding(10) var<storage, read_write> sums: array<f32>;

override WG: u32 = 128u;


@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) n_wg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Rows and classes past the dispatch limit (the device's
    // max_compute_workgroups_per_dimension): grid-stride loops.
    for (var r = wid.y; r < params.n_rows; r += n_wg.y) {
        for (var c = wid.x; c < params.n_classes; c += n_wg.x) {
            reduce_cell(c, r, lid);
        }
    }
    // The pixel count after the cells: what a cross-entropy mean over dense targets divides
    // by, kept beside the sums so that merged sums carry their merged count.
    if (all(wid.xy == vec2<u32>(0u)) && lid == 0u) {
        sums[params.n_rows * params.n_classes * SUM_TERMS] =
            f32(params.n_samples) * f32(params.spatial);
    }
}

// Folds the partials of class c in row r.
fn reduce_cell(c: u32, r: u32, lid: u32) {
    let n_c = params.n_classes;
    let n_g = params.groups;
    let n_chunks = (n_c + CLASS_CHUNK - 1u) / CLASS_CHUNK;
    let chunk = c / CLASS_CHUNK;
    let k = c % CLASS_CHUNK;

    // Per-sample scope: partials of sample r only; batch scope: of every sample.
    var first_sample = r;
    var n_samples = 1u;
    if (params.batch_scope == 1u) {
        first_sample = 0u;
        n_samples = params.n_samples;
    }

    // Kahan-compensated: a thread may fold thousands of partials (one per subgroup). The Dice
    // sums (A, P, Y) and the cross-entropy sums (X1, X2, zero without a fused term).
    var acc = vec3<f32>(0.0);
    var err = vec3<f32>(0.0);
    var acc_ce = vec3<f32>(0.0);
    var err_ce = vec3<f32>(0.0);
    let with_ce = params.ce_kind != CE_OFF;
    let terms = partial_terms(params.ce_kind);
    for (var j = lid; j < n_samples * n_g; j += WG) {
        let b = first_sample + j / n_g;
        let g = j % n_g;
        let slot = ((b * n_chunks + chunk) * n_g + g) * terms * CLASS_CHUNK;
        let next = kahan_add(acc, err, vec3<f32>(
            partials[slot + k],
            partials[slot + CLASS_CHUNK + k],
            partials[slot + 2u * CLASS_CHUNK + k],
        ));
        acc = next[0];
        err = next[1];
        if (with_ce) {
            let next_ce = kahan_add(acc_ce, err_ce, vec3<f32>(
                partials[slot + 3u * CLASS_CHUNK + k],
                partials[slot + 4u * CLASS_CHUNK + k],
                0.0,
            ));
            acc_ce = next_ce[0];
            err_ce = next_ce[1];
        }
    }
    let sum = tree_sum(lid, acc - err);
    let sum_ce = tree_sum(lid, acc_ce - err_ce);
    if (lid == 0u) {
        let out = (r * n_c + c) * SUM_TERMS;
        sums[out] = sum.x;
        sums[out + 1u] = sum.y;
        sums[out + 2u] = sum.z;
        sums[out + 3u] = sum_ce.x;
        sums[out + 4u] = sum_ce.y;
    }
}
