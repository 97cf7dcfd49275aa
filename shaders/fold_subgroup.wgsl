// The end-of-pass fold of dice_partials where the device has subgroup operations: each
// subgroup sums its threads' totals with `subgroupAdd` (a fixed pattern in hardware, so the
// same bits on every run of a device) and its first invocation writes them as the subgroup's
// own partial. No workgroup memory and no barrier (a CPU rasteriser switches every SIMD group
// at each barrier); dice_reduce folds the SLOTS = WG / (smallest subgroup size) partials of
// each workgroup with the rest, in a fixed order.
// The other fold, fold_workgroup.wgsl, defines the same `Invocation` and `write_partials`.

struct Invocation {
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) n_wg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(num_subgroups) n_subgroups: u32,
}

// Writes each subgroup's sum of `totals` to partial slot `first_slot` + its subgroup id; slots
// past the subgroups there are (subgroups larger than the smallest size) are zeroed. Subgroups
// past SLOTS (narrower than the adapter reported) write nothing outside the workgroup's slots
// and are counted into STATUS_SUBGROUPS, which voids the call. Called in uniform control flow.
fn write_partials(
    inv: Invocation,
    totals: array<vec3<f32>, CLASS_CHUNK>,
    ce_totals: array<vec3<f32>, CLASS_CHUNK>,
    first_slot: u32,
) {
    let slot = first_slot + inv.subgroup;
    for (var k = 0u; k < CLASS_CHUNK; k++) {
        let t = subgroupAdd(totals[k]);
        // The cross-entropy sums only where a term is fused (a constant).
        var x = vec3<f32>(0.0);
        if (CE_KIND != CE_OFF) {
            x = subgroupAdd(ce_totals[k]);
        }
        if (inv.lane == 0u && inv.subgroup < SLOTS) {
            store_partial(slot, k, t.x);
            store_partial(slot, CLASS_CHUNK + k, t.y);
            store_partial(slot, 2u * CLASS_CHUNK + k, t.z);
            if (CE_KIND != CE_OFF) {
                store_partial(slot, 3u * CLASS_CHUNK + k, x.x);
                store_partial(slot, 4u * CLASS_CHUNK + k, x.y);
            }
        }
    }
    if (inv.lid == 0u && inv.n_subgroups > SLOTS) {
        atomicAdd(&status[STATUS_SUBGROUPS], 1u);
    }
    if (inv.lid == 0u) {
        for (var unused = inv.n_subgroups; unused < SLOTS; unused++) {
            for (var q = 0u; q < partial_terms(CE_KIND) * CLASS_CHUNK; q++) {
                store_partial(first_slot + unused, q, 0.0);
            }
        }
    }
}
