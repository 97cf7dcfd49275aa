//! d loss / d input of every element from the finalized coefficients: what `dice_gradient`
//! computes.

// Index loops on purpose: they line up with the WGSL loops they mirror.
#![allow(clippy::needless_range_loop)]

use super::elements::{focal, focal_h};
use super::pixels::{pixels, target_of, Pixel};
use crate::config::{Activation, DiceConfig};
use crate::cross_entropy::CrossEntropyKind;
use crate::output::Finalized;
use crate::shape::{Shape, Targets};

/// d loss / d input of every element from the finalized coefficients: what `dice_gradient`
/// computes.
pub fn dice_gradient(
    shape: &Shape,
    config: &DiceConfig,
    preds: &[f32],
    targets: Targets<'_>,
    fin: &Finalized<f64>,
) -> Vec<f64> {
    let coefs = &fin.coefs;
    let n_c = shape.classes();
    let soft = config.soft_l1();
    let mut grad = vec![0.0; shape.len()];
    // d loss / d p of one element, as `element_grad` (zero where ignored).
    let grad_p = |coef: [f64; 2], p: f64, (y, keep): (f64, bool)| {
        if !keep {
            return 0.0;
        }
        let g = if config.squared {
            2.0 * coef[1] * p
        } else {
            coef[1]
        };
        g + coef[0]
            * if soft {
                (p - y).signum() * f64::from(p != y)
            } else {
                y
            }
    };
    for px in pixels(shape, config, preds) {
        let g_of = |c: usize| {
            let t = target_of(targets, config.ignore_index, shape, px.b, c, px.s);
            grad_p(coefs[px.row * n_c + c], px.p(c), t)
        };
        let dot: f64 = match config.activation {
            Activation::Softmax => (0..n_c).map(|c| px.p(c) * g_of(c)).sum(),
            Activation::None | Activation::Sigmoid => 0.0,
        };
        for c in 0..n_c {
            let (p, g) = (px.p(c), g_of(c));
            grad[px.element(c)] = match config.activation {
                Activation::Softmax => p * (g - dot),
                Activation::Sigmoid => g * p * (1.0 - p),
                Activation::None => g,
            };
        }
        if let Some(ce) = &config.cross_entropy {
            let target = |c| target_of(targets, config.ignore_index, shape, px.b, c, px.s);
            // An ignored pixel leaves the softmax kinds; the per-element kinds leave out
            // each ignored element (dense targets are masked per element).
            if ce.kind.is_softmax() && !target(0).1 {
                continue;
            }
            ce_gradient(ce, &px, &fin.ce_coefs, target, &mut grad);
        }
    }
    grad
}

/// Adds the cross-entropy term's d loss / d x of one kept pixel, as `ce_grad`: softmax
/// `q_c Σ_k a_k - a_c` with `a_k = u_k y_k + v_k` and `q = softmax(x)`; sigmoid
/// `u_c y (σ(x) - 1) + v_c (1 - y) σ(x)`; focal `(u_c y + v_c (1 - y)) f'`.
fn ce_gradient(
    ce: &crate::CrossEntropy,
    px: &Pixel<'_>,
    ce_coefs: &[[f64; 2]],
    target: impl Fn(usize) -> (f64, bool),
    grad: &mut [f64],
) {
    let n_c = px.n_c;
    let a = |c: usize| ce_coefs[c][0] * target(c).0 + ce_coefs[c][1];
    match ce.kind {
        CrossEntropyKind::Softmax => {
            let a_sum: f64 = (0..n_c).map(a).sum();
            for c in 0..n_c {
                let q = (px.x(c) - px.lse).exp();
                grad[px.element(c)] += q * a_sum - a(c);
            }
        }
        CrossEntropyKind::Sigmoid => {
            let [a, b] = ce.sigmoid_target();
            for c in (0..n_c).filter(|&c| target(c).1) {
                let (y, s) = (a * target(c).0 + b, 1.0 / (1.0 + (-px.x(c)).exp()));
                let [u, v] = ce_coefs[c];
                grad[px.element(c)] += u * y * (s - 1.0) + v * (1.0 - y) * s;
            }
        }
        CrossEntropyKind::SigmoidFocal => {
            for c in (0..n_c).filter(|&c| target(c).1) {
                let y = target(c).0;
                let [u, v] = ce_coefs[c];
                let d = focal(px.x(c), y, ce.focal_gamma as f64)[1];
                grad[px.element(c)] += (u * y + v * (1.0 - y)) * d;
            }
        }
        CrossEntropyKind::SoftmaxFocal => {
            let gamma = ce.focal_gamma as f64;
            let h = |c: usize| focal_h(px.x(c), px.lse, target(c).0, ce_coefs[c][0], gamma);
            let h_sum: f64 = (0..n_c).map(h).sum();
            for c in 0..n_c {
                let q = (px.x(c) - px.lse).exp();
                grad[px.element(c)] += h(c) - q * h_sum;
            }
        }
    }
}
