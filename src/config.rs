//! What to compute: the loss configuration, its options and what the kernels and the oracle
//! read from it (validation: `validate.rs`; the presets that name the Python call each one
//! matches: `presets.rs`).

use crate::cross_entropy::CrossEntropy;
use crate::index::SimilarityIndex;

/// The activation applied to the predictions inside the kernels, so that the gradient is taken
/// with respect to the raw input (the logits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Activation {
    /// Inputs already are probabilities.
    #[default]
    None,
    /// Softmax over the class axis (multiclass).
    Softmax,
    /// Sigmoid per element (multilabel and binary).
    Sigmoid,
}

/// How a dice value becomes a loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LossForm {
    /// `-ln(dice)`: the seed notebook (and smp `log_loss=True`).
    #[default]
    NegLog,
    /// `1 - dice`: MONAI and smp.
    OneMinusDice,
    /// `-dice`: nnU-Net.
    NegDice,
}

/// Over what the sums run before the dice is formed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Scope {
    /// Sums over the batch and the spatial dims: one dice per class (seed, MONAI `batch=True`,
    /// smp, nnU-Net `batch_dice=True`).
    #[default]
    Batch,
    /// Sums over the spatial dims only: one dice per sample and class (MONAI default).
    PerSample,
}

/// How the per-class (and per-sample) losses are reduced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Reduction {
    /// Mean over classes (and samples in [`Scope::PerSample`]).
    #[default]
    Mean,
    /// Sum over classes (and samples).
    Sum,
    /// No reduction: the per-element losses are returned in [`crate::DiceOutput::values`];
    /// the gradient is that of their sum (as PyTorch's `loss.sum().backward()`).
    None,
}

/// Which classes enter the loss. Softmax still runs over every class.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ClassSelection {
    /// Every class.
    #[default]
    All,
    /// Every class but class 0 (MONAI `include_background=False`, nnU-Net `do_bg=False`).
    NoBackground,
    /// These classes only, in increasing order (smp `classes=[...]`).
    Subset(Vec<u32>),
}

/// How class weights enter the reduction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum WeightMode {
    /// Each class loss is multiplied by its weight, then the plain mean is taken (MONAI
    /// `weight=`).
    #[default]
    Scale,
    /// `sum(w * loss) / sum(w)` over the selected classes (smp `class_weights=`); with
    /// [`Reduction::Sum`] or [`Reduction::None`] it is the same as `Scale`.
    Normalize,
}

/// Generalized Dice weights (MONAI `GeneralizedDiceLoss`, `w_type`): each class weighted by a
/// function of its ground-truth volume, summed over classes before the ratio. Infinite weights
/// (absent classes) are replaced by the largest finite weight of the same row, as MONAI does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum GeneralizedWeight {
    /// `w = 1 / Y^2` (`w_type="square"`, the default).
    Square,
    /// `w = 1 / Y` (`w_type="simple"`).
    Simple,
    /// `w = 1` (`w_type="uniform"`).
    Uniform,
}

/// What happens to a class absent from the ground truth of its row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EmptyClass {
    /// Only the smoothing terms decide (seed, MONAI, nnU-Net).
    #[default]
    Smooth,
    /// Its loss is zero but it still counts in the mean (smp).
    ZeroLoss,
}

