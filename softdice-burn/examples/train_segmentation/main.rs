//! Trains a small U-Net on synthetic shapes with softdice-burn's Dice loss on Burn's wgpu
//! backend, with a progress bar per epoch, a per-class Dice table on the validation set, and
//! two pictures: `loss_curve.png` and `predictions.png`.
//!
//! ```text
//! cargo run --release -p softdice-burn --example train_segmentation -- [--out DIR]
//!     [--epochs N] [--steps N] [--batch N] [--size PX] [--width CH] [--lr LR]
//!     [--loss dice|dice-ce|composed] [--seed N] [--train N] [--val N]
//! ```
//!
//! `--loss dice` (default) is `DiceLossConfig::monai().init(&device)`, `dice-ce` MONAI's
//! `DiceCELoss`, `composed` the same Dice written in Burn tensor ops (the comparison).

mod composed;
mod data;
mod plots;
mod unet;

use std::path::PathBuf;
use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::TensorData;
use indicatif::{ProgressBar, ProgressStyle};
use softdice_burn::DiceLossConfig;

use data::{CLASS_NAMES, CLASSES};
use unet::UNet;

/// The run's settings (the defaults are the README's run).
struct Args {
    out: PathBuf,
    epochs: usize,
    steps: usize,
    batch: usize,
    size: usize,
    width: usize,
    lr: f64,
    loss: String,
    seed: u64,
    train: u64,
    val: u64,
}

impl Args {
    fn parse() -> Self {
        let mut a = Args {
            out: PathBuf::from("target/train_segmentation"),
            epochs: 10,
            steps: 12,
            batch: 8,
            size: 40,
            width: 8,
            lr: 1e-2,
            loss: "dice".into(),
            seed: 7,
            train: 1024,
            val: 32,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
            match flag.as_str() {
                "--out" => a.out = value().into(),
                "--epochs" => a.epochs = value().parse().expect("--epochs N"),
                "--steps" => a.steps = value().parse().expect("--steps N"),
                "--batch" => a.batch = value().parse().expect("--batch N"),
                "--size" => a.size = value().parse().expect("--size PX (a multiple of 4)"),
                "--width" => a.width = value().parse().expect("--width CH"),
                "--lr" => a.lr = value().parse().expect("--lr LR"),
                "--loss" => a.loss = value(),
                "--seed" => a.seed = value().parse().expect("--seed N"),
                "--train" => a.train = value().parse().expect("--train N"),
                "--val" => a.val = value().parse().expect("--val N"),
                other => panic!("unknown flag {other} (see the file's header)"),
            }
        }
        assert!(a.size.is_multiple_of(4), "--size must be a multiple of 4");
        a
    }
}

/// Hard predictions `[B, H, W]` of class logits.
fn predict(logits: Tensor<4>) -> Vec<i32> {
    logits
        .argmax(1)
        .into_data()
        .iter::<i64>()
        .map(|c| c as i32)
        .collect()
}

/// Per-class true positives, predicted and true pixel counts.
#[derive(Clone, Default)]
struct Counts([[u64; 3]; CLASSES]);

impl Counts {
    fn add(&mut self, pred: &[i32], truth: &[i32]) {
        for (&p, &t) in pred.iter().zip(truth) {
            self.0[p as usize][1] += 1;
            self.0[t as usize][2] += 1;
            if p == t {
                self.0[p as usize][0] += 1;
            }
        }
    }

    /// Dice of class c (1 where the class is absent from both).
    fn dice(&self, c: usize) -> f64 {
        let [tp, p, t] = self.0[c];
        if p + t == 0 {
            1.0
        } else {
            2.0 * tp as f64 / (p + t) as f64
        }
    }

