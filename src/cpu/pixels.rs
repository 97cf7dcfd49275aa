//! The oracle's pixels (as the kernels take them) and the class sums over them: what
//! `dice_partials` followed by `dice_reduce` compute.

// Index loops on purpose: they line up with the WGSL loops they mirror.
#![allow(clippy::needless_range_loop)]

use super::elements::{activate, focal, focal_powers, log_sigmoid, softmax_norm};
use crate::config::{Activation, DiceConfig};
use crate::cross_entropy::CrossEntropyKind;
use crate::output::ClassSums;
use crate::shape::{Shape, Targets};

/// The target of element (b, c, s) and whether it is kept (not ignored).
pub(super) fn target_of(
    targets: Targets<'_>,
    ignore: Option<u32>,
    shape: &Shape,
    b: usize,
    c: usize,
    s: usize,
) -> (f64, bool) {
    let (n_c, n_s) = (shape.classes(), shape.spatial());
    match targets {
        Targets::Dense(d) => {
            let y = d[(b * n_c + c) * n_s + s];
            (y as f64, ignore.is_none_or(|i| y != i as f32))
        }
        Targets::Labels(_) | Targets::LabelsU8(_) | Targets::LabelsU16(_) => {
            let label = targets.label(b * n_s + s);
            (
                if label as usize == c { 1.0 } else { 0.0 },
                Some(label) != ignore,
            )
        }
    }
}

/// One pixel as the kernels take it: its sample, its row of sums, its spatial index and its
/// softmax normaliser (where softmax is the activation).
pub(super) struct Pixel<'a> {
    pub(super) preds: &'a [f32],
    pub(super) activation: Activation,
    pub(super) n_c: usize,
    pub(super) n_s: usize,
    pub(super) b: usize,
    pub(super) row: usize,
    pub(super) s: usize,
    pub(super) norm: (f64, f64),
    /// `ln Σ exp x` of the raw logits, for a softmax cross-entropy term.
    pub(super) lse: f64,
}

impl Pixel<'_> {
    /// The index of class `c` of this pixel in a `[B, C, spatial...]` tensor.
    pub(super) fn element(&self, c: usize) -> usize {
        (self.b * self.n_c + c) * self.n_s + self.s
    }

    /// The raw input of class `c`.
    pub(super) fn x(&self, c: usize) -> f64 {
        self.preds[self.element(c)] as f64
    }

    /// The cross-entropy sums' terms `(X1, X2)` of class `c` with target `y`, as `ce_terms`:
    /// softmax `(y (lse - x), lse - x)`, sigmoid `(-t ln σ(x), -(1 - t) ln(1 - σ(x)))` on the
    /// smoothed target `t` ([`crate::CrossEntropy::sigmoid_target`]), focal
    /// `(y f, (1 - y) f)` with `f` the focal element.
    pub(super) fn ce_terms(&self, ce: &crate::CrossEntropy, c: usize, y: f64) -> [f64; 2] {
        let x = self.x(c);
        match ce.kind {
            CrossEntropyKind::Softmax => [y * (self.lse - x), self.lse - x],
            CrossEntropyKind::Sigmoid => {
                let [a, b] = ce.sigmoid_target();
                let t = a * y + b;
                [-t * log_sigmoid(x), -(1.0 - t) * log_sigmoid(-x)]
            }
            CrossEntropyKind::SigmoidFocal => {
                let f = focal(x, y, ce.focal_gamma as f64)[0];
                [y * f, (1.0 - y) * f]
            }
            CrossEntropyKind::SoftmaxFocal => {
                let q = (x - self.lse).exp();
                [
                    y * focal_powers(q, ce.focal_gamma as f64)[0] * (self.lse - x),
                    0.0,
                ]
            }
        }
    }

    /// The activated prediction of class `c`.
    pub(super) fn p(&self, c: usize) -> f64 {
        activate(
            self.activation,
            self.preds[self.element(c)] as f64,
            self.norm,
        )
    }
}

/// Every pixel, sample by sample.
pub(super) fn pixels<'a>(
    shape: &Shape,
    config: &DiceConfig,
    preds: &'a [f32],
) -> impl Iterator<Item = Pixel<'a>> {
    let (n_b, n_c, n_s) = (shape.batch(), shape.classes(), shape.spatial());
    let per_sample = config.scope == crate::Scope::PerSample;
    let activation = config.activation;
    let softmax = config.softmax_over_classes();
    let ce_softmax = config
        .cross_entropy
        .as_ref()
        .is_some_and(|ce| ce.kind.is_softmax());
    (0..n_b).flat_map(move |b| {
        (0..n_s).map(move |s| {
            let raw = if softmax {
                softmax_norm(preds, b * n_c * n_s, n_c, n_s, s)
            } else {
                (0.0, 1.0)
            };
            Pixel {
                preds,
                activation,
                n_c,
                n_s,
                b,
                row: if per_sample { b } else { 0 },
                s,
                norm: match activation {
                    Activation::Softmax => raw,
                    Activation::None | Activation::Sigmoid => (0.0, 1.0),
                },
                lse: if ce_softmax { raw.0 - raw.1.ln() } else { 0.0 },
            }
        })
    })
}

/// Per-row, per-class sums `(A, P, Y)` in f64: what `dice_partials` followed by `dice_reduce`
/// compute. Inputs must have passed [`validate_inputs`](super::validate_inputs).
pub fn dice_sums(
    shape: &Shape,
    config: &DiceConfig,
    preds: &[f32],
    targets: Targets<'_>,
) -> ClassSums {
    let (n_b, n_c) = (shape.batch(), shape.classes());
    let per_sample = config.scope == crate::Scope::PerSample;
    let mut sums = ClassSums::zeros(if per_sample { n_b } else { 1 }, n_c);
    sums.set_pixels(shape.pixels() as f64, targets.kind().form());
    sums.set_spatial(shape.spatial() as f64);
    for px in pixels(shape, config, preds) {
        for c in 0..n_c {
            let (y, keep) = target_of(targets, config.ignore_index, shape, px.b, c, px.s);
            if !keep {
                continue;
            }
            let p = px.p(c);
            let ce = config
                .cross_entropy
                .as_ref()
                .map(|ce| px.ce_terms(ce, c, y));
            let cell = sums.cell_mut(px.row, c);
            cell[0] += if config.soft_l1() {
                (p - y).abs()
            } else {
                p * y
            };
            if config.squared {
                cell[1] += p * p;
                cell[2] += y * y;
            } else {
                cell[1] += p;
                cell[2] += y;
            }
            if let Some([x1, x2]) = ce {
                cell[3] += x1;
                cell[4] += x2;
            }
        }
    }
    sums
}
