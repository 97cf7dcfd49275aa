//! Validation metrics on the tensors' own device: each (sample, class) cell's confusion counts
//! computed by Burn integer operations where the batch is (any backend, no host copy of the
//! batch), read back as `4 · B · C` integers in one transfer, then scored with softdice's
//! MONAI metrics ([`softdice::metrics`]). Counts are exact integers: accumulate them over an
//! epoch or merge them across devices with [`ConfusionCounts::append_samples`] and the
//! metric is the same whatever the split.
//!
//! ```
//! # use burn::tensor::{Int, Tensor};
//! use softdice_burn::metrics::{confusion_counts, Decision};
//! use softdice_burn::softdice::metrics::DiceMetric;
//! use softdice_burn::softdice::Activation;
//! # fn validate(logits: Tensor<4>, labels: Tensor<3, Int>) -> Result<f64, softdice_burn::Error> {
//! let counts = confusion_counts(logits, labels, Decision::Argmax, Activation::Softmax, None)?;
//! let dice = DiceMetric::monai().include_background(false).compute(&counts)?;
//! # Ok(dice.values[0]) }
//! ```

use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Int, Tensor};
pub use softdice::metrics::Decision;
use softdice::metrics::{Confusion, ConfusionCounts};
use softdice::{Activation, DiceError};

use crate::composed::{bad_labels, flat_inputs};
use crate::error::Error;
use crate::inputs::check_inputs;

/// Per-sample, per-class confusion counts of predictions `[B, C, spatial…]` (raw inputs of
/// `activation`) against integer labels `[B, spatial…]`, as `softdice::cpu::confusion_counts`
/// counts them: pixels labelled `ignore` count nowhere; labels past the classes (other than
/// `ignore`) and non-finite predictions are errors. Ties of [`Decision::Argmax`] go as the
/// backend's `argmax` breaks them.
pub fn confusion_counts<const D: usize, const DL: usize>(
    preds: Tensor<D>,
    labels: Tensor<DL, Int>,
    decision: Decision,
    activation: Activation,
    ignore: Option<u32>,
) -> Result<ConfusionCounts, Error> {
    let shape = check_inputs(&preds, &labels)?;
    let (n_b, n_c, n_s) = (shape.batch(), shape.classes(), shape.spatial());
    let device = preds.device();
    let (x, labels) = flat_inputs(preds, labels, [n_b, n_c, n_s]);
    let full = [n_b, n_c, n_s];
    let classes = Tensor::<1, Int>::arange(0..n_c as i64, (&device, labels.dtype()))
        .reshape([1, n_c, 1])
        .expand(full);
    let predicted = match decision {
        Decision::Argmax => x.clone().argmax(1).expand(full).equal(classes.clone()),
        Decision::Threshold { value, inclusive } => {
            let p = match activation {
                Activation::Softmax => softmax(x.clone(), 1),
                Activation::Sigmoid => sigmoid(x.clone()),
                Activation::None => x.clone(),
            };
            if inclusive {
                p.greater_equal_elem(value)
            } else {
                p.greater_elem(value)
            }
        }
    };
    let kept = match ignore {
        Some(i) => labels.clone().not_equal_elem(i as i64),
        None => labels.clone().equal(labels.clone()),
    };
    let kept3 = kept.clone().unsqueeze_dim::<3>(1).expand(full).int();
    let truth = labels
        .clone()
        .unsqueeze_dim::<3>(1)
        .expand(full)
        .equal(classes)
        .int()
        * kept3.clone();
    let predicted = predicted.int() * kept3;
    let per_cell = |t: Tensor<3, Int>| t.sum_dim(2).reshape([n_b * n_c]);
    let out_of_range = bad_labels(&labels, n_c, ignore);
    let non_finite = x.is_finite().bool_not().int().sum();
    let all = Tensor::cat(
        vec![
            per_cell(predicted.clone() * truth.clone()),
            per_cell(predicted),
            per_cell(truth),
            kept.int().sum_dim(1).reshape([n_b]),
            out_of_range.int().sum(),
            non_finite,
        ],
        0,
    );
    let read: Vec<i64> = all.into_data().iter::<i64>().collect();
    let cells = n_b * n_c;
    let (bad, non_finite) = (read[3 * cells + n_b], read[3 * cells + n_b + 1]);
    if bad > 0 {
        return Err(DiceError::LabelOutOfRange {
            count: bad as u64,
            n_classes: n_c,
            first: None,
        }
        .into());
    }
    if non_finite > 0 {
        return Err(DiceError::NonFinite {
            what: "predictions",
            count: non_finite as u64,
        }
        .into());
    }
    let cell = |i: usize| {
        let (tp, pred, truth) = (
            read[i] as u64,
            read[cells + i] as u64,
            read[2 * cells + i] as u64,
        );
        let kept = read[3 * cells + i / n_c] as u64;
        Confusion {
            tp,
            fp: pred - tp,
            fn_: truth - tp,
            tn: kept + tp - pred - truth,
        }
    };
    Ok(ConfusionCounts::new(n_c, (0..cells).map(cell).collect())?)
}
