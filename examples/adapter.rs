//! Prints the adapter softdice would use, or exits 1 where there is none. With `--backends`,
//! prints each backend that has an adapter (`vulkan`, `gl`, `metal`, `dx12`), one a line,
//! with the adapters it found. `scripts/test.sh` runs it to decide whether the Vulkan driver
//! must be installed and which backends the GPU suite runs on.
//!
//! `cargo run --example adapter [-- --backends]`

use softdice::{describe_adapter, ContextOptions, DiceContext};

fn main() {
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
        Ok(ctx) => println!("{}", describe_adapter(ctx.adapter_info())),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