/// The full loss configuration. Build it from a preset named after the Python call it matches
/// ([`DiceConfig::monai`], [`DiceConfig::smp_multiclass`], [`DiceConfig::nnunet`], …) or from
/// [`DiceConfig::seed`], change fields, and call [`DiceConfig::validate`] (every entry point
/// does).
///
/// **Probabilities or logits: choose [`DiceConfig::activation`].** [`DiceConfig::default`] and
/// [`DiceConfig::seed`] take probabilities (`Activation::None`), as the seed notebook does;
/// logits passed to them give a plausible but wrong loss. The MONAI, smp and nnU-Net presets
/// take logits (softmax or sigmoid inside the kernels).
///
/// The score of a class is the Tversky index in Dice scale,
/// `(2 I + smooth_nr) / max(2 (I + alpha (P - I) + beta (Y - I)) + smooth_dr, denominator_clamp)`,
/// where `I = sum p y`, `P = sum p` and `Y = sum y` over the scope: `P - I` are the false
/// positives and `Y - I` the false negatives. At `alpha = beta = 1/2` (the default) it is the
/// dice `(2 I + smooth_nr) / (P + Y + smooth_dr)`; at `1, 1` the Jaccard index of MONAI
/// `jaccard=True`. The Dice scale keeps `smooth_nr`/`smooth_dr` what Dice users pass; MONAI's and
/// smp's `TverskyLoss` write `(I + s) / (I + alpha FP + beta FN + s)`, the same ratio with both
/// sides halved, so their `s` is `2 s` here (the presets [`DiceConfig::monai_tversky`] and
/// [`DiceConfig::smp_tversky`] do it).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DiceConfig {
    /// Activation fused into the kernels: `None` when the predictions are already
    /// probabilities, `Softmax` / `Sigmoid` when they are logits.
    pub activation: Activation,
    /// How dice becomes a loss.
    pub loss_form: LossForm,
    /// Batch-wide or per-sample sums.
    pub scope: Scope,
    /// Reduction over classes (and samples).
    pub reduction: Reduction,
    /// Added to the numerator `2 I`.
    pub smooth_nr: f32,
    /// Added to the denominator `P + Y`.
    pub smooth_dr: f32,
    /// Label (or dense target value) whose pixels leave every sum; applied after the
    /// activation, so softmax still sees every class of the pixel.
    pub ignore_index: Option<u32>,
    /// Which classes enter the loss.
    pub classes: ClassSelection,
    /// One weight per class (length C), or `None` for all ones.
    pub class_weights: Option<Vec<f32>>,
    /// How `class_weights` enter the mean.
    pub weight_mode: WeightMode,
    /// Generalized Dice weights, or `None` for plain per-class dice.
    pub generalized: Option<GeneralizedWeight>,
    /// `P = sum p^2` and `Y = sum y^2` (MONAI `squared_pred`).
    pub squared: bool,
    /// Weight of the false positives `P - I` in the denominator (Tversky `alpha`): 1/2 for
    /// Dice, 1 with `beta = 1` for Jaccard.
    pub alpha: f32,
    /// Weight of the false negatives `Y - I` in the denominator (Tversky `beta`).
    pub beta: f32,
    /// The reduced loss is raised to this power: smp `TverskyLoss(gamma=...)`, the focal
    /// Tversky loss (1: off). Needs [`Reduction::Mean`] or [`Reduction::Sum`].
    pub loss_exponent: f32,
    /// The intersection in the L1 form `I = (sum p + sum y - sum |p - y|) / 2` (MONAI
    /// `soft_label=True`, and every smp loss built on `soft_tversky_score`). It equals
    /// `sum p y` for 0/1 targets, differs for soft targets, and its gradient is PyTorch's
    /// subgradient of `|p - y|` (0 where `p == y` exactly).
    pub soft_label: bool,
    /// Absent-class policy.
    pub empty_class: EmptyClass,
    /// Denominators (smoothing included) are clamped to at least this (smp `clamp_min(eps)`,
    /// nnU-Net `clip(..., 1e-8)`); 0 turns it off.
    pub denominator_clamp: f32,
    /// [`LossForm::NegLog`] takes `-ln(max(dice, log_clamp))` (smp `log_loss`); 0 turns it off.
    pub log_clamp: f32,
    /// `λ_dice`, the Dice term's weight in the total (1; MONAI `lambda_dice`, nnU-Net
    /// `weight_dice`).
    pub lambda_dice: f32,
    /// A cross-entropy term added to the loss in the same passes (`None`: Dice alone).
    pub cross_entropy: Option<CrossEntropy>,
    /// The index that scores a class: the Tversky index above (the default), or smp's MCC.
    #[cfg_attr(feature = "serde", serde(default))]
    pub index: SimilarityIndex,
}

