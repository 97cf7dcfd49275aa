//! What a Burn trainer meets beyond f32 on one device: f16 predictions (a model run in half
//! precision) and statistics merged across shards of a per-sample loss.

mod common;

use burn::tensor::{DType, FloatDType, Int, Tensor, TensorData};
use common::*;
use softdice::{DiceConfig, Scope};
use softdice_burn::{DiceLoss, Error, LossPath};

/// f16 logits through the loss: the loss within 1e-3 relative of the oracle on the
/// f16-rounded logits, the gradient in f16 and within f16 rounding of the oracle's, on the
/// fused and the composed path.
#[test]
fn f16_predictions_give_the_oracles_loss_and_an_f16_gradient() {
    let dims = [2, 3, 6, 5];
    let (logits, labels) = data(&dims);
    let rounded: Vec<f32> = logits
        .iter()
        .map(|&v| half::f16::from_f32(v).to_f32())
        .collect();
    let cases = [
        ("monai", DiceConfig::monai()),
        ("nnunet dc+ce", DiceConfig::nnunet_dc_and_ce()),
        ("smp multilabel", DiceConfig::smp_multilabel()),
    ];
    let paths = [
        ("fused", fused(), LossPath::Fused),
        ("composed", unregistered_wgpu(), LossPath::Composed),
    ];
    for ((name, config), (path, device, want_path)) in cases
        .iter()
        .flat_map(|c| paths.iter().map(move |p| (c.clone(), p.clone())))
    {
        let name = format!("{name} on {path}");
        let loss = DiceLoss::new(config.clone());
        assert_eq!(loss.path(&device).unwrap(), want_path, "{name}");
        let device = device.autodiff();
        let x = Tensor::<4>::from_data(TensorData::new(logits.clone(), dims), &device)
            .cast(FloatDType::F16)
            .detach()
            .require_grad();
        assert_eq!(x.dtype(), DType::F16);
        let y: Vec<i32> = labels.iter().map(|&l| l as i32).collect();
        let y = Tensor::<3, Int>::from_data(TensorData::new(y, [2, 6, 5]), &device);
        let out = loss
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
    for (name, device, path) in devices() {
        let (x, y) = tensors::<4, 3>(&dims, &logits, &labels, &device);
        let loss = loss_on(&config, &device, path);
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

/// The presets whose statistics merge (batch scope), MONAI's `batch=True` among them.
fn batch_presets() -> Vec<(&'static str, DiceConfig)> {
    let batch = |config: DiceConfig| DiceConfig {
        scope: Scope::Batch,
        ..config
    };
    vec![
        (
            "seed (on softmax: the data are logits)",
            DiceConfig {
                activation: softdice::Activation::Softmax,
                ..DiceConfig::seed()
            },
        ),
        ("monai batch", batch(DiceConfig::monai())),
        (
            "monai generalized batch",
            batch(DiceConfig::monai_generalized(
                softdice::GeneralizedWeight::Square,
            )),
        ),
        (
            "monai tversky batch",
            batch(DiceConfig::monai_tversky(0.3, 0.7)),
        ),
        ("monai dice+ce batch", batch(DiceConfig::monai_dice_ce())),
        ("smp multiclass", DiceConfig::smp_multiclass()),
        ("smp multilabel", DiceConfig::smp_multilabel()),
        ("smp jaccard", DiceConfig::smp_jaccard()),
        ("smp tversky", DiceConfig::smp_tversky(0.5, 0.5, 2.0)),
        ("nnunet", DiceConfig::nnunet()),
        ("nnunet dc+ce", DiceConfig::nnunet_dc_and_ce()),
    ]
}

/// Every batch preset, its batch of 5 split 2 + 3 and 1 + 3 + 1 over shards (one registered
/// wgpu device each on the fused path; the unregistered wgpu device and NdArray on the
/// composed path): each shard's merged loss is the whole batch's, and the shards' gradients
/// put together are the whole batch's gradient.
#[test]
fn every_batch_preset_merged_over_two_and_three_shards_is_the_whole_batch() {
    let dims = [5, 3, 4, 6];
    let (logits, labels) = data(&dims);
    let (per_sample, px_per_sample) = (logits.len() / 5, labels.len() / 5);
    let mut paths = vec![("fused", fused_devices(3))];
    paths.push(("wgpu composed", vec![unregistered_wgpu(); 3]));
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    paths.push(("ndarray composed", vec![burn::tensor::Device::ndarray(); 3]));
    for (name, config) in batch_presets() {
        let loss = DiceLoss::new(config.clone());
        for (path, devices) in &paths {
            let (x, y) = tensors::<4, 3>(&dims, &logits, &labels, &devices[0]);
            let whole = loss.forward(x.clone(), y);
            let whole_grad: Vec<f64> = values(x.grad(&whole.clone().backward()).unwrap())
                .iter()
                .map(|&g| g as f64)
                .collect();
            let whole = values(whole)[0] as f64;
            for split in [&[2usize, 3][..], &[1, 3, 1]] {
                let what = format!("{name} on {path}, split {split:?}");
                let mut first = 0;
                let shards: Vec<_> = split
                    .iter()
                    .zip(devices)
                    .map(|(&n, device)| {
                        let range = first..first + n;
                        first += n;
                        tensors::<4, 3>(
                            &[n, dims[1], dims[2], dims[3]],
                            &logits[range.start * per_sample..range.end * per_sample],
                            &labels[range.start * px_per_sample..range.end * px_per_sample],
                            device,
                        )
                    })
                    .collect();
                let sums: Vec<_> = shards
                    .iter()
                    .map(|(x, y)| loss.sums(x.clone(), y.clone()).unwrap())
                    .collect();
                let merged = sums[1..].iter().fold(sums[0].clone(), |m, s| m.merge(s));
                let mut grad = Vec::new();
                for (k, (x, y)) in shards.iter().enumerate() {
                    // The merged state delivered to the shard's device, as an all-reduce
                    // hands it back.
                    let merged = merged.with_tensor(merged.tensor().clone().to_device(&x.device()));
                    let out = loss
                        .forward_merged(x.clone(), y.clone(), &merged)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    grad.extend(values(x.grad(&out.clone().backward()).unwrap()));
                    assert_close(
                        &format!("{what}: shard {k} loss"),
                        &values(out),
                        &[whole],
                        1e-5,
                    );
                }
                assert_close(&format!("{what}: gradient"), &grad, &whole_grad, 1e-5);
            }
        }
    }
}

/// Data-parallel training as a trainer runs it on two GPUs: a replica of a small model
/// (a per-class scale and bias over two input channels) on each device, each shard's loss
/// formed from the merged statistics, the replicas' gradients summed on the main device, one
/// SGD step, the parameters sent back. Five steps give the parameters of five steps on the
/// whole batch on one device, on the fused and the composed path.
#[test]
fn two_devices_train_as_one() {
    let (batch, n_c, h, w) = (4usize, 3usize, 6usize, 5usize);
    let (features, labels) = data(&[batch, 2, h, w]);
    let labels: Vec<u32> = labels.iter().map(|&l| l % n_c as u32).collect();
    let config = DiceConfig::nnunet_dc_and_ce();
    let loss = DiceLoss::new(config);
    let init = |device: &burn::tensor::Device| {
        let weights: Vec<f32> = (0..n_c * 2).map(|k| 0.3 * k as f32 - 0.5).collect();
        let bias: Vec<f32> = (0..n_c).map(|c| 0.1 * c as f32).collect();
        (
            Tensor::<2>::from_data(TensorData::new(weights, [n_c, 2]), device),
            Tensor::<1>::from_data(TensorData::new(bias, [n_c]), device),
        )
    };
    // logits[b, c, s] = Σ_k weights[c, k] · features[b, k, s] + bias[c].
    let logits = |(weights, bias): &(Tensor<2>, Tensor<1>), x: Tensor<3>| -> Tensor<4> {
        let [n, _, s] = x.dims();
        let wx = weights
            .clone()
            .unsqueeze::<3>()
            .expand([n, n_c, 2])
            .matmul(x);
        (wx + bias.clone().reshape([1, n_c, 1]).expand([n, n_c, s])).reshape([n, n_c, h, w])
    };
    let shard = |range: std::ops::Range<usize>, device: &burn::tensor::Device| {
        let px = h * w;
        let x: Vec<f32> = features[range.start * 2 * px..range.end * 2 * px].to_vec();
        let y: Vec<i32> = labels[range.start * px..range.end * px]
            .iter()
            .map(|&l| l as i32)
            .collect();
        let n = range.len();
        (
            Tensor::<3>::from_data(TensorData::new(x, [n, 2, px]), device),
            Tensor::<3, Int>::from_data(TensorData::new(y, [n, h, w]), device),
        )
    };
    let params_of = |(weights, bias): &(Tensor<2>, Tensor<1>)| {
        let mut v = values(weights.clone().reshape([n_c * 2]));
        v.extend(values(bias.clone()));
        v
    };
    let lr = 0.5;
    let mut paths = vec![("fused", fused_devices(2))];
    paths.push(("composed", vec![unregistered_wgpu(); 2]));
    for (path, devices) in paths {
        let devices: Vec<_> = devices.iter().map(|d| d.clone().autodiff()).collect();
        // One device, the whole batch.
        let mut one = init(&devices[0]);
        let (x, y) = shard(0..batch, &devices[0]);
        for _ in 0..5 {
            let params = (one.0.detach().require_grad(), one.1.detach().require_grad());
            let grads = loss
                .forward(logits(&params, x.clone()), y.clone())
                .backward();
            let (gw, gb) = (
                params.0.grad(&grads).unwrap(),
                params.1.grad(&grads).unwrap(),
            );
            one = (
                params.0.detach() - gw.detach() * lr,
                params.1.detach() - gb.detach() * lr,
            );
        }
        // Two devices, samples 0..1 and 1..4.
        let mut main = init(&devices[0]);
        let shards = [shard(0..1, &devices[0]), shard(1..batch, &devices[1])];
        for _ in 0..5 {
            let replicas: Vec<_> = devices
                .iter()
                .map(|d| {
                    (
                        main.0.clone().to_device(d).detach().require_grad(),
                        main.1.clone().to_device(d).detach().require_grad(),
                    )
                })
                .collect();
            let sums: Vec<_> = replicas
                .iter()
                .zip(&shards)
                .map(|(p, (x, y))| loss.sums(logits(p, x.clone()), y.clone()).unwrap())
                .collect();
            let merged = sums[0].merge(&sums[1]);
            let (mut gw, mut gb) = (main.0.zeros_like(), main.1.zeros_like());
            for (p, (x, y)) in replicas.iter().zip(&shards) {
                let out = loss
                    .forward_merged(logits(p, x.clone()), y.clone(), &merged)
                    .unwrap();
                let grads = out.backward();
                gw = gw + p.0.grad(&grads).unwrap().detach().to_device(&devices[0]);
                gb = gb + p.1.grad(&grads).unwrap().detach().to_device(&devices[0]);
            }
            main = (main.0.detach() - gw * lr, main.1.detach() - gb * lr);
        }
        let want: Vec<f64> = params_of(&one).iter().map(|&v| v as f64).collect();
        assert_close(
            &format!("{path}: parameters after 5 steps"),
            &params_of(&main),
            &want,
            1e-5,
        );
        // The steps moved the parameters: the comparison is not of two initial states.
        let start: Vec<f64> = params_of(&init(&devices[0]))
            .iter()
            .map(|&v| v as f64)
            .collect();
        let moved = params_of(&one)
            .iter()
            .zip(&start)
            .map(|(&a, &b)| (a as f64 - b).abs())
            .fold(0.0, f64::max);
        assert!(moved > 1e-3, "{path}: parameters moved by {moved}");
    }
}
