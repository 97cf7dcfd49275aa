//! Criterion benches: forward and forward+backward on the GPU with the data resident (device
//! created once, inputs uploaded outside the timed region, a device poll inside every
//! iteration), from probabilities and from logits, labels u8 and u32; the f64 CPU oracle at the
//! same sizes. Throughput is in bytes moved (predictions and labels read by both passes, the
//! gradient written once), so figures compare with memory bandwidth.
//!
//! `cargo bench --bench dice` (lavapipe takes a few minutes; `-- gpu/`, `-- metrics/` or
//! `-- cpu/` to filter)

use softdice_support::inputs;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use softdice::metrics::Decision;
use softdice::{
    cpu, Activation, BufferRegion, CrossEntropy, DiceConfig, DiceContext, GpuInputs, Gradient,
    Shape, TargetKind, Targets,
};

const SHAPES: [&[usize]; 3] = [&[8, 4, 256, 256], &[4, 8, 512, 512], &[2, 4, 96, 96, 96]];

fn name(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

fn bytes_moved(shape: &Shape, label_size: u64, backward: bool) -> u64 {
    let pass = shape.len() as u64 * 4 + shape.pixels() as u64 * label_size;
    if backward {
        2 * pass + shape.len() as u64 * 4
    } else {
        pass
    }
}

/// `iters` recordings of `plan`, each submitted and waited for: the time they took.
fn run_recordings(
    ctx: &DiceContext,
    plan: &mut softdice::DicePlan,
    inputs: &GpuInputs<'_>,
    iters: u64,
) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let mut encoder = ctx.device().create_command_encoder(&Default::default());
        plan.record(ctx, &mut encoder, inputs).unwrap();
        ctx.queue().submit([encoder.finish()]);
        ctx.device()
            .poll(wgpu::PollType::wait_indefinitely())
            .unwrap();
    }
    start.elapsed()
}

fn gpu(c: &mut Criterion) {
    let ctx = match DiceContext::new() {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("no adapter, GPU benches skipped: {e}");
            return;
        }
    };
    let mut group = c.benchmark_group("gpu");
    for dims in SHAPES {
        let shape = Shape::new(dims).unwrap();
        let (logits, labels) =
            inputs::logits_and_labels(shape.len(), shape.pixels(), shape.classes());
        let probs = {
            // Softmax on the CPU once, outside any timing, for the probability inputs.
            let (b, c, s) = (shape.batch(), shape.classes(), shape.spatial());
            let mut p = logits.clone();
            for bi in 0..b {
                for si in 0..s {
                    let at = |ci: usize| (bi * c + ci) * s + si;
                    let z: f32 = (0..c).map(|ci| logits[at(ci)].exp()).sum();
                    (0..c).for_each(|ci| p[at(ci)] = logits[at(ci)].exp() / z);
                }
            }
            p
        };
        let u8s: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
        let grad = ctx.gradient_buffer(&shape);
        for (input, activation, host) in [
            ("probs", Activation::None, &probs),
            ("logits", Activation::Softmax, &logits),
        ] {
            let preds = ctx.upload_preds(host);
            let config = DiceConfig {
                activation,
                ..DiceConfig::seed()
            };
            for (kind, targets) in [
                (TargetKind::LabelsU8, Targets::LabelsU8(&u8s)),
                (TargetKind::LabelsU32, Targets::Labels(&labels)),
            ] {
                let target_buf = ctx.upload_targets(targets);
                let mut plan = ctx.plan(&shape, &config, kind).unwrap();
                for backward in [false, true] {
                    let inputs = GpuInputs {
                        preds: BufferRegion::whole(&preds),
                        targets: BufferRegion::whole(&target_buf),
                        gradient: backward.then(|| BufferRegion::whole(&grad)),
                    };
                    let pass = if backward { "fwd_bwd" } else { "fwd" };
                    let label = format!("{pass}/{input}/{kind:?}");
                    group.throughput(Throughput::Bytes(bytes_moved(
                        &shape,
                        kind.element_size(),
                        backward,
                    )));
                    group.bench_with_input(BenchmarkId::new(label, name(dims)), &(), |b, _| {
                        b.iter_custom(|iters| run_recordings(&ctx, &mut plan, &inputs, iters))
                    });
                }
            }
        }
    }
    group.finish();
}

