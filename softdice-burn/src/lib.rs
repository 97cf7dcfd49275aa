//! softdice's soft-Dice loss (and its fused cross-entropy term) as a differentiable Burn
//! loss. On Burn's wgpu backend the loss and its analytic gradient come from softdice's fused
//! kernels, run on the tensors' own buffers in the device's queue (with Burn's `fusion` on or
//! off, with or without autodiff); on every other backend softdice's f64 reference computes
//! the same values on the host. One line in a trainer:
//!
//! ```
//! # use burn::tensor::{Int, Tensor};
//! # use softdice_burn::{DiceConfig, DiceLoss};
//! # fn step(logits: Tensor<4>, labels: Tensor<3, Int>) {
//! let loss = DiceLoss::new(DiceConfig::monai()).forward(logits, labels);
//! let grads = loss.backward();
//! # }
//! ```
//!
//! The fused path needs the wgpu device to be made through this crate ([`wgpu_device`],
//! [`new_wgpu_device`]): Burn does not hand out the wgpu device of a device it initialised
//! itself. [`loss_path`] says which path a device takes, [`fused_calls`] how many calls ran
//! the kernels.
//!
//! The gradient is a vector-Jacobian product: the upstream gradient of the loss output is
//! taken into the kernels' per-cell coefficients, so any use of the loss in a larger graph
//! (`0.3 · dice + ce`, a weighted sum of `Reduction::None`'s elements) gets its exact
//! gradient. Statistics merge across devices ([`DiceLoss::sums`], [`DiceSums::merge`],
//! [`DiceLoss::forward_merged`]) for data-parallel training with any collective.
#![warn(missing_docs)]

mod autodiff;
mod cube;
mod device;
mod error;
mod host;
mod loss;
mod ops;
mod spec;

pub use cube::fused_calls;
pub use device::{is_fused, new_wgpu_device, wgpu_device};
pub use error::Error;
pub use loss::{DiceLoss, DiceSums, LossPath, loss_path};
pub use ops::SoftDiceOps;
pub use softdice::{self, DiceConfig};
pub use spec::DiceSpec;

#[cfg(feature = "ndarray")]
#[allow(deprecated)]
impl SoftDiceOps for burn::backend::NdArray {}
#[cfg(feature = "flex")]
impl SoftDiceOps for burn::backend::Flex {}
