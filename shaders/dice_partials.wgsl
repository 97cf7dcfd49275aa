// dice_partials: the fused forward pass. Reads every prediction and label once, applies the
// activation in registers, one-hot masks each class on the fly, and accumulates per class
//   A = sum p*y   (or sum |p - y| with soft_l1),  P = sum p (or p^2),  Y = sum y (or y^2)
// and, with a fused cross-entropy term (CE_KIND, scalar path), X1, X2 (`ce_terms`)
// over its pixels, then folds them in a fixed order into SLOTS partials per workgroup (the
// fold file appended after this one: fold_subgroup.wgsl, one partial per subgroup with no
// barrier, where the device has subgroup operations; fold_workgroup.wgsl, one per workgroup,
// otherwise). Invalid labels and non-finite inputs are counted into `status`.
//
// Dispatch: (groups, class chunks, min(samples, max_dim)). Workgroup (g, k, b) covers classes
// [k * CLASS_CHUNK, (k + 1) * CLASS_CHUNK) of sample b; its threads take runs of pixels (quads
// on the VEC4 path) laid out by run_index.
// Bindings (numbers: `softdice::shaders::bindings`): params, preds, targets, partials
// (write), status (atomic counters), the plan's coefficients and normalisers (read), and the
// binding file's vec4 views.
// Partials layout: [(b * chunks + k) * params.groups + g * SLOTS + slot][terms][CLASS_CHUNK],
// terms = partial_terms(CE_KIND)
// (params.groups = groups * SLOTS).
// Workgroup size: WG (override, a power of two).

@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>, STATUS_WORDS>;
// The plan's coefficient buffer, whose tail holds the per-pixel softmax normalisers (softmax
// over C > CLASS_CHUNK).
@group(0) @binding(12) var<storage, read> coefs: array<vec2<f32>>;

override WG: u32 = 128u;
// Partials per workgroup: 1 for the workgroup fold, WG / (smallest subgroup size) for the
// subgroup fold.
override SLOTS: u32 = 1u;

// VEC4 path: quads summed plainly before each Kahan step (at most 64 terms per plain sum).
const QUAD_BLOCK: u32 = 16u;

// A thread's running (A, P, Y) per class of its chunk, and (X1, X2, 0) where a cross-entropy
// term is fused, Kahan-compensated: a thread may fold thousands of pixels, and plain f32 sums
// of near-constant values drift (tests/gpu/accuracy.rs).
struct Acc {
    sum: array<vec3<f32>, CLASS_CHUNK>,
    err: array<vec3<f32>, CLASS_CHUNK>,
    ce: array<vec3<f32>, CLASS_CHUNK>,
    ce_err: array<vec3<f32>, CLASS_CHUNK>,
}

fn acc_add(acc: ptr<function, Acc>, k: u32, terms: vec3<f32>) {
    let next = kahan_add((*acc).sum[k], (*acc).err[k], terms);
    (*acc).sum[k] = next[0];
    (*acc).err[k] = next[1];
}

fn acc_add_ce(acc: ptr<function, Acc>, k: u32, terms: vec3<f32>) {
    let next = kahan_add((*acc).ce[k], (*acc).ce_err[k], terms);
    (*acc).ce[k] = next[0];
    (*acc).ce_err[k] = next[1];
}

@compute @workgroup_size(WG)
fn main(inv: Invocation) {
    // Samples past the dispatch limit (the device's max_compute_workgroups_per_dimension)
    // are taken in a grid-stride loop.
    for (var b = inv.wid.z; b < params.n_samples; b += inv.n_wg.z) {
        sample_partials(inv.wid.x, inv.wid.y, b, inv);
    }
}

