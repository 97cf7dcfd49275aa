//! The composed path's cross-entropy term: its per-element sum terms and its value over the
//! divisor, as `softdice::cpu` forms them.

use burn::tensor::Tensor;
use burn::tensor::activation::log_sigmoid;
use softdice::{CeDivisor, CrossEntropy, CrossEntropyKind, DiceConfig, TargetForm};

use super::{Sums, class_row};

/// The cross-entropy sums' terms `(X1, X2)` of every element, as `softdice::cpu` forms them:
/// softmax `(y (lse - x), lse - x)`, sigmoid `(-t ln σ(x), -(1 - t) ln σ(-x))` on the smoothed
/// target `t` (`CrossEntropy::sigmoid_target`), sigmoid focal
/// `(y f, (1 - y) f)`, softmax focal `(y (1 - q)^γ (lse - x), 0)`.
pub(super) fn ce_terms(ce: &CrossEntropy, x: Tensor<3>, y: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
    let gamma = ce.focal_gamma;
    let lse = || {
        // The max is a constant of the gradient: d lse / dx is the softmax for any shift.
        let m = x.clone().detach().max_dim(1);
        (x.clone() - m.clone()).exp().sum_dim(1).log() + m
    };
    match ce.kind {
        CrossEntropyKind::Softmax => {
            let nl = lse() - x;
            (y * nl.clone(), nl)
        }
        CrossEntropyKind::Sigmoid => {
            let [a, b] = ce.sigmoid_target();
            let t = y * a as f32 + b as f32;
            (
                -(t.clone() * log_sigmoid(x.clone())),
                -((-t + 1.0) * log_sigmoid(-x)),
            )
        }
        CrossEntropyKind::SigmoidFocal => {
            // f = exp(γ ln σ(z)) · BCE(x, y) with z = -x (2y - 1) (σ(z) = 1 - p_t).
            let z = -(x.clone() * (y.clone() * 2.0 - 1.0));
            let bce = x.clone() - x.clone() * y.clone() - log_sigmoid(x);
            let f = (log_sigmoid(z) * gamma).exp() * bce;
            (y.clone() * f.clone(), (-y + 1.0) * f)
        }
        CrossEntropyKind::SoftmaxFocal => {
            let nl = lse() - x;
            let term = if gamma == 0.0 {
                nl
            } else {
                (-(-nl.clone()).exp() + 1.0).powf_scalar(gamma) * nl
            };
            (y.clone() * term, y.zeros_like())
        }
    }
}

/// The cross-entropy term's value: `Σ_{r,c} (u_c X1 + v_c X2)` over its divisor
/// ([`CrossEntropy::divisor`]); 0 where nothing was kept, as `softdice::cpu`'s `ce_finalize`.
pub(super) fn ce_term(
    config: &DiceConfig,
    ce: &CrossEntropy,
    sums: &Sums,
    y: Tensor<2>,
    spatial: usize,
) -> Tensor<1> {
    let [rows, n_c] = y.dims();
    let u = class_row((0..n_c).map(|c| ce.uv(c, n_c)[0]), n_c, &y).expand([rows, n_c]);
    let v = class_row((0..n_c).map(|c| ce.uv(c, n_c)[1]), n_c, &y).expand([rows, n_c]);
    let sum = (sums.column(3) * u + sums.column(4) * v).sum();
    // Integer labels: the only targets softdice-burn takes.
    let divisor = match ce.divisor(config.reduction, TargetForm::Labels) {
        CeDivisor::One => return sum,
        CeDivisor::Spatial => return sum / spatial as f32,
        CeDivisor::LabelWeight => {
            let w = class_row((0..n_c).map(|c| ce.class_weight(c) as f64), n_c, &y);
            (y * w.expand([rows, n_c])).sum()
        }
        CeDivisor::Pixels => sums.pixels.clone().detach(),
        CeDivisor::Elements => sums.pixels.clone().detach() * ce.n_included(n_c) as f32,
    };
    // Where nothing was kept the sum is 0 too: 0 / 1.
    let safe = divisor.clone() + divisor.equal_elem(0.0).float();
    sum / safe
}
