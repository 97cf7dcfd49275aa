// The end-of-pass fold of dice_partials without subgroup operations: every thread parks its
// 3 * CLASS_CHUNK totals in workgroup memory and one thread per quantity sums the WG values in
// a fixed order (Kahan). Two barriers instead of a tree's log2(WG) + 1, which matters where
// barriers are expensive (a CPU rasteriser switches every SIMD group at each one).
// The other fold, fold_subgroup.wgsl, defines the same `Invocation` and `fold_totals`.

struct Invocation {
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) n_wg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
}

// Folds every thread's `totals` over the workgroup. Thread q < 3 * CLASS_CHUNK returns the
// folded quantity q ((A, P, Y) of class q % CLASS_CHUNK for q / CLASS_CHUNK = 0, 1, 2); the
// others return 0. Called in uniform control flow; `red` may be reused when it returns.
fn fold_totals(inv: Invocation, totals: array<vec3<f32>, CLASS_CHUNK>) -> f32 {
    let lid = inv.lid;
    for (var k = 0u; k < CLASS_CHUNK; k++) {
        red[k * WG + lid] = totals[k].x;
        red[(CLASS_CHUNK + k) * WG + lid] = totals[k].y;
        red[(2u * CLASS_CHUNK + k) * WG + lid] = totals[k].z;
    }
    workgroupBarrier();
    var out = 0.0;
    if (lid < 3u * CLASS_CHUNK) {
        out = kahan_fold(lid * WG, WG);
    }
    workgroupBarrier();
    return out;
}
