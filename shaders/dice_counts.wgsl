// dice_counts: exact confusion counts (TP, FP, TN, FN per sample and class) for validation
// metrics, read from the same predictions and targets as the loss, by the same readers.
// Each pixel's predicted classes come from DECISION: the argmax of the raw inputs (the
// activations are monotone, so logits and probabilities agree; the first of equal maxima, as
// torch.argmax), or the activated probability against params.threshold (strictly above, or
// at least it where params.threshold_inclusive). Counts are integers: each thread counts in
// registers, the workgroup adds its threads' counts with workgroup atomics and then the
// global buffer with one atomic per word. Integer addition is exact and order-independent, so
// the result is the same bits on every device and dispatch geometry.
//
// Dispatch: (groups, class chunks, min(samples, max_dim)), as dice_partials: workgroup
// (g, k, b) counts classes [k * CLASS_CHUNK, (k + 1) * CLASS_CHUNK) of sample b over its run
// of pixels, or of quads of pixels on the VEC4 path (run_index). Bindings: params, preds and
// targets (a binding file, with its vec4 views on the flat VEC4 path), `counts`
// (read_write, cleared by the host): COUNT_STATUS_WORDS status words (bad labels, non-finite
// predictions, dense targets other than 0, 1 and the ignore value) then
// [b][c][COUNT_TERMS] = (TP, FP, TN, FN). Its own status words, not the plan's `status`, so a
// recording of the counts between record_sums and record_loss leaves the loss's status alone.
// Workgroup size: WG (override).

@group(0) @binding(15) var<storage, read_write> counts: array<atomic<u32>>;
// The plan's coefficients: inputs.wgsl's stored-normaliser reader names them; dice_counts
// computes each pixel's softmax normaliser itself (softmax_norm) and never reads them.
@group(0) @binding(12) var<storage, read> coefs: array<vec2<f32>>;

override WG: u32 = 128u;
// How each pixel's predicted classes are taken (DECISION_*): an override, so that the
// decision not taken folds away (a uniform run-time branch kept both in every pixel loop and
// made the count 3x slower on lavapipe).
override DECISION: u32 = 0u;

// The twins of these are in src/params.rs (tests/shaders.rs checks them).
// Terms per (sample, class) cell: TP, FP, TN, FN, in that order.
const COUNT_TERMS: u32 = 4u;
// Status words at the head of `counts`.
const COUNT_STATUS_WORDS: u32 = 4u;
const COUNT_BAD_LABELS: u32 = 0u;
const COUNT_NON_FINITE: u32 = 1u;
const COUNT_NOT_BINARY: u32 = 2u;
const COUNT_UNKNOWN_DECISION: u32 = 3u;
// DECISION: the argmax of the raw inputs, or a threshold on the probability.
const DECISION_ARGMAX: u32 = 0u;
const DECISION_THRESHOLD: u32 = 1u;

// The workgroup's counts of its class chunk: [k][COUNT_TERMS], then its status words.
var<workgroup> wg_counts: array<atomic<u32>, CHUNK_COUNT_WORDS>;
const CHUNK_COUNT_WORDS: u32 = CLASS_CHUNK * COUNT_TERMS + COUNT_STATUS_WORDS;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) n_wg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Samples past the dispatch limit are taken in a grid-stride loop (uniform: every thread
    // of the workgroup runs the same samples, so the barriers inside are reached by all).
    for (var b = wid.z; b < params.n_samples; b += n_wg.z) {
        sample_counts(wid.x, wid.y, b, lid, n_wg.x);
    }
}

// A thread's counts: [k] = (TP, FP, TN, FN) of class c0 + k, and its status counts.
struct Tally {
    cells: array<vec4<u32>, CLASS_CHUNK>,
    status: array<u32, COUNT_STATUS_WORDS>,
}

