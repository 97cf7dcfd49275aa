//! Mergeable statistics: sums of two "devices" (two plans over two halves of a batch), merged,
//! give the loss and gradient of one device holding the whole batch.

use softdice::{
    cpu, Activation, BufferRegion, ClassSums, CrossEntropy, DiceConfig, GpuInputs, Gradient, Shape,
    TargetKind, Targets,
};
use wgpu::util::DeviceExt;

use crate::common::*;

#[test]
fn merged_sums_equal_the_whole_batch() {
    // 3 classes; 11 (softmax over two class chunks: record_loss reads the normalisers the
    // last record_sums stored).
    let seed = DiceConfig {
        activation: Activation::Softmax,
        ..DiceConfig::seed()
    };
    for classes in [3, 11] {
        merge_two_halves(classes, seed.clone());
    }
    // With a cross-entropy term: its sums merge with the rest; the softmax mean divides by the
    // merged label weight, the sigmoid mean by the merged pixel count (the sums' tail).
    let weights = Some(vec![0.5, 2.0, 1.0]);
    let softmax_ce = CrossEntropy {
        lambda: 0.7,
        class_weights: weights.clone(),
        label_smoothing: 0.1,
        ..CrossEntropy::softmax()
    };
    let sigmoid_ce = CrossEntropy {
        pos_weight: weights,
        ..CrossEntropy::sigmoid()
    };
    for ce in [softmax_ce, sigmoid_ce] {
        merge_two_halves(
            3,
            DiceConfig {
                cross_entropy: Some(ce),
                ..DiceConfig::nnunet()
            },
        );
    }
    // MONAI's focal 'sum' divides by the spatial size, the same on both halves.
    merge_two_halves(
        3,
        DiceConfig {
            reduction: softdice::Reduction::Sum,
            cross_entropy: Some(CrossEntropy::sigmoid_focal(2.0)),
            ..DiceConfig::nnunet()
        },
    );
}

/// Sums of samples of different spatial sizes do not merge (a focal sum would divide by
/// either); sums without a size take the other's.
#[test]
fn sums_of_different_spatial_sizes_are_refused() {
    let sums = |spatial: f64| {
        let mut s = ClassSums::zeros(1, 3);
        s.set_spatial(spatial);
        s
    };
    let mut a = sums(0.0);
    a.merge(&sums(90.0)).unwrap();
    assert_eq!(a.spatial(), 90.0);
    let err = a.merge(&sums(91.0)).unwrap_err();
    assert!(err.to_string().contains("spatial"), "{err}");
}

fn merge_two_halves(classes: usize, config: DiceConfig) {
    let Some(ctx) = ctx() else { return };
    let whole = Shape::new(&[4, classes, 21, 17]).unwrap();
    let half = Shape::new(&[2, classes, 21, 17]).unwrap();
    let mut rng = Rng::new(41);
    let logits = rng.logits(whole.len(), 2.0);
    let labels = rng.labels(whole.pixels(), classes as u32);
    let want = cpu::compute(
        &whole,
        &config,
        &logits,
        Targets::Labels(&labels),
        Gradient::With,
    )
    .unwrap();

    let storage = |bytes: &[u8]| {
        ctx.device()
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytes,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            })
    };
    let devices: Vec<_> = (0..2)
        .map(|d| {
            let p = &logits[d * half.len()..][..half.len()];
            let l = &labels[d * half.pixels()..][..half.pixels()];
            let bufs = (
                storage(bytemuck::cast_slice(p)),
                storage(bytemuck::cast_slice(l)),
                storage(&vec![0u8; half.len() * 4]),
            );
            (
                ctx.plan(&half, &config, TargetKind::LabelsU32).unwrap(),
                bufs,
            )
        })
        .collect();
    let mut devices = devices;
    // Step 1 on each device: sums only.
    let mut merged: Option<ClassSums> = None;
    for (plan, (p, l, g)) in &mut devices {
        let inputs = GpuInputs {
            preds: BufferRegion::whole(p),
            targets: BufferRegion::whole(l),
            gradient: Some(BufferRegion::whole(g)),
        };
        let mut encoder = ctx.device().create_command_encoder(&Default::default());
        plan.record_sums(ctx, &mut encoder, &inputs).unwrap();
        let recorded = plan.record_loss(ctx, &mut encoder, &inputs).unwrap();
        ctx.queue().submit([encoder.finish()]);
        let sums = plan.read_results(ctx, recorded).unwrap().sums;
        match &mut merged {
            None => merged = Some(sums),
            Some(m) => m.merge(&sums).unwrap(),
        }
    }
    let merged = merged.unwrap();
    // The all-reduced sums finish to the whole batch's loss on the CPU...
    let fin = cpu::dice_finalize(&config, &merged);
    check_loss("merged loss", fin.loss as f32, want.loss).unwrap();
    // ...and, written back to each device, to its share of the whole batch's gradient.
    let mut grad = Vec::new();
    for (plan, (p, l, g)) in &mut devices {
        ctx.queue().write_buffer(
            plan.sums_buffer(),
            0,
            bytemuck::cast_slice(&merged.to_f32()),
        );
        let inputs = GpuInputs {
            preds: BufferRegion::whole(p),
            targets: BufferRegion::whole(l),
            gradient: Some(BufferRegion::whole(g)),
        };
        let mut encoder = ctx.device().create_command_encoder(&Default::default());
        let recorded = plan.record_loss(ctx, &mut encoder, &inputs).unwrap();
        ctx.queue().submit([encoder.finish()]);
        let out = plan.read_results(ctx, recorded).unwrap();
        check_loss("device loss from merged sums", out.loss, want.loss).unwrap();
        grad.extend(read_buffer(ctx, g));
    }
    check_grad(
        "gradient from merged sums",
        &grad,
        want.gradient.as_deref().unwrap(),
    )
    .unwrap();
}
