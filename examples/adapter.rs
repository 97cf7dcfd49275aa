//! Prints the adapter softdice would use, or exits 1 where there is none. With `--backends`,
//! prints each backend that has an adapter (`vulkan`, `gl`, `metal`, `dx12`), one a line,
//! with the adapters it found. `scripts/test.sh` runs it to decide whether the Vulkan driver
//! must be installed and which backends the GPU suite runs on. With `--capacity`, prints the
//! default adapter's limits and the largest predictions a plan accepts on it, with its own
//! limits and with WebGPU's defaults (the README's table). With `--subgroups`, prints the
//! default adapter's subgroup sizes as `min max` (`0 0` without subgroup operations), which
//! `scripts/test.sh` reads to run the GPU suite at every width lavapipe offers.
//!
//! `cargo run --example adapter [-- --backends | --capacity | --subgroups]`

use softdice::{
    describe_adapter, ContextOptions, DeviceLimits, DiceConfig, DiceContext, Shape, TargetKind,
};

/// The largest `[1, 4, n]` f32 predictions (bytes) a plan accepts with these targets.
fn largest_predictions(ctx: &DiceContext, targets: TargetKind) -> u64 {
    let accepts = |n: u64| {
        let shape = Shape::new(&[1, 4, n as usize]).unwrap();
        ctx.plan(&shape, &DiceConfig::monai(), targets).is_ok()
    };
    let (mut lo, mut hi) = (1u64, 1u64 << 32);
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if accepts(mid) {
            lo = mid
        } else {
            hi = mid
        }
    }
    lo * 4 * 4
}

fn capacity() {
    for (name, limits) in [
        ("adapter's limits", DeviceLimits::Adapter),
        ("WebGPU defaults", DeviceLimits::WebGpu),
    ] {
        let options = ContextOptions {
            limits,
            ..Default::default()
        };
        let ctx = DiceContext::with_options(&options).expect("an adapter");
        let l = ctx.device().limits();
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        println!(
            "{} with the {name}: {} storage buffers per stage, {:.0} MiB per binding, \
             {:.0} MiB per buffer; largest f32 predictions: {:.0} MiB with u8 labels, \
             {:.0} MiB with dense targets",
            describe_adapter(ctx.adapter_info()),
            l.max_storage_buffers_per_shader_stage,
            mib(l.max_storage_buffer_binding_size),
            mib(l.max_buffer_size),
            mib(largest_predictions(&ctx, TargetKind::LabelsU8)),
            mib(largest_predictions(&ctx, TargetKind::Dense)),
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--capacity") {
        capacity();
        return;
    }
    if std::env::args().any(|a| a == "--backends") {
        let backends = [
            ("vulkan", wgpu::Backends::VULKAN),
            ("gl", wgpu::Backends::GL),
            ("metal", wgpu::Backends::METAL),
            ("dx12", wgpu::Backends::DX12),
        ];
        for (name, backend) in backends {
            let options = ContextOptions {
                backends: Some(backend),
                ..Default::default()
            };
            if let Ok(ctx) = DiceContext::with_options(&options) {
                println!("{name}\t{}", describe_adapter(ctx.adapter_info()));
            }
        }
        return;
    }
    match DiceContext::new() {
        Ok(ctx) if std::env::args().any(|a| a == "--subgroups") => {
            let info = ctx.adapter_info();
            if ctx.device().features().contains(wgpu::Features::SUBGROUP) {
                println!("{} {}", info.subgroup_min_size, info.subgroup_max_size);
            } else {
                println!("0 0");
            }
        }
        Ok(ctx) => println!("{}", describe_adapter(ctx.adapter_info())),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
