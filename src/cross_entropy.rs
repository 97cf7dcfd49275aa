//! The cross-entropy term of a compound loss (`λ_dice · Dice + λ_ce · CE`), fused into the
//! same passes as the Dice sums: what nnU-Net's `DC_and_CE_loss`, MONAI's `DiceCELoss` and smp
//! users' `DiceLoss + CrossEntropyLoss` train with.

use crate::config::Reduction;
use crate::error::DiceError;

/// Which cross-entropy the term is. Both take the raw input as logits, whatever
/// [`crate::DiceConfig::activation`] applies for the Dice term (MONAI's `DiceCELoss` allows a
/// Dice term on probabilities beside a CE term on the logits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrossEntropyKind {
    /// PyTorch `CrossEntropyLoss`: log-softmax over the class axis. Integer labels, or dense
    /// class-probability targets.
    Softmax,
    /// PyTorch `BCEWithLogitsLoss`: log-sigmoid per element, on dense targets (or the one-hot
    /// of integer labels).
    Sigmoid,
}

/// The cross-entropy term, with PyTorch's semantics.
///
/// Softmax, per kept pixel: `-Σ_c w_c ((1 - ε) y_c + ε / C) ln q_c` with `q = softmax(x)`;
/// [`Reduction::Mean`] divides the sum by `Σ w_label` over the kept pixels for integer labels
/// (PyTorch's weighted mean; the count of kept pixels without weights) and by the number of
/// pixels for dense targets. Pixels of [`crate::DiceConfig::ignore_index`] leave it, as they
/// leave the Dice sums (`ignore_index` of `CrossEntropyLoss`).
///
/// Sigmoid, per element: `-w_c (pw_c y ln σ(x) + (1 - y) ln(1 - σ(x)))`; [`Reduction::Mean`]
/// divides by the number of elements.
///
/// Where every pixel is ignored the term is 0 with no gradient, as nnU-Net's `DC_and_CE_loss`
/// has it (PyTorch's mean would be 0 / 0, NaN).
///
/// [`Reduction::Sum`] takes the plain sum; [`Reduction::None`] is refused (the Dice term has
/// no per-pixel values to add to), as MONAI's `DiceCELoss` refuses it.
#[derive(Clone, Debug, PartialEq)]
pub struct CrossEntropy {
    /// Softmax or sigmoid cross-entropy.
    pub kind: CrossEntropyKind,
    /// `λ_ce`, the term's weight in the total (MONAI `lambda_ce`, nnU-Net `weight_ce`).
    pub lambda: f32,
    /// Per-class weights `w` (PyTorch `weight=`), length C; `None` for all ones.
    pub class_weights: Option<Vec<f32>>,
    /// Per-class weights `pw` of the positive term (PyTorch `pos_weight=`, sigmoid only),
    /// length C; `None` for all ones.
    pub pos_weight: Option<Vec<f32>>,
    /// Label smoothing `ε` in `[0, 1]` (PyTorch `label_smoothing=`, softmax only).
    pub label_smoothing: f32,
}

impl CrossEntropy {
    /// PyTorch `CrossEntropyLoss()`: softmax, no weights, no smoothing, `λ = 1`.
    pub fn softmax() -> Self {
        Self {
            kind: CrossEntropyKind::Softmax,
            lambda: 1.0,
            class_weights: None,
            pos_weight: None,
            label_smoothing: 0.0,
        }
    }

    /// PyTorch `BCEWithLogitsLoss()`: sigmoid per element, `λ = 1`.
    pub fn sigmoid() -> Self {
        Self {
            kind: CrossEntropyKind::Sigmoid,
            ..Self::softmax()
        }
    }

    /// The weight of class `c` (1 without weights).
    pub fn class_weight(&self, c: usize) -> f32 {
        self.class_weights.as_ref().map_or(1.0, |w| w[c])
    }

    /// The positive weight of class `c` (1 without weights).
    pub fn pos_weight_of(&self, c: usize) -> f32 {
        self.pos_weight.as_ref().map_or(1.0, |w| w[c])
    }

    /// Checks the term against a class count and the loss's reduction.
    pub(crate) fn validate(&self, n_classes: usize, reduction: Reduction) -> Result<(), DiceError> {
        for (name, value) in [
            ("cross_entropy.lambda", self.lambda),
            ("cross_entropy.label_smoothing", self.label_smoothing),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(DiceError::InvalidParameter { name, value });
            }
        }
        if self.label_smoothing > 1.0 {
            return Err(DiceError::InvalidParameter {
                name: "cross_entropy.label_smoothing",
                value: self.label_smoothing,
            });
        }
        for (what, weights) in [
            ("cross_entropy.class_weights", &self.class_weights),
            ("cross_entropy.pos_weight", &self.pos_weight),
        ] {
            let Some(w) = weights else { continue };
            if w.len() != n_classes {
                return Err(DiceError::LengthMismatch {
                    what,
                    expected: n_classes,
                    got: w.len(),
                });
            }
            if let Some(&value) = w.iter().find(|v| !v.is_finite() || **v < 0.0) {
                return Err(DiceError::InvalidParameter { name: what, value });
            }
        }
        let refuse = |why: &str| Err(DiceError::InvalidConfig(why.into()));
        match self.kind {
            CrossEntropyKind::Softmax if n_classes == 1 => {
                refuse("softmax cross-entropy over one class is 0; use CrossEntropyKind::Sigmoid")
            }
            CrossEntropyKind::Softmax if self.pos_weight.is_some() => {
                refuse("pos_weight belongs to the sigmoid cross-entropy")
            }
            CrossEntropyKind::Sigmoid if self.label_smoothing != 0.0 => {
                refuse("label_smoothing belongs to the softmax cross-entropy")
            }
            _ if reduction == Reduction::None => refuse(
                "a cross-entropy term needs a reduced loss (Mean or Sum): the Dice term has no \
                 per-pixel values",
            ),
            _ => Ok(()),
        }
    }
}