impl Default for DiceConfig {
    /// The seed notebook ([`DiceConfig::seed`]): **probabilities in** (no activation),
    /// `-ln(dice)` per class over the whole batch, mean over classes, smoothing 1e-5 in
    /// numerator and denominator.
    fn default() -> Self {
        Self {
            activation: Activation::None,
            loss_form: LossForm::NegLog,
            scope: Scope::Batch,
            reduction: Reduction::Mean,
            smooth_nr: 1e-5,
            smooth_dr: 1e-5,
            ignore_index: None,
            classes: ClassSelection::All,
            class_weights: None,
            weight_mode: WeightMode::Scale,
            generalized: None,
            squared: false,
            alpha: 0.5,
            beta: 0.5,
            loss_exponent: 1.0,
            soft_label: false,
            empty_class: EmptyClass::Smooth,
            denominator_clamp: 0.0,
            log_clamp: 0.0,
            lambda_dice: 1.0,
            cross_entropy: None,
            index: SimilarityIndex::Tversky,
        }
    }
}

impl DiceConfig {
    /// Whether each of `n_classes` classes enters the loss.
    pub fn selected_classes(&self, n_classes: usize) -> Vec<bool> {
        (0..n_classes)
            .map(|c| match &self.classes {
                ClassSelection::All => true,
                ClassSelection::NoBackground => c != 0,
                ClassSelection::Subset(list) => list.contains(&(c as u32)),
            })
            .collect()
    }

    /// The columns of each row's loss elements that `Reduction::None` returns, as the Python
    /// call does: column 0 (the row's loss) for Generalized Dice, else the selected classes.
    pub fn returned_columns(&self, n_classes: usize) -> Vec<usize> {
        if self.generalized.is_some() {
            return vec![0];
        }
        let selected = self.selected_classes(n_classes);
        (0..n_classes).filter(|&c| selected[c]).collect()
    }

    /// The factor of the reduction over `rows` rows of `n_classes` cells: the Dice term is
    /// this times the sum of the (weighted) loss elements. `Reduction::Mean` divides by the
    /// rows (Generalized Dice: one element a row), by the rows times the selected classes'
    /// weight sum ([`WeightMode::Normalize`]) or by the selected cells; `Sum` and `None` by 1.
    pub fn mean_factor(&self, rows: usize, n_classes: usize) -> f64 {
        let selected = self.selected_classes(n_classes);
        match self.reduction {
            Reduction::Mean if self.generalized.is_some() => 1.0 / rows as f64,
            Reduction::Mean if self.weight_mode == WeightMode::Normalize => {
                let w_sum: f64 = (0..n_classes)
                    .filter(|&c| selected[c])
                    .map(|c| self.class_weight(c) as f64)
                    .sum();
                1.0 / (rows as f64 * w_sum)
            }
            Reduction::Mean => 1.0 / (rows * selected.iter().filter(|&&s| s).count()) as f64,
            Reduction::Sum | Reduction::None => 1.0,
        }
    }

    /// The weight of class `c` (1 when no weights are set).
    pub fn class_weight(&self, c: usize) -> f32 {
        self.class_weights.as_ref().map_or(1.0, |w| w[c])
    }

    /// Whether `A` holds `sum |p - y|` (soft labels in the L1 form; with squared sums the L2 form
    /// equals the plain intersection, so nothing changes there).
    pub fn soft_l1(&self) -> bool {
        self.soft_label && !self.squared
    }

    /// Whether a pixel's softmax normaliser over the classes is needed: the Dice term's
    /// activation is softmax, or the cross-entropy term is a softmax kind.
    pub fn softmax_over_classes(&self) -> bool {
        self.activation == Activation::Softmax
            || self
                .cross_entropy
                .as_ref()
                .is_some_and(|ce| ce.kind.is_softmax())
    }
}
