//! The uniform blocks the kernels read, twins of the WGSL structs in `shaders/`.

use bytemuck::{Pod, Zeroable};

use crate::config::{DiceConfig, EmptyClass, LossForm, Reduction, Scope, WeightMode};

/// Classes handled by one `dice_partials` workgroup. Kept in sync with `CLASS_CHUNK` in
/// shaders/common.wgsl.
pub(crate) const CLASS_CHUNK: u32 = 8;

/// `ignore_label` when nothing is ignored. Kept in sync with `NO_IGNORE`.
pub(crate) const NO_IGNORE: u32 = u32::MAX;

/// Kept in sync with `Params` in shaders/common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub(crate) struct Params {
    pub n_samples: u32,
    pub n_classes: u32,
    pub spatial: u32,
    pub groups: u32,
    pub pred_offset: u32,
    pub target_offset: u32,
    pub grad_offset: u32,
    pub ignore_label: u32,
    pub soft_l1: u32,
    pub batch_scope: u32,
    pub n_rows: u32,
    /// Always 1.0: hides Kahan's compensation from the shader compiler's algebra.
    pub one: f32,
    /// log2 of the 32-bit words per page when tensors are split over bindings.
    pub page_shift: u32,
    pub _pad: [u32; 3],
}

impl Params {
    /// The config-dependent fields; sizes and offsets are filled by the caller.
    pub fn for_config(config: &DiceConfig) -> Self {
        Self {
            ignore_label: config.ignore_index.unwrap_or(NO_IGNORE),
            soft_l1: config.soft_l1() as u32,
            batch_scope: (config.scope == Scope::Batch) as u32,
            one: 1.0,
            ..Self::default()
        }
    }
}

/// Kept in sync with `FinalizeParams` in shaders/dice_finalize.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub(crate) struct FinalizeParams {
    pub smooth_nr: f32,
    pub smooth_dr: f32,
    pub denom_clamp: f32,
    pub log_clamp: f32,
    pub loss_form: u32,
    pub reduction: u32,
    pub generalized: u32,
    pub jaccard: u32,
    pub zero_absent: u32,
    pub normalize_weights: u32,
    pub n_selected: u32,
    pub _pad: u32,
}

impl FinalizeParams {
    pub fn new(config: &DiceConfig, n_classes: usize) -> Self {
        use crate::config::GeneralizedWeight as G;
        Self {
            smooth_nr: config.smooth_nr,
            smooth_dr: config.smooth_dr,
            denom_clamp: config.denominator_clamp,
            log_clamp: config.log_clamp,
            loss_form: match config.loss_form {
                LossForm::OneMinusDice => 0,
                LossForm::NegLog => 1,
                LossForm::NegDice => 2,
            },
            reduction: match config.reduction {
                Reduction::Mean => 0,
                Reduction::Sum => 1,
                Reduction::None => 2,
            },
            generalized: match config.generalized {
                None => 0,
                Some(G::Square) => 1,
                Some(G::Simple) => 2,
                Some(G::Uniform) => 3,
            },
            jaccard: config.jaccard as u32,
            zero_absent: (config.empty_class == EmptyClass::ZeroLoss) as u32,
            normalize_weights: (config.weight_mode == WeightMode::Normalize) as u32,
            n_selected: config
                .selected_classes(n_classes)
                .iter()
                .filter(|&&s| s)
                .count() as u32,
            _pad: 0,
        }
    }
}

/// `class_info` of dice_finalize: (selected, weight) per class.
pub(crate) fn class_info(config: &DiceConfig, n_classes: usize) -> Vec<[f32; 2]> {
    config
        .selected_classes(n_classes)
        .iter()
        .enumerate()
        .map(|(c, &s)| [s as u32 as f32, config.class_weight(c)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_wgsl_structs() {
        // 16 four-byte fields in Params, 12 in FinalizeParams (WGSL sizes).
        assert_eq!(std::mem::size_of::<Params>(), 64);
        assert_eq!(std::mem::size_of::<FinalizeParams>(), 48);
    }
}
