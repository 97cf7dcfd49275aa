//! `DicePlan::record_loss_vjp`: the gradient for any upstream gradient of the loss output
//! (a reduced loss scaled, `Reduction::None`'s elements weighted) against the oracle's
//! vector-Jacobian product, and NaN after bad input.

use softdice::{
    cpu, BufferRegion, ClassSelection, DiceConfig, GeneralizedWeight, GpuInputs, Gradient,
    Reduction, Scope, Shape, TargetKind, Targets,
};

use crate::common::*;

/// The gradient `record_loss_vjp` writes for `upstream` (in the kernels' layout).
fn gpu_vjp(
    shape: &Shape,
    config: &DiceConfig,
    logits: &[f32],
    labels: &[u32],
    upstream: &[f32],
) -> Vec<f32> {
    let ctx = ctx().expect("an adapter");
    let copy = wgpu::BufferUsages::COPY_SRC;
    let preds = storage(ctx.device(), bytemuck::cast_slice(logits), copy);
    let targets = storage(ctx.device(), bytemuck::cast_slice(labels), copy);
    let grad = storage(ctx.device(), &vec![0u8; shape.len() * 4], copy);
    let up = storage(ctx.device(), bytemuck::cast_slice(upstream), copy);
    let mut plan = ctx.plan(shape, config, TargetKind::LabelsU32).unwrap();
    assert_eq!(plan.upstream_len(), upstream.len());
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    let inputs = |gradient| GpuInputs {
        preds: BufferRegion::whole(&preds),
        targets: BufferRegion::whole(&targets),
        gradient,
    };
    plan.record_sums(ctx, &mut encoder, &inputs(None)).unwrap();
    plan.record_loss_vjp(
        ctx,
        &mut encoder,
        &inputs(Some(BufferRegion::whole(&grad))),
        BufferRegion::whole(&up),
    )
    .unwrap();
    ctx.queue().submit([encoder.finish()]);
    read_buffer(ctx, &grad)
}

#[test]
fn vjp_matches_the_oracle_for_any_upstream_gradient() {
    if ctx().is_none() {
        return;
    }
    let per_sample_none = |config: DiceConfig| DiceConfig {
        reduction: Reduction::None,
        scope: Scope::PerSample,
        ..config
    };
    let cases = [
        ("monai", DiceConfig::monai()),
        ("nnunet dc+ce", DiceConfig::nnunet_dc_and_ce()),
        (
            "smp tversky gamma 2",
            DiceConfig::smp_tversky(0.3, 0.7, 2.0),
        ),
        ("monai none", per_sample_none(DiceConfig::monai())),
        (
            "monai none no background",
            DiceConfig {
                classes: ClassSelection::NoBackground,
                ..per_sample_none(DiceConfig::monai())
            },
        ),
        (
            "generalized none",
            per_sample_none(DiceConfig::monai_generalized(GeneralizedWeight::Square)),
        ),
    ];
    let shape = Shape::new(&[3, 4, 7, 5]).unwrap();
    let mut rng = Rng::new(7);
    let logits = rng.logits(shape.len(), 2.0);
    let labels = rng.labels(shape.pixels(), 4);
    let targets = Targets::Labels(&labels);
    let mut failures = Vec::new();
    for (name, config) in cases {
        let sums = cpu::dice_sums(&shape, &config, &logits, targets);
        let fin = cpu::dice_finalize(&config, &sums);
        let n = match config.reduction {
            Reduction::None => fin.elements.len(),
            _ => 1,
        };
        // Upstream gradients other than one, of both signs.
        let upstream: Vec<f32> = (0..n).map(|k| 0.3 - 0.25 * (k % 5) as f32).collect();
        let up64: Vec<f64> = upstream.iter().map(|&u| u as f64).collect();
        let scaled = cpu::with_upstream(&config, shape.classes(), &fin, &up64);
        let want = cpu::dice_gradient(&shape, &config, &logits, targets, &scaled);
        let got = gpu_vjp(&shape, &config, &logits, &labels, &upstream);
        if let Err(e) = check_grad(name, &got, &want) {
            failures.push(e);
        }
        // And the oracle's VJP is the upstream-weighted sum of finite differences' answer: a
        // reduced loss scaled by u has u times the gradient.
        if n == 1 {
            let plain = cpu::dice_gradient(&shape, &config, &logits, targets, &fin);
            let scaled_plain: Vec<f64> = plain.iter().map(|g| g * up64[0]).collect();
            if let Err(e) = check_grad(&format!("{name}: oracle scaling"), &want, &scaled_plain) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn vjp_after_bad_labels_is_nan() {
    if ctx().is_none() {
        return;
    }
    let shape = Shape::new(&[2, 3, 4, 4]).unwrap();
    let mut rng = Rng::new(3);
    let logits = rng.logits(shape.len(), 1.0);
    let mut labels = rng.labels(shape.pixels(), 3);
    labels[3] = 9;
    let got = gpu_vjp(&shape, &DiceConfig::monai(), &logits, &labels, &[1.0]);
    assert!(got.iter().all(|g| g.is_nan()), "{:?}", &got[..8]);
}

#[test]
fn vjp_of_weighted_elements_matches_finite_differences() {
    if ctx().is_none() {
        return;
    }
    // The independent check of the per-cell scaling: central differences of
    // f(x) = Σ_k u_k · values_k(x) on the f64 oracle's loss values.
    let config = DiceConfig {
        reduction: Reduction::None,
        scope: Scope::PerSample,
        classes: ClassSelection::NoBackground,
        ..DiceConfig::monai()
    };
    let shape = Shape::new(&[2, 3, 5, 4]).unwrap();
    let mut rng = Rng::new(11);
    let logits = rng.logits(shape.len(), 1.5);
    let labels = rng.labels(shape.pixels(), 3);
    let f = |x: &[f32], u: &[f64]| -> f64 {
        let out = cpu::compute(
            &shape,
            &config,
            x,
            Targets::Labels(&labels),
            Gradient::Without,
        )
        .unwrap();
        out.values.iter().zip(u).map(|(v, w)| v * w).sum()
    };
    // Weights of the returned elements ([rows][selected classes]) and the kernels' layout.
    let returned = [0.7, -0.4, 1.3, 0.2];
    let mut cells = vec![0.0f32; 2 * 3];
    for r in 0..2 {
        for (k, c) in [1, 2].into_iter().enumerate() {
            cells[r * 3 + c] = returned[r * 2 + k] as f32;
        }
    }
    let got = gpu_vjp(&shape, &config, &logits, &labels, &cells);
    let h = 1e-3f32;
    for i in (0..shape.len()).step_by(7) {
        let (mut up, mut down) = (logits.clone(), logits.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (f(&up, &returned) - f(&down, &returned)) / (up[i] - down[i]) as f64;
        assert!(
            (got[i] as f64 - fd).abs() <= 1e-3 * fd.abs().max(1e-2),
            "element {i}: vjp {} vs finite difference {fd}",
            got[i]
        );
    }
}
