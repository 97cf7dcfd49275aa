// The end-of-pass fold of dice_partials without subgroup operations (SLOTS = 1): every
// thread parks its 3 * CLASS_CHUNK Dice totals in workgroup memory and one thread per quantity
// sums the WG values in a fixed order (Kahan) into the workgroup's partial; then the same for
// the 2 * CLASS_CHUNK cross-entropy totals where a term is fused (a second round keeps the
// scratch within WebGPU's 16 KiB of workgroup memory). Two barriers instead of a
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
fn write_partials(
    inv: Invocation,
    totals: array<vec3<f32>, CLASS_CHUNK>,
    ce_totals: array<vec3<f32>, CLASS_CHUNK>,
    slot: u32,
) {
    let lid = inv.lid;
    for (var k = 0u; k < CLASS_CHUNK; k++) {
        red[k * WG + lid] = totals[k].x;
        red[(CLASS_CHUNK + k) * WG + lid] = totals[k].y;
        red[(2u * CLASS_CHUNK + k) * WG + lid] = totals[k].z;
    }
    fold_round(lid, slot, 0u, 3u * CLASS_CHUNK);
    if (CE_KIND != CE_OFF) {
        for (var k = 0u; k < CLASS_CHUNK; k++) {
            red[k * WG + lid] = ce_totals[k].x;
            red[(CLASS_CHUNK + k) * WG + lid] = ce_totals[k].y;
        }
        fold_round(lid, slot, 3u * CLASS_CHUNK, 2u * CLASS_CHUNK);
    }
}

// Sums the `count` quantities parked in `red` into quantities first .. first + count of `slot`.
fn fold_round(lid: u32, slot: u32, first: u32, count: u32) {
    workgroupBarrier();
    if (lid < count) {
        var sum = vec3<f32>(0.0);
        var err = vec3<f32>(0.0);
        for (var t = 0u; t < WG; t++) {
            let next = kahan_add(sum, err, vec3<f32>(red[lid * WG + t], 0.0, 0.0));
            sum = next[0];
            err = next[1];
        }
        store_partial(slot, first + lid, sum.x - err.x);
    }
    // `red` is written again by the next round or sample.
    workgroupBarrier();
}
