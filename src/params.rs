//! What the host and the kernels share: the codes and sizes both use, and the uniform blocks
//! the kernels read. Each is written once here and once in the WGSL; `tests/shaders.rs` checks
//! every one against the WGSL with naga ([`host_constants`], [`host_structs`]).

use crate::shape::TargetForm;
use bytemuck::{Pod, Zeroable};

use crate::config::{DiceConfig, EmptyClass, LossForm, Reduction, Scope, WeightMode};
use crate::cross_entropy::{CeDivisor, CrossEntropyKind};
use crate::index::SimilarityIndex;

/// Declares host constants shared with the WGSL and the list the naga test reads.
macro_rules! shared_constants {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        $($(#[$doc])* pub(crate) const $name: u32 = $value;)*
        /// Every constant the host shares with the WGSL, by its WGSL name.
        pub fn host_constants() -> Vec<(&'static str, u32)> {
            vec![$((stringify!($name), $name)),*]
        }
    };
}

shared_constants! {
    /// Classes handled by one `dice_partials` workgroup.
    CLASS_CHUNK = 8;
    /// Sums per row and class: A, P, Y (Dice), X1, X2 (cross-entropy).
    SUM_TERMS = 5;
    /// Cross-entropy term (`CE_KIND` override, `FinalizeParams::ce_kind`): none.
    CE_OFF = 0;
    /// Cross-entropy term: softmax over the classes.
    CE_SOFTMAX = 1;
    /// Cross-entropy term: sigmoid per element.
    CE_SIGMOID = 2;
    /// Cross-entropy term: MONAI's sigmoid focal loss per element.
    CE_FOCAL = 3;
    /// Cross-entropy term: MONAI's softmax focal loss.
    CE_SOFTMAX_FOCAL = 4;
    /// What a cross-entropy mean divides by (`FinalizeParams::ce_divisor`): nothing (sum).
    CE_DIV_ONE = 0;
    /// The weighted count of kept labels, `Σ w_c Y_c` (softmax on integer labels).
    CE_DIV_LABEL_WEIGHT = 1;
    /// The pixels (softmax on dense targets).
    CE_DIV_PIXELS = 2;
    /// The elements, pixels times classes (sigmoid).
    CE_DIV_ELEMENTS = 3;
    /// The spatial size (MONAI `FocalLoss`'s sum of spatial means).
    CE_DIV_SPATIAL = 4;
    /// Similarity index (`FinalizeParams::index`): the Tversky index in Dice scale.
    INDEX_TVERSKY = 0;
    /// Similarity index: the soft Matthews correlation coefficient.
    INDEX_MCC = 1;
    /// `ignore_label` when nothing is ignored.
    NO_IGNORE = u32::MAX;
    /// Activation (the `ACTIVATION` override): none, the predictions are probabilities.
    ACT_NONE = 0;
    /// Activation: softmax over the class axis.
    ACT_SOFTMAX = 1;
    /// Activation: sigmoid per element.
    ACT_SIGMOID = 2;
    /// Target format (the `TARGET_KIND` override): u32 labels.
    TARGET_U32 = 0;
    /// Target format: u8 labels, four to a word.
    TARGET_U8 = 1;
    /// Target format: u16 labels, two to a word.
    TARGET_U16 = 2;
    /// Target format: dense f32 targets.
    TARGET_DENSE = 3;
    /// Words of the status buffer: the counters below and spare words.
    STATUS_WORDS = 4;
    /// Status word counting labels out of range.
    STATUS_BAD_LABELS = 0;
    /// Status word counting non-finite inputs.
    STATUS_NON_FINITE = 1;
    /// Status word counting dice_partials workgroups that ran more subgroups than their
    /// partial slots (subgroups narrower than the adapter reported).
    STATUS_SUBGROUPS = 2;
    /// Terms per (sample, class) cell of dice_counts' buffer: TP, FP, TN, FN.
    COUNT_TERMS = 4;
    /// Status words at the head of dice_counts' buffer.
    COUNT_STATUS_WORDS = 4;
    /// dice_counts status word: labels out of range.
    COUNT_BAD_LABELS = 0;
    /// dice_counts status word: non-finite predictions.
    COUNT_NON_FINITE = 1;
    /// dice_counts status word: dense targets other than 0, 1 and the ignore value.
    COUNT_NOT_BINARY = 2;
    /// dice_counts status word: pixels met with a decision code the shader does not know.
    COUNT_UNKNOWN_DECISION = 3;
    /// dice_counts decision (its `DECISION` override): the argmax of the raw inputs.
    DECISION_ARGMAX = 0;
    /// dice_counts decision: the probability against `Params::threshold`.
    DECISION_THRESHOLD = 1;
    /// Loss form (`FinalizeParams::loss_form`): 1 - dice.
    FORM_ONE_MINUS = 0;
    /// Loss form: -ln(dice).
    FORM_NEG_LOG = 1;
    /// Loss form: -dice.
    FORM_NEGATIVE = 2;
    /// Reduction (`FinalizeParams::reduction`): mean.
    RED_MEAN = 0;
    /// Reduction: sum.
    RED_SUM = 1;
    /// Reduction: none.
    RED_NONE = 2;
    /// Generalized Dice weights (`FinalizeParams::generalized`): off.
    GDL_OFF = 0;
    /// Generalized Dice weights: 1 / Y².
    GDL_SQUARE = 1;
    /// Generalized Dice weights: 1 / Y.
    GDL_SIMPLE = 2;
    /// Generalized Dice weights: uniform.
    GDL_UNIFORM = 3;
}

/// Declares a `#[repr(C)]` block shared with a WGSL struct of the same name, and its field
/// offsets for the naga test.
macro_rules! shared_struct {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
        pub(crate) struct $name {
            $($(#[$fdoc])* pub $field: $ty,)*
        }

        impl $name {
            fn layout() -> StructLayout {
                StructLayout {
                    name: stringify!($name),
                    size: std::mem::size_of::<$name>(),
                    fields: vec![$((stringify!($field), std::mem::offset_of!($name, $field))),*],
                }
            }
        }
    };
}

/// The host's layout of a block shared with a WGSL struct of the same name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructLayout {
    /// The struct's name (the same in Rust and WGSL).
    pub name: &'static str,
    /// Its size in bytes.
    pub size: usize,
    /// (field, byte offset) of every field, in order.
    pub fields: Vec<(&'static str, usize)>,
}

/// Every uniform block the host shares with the WGSL.
pub fn host_structs() -> Vec<StructLayout> {
    vec![Params::layout(), FinalizeParams::layout()]
}

shared_struct! {
    /// The input kernels' parameters (`Params` in shaders/common.wgsl).
    Params {
        n_samples: u32,
        n_classes: u32,
        spatial: u32,
        groups: u32,
        pred_offset: u32,
        target_offset: u32,
        grad_offset: u32,
        ignore_label: u32,
        soft_l1: u32,
        batch_scope: u32,
        n_rows: u32,
        /// Always 1.0: hides Kahan's compensation from the shader compiler's algebra.
        one: f32,
        /// log2 of the 32-bit words per page when tensors are split over bindings.
        page_shift: u32,
        ce_kind: u32,
        focal_gamma: f32,
        /// 1: dice_finalize scales the coefficients by the upstream gradient
        /// (`DicePlan::record_loss_vjp`), 0: by one.
        upstream: u32,
        /// `(a, b)` of the target `a y + b` the sigmoid cross-entropy reads
        /// (`CrossEntropy::sigmoid_target`: its label smoothing).
        ce_target_scale: f32,
        ce_target_offset: f32,
        /// dice_counts' threshold on the probability (`Decision::Threshold`, as the f32 comparison
        /// that decides exactly as the f64 one: `crate::metrics::Decision::gpu_threshold`).
        threshold: f32,
        /// 1: a probability equal to the threshold counts as predicted.
        threshold_inclusive: u32,
    }
}

impl Params {
    /// The config-dependent fields; sizes and offsets are filled by the caller.
    pub fn for_config(config: &DiceConfig) -> Self {
        let ce_target = config
            .cross_entropy
            .as_ref()
            .map_or([1.0, 0.0], |ce| ce.sigmoid_target());
        Self {
            ignore_label: config.ignore_index.unwrap_or(NO_IGNORE),
            soft_l1: config.soft_l1() as u32,
            batch_scope: (config.scope == Scope::Batch) as u32,
            ce_kind: ce_kind(config),
            focal_gamma: config
                .cross_entropy
                .as_ref()
                .map_or(0.0, |ce| ce.focal_gamma),
            ce_target_scale: ce_target[0] as f32,
            ce_target_offset: ce_target[1] as f32,
            one: 1.0,
            ..Self::default()
        }
    }
}

shared_struct! {
    /// dice_finalize's parameters (`FinalizeParams` in shaders/dice_finalize.wgsl).
    FinalizeParams {
        smooth_nr: f32,
        smooth_dr: f32,
        denom_clamp: f32,
        log_clamp: f32,
        loss_form: u32,
        reduction: u32,
        generalized: u32,
        zero_absent: u32,
        normalize_weights: u32,
        n_selected: u32,
        alpha: f32,
        beta: f32,
        loss_exponent: f32,
        lambda_dice: f32,
        ce_kind: u32,
        ce_lambda: f32,
        ce_classes: u32,
        ce_divisor: u32,
        spatial: f32,
        index: u32,
        mcc_eps: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// The cross-entropy term's kind code (`CE_*`).
pub(crate) fn ce_kind(config: &DiceConfig) -> u32 {
    match config.cross_entropy.as_ref().map(|ce| ce.kind) {
        None => CE_OFF,
        Some(CrossEntropyKind::Softmax) => CE_SOFTMAX,
        Some(CrossEntropyKind::Sigmoid) => CE_SIGMOID,
        Some(CrossEntropyKind::SigmoidFocal) => CE_FOCAL,
        Some(CrossEntropyKind::SoftmaxFocal) => CE_SOFTMAX_FOCAL,
    }
}

impl FinalizeParams {
    pub fn new(config: &DiceConfig, n_classes: usize, spatial: usize, targets: TargetForm) -> Self {
        let ce = config.cross_entropy.as_ref();
        use crate::config::GeneralizedWeight as G;
        Self {
            smooth_nr: config.smooth_nr,
            smooth_dr: config.smooth_dr,
            denom_clamp: config.denominator_clamp,
            log_clamp: config.log_clamp,
            loss_form: match config.loss_form {
                LossForm::OneMinusDice => FORM_ONE_MINUS,
                LossForm::NegLog => FORM_NEG_LOG,
                LossForm::NegDice => FORM_NEGATIVE,
            },
            reduction: match config.reduction {
                Reduction::Mean => RED_MEAN,
                Reduction::Sum => RED_SUM,
                Reduction::None => RED_NONE,
            },
            generalized: match config.generalized {
                None => GDL_OFF,
                Some(G::Square) => GDL_SQUARE,
                Some(G::Simple) => GDL_SIMPLE,
                Some(G::Uniform) => GDL_UNIFORM,
            },
            zero_absent: (config.empty_class == EmptyClass::ZeroLoss) as u32,
            normalize_weights: (config.weight_mode == WeightMode::Normalize) as u32,
            n_selected: config
                .selected_classes(n_classes)
                .iter()
                .filter(|&&s| s)
                .count() as u32,
            alpha: config.alpha,
            beta: config.beta,
            loss_exponent: config.loss_exponent,
            lambda_dice: config.lambda_dice,
            ce_kind: ce_kind(config),
            ce_lambda: ce.map_or(0.0, |ce| ce.lambda),
            ce_classes: ce.map_or(0, |ce| ce.n_included(n_classes) as u32),
            // As `cpu::ce_finalize`'s divisor.
            ce_divisor: match ce.map(|ce| ce.divisor(config.reduction, targets)) {
                None | Some(CeDivisor::One) => CE_DIV_ONE,
                Some(CeDivisor::LabelWeight) => CE_DIV_LABEL_WEIGHT,
                Some(CeDivisor::Pixels) => CE_DIV_PIXELS,
                Some(CeDivisor::Elements) => CE_DIV_ELEMENTS,
                Some(CeDivisor::Spatial) => CE_DIV_SPATIAL,
            },
            spatial: spatial as f32,
            index: match config.index {
                SimilarityIndex::Tversky => INDEX_TVERSKY,
                SimilarityIndex::Mcc { .. } => INDEX_MCC,
            },
            mcc_eps: match config.index {
                SimilarityIndex::Tversky => 0.0,
                SimilarityIndex::Mcc { eps } => eps,
            },
            ..Self::default()
        }
    }
}

/// `class_info` of dice_finalize: (selected, Dice weight, and the cross-entropy term's
/// `(u, v)` before `λ` and the divisor) per class.
pub(crate) fn class_info(config: &DiceConfig, n_classes: usize) -> Vec<[f32; 4]> {
    let ce = config.cross_entropy.as_ref();
    config
        .selected_classes(n_classes)
        .iter()
        .enumerate()
        .map(|(c, &s)| {
            let [u, v] = ce.map_or([0.0; 2], |ce| ce.uv(c, n_classes));
            [s as u32 as f32, config.class_weight(c), u as f32, v as f32]
        })
        .collect()
}
