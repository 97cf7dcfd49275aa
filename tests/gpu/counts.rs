//! dice_counts: the GPU's confusion counts equal the exact counts of the oracle
//! (`cpu::confusion_counts`) on every target format, decision, activation, class chunking,
//! paged bindings and f16 predictions; bad input is the oracle's error; and counting beside
//! the loss leaves the loss as it was.

use half::f16;
use softdice::metrics::{ConfusionCounts, Decision};
use softdice::{
    cpu, Activation, BufferRegion, DiceConfig, DiceContext, DiceError, GpuInputs, PredFormat,
    Shape, TargetKind, Targets,
};

use crate::common::*;

/// The decisions every case is counted under: argmax, MONAI's `p > 0.5`, and an inclusive
/// threshold that is no f32 (so the host's f32 parameters must decide as the f64 test).
const DECISIONS: [Decision; 3] = [
    Decision::Argmax,
    Decision::HALF,
    Decision::Threshold {
        value: 0.3,
        inclusive: true,
    },
];

/// Predictions for `activation`: logits, or (no activation) probabilities on a grid of
/// tenths, so that some sit exactly on the thresholds and argmax meets ties.
fn inputs(rng: &mut Rng, shape: &Shape, activation: Activation) -> Vec<f32> {
    match activation {
        Activation::None => (0..shape.len())
            .map(|_| rng.below(11) as f32 / 10.0)
            .collect(),
        Activation::Softmax | Activation::Sigmoid => rng.logits(shape.len(), 3.0),
    }
}

/// Labels with every class and (where set) the ignore label among them.
fn labels(rng: &mut Rng, shape: &Shape, ignore: Option<u32>) -> Vec<u32> {
    let n_c = shape.classes() as u32;
    (0..shape.pixels())
        .map(|_| match ignore {
            Some(i) if rng.below(5) == 0 => i,
            _ => rng.below(n_c),
        })
        .collect()
}

/// Dense 0/1 targets, with the ignore value among them where set.
fn dense(rng: &mut Rng, shape: &Shape, ignore: Option<u32>) -> Vec<f32> {
    (0..shape.len())
        .map(|_| match ignore {
            Some(i) if rng.below(6) == 0 => i as f32,
            _ => rng.below(2) as f32,
        })
        .collect()
}

fn check(
    ctx: &DiceContext,
    shape: &Shape,
    config: &DiceConfig,
    preds: &[f32],
    targets: Targets<'_>,
    decision: Decision,
) -> Result<(), String> {
    let want = cpu::confusion_counts(
        shape,
        preds,
        targets,
        decision,
        config.activation,
        config.ignore_index,
    )
    .map_err(|e| format!("oracle: {e}"))?;
    let got = ctx
        .confusion_counts(shape, config, preds, targets, decision)
        .map_err(|e| format!("gpu: {e}"))?;
    if got != want {
        let first = (0..shape.batch() * shape.classes())
            .find(|&i| got.cells()[i] != want.cells()[i])
            .unwrap_or(0);
        return Err(format!(
            "cell {first}: gpu {:?}, oracle {:?}",
            got.cells()[first],
            want.cells()[first]
        ));
    }
    Ok(())
}