fn sample_counts(g: u32, chunk: u32, b: u32, lid: u32, n_groups: u32) {
    for (var w = lid; w < CHUNK_COUNT_WORDS; w += WG) {
        atomicStore(&wg_counts[w], 0u);
    }
    workgroupBarrier();

    let n_s = params.spatial;
    let c0 = chunk * CLASS_CHUNK;
    let pred_base = params.pred_offset + b * N_CLASSES * n_s;
    var tally: Tally;
    if (VEC4) {
        // Quads of consecutive pixels, vec4 loads (C <= CLASS_CHUNK: one chunk).
        let per_thread = items_per_thread(n_s / 4u, n_groups);
        for (var i = 0u; i < per_thread; i++) {
            let s0 = run_index(g, lid, per_thread, i) * 4u;
            if (s0 < n_s) {
                count_quad(&tally, b, s0, pred_base);
            }
        }
    }
    let per_pixel = select(items_per_thread(n_s, n_groups), 0u, VEC4);
    for (var i = 0u; i < per_pixel; i++) {
        let s = run_index(g, lid, per_pixel, i);
        if (s < n_s) {
            count_pixel(&tally, b, s, c0, chunk, pred_base);
        }
    }

    for (var k = 0u; k < CLASS_CHUNK; k++) {
        for (var t = 0u; t < COUNT_TERMS; t++) {
            let v = tally.cells[k][t];
            if (v > 0u) {
                atomicAdd(&wg_counts[k * COUNT_TERMS + t], v);
            }
        }
    }
    for (var w = 0u; w < COUNT_STATUS_WORDS; w++) {
        if (tally.status[w] > 0u) {
            atomicAdd(&wg_counts[CLASS_CHUNK * COUNT_TERMS + w], tally.status[w]);
        }
    }
    workgroupBarrier();

    // One global atomic per nonzero word of the workgroup's counts.
    for (var w = lid; w < CHUNK_COUNT_WORDS; w += WG) {
        let v = atomicLoad(&wg_counts[w]);
        if (v == 0u) {
            continue;
        }
        if (w >= CLASS_CHUNK * COUNT_TERMS) {
            atomicAdd(&counts[w - CLASS_CHUNK * COUNT_TERMS], v);
            continue;
        }
        let c = c0 + w / COUNT_TERMS;
        if (c < N_CLASSES) {
            let cell = b * N_CLASSES + c;
            atomicAdd(&counts[COUNT_STATUS_WORDS + cell * COUNT_TERMS + w % COUNT_TERMS], v);
        }
    }
    // The next sample of the grid-stride loop clears wg_counts again.
    workgroupBarrier();
}

// Counts pixel s of sample b into the thread's tally for classes [c0, c0 + CLASS_CHUNK).
// The chunk's inputs are read once into registers (constant trip counts with no early exit,
// so the loops unroll and nothing is indexed at run time); with C <= CLASS_CHUNK they are
// the whole pixel, and argmax and the softmax normaliser need no second read.
fn count_pixel(
    tally: ptr<function, Tally>,
    b: u32,
    s: u32,
    c0: u32,
    chunk: u32,
    pred_base: u32,
) {
    if (!decision_known()) {
        (*tally).status[COUNT_UNKNOWN_DECISION] += 1u;
        return;
    }
    let stride = params.spatial;
    // Non-finite inputs void the counts (the host reads them as an error), ignored pixels'
    // too, as the oracle checks every input; each chunk counts its own classes' inputs, so
    // every input is counted once.
    var x: array<f32, CLASS_CHUNK>;
    for (var k = 0u; k < CLASS_CHUNK; k++) {
        if (c0 + k < N_CLASSES) {
            x[k] = pred_at(pred_base + (c0 + k) * stride + s);
            (*tally).status[COUNT_NON_FINITE] += select(1u, 0u, is_finite(x[k]));
        }
    }
    let label = pixel_label(b * stride + s);
    if (!label.kept) {
        return;
    }
    if (label.label >= N_CLASSES) {
        // Counted once per pixel, by the first chunk only.
        (*tally).status[COUNT_BAD_LABELS] += select(0u, 1u, chunk == 0u);
        return;
    }
    let one_chunk = N_CLASSES <= CLASS_CHUNK;
    var best = 0u;
    var norm = vec2<f32>(0.0, 1.0);
    if (DECISION == DECISION_ARGMAX) {
        if (one_chunk) {
            var top = x[0];
            for (var k = 1u; k < CLASS_CHUNK; k++) {
                let better = k < N_CLASSES && x[k] > top;
                top = select(top, x[k], better);
                best = select(best, k, better);
            }
        } else {
            best = argmax_class(pred_base, s);
        }
    } else if (ACTIVATION == ACT_SOFTMAX) {
        if (one_chunk) {
            var m = x[0];
            for (var k = 1u; k < CLASS_CHUNK; k++) {
                m = select(m, max(m, x[k]), k < N_CLASSES);
            }
            var z = 0.0;
            for (var k = 0u; k < CLASS_CHUNK; k++) {
                z += select(0.0, exp(x[k] - m), k < N_CLASSES);
            }
            norm = vec2<f32>(m, 1.0 / z);
        } else {
            norm = softmax_norm(pred_base, s);
        }
    }
    for (var k = 0u; k < CLASS_CHUNK; k++) {
        let c = c0 + k;
        var keep = c < N_CLASSES;
        var y = label.label == c;
        if (TARGET_KIND == TARGET_DENSE && keep) {
            let v = dense_at((b * N_CLASSES + c) * stride + s);
            let binary = v == 0.0 || v == 1.0;
            let ignored = ignored_dense(v);
            (*tally).status[COUNT_NOT_BINARY] += select(0u, 1u, !binary && !ignored);
            keep = binary && !ignored;
            y = v == 1.0;
        }
        let p = predicted(c, best, x[k], norm);
        // (TP, FP, TN, FN) as one vec4 step: exactly one lane is set for a kept element.
        let hit = vec4<bool>(y && p, !y && p, !y && !p, y && !p) & vec4<bool>(keep);
        (*tally).cells[k] += select(vec4<u32>(0u), vec4<u32>(1u), hit);
    }
}

