//! The element functions of the cross-entropy kinds and the activations, in f64, each as the
//! WGSL function of the same name.

use crate::config::Activation;

/// MONAI's sigmoid focal element and its derivative in `x`, as `focal`:
/// `f = exp(γ ln σ(z)) · B` with `z = -x (2y - 1)` (so `σ(z) = 1 - p_t`) and the binary
/// cross-entropy `B = x - x y - ln σ(x)`; `f' = exp(γ ln σ(z)) (γ σ(-z) (1 - 2y) B + σ(x) - y)`.
pub(super) fn focal(x: f64, y: f64, gamma: f64) -> [f64; 2] {
    let z = -x * (2.0 * y - 1.0);
    let m = (gamma * log_sigmoid(z)).exp();
    let b = x - x * y - log_sigmoid(x);
    let s = |t: f64| 1.0 / (1.0 + (-t).exp());
    [m * b, m * (gamma * s(-z) * (1.0 - 2.0 * y) * b + s(x) - y)]
}

/// `(1 - q)^γ` and `γ (1 - q)^(γ - 1)` of MONAI's softmax focal loss, as `focal_powers` (1 and
/// 0 at `γ = 0`).
pub(super) fn focal_powers(q: f64, gamma: f64) -> [f64; 2] {
    if gamma == 0.0 {
        return [1.0, 0.0];
    }
    [(1.0 - q).powf(gamma), gamma * (1.0 - q).powf(gamma - 1.0)]
}

/// MONAI's softmax focal `h = u y q d(-(1 - q)^γ ln q)/dq`, as `focal_h`: the element's share of
/// d loss / d x is `h_c - q_c Σ_k h_k`.
pub(super) fn focal_h(x: f64, lse: f64, y: f64, u: f64, gamma: f64) -> f64 {
    let lq = x - lse;
    let q = lq.exp();
    let [r, dr] = focal_powers(q, gamma);
    u * y * (dr * q * lq - r)
}

/// `ln σ(x)`, stable on both sides, as `log_sigmoid`.
pub(super) fn log_sigmoid(x: f64) -> f64 {
    x.min(0.0) - (-x.abs()).exp().ln_1p()
}

/// Softmax normaliser of one pixel: (max logit, 1 / sum exp(x - max)), as `softmax_norm`.
pub(super) fn softmax_norm(
    preds: &[f32],
    pred_base: usize,
    n_c: usize,
    n_s: usize,
    s: usize,
) -> (f64, f64) {
    let x = |c: usize| preds[pred_base + c * n_s + s] as f64;
    let m = (1..n_c).map(x).fold(x(0), f64::max);
    let z: f64 = (0..n_c).map(|c| (x(c) - m).exp()).sum();
    (m, 1.0 / z)
}

/// The probability of one element, as `activate`.
pub(super) fn activate(activation: Activation, x: f64, norm: (f64, f64)) -> f64 {
    match activation {
        Activation::Softmax => (x - norm.0).exp() * norm.1,
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::None => x,
    }
}
