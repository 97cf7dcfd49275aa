//! The comparison: MONAI's default Dice loss (`DiceLoss(to_onehot_y=True, softmax=True)`:
//! softmax, one-hot labels, per-sample sums, `1 - (2I + 1e-5)/(P + Y + 1e-5)`, mean) written
//! in Burn tensor ops, as a Burn user would without softdice — autodiff differentiates it op
//! by op.

use burn::prelude::*;
use burn::tensor::activation::softmax;

/// The loss of logits `[B, C, H, W]` against labels `[B, H, W]`.
pub fn composed_dice(logits: Tensor<4>, labels: Tensor<3, Int>) -> Tensor<1> {
    let [b, c, h, w] = logits.dims();
    let device = logits.device();
    let classes = Tensor::<1, Int>::arange(0..c as i64, &device)
        .reshape([1, c, 1, 1])
        .expand([b, c, h, w]);
    let onehot = labels
        .unsqueeze_dim::<4>(1)
        .expand([b, c, h, w])
        .equal(classes)
        .float();
    let p = softmax(logits, 1);
    let inter = (p.clone() * onehot.clone()).sum_dims(&[2, 3]);
    let total = p.sum_dims(&[2, 3]) + onehot.sum_dims(&[2, 3]);
    let dice = inter.mul_scalar(2.0).add_scalar(1e-5) / total.add_scalar(1e-5);
    dice.neg().add_scalar(1.0).mean()
}
