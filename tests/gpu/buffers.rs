//! The buffer-level API: the caller's buffers at arbitrary offsets, results left on the GPU.

use softdice::{
    cpu, Activation, BufferRegion, DiceConfig, GpuInputs, Gradient, Scope, Shape, TargetKind,
    Targets,
};
use wgpu::util::DeviceExt;

use crate::common::*;

#[test]
fn tensors_inside_larger_allocations() {
    let Some(ctx) = ctx() else { return };
    let shape = Shape::new(&[2, 4, 9, 13]).unwrap();
    let mut rng = Rng::new(31);
    let logits = rng.logits(shape.len(), 2.0);
    let labels: Vec<u8> = rng
        .labels(shape.pixels(), 4)
        .iter()
        .map(|&l| l as u8)
        .collect();
    let config = DiceConfig {
        activation: Activation::Softmax,
        scope: Scope::PerSample,
        ..DiceConfig::default()
    };
    let want = cpu::compute(
        &shape,
        &config,
        &logits,
        Targets::LabelsU8(&labels),
        Gradient::With,
    )
    .unwrap();

    // Offsets that are not multiples of the binding alignment, nor of 4 for the bytes; the
    // predictions span bytes 148..3892 and the labels 4001..4235 of one buffer.
    let (pred_off, label_off, grad_off) = (4 * 37u64, 4001u64, 4 * 70u64);
    let mut arena = vec![0u8; 8192];
    arena[pred_off as usize..][..logits.len() * 4].copy_from_slice(bytemuck::cast_slice(&logits));
    arena[label_off as usize..][..labels.len()].copy_from_slice(&labels);
    let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
    let inputs = ctx
        .device()
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("arena"),
            contents: &arena,
            usage,
        });
    let grads = ctx
        .device()
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("grad arena"),
            contents: &vec![0u8; 4096],
            usage,
        });
    let mut plan = ctx.plan(&shape, &config, TargetKind::LabelsU8).unwrap();
    // Twice through the same plan: the second call reuses everything.
    for _ in 0..2 {
        let mut encoder = ctx.device().create_command_encoder(&Default::default());
        let recorded = plan
            .record(
                ctx,
                &mut encoder,
                &GpuInputs {
                    preds: BufferRegion {
                        buffer: &inputs,
                        offset: pred_off,
                    },
                    targets: BufferRegion {
                        buffer: &inputs,
                        offset: label_off,
                    },
                    gradient: Some(BufferRegion {
                        buffer: &grads,
                        offset: grad_off,
                    }),
                },
            )
            .unwrap();
        ctx.queue().submit([encoder.finish()]);
        let got = plan.read_results(ctx, recorded).unwrap();
        check_loss("loss", got.loss, want.loss).unwrap();
        check_close("dice", &got.dice, &want.dice, DICE_ABS, DICE_REL).unwrap();
    }
    let all = read_buffer(ctx, &grads);
    let at = grad_off as usize / 4;
    check_grad(
        "gradient",
        &all[at..at + shape.len()],
        want.gradient.as_deref().unwrap(),
    )
    .unwrap();
    assert!(
        all[..at].iter().all(|&v| v == 0.0),
        "wrote before the region"
    );
    assert!(
        all[at + shape.len()..].iter().all(|&v| v == 0.0),
        "wrote past the region"
    );
}

#[test]
fn repeated_host_calls_of_one_shape_use_each_calls_data() {
    let Some(ctx) = ctx() else { return };
    // The host API keeps this shape's plan and buffers: each call must still compute on its
    // own inputs (37 u8 labels: the last word is partly padding).
    let shape = Shape::new(&[1, 3, 37]).unwrap();
    let config = DiceConfig {
        activation: Activation::Softmax,
        ..DiceConfig::default()
    };
    let mut rng = Rng::new(47);
    for call in 0..3 {
        let logits = rng.logits(shape.len(), 3.0);
        let labels: Vec<u8> = (0..shape.pixels()).map(|_| rng.below(3) as u8).collect();
        let targets = Targets::LabelsU8(&labels);
        let want = cpu::compute(&shape, &config, &logits, targets, Gradient::With).unwrap();
        let got = ctx
            .compute(&shape, &config, &logits, targets, Gradient::With)
            .unwrap();
        check_loss(&format!("call {call}"), got.loss, want.loss).unwrap();
        check_grad(
            &format!("call {call}"),
            got.gradient.as_ref().unwrap(),
            want.gradient.as_ref().unwrap(),
        )
        .unwrap();
    }
}
