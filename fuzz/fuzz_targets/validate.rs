//! Shapes, configurations and inputs from raw bytes through validation and the CPU oracle:
//! every input must give `Ok` or a `DiceError`, never a panic, and `Ok` results are finite
//! where the inputs are.
//!
//! `cargo fuzz run validate -- -max_total_time=60` (from the repository root)
#![no_main]

use libfuzzer_sys::fuzz_target;
use softdice::{
    cpu, Activation, CeMean, ClassSelection, CrossEntropy, CrossEntropyKind, DiceConfig,
    EmptyClass, GeneralizedWeight, Gradient, LossForm, Reduction, Scope, Shape, SimilarityIndex,
    Targets, WeightMode,
};

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *first
    }
    fn f32(&mut self) -> f32 {
        f32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let rank = (b.byte() % 6) as usize;
    let dims: Vec<usize> = (0..rank).map(|_| (b.byte() % 9) as usize).collect();
    let flags = b.byte();
    let config = DiceConfig {
        activation: [Activation::None, Activation::Softmax, Activation::Sigmoid]
            [(flags % 3) as usize],
        loss_form: [LossForm::NegLog, LossForm::OneMinusDice, LossForm::NegDice]
            [(flags / 3 % 3) as usize],
        scope: if flags & 0x10 != 0 {
            Scope::PerSample
        } else {
            Scope::Batch
        },
        reduction: [Reduction::Mean, Reduction::Sum, Reduction::None][(b.byte() % 3) as usize],
        smooth_nr: b.f32(),
        smooth_dr: b.f32(),
        ignore_index: (flags & 0x20 != 0).then(|| b.byte() as u32),
        classes: match b.byte() % 3 {
            0 => ClassSelection::All,
            1 => ClassSelection::NoBackground,
            _ => ClassSelection::Subset((0..b.byte() % 4).map(|_| b.byte() as u32 % 10).collect()),
        },
        class_weights: (flags & 0x40 != 0).then(|| (0..b.byte() % 8).map(|_| b.f32()).collect()),
        weight_mode: if flags & 0x80 != 0 {
            WeightMode::Normalize
        } else {
            WeightMode::Scale
        },
        generalized: [
            None,
            Some(GeneralizedWeight::Square),
            Some(GeneralizedWeight::Simple),
        ][(b.byte() % 3) as usize],
        squared: b.byte() & 1 != 0,
        alpha: b.f32(),
        beta: b.f32(),
        loss_exponent: b.f32(),
        soft_label: b.byte() & 1 != 0,
        empty_class: if b.byte() & 1 != 0 {
            EmptyClass::ZeroLoss
        } else {
            EmptyClass::Smooth
        },
        denominator_clamp: b.f32(),
        log_clamp: b.f32(),
        lambda_dice: b.f32(),
        index: if b.byte() & 1 != 0 {
            SimilarityIndex::Mcc { eps: b.f32() }
        } else {
            SimilarityIndex::Tversky
        },
        cross_entropy: (b.byte() & 1 != 0).then(|| CrossEntropy {
            kind: [
                CrossEntropyKind::Softmax,
                CrossEntropyKind::Sigmoid,
                CrossEntropyKind::SigmoidFocal,
                CrossEntropyKind::SoftmaxFocal,
            ][(b.byte() % 4) as usize],
            lambda: b.f32(),
            class_weights: (b.byte() & 1 != 0)
                .then(|| (0..b.byte() % 8).map(|_| b.f32()).collect()),
            pos_weight: (b.byte() & 1 != 0).then(|| (0..b.byte() % 8).map(|_| b.f32()).collect()),
            label_smoothing: b.f32(),
            neg_weight: (b.byte() & 1 != 0).then(|| (0..b.byte() % 8).map(|_| b.f32()).collect()),
            focal_gamma: b.f32(),
            include_background: b.byte() & 1 != 0,
            mean: [CeMean::Kept, CeMean::All][(b.byte() % 2) as usize],
        }),
    };
    let Ok(shape) = Shape::new(&dims) else { return };
    if shape.len() > 4096 {
        return;
    }
    let n_preds = if b.byte() & 1 != 0 {
        shape.len()
    } else {
        b.byte() as usize
    };
    let preds: Vec<f32> = (0..n_preds).map(|_| b.f32()).collect();
    let labels: Vec<u32> = (0..shape.pixels()).map(|_| b.byte() as u32 % 12).collect();
    let dense: Vec<f32> = (0..shape.len()).map(|_| b.f32()).collect();
    for targets in [Targets::Labels(&labels), Targets::Dense(&dense)] {
        let _ = cpu::compute(&shape, &config, &preds, targets, Gradient::With);
    }
});
