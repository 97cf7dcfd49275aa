//! Accuracy at scale: sums over tens of millions of elements built to make f32 drift (most
//! probabilities near 1 with small variation, one class with very few pixels) stay within
//! 1e-6 of the f64 oracle.

use softdice::{cpu, DiceConfig, Gradient, Shape, Targets};

use crate::common::*;

/// `[1, 2, H, W]` probabilities: class 0 near 0.99, class 1 the rest, 97 pixels of class 1.
pub fn hard_input(h: usize, w: usize) -> (Shape, Vec<f32>, Vec<u8>) {
    let shape = Shape::new(&[1, 2, h, w]).unwrap();
    let n = shape.spatial();
    let mut rng = Rng::new(77);
    let mut preds = vec![0.0f32; 2 * n];
    for s in 0..n {
        let p0 = 0.99 + 1e-4 * rng.uniform();
        preds[s] = p0;
        preds[n + s] = 1.0 - p0;
    }
    let mut labels = vec![0u8; n];
    for k in 0..97 {
        labels[(k * 7919 * 131) % n] = 1;
    }
    (shape, preds, labels)
}

#[test]
fn hard_sums_over_1e8_elements() {
    let Some(ctx) = ctx() else { return };
    // 2 x 10000 x 5000 f32 = 10^8 elements, 400 MB: three binding pages on lavapipe and GL.
    // Under WebGPU's limits (256 MiB buffers) the largest input they allow, 2 x 10000 x 3355,
    // and one column more is refused.
    let (h, w) = (10000, 5000);
    let w = last_axis_that_fits(ctx, &[1, 2, h], w);
    let (shape, preds, labels) = hard_input(h, w);
    let config = DiceConfig::default();
    let targets = Targets::LabelsU8(&labels);
    let want = cpu::compute(&shape, &config, &preds, targets, Gradient::Without).unwrap();
    let got = ctx
        .compute(&shape, &config, &preds, targets, Gradient::Without)
        .unwrap();
    let rel = (got.loss as f64 - want.loss).abs() / want.loss.abs();
    eprintln!(
        "{} elements: loss rel err {rel:e}, dice {:?} vs {:?}",
        shape.len(),
        got.dice,
        want.dice
    );
    assert!(rel <= 1e-6, "loss {} vs {}: {rel:e}", got.loss, want.loss);
    check_close("dice", &got.dice, &want.dice, 1e-6, 0.0).unwrap();
}
