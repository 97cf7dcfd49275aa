//! GPU against the f64 CPU oracle: odd sizes, class counts, every option of the base config.

use softdice::{
    cpu, Activation, CrossEntropy, DiceConfig, DiceContext, Gradient, LossForm, Reduction, Scope,
    Shape, Targets,
};

use crate::common::*;

/// Inputs for a config: probabilities for `Activation::None`, logits otherwise.
fn inputs(rng: &mut Rng, shape: &Shape, activation: Activation) -> (Vec<f32>, Vec<u32>) {
    let logits = rng.logits(shape.len(), 3.0);
    let labels = rng.labels(shape.pixels(), shape.classes() as u32);
    let preds = match activation {
        Activation::None => softmax(shape, &logits),
        _ => logits,
    };
    (preds, labels)
}

/// Runs both paths and compares loss, values, dice and gradient at the stated bars.
pub fn compare(
    ctx: &DiceContext,
    shape: &Shape,
    config: &DiceConfig,
    preds: &[f32],
    targets: Targets<'_>,
) -> Result<(), String> {
    compare_with(ctx, shape, config, preds, targets, GRAD_FLOOR)
}

/// [`compare`] with another gradient floor.
pub fn compare_with(
    ctx: &DiceContext,
    shape: &Shape,
    config: &DiceConfig,
    preds: &[f32],
    targets: Targets<'_>,
    grad_floor: GradFloor,
) -> Result<(), String> {
    let want =
        cpu::compute(shape, config, preds, targets, Gradient::With).map_err(|e| e.to_string())?;
    let got = ctx
        .compute(shape, config, preds, targets, Gradient::With)
        .map_err(|e| e.to_string())?;
    let tag = format!("{:?} {:?}", shape.dims(), config);
    // Up to rows · C elements are summed: one dice each.
    let loss_abs = loss_abs(config.reduction, want.dice.len());
    check_close(
        &format!("loss {tag}"),
        &[got.loss],
        &[want.loss],
        loss_abs,
        LOSS_REL,
    )?;
    check_close(
        &format!("values {tag}"),
        &got.values,
        &want.values,
        loss_abs,
        LOSS_REL,
    )?;
    check_close(
        &format!("dice {tag}"),
        &got.dice,
        &want.dice,
        DICE_ABS,
        DICE_REL,
    )?;
    check_grad_with(
        &format!("gradient {tag}"),
        got.gradient.as_deref().unwrap(),
        want.gradient.as_deref().unwrap(),
        grad_floor,
    )
}

const ACTIVATIONS: [Activation; 3] = [Activation::None, Activation::Softmax, Activation::Sigmoid];
const FORMS: [LossForm; 3] = [LossForm::NegLog, LossForm::OneMinusDice, LossForm::NegDice];
const SCOPES: [Scope; 2] = [Scope::Batch, Scope::PerSample];
const REDUCTIONS: [Reduction; 3] = [Reduction::Mean, Reduction::Sum, Reduction::None];

#[test]
fn odd_sizes_and_class_counts() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(1);
    let spatial: [&[usize]; 7] = [&[1], &[7], &[37, 68], &[129], &[3, 5, 7], &[4, 9, 11], &[]];
    let mut k = 0;
    for c in [1usize, 2, 3, 4, 17] {
        for (i, sp) in spatial.iter().enumerate() {
            let mut dims = vec![1 + i % 3, c];
            dims.extend_from_slice(sp);
            let shape = Shape::new(&dims).unwrap();
            // Rotate through the options so every pairing shows up somewhere.
            let mut activation = ACTIVATIONS[k % 3];
            if c == 1 && activation == Activation::Softmax {
                activation = Activation::Sigmoid;
            }
            let config = DiceConfig {
                activation,
                loss_form: FORMS[(k / 3) % 3],
                scope: SCOPES[k % 2],
                reduction: REDUCTIONS[(k / 2) % 3],
                ..DiceConfig::default()
            };
            k += 1;
            let (preds, labels) = inputs(&mut rng, &shape, activation);
            compare(ctx, &shape, &config, &preds, Targets::Labels(&labels)).unwrap();
        }
    }
}

#[test]
fn every_option_combination() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(2);
    // 19 x 23 pixels take the scalar path; 12 x 20 (a multiple of 4) the VEC4 path.
    for dims in [[3usize, 5, 19, 23], [2, 5, 12, 20]] {
        let shape = Shape::new(&dims).unwrap();
        for activation in ACTIVATIONS {
            let (preds, labels) = inputs(&mut rng, &shape, activation);
            for loss_form in FORMS {
                for scope in SCOPES {
                    for reduction in REDUCTIONS {
                        let config = DiceConfig {
                            activation,
                            loss_form,
                            scope,
                            reduction,
                            smooth_nr: 0.5,
                            smooth_dr: 1e-3,
                            squared: reduction == Reduction::Sum,
                            ..DiceConfig::default()
                        };
                        compare(ctx, &shape, &config, &preds, Targets::Labels(&labels)).unwrap();
                    }
                }
            }
        }
    }
}

#[test]
fn larger_than_one_grid_pass() {
    // Pixels well past groups * WG, so every thread loops; 17 classes take three chunks.
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(3);
    for dims in [[2usize, 17, 200, 300], [1, 4, 700, 900]] {
        let shape = Shape::new(&dims).unwrap();
        let (preds, labels) = inputs(&mut rng, &shape, Activation::Softmax);
        let config = DiceConfig {
            activation: Activation::Softmax,
            scope: Scope::PerSample,
            ..DiceConfig::default()
        };
        compare(ctx, &shape, &config, &preds, Targets::Labels(&labels)).unwrap();
    }
}

