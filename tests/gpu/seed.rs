//! The seed notebook's own check (tests/fixtures/seed_check, computed by PyTorch).

use softdice::{cpu, Activation, DiceConfig, Gradient, Shape, Targets};
use softdice_support::seed_npy::read_npy;

use crate::common::*;

const NOTEBOOK_LOSS: f64 = 1.8738912343978882;

fn expected_json() -> serde_json::Value {
    let path = format!(
        "{}/tests/fixtures/seed_check/expected.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn seed_inputs() -> (Shape, Vec<f32>, Vec<f32>, Vec<u8>) {
    let shape = Shape::new(&[1, 3, 224, 224]).unwrap();
    (
        shape,
        read_npy("probs.npy"),
        read_npy("logits.npy"),
        read_npy("labels.npy"),
    )
}

/// The fixture's gradients are f32 copies of float64 autograd: compare at the gradient bar.
fn check_fixture_grad(what: &str, got: &[f32], fixture: &[f32]) {
    let want: Vec<f64> = fixture.iter().map(|&v| v as f64).collect();
    check_grad(what, got, &want).unwrap();
}

#[test]
fn cpu_oracle_matches_the_notebook_and_pytorch() {
    let (shape, probs, logits, labels) = seed_inputs();
    let expected = expected_json();
    let targets = Targets::LabelsU8(&labels);
    let from_probs =
        cpu::compute(&shape, &DiceConfig::seed(), &probs, targets, Gradient::With).unwrap();
    assert!((from_probs.loss - NOTEBOOK_LOSS).abs() / NOTEBOOK_LOSS < 1e-6);
    let f64_probs = expected["float64_loss_from_float32_probs"]
        .as_f64()
        .unwrap();
    assert!(
        (from_probs.loss - f64_probs).abs() < 1e-12,
        "{}",
        from_probs.loss
    );
    let g: Vec<f32> = from_probs
        .gradient
        .unwrap()
        .iter()
        .map(|&v| v as f32)
        .collect();
    check_fixture_grad("grad wrt probs", &g, &read_npy("grad_wrt_probs.npy"));

    let softmax = DiceConfig {
        activation: Activation::Softmax,
        ..DiceConfig::seed()
    };
    let from_logits = cpu::compute(&shape, &softmax, &logits, targets, Gradient::With).unwrap();
    let f64_logits = expected["float64_loss_from_float32_logits"]
        .as_f64()
        .unwrap();
    assert!(
        (from_logits.loss - f64_logits).abs() < 1e-12,
        "{}",
        from_logits.loss
    );
    let g: Vec<f32> = from_logits
        .gradient
        .unwrap()
        .iter()
        .map(|&v| v as f32)
        .collect();
    check_fixture_grad("grad wrt logits", &g, &read_npy("grad_wrt_logits.npy"));
}

#[test]
fn gpu_matches_the_notebook_and_pytorch() {
    let Some(ctx) = ctx() else { return };
    let (shape, probs, logits, labels) = seed_inputs();
    let targets = Targets::LabelsU8(&labels);
    let gpu = ctx
        .compute(&shape, &DiceConfig::seed(), &probs, targets, Gradient::With)
        .unwrap();
    let rel = (gpu.loss as f64 - NOTEBOOK_LOSS).abs() / NOTEBOOK_LOSS;
    assert!(rel < 1e-6, "GPU loss {} vs notebook: {rel:e}", gpu.loss);
    check_fixture_grad(
        "GPU grad wrt probs",
        gpu.gradient.as_deref().unwrap(),
        &read_npy("grad_wrt_probs.npy"),
    );

    let softmax = DiceConfig {
        activation: Activation::Softmax,
        ..DiceConfig::seed()
    };
    let gpu = ctx
        .compute(&shape, &softmax, &logits, targets, Gradient::With)
        .unwrap();
    let rel = (gpu.loss as f64 - NOTEBOOK_LOSS).abs() / NOTEBOOK_LOSS;
    assert!(
        rel < 1e-6,
        "GPU loss from logits {} vs notebook: {rel:e}",
        gpu.loss
    );
    check_fixture_grad(
        "GPU grad wrt logits",
        gpu.gradient.as_deref().unwrap(),
        &read_npy("grad_wrt_logits.npy"),
    );
}