// How many lanes of m are set.
fn lanes_set(m: vec4<bool>) -> u32 {
    return dot(select(vec4<u32>(0u), vec4<u32>(1u), m), vec4<u32>(1u));
}

// count_pixel on pixels s0 .. s0 + 3 at once (VEC4 path: C <= CLASS_CHUNK, integer labels):
// the same decisions lane by lane, the probabilities by the same formulas.
fn count_quad(tally: ptr<function, Tally>, b: u32, s0: u32, pred_base: u32) {
    if (!decision_known()) {
        (*tally).status[COUNT_UNKNOWN_DECISION] += 4u;
        return;
    }
    let stride = params.spatial;
    var x: array<vec4<f32>, CLASS_CHUNK>;
    for (var k = 0u; k < CLASS_CHUNK; k++) {
        if (k < N_CLASSES) {
            x[k] = pred_quad(pred_base + k * stride + s0);
            let bits = bitcast<vec4<u32>>(x[k]) & vec4<u32>(0x7f800000u);
            (*tally).status[COUNT_NON_FINITE] += lanes_set(bits == vec4<u32>(0x7f800000u));
        }
    }
    let labels = label_quad(b * stride + s0);
    let ignored = ignored_quad(labels);
    let bad = !ignored & (labels >= vec4<u32>(N_CLASSES));
    (*tally).status[COUNT_BAD_LABELS] += lanes_set(bad);
    let valid = !ignored & !bad;
    var best = vec4<u32>(0u);
    var m = vec4<f32>(0.0);
    var inv = vec4<f32>(1.0);
    if (DECISION == DECISION_ARGMAX) {
        var top = x[0];
        for (var k = 1u; k < CLASS_CHUNK; k++) {
            let better = vec4<bool>(k < N_CLASSES) & (x[k] > top);
            top = select(top, x[k], better);
            best = select(best, vec4<u32>(k), better);
        }
    } else if (ACTIVATION == ACT_SOFTMAX) {
        m = x[0];
        for (var k = 1u; k < CLASS_CHUNK; k++) {
            m = select(m, max(m, x[k]), vec4<bool>(k < N_CLASSES));
        }
        var z = vec4<f32>(0.0);
        for (var k = 0u; k < CLASS_CHUNK; k++) {
            z += select(vec4<f32>(0.0), exp(x[k] - m), vec4<bool>(k < N_CLASSES));
        }
        inv = 1.0 / z;
    }
    let t = vec4<f32>(params.threshold);
    for (var k = 0u; k < CLASS_CHUNK; k++) {
        let keep = valid & vec4<bool>(k < N_CLASSES);
        let y = labels == vec4<u32>(k);
        var p = best == vec4<u32>(k);
        if (DECISION == DECISION_THRESHOLD) {
            let q = activate_quad(x[k], m, inv);
            p = (q > t) | ((q == t) & vec4<bool>(params.threshold_inclusive != 0u));
        }
        (*tally).cells[k] += vec4<u32>(
            lanes_set(keep & y & p),
            lanes_set(keep & !y & p),
            lanes_set(keep & !y & !p),
            lanes_set(keep & y & !p),
        );
    }
}

// `activate` on four elements: softmax from the pixels' max m and 1 / sum exp(x - m).
fn activate_quad(x: vec4<f32>, m: vec4<f32>, inv: vec4<f32>) -> vec4<f32> {
    switch ACTIVATION {
        case ACT_SOFTMAX: {
            return exp(x - m) * inv;
        }
        case ACT_SIGMOID: {
            // sigmoid(), lane by lane: exp of a non-positive number only.
            let e = exp(-abs(x));
            return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= vec4<f32>(0.0));
        }
        case ACT_NONE: {
            return x;
        }
        default: {
            return vec4<f32>(nan());
        }
    }
}

// The first class of largest raw input of pixel s.
fn argmax_class(pred_base: u32, s: u32) -> u32 {
    var best = 0u;
    var top = pred_at(pred_base + s);
    for (var c = 1u; c < N_CLASSES; c++) {
        let x = pred_at(pred_base + c * params.spatial + s);
        if (x > top) {
            top = x;
            best = c;
        }
    }
    return best;
}

// Whether DECISION is a code this shader knows (the host sends no other; an unknown
// one voids the counts through its status word instead of counting by a guess).
fn decision_known() -> bool {
    switch DECISION {
        case DECISION_ARGMAX, DECISION_THRESHOLD: {
            return true;
        }
        default: {
            return false;
        }
    }
}

// Whether class c of a pixel is predicted: by DECISION, from the pixel's argmax `best`
// or from the class's raw input x (and the pixel's softmax normaliser).
fn predicted(c: u32, best: u32, x: f32, norm: vec2<f32>) -> bool {
    switch DECISION {
        case DECISION_ARGMAX: {
            return c == best;
        }
        case DECISION_THRESHOLD: {
            let p = activate(x, norm);
            return p > params.threshold || (params.threshold_inclusive != 0u
                && p == params.threshold);
        }
        // Unknown codes void the counts (decision_known); nothing is counted by this arm.
        default: {
            return false;
        }
    }
}
