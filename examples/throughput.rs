//! Throughput of the fused kernels with the data already on the GPU, one JSON line.
//!
//! `cargo run --release --example throughput -- --shape 4,8,512,512 [--activation softmax]
//!  [--labels u8|u16|u32] [--preds f32|f16] [--iters N] [--check]`
//!
//! Keys: `adapter`, `shape`, `activation`, `labels`, `forward_ms` and `forward_backward_ms`
//! (medians over `--iters`, each a submit + wait on resident data), `host_to_host_ms` (upload,
//! compute, read back the loss and gradient), `bytes` (moved by forward + backward: predictions
//! and labels read by both passes, the gradient written once), `gbps`, `loss`; with `--check`
//! also `oracle_loss` and `max_grad_abs_diff` against the f64 CPU oracle.

#[path = "common/inputs.rs"]
mod inputs;

use std::time::Instant;

use softdice::{
    cpu, Activation, BufferRegion, DiceConfig, DiceContext, GpuInputs, PredFormat, Shape,
    TargetKind, Targets,
};

struct Args {
    shape: Vec<usize>,
    activation: Activation,
    labels: TargetKind,
    preds: PredFormat,
    iters: usize,
    check: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        shape: vec![4, 8, 512, 512],
        activation: Activation::Softmax,
        labels: TargetKind::LabelsU32,
        preds: PredFormat::F32,
        iters: 20,
        check: false,
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
            "--check" => args.check = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let shape = Shape::new(&args.shape)?;
    let config = DiceConfig {
        activation: args.activation,
        ..DiceConfig::seed()
    };
    let ctx = DiceContext::new()?;
    let adapter = ctx.adapter_info().name.clone();
    let (logits, labels) = inputs::logits_and_labels(shape.len(), shape.pixels(), shape.classes());
    let (u8s, u16s): (Vec<u8>, Vec<u16>) = labels.iter().map(|&l| (l as u8, l as u16)).unzip();
    let targets = match args.labels {
        TargetKind::LabelsU8 => Targets::LabelsU8(&u8s),
        TargetKind::LabelsU16 => Targets::LabelsU16(&u16s),
        _ => Targets::Labels(&labels),
    };
    let label_bytes = shape.pixels() as u64 * args.labels.element_size();
    let device = ctx.device();
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
        let mut samples = Vec::new();
        for i in 0..args.iters + 2 {
            let t = Instant::now();
            let mut encoder = device.create_command_encoder(&Default::default());
            plan.record(&ctx, &mut encoder, &inputs)?;
            ctx.queue().submit([encoder.finish()]);
            device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| softdice::DiceError::Gpu(e.to_string()))?;
            if i >= 2 {
                samples.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        Ok(median(samples))
    };
    let forward_ms = time(false)?;
    let forward_backward_ms = time(true)?;

    let mut h2h = Vec::new();
    let mut out = None;
    for _ in 0..args.iters.clamp(1, 5) {
        let t = Instant::now();
        out = Some(ctx.compute(&shape, &config, &logits, targets, true)?);
        h2h.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let out = out.expect("at least one run");
    let pred_bytes = shape.len() as u64 * args.preds.element_size();
    let bytes = 2 * (pred_bytes + label_bytes) + shape.len() as u64 * 4;
    let mut line = format!(
        "{{\"adapter\":{adapter:?},\"shape\":{:?},\"activation\":\"{:?}\",\"labels\":\"{:?}\",\"preds\":\"{:?}\",\
         \"forward_ms\":{forward_ms:.3},\"forward_backward_ms\":{forward_backward_ms:.3},\
         \"host_to_host_ms\":{:.3},\"bytes\":{bytes},\"gbps\":{:.3},\"loss\":{}",
        args.shape,
        args.activation,
        args.labels,
        args.preds,
        median(h2h),
        bytes as f64 / forward_backward_ms / 1e6,
        out.loss
    );
    if args.check {
        let oracle = cpu::compute(&shape, &config, &logits, targets, true)?;
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
    println!("{line}}}");
    Ok(())
}
