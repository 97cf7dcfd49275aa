//! What a Burn trainer meets beyond f32 on one device: f16 predictions (a model run in half
//! precision) and statistics merged across shards of a per-sample loss.

mod common;

use burn::tensor::{DType, FloatDType, Int, Tensor, TensorData};
use common::*;
use softdice::{DiceConfig, Scope};
use softdice_burn::{DiceLoss, Error};

/// f16 logits through the loss: the loss within 1e-3 relative of the oracle on the
/// f16-rounded logits, the gradient in f16 and within f16 rounding of the oracle's.
#[test]
fn f16_predictions_give_the_oracles_loss_and_an_f16_gradient() {
    let dims = [2, 3, 6, 5];
    let (logits, labels) = data(&dims);
    let rounded: Vec<f32> = logits
        .iter()
        .map(|&v| half::f16::from_f32(v).to_f32())
        .collect();
    for (name, config) in [
        ("monai", DiceConfig::monai()),
        ("nnunet dc+ce", DiceConfig::nnunet_dc_and_ce()),
    ] {
        let device = fused().autodiff();
        let x = Tensor::<4>::from_data(TensorData::new(logits.clone(), dims), &device)
            .cast(FloatDType::F16)
            .detach()
            .require_grad();
        assert_eq!(x.dtype(), DType::F16);
        let y: Vec<i32> = labels.iter().map(|&l| l as i32).collect();
        let y = Tensor::<3, Int>::from_data(TensorData::new(y, [2, 6, 5]), &device);
        let out = DiceLoss::new(config.clone())
            .try_forward(x.clone(), y)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let grads = (out.clone() * 0.3).sum().backward();
        let grad = x.grad(&grads).expect("logits require grad");
        assert_eq!(grad.dtype(), DType::F16, "{name}: gradient dtype");
        let grad: Vec<f32> = grad.into_data().iter::<f32>().collect();
        let (want, want_grad) = oracle(&dims, &config, &rounded, &labels, &[0.3]);
        assert_close(&format!("{name}: f16 loss"), &values(out), &want, 1e-3);
        // f16 holds about three decimal digits.
        assert_close(&format!("{name}: f16 gradient"), &grad, &want_grad, 2e-3);
    }
}

/// Per-sample rows of two shards cannot be summed into one: the merge is refused by name
/// (it used to return a loss and gradient of mixed samples).
#[test]
fn per_sample_statistics_are_not_merged_into_a_wrong_number() {
    let config = DiceConfig::monai();
    assert_eq!(config.scope, Scope::PerSample);
    let dims = [2, 3, 6, 5];
    let (logits, labels) = data(&dims);
    for (name, device) in devices() {
        let (x, y) = tensors::<4, 3>(&dims, &logits, &labels, &device);
        let loss = DiceLoss::new(config.clone());
        let err = loss.sums(x.clone(), y.clone()).unwrap_err();
        assert!(matches!(err, Error::PerSampleMerge), "{name}: {err}");
        // Sums taken from a batch-scope loss of the same shape do not open the door either.
        let batch = DiceLoss::new(DiceConfig {
            scope: Scope::Batch,
            ..config.clone()
        });
        let sums = batch.sums(x.clone(), y.clone()).unwrap();
        let err = loss.forward_merged(x, y, &sums).unwrap_err();
        assert!(matches!(err, Error::PerSampleMerge), "{name}: {err}");
    }
}