/// Every target format (labels u8/u16/u32 with and without an ignore label, dense 0/1 with an
/// ignore value), activation and decision, on shapes with one class, one chunk, two chunks
/// (C > 8), odd spatial sizes and several samples.
fn every_path(ctx: &DiceContext, shapes: &[&[usize]], seed: u64) {
    let mut rng = Rng::new(seed);
    let mut failures = Vec::new();
    for dims in shapes {
        let shape = Shape::new(dims).unwrap();
        for activation in [Activation::Softmax, Activation::Sigmoid, Activation::None] {
            if activation == Activation::Softmax && shape.classes() == 1 {
                // Refused by the config (softmax over one class is constant).
                continue;
            }
            let preds = inputs(&mut rng, &shape, activation);
            for ignore in [None, Some(shape.classes() as u32 + 2)] {
                let config = DiceConfig {
                    activation,
                    ignore_index: ignore,
                    ..DiceConfig::monai()
                };
                let l32 = labels(&mut rng, &shape, ignore);
                let l8: Vec<u8> = l32.iter().map(|&l| l as u8).collect();
                let l16: Vec<u16> = l32.iter().map(|&l| l as u16).collect();
                let d = dense(&mut rng, &shape, ignore);
                let targets = [
                    Targets::Labels(&l32),
                    Targets::LabelsU8(&l8),
                    Targets::LabelsU16(&l16),
                    Targets::Dense(&d),
                ];
                for t in targets {
                    for decision in DECISIONS {
                        if let Err(e) = check(ctx, &shape, &config, &preds, t, decision) {
                            failures.push(format!(
                                "{dims:?} {activation:?} ignore {ignore:?} {:?} {decision:?}: {e}",
                                t.kind()
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn counts_equal_the_oracle_on_every_target_format_decision_and_activation() {
    let Some(ctx) = ctx() else { return };
    every_path(
        ctx,
        &[
            &[2, 3, 5, 7],
            &[3, 1, 9, 4],
            &[2, 11, 6, 6],
            &[1, 2, 33, 31],
            &[2, 5, 8, 12],
        ],
        71,
    );
}

#[test]
fn counts_on_paged_bindings_equal_the_oracle() {
    let Some(_) = ctx() else { return };
    // 64 KiB bindings: 3 classes x 80 x 80 f32 predictions span two pages, dense targets too.
    let small = own_ctx(wgpu::Features::SUBGROUP, |limits| wgpu::Limits {
        max_storage_buffer_binding_size: 1 << 16,
        ..limits
    });
    every_path(&small, &[&[1, 3, 80, 80]], 72);
}

#[test]
fn f16_predictions_are_counted_on_their_values() {
    let Some(ctx) = ctx() else { return };
    let shape = Shape::new(&[2, 4, 9, 13]).unwrap();
    let mut rng = Rng::new(73);
    let halves: Vec<u16> = rng
        .logits(shape.len(), 3.0)
        .iter()
        .map(|&x| f16::from_f32(x).to_bits())
        .collect();
    let values: Vec<f32> = halves.iter().map(|&h| f16::from_bits(h).to_f32()).collect();
    let labels = labels(&mut rng, &shape, None);
    let preds = storage(
        ctx.device(),
        bytemuck::cast_slice(&halves),
        wgpu::BufferUsages::empty(),
    );
    let targets = ctx.upload_targets(Targets::Labels(&labels));
    for activation in [Activation::Softmax, Activation::Sigmoid] {
        let config = DiceConfig {
            activation,
            ..DiceConfig::monai()
        };
        let mut plan = ctx
            .plan_for(&shape, &config, PredFormat::F16, TargetKind::LabelsU32)
            .unwrap();
        for decision in DECISIONS {
            let mut encoder = ctx.device().create_command_encoder(&Default::default());
            let inputs = GpuInputs {
                preds: BufferRegion::whole(&preds),
                targets: BufferRegion::whole(&targets),
                gradient: None,
            };
            let recorded = plan
                .record_counts(ctx, &mut encoder, &inputs, decision)
                .unwrap();
            ctx.queue().submit([encoder.finish()]);
            let got = plan.read_counts(ctx, recorded).unwrap();
            let want = cpu::confusion_counts(
                &shape,
                &values,
                Targets::Labels(&labels),
                decision,
                activation,
                None,
            )
            .unwrap();
            assert_eq!(got, want, "{activation:?} {decision:?}");
        }
    }
}

/// Records the loss, then the counts, into one encoder, or the counts between
/// `record_sums` and `record_loss`: the loss is the loss alone's and the counts the oracle's.
#[test]
fn counting_beside_the_loss_leaves_the_loss_as_it_was() {
    let Some(ctx) = ctx() else { return };
    let shape = Shape::new(&[2, 3, 16, 12]).unwrap();
    let mut rng = Rng::new(74);
    let logits = rng.logits(shape.len(), 2.0);
    let labels = labels(&mut rng, &shape, None);
    let config = DiceConfig::monai();
    let oracle = cpu::compute(
        &shape,
        &config,
        &logits,
        Targets::Labels(&labels),
        softdice::Gradient::Without,
    )
    .unwrap();
    let want_counts = cpu::confusion_counts(
        &shape,
        &logits,
        Targets::Labels(&labels),
        Decision::Argmax,
        config.activation,
        None,
    )
    .unwrap();
    let preds = ctx.upload_preds(&logits);
    let targets = ctx.upload_targets(Targets::Labels(&labels));
    let inputs = GpuInputs {
        preds: BufferRegion::whole(&preds),
        targets: BufferRegion::whole(&targets),
        gradient: None,
    };
    let mut plan = ctx.plan(&shape, &config, TargetKind::LabelsU32).unwrap();
    for split in [false, true] {
        let mut encoder = ctx.device().create_command_encoder(&Default::default());
        let (loss, counts) = if split {
            plan.record_sums(ctx, &mut encoder, &inputs).unwrap();
            let counts = plan
                .record_counts(ctx, &mut encoder, &inputs, Decision::Argmax)
                .unwrap();
            (
                plan.record_loss(ctx, &mut encoder, &inputs).unwrap(),
                counts,
            )
        } else {
            let loss = plan.record(ctx, &mut encoder, &inputs).unwrap();
            let counts = plan
                .record_counts(ctx, &mut encoder, &inputs, Decision::Argmax)
                .unwrap();
            (loss, counts)
        };
        ctx.queue().submit([encoder.finish()]);
        let out = plan.read_results(ctx, loss).unwrap();
        check_loss("loss beside the counts", out.loss, oracle.loss).unwrap();
        assert_eq!(
            plan.read_counts(ctx, counts).unwrap(),
            want_counts,
            "split {split}"
        );
    }
}

/// Counts merged from two shards of a batch (each its own plan) equal the whole batch's.
#[test]
fn shard_counts_appended_equal_the_whole_batch() {
    let Some(ctx) = ctx() else { return };
    let whole = Shape::new(&[5, 4, 7, 9]).unwrap();
    let mut rng = Rng::new(75);
    let logits = rng.logits(whole.len(), 3.0);
    let labels = labels(&mut rng, &whole, None);
    let config = DiceConfig::monai();
    let count = |shape: &Shape, preds: &[f32], labels: &[u32]| {
        ctx.confusion_counts(
            shape,
            &config,
            preds,
            Targets::Labels(labels),
            Decision::Argmax,
        )
        .unwrap()
    };
    let all = count(&whole, &logits, &labels);
    let per = whole.len() / 5;
    let pixels = whole.pixels() / 5;
    let a = count(
        &Shape::new(&[2, 4, 7, 9]).unwrap(),
        &logits[..2 * per],
        &labels[..2 * pixels],
    );
    let b = count(
        &Shape::new(&[3, 4, 7, 9]).unwrap(),
        &logits[2 * per..],
        &labels[2 * pixels..],
    );
    let mut merged: ConfusionCounts = a;
    merged.append_samples(&b).unwrap();
    assert_eq!(merged, all);
}

#[test]
fn bad_input_is_the_oracles_error() {
    let Some(ctx) = ctx() else { return };
    let shape = Shape::new(&[2, 3, 4, 4]).unwrap();
    let config = DiceConfig::monai();
    let mut rng = Rng::new(76);
    let logits = rng.logits(shape.len(), 2.0);
    let mut labels = labels(&mut rng, &shape, None);
    let count_err = |config: &DiceConfig, preds: &[f32], targets: Targets<'_>, decision| {
        ctx.confusion_counts(&shape, config, preds, targets, decision)
            .unwrap_err()
    };
    labels[5] = 3;
    labels[17] = 40;
    let err = count_err(&config, &logits, Targets::Labels(&labels), Decision::Argmax);
    assert!(
        matches!(
            err,
            DiceError::LabelOutOfRange {
                count: 2,
                n_classes: 3,
                ..
            }
        ),
        "{err}"
    );
    labels[5] = 0;
    labels[17] = 1;
    let mut nan = logits.clone();
    nan[3] = f32::NAN;
    nan[40] = f32::INFINITY;
    let err = count_err(&config, &nan, Targets::Labels(&labels), Decision::HALF);
    assert!(
        matches!(err, DiceError::NonFinite { count: 2, .. }),
        "{err}"
    );
    let mut soft = dense(&mut rng, &shape, None);
    soft[7] = 0.5;
    for decision in [Decision::Argmax, Decision::HALF] {
        let sigmoid = DiceConfig {
            activation: Activation::Sigmoid,
            ..config.clone()
        };
        let err = count_err(&sigmoid, &logits, Targets::Dense(&soft), decision);
        assert!(matches!(err, DiceError::NotBinary { count: 1 }), "{err}");
        let oracle = cpu::confusion_counts(
            &shape,
            &logits,
            Targets::Dense(&soft),
            decision,
            Activation::Sigmoid,
            None,
        )
        .unwrap_err();
        assert!(
            matches!(oracle, DiceError::NotBinary { count: 1 }),
            "{oracle}"
        );
    }
    let nan_threshold = Decision::Threshold {
        value: f64::NAN,
        inclusive: false,
    };
    let err = count_err(&config, &logits, Targets::Labels(&labels), nan_threshold);
    assert!(matches!(err, DiceError::InvalidConfig(_)), "{err}");
    // A gradient buffer has no place in a count.
    let preds = ctx.upload_preds(&logits);
    let targets = ctx.upload_targets(Targets::Labels(&labels));
    let grad = ctx.gradient_buffer(&shape);
    let mut plan = ctx.plan(&shape, &config, TargetKind::LabelsU32).unwrap();
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    let inputs = GpuInputs {
        preds: BufferRegion::whole(&preds),
        targets: BufferRegion::whole(&targets),
        gradient: Some(BufferRegion::whole(&grad)),
    };
    let err = plan
        .record_counts(ctx, &mut encoder, &inputs, Decision::Argmax)
        .unwrap_err();
    assert!(matches!(err, DiceError::InvalidConfig(_)), "{err}");
}
