//! The loss's Burn configuration: `DiceLossConfig::monai().init(&device)`, as burn-nn's
//! `CrossEntropyLossConfig::new().init(&device)`.

use burn::config::Config;
use burn::tensor::Device;
use softdice::{DiceConfig, GeneralizedWeight, TargetKind};

use crate::device::init_device;
use crate::error::Error;
use crate::loss::DiceLoss;

/// The configuration of a [`DiceLoss`]: softdice's [`DiceConfig`] (every option of MONAI's,
/// smp's and nnU-Net's Dice losses) as a Burn [`Config`], saved and loaded as JSON with the
/// rest of a model's configuration. The presets are [`DiceConfig`]'s, one name each.
///
/// ```
/// use softdice_burn::{DiceLossConfig, LossPath};
///
/// # fn main() -> Result<(), softdice_burn::Error> {
/// let device = burn::tensor::Device::default();
/// // Before the first tensor: the loss takes over the device's initialisation and runs the
/// // fused kernels on it.
/// let loss = DiceLossConfig::nnunet_dc_and_ce().try_init(&device)?;
/// assert_eq!(loss.path(&device)?, LossPath::Fused);
/// assert!(loss.config().cross_entropy.is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Config, Debug)]
pub struct DiceLossConfig {
    /// The loss (default: MONAI's `DiceLoss(to_onehot_y=True, softmax=True)`).
    #[config(default = "DiceConfig::monai()")]
    pub dice: DiceConfig,
    /// Every call on softdice's f64 reference on the host ([`crate::LossPath::Host`]): exact,
    /// a round trip each call, for checking the other paths (default: off).
    #[config(default = false)]
    pub host_reference: bool,
}

impl DiceLossConfig {
    /// The seed notebook's `SoftDiceLoss` ([`DiceConfig::seed`]).
    pub fn seed() -> Self {
        Self::new().with_dice(DiceConfig::seed())
    }

    /// MONAI `DiceLoss(to_onehot_y=True, softmax=True)` ([`DiceConfig::monai`]).
    pub fn monai() -> Self {
        Self::new().with_dice(DiceConfig::monai())
    }

    /// MONAI `GeneralizedDiceLoss` ([`DiceConfig::monai_generalized`]).
    pub fn monai_generalized(w: GeneralizedWeight) -> Self {
        Self::new().with_dice(DiceConfig::monai_generalized(w))
    }

    /// MONAI `DiceCELoss` ([`DiceConfig::monai_dice_ce`]).
    pub fn monai_dice_ce() -> Self {
        Self::new().with_dice(DiceConfig::monai_dice_ce())
    }

    /// MONAI `TverskyLoss` ([`DiceConfig::monai_tversky`]).
    pub fn monai_tversky(alpha: f32, beta: f32) -> Self {
        Self::new().with_dice(DiceConfig::monai_tversky(alpha, beta))
    }

    /// smp `DiceLoss(mode="multiclass")` ([`DiceConfig::smp_multiclass`]).
    pub fn smp_multiclass() -> Self {
        Self::new().with_dice(DiceConfig::smp_multiclass())
    }

    /// smp `DiceLoss(mode="multilabel")` ([`DiceConfig::smp_multilabel`]).
    pub fn smp_multilabel() -> Self {
        Self::new().with_dice(DiceConfig::smp_multilabel())
    }

    /// smp `TverskyLoss` ([`DiceConfig::smp_tversky`]).
    pub fn smp_tversky(alpha: f32, beta: f32, gamma: f32) -> Self {
        Self::new().with_dice(DiceConfig::smp_tversky(alpha, beta, gamma))
    }

    /// smp `MCCLoss()` ([`DiceConfig::smp_mcc`]: probabilities in, one minus the soft MCC).
    pub fn smp_mcc() -> Self {
        Self::new().with_dice(DiceConfig::smp_mcc())
    }

    /// smp `SoftCrossEntropyLoss(smooth_factor)` ([`DiceConfig::smp_soft_cross_entropy`]).
    pub fn smp_soft_cross_entropy(smooth_factor: f32) -> Self {
        Self::new().with_dice(DiceConfig::smp_soft_cross_entropy(smooth_factor))
    }

    /// smp `SoftBCEWithLogitsLoss(smooth_factor)` ([`DiceConfig::smp_soft_bce_with_logits`]).
    pub fn smp_soft_bce_with_logits(smooth_factor: f32) -> Self {
        Self::new().with_dice(DiceConfig::smp_soft_bce_with_logits(smooth_factor))
    }

    /// smp `JaccardLoss(mode="multiclass")` ([`DiceConfig::smp_jaccard`]).
    pub fn smp_jaccard() -> Self {
        Self::new().with_dice(DiceConfig::smp_jaccard())
    }

    /// nnU-Net `MemoryEfficientSoftDiceLoss` ([`DiceConfig::nnunet`]).
    pub fn nnunet() -> Self {
        Self::new().with_dice(DiceConfig::nnunet())
    }

    /// nnU-Net `DC_and_CE_loss` ([`DiceConfig::nnunet_dc_and_ce`]).
    pub fn nnunet_dc_and_ce() -> Self {
        Self::new().with_dice(DiceConfig::nnunet_dc_and_ce())
    }

    /// The loss on `device`, as burn-nn's `init`.
    ///
    /// # Panics
    /// On what [`DiceLossConfig::try_init`] returns as an error, as burn-nn's losses panic on
    /// an invalid configuration.
    pub fn init(&self, device: &Device) -> DiceLoss {
        match self.try_init(device) {
            Ok(loss) => loss,
            Err(e) => panic!("{e}"),
        }
    }

    /// The loss on `device`, once the configuration is checked (with the fewest classes it
    /// implies: every per-class list must fit one count) and the device made ready: a wgpu
    /// device Burn has not initialised yet is initialised here, sharing its wgpu device with
    /// softdice, so that the loss runs the fused kernels ([`crate::LossPath::Fused`]); a wgpu
    /// device Burn initialised first, and every other backend's device, takes the composed
    /// path ([`crate::LossPath::Composed`]; on wgpu with one `log` warning). The path taken is
    /// logged at `info`; [`DiceLoss::path`] returns it.
    pub fn try_init(&self, device: &Device) -> Result<DiceLoss, Error> {
        self.dice.validate(implied_classes(&self.dice))?;
        self.dice.validate_targets(TargetKind::LabelsU32)?;
        init_device(device)?;
        let loss = DiceLoss::new(self.dice.clone()).with_host_reference(self.host_reference);
        let path = loss.path(device)?;
        log::info!("softdice-burn: the loss on {device:?} takes the {path:?} path");
        Ok(loss)
    }
}

/// The class count `config` is checked with before a tensor is seen: as many as its class
/// lists name (they must agree), else two (a background and a foreground).
fn implied_classes(config: &DiceConfig) -> usize {
    let subset = match &config.classes {
        softdice::ClassSelection::Subset(classes) => classes.iter().map(|&c| c as usize + 1).max(),
        softdice::ClassSelection::All | softdice::ClassSelection::NoBackground => None,
    };
    let ce = config.cross_entropy.iter().flat_map(|ce| {
        [&ce.class_weights, &ce.pos_weight, &ce.neg_weight]
            .into_iter()
            .flatten()
            .map(Vec::len)
    });
    config
        .class_weights
        .iter()
        .map(Vec::len)
        .chain(subset)
        .chain(ce)
        .max()
        .unwrap_or(2)
}
