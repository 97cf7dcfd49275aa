//! softdice-burn's cost, side by side on one adapter (lavapipe here):
//! - `burn_loss/*`: the loss alone at 4×8×512² from logits, forward + backward with the data on
//!   the device, through softdice-burn, through softdice's buffer API (the interop's
//!   overhead), and composed from Burn tensor ops (what a Burn user has without softdice);
//! - `burn_paths/*`: softdice-burn's three paths on the same loss (MONAI's Dice + CE, the
//!   nnU-Net default's kind) at 2×4×128², forward + backward: fused, composed of Burn ops on
//!   an unregistered wgpu device and on NdArray, and the f64 host reference on both;
//! - `burn_step/*`: one training step of the training example's U-Net (forward, loss,
//!   backward, Adam) with each loss, and the loss alone at the step's shape (its share).
//!
//! `cargo bench -p softdice-burn --features ndarray --bench burn` (`-- burn_loss/`,
//! `-- burn_paths/` or `-- burn_step/` for one group).

#[path = "../examples/train_segmentation/composed.rs"]
mod composed;
#[path = "../examples/train_segmentation/data.rs"]
#[allow(dead_code)]
mod data;
#[path = "../examples/train_segmentation/unet.rs"]
mod unet;

use std::time::Duration;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::TensorData;
use criterion::{Criterion, criterion_group, criterion_main};
use softdice::{BufferRegion, DiceConfig, DiceContext, GpuInputs, Shape, TargetKind, Targets};
use softdice_burn::DiceLoss;
use softdice_support::inputs;

fn loss_alone(c: &mut Criterion) {
    let dims = [4usize, 8, 512, 512];
    let shape = Shape::new(&dims).unwrap();
    let (logits, labels) = inputs::logits_and_labels(shape.len(), shape.pixels(), 8);
    let config = DiceConfig::monai();
    let mut group = c.benchmark_group("burn_loss");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));

    // softdice-burn on Burn's tensors.
    let device = softdice_burn::new_wgpu_device().unwrap().autodiff();
    let x = Tensor::<4>::from_data(TensorData::new(logits.clone(), dims), &device).require_grad();
    let y: Vec<i32> = labels.iter().map(|&l| l as i32).collect();
    let y = Tensor::<3, Int>::from_data(TensorData::new(y, [4, 512, 512]), &device);
    let loss = DiceLoss::new(config.clone());
    group.bench_function("softdice_burn", |b| {
        b.iter(|| {
            let out = loss.forward(x.clone(), y.clone());
            let grad = x.grad(&out.backward()).unwrap();
            device.sync().unwrap();
            drop(grad);
        })
    });
    group.bench_function("composed", |b| {
        b.iter(|| {
            let out = composed::composed_dice(x.clone(), y.clone());
            let grad = x.grad(&out.backward()).unwrap();
            device.sync().unwrap();
            drop(grad);
        })
    });

    // softdice's buffer API on a context of its own (same adapter).
    let ctx = DiceContext::new().unwrap();
    let preds = ctx.upload_preds(&logits);
    let targets = ctx.upload_targets(Targets::Labels(&labels));
    let grad = ctx.gradient_buffer(&shape);
    let mut plan = ctx.plan(&shape, &config, TargetKind::LabelsU32).unwrap();
    group.bench_function("buffer_api", |b| {
        b.iter(|| {
            let mut encoder = ctx.device().create_command_encoder(&Default::default());
            let inputs = GpuInputs {
                preds: BufferRegion::whole(&preds),
                targets: BufferRegion::whole(&targets),
                gradient: Some(BufferRegion::whole(&grad)),
            };
            let recorded = plan.record(&ctx, &mut encoder, &inputs).unwrap();
            ctx.queue().submit([encoder.finish()]);
            plan.read_results(&ctx, recorded).unwrap()
        })
    });
    group.finish();
}

