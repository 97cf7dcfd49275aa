//! The cross-entropy term of a compound loss (`λ_dice · Dice + λ_ce · CE`), fused into the
//! same passes as the Dice sums: what nnU-Net's `DC_and_CE_loss`, MONAI's `DiceCELoss` and smp
//! users' `DiceLoss + CrossEntropyLoss` train with.

use crate::config::Reduction;
use crate::error::DiceError;
use crate::shape::TargetForm;

/// Which cross-entropy the term is. Both take the raw input as logits, whatever
/// [`crate::DiceConfig::activation`] applies for the Dice term (MONAI's `DiceCELoss` allows a
/// Dice term on probabilities beside a CE term on the logits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CrossEntropyKind {
    /// PyTorch `CrossEntropyLoss`: log-softmax over the class axis. Integer labels, or dense
    /// class-probability targets.
    Softmax,
    /// PyTorch `BCEWithLogitsLoss`: log-sigmoid per element, on dense targets (or the one-hot
    /// of integer labels).
    Sigmoid,
    /// MONAI `FocalLoss` (sigmoid, as `DiceFocalLoss` and `GeneralizedDiceFocalLoss` use it):
    /// per element `f = (1 - p_t)^γ · BCE(x, y)`, `1 - p_t = σ(-x (2y - 1))`, weighted by
    /// `pw_c y + nw_c (1 - y)` (MONAI's `alpha`: `α, 1 - α`, or per class `α_c, 1`).
    SigmoidFocal,
    /// MONAI `FocalLoss(use_softmax=True)`: per element `-pw_c (1 - q_c)^γ ln q_c · y_c` with
    /// `q = softmax(x)` (MONAI's `alpha`: `pw = (1 - α, α, α, …)`, or per class `α_c`), the
    /// mean over elements.
    SoftmaxFocal,
}

impl CrossEntropyKind {
    /// Whether the kind takes the softmax of the raw inputs over the class axis (their
    /// log-sum-exp); the per-element kinds take a sigmoid. The one statement of the rule.
    pub const fn is_softmax(self) -> bool {
        match self {
            CrossEntropyKind::Softmax | CrossEntropyKind::SoftmaxFocal => true,
            CrossEntropyKind::Sigmoid | CrossEntropyKind::SigmoidFocal => false,
        }
    }
}

/// What a cross-entropy term's sum `Σ (u_c X1 + v_c X2)` is divided by, from the reduction,
/// the kind and the targets: the one statement of the rule (the oracle, the kernels' codes and
/// softdice-burn's composed path map it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CeDivisor {
    /// Nothing: PyTorch's `reduction='sum'` (softmax and sigmoid cross-entropy).
    One,
    /// The weighted count of kept labels, `Σ w_c Y_c` (softmax mean on integer labels).
    LabelWeight,
    /// The pixels, `B · spatial` (softmax mean on dense targets).
    Pixels,
    /// The elements, pixels times the classes the term covers (the per-element means).
    Elements,
    /// The spatial size: MONAI `FocalLoss`'s `reduction='sum'` sums each sample's and class's
    /// spatial mean.
    Spatial,
}

/// Whether a cross-entropy mean counts the ignored pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CeMean {
    /// PyTorch's: the softmax kind on integer labels divides by the kept labels' weight
    /// `Σ w_label`; the sigmoid kinds (which PyTorch gives no `ignore_index`) take no ignore
    /// label.
    #[default]
    Kept,
    /// smp's `SoftCrossEntropyLoss` and `SoftBCEWithLogitsLoss`: ignored pixels (elements)
    /// add 0 to a mean over the whole tensor, B · spatial pixels (times the classes, sigmoid).
    All,
}

