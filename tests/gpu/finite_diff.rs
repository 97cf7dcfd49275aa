//! The CPU oracle's analytic gradient against central finite differences of its own loss.

use softdice::{
    cpu, Activation, ClassSelection, CrossEntropy, DiceConfig, GeneralizedWeight, Gradient,
    LossForm, Reduction, Scope, Shape, SimilarityIndex, Targets,
};

use crate::common::*;

/// The loss as a function of f64 inputs (the oracle takes f32, so differences are taken on
/// f32-representable steps and checked at a bar that fits).
fn check_config(config: &DiceConfig, dense: bool) {
    let shape = Shape::new(&[2, 3, 4, 5]).unwrap();
    let mut rng = Rng::new(11);
    let x: Vec<f32> = match config.activation {
        Activation::None => softmax(&shape, &rng.logits(shape.len(), 2.0)),
        _ => rng.logits(shape.len(), 2.0),
    };
    let labels = rng.labels(shape.pixels(), 3);
    let soft: Vec<f32> = (0..shape.len()).map(|_| rng.uniform()).collect();
    let targets = if dense {
        Targets::Dense(&soft)
    } else {
        Targets::Labels(&labels)
    };
    let out = cpu::compute(&shape, config, &x, targets, Gradient::With).unwrap();
    let grad = out.gradient.unwrap();
    let h = 1.0 / 512.0; // exact in f32 near these magnitudes
    for i in (0..shape.len()).step_by(7) {
        let mut plus = x.clone();
        let mut minus = x.clone();
        plus[i] += h;
        minus[i] -= h;
        let sum = |v: &[f32]| {
            cpu::compute(&shape, config, v, targets, Gradient::Without)
                .unwrap()
                .values
                .iter()
                .sum::<f64>()
        };
        let h_true = (plus[i] as f64 - minus[i] as f64) / 2.0;
        let fd = (sum(&plus) - sum(&minus)) / (2.0 * h_true);
        let err = (fd - grad[i]).abs();
        assert!(
            err <= 1e-5 + 2e-3 * grad[i].abs(),
            "{config:?}: element {i}: finite difference {fd:e} vs analytic {:e}",
            grad[i]
        );
    }
}

#[test]
fn analytic_gradient_matches_finite_differences() {
    let base = DiceConfig::default();
    let configs = [
        base.clone(),
        DiceConfig {
            activation: Activation::Softmax,
            scope: Scope::PerSample,
            reduction: Reduction::None,
            ..base.clone()
        },
        DiceConfig {
            activation: Activation::Sigmoid,
            loss_form: LossForm::OneMinusDice,
            ..base.clone()
        },
        DiceConfig {
            activation: Activation::Softmax,
            loss_form: LossForm::NegDice,
            squared: true,
            alpha: 1.0,
            beta: 1.0,
            ..base.clone()
        },
        DiceConfig::smp_tversky(0.3, 0.7, 1.5),
        DiceConfig::smp_jaccard(),
        DiceConfig {
            generalized: Some(GeneralizedWeight::Square),
            ..DiceConfig::monai()
        },
        DiceConfig {
            classes: ClassSelection::NoBackground,
            class_weights: Some(vec![0.3, 1.0, 2.0]),
            ..DiceConfig::smp_multiclass()
        },
    ];
    for config in &configs {
        check_config(config, false);
    }
    // The MCC index: per class on softmax over the batch, per sample on sigmoid with soft
    // targets and a large ε.
    check_config(
        &DiceConfig {
            activation: Activation::Softmax,
            ..DiceConfig::smp_mcc()
        },
        false,
    );
    check_config(
        &DiceConfig {
            activation: Activation::Sigmoid,
            scope: Scope::PerSample,
            index: SimilarityIndex::Mcc { eps: 0.5 },
            ..DiceConfig::smp_mcc()
        },
        true,
    );
    // Soft labels in the L1 form.
    let soft = DiceConfig {
        activation: Activation::Sigmoid,
        soft_label: true,
        ..DiceConfig::monai()
    };
    check_config(&soft, true);
    // Dice + cross-entropy: softmax on labels (weights, smoothing), softmax on soft targets
    // beside a sigmoid Dice term, sigmoid with positive weights on soft targets.
    let ce = CrossEntropy {
        lambda: 0.6,
        class_weights: Some(vec![0.5, 2.0, 1.0]),
        label_smoothing: 0.2,
        ..CrossEntropy::softmax()
    };
    check_config(
        &DiceConfig {
            cross_entropy: Some(ce.clone()),
            lambda_dice: 0.4,
            ..DiceConfig::nnunet()
        },
        false,
    );
    let dense_softmax = DiceConfig {
        activation: Activation::Sigmoid,
        cross_entropy: Some(CrossEntropy {
            label_smoothing: 0.1,
            ..CrossEntropy::softmax()
        }),
        ..DiceConfig::monai()
    };
    check_config(&dense_softmax, true);
    let sigmoid = DiceConfig {
        activation: Activation::Sigmoid,
        reduction: Reduction::Sum,
        cross_entropy: Some(CrossEntropy {
            pos_weight: Some(vec![3.0, 0.5, 1.0]),
            ..CrossEntropy::sigmoid()
        }),
        ..DiceConfig::monai()
    };
    check_config(&sigmoid, true);
    // smp's soft cross-entropies: the sigmoid's smoothed target beside a Dice term (dense and
    // one-hot), the label-smoothed softmax whose mean counts every pixel.
    let smoothed = DiceConfig {
        cross_entropy: Some(CrossEntropy {
            lambda: 0.7,
            pos_weight: Some(vec![2.0, 0.5, 1.0]),
            ..CrossEntropy::smp_soft_bce_with_logits(0.15)
        }),
        ..sigmoid
    };
    check_config(&smoothed, true);
    check_config(&smoothed, false);
    let soft_ce = DiceConfig {
        ignore_index: Some(255),
        ..DiceConfig::smp_soft_cross_entropy(0.1)
    };
    check_config(&soft_ce, false);
    // MONAI's sigmoid focal term (alpha as positive and negative weights, no background) on
    // soft targets and on labels.
    let focal = CrossEntropy {
        pos_weight: Some(vec![0.25; 3]),
        neg_weight: Some(vec![0.75; 3]),
        include_background: false,
        ..CrossEntropy::sigmoid_focal(1.5)
    };
    // And its softmax focal term (per-class alpha).
    let softmax_focal = CrossEntropy {
        pos_weight: Some(vec![0.75, 0.25, 0.25]),
        ..CrossEntropy::softmax_focal(2.0)
    };
    for ce in [focal, softmax_focal] {
        for dense in [true, false] {
            let config = DiceConfig {
                cross_entropy: Some(ce.clone()),
                ..DiceConfig::monai()
            };
            check_config(&config, dense);
        }
    }
    // smp's focal Tversky on soft targets (L1 intersection, exponent below 1).
    let focal = DiceConfig {
        activation: Activation::Sigmoid,
        ..DiceConfig::smp_tversky(0.7, 0.3, 0.75)
    };
    check_config(&focal, true);
}
