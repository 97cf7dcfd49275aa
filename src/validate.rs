//! Checking a configuration before anything runs: every refusal names the option (and the one
//! it conflicts with).

use crate::config::*;
use crate::error::DiceError;
use crate::shape::TargetKind;

impl DiceConfig {
    /// Checks the configuration against a class count: smoothing finite and non-negative,
    /// classes in range, weights of the right length and finite, at least one class selected.
    pub fn validate(&self, n_classes: usize) -> Result<(), DiceError> {
        self.index.validate(self)?;
        self.validate_parameters()?;
        if n_classes == 0 {
            return Err(DiceError::ZeroClasses);
        }
        if let Some(ce) = &self.cross_entropy {
            ce.validate(n_classes, self.reduction)?;
        }
        self.validate_classes(n_classes)
    }

    /// The scalar options: each in its range, and the combinations that have no meaning.
    fn validate_parameters(&self) -> Result<(), DiceError> {
        if self.ignore_index == Some(u32::MAX) {
            // The kernels' "nothing ignored" value: such labels are out of range instead.
            return Err(DiceError::InvalidConfig(
                "ignore_index u32::MAX is reserved (it means nothing is ignored); pick another \
                 value, e.g. 255"
                    .into(),
            ));
        }
        for (name, value) in [
            ("smooth_nr", self.smooth_nr),
            ("smooth_dr", self.smooth_dr),
            ("denominator_clamp", self.denominator_clamp),
            ("log_clamp", self.log_clamp),
            ("alpha", self.alpha),
            ("beta", self.beta),
            ("lambda_dice", self.lambda_dice),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(DiceError::InvalidParameter { name, value });
            }
        }
        if !self.loss_exponent.is_finite() || self.loss_exponent <= 0.0 {
            return Err(DiceError::InvalidParameter {
                name: "loss_exponent",
                value: self.loss_exponent,
            });
        }
        if self.loss_exponent != 1.0
            && (self.reduction == Reduction::None || self.loss_form == LossForm::NegDice)
        {
            return Err(DiceError::InvalidConfig(
                "loss_exponent raises a reduced, non-negative loss: not Reduction::None, not \
                 LossForm::NegDice"
                    .into(),
            ));
        }
        if self.generalized.is_some() && (self.alpha, self.beta) != (0.5, 0.5) {
            return Err(DiceError::InvalidConfig(
                "Generalized Dice has no Tversky weights; keep alpha = beta = 0.5".into(),
            ));
        }
        Ok(())
    }

    /// What depends on the class count: weights, the selection, softmax over one class.
    fn validate_classes(&self, n_classes: usize) -> Result<(), DiceError> {
        if let Some(w) = &self.class_weights {
            if w.len() != n_classes {
                return Err(DiceError::LengthMismatch {
                    what: "class_weights",
                    expected: n_classes,
                    got: w.len(),
                });
            }
            if let Some(&value) = w.iter().find(|v| !v.is_finite() || **v < 0.0) {
                return Err(DiceError::InvalidParameter {
                    name: "class_weights",
                    value,
                });
            }
        }
        if let ClassSelection::Subset(list) = &self.classes {
            if let Some(&class) = list.iter().find(|&&c| c as usize >= n_classes) {
                return Err(DiceError::ClassOutOfRange { class, n_classes });
            }
            if list.windows(2).any(|w| w[0] >= w[1]) {
                return Err(DiceError::InvalidConfig(
                    "ClassSelection::Subset must be strictly increasing".into(),
                ));
            }
        }
        if self.activation == Activation::Softmax && n_classes == 1 {
            return Err(DiceError::InvalidConfig(
                "softmax over a single class is constant 1; use Activation::Sigmoid for binary"
                    .into(),
            ));
        }
        let selected = self.selected_classes(n_classes);
        if selected.iter().all(|&s| !s) {
            return Err(DiceError::InvalidConfig("no class is selected".into()));
        }
        if self.weight_mode == WeightMode::Normalize && self.reduction == Reduction::Mean {
            let sum: f64 = selected
                .iter()
                .enumerate()
                .filter(|(_, &s)| s)
                .map(|(c, _)| self.class_weight(c) as f64)
                .sum();
            if sum <= 0.0 {
                return Err(DiceError::InvalidConfig(
                    "normalized class weights of the selected classes sum to zero".into(),
                ));
            }
        }
        Ok(())
    }

    /// Checks what depends on the target format: a cross-entropy term leaves ignored pixels
    /// out as the softmax cross-entropy on integer labels does (PyTorch's probability targets
    /// have no `ignore_index`), or as smp's sigmoid one does, whose mean still counts them
    /// ([`crate::CeMean::All`]; a mean over the kept elements would need their count).
    pub fn validate_targets(&self, kind: TargetKind) -> Result<(), DiceError> {
        use crate::cross_entropy::{CeMean, CrossEntropyKind as K};
        let Some(ce) = self
            .cross_entropy
            .as_ref()
            .filter(|_| self.ignore_index.is_some())
        else {
            return Ok(());
        };
        match (ce.kind, ce.mean) {
            (K::Softmax, _) if kind != TargetKind::Dense => Ok(()),
            (K::Sigmoid, CeMean::All) => Ok(()),
            (K::Softmax | K::Sigmoid | K::SigmoidFocal | K::SoftmaxFocal, _) => {
                Err(DiceError::InvalidConfig(
                    "ignore_index with a cross-entropy term needs CrossEntropyKind::Softmax on \
                     integer labels, or CrossEntropyKind::Sigmoid with CeMean::All"
                        .into(),
                ))
            }
        }
    }
}