/// The cross-entropy term, with PyTorch's semantics.
///
/// Softmax, per kept pixel: `-Σ_c w_c ((1 - ε) y_c + ε / C) ln q_c` with `q = softmax(x)`;
/// [`Reduction::Mean`] divides the sum by `Σ w_label` over the kept pixels for integer labels
/// (PyTorch's weighted mean; the count of kept pixels without weights; every pixel with
/// [`CeMean::All`]) and by the number of pixels for dense targets. Pixels of [`crate::DiceConfig::ignore_index`] leave it, as they
/// leave the Dice sums (`ignore_index` of `CrossEntropyLoss`).
///
/// Sigmoid, per element: `-w_c (pw_c t ln σ(x) + nw_c (1 - t) ln(1 - σ(x)))` with the target
/// `t = (1 - ε) y + ε / 2` (label smoothing over the two outcomes; smp
/// `SoftBCEWithLogitsLoss(smooth_factor=s)` is `ε = 2 s`); [`Reduction::Mean`] divides by the
/// number of elements; an ignore label needs [`CeMean::All`] (smp's mean, which counts the
/// ignored elements).
///
/// Where every pixel is ignored the term is 0 with no gradient, as nnU-Net's `DC_and_CE_loss`
/// has it (PyTorch's mean would be 0 / 0, NaN).
///
/// [`Reduction::Sum`] takes the plain sum, and for the focal kinds MONAI `FocalLoss`'s sum of
/// per-sample, per-class spatial means ([`CeDivisor`]); [`Reduction::None`] is refused (the Dice term has
/// no per-pixel values to add to), as MONAI's `DiceCELoss` refuses it.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// Label smoothing `ε` in `[0, 1]`: PyTorch `label_smoothing=` (softmax), or the sigmoid's
    /// target `(1 - ε) y + ε / 2`; not for the focal kinds.
    pub label_smoothing: f32,
    /// Per-class weights `nw` of the negative term (sigmoid kinds), length C; `None` for all
    /// ones.
    pub neg_weight: Option<Vec<f32>>,
    /// The focal exponent `γ` (MONAI `gamma`, the focal kinds only).
    pub focal_gamma: f32,
    /// `false` leaves class 0 out of the term and its mean (MONAI `FocalLoss`
    /// `include_background=False`; sigmoid kinds only).
    pub include_background: bool,
    /// Whether the mean counts the ignored pixels (PyTorch's, the default, does not; smp's
    /// does).
    #[cfg_attr(feature = "serde", serde(default))]
    pub mean: CeMean,
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
            neg_weight: None,
            focal_gamma: 0.0,
            include_background: true,
            mean: CeMean::Kept,
        }
    }

    /// smp `SoftCrossEntropyLoss(smooth_factor=ε)`: softmax with label smoothing `ε`, whose
    /// mean counts every pixel, ignored ones included.
    pub fn smp_soft_cross_entropy(smooth_factor: f32) -> Self {
        Self {
            label_smoothing: smooth_factor,
            mean: CeMean::All,
            ..Self::softmax()
        }
    }

    /// smp `SoftBCEWithLogitsLoss(smooth_factor=s)`: sigmoid with the target
    /// `(1 - y) s + y (1 - s)`, label smoothing `2 s` (`s` up to 0.5).
    pub fn smp_soft_bce_with_logits(smooth_factor: f32) -> Self {
        Self {
            label_smoothing: 2.0 * smooth_factor,
            mean: CeMean::All,
            ..Self::sigmoid()
        }
    }

    /// MONAI `FocalLoss(use_softmax=True, gamma=γ)`: `λ = 1`, no alpha, no weights.
    pub fn softmax_focal(gamma: f32) -> Self {
        Self {
            kind: CrossEntropyKind::SoftmaxFocal,
            focal_gamma: gamma,
            ..Self::softmax()
        }
    }

    /// MONAI `FocalLoss(gamma=γ)` with its sigmoid: `λ = 1`, no alpha, no weights.
    pub fn sigmoid_focal(gamma: f32) -> Self {
        Self {
            kind: CrossEntropyKind::SigmoidFocal,
            focal_gamma: gamma,
            ..Self::softmax()
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

    /// `(a, b)` of the target `t = a y + b` the sigmoid kind reads in place of `y`: `(1 - ε, ε / 2)`
    /// (the two-outcome label smoothing); `(1, 0)` for the other kinds, whose smoothing (softmax)
    /// is in [`CrossEntropy::uv`].
    pub fn sigmoid_target(&self) -> [f64; 2] {
        match self.kind {
            CrossEntropyKind::Sigmoid => {
                let eps = self.label_smoothing as f64;
                [1.0 - eps, eps / 2.0]
            }
            CrossEntropyKind::Softmax
            | CrossEntropyKind::SigmoidFocal
            | CrossEntropyKind::SoftmaxFocal => [1.0, 0.0],
        }
    }

    /// Whether class `c` takes part in the term.
    pub fn includes(&self, c: usize) -> bool {
        self.include_background || c != 0
    }

    /// What the term's sum is divided by under `reduction`, for integer-label or dense
    /// targets.
    pub fn divisor(&self, reduction: Reduction, targets: TargetForm) -> CeDivisor {
        let labels = targets == TargetForm::Labels;
        use CrossEntropyKind as K;
        match (reduction, self.kind) {
            (Reduction::Sum, K::Softmax | K::Sigmoid) => CeDivisor::One,
            (Reduction::Sum, K::SigmoidFocal | K::SoftmaxFocal) => CeDivisor::Spatial,
            (Reduction::Mean | Reduction::None, K::Softmax)
                if labels && self.mean == CeMean::Kept =>
            {
                CeDivisor::LabelWeight
            }
            (Reduction::Mean | Reduction::None, K::Softmax) => CeDivisor::Pixels,
            (Reduction::Mean | Reduction::None, K::Sigmoid | K::SigmoidFocal | K::SoftmaxFocal) => {
                CeDivisor::Elements
            }
        }
    }

    /// `(u, v)` of class `c` before `λ` and the mean's divisor: the pixel term's weights of
    /// `X1` and `X2`. Softmax `((1 - ε) w, ε w / C)`; sigmoid kinds `(w pw, w nw)`, zero for an
    /// excluded class. (Softmax: `u + C v = w`, the class's label weight.) Public for the
    /// loss composed of other frameworks' tensor operations (softdice-burn's), which sums the
    /// same terms.
    pub fn uv(&self, c: usize, n_classes: usize) -> [f64; 2] {
        let w = self.class_weight(c) as f64;
        let eps = self.label_smoothing as f64;
        match self.kind {
            CrossEntropyKind::Softmax => [(1.0 - eps) * w, eps * w / n_classes as f64],
            CrossEntropyKind::SoftmaxFocal => [w * self.pos_weight_of(c) as f64, 0.0],
            CrossEntropyKind::Sigmoid | CrossEntropyKind::SigmoidFocal if !self.includes(c) => {
                [0.0, 0.0]
            }
            CrossEntropyKind::Sigmoid | CrossEntropyKind::SigmoidFocal => {
                let nw = self.neg_weight.as_ref().map_or(1.0, |w| w[c]) as f64;
                [w * self.pos_weight_of(c) as f64, w * nw]
            }
        }
    }

    /// Classes in the term (the sigmoid kinds' mean counts their elements).
    pub fn n_included(&self, n_classes: usize) -> usize {
        (0..n_classes).filter(|&c| self.includes(c)).count()
    }

    /// Checks the term against a class count and the loss's reduction.
    pub(crate) fn validate(&self, n_classes: usize, reduction: Reduction) -> Result<(), DiceError> {
        for (name, value) in [
            ("cross_entropy.lambda", self.lambda),
            ("cross_entropy.label_smoothing", self.label_smoothing),
            ("cross_entropy.focal_gamma", self.focal_gamma),
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
            ("cross_entropy.neg_weight", &self.neg_weight),
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
        use CrossEntropyKind as K;
        let softmax = self.kind.is_softmax();
        if self.focal_gamma != 0.0 && !matches!(self.kind, K::SigmoidFocal | K::SoftmaxFocal) {
            return refuse("focal_gamma belongs to the focal kinds");
        }
        if matches!(self.kind, K::SoftmaxFocal | K::SigmoidFocal) && self.label_smoothing != 0.0 {
            return refuse("label_smoothing belongs to the softmax and sigmoid cross-entropies");
        }
        if self.mean == CeMean::All && !matches!(self.kind, K::Softmax | K::Sigmoid) {
            return refuse("CeMean::All belongs to the softmax and sigmoid cross-entropies");
        }
        if softmax && (self.neg_weight.is_some() || !self.include_background) {
            return refuse("neg_weight and include_background belong to the sigmoid kinds");
        }
        if self.n_included(n_classes) == 0 {
            return refuse("the cross-entropy term has no class left");
        }
        match self.kind {
            CrossEntropyKind::Softmax | CrossEntropyKind::SoftmaxFocal if n_classes == 1 => {
                refuse("softmax cross-entropy over one class is 0; use CrossEntropyKind::Sigmoid")
            }
            CrossEntropyKind::Softmax if self.pos_weight.is_some() => {
                refuse("pos_weight belongs to the sigmoid cross-entropy")
            }
            _ if reduction == Reduction::None => refuse(
                "a cross-entropy term needs a reduced loss (Mean or Sum): the Dice term has no \
                 per-pixel values",
            ),
            _ => Ok(()),
        }
    }
}
