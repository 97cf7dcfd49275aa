//! Throughput of the fused kernels with the data already on the GPU, one JSON line.
//!
//! `cargo run --release --example throughput -- --shape 4,8,512,512 [--activation softmax]
//!  [--labels u8|u16|u32] [--preds f32|f16] [--loss dice|dice_ce] [--iters N] [--check]
//!  [--floor]`
//!
//! `--loss dice_ce` times nnU-Net's `DC_and_CE_loss` (softmax, batch Dice without background,
//! cross-entropy fused) instead of the seed's Dice.
//!
//! Keys: `adapter`, `driver` (the driver and its version: which Mesa, on lavapipe), `shape`,
//! `activation`, `labels`, `dice_ce`, `forward_ms` and `forward_backward_ms` (medians over `--iters`, each
//! a submit + wait on resident data), `host_to_host_ms` (upload, compute, read back the loss and
//! gradient), `bytes` (moved by forward + backward: predictions and labels read by both
//! passes, the gradient written once), `gbps`, `loss`; with `--check` also `oracle_loss` and
//! `max_grad_abs_diff` against the f64 CPU oracle. With `--floor` (f32 predictions, C <= 8,
//! spatial size a multiple of 4) also the floor kernels of `examples/floor.wgsl` on the same
//! adapter and buffers, timed the same way: `floor_forward_ms` (read every prediction,
//! activation, sum), `floor_forward_backward_ms` (that, then read, activation and write every
//! element: softdice's traffic without labels or Dice arithmetic), `copy_ms` and `copy_gbps` (a
//! vec4 copy of the predictions: the device's copy bandwidth), and the ratios `of_floor` (floor
//! / softdice, forward+backward) and `of_copy` (softdice's GB/s over the copy's).

use softdice_support::inputs;

use std::time::Instant;

use softdice::{
    cpu, Activation, BufferRegion, DiceConfig, DiceContext, GpuInputs, Gradient, PredFormat, Shape,
    TargetKind, Targets,
};

