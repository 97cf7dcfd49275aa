//! Prints the adapter softdice would use, or exits 1 where there is none. `scripts/test.sh`
//! runs it to decide whether the Vulkan driver must be installed.
//!
//! `cargo run --example adapter`

fn main() {
    match softdice::DiceContext::new() {
        Ok(ctx) => {
            let info = ctx.adapter_info();
            println!("{} ({:?}, {:?})", info.name, info.device_type, info.backend);
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