    /// Mean Dice over the foreground classes.
    fn mean_foreground(&self) -> f64 {
        (1..CLASSES).map(|c| self.dice(c)).sum::<f64>() / (CLASSES - 1) as f64
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let device = softdice_burn::new_wgpu_device()?;
    // The loss as burn-nn's are made: a Config, initialised on the device.
    let loss_fn = match args.loss.as_str() {
        "dice" | "composed" => DiceLossConfig::monai(),
        "dice-ce" => DiceLossConfig::monai_dice_ce(),
        other => panic!("--loss dice|dice-ce|composed, not {other}"),
    }
    .try_init(&device)?;
    let path = loss_fn.path(&device)?;
    println!(
        "device: {:?} ({path:?} loss path); loss: {}; {} epochs × {} steps of {} images {}²",
        device, args.loss, args.epochs, args.steps, args.batch, args.size
    );
    device.seed(args.seed);
    let train_device = device.clone().autodiff();
    let mut model = UNet::new(1, CLASSES, args.width, &train_device);
    let mut optim = AdamConfig::new().init();
    let size = args.size;
    let upload = |seeds: std::ops::Range<u64>, device: &Device| {
        let (images, labels, n) = data::batch(seeds, size);
        let x = Tensor::<4>::from_data(TensorData::new(images, [n, 1, size, size]), device);
        let y =
            Tensor::<3, Int>::from_data(TensorData::new(labels.clone(), [n, size, size]), device);
        (x, y, labels)
    };
    // The validation split: its own seeds, the same for every run.
    let val_first = 1 << 40;
    let (mut train_loss, mut val_dice) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let mut final_counts = Counts::default();
    for epoch in 1..=args.epochs {
        let bar = ProgressBar::new(args.steps as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix:>2} [{bar:30}] {pos}/{len} {msg}")?
                .progress_chars("=> "),
        );
        bar.set_prefix(epoch.to_string());
        let (mut loss_sum, mut counts) = (0.0, Counts::default());
        let epoch_start = Instant::now();
        for step in 0..args.steps {
            // Training images cycle through `--train` seeds, shuffled by epoch.
            let first =
                ((epoch * args.steps + step) as u64 * args.batch as u64 * 7919) % args.train;
            let (x, y, labels) = upload(first..first + args.batch as u64, &train_device);
            let logits = model.forward(x);
            let loss = match args.loss.as_str() {
                "composed" => composed::composed_dice(logits.clone(), y),
                _ => loss_fn.forward(logits.clone(), y),
            };
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(args.lr, model, grads);
            let value: f32 = loss.into_scalar();
            loss_sum += value as f64;
            counts.add(&predict(logits.detach()), &labels);
            let rate = (step + 1) as f64 / epoch_start.elapsed().as_secs_f64();
            bar.set_message(format!(
                "loss {:.4}  running Dice {:.3}  {rate:.2} steps/s",
                loss_sum / (step + 1) as f64,
                counts.mean_foreground()
            ));
            bar.inc(1);
        }
        bar.finish();
        // Validation, in batches.
        let mut counts = Counts::default();
        for first in (0..args.val).step_by(args.batch) {
            let last = (first + args.batch as u64).min(args.val);
            let (x, _, labels) = upload(val_first + first..val_first + last, &device);
            let logits = model.valid().forward(x);
            counts.add(&predict(logits), &labels);
        }
        train_loss.push(loss_sum / args.steps as f64);
        val_dice.push(counts.mean_foreground());
        println!(
            "epoch {epoch:>2}: training loss {:.4}, validation mean Dice {:.4} ({:.0} s)",
            train_loss[epoch - 1],
            val_dice[epoch - 1],
            started.elapsed().as_secs_f64()
        );
        final_counts = counts;
    }
    println!("\nvalidation Dice per class ({} images):", args.val);
    println!("  {:<12} {:>7}", "class", "Dice");
    for (c, name) in CLASS_NAMES.iter().enumerate() {
        println!("  {name:<12} {:>7.4}", final_counts.dice(c));
    }
    println!(
        "  {:<12} {:>7.4}",
        "mean (fg)",
        final_counts.mean_foreground()
    );
    println!(
        "trained in {:.0} s ({:.2} steps/s)",
        started.elapsed().as_secs_f64(),
        (args.epochs * args.steps) as f64 / started.elapsed().as_secs_f64()
    );

    let text = plots::load_font();
    let curve = args.out.join("loss_curve.png");
    plots::loss_curve(&curve, &train_loss, &val_dice, text)?;
    let shown = 4.min(args.val);
    let (x, _, labels) = upload(val_first..val_first + shown, &device);
    let images: Vec<f32> = x.clone().into_data().iter::<f32>().collect();
    let pred = predict(model.valid().forward(x));
    let px = size * size;
    let rows: Vec<_> = (0..shown as usize)
        .map(|k| {
            let r = k * px..(k + 1) * px;
            (
                images[r.clone()].to_vec(),
                labels[r.clone()].to_vec(),
                pred[r].to_vec(),
            )
        })
        .collect();
    let preds = args.out.join("predictions.png");
    plots::predictions(&preds, &rows, size, text)?;
    println!("wrote {} and {}", curve.display(), preds.display());
    Ok(())
}
