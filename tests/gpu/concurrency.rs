//! One context, several threads at once; a lost device is an error and a new context works.

use softdice::{
    cpu, Activation, DiceConfig, DiceContext, DiceError, Gradient, Scope, Shape, Targets,
};

use crate::common::*;

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn the_context_is_send_and_sync() {
    assert_send_sync::<DiceContext>();
    assert_send_sync::<softdice::DicePlan>();
}

#[test]
fn four_threads_with_different_shapes_on_one_context() {
    let Some(ctx) = ctx() else { return };
    let shapes: [&[usize]; 4] = [
        &[2, 3, 40, 50],
        &[1, 17, 33],
        &[3, 4, 6, 7, 8],
        &[5, 2, 129],
    ];
    std::thread::scope(|scope| {
        for (t, dims) in shapes.iter().enumerate() {
            scope.spawn(move || {
                let shape = Shape::new(dims).unwrap();
                let mut rng = Rng::new(100 + t as u64);
                let logits = rng.logits(shape.len(), 2.0);
                let labels = rng.labels(shape.pixels(), shape.classes() as u32);
                let config = DiceConfig {
                    activation: Activation::Softmax,
                    scope: if t % 2 == 0 {
                        Scope::Batch
                    } else {
                        Scope::PerSample
                    },
                    ..DiceConfig::monai()
                };
                for _ in 0..5 {
                    let targets = Targets::Labels(&labels);
                    let want =
                        cpu::compute(&shape, &config, &logits, targets, Gradient::With).unwrap();
                    let got = ctx
                        .compute(&shape, &config, &logits, targets, Gradient::With)
                        .unwrap();
                    check_loss("loss", got.loss, want.loss).unwrap();
                    check_grad(
                        "gradient",
                        got.gradient.as_deref().unwrap(),
                        want.gradient.as_deref().unwrap(),
                    )
                    .unwrap();
                }
            });
        }
    });
}

/// Computes on `ctx`, destroys its device, and checks that the next calls are errors that
/// say the device was lost (never a panic, even under wgpu's default error handler); returns
/// the small problem it computed.
fn computes_then_errors_once_lost(ctx: &DiceContext) -> (Shape, Vec<f32>, Vec<u32>) {
    let shape = Shape::new(&[1, 2, 8, 8]).unwrap();
    let probs = vec![0.5f32; shape.len()];
    let labels = vec![1u32; shape.pixels()];
    let targets = Targets::Labels(&labels);
    let config = DiceConfig::default();
    let want = cpu::compute(&shape, &config, &probs, targets, Gradient::With).unwrap();
    let out = ctx
        .compute(&shape, &config, &probs, targets, Gradient::With)
        .unwrap();
    check_loss("loss before the loss", out.loss, want.loss).unwrap();
    ctx.device().destroy();
    let err = ctx
        .compute(&shape, &config, &probs, targets, Gradient::With)
        .unwrap_err();
    assert!(
        matches!(&err, DiceError::Gpu(m) if m.contains("lost")),
        "{err:?}"
    );
    let err = ctx
        .plan(&shape, &config, softdice::TargetKind::LabelsU32)
        .expect_err("no plan on a lost device");
    assert!(
        matches!(&err, DiceError::Gpu(m) if m.contains("lost")),
        "{err:?}"
    );
    (shape, probs, labels)
}

#[test]
fn a_lost_device_is_an_error_and_a_new_context_works() {
    if ctx().is_none() {
        return;
    }
    let lost = DiceContext::with_options(&options()).unwrap();
    let (shape, probs, labels) = computes_then_errors_once_lost(&lost);
    let (targets, config) = (Targets::Labels(&labels), DiceConfig::default());
    let fresh = DiceContext::with_options(&options()).unwrap();
    let out = fresh
        .compute(&shape, &config, &probs, targets, Gradient::With)
        .unwrap();
    let want = cpu::compute(&shape, &config, &probs, targets, Gradient::With).unwrap();
    check_loss("loss after rebuild", out.loss, want.loss).unwrap();
}

#[test]
fn a_context_on_the_callers_device_notices_its_loss() {
    if ctx().is_none() {
        return;
    }
    // The caller's device keeps wgpu's default error handler, which panics on an uncaptured
    // error: the context must stop before touching a lost device.
    let (device, queue) = own_device(wgpu::Features::SUBGROUP, |limits| limits);
    computes_then_errors_once_lost(&DiceContext::from_device(device, queue).unwrap());
}
