//! softdice's soft-Dice loss (and its fused cross-entropy term) as a differentiable Burn
//! loss. On Burn's wgpu backend the loss and its analytic gradient come from softdice's fused
//! kernels, run on the tensors' own buffers in the device's queue (with Burn's `fusion` on or
//! off, with or without autodiff); on every other device (CUDA, ROCm, NdArray, Flex, a wgpu
//! device Burn initialised itself) the same loss is composed of Burn tensor operations on the
//! tensors' own device, differentiated by Burn's autodiff; softdice's f64 reference on the
//! host is the opt-in oracle. Made as burn-nn's losses are:
//!
//! ```
//! # use burn::tensor::{Device, Int, Tensor};
//! # use softdice_burn::{DiceLoss, DiceLossConfig};
//! # fn setup(device: &Device) -> DiceLoss {
//! // At start-up, before the model's first tensor on `device` (Device::default() included):
//! let loss_fn = DiceLossConfig::monai().init(device);
//! # loss_fn }
//! # fn step(loss_fn: &DiceLoss, logits: Tensor<4>, labels: Tensor<3, Int>) {
//! // Each step: logits [B, C, spatial…], integer labels [B, spatial…].
//! let loss = loss_fn.forward(logits, labels);
//! let grads = loss.backward();
//! # }
//! ```
//!
//! [`DiceLossConfig`] is a Burn `Config` holding softdice's [`DiceConfig`] (every option and
//! preset of MONAI, smp and nnU-Net); [`DiceLoss`] is a parameterless `Module`, a field of a
//! model like any layer. Against burn-nn's `CrossEntropyLoss`:
//!
//! | burn-nn | softdice-burn |
//! |---|---|
//! | `CrossEntropyLossConfig::new().init(&device)` | `DiceLossConfig::monai().init(&device)`, or any preset |
//! | `forward(logits [N, C], targets [N])` | `forward(logits [B, C, spatial…], labels [B, spatial…])` |
//! | `with_weights(Some(w))` | `dice.class_weights` (Dice), `dice.cross_entropy.class_weights` (CE) |
//! | `with_pad_tokens(Some(vec![i]))` | `dice.ignore_index = Some(i)` |
//! | `with_smoothing(Some(a))` | `dice.cross_entropy.label_smoothing = a` |
//! | `with_logits(false)` | `dice.activation = Activation::None` |
//! | `burn::nn::loss::Reduction` | `softdice::Reduction` in `dice.reduction` (import one of the two by path: the names collide) |
//! | panics on a bad config at `init` | the same; `try_init` returns [`Error`] |
//! | runs on any backend (Burn ops) | fused kernels on wgpu, Burn ops ([`LossPath::Composed`]) elsewhere |
//!
//! The fused path needs the wgpu device's initialisation to go through this crate:
//! [`DiceLossConfig::init`] (or [`init_device`]) takes over a Burn wgpu device that has no
//! tensor yet; [`wgpu_device`] and [`new_wgpu_device`] make one. A device Burn initialised
//! first takes the composed path, with one `log` warning: Burn does not hand out the wgpu
//! device of a device it initialised itself. [`DiceLoss::path`] says which path a loss takes
//! on a device ([`LossPath`]), [`path_calls`] how many calls each path ran.
//!
//! The gradient is a vector-Jacobian product: the upstream gradient of the loss output is
//! taken into the kernels' per-cell coefficients, so any use of the loss in a larger graph
//! (`0.3 · dice + ce`, a weighted sum of `Reduction::None`'s elements) gets its exact
//! gradient. Statistics merge across devices ([`DiceLoss::sums`], [`DiceSums::merge`],
//! [`DiceLoss::forward_merged`]) for data-parallel training with any collective.
#![warn(missing_docs)]

mod autodiff;
mod composed;
mod config;
mod cube;
mod device;
mod error;
mod host;
mod inputs;
mod loss;
pub mod metrics;
mod ops;
mod spec;

pub use config::DiceLossConfig;
pub use cube::{PathCalls, path_calls};
pub use device::{init_device, is_fused, new_wgpu_device, wgpu_device};
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
