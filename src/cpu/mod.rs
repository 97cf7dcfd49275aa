//! The CPU reference: the same three steps as the shaders, in the same order and with the same
//! names (`dice_partials` + `dice_reduce` folded into [`dice_sums`], [`dice_finalize`],
//! [`dice_gradient`]), accumulating in f64. It is the oracle of every test, and the path the
//! quickstart takes where no GPU exists.

mod confusion;
mod elements;
mod finalize;
mod gradient;
mod pixels;

pub use confusion::confusion_counts;
pub use finalize::{dice_finalize, with_upstream};
pub use gradient::dice_gradient;
pub use pixels::dice_sums;

use crate::config::DiceConfig;
use crate::error::DiceError;
use crate::output::{DiceOutput, Gradient};
use crate::shape::{Shape, Targets};

/// Validates everything the host can see: shape, config, lengths, labels and finiteness.
pub fn validate_inputs(
    shape: &Shape,
    config: &DiceConfig,
    preds: &[f32],
    targets: Targets<'_>,
) -> Result<(), DiceError> {
    config.validate(shape.classes())?;
    config.validate_targets(targets.kind())?;
    check_lengths(shape, preds, targets)?;
    check_finite("predictions", preds)?;
    if let Targets::Dense(dense) = targets {
        check_finite("targets", dense)?;
    } else {
        check_labels(shape, targets, config.ignore_index)?;
    }
    Ok(())
}

/// An error where the predictions or the targets are not the shape's length.
pub(crate) fn check_lengths(
    shape: &Shape,
    preds: &[f32],
    targets: Targets<'_>,
) -> Result<(), DiceError> {
    let expected = targets.kind().len_for(shape);
    for (what, expected, got) in [
        ("predictions", shape.len(), preds.len()),
        ("targets", expected, targets.len()),
    ] {
        if got != expected {
            return Err(DiceError::LengthMismatch {
                what,
                expected,
                got,
            });
        }
    }
    Ok(())
}

/// An error where any value is not finite.
pub(crate) fn check_finite(what: &'static str, values: &[f32]) -> Result<(), DiceError> {
    let count = values.iter().filter(|v| !v.is_finite()).count();
    if count > 0 {
        return Err(DiceError::NonFinite {
            what,
            count: count as u64,
        });
    }
    Ok(())
}

/// An error where a label is past the classes and not `ignore`: their count and the first
/// offending pixel, in one pass.
pub(crate) fn check_labels(
    shape: &Shape,
    targets: Targets<'_>,
    ignore: Option<u32>,
) -> Result<(), DiceError> {
    let n_c = shape.classes() as u32;
    let (mut count, mut first) = (0u64, None);
    for i in 0..targets.len() {
        let l = targets.label(i);
        if l >= n_c && Some(l) != ignore {
            count += 1;
            first = first.or(Some(i));
        }
    }
    if count > 0 {
        return Err(DiceError::LabelOutOfRange {
            count,
            n_classes: shape.classes(),
            first,
        });
    }
    Ok(())
}

/// The whole computation on the CPU in f64: validation, sums, loss and (optionally) gradient.
pub fn compute(
    shape: &Shape,
    config: &DiceConfig,
    preds: &[f32],
    targets: Targets<'_>,
    gradient: Gradient,
) -> Result<DiceOutput<f64>, DiceError> {
    validate_inputs(shape, config, preds, targets)?;
    let sums = dice_sums(shape, config, preds, targets);
    let fin = dice_finalize(config, &sums);
    let gradient = gradient
        .wanted()
        .then(|| dice_gradient(shape, config, preds, targets, &fin));
    Ok(DiceOutput::from_finalized(config, fin, sums, gradient))
}