/// One forward + backward of `loss` on `device` (tensors made once), to the gradient on the
/// host side of a sync.
fn bench_path(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    loss: &DiceLoss,
    device: &Device,
    dims: [usize; 4],
    (logits, labels): (&[f32], &[u32]),
) {
    let device = device.clone().autodiff();
    let x = Tensor::<4>::from_data(TensorData::new(logits.to_vec(), dims), &device).require_grad();
    let y: Vec<i32> = labels.iter().map(|&l| l as i32).collect();
    let y = Tensor::<3, Int>::from_data(TensorData::new(y, [dims[0], dims[2], dims[3]]), &device);
    group.bench_function(name, |b| {
        b.iter(|| {
            let out = loss.forward(x.clone(), y.clone());
            let grad = x.grad(&out.backward()).unwrap();
            device.sync().unwrap();
            drop(grad);
        })
    });
}

fn paths(c: &mut Criterion) {
    let dims = [2usize, 4, 128, 128];
    let shape = Shape::new(&dims).unwrap();
    let (logits, labels) = inputs::logits_and_labels(shape.len(), shape.pixels(), dims[1]);
    let data = (&logits[..], &labels[..]);
    let config = DiceConfig::monai_dice_ce();
    let loss = DiceLoss::new(config.clone());
    let host = DiceLoss::new(config).with_host_reference(true);
    let fused = softdice_burn::new_wgpu_device().unwrap();
    let unregistered = Device::wgpu(burn::tensor::DeviceKind::Cpu);
    #[allow(deprecated)]
    let ndarray = Device::ndarray();
    let mut group = c.benchmark_group("burn_paths");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    bench_path(&mut group, "wgpu_fused", &loss, &fused, dims, data);
    bench_path(
        &mut group,
        "wgpu_composed",
        &loss,
        &unregistered,
        dims,
        data,
    );
    bench_path(&mut group, "wgpu_host", &host, &fused, dims, data);
    bench_path(&mut group, "ndarray_composed", &loss, &ndarray, dims, data);
    bench_path(&mut group, "ndarray_host", &host, &ndarray, dims, data);
    group.finish();
}

fn training_step(c: &mut Criterion) {
    let (batch, size, width) = (8usize, 64usize, 8usize);
    let device = softdice_burn::new_wgpu_device().unwrap().autodiff();
    let (images, labels, _) = data::batch(0..batch as u64, size);
    let x = Tensor::<4>::from_data(TensorData::new(images, [batch, 1, size, size]), &device);
    let y = Tensor::<3, Int>::from_data(TensorData::new(labels, [batch, size, size]), &device);
    let loss = DiceLoss::new(DiceConfig::monai());
    let mut group = c.benchmark_group("burn_step");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for name in ["softdice_burn", "composed"] {
        let mut model = Some(unet::UNet::new(1, data::CLASSES, width, &device));
        let mut optim = AdamConfig::new().init();
        group.bench_function(name, |b| {
            b.iter(|| {
                let m = model.take().unwrap();
                let logits = m.forward(x.clone());
                let l = match name {
                    "composed" => composed::composed_dice(logits, y.clone()),
                    _ => loss.forward(logits, y.clone()),
                };
                let grads = GradientsParams::from_grads(l.backward(), &m);
                model = Some(optim.step(1e-3, m, grads));
                device.sync().unwrap();
            })
        });
    }
    // The loss alone at the step's shape: its share of the step.
    let shape = [batch, data::CLASSES, size, size];
    let n: usize = shape.iter().product();
    let (logits, _) = inputs::logits_and_labels(n, batch * size * size, data::CLASSES);
    let z = Tensor::<4>::from_data(TensorData::new(logits, shape), &device).require_grad();
    for name in ["loss_only_softdice_burn", "loss_only_composed"] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let l = match name {
                    "loss_only_composed" => composed::composed_dice(z.clone(), y.clone()),
                    _ => loss.forward(z.clone(), y.clone()),
                };
                let grad = z.grad(&l.backward()).unwrap();
                device.sync().unwrap();
                drop(grad);
            })
        });
    }
    group.finish();
}

// No plots: the training example's plotters features (ab_glyph text) leave criterion's plots
// without a font.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = loss_alone, paths, training_step
}
criterion_main!(benches);
