//! A small U-Net: three levels (two 3×3 conv + batch norm + ReLU blocks each), max-pool down,
//! transposed-conv up, skip connections by concatenation, a 1×1 head to class logits.

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

/// Two 3×3 convolutions, each followed by batch norm and ReLU.
#[derive(Module, Debug)]
pub struct Block {
    conv1: Conv2d,
    norm1: BatchNorm,
    conv2: Conv2d,
    norm2: BatchNorm,
    relu: Relu,
}

impl Block {
    fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        let conv = |c_in| {
            Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        Self {
            conv1: conv(c_in),
            norm1: BatchNormConfig::new(c_out).with_momentum(0.3).init(device),
            conv2: conv(c_out),
            norm2: BatchNormConfig::new(c_out).with_momentum(0.3).init(device),
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.relu.forward(self.norm1.forward(self.conv1.forward(x)));
        self.relu.forward(self.norm2.forward(self.conv2.forward(x)))
    }
}

/// The U-Net: `[B, in, H, W]` → class logits `[B, classes, H, W]` (H and W divisible by 4).
#[derive(Module, Debug)]
pub struct UNet {
    enc1: Block,
    enc2: Block,
    bottom: Block,
    up2: ConvTranspose2d,
    dec2: Block,
    up1: ConvTranspose2d,
    dec1: Block,
    head: Conv2d,
    pool: MaxPool2d,
}

impl UNet {
    /// `width` channels at full resolution, doubling per level.
    pub fn new(c_in: usize, classes: usize, width: usize, device: &Device) -> Self {
        let (w1, w2, w3) = (width, 2 * width, 4 * width);
        let up = |c_in, c_out| {
            ConvTranspose2dConfig::new([c_in, c_out], [2, 2])
                .with_stride([2, 2])
                .init(device)
        };
        Self {
            enc1: Block::new(c_in, w1, device),
            enc2: Block::new(w1, w2, device),
            bottom: Block::new(w2, w3, device),
            up2: up(w3, w2),
            dec2: Block::new(2 * w2, w2, device),
            up1: up(w2, w1),
            dec1: Block::new(2 * w1, w1, device),
            head: Conv2dConfig::new([w1, classes], [1, 1]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        }
    }

    /// Class logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let e1 = self.enc1.forward(x);
        let e2 = self.enc2.forward(self.pool.forward(e1.clone()));
        let b = self.bottom.forward(self.pool.forward(e2.clone()));
        let d2 = self
            .dec2
            .forward(Tensor::cat(vec![self.up2.forward(b), e2], 1));
        let d1 = self
            .dec1
            .forward(Tensor::cat(vec![self.up1.forward(d2), e1], 1));
        self.head.forward(d1)
    }
}
