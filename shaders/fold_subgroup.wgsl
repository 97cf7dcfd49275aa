// The end-of-pass fold of dice_partials where the device has subgroup operations: each
// subgroup sums its threads' totals with `subgroupAdd` (a fixed pattern in hardware, so the
// same bits on every run of a device), its first invocation parks them in workgroup memory, and
// one thread per quantity sums the subgroups' values in a fixed order (Kahan). One barrier's
// worth of traffic is WG / subgroup size values per quantity instead of WG.
// The other fold, fold_workgroup.wgsl, defines the same `Invocation` and `fold_totals`.

struct Invocation {
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) n_wg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(num_subgroups) n_subgroups: u32,
}

// Folds every thread's `totals` over the workgroup. Thread q < 3 * CLASS_CHUNK returns the
// folded quantity q ((A, P, Y) of class q % CLASS_CHUNK for q / CLASS_CHUNK = 0, 1, 2); the
// others return 0. Called in uniform control flow; `red` may be reused when it returns.
fn fold_totals(inv: Invocation, totals: array<vec3<f32>, CLASS_CHUNK>) -> f32 {
    for (var k = 0u; k < CLASS_CHUNK; k++) {
        let t = subgroupAdd(totals[k]);
        if (inv.lane == 0u) {
            red[k * WG + inv.subgroup] = t.x;
            red[(CLASS_CHUNK + k) * WG + inv.subgroup] = t.y;
            red[(2u * CLASS_CHUNK + k) * WG + inv.subgroup] = t.z;
        }
    }
    workgroupBarrier();
    var out = 0.0;
    if (inv.lid < 3u * CLASS_CHUNK) {
        out = kahan_fold(inv.lid * WG, inv.n_subgroups);
    }
    workgroupBarrier();
    return out;
}
