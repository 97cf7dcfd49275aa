//! The similarity index a class's score is: the Tversky index in Dice scale (Dice, Jaccard,
//! Tversky), or the Matthews correlation coefficient of smp's `MCCLoss`. Both are functions of
//! the same class sums `(I, P, Y)` (and, for MCC, the elements of the row), so they share the
//! passes, the reductions and the gradient kernel: only finalize differs.

use crate::config::DiceConfig;
use crate::error::DiceError;

/// Which index scores a class.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SimilarityIndex {
    /// The Tversky index in Dice scale, with [`DiceConfig::alpha`] and [`DiceConfig::beta`]
    /// (Dice at ½, ½; Jaccard at 1, 1), smoothed by `smooth_nr`/`smooth_dr`.
    #[default]
    Tversky,
    /// The soft Matthews correlation coefficient of smp `MCCLoss(eps)`, per class over its
    /// row's `N` elements: `tp = I + ε`, `fp = P − I + ε`, `fn = Y − I + ε`,
    /// `tn = N − P − Y + I + ε`, `mcc = (tp·tn − fp·fn) / √((tp+fp)(tp+fn)(tn+fp)(tn+fn))`.
    /// The smoothing fields and the denominator clamp take no part.
    Mcc {
        /// `ε`, added to each of the four counts (smp's `eps`, 1e-5).
        eps: f32,
    },
}

impl SimilarityIndex {
    /// Refuses the options the index cannot take: MCC needs the plain sums over every element
    /// of its row (no squared or L1 sums, no Generalized weights, no Tversky weights, no
    /// ignored pixels, which would leave the element count) and a finite `ε ≥ 0`.
    pub(crate) fn validate(self, config: &DiceConfig) -> Result<(), DiceError> {
        let SimilarityIndex::Mcc { eps } = self else {
            return Ok(());
        };
        if !eps.is_finite() || eps < 0.0 {
            return Err(DiceError::InvalidParameter {
                name: "index Mcc eps",
                value: eps,
            });
        }
        let conflict = [
            (config.squared, "squared"),
            (config.soft_label, "soft_label"),
            (config.generalized.is_some(), "generalized"),
            (
                config.alpha != 0.5 || config.beta != 0.5,
                "alpha/beta (Tversky)",
            ),
            (config.ignore_index.is_some(), "ignore_index"),
            (config.denominator_clamp != 0.0, "denominator_clamp"),
        ];
        match conflict.iter().find(|(on, _)| *on) {
            Some((_, field)) => Err(DiceError::InvalidConfig(format!(
                "SimilarityIndex::Mcc cannot take {field}: the MCC is formed from the plain \
                 sums over every element of its row"
            ))),
            None => Ok(()),
        }
    }
}

/// The soft MCC of one class from its sums, `(mcc, d mcc / d I, d mcc / d P)`, over `n`
/// elements. `tp + fp = P + 2ε`, `tp + fn = Y + 2ε`, `tn + fp = N − Y + 2ε` and
/// `tn + fn = N − P + 2ε` do not depend on `I`, so the root's derivative is in `P` only.
pub fn mcc(eps: f64, i: f64, p: f64, y: f64, n: f64) -> (f64, f64, f64) {
    let (tp, fp, fal, tn) = (i + eps, p - i + eps, y - i + eps, n - p - y + i + eps);
    let num = tp * tn - fp * fal;
    let (s1, s2, s3, s4) = (tp + fp, tp + fal, tn + fp, tn + fal);
    let root = (s1 * s2 * s3 * s4).sqrt();
    let value = num / root;
    let d_i = (tp + tn + fp + fal) / root;
    let d_p = -s2 / root - 0.5 * value * (1.0 / s1 - 1.0 / s4);
    (value, d_i, d_p)
}
