//! A long run on one context: `--steps` record/submit/read cycles of one plan (loss, dice and
//! gradient on resident buffers), then `--host-calls` calls of the host-slice API. Every step
//! must give the same bits as the first (loss and dice each step; the gradient, read back, at
//! the first and last), and over each phase, from the end of its warm-up (a tenth of the
//! steps, at most 100; the host API's first call) to its end, the process's resident memory
//! may grow by at most `--max-growth-mib` in all and wgpu's allocator (where the backend
//! reports one) not at all. Prints one JSON line; exits 1 on a difference or growth past the
//! bound.
//!
//! `cargo run --release --example soak [-- --steps 10000 --host-calls 2000 --shape 2,4,64,64]`

use std::time::Instant;

use softdice::wgpu;
use softdice::{BufferRegion, DiceConfig, DiceContext, GpuInputs, Gradient, Shape, Targets};
use softdice_support::memory::rss_mib;
use softdice_support::{inputs, readback};

struct Args {
    steps: usize,
    host_calls: usize,
    shape: Vec<usize>,
    max_growth_mib: f64,
}

fn args() -> Args {
    let mut out = Args {
        steps: 10_000,
        host_calls: 2_000,
        shape: vec![2, 4, 64, 64],
        max_growth_mib: 16.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--steps" => out.steps = value.parse().expect("--steps N"),
            "--host-calls" => out.host_calls = value.parse().expect("--host-calls N"),
            "--shape" => {
                out.shape = value
                    .split(',')
                    .map(|d| d.parse().expect("--shape B,C,..."))
                    .collect()
            }
            "--max-growth-mib" => out.max_growth_mib = value.parse().expect("--max-growth-mib X"),
            other => panic!("unknown flag {other}"),
        }
    }
    out
}

/// wgpu's allocated device memory in MiB, where the backend keeps an allocator report.
fn allocated_mib(ctx: &DiceContext) -> Option<f64> {
    let report = ctx.device().generate_allocator_report()?;
    Some(report.total_allocated_bytes as f64 / (1 << 20) as f64)
}

/// The bits of a gradient buffer.
fn read_bits(ctx: &DiceContext, buffer: &wgpu::Buffer) -> Vec<u32> {
    bits(&readback::read_buffer(ctx, buffer))
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn main() -> Result<(), softdice::DiceError> {
    let args = args();
    let shape = Shape::new(&args.shape)?;
    let config = DiceConfig::monai_dice_ce();
    let ctx = DiceContext::new()?;
    let (logits, labels) = inputs::logits_and_labels(shape.len(), shape.pixels(), shape.classes());
    let targets = Targets::Labels(&labels);
    let preds = ctx.upload_preds(&logits);
    let target_buf = ctx.upload_targets(targets);
    let grad = ctx.gradient_buffer(&shape);
    let mut plan = ctx.plan(&shape, &config, targets.kind())?;
    let inputs = GpuInputs {
        preds: BufferRegion::whole(&preds),
        targets: BufferRegion::whole(&target_buf),
        gradient: Some(BufferRegion::whole(&grad)),
    };
    let warm_up = (args.steps / 10).clamp(1, 100);
    let mut first = None;
    let mut first_grad = Vec::new();
    let mut differing_steps = 0usize;
    let (mut rss_start, mut alloc_start) = (0.0, None);
    let started = Instant::now();
    for step in 0..args.steps {
        let mut encoder = ctx.device().create_command_encoder(&Default::default());
        let recorded = plan.record(&ctx, &mut encoder, &inputs)?;
        ctx.queue().submit([encoder.finish()]);
        let out = plan.read_results(&ctx, recorded)?;
        let now = (out.loss.to_bits(), bits(&out.dice));
        match &first {
            None => {
                first = Some(now);
                first_grad = read_bits(&ctx, &grad);
            }
            Some(f) if *f != now => differing_steps += 1,
            Some(_) => {}
        }
        if step + 1 == warm_up {
            (rss_start, alloc_start) = (rss_mib(), allocated_mib(&ctx));
        }
    }
    let plan_ms = started.elapsed().as_secs_f64() * 1e3 / args.steps as f64;
    let grad_same = read_bits(&ctx, &grad) == first_grad;
    let (rss_plan, alloc_plan) = (rss_mib(), allocated_mib(&ctx));

    let host_first = ctx.compute(&shape, &config, &logits, targets, Gradient::With)?;
    let (rss_host, alloc_host) = (rss_mib(), allocated_mib(&ctx));
    let host_bits = |o: &softdice::DiceOutput<f32>| {
        (
            o.loss.to_bits(),
            bits(&o.dice),
            bits(o.gradient.as_deref().unwrap_or_default()),
        )
    };
    let want = host_bits(&host_first);
    let mut differing_calls = 0usize;
    let started = Instant::now();
    for _ in 0..args.host_calls {
        let out = ctx.compute(&shape, &config, &logits, targets, Gradient::With)?;
        if host_bits(&out) != want {
            differing_calls += 1;
        }
    }
    let host_ms = started.elapsed().as_secs_f64() * 1e3 / args.host_calls.max(1) as f64;
    let (rss_end, alloc_end) = (rss_mib(), allocated_mib(&ctx));

    let growth = (rss_plan - rss_start) + (rss_end - rss_host);
    let phase = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
    let alloc_growth = phase(alloc_start, alloc_plan)
        .zip(phase(alloc_host, alloc_end))
        .map(|(a, b)| a + b);
    let json = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v:.2}"));
    println!(
        "{{\"adapter\":\"{}\",\"shape\":{:?},\"steps\":{},\"host_calls\":{},\
         \"plan_step_ms\":{plan_ms:.3},\"host_call_ms\":{host_ms:.3},\
         \"rss_mib\":[{rss_start:.1},{rss_plan:.1},{rss_host:.1},{rss_end:.1}],\
         \"rss_growth_mib\":{growth:.2},\"allocated_mib\":[{},{},{},{}],\
         \"allocated_growth_mib\":{},\
         \"differing_steps\":{differing_steps},\"gradient_same\":{grad_same},\
         \"differing_host_calls\":{differing_calls}}}",
        softdice::describe_adapter(ctx.adapter_info()),
        args.shape,
        args.steps,
        args.host_calls,
        json(alloc_start),
        json(alloc_plan),
        json(alloc_host),
        json(alloc_end),
        json(alloc_growth),
    );
    let grew = growth > args.max_growth_mib || alloc_growth.is_some_and(|g| g > 0.0);
    if differing_steps > 0 || !grad_same || differing_calls > 0 || grew {
        eprintln!("soak: FAILED (bits differ, or memory grew past the bound)");
        std::process::exit(1);
    }
    Ok(())
}