/// Dice + softmax cross-entropy with weights, smoothing and an ignore label on each input path:
/// quads of pixels (VEC4: whole quads, C <= 8, the exponentials shared with the Dice term),
/// single pixels, and stored normalisers (C > 8); u8, u16 and u32 labels.
#[test]
fn compound_on_every_input_path() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(14);
    for dims in [&[2, 6, 12, 8][..], &[2, 6, 13, 7][..], &[2, 11, 12, 8][..]] {
        let shape = Shape::new(dims).unwrap();
        let n_c = shape.classes();
        let (preds, mut labels) = inputs(&mut rng, &shape, Activation::Softmax);
        labels.iter_mut().step_by(7).for_each(|l| *l = 255);
        let config = DiceConfig {
            cross_entropy: Some(CrossEntropy {
                lambda: 0.8,
                class_weights: Some((0..n_c).map(|c| 0.5 + c as f32 * 0.3).collect()),
                label_smoothing: 0.1,
                ..CrossEntropy::softmax()
            }),
            ignore_index: Some(255),
            ..DiceConfig::nnunet()
        };
        compare_label_formats(ctx, &shape, &config, &preds, &labels);
    }
}

/// The MCC index on each input path (VEC4 quads, single pixels, stored normalisers for C > 8;
/// u8, u16, u32 labels), per sample and over the batch, beside a cross-entropy term.
#[test]
fn mcc_on_every_input_path() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(23);
    for dims in [&[2, 6, 12, 8][..], &[3, 4, 13, 7][..], &[2, 11, 12, 8][..]] {
        let shape = Shape::new(dims).unwrap();
        let (preds, labels) = inputs(&mut rng, &shape, Activation::Softmax);
        for scope in SCOPES {
            let config = DiceConfig {
                activation: Activation::Softmax,
                scope,
                cross_entropy: Some(CrossEntropy::softmax()),
                ..DiceConfig::smp_mcc()
            };
            compare_label_formats(ctx, &shape, &config, &preds, &labels);
        }
    }
}

/// The comparison with the labels as u32, u8 and u16.
fn compare_label_formats(
    ctx: &DiceContext,
    shape: &Shape,
    config: &DiceConfig,
    preds: &[f32],
    labels: &[u32],
) {
    let u8s: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
    let u16s: Vec<u16> = labels.iter().map(|&l| l as u16).collect();
    for targets in [
        Targets::Labels(labels),
        Targets::LabelsU8(&u8s),
        Targets::LabelsU16(&u16s),
    ] {
        compare(ctx, shape, config, preds, targets).unwrap();
    }
}

#[test]
fn label_formats_agree() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(4);
    // Odd pixel counts so packed words end part-filled (scalar path); whole quads (VEC4 path).
    for dims in [&[3, 6, 13, 7][..], &[3, 6, 12, 8][..]] {
        let shape = Shape::new(dims).unwrap();
        let (preds, labels) = inputs(&mut rng, &shape, Activation::Softmax);
        let config = DiceConfig {
            activation: Activation::Softmax,
            ..DiceConfig::default()
        };
        compare_label_formats(ctx, &shape, &config, &preds, &labels);
    }
}

#[test]
fn a_perturbed_input_makes_the_comparison_fail() {
    // The comparison must be able to fail: change one prediction on the oracle's side only.
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(5);
    let shape = Shape::new(&[2, 3, 37, 68]).unwrap();
    let (preds, labels) = inputs(&mut rng, &shape, Activation::Softmax);
    let config = DiceConfig {
        activation: Activation::Softmax,
        ..DiceConfig::default()
    };
    let targets = Targets::Labels(&labels);
    compare(ctx, &shape, &config, &preds, targets).unwrap();
    let got = ctx
        .compute(&shape, &config, &preds, targets, Gradient::With)
        .unwrap();
    let mut perturbed = preds.clone();
    perturbed[1234] += 0.5;
    let want = cpu::compute(&shape, &config, &perturbed, targets, Gradient::With).unwrap();
    let err = check_grad(
        "gradient",
        got.gradient.as_deref().unwrap(),
        want.gradient.as_deref().unwrap(),
    )
    .unwrap_err();
    assert!(err.contains("worst index"), "{err}");
    assert!(check_loss("loss", got.loss, want.loss).is_err());
}

#[test]
fn same_input_twice_is_bit_identical() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(6);
    let shape = Shape::new(&[4, 5, 150, 170]).unwrap();
    let (preds, labels) = inputs(&mut rng, &shape, Activation::Softmax);
    let config = DiceConfig::monai();
    let targets = Targets::Labels(&labels);
    let a = ctx
        .compute(&shape, &config, &preds, targets, Gradient::With)
        .unwrap();
    let b = ctx
        .compute(&shape, &config, &preds, targets, Gradient::With)
        .unwrap();
    assert_eq!(a.loss.to_bits(), b.loss.to_bits());
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.dice), bits(&b.dice));
    assert!(bits(a.gradient.as_deref().unwrap()) == bits(b.gradient.as_deref().unwrap()));
}

#[test]
fn batch_past_the_dispatch_limit() {
    // 70 000 samples: more than 65 535 workgroups per dispatch dimension, per-sample rows.
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(8);
    let shape = Shape::new(&[70_000, 2, 3]).unwrap();
    let (preds, labels) = inputs(&mut rng, &shape, Activation::Softmax);
    for scope in SCOPES {
        let config = DiceConfig {
            activation: Activation::Softmax,
            loss_form: LossForm::OneMinusDice,
            scope,
            ..DiceConfig::default()
        };
        compare(ctx, &shape, &config, &preds, Targets::Labels(&labels)).unwrap();
    }
}