struct Args {
    shape: Vec<usize>,
    activation: Activation,
    labels: TargetKind,
    preds: PredFormat,
    iters: usize,
    check: bool,
    floor: bool,
    /// With nnU-Net's fused cross-entropy term (`--loss dice_ce`).
    dice_ce: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        shape: vec![4, 8, 512, 512],
        activation: Activation::Softmax,
        labels: TargetKind::LabelsU32,
        preds: PredFormat::F32,
        iters: 20,
        check: false,
        floor: false,
        dice_ce: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--shape" => {
                args.shape = value()?
                    .split(',')
                    .map(|d| d.trim().parse().map_err(|e| format!("--shape: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--activation" => {
                args.activation = match value()?.as_str() {
                    "softmax" => Activation::Softmax,
                    "sigmoid" => Activation::Sigmoid,
                    "none" => Activation::None,
                    other => return Err(format!("--activation {other}")),
                }
            }
            "--labels" => {
                args.labels = match value()?.as_str() {
                    "u8" => TargetKind::LabelsU8,
                    "u16" => TargetKind::LabelsU16,
                    "u32" => TargetKind::LabelsU32,
                    other => return Err(format!("--labels {other}")),
                }
            }
            "--preds" => {
                args.preds = match value()?.as_str() {
                    "f32" => PredFormat::F32,
                    "f16" => PredFormat::F16,
                    other => return Err(format!("--preds {other}")),
                }
            }
            "--iters" => args.iters = value()?.parse().map_err(|e| format!("--iters: {e}"))?,
            "--loss" => {
                args.dice_ce = match value()?.as_str() {
                    "dice" => false,
                    "dice_ce" => true,
                    other => return Err(format!("--loss {other}")),
                }
            }
            "--check" => args.check = true,
            "--floor" => args.floor = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median milliseconds of `iters` submissions (after two warm-ups) of what `record` encodes,
/// each waited for.
fn time_submits(
    ctx: &DiceContext,
    iters: usize,
    mut record: impl FnMut(&mut wgpu::CommandEncoder) -> Result<(), softdice::DiceError>,
) -> Result<f64, softdice::DiceError> {
    let mut samples = Vec::new();
    for i in 0..iters + 2 {
        let t = Instant::now();
        let mut encoder = ctx.device().create_command_encoder(&Default::default());
        record(&mut encoder)?;
        ctx.queue().submit([encoder.finish()]);
        ctx.device()
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| softdice::DiceError::Gpu(e.to_string()))?;
        if i >= 2 {
            samples.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(median(samples))
}

/// The floor kernels (`examples/floor.wgsl`) over the same predictions and output buffer:
/// (forward, forward + backward, copy) medians in ms, or `None` where they do not apply.
fn floor_ms(
    ctx: &DiceContext,
    shape: &Shape,
    activation: Activation,
    preds: &wgpu::Buffer,
    out: &wgpu::Buffer,
    iters: usize,
) -> Result<Option<[f64; 3]>, softdice::DiceError> {
    let (b, c, s) = (shape.batch(), shape.classes(), shape.spatial());
    let quads = s / 4;
    let device = ctx.device();
    let bytes = (b * c * s * 4) as u64;
    if c > 8
        || s % 4 != 0
        || quads.div_ceil(128) > 65535
        || b > 65535
        || bytes > device.limits().max_storage_buffer_binding_size
    {
        return Ok(None);
    }
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("floor"),
        source: wgpu::ShaderSource::Wgsl(include_str!("floor.wgsl").into()),
    });
    let sink = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("floor sink"),
        size: 4,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let act = match activation {
        Activation::None => 0.0,
        Activation::Softmax => 1.0,
        Activation::Sigmoid => 2.0,
    };
    let constants = [
        ("N_CLASSES", c as f64),
        ("ACTIVATION", act),
        ("S_QUADS", quads as f64),
    ];
    let kernels = ["forward", "backward", "copy"].map(|entry| {
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                ..Default::default()
            },
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        // Each entry point's layout holds only the bindings it uses.
        let entries: Vec<_> = [(0, preds), (1, out), (2, &sink)]
            .into_iter()
            .filter(|(i, _)| match entry {
                "forward" => *i != 1,
                "backward" => *i != 2,
                _ => *i != 2,
            })
            .map(|(binding, buffer)| wgpu::BindGroupEntry {
                binding,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &layout,
            entries: &entries,
        });
        (pipeline, bind)
    });
    let groups = (quads.div_ceil(128) as u32, b as u32);
    let run = |which: &[usize]| {
        time_submits(ctx, iters, |encoder| {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for &k in which {
                pass.set_pipeline(&kernels[k].0);
                pass.set_bind_group(0, &kernels[k].1, &[]);
                pass.dispatch_workgroups(groups.0, groups.1, 1);
            }
            Ok(())
        })
    };
    Ok(Some([run(&[0])?, run(&[0, 1])?, run(&[2])?]))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let shape = Shape::new(&args.shape)?;
    // `--loss dice_ce`: nnU-Net's DC_and_CE_loss (softmax, batch Dice without background, CE).
    let config = if args.dice_ce {
        DiceConfig {
            cross_entropy: Some(softdice::CrossEntropy::softmax()),
            ..DiceConfig::nnunet()
        }
    } else {
        DiceConfig {
            activation: args.activation,
            ..DiceConfig::seed()
        }
    };
    let ctx = DiceContext::new()?;
    let adapter = ctx.adapter_info().name.clone();
    let driver = ctx.adapter_info().driver_info.clone();
    let (logits, labels) = inputs::logits_and_labels(shape.len(), shape.pixels(), shape.classes());
    let (u8s, u16s): (Vec<u8>, Vec<u16>) = labels.iter().map(|&l| (l as u8, l as u16)).unzip();
    let targets = match args.labels {
        TargetKind::LabelsU8 => Targets::LabelsU8(&u8s),
        TargetKind::LabelsU16 => Targets::LabelsU16(&u16s),
        _ => Targets::Labels(&labels),
    };
    let label_bytes = shape.pixels() as u64 * args.labels.element_size();
    // f16 predictions go up as their bits; the host path below always computes from f32.
    let preds = match args.preds {
        PredFormat::F16 => {
            let halves: Vec<u16> = logits
                .iter()
                .map(|&x| half::f16::from_f32(x).to_bits())
                .collect();
            ctx.upload_targets(Targets::LabelsU16(&halves))
        }
        _ => ctx.upload_preds(&logits),
    };
    let target_buf = ctx.upload_targets(targets);
    let grad = ctx.gradient_buffer(&shape);
    let mut plan = ctx.plan_for(&shape, &config, args.preds, args.labels)?;
    let mut time = |with_grad: bool| -> Result<f64, softdice::DiceError> {
        let inputs = GpuInputs {
            preds: BufferRegion::whole(&preds),
            targets: BufferRegion::whole(&target_buf),
            gradient: with_grad.then(|| BufferRegion::whole(&grad)),
        };
        time_submits(&ctx, args.iters, |encoder| {
            plan.record(&ctx, encoder, &inputs).map(drop)
        })
    };
    let forward_ms = time(false)?;
    let forward_backward_ms = time(true)?;

    let mut h2h = Vec::new();
    let mut out = None;
    for _ in 0..args.iters.clamp(1, 5) {
        let t = Instant::now();
        out = Some(ctx.compute(&shape, &config, &logits, targets, Gradient::With)?);
        h2h.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let out = out.expect("at least one run");
    let pred_bytes = shape.len() as u64 * args.preds.element_size();
    let bytes = 2 * (pred_bytes + label_bytes) + shape.len() as u64 * 4;
    let mut line = format!(
        "{{\"adapter\":{adapter:?},\"driver\":{driver:?},\"shape\":{:?},\"activation\":\"{:?}\",\"labels\":\"{:?}\",\"preds\":\"{:?}\",\"dice_ce\":{},\
         \"forward_ms\":{forward_ms:.3},\"forward_backward_ms\":{forward_backward_ms:.3},\
         \"host_to_host_ms\":{:.3},\"bytes\":{bytes},\"gbps\":{:.3},\"loss\":{}",
        args.shape,
        args.activation,
        args.labels,
        args.preds,
        args.dice_ce,
        median(h2h),
        bytes as f64 / forward_backward_ms / 1e6,
        out.loss
    );
    if args.check {
        let oracle = cpu::compute(&shape, &config, &logits, targets, Gradient::With)?;
        let g = out.gradient.as_deref().unwrap_or_default();
        let max_diff = g
            .iter()
            .zip(oracle.gradient.as_deref().unwrap_or_default())
            .map(|(a, b)| (*a as f64 - b).abs())
            .fold(0.0, f64::max);
        line += &format!(
            ",\"oracle_loss\":{},\"max_grad_abs_diff\":{max_diff:e}",
            oracle.loss
        );
    }
    if args.floor && args.preds == PredFormat::F32 {
        match floor_ms(&ctx, &shape, args.activation, &preds, &grad, args.iters)? {
            Some([fwd, fwd_bwd, copy]) => {
                let copy_gbps = 2.0 * pred_bytes as f64 / copy / 1e6;
                line += &format!(
                    ",\"floor_forward_ms\":{fwd:.3},\"floor_forward_backward_ms\":{fwd_bwd:.3},\
                     \"copy_ms\":{copy:.3},\"copy_gbps\":{copy_gbps:.3},\"of_floor\":{:.3},\
                     \"of_copy\":{:.3}",
                    fwd_bwd / forward_backward_ms,
                    bytes as f64 / forward_backward_ms / 1e6 / copy_gbps
                );
            }
            None => eprintln!(
                "--floor: needs C <= 8, a spatial size that is a multiple of 4 and predictions \
                 within one storage binding"
            ),
        }
    }
    println!("{line}}}");
    Ok(())
}
