// dice_gradient: d loss / d input for every element, from the per-class coefficients that
// dice_finalize wrote: d loss / d p = cA * y + cP * dP/dp (cA * sign(p - y) in the soft L1
// form), then through the activation (softmax Jacobian-vector product per pixel, sigmoid
// derivative). Ignored pixels get zero. When dice_partials counted a bad label or a non-finite
// value, nothing is written: the caller's gradient buffer keeps its previous contents.
//
// Dispatch: (groups, min(samples, max_dim)); the threads of workgroup (g, b) take runs of pixels
// (quads on the VEC4 path) of sample b laid out by run_index, every class of each.
// Bindings (numbers: `softdice::shaders::bindings`): params, preds, targets, coefs [r][c]
// (cA, cP) then normalisers [b][s] (read), status (read), grad (write; pages in
// bindings_paged.wgsl), and the binding file's vec4 views (VEC4).
// Workgroup size: WG (override).

// (cA, cP) per row and class, then (softmax over C > CLASS_CHUNK) the per-pixel softmax
// normalisers.
@group(0) @binding(12) var<storage, read> coefs: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read> status: array<u32, STATUS_WORDS>;

override WG: u32 = 128u;

// d loss / d p of one element from its class's coefficients.
fn grad_of(c_a: f32, c_p: f32, p: f32, y: f32) -> f32 {
    var g = c_p;
    if (SQUARED) {
        g = 2.0 * c_p * p;
    }
    if (SOFT_L1) {
        return g + c_a * sign(p - y);
    }
    return g + c_a * y;
}

// The target of element (c, s): the one-hot of the pixel's label, or the dense target at `e`.
fn target_of(label: u32, c: u32, e: u32) -> f32 {
    if (TARGET_KIND == TARGET_DENSE) {
        return dense_at(e);
    }
    return select(0.0, 1.0, label == c);
}

// The cross-entropy term's d loss / d x of element (c, s) with raw input x, q = softmax(x)_c
// (softmax) and target y, as `cpu::ce_gradient`: softmax q sum_k a_k - a_c with
// a_k = u_k y_k + v_k (`a_sum`); sigmoid u t (σ(x) - 1) + v (1 - t) σ(x) on the smoothed
// target t = ce_target(y); focal
// (u y + v (1 - y)) f'; softmax focal h_c - q sum_k h_k (`a_sum`).
//
// `a_sum` is sum v (`v_sum`, 0 for softmax focal) plus every class's `ce_share`.
fn ce_grad(x: f32, lse: f32, q: f32, y: f32, u: f32, v: f32, a_sum: f32) -> f32 {
    switch CE_KIND {
        case CE_SOFTMAX: {
            return q * a_sum - (u * y + v);
        }
        case CE_SIGMOID: {
            let s = sigmoid(x);
            let t = ce_target(y);
            return u * t * (s - 1.0) + v * (1.0 - t) * s;
        }
        case CE_FOCAL: {
            return (u * y + v * (1.0 - y)) * focal(x, y).y;
        }
        case CE_SOFTMAX_FOCAL: {
            return focal_h(x, lse, y, u) - q * a_sum;
        }
        default: {
            return nan();
        }
    }
}

// Class c's share of the pixel sum the softmax kinds' gradient needs: u_c y_c (softmax),
// h_c (softmax focal), nothing for the per-element kinds.
fn ce_share(x: f32, lse: f32, y: f32, u: f32) -> f32 {
    switch CE_KIND {
        case CE_SOFTMAX: {
            return u * y;
        }
        case CE_SOFTMAX_FOCAL: {
            return focal_h(x, lse, y, u);
        }
        case CE_OFF, CE_SIGMOID, CE_FOCAL: {
            return 0.0;
        }
        default: {
            return nan();
        }
    }
}

// q = softmax(x) of element (x, lse) for the softmax kinds: `p` where the Dice term takes
// softmax too (the same exponential), 0 where the term needs none.
fn ce_q(x: f32, lse: f32, p: f32) -> f32 {
    if (!softmax_term()) {
        return 0.0;
    }
    if (ACTIVATION == ACT_SOFTMAX) {
        return p;
    }
    return exp(x - lse);
}

// d loss / d p of element (c, s) from class c's coefficients, given the pixel's label (or the
// dense target at `e`); zero where the element is ignored.
fn element_grad(c_a: f32, c_p: f32, p: f32, label: u32, c: u32, e: u32) -> f32 {
    var y = select(0.0, 1.0, label == c);
    if (TARGET_KIND == TARGET_DENSE) {
        y = dense_at(e);
        if (ignored_dense(y)) {
            return 0.0;
        }
    }
    return grad_of(c_a, c_p, p, y);
}

