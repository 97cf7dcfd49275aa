//! f16 predictions in the buffer API: the oracle on the same (f16-rounded) values, on the VEC4
//! path and the scalar path, and non-finite halves counted.

use half::f16;
use softdice::{
    cpu, Activation, BufferRegion, DiceConfig, DiceError, GpuInputs, Gradient, PredFormat, Scope,
    Shape, TargetKind, Targets,
};

use crate::common::*;

fn run_f16(
    ctx: &softdice::DiceContext,
    shape: &Shape,
    config: &DiceConfig,
    halves: &[u16],
    labels: &[u32],
) -> Result<(softdice::DiceOutput<f32>, Vec<f32>), DiceError> {
    let preds = storage(
        ctx.device(),
        bytemuck::cast_slice(halves),
        wgpu::BufferUsages::empty(),
    );
    let targets = ctx.upload_targets(Targets::Labels(labels));
    let grad = ctx.gradient_buffer(shape);
    let mut plan = ctx.plan_for(shape, config, PredFormat::F16, TargetKind::LabelsU32)?;
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    let inputs = GpuInputs {
        preds: BufferRegion::whole(&preds),
        targets: BufferRegion::whole(&targets),
        gradient: Some(BufferRegion::whole(&grad)),
    };
    let recorded = plan.record(ctx, &mut encoder, &inputs)?;
    ctx.queue().submit([encoder.finish()]);
    let out = plan.read_results(ctx, recorded)?;
    Ok((out, read_buffer(ctx, &grad)))
}

#[test]
fn f16_predictions_match_the_oracle_on_their_values() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(61);
    // 16 x 20 pixels: the VEC4 path; 7 x 9: the scalar path.
    for dims in [[2usize, 4, 16, 20], [2, 3, 7, 9]] {
        let shape = Shape::new(&dims).unwrap();
        let logits = rng.logits(shape.len(), 3.0);
        let halves: Vec<u16> = logits.iter().map(|&x| f16::from_f32(x).to_bits()).collect();
        let rounded: Vec<f32> = halves.iter().map(|&h| f16::from_bits(h).to_f32()).collect();
        let labels = rng.labels(shape.pixels(), shape.classes() as u32);
        let config = DiceConfig {
            activation: Activation::Softmax,
            scope: Scope::PerSample,
            ..DiceConfig::monai()
        };
        let want = cpu::compute(
            &shape,
            &config,
            &rounded,
            Targets::Labels(&labels),
            Gradient::With,
        )
        .unwrap();
        let (got, grad) = run_f16(ctx, &shape, &config, &halves, &labels).unwrap();
        check_loss("f16 loss", got.loss, want.loss).unwrap();
        check_close("f16 dice", &got.dice, &want.dice, DICE_ABS, 0.0).unwrap();
        check_grad("f16 gradient", &grad, want.gradient.as_deref().unwrap()).unwrap();
    }
}

#[test]
fn non_finite_halves_are_counted() {
    let Some(ctx) = ctx() else { return };
    let shape = Shape::new(&[1, 2, 4, 4]).unwrap();
    let mut halves = vec![f16::from_f32(0.5).to_bits(); shape.len()];
    halves[3] = f16::NAN.to_bits();
    halves[20] = f16::INFINITY.to_bits();
    let labels = vec![1u32; shape.pixels()];
    let err = run_f16(ctx, &shape, &DiceConfig::default(), &halves, &labels).unwrap_err();
    assert!(
        matches!(err, DiceError::NonFinite { count: 2, .. }),
        "{err:?}"
    );
}