// The partials of workgroup g for class chunk `chunk` of sample b.
fn sample_partials(g: u32, chunk: u32, b: u32, inv: Invocation) {
    let lid = inv.lid;
    let n_c = N_CLASSES;
    let n_s = params.spatial;
    let c0 = chunk * CLASS_CHUNK;
    let pred_base = params.pred_offset + b * n_c * n_s;
    let dense = TARGET_KIND == TARGET_DENSE;

    var acc: Acc;
    var bad_labels = 0u;
    var non_finite = 0u;

    if (VEC4) {
        // Four consecutive pixels per thread, vec4 loads; each thread takes `per_thread` quads,
        // laid out by run_index. Each quad's terms are summed across its lanes, up to
        // QUAD_BLOCK quads into a plain f32 block sum, and each block sum takes one Kahan step
        // per class: the compensated step is off the per-pixel path and the block sums are
        // short enough to stay accurate (tests/gpu/accuracy.rs).
        let per_thread = items_per_thread(n_s / 4u, inv.n_wg.x);
        for (var i0 = 0u; i0 < per_thread; i0 += QUAD_BLOCK) {
            var blk: array<vec3<f32>, CLASS_CHUNK>;
            var blk_ce: array<vec3<f32>, CLASS_CHUNK>;
            for (var i = i0; i < min(i0 + QUAD_BLOCK, per_thread); i++) {
                let s0 = run_index(g, lid, per_thread, i) * 4u;
                if (s0 >= n_s) {
                    continue;
                }
                let quad = quad_exps(pred_base, s0);
                non_finite += quad.non_finite;
                let labels = label_quad(b * n_s + s0);
                let ignored = ignored_quad(labels);
                let bad = !ignored & (labels >= vec4<u32>(n_c));
                bad_labels += dot(select(vec4<u32>(0u), vec4<u32>(1u), bad), vec4<u32>(1u));
                let valid = !ignored & !bad;
                let zero = vec4<f32>(0.0);
                let one = vec4<f32>(1.0);
                for (var k = 0u; k < N_CLASSES; k++) {
                    let p = quad.e[k] * quad.inv;
                    let hit = valid & (labels == vec4<u32>(k));
                    let y = select(zero, one, hit);
                    var a = select(zero, p, hit);
                    if (SOFT_L1) {
                        a = select(zero, abs(p - y), valid);
                    }
                    var pp = select(zero, p, valid);
                    if (SQUARED) {
                        pp *= p;
                    }
                    blk[k] += vec3<f32>(dot(a, one), dot(pp, one), dot(y, one));
                    if (CE_KIND == CE_SOFTMAX) {
                        // ce_terms on four pixels: y (lse - x), lse - x.
                        let nl = quad.lse - quad.x[k];
                        let x1 = dot(select(zero, nl, hit), one);
                        blk_ce[k] += vec3<f32>(x1, dot(select(zero, nl, valid), one), 0.0);
                    }
                }
            }
            for (var k = 0u; k < N_CLASSES; k++) {
                acc_add(&acc, k, blk[k]);
                if (CE_KIND == CE_SOFTMAX) {
                    acc_add_ce(&acc, k, blk_ce[k]);
                }
            }
        }
    }
    // Scalar path: each thread takes `per_pixel` pixels, laid out by run_index (in pixels).
    let per_pixel = select(items_per_thread(n_s, inv.n_wg.x), 0u, VEC4);
    for (var i = 0u; i < per_pixel; i++) {
        let s = run_index(g, lid, per_pixel, i);
        if (s >= n_s) {
            continue;
        }
        let label = pixel_label(b * n_s + s);
        var valid = label.kept;
        if (valid && label.label >= n_c) {
            // Counted once per pixel, by the first chunk only.
            bad_labels += select(0u, 1u, chunk == 0u);
            valid = false;
        }
        let probs = chunk_probs(pred_base, b * n_s + s, s, c0);
        non_finite += probs.non_finite;
        // A constant trip count with no early exit: the loop unrolls and the per-class
        // accumulators stay in registers (indexed by constants).
        for (var k = 0u; k < CLASS_CHUNK; k++) {
            let c = c0 + k;
            var y = select(0.0, 1.0, label.label == c);
            var keep = valid && c < n_c;
            if (dense && c < n_c) {
                y = dense_at((b * n_c + c) * n_s + s);
                non_finite += select(1u, 0u, is_finite(y));
                keep = !ignored_dense(y);
            }
            let p = probs.p[k];
            var terms = vec3<f32>(p * y, p, y);
            if (SOFT_L1) {
                terms.x = abs(p - y);
            }
            if (SQUARED) {
                terms = vec3<f32>(terms.x, p * p, y * y);
            }
            terms = select(vec3<f32>(0.0), terms, keep);
            acc_add(&acc, k, terms);
            if (CE_KIND != CE_OFF && keep) {
                acc_add_ce(&acc, k, vec3<f32>(ce_terms(probs.x[k], probs.lse, y), 0.0));
            }
        }
    }

    if (bad_labels > 0u) {
        atomicAdd(&status[STATUS_BAD_LABELS], bad_labels);
    }
    if (non_finite > 0u) {
        atomicAdd(&status[STATUS_NON_FINITE], non_finite);
    }

    var totals: array<vec3<f32>, CLASS_CHUNK>;
    var ce_totals: array<vec3<f32>, CLASS_CHUNK>;
    for (var k = 0u; k < CLASS_CHUNK; k++) {
        totals[k] = acc.sum[k] - acc.err[k];
        ce_totals[k] = acc.ce[k] - acc.ce_err[k];
    }
    let n_chunks = (n_c + CLASS_CHUNK - 1u) / CLASS_CHUNK;
    write_partials(inv, totals, ce_totals, (b * n_chunks + chunk) * params.groups + g * SLOTS);
}

// Writes quantity q of slot `slot`: term t (A, P, Y, then X1, X2 where a cross-entropy term
// is fused) of class k is q = t * CLASS_CHUNK + k.
fn store_partial(slot: u32, q: u32, value: f32) {
    partials[slot * partial_terms(CE_KIND) * CLASS_CHUNK + q] = value;
}
