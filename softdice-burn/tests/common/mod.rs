//! What the tests share: devices, inputs, and softdice's f64 oracle of a loss output and its
//! vector-Jacobian product.

#![allow(dead_code)]

use std::sync::OnceLock;

use burn::tensor::{Device, Int, Tensor, TensorData};
use softdice::{DiceConfig, Gradient, Reduction, Shape, Targets, cpu};
use softdice_burn::{DiceLoss, LossPath};
use softdice_support::inputs;

/// The fused device (one per process: each test reuses it).
pub fn fused() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE
        .get_or_init(|| {
            softdice_burn::new_wgpu_device()
                .expect("a wgpu adapter (lavapipe: mesa-vulkan-drivers)")
        })
        .clone()
}

/// `n` registered wgpu devices (the fused path), standing for `n` GPUs: made once per
/// process and reused.
pub fn fused_devices(n: usize) -> Vec<Device> {
    static MORE: std::sync::Mutex<Vec<Device>> = std::sync::Mutex::new(Vec::new());
    let mut more = MORE.lock().unwrap();
    while more.len() + 1 < n {
        more.push(softdice_burn::new_wgpu_device().expect("another wgpu device"));
    }
    std::iter::once(fused())
        .chain(more.iter().take(n - 1).cloned())
        .collect()
}

/// A wgpu device Burn initialises itself, never offered to softdice-burn: the composed path
/// on wgpu (as on CUDA and ROCm, the other cubecl runtimes).
pub fn unregistered_wgpu() -> Device {
    Device::wgpu(burn::tensor::DeviceKind::Cpu)
}

/// The devices and paths every check runs on: the fused wgpu device; the composed path on an
/// unregistered wgpu device and on NdArray; the host reference on NdArray (with this crate's
/// `ndarray` feature).
pub fn devices() -> Vec<(&'static str, Device, LossPath)> {
    vec![
        ("wgpu fused", fused(), LossPath::Fused),
        ("wgpu composed", unregistered_wgpu(), LossPath::Composed),
        // burn-ndarray: deprecated for burn-flex, still Burn's CPU reference.
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        ("ndarray composed", Device::ndarray(), LossPath::Composed),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        ("ndarray host", Device::ndarray(), LossPath::Host),
    ]
}

/// `config`'s loss on `path` (the host reference where asked), checked to take that path on
/// `device`.
pub fn loss_on(config: &DiceConfig, device: &Device, path: LossPath) -> DiceLoss {
    let loss = DiceLoss::new(config.clone()).with_host_reference(path == LossPath::Host);
    assert_eq!(loss.path(device).unwrap(), path, "{device:?}");
    loss
}

/// Deterministic logits and labels of `dims`.
pub fn data(dims: &[usize]) -> (Vec<f32>, Vec<u32>) {
    let shape = Shape::new(dims).unwrap();
    inputs::logits_and_labels(shape.len(), shape.pixels(), shape.classes())
}

/// Tensors of the data on `device` (autodiff, logits tracked).
pub fn tensors<const D: usize, const DL: usize>(
    dims: &[usize],
    logits: &[f32],
    labels: &[u32],
    device: &Device,
) -> (Tensor<D>, Tensor<DL, Int>) {
    let device = device.clone().autodiff();
    let label_dims: Vec<usize> = [dims[0]]
        .into_iter()
        .chain(dims[2..].iter().copied())
        .collect();
    let x = Tensor::<D>::from_data(TensorData::new(logits.to_vec(), dims.to_vec()), &device)
        .require_grad();
    let labels: Vec<i32> = labels.iter().map(|&l| l as i32).collect();
    let y = Tensor::<DL, Int>::from_data(TensorData::new(labels, label_dims), &device);
    (x, y)
}

/// The oracle: the loss output as `DiceLoss::forward` returns it, and
/// `Σ_k upstream[k] · d output[k] / d logits`, in f64.
pub fn oracle(
    dims: &[usize],
    config: &DiceConfig,
    logits: &[f32],
    labels: &[u32],
    upstream: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let shape = Shape::new(dims).unwrap();
    let targets = Targets::Labels(labels);
    let out = cpu::compute(&shape, config, logits, targets, Gradient::Without).unwrap();
    let sums = cpu::dice_sums(&shape, config, logits, targets);
    let fin = cpu::dice_finalize(config, &sums);
    // The upstream gradient in the kernels' layout: per cell for Reduction::None (the
    // selected classes', or column 0 of each row for Generalized Dice).
    let n_c = shape.classes();
    let cells_up = match config.reduction {
        Reduction::Mean | Reduction::Sum => upstream.to_vec(),
        Reduction::None => {
            let rows = fin.elements.len() / n_c;
            let mut cells = vec![0.0; rows * n_c];
            let columns = config.returned_columns(n_c);
            for r in 0..rows {
                for (k, &c) in columns.iter().enumerate() {
                    cells[r * n_c + c] = upstream[r * columns.len() + k];
                }
            }
            cells
        }
    };
    let fin = cpu::with_upstream(config, n_c, &fin, &cells_up);
    let grad = cpu::dice_gradient(&shape, config, logits, targets, &fin);
    (out.values, grad)
}

/// Asserts `got` equals `want` within f32 rounding of sums over `n` terms.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        assert!(
            err <= rel * scale + 1e-7,
            "{what}[{i}]: {g} vs oracle {w} (|err| {err:e}, scale {scale:e})"
        );
    }
}

/// A tensor's values.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}
