//! The presets: each names the Python call (MONAI, smp, nnU-Net, the seed) whose loss it
//! computes.

use crate::config::*;
use crate::cross_entropy::CrossEntropy;
use crate::index::SimilarityIndex;

/// smp's default `eps` (clamps of the score's denominator and of `log`).
const SMP_EPS: f32 = 1e-7;

impl DiceConfig {
    /// The seed notebook's `SoftDiceLoss(num_classes=C, eps=1e-5)` on probabilities.
    pub fn seed() -> Self {
        Self::default()
    }

    /// MONAI `DiceLoss(to_onehot_y=True, softmax=True)`: softmax, `1 - dice` per sample and
    /// class, mean, smoothing 1e-5.
    pub fn monai() -> Self {
        Self {
            activation: Activation::Softmax,
            loss_form: LossForm::OneMinusDice,
            scope: Scope::PerSample,
            ..Self::default()
        }
    }

    /// MONAI `GeneralizedDiceLoss(to_onehot_y=True, softmax=True, w_type=...)`.
    pub fn monai_generalized(w: GeneralizedWeight) -> Self {
        Self {
            generalized: Some(w),
            ..Self::monai()
        }
    }

    /// MONAI `DiceCELoss(to_onehot_y=True, softmax=True)`: [`DiceConfig::monai`] plus a
    /// softmax cross-entropy term, both weighted 1.
    pub fn monai_dice_ce() -> Self {
        Self {
            cross_entropy: Some(CrossEntropy::softmax()),
            ..Self::monai()
        }
    }

    /// MONAI `TverskyLoss(to_onehot_y=True, softmax=True, alpha=..., beta=...)`: softmax,
    /// `1 - tversky` per sample and class, mean; MONAI's `smooth_nr = smooth_dr = 1e-5` are
    /// `2e-5` in this crate's Dice scale.
    pub fn monai_tversky(alpha: f32, beta: f32) -> Self {
        Self {
            alpha,
            beta,
            smooth_nr: 2e-5,
            smooth_dr: 2e-5,
            ..Self::monai()
        }
    }

    /// smp `DiceLoss(mode="multiclass")`: softmax, `1 - dice` over the batch, zero loss for
    /// absent classes, smooth 0, eps = 1e-7, class weights normalized. smp 0.6.0 computes every
    /// score as a Tversky index of the L1 intersection (`soft_tversky_score`, Dice at
    /// `alpha = beta = 1/2`): `(I + s) / max((P + Y) / 2 + s, eps)`, so here `soft_label` is on
    /// and smp's `smooth = s`, `eps` are `2 s`, `2 eps` in the Dice scale.
    pub fn smp_multiclass() -> Self {
        Self {
            activation: Activation::Softmax,
            loss_form: LossForm::OneMinusDice,
            scope: Scope::Batch,
            smooth_nr: 0.0,
            smooth_dr: 0.0,
            soft_label: true,
            empty_class: EmptyClass::ZeroLoss,
            denominator_clamp: 2.0 * SMP_EPS,
            log_clamp: SMP_EPS,
            weight_mode: WeightMode::Normalize,
            ..Self::default()
        }
    }

    /// smp `DiceLoss(mode="multilabel")` (and `"binary"` with one channel): sigmoid per channel
    /// on dense targets, otherwise as [`DiceConfig::smp_multiclass`].
    pub fn smp_multilabel() -> Self {
        Self {
            activation: Activation::Sigmoid,
            ..Self::smp_multiclass()
        }
    }

    /// smp `MCCLoss(eps=1e-5)`: `1 − MCC` of one channel of probabilities (smp applies no
    /// activation) over the whole batch. With more channels each class is scored one against
    /// the rest and the mean taken over classes (smp's binary loss flattens the channels
    /// instead).
    pub fn smp_mcc() -> Self {
        Self {
            index: SimilarityIndex::Mcc { eps: 1e-5 },
            activation: Activation::None,
            loss_form: LossForm::OneMinusDice,
            smooth_nr: 0.0,
            smooth_dr: 0.0,
            ..Self::default()
        }
    }

