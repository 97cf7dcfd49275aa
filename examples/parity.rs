//! Parity runner: every case of a reference fixture file (PyTorch, MONAI, smp, nnU-Net numbers)
//! on the GPU and on the CPU oracle.
//!
//! `cargo run --release --example parity -- tests/fixtures/reference_cases.json`
//!
//! Prints one line per case (id, worst relative loss error, worst absolute gradient error,
//! pass or fail), then `N passed, M failed`; exits 1 if any case failed. A case whose call
//! cannot be mapped to a softdice config fails. Where no adapter exists only the CPU oracle
//! runs, and the runner says so.

use softdice_support::cases::{self, run_case, Fixture};

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        format!(
            "{}/tests/fixtures/reference_cases.json",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    let fixture = match Fixture::load(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let ctx = match softdice::DiceContext::new() {
        Ok(ctx) => {
            let info = ctx.adapter_info();
            println!("adapter: {} ({:?})", info.name, info.backend);
            Some(ctx)
        }
        Err(e) => {
            println!("no GPU adapter ({e}); CPU oracle only");
            None
        }
    };
    println!(
        "tolerances: loss relative {:e}; gradient {:e} + {:e} * |want|",
        cases::LOSS_REL,
        cases::GRAD_ABS,
        cases::GRAD_REL
    );
    let (mut passed, mut failed) = (0, 0);
    for case in &fixture.cases {
        let o = run_case(&fixture, case, ctx.as_ref());
        println!(
            "{:<28} loss_rel_err {:>9.2e}  grad_abs_err {:>9.2e}  {}  ({})",
            o.id,
            o.loss_err,
            o.grad_err,
            if o.pass { "pass" } else { "FAIL" },
            o.note
        );
        if o.pass {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
