//! The Rust alternative a user has today: soft Dice composed from Burn tensor ops on Burn's
//! wgpu backend (softmax, one-hot by `equal` against `arange` on the device, products,
//! `sum_dims`, autodiff backward), timed the way `examples/throughput.rs` times softdice, on
//! the same adapter, with softdice's loss computed in the same run as a check.
//!
//! `cargo run --release -- --shape 4,8,512,512 [--iters N]` (from tools/burn_peer)

use softdice::Gradient;
use softdice_support::inputs;

use std::time::Instant;

use burn::tensor::{activation::softmax, Device, DeviceKind, Int, Tensor, TensorData};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut shape = vec![4usize, 8, 512, 512];
    let mut iters = 10usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--shape" => {
                shape = args
                    .next()
                    .expect("--shape B,C,D1,D2[,D3]")
                    .split(',')
                    .map(|d| d.parse().expect("a dimension"))
                    .collect()
            }
            "--iters" => iters = args.next().expect("--iters N").parse().expect("a count"),
            other => panic!("unknown flag {other}"),
        }
    }
    assert_eq!(shape.len(), 4, "this peer handles [B, C, H, W]");
    let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
    let len = b * c * h * w;
    let (logits_host, labels_host) = inputs::logits_and_labels(len, b * h * w, c);

    let device = Device::wgpu(DeviceKind::DefaultDevice).autodiff();
    let upload = |device: &Device| {
        let logits =
            Tensor::<4>::from_data(TensorData::new(logits_host.clone(), [b, c, h, w]), device)
                .require_grad();
        let labels_i: Vec<i32> = labels_host.iter().map(|&l| l as i32).collect();
        let labels = Tensor::<3, Int>::from_data(TensorData::new(labels_i, [b, h, w]), device);
        (logits, labels)
    };
    let (logits, labels) = upload(&device);
    // The seed's loss: -ln((2 I + eps) / (P + Y + eps)) per class over batch and space, mean.
    let loss_of = |logits: &Tensor<4>, labels: &Tensor<3, Int>| {
        let classes = Tensor::<1, Int>::arange(0..c as i64, &device)
            .reshape([1, c, 1, 1])
            .expand([b, c, h, w]);
        let onehot = labels
            .clone()
            .unsqueeze_dim::<4>(1)
            .expand([b, c, h, w])
            .equal(classes)
            .float();
        let p = softmax(logits.clone(), 1);
        let inter = (p.clone() * onehot.clone()).sum_dims(&[0, 2, 3]);
        let sums = p.sum_dims(&[0, 2, 3]) + onehot.sum_dims(&[0, 2, 3]);
        let dice = inter
            .mul_scalar(2.0)
            .add_scalar(1e-5)
            .div(sums.add_scalar(1e-5));
        dice.log().neg().mean()
    };
    let time = |backward: bool| {
        let mut samples = Vec::new();
        for i in 0..iters + 2 {
            let t = Instant::now();
            let loss = loss_of(&logits, &labels);
            if backward {
                let grads = loss.backward();
                let g = logits.grad(&grads).expect("logits require grad");
                drop(g);
            }
            device.sync().expect("sync");
            if i >= 2 {
                samples.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        median(samples)
    };
    let forward_ms = time(false);
    let forward_backward_ms = time(true);

    let mut h2h = Vec::new();
    let mut loss_value = 0.0f32;
    for _ in 0..iters.clamp(1, 5) {
        let t = Instant::now();
        let (logits, labels) = upload(&device);
        let loss = loss_of(&logits, &labels);
        let grads = loss.backward();
        let g = logits.grad(&grads).expect("grad").into_data();
        loss_value = loss.into_data().try_to_vec::<f32>().expect("f32 loss")[0];
        assert_eq!(g.num_elements(), len);
        h2h.push(t.elapsed().as_secs_f64() * 1e3);
    }

    let shape_sd = softdice::Shape::new(&shape).expect("shape");
    let config = softdice::DiceConfig {
        activation: softdice::Activation::Softmax,
        ..softdice::DiceConfig::seed()
    };
    let ctx = softdice::DiceContext::new().expect("softdice context");
    let sd = ctx
        .compute(
            &shape_sd,
            &config,
            &logits_host,
            softdice::Targets::Labels(&labels_host),
            Gradient::Without,
        )
        .expect("softdice");
    let bytes = 2 * (len as u64 * 4 + (b * h * w) as u64 * 4) + len as u64 * 4;
    println!(
        "{{\"peer\":\"burn 0.22 wgpu autodiff\",\"adapter\":{:?},\"shape\":{:?},\"forward_ms\":{forward_ms:.3},\
         \"forward_backward_ms\":{forward_backward_ms:.3},\"host_to_host_ms\":{:.3},\"bytes\":{bytes},\
         \"gbps\":{:.3},\"loss\":{loss_value},\"softdice_loss\":{},\"loss_rel_diff\":{:e}}}",
        ctx.adapter_info().name.clone(),
        shape,
        median(h2h),
        bytes as f64 / forward_backward_ms / 1e6,
        sd.loss,
        ((loss_value - sd.loss) / sd.loss).abs()
    );
}
