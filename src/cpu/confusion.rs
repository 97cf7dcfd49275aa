//! The confusion-count oracle: exact per-sample, per-class TP, FP, TN and FN from raw
//! predictions, each pixel's predicted classes taken by a [`Decision`].

use super::elements::{activate, softmax_norm};
use super::{check_finite, check_labels, check_lengths};
use crate::config::Activation;
use crate::error::DiceError;
use crate::metrics::{Confusion, ConfusionCounts, Decision};
use crate::shape::{Shape, Targets};

/// Counts every (sample, class) cell of `preds` (`[B, C, spatial...]`, the raw inputs of
/// `activation`) against `targets`. Pixels whose label is `ignore` count nowhere; on dense
/// targets (which must be 0 or 1) an element equal to `ignore` counts nowhere for its class.
/// Errors on lengths, non-finite predictions, labels past the classes and dense values other
/// than 0, 1 and `ignore`.
pub fn confusion_counts(
    shape: &Shape,
    preds: &[f32],
    targets: Targets<'_>,
    decision: Decision,
    activation: Activation,
    ignore: Option<u32>,
) -> Result<ConfusionCounts, DiceError> {
    validate(shape, preds, targets, ignore)?;
    let (n_c, n_s) = (shape.classes(), shape.spatial());
    let mut cells = vec![Confusion::default(); shape.batch() * n_c];
    let mut predicted = vec![false; n_c];
    let ignored_value = ignore.map(|i| i as f32);
    for b in 0..shape.batch() {
        let base = b * n_c * n_s;
        for s in 0..n_s {
            let pixel = b * n_s + s;
            let label = match targets {
                Targets::Dense(_) => None,
                _ => Some(targets.label(pixel)),
            };
            if label.is_some() && label == ignore {
                continue;
            }
            predict(
                preds,
                base,
                n_c,
                n_s,
                s,
                decision,
                activation,
                &mut predicted,
            );
            for (c, &p) in predicted.iter().enumerate() {
                let y = match (targets, label) {
                    (Targets::Dense(d), _) => {
                        let v = d[base + c * n_s + s];
                        if Some(v) == ignored_value {
                            continue;
                        }
                        v == 1.0
                    }
                    (_, l) => l == Some(c as u32),
                };
                let cell = &mut cells[b * n_c + c];
                match (p, y) {
                    (true, true) => cell.tp += 1,
                    (true, false) => cell.fp += 1,
                    (false, false) => cell.tn += 1,
                    (false, true) => cell.fn_ += 1,
                }
            }
        }
    }
    ConfusionCounts::new(n_c, cells)
}

/// Which classes pixel `s` of the sample at `base` is predicted in.
#[allow(clippy::too_many_arguments)]
fn predict(
    preds: &[f32],
    base: usize,
    n_c: usize,
    n_s: usize,
    s: usize,
    decision: Decision,
    activation: Activation,
    out: &mut [bool],
) {
    let x = |c: usize| preds[base + c * n_s + s];
    match decision {
        Decision::Argmax => {
            // The first of equal maxima, as torch.argmax.
            let best = (1..n_c).fold(0, |k, c| if x(c) > x(k) { c } else { k });
            for (c, o) in out.iter_mut().enumerate() {
                *o = c == best;
            }
        }
        Decision::Threshold { value, inclusive } => {
            let norm = match activation {
                Activation::Softmax => softmax_norm(preds, base, n_c, n_s, s),
                _ => (0.0, 1.0),
            };
            for (c, o) in out.iter_mut().enumerate() {
                let p = activate(activation, x(c) as f64, norm);
                *o = Decision::above(value, inclusive, p);
            }
        }
    }
}

fn validate(
    shape: &Shape,
    preds: &[f32],
    targets: Targets<'_>,
    ignore: Option<u32>,
) -> Result<(), DiceError> {
    check_lengths(shape, preds, targets)?;
    check_finite("predictions", preds)?;
    if let Targets::Dense(dense) = targets {
        let ignored = ignore.map(|i| i as f32);
        let count = dense
            .iter()
            .filter(|&&v| v != 0.0 && v != 1.0 && Some(v) != ignored)
            .count();
        if count > 0 {
            return Err(DiceError::NotBinary {
                count: count as u64,
            });
        }
        return Ok(());
    }
    check_labels(shape, targets, ignore)
}
