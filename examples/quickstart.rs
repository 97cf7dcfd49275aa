//! The seed notebook's check, on the GPU and on the CPU reference.
//!
//! `cargo run --release --example quickstart`
//!
//! Loads the notebook's own input (softmax probabilities of `uniform_()` logits under
//! `torch.manual_seed(42)`, labels 1 on [:50, :50] and 2 on [50:100, 50:100]), computes
//! `SoftDiceLoss(num_classes=3, eps=1e-5)` and its gradient, and prints both paths beside the
//! value the notebook printed.

use softdice::{cpu, DiceConfig, DiceContext, DiceError, Gradient, Shape, Targets};
use softdice_support::seed_npy::read_npy;

const NOTEBOOK_LOSS: f64 = 1.8738912343978882;

/// Lavapipe prints `XDG_RUNTIME_DIR is invalid` without one; give it a private directory.
fn quiet_lavapipe() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join("softdice-xdg-runtime");
    if std::fs::create_dir_all(&dir).is_ok() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        // Single-threaded here, before any other thread exists.
        std::env::set_var("XDG_RUNTIME_DIR", dir);
    }
}

fn main() -> Result<(), DiceError> {
    quiet_lavapipe();
    let shape = Shape::new(&[1, 3, 224, 224])?;
    let probs: Vec<f32> = read_npy("probs.npy");
    let labels: Vec<u8> = read_npy("labels.npy");
    let expected_grad: Vec<f32> = read_npy("grad_wrt_probs.npy");
    let targets = Targets::LabelsU8(&labels);
    let config = DiceConfig::seed();

    let reference = cpu::compute(&shape, &config, &probs, targets, Gradient::With)?;
    let ref_grad = reference.gradient.as_deref().unwrap_or_default();
    println!("notebook printed loss : {NOTEBOOK_LOSS}");
    println!("CPU oracle (f64) loss : {}", reference.loss);

    match DiceContext::new() {
        Ok(ctx) => {
            let info = ctx.adapter_info();
            println!("adapter              : {}", info.name);
            println!(
                "backend              : {:?} ({:?}; WGPU_BACKEND chooses)",
                info.backend, info.device_type
            );
            let gpu = ctx.compute(&shape, &config, &probs, targets, Gradient::With)?;
            let grad = gpu.gradient.as_deref().unwrap_or_default();
            let max_diff = |a: &[f32], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| (*x as f64 - y).abs())
                    .fold(0.0, f64::max)
            };
            println!("GPU loss             : {}", gpu.loss);
            println!(
                "GPU vs notebook      : {:.3e} relative",
                (gpu.loss as f64 - NOTEBOOK_LOSS).abs() / NOTEBOOK_LOSS
            );
            println!("max |grad GPU - CPU| : {:.3e}", max_diff(grad, ref_grad));
            let fixture: Vec<f64> = expected_grad.iter().map(|&v| v as f64).collect();
            println!(
                "max |grad GPU - PyTorch fixture| : {:.3e}",
                max_diff(grad, &fixture)
            );
        }
        Err(e @ DiceError::NoAdapter { .. }) => {
            println!("no GPU adapter: {e}");
            println!("ran the CPU path only");
        }
        Err(e) => return Err(e),
    }
    Ok(())
}