/// Dice alone against Dice + cross-entropy fused (nnU-Net's `DC_and_CE_loss`), both from logits
/// on u8 labels, forward+backward, side by side: what the fused term costs.
fn compound(c: &mut Criterion) {
    let Ok(ctx) = DiceContext::new() else {
        return;
    };
    let mut group = c.benchmark_group("compound");
    for dims in [&[8, 4, 256, 256][..], &[4, 8, 512, 512]] {
        let shape = Shape::new(dims).unwrap();
        let (logits, labels) =
            inputs::logits_and_labels(shape.len(), shape.pixels(), shape.classes());
        let u8s: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
        let preds = ctx.upload_preds(&logits);
        let targets = ctx.upload_targets(Targets::LabelsU8(&u8s));
        let grad = ctx.gradient_buffer(&shape);
        let inputs = GpuInputs {
            preds: BufferRegion::whole(&preds),
            targets: BufferRegion::whole(&targets),
            gradient: Some(BufferRegion::whole(&grad)),
        };
        let dice = DiceConfig::nnunet();
        let dice_ce = DiceConfig {
            cross_entropy: Some(CrossEntropy::softmax()),
            ..DiceConfig::nnunet()
        };
        for (label, config) in [("dice", dice), ("dice_ce", dice_ce)] {
            let mut plan = ctx.plan(&shape, &config, TargetKind::LabelsU8).unwrap();
            group.throughput(Throughput::Bytes(bytes_moved(&shape, 1, true)));
            group.bench_with_input(
                BenchmarkId::new(format!("fwd_bwd/logits/{label}"), name(dims)),
                &(),
                |b, _| b.iter_custom(|iters| run_recordings(&ctx, &mut plan, &inputs, iters)),
            );
        }
    }
    group.finish();
}

/// `iters` encoders filled by `record`, each submitted and waited for: the time they took.
fn run_encoders(
    ctx: &DiceContext,
    iters: u64,
    mut record: impl FnMut(&mut wgpu::CommandEncoder),
) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let mut encoder = ctx.device().create_command_encoder(&Default::default());
        record(&mut encoder);
        ctx.queue().submit([encoder.finish()]);
        ctx.device()
            .poll(wgpu::PollType::wait_indefinitely())
            .unwrap();
    }
    start.elapsed()
}

/// The validation metric's confusion counts (`record_counts`, argmax) against the loss it
/// sits beside: MONAI's softmax Dice from logits on u8 labels, the loss forward and
/// forward+backward alone, the counts alone, and each loss with the counts in one encoder.
fn metrics(c: &mut Criterion) {
    let Ok(ctx) = DiceContext::new() else {
        return;
    };
    let mut group = c.benchmark_group("metrics");
    let dims = [4, 8, 512, 512];
    let shape = Shape::new(&dims).unwrap();
    let (logits, labels) = inputs::logits_and_labels(shape.len(), shape.pixels(), shape.classes());
    let u8s: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
    let preds = ctx.upload_preds(&logits);
    let targets = ctx.upload_targets(Targets::LabelsU8(&u8s));
    let grad = ctx.gradient_buffer(&shape);
    let mut plan = ctx
        .plan(&shape, &DiceConfig::monai(), TargetKind::LabelsU8)
        .unwrap();
    let forward = GpuInputs {
        preds: BufferRegion::whole(&preds),
        targets: BufferRegion::whole(&targets),
        gradient: None,
    };
    let backward = GpuInputs {
        gradient: Some(BufferRegion::whole(&grad)),
        ..forward
    };
    // (label, the loss's inputs or none, whether the counts are recorded)
    let rows = [
        ("loss_fwd", Some(&forward), false),
        ("loss_fwd_bwd", Some(&backward), false),
        ("counts", None, true),
        ("loss_fwd+counts", Some(&forward), true),
        ("loss_fwd_bwd+counts", Some(&backward), true),
    ];
    for (label, loss, counts) in rows {
        group.bench_with_input(BenchmarkId::new(label, name(&dims)), &(), |b, _| {
            b.iter_custom(|iters| {
                run_encoders(&ctx, iters, |encoder| {
                    if let Some(inputs) = loss {
                        plan.record(&ctx, encoder, inputs).unwrap();
                    }
                    if counts {
                        plan.record_counts(&ctx, encoder, &forward, Decision::Argmax)
                            .unwrap();
                    }
                })
            })
        });
    }
    group.finish();
}

fn cpu_oracle(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu");
    for dims in SHAPES {
        let shape = Shape::new(dims).unwrap();
        let (logits, labels) =
            inputs::logits_and_labels(shape.len(), shape.pixels(), shape.classes());
        let u8s: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
        let config = DiceConfig {
            activation: Activation::Softmax,
            ..DiceConfig::seed()
        };
        group.throughput(Throughput::Bytes(bytes_moved(&shape, 1, true)));
        group.bench_with_input(
            BenchmarkId::new("oracle_fwd_bwd/logits/LabelsU8", name(dims)),
            &(),
            |b, _| {
                b.iter(|| {
                    cpu::compute(
                        &shape,
                        &config,
                        &logits,
                        Targets::LabelsU8(&u8s),
                        Gradient::With,
                    )
                    .unwrap()
                })
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Few samples: the CPU oracle takes ~0.5 s per iteration at 4x8x512^2.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500));
    targets = gpu, compound, metrics, cpu_oracle
}
criterion_main!(benches);
