//! softdice-burn over a long run: `--steps` forward and backward passes of one `DiceLoss`
//! (MONAI's `DiceCELoss`) on Burn's default device with autodiff, fresh tensors of the same
//! data each step as a training loop makes them. Each step's loss and gradient bits must equal
//! the first's, and the process's resident memory may grow by at most `--max-growth-mib` from
//! the end of the warm-up (a tenth of the steps, at most 100) to the end. Prints one JSON line;
//! exits 1 on a difference or growth past the bound.
//!
//! `cargo run --release -p softdice-burn --example soak [-- --steps 2000]`

use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};
use softdice_burn::DiceLossConfig;
use softdice_support::inputs;
use softdice_support::memory::rss_mib;

fn flag(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| {
            v.parse().unwrap_or_else(|_| panic!("{name} X"))
        })
}

fn main() {
    let steps = flag("--steps", 2000.0) as usize;
    let max_growth = flag("--max-growth-mib", 16.0);
    let dims = [2usize, 4, 32, 32];
    let device = Device::default();
    // The loss first, so that it takes over the device's initialisation (the fused path).
    let loss_fn = DiceLossConfig::monai_dice_ce().init(&device);
    let path = loss_fn.path(&device).expect("a device the loss runs on");
    let device = device.autodiff();
    let len = dims.iter().product();
    let (logits, labels) = inputs::logits_and_labels(len, len / dims[1], dims[1]);
    let labels: Vec<i32> = labels.iter().map(|&l| l as i32).collect();
    let label_dims = [dims[0], dims[2], dims[3]];
    let warm_up = (steps / 10).clamp(1, 100);
    let (mut first, mut differing, mut rss_start) = (None, 0usize, 0.0);
    let started = Instant::now();
    for step in 0..steps {
        let x =
            Tensor::<4>::from_data(TensorData::new(logits.clone(), dims), &device).require_grad();
        let y = Tensor::<3, Int>::from_data(TensorData::new(labels.clone(), label_dims), &device);
        let loss = loss_fn.forward(x.clone(), y);
        let grads = loss.backward();
        let grad = x.grad(&grads).expect("logits require grad");
        let bits: Vec<u32> = loss
            .into_data()
            .iter::<f32>()
            .chain(grad.into_data().iter::<f32>())
            .map(f32::to_bits)
            .collect();
        match &first {
            None => first = Some(bits),
            Some(f) if *f != bits => differing += 1,
            Some(_) => {}
        }
        if step + 1 == warm_up {
            rss_start = rss_mib();
        }
    }
    let step_ms = started.elapsed().as_secs_f64() * 1e3 / steps.max(1) as f64;
    let rss_end = rss_mib();
    let growth = rss_end - rss_start;
    println!(
        "{{\"path\":\"{path:?}\",\"shape\":{dims:?},\"steps\":{steps},\"step_ms\":{step_ms:.3},\
         \"rss_mib\":[{rss_start:.1},{rss_end:.1}],\"rss_growth_mib\":{growth:.2},\
         \"differing_steps\":{differing}}}"
    );
    if differing > 0 || growth > max_growth {
        eprintln!("soak: FAILED (bits differ, or memory grew past the bound)");
        std::process::exit(1);
    }
}
