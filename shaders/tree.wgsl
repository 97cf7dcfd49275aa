// The fixed-order workgroup tree of dice_reduce and dice_finalize's `total`, appended to both
// (the kernel declares the `WG` override, a power of two).

var<workgroup> tree: array<vec3<f32>, WG>;

// Sums every thread's `value` into the result, returned to every thread: pairs at halving
// strides, the same order and so the same bits every run. Ends on a barrier, so `tree` may be
// written again at once.
fn tree_sum(lid: u32, value: vec3<f32>) -> vec3<f32> {
    tree[lid] = value;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            tree[lid] += tree[lid + stride];
        }
        workgroupBarrier();
    }
    let sum = tree[0];
    workgroupBarrier();
    return sum;
}
