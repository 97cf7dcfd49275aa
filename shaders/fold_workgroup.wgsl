// The end-of-pass fold of dice_partials without subgroup operations (SLOTS = 1): every
// thread parks its 3 * CLASS_CHUNK totals in workgroup memory and one thread per quantity sums
// the WG values in a fixed order (Kahan) into the workgroup's partial. Two barriers instead of a
// tree's log2(WG) + 1, which matters where barriers are expensive (a CPU rasteriser switches
// every SIMD group at each one).
// The other fold, fold_subgroup.wgsl, defines the same `Invocation` and `write_partials`.

struct Invocation {
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) n_wg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
}

// The fold's scratch: [3 * CLASS_CHUNK quantities][WG threads].
var<workgroup> red: array<f32, 24u * WG>;

// Folds every thread's `totals` over the workgroup into partial slot `slot`. Called in uniform
// control flow; `red` may be reused when it returns.
fn write_partials(inv: Invocation, totals: array<vec3<f32>, CLASS_CHUNK>, slot: u32) {
    let lid = inv.lid;
    for (var k = 0u; k < CLASS_CHUNK; k++) {
        red[k * WG + lid] = totals[k].x;
        red[(CLASS_CHUNK + k) * WG + lid] = totals[k].y;
        red[(2u * CLASS_CHUNK + k) * WG + lid] = totals[k].z;
    }
    workgroupBarrier();
    if (lid < 3u * CLASS_CHUNK) {
        var sum = vec3<f32>(0.0);
        var err = vec3<f32>(0.0);
        for (var t = 0u; t < WG; t++) {
            let next = kahan_add(sum, err, vec3<f32>(red[lid * WG + t], 0.0, 0.0));
            sum = next[0];
            err = next[1];
        }
        store_partial(slot, lid, sum.x - err.x);
    }
    // `red` is written again by the next sample of the grid-stride loop.
    workgroupBarrier();
}