    /// smp `TverskyLoss(mode="multiclass", alpha, beta, gamma)`: as
    /// [`DiceConfig::smp_multiclass`] with the false positives weighted by `alpha`, the false
    /// negatives by `beta`, and the mean over classes raised to `gamma` (the focal Tversky loss).
    /// For `"multilabel"`/`"binary"` set `activation` to [`Activation::Sigmoid`].
    pub fn smp_tversky(alpha: f32, beta: f32, gamma: f32) -> Self {
        Self {
            alpha,
            beta,
            loss_exponent: gamma,
            ..Self::smp_multiclass()
        }
    }

    /// smp `JaccardLoss(mode="multiclass")`: smp's `soft_jaccard_score` is its Tversky score at
    /// `alpha = beta = 1` (the L1 intersection again), `(I + s) / max(P + Y - I + s, eps)`.
    pub fn smp_jaccard() -> Self {
        Self {
            alpha: 1.0,
            beta: 1.0,
            ..Self::smp_multiclass()
        }
    }

    /// A cross-entropy term alone (PyTorch `CrossEntropyLoss` / `BCEWithLogitsLoss`, smp
    /// `SoftCrossEntropyLoss` / `SoftBCEWithLogitsLoss`): the Dice term weighs 0, on the
    /// probabilities of the term's own activation, so that it stays finite.
    pub fn cross_entropy_only(ce: CrossEntropy) -> Self {
        Self {
            activation: if ce.kind.is_softmax() {
                Activation::Softmax
            } else {
                Activation::Sigmoid
            },
            loss_form: LossForm::OneMinusDice,
            lambda_dice: 0.0,
            cross_entropy: Some(ce),
            ..Self::seed()
        }
    }

    /// smp `SoftCrossEntropyLoss(smooth_factor=ε)` on integer labels: the label-smoothed
    /// cross-entropy whose mean counts every pixel, ignored ones included
    /// ([`CrossEntropy::smp_soft_cross_entropy`]). smp's `ignore_index` is
    /// [`DiceConfig::ignore_index`].
    pub fn smp_soft_cross_entropy(smooth_factor: f32) -> Self {
        Self::cross_entropy_only(CrossEntropy::smp_soft_cross_entropy(smooth_factor))
    }

    /// smp `SoftBCEWithLogitsLoss(smooth_factor=s)`: BCE on the targets `(1 - y) s + y (1 - s)`,
    /// the mean over every element, ignored ones included
    /// ([`CrossEntropy::smp_soft_bce_with_logits`]). smp's `ignore_index` (a target value) is
    /// [`DiceConfig::ignore_index`].
    pub fn smp_soft_bce_with_logits(smooth_factor: f32) -> Self {
        Self::cross_entropy_only(CrossEntropy::smp_soft_bce_with_logits(smooth_factor))
    }

    /// nnU-Net `MemoryEfficientSoftDiceLoss(softmax, batch_dice=True, do_bg=False,
    /// smooth=1e-5)`: `-dice` mean over foreground classes, denominator clipped at 1e-8.
    pub fn nnunet() -> Self {
        Self {
            activation: Activation::Softmax,
            loss_form: LossForm::NegDice,
            scope: Scope::Batch,
            classes: ClassSelection::NoBackground,
            denominator_clamp: 1e-8,
            ..Self::default()
        }
    }

    /// nnU-Net's default training loss, `DC_and_CE_loss({'batch_dice': True, 'smooth': 1e-5,
    /// 'do_bg': False}, {}, weight_ce=1, weight_dice=1)`: [`DiceConfig::nnunet`] plus a softmax
    /// cross-entropy term.
    pub fn nnunet_dc_and_ce() -> Self {
        Self {
            cross_entropy: Some(CrossEntropy::softmax()),
            ..Self::nnunet()
        }
    }
}