// d loss / d input of one element from d loss / d p: through the softmax Jacobian (with the
// pixel's sum_k p_k g_k), the sigmoid derivative, or nothing.
fn activation_grad(p: f32, g: f32, dot: f32, valid: bool) -> f32 {
    switch ACTIVATION {
        case ACT_SOFTMAX: {
            return select(0.0, p * (g - dot), valid);
        }
        case ACT_SIGMOID: {
            return g * p * (1.0 - p);
        }
        case ACT_NONE: {
            return g;
        }
        default: {
            return nan();
        }
    }
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) n_wg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // A counted bad input leaves the caller's gradient as it was, except in a
    // vector-Jacobian product, whose gradient lands in a fresh tensor: there dice_finalize made
    // the coefficients NaN, and the NaN gradient says so.
    let bad = status_void(status);
    if (bad && params.upstream == 0u) {
        return;
    }
    // Samples past the dispatch limit (the device's max_compute_workgroups_per_dimension)
    // are taken in a grid-stride loop.
    for (var b = wid.y; b < params.n_samples; b += n_wg.y) {
        sample_gradient(wid.x, n_wg.x, b, lid);
    }
}

// d loss / d input for the pixels of workgroup g (of n_groups) in sample b.
fn sample_gradient(g: u32, n_groups: u32, b: u32, lid: u32) {
    let n_c = N_CLASSES;
    let n_s = params.spatial;
    let pred_base = params.pred_offset + b * n_c * n_s;
    let grad_base = params.grad_offset + b * n_c * n_s;
    let row = select(b, 0u, params.batch_scope == 1u);
    let coef_base = row * n_c;

    // The coefficients of every class, loaded once per sample (C <= CLASS_CHUNK path).
    var c_a: array<f32, CLASS_CHUNK>;
    var c_p: array<f32, CLASS_CHUNK>;
    // And the cross-entropy term's (u_c, v_c) and sum v.
    var ce_u: array<f32, CLASS_CHUNK>;
    var ce_v: array<f32, CLASS_CHUNK>;
    var v_sum = 0.0;
    for (var c = 0u; c < CLASS_CHUNK; c++) {
        if (c < N_CLASSES) {
            let k = coefs[coef_base + c];
            c_a[c] = k.x;
            c_p[c] = k.y;
            if (CE_KIND != CE_OFF) {
                let uv = coefs[ce_coef_base() + c];
                ce_u[c] = uv.x;
                ce_v[c] = uv.y;
            }
        }
    }
    if (CE_KIND != CE_OFF) {
        v_sum = coefs[ce_coef_base() + N_CLASSES].x;
    }
    if (VEC4) {
        // Four pixels per thread, as vec4 lanes: vec4 loads of every class plane, the same
        // arithmetic as below on vectors, vec4 stores. Each thread takes `per_thread` quads
        // (run_index's layout), so its coefficient loads above serve several (a CPU rasteriser
        // loads them lane by lane).
        let per_thread = items_per_thread(n_s / 4u, n_groups);
        for (var i = 0u; i < per_thread; i++) {
            let s0 = run_index(g, lid, per_thread, i) * 4u;
            if (s0 >= n_s) {
                continue;
            }
            let labels = label_quad(b * n_s + s0);
            let valid = !ignored_quad(labels);
            // The predictions only where d loss / d p or the activation needs them.
            var quad: QuadExps;
            if (ACTIVATION != ACT_NONE || SQUARED || SOFT_L1) {
                quad = quad_exps(pred_base, s0);
            }
            // Ignored pixels get zero: through softmax by a zero normaliser (p = 0), otherwise
            // by a select.
            let inv = select(vec4<f32>(0.0), quad.inv, valid);
            // Softmax needs sum_k p_k g_k first. d loss / d p is computed again in the second
            // loop rather than kept: a CPU rasteriser keeps every live vec4 of every lane, and
            // a per-class array of them measured slower (44.7 against 39.5 ms).
            var dot = vec4<f32>(0.0);
            if (ACTIVATION == ACT_SOFTMAX) {
                for (var c = 0u; c < N_CLASSES; c++) {
                    dot += quad.e[c] * quad_grad(c_a[c], c_p[c], quad.e[c] * inv, labels, c);
                }
                dot *= inv;
            }
            // The softmax cross-entropy term's sum_k a_k = v_sum + u_label (the host sends it
            // down this path with softmax activation only, so q = p).
            var a_sum = vec4<f32>(v_sum);
            if (CE_KIND == CE_SOFTMAX) {
                for (var c = 0u; c < N_CLASSES; c++) {
                    a_sum += select(vec4<f32>(0.0), vec4<f32>(ce_u[c]), labels == vec4<u32>(c));
                }
            }
            for (var c = 0u; c < N_CLASSES; c++) {
                let p = quad.e[c] * inv;
                var dx = quad_grad(c_a[c], c_p[c], p, labels, c);
                if (ACTIVATION == ACT_SOFTMAX) {
                    dx = p * (dx - dot);
                    if (CE_KIND == CE_SOFTMAX) {
                        let y = select(vec4<f32>(0.0), vec4<f32>(1.0), labels == vec4<u32>(c));
                        let ce = p * a_sum - (ce_u[c] * y + ce_v[c]);
                        dx += select(vec4<f32>(0.0), ce, valid);
                    }
                } else {
                    if (ACTIVATION == ACT_SIGMOID) {
                        dx *= p * (1.0 - p);
                    }
                    dx = select(vec4<f32>(0.0), dx, valid);
                }
                store_grad_quad(grad_base + c * n_s + s0, dx);
            }
        }
        return;
    }
    // Scalar path: each thread takes `per_pixel` pixels, laid out by run_index (in pixels).
    let per_pixel = items_per_thread(n_s, n_groups);
    for (var i = 0u; i < per_pixel; i++) {
        let s = run_index(g, lid, per_pixel, i);
        if (s >= n_s) {
            continue;
        }
        let pixel = pixel_label(b * n_s + s);
        let label = pixel.label;
        let valid = pixel.kept;
        if (N_CLASSES <= CLASS_CHUNK) {
            // Every class in registers: each logit read once, one exp per element.
            let probs = chunk_probs(pred_base, b * n_s + s, s, 0u);
            var dp: array<f32, CLASS_CHUNK>;
            var dot = 0.0;
            for (var c = 0u; c < N_CLASSES; c++) {
                let e = b * n_c * n_s + c * n_s + s;
                let p = probs.p[c];
                dp[c] = select(0.0, element_grad(c_a[c], c_p[c], p, label, c, e), valid);
                dot += p * dp[c];
            }
            // The softmax kinds' pixel sum (`ce_grad`'s a_sum).
            var a_sum = v_sum;
            if (softmax_term()) {
                for (var c = 0u; c < N_CLASSES; c++) {
                    let y = target_of(label, c, b * n_c * n_s + c * n_s + s);
                    a_sum += ce_share(probs.x[c], probs.lse, y, ce_u[c]);
                }
            }
            for (var c = 0u; c < N_CLASSES; c++) {
                var dx = activation_grad(probs.p[c], dp[c], dot, valid);
                if (CE_KIND != CE_OFF && valid) {
                    let y = target_of(label, c, b * n_c * n_s + c * n_s + s);
                    if (!ignored_dense(y)) {
                        let q = ce_q(probs.x[c], probs.lse, probs.p[c]);
                        dx += ce_grad(probs.x[c], probs.lse, q, y, ce_u[c], ce_v[c], a_sum);
                    }
                }
                store_grad(grad_base + c * n_s + s, dx);
            }
            continue;
        }
        var norm = vec2<f32>(0.0, 1.0);
        var lse = 0.0;
        if (ACTIVATION == ACT_SOFTMAX || softmax_term()) {
            let stored = norm_at(b * n_s + s);
            lse = stored.x - log(stored.y);
            if (ACTIVATION == ACT_SOFTMAX) {
                norm = stored;
            }
        }
        // Softmax needs sum_k p_k g_k before any logit gradient can be written; the softmax
        // kinds of cross-entropy term their pixel sum.
        var dot = 0.0;
        var a_sum = v_sum;
        if ((ACTIVATION == ACT_SOFTMAX || softmax_term()) && valid) {
            for (var c = 0u; c < n_c; c++) {
                let e = c * n_s + s;
                let x = pred_at(pred_base + e);
                if (ACTIVATION == ACT_SOFTMAX) {
                    let p = activate(x, norm);
                    let k = coefs[coef_base + c];
                    let dp = element_grad(k.x, k.y, p, label, c, b * n_c * n_s + e);
                    dot += p * dp;
                }
                if (softmax_term()) {
                    let y = target_of(label, c, b * n_c * n_s + e);
                    a_sum += ce_share(x, lse, y, coefs[ce_coef_base() + c].x);
                }
            }
        }
        for (var c = 0u; c < n_c; c++) {
            let e = c * n_s + s;
            let x = pred_at(pred_base + e);
            let p = activate(x, norm);
            var g = 0.0;
            if (valid) {
                let k = coefs[coef_base + c];
                g = element_grad(k.x, k.y, p, label, c, b * n_c * n_s + e);
            }
            g = activation_grad(p, g, dot, valid);
            if (CE_KIND != CE_OFF && valid) {
                let y = target_of(label, c, b * n_c * n_s + e);
                if (!ignored_dense(y)) {
                    let uv = coefs[ce_coef_base() + c];
                    g += ce_grad(x, lse, ce_q(x, lse, p), y, uv.x, uv.y, a_sum);
                }
            }
            store_grad(grad_base + e, g);
        }
    }
}

// grad_of for a quad of pixels of class c, given their labels.
fn quad_grad(c_a: f32, c_p: f32, p: vec4<f32>, labels: vec4<u32>, c: u32) -> vec4<f32> {
    let y = select(vec4<f32>(0.0), vec4<f32>(1.0), labels == vec4<u32>(c));
    // Per component: GPUs and llvmpipe alike run vec4 arithmetic as four scalar operations.
    return vec4<f32>(
        grad_of(c_a, c_p, p.x, y.x),
        grad_of(c_a, c_p, p.y, y.y),
        grad_of(c_a, c_p, p.z, y.z),
        grad_of(c_a, c_p, p.w, y.w),
    );
}
