//! Soft-Dice loss and its analytic gradient, computed on the GPU by fused WGSL compute shaders
//! on [wgpu], with an f64 CPU reference beside every kernel.
//!
//! Per class `c`, with `y` the one-hot of the integer labels (built in registers, never
//! stored): `I = sum p y`, `P = sum p`, `Y = sum y`, and
//! `dice = (2 I + smooth_nr) / (P + Y + smooth_dr)` (or, with Tversky weights `alpha`, `beta`,
//! `(2 I + smooth_nr) / (2 (I + alpha (P - I) + beta (Y - I)) + smooth_dr)`). The loss is
//! `-ln(dice)`, `1 - dice` or `-dice`, reduced over classes (and samples); [`DiceConfig`] holds
//! every option of MONAI, segmentation_models_pytorch and nnU-Net, with presets named after the
//! Python call they match.
//!
//! The kernels run in one compute pass: `dice_partials` (activation, one-hot masking and
//! per-subgroup or per-workgroup sums, one read of the inputs), `dice_reduce` (fixed-order
//! fold, so results are bit-identical run to run), `dice_finalize` (loss and gradient
//! coefficients, then the reduced loss) and `dice_gradient` (d loss / d input, through softmax
//! or sigmoid); with softmax over more than 8 classes `dice_normaliser` first stores each
//! pixel's softmax normaliser. [`cpu`] mirrors them in f64.
//!
//! "The seed notebook" is the PyTorch notebook this crate started from: its
//! `SoftDiceLoss(num_classes=C, eps=1e-5)` computes `-ln((2 Σp·y + ε) / (Σp + Σy + ε))` per
//! class on probabilities, sums over batch and space, averages over classes, and prints
//! `Loss: 1.8738912343978882` on its example ([`DiceConfig::seed`]; the quickstart example
//! checks that number on the GPU).
//!
//! Two layers: [`DiceContext::compute`] takes host slices and returns a [`DiceOutput`];
//! [`DicePlan::record`] records into the caller's encoder over the caller's buffers and leaves
//! loss, dice, class sums and gradient on the GPU. The per-class sums ([`ClassSums`]) can be
//! merged across devices before the loss is finished ([`DicePlan::record_sums`],
//! [`DicePlan::record_loss`], [`cpu::dice_finalize`]).
//!
//! # Example
//! ```
//! use softdice::{DiceConfig, DiceContext, Gradient, Shape, Targets};
//!
//! # fn main() -> Result<(), softdice::DiceError> {
//! let shape = Shape::new(&[1, 3, 4, 4])?; // [B, C, H, W]
//! let logits: Vec<f32> = (0..shape.len()).map(|i| (i % 7) as f32 * 0.3).collect();
//! let labels: Vec<u32> = (0..shape.pixels()).map(|i| (i % 3) as u32).collect();
//! let config = DiceConfig::monai(); // DiceLoss(to_onehot_y=True, softmax=True)
//!
//! let ctx = DiceContext::new()?;
//! let gpu = ctx.compute(&shape, &config, &logits, Targets::Labels(&labels), Gradient::With)?;
//! let cpu = softdice::cpu::compute(&shape, &config, &logits, Targets::Labels(&labels), Gradient::With)?;
//! assert!((gpu.loss as f64 - cpu.loss).abs() < 1e-5);
//! println!("loss {} dice {:?}", gpu.loss, gpu.dice);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod config;
pub mod cpu;
mod cross_entropy;
mod error;
mod gpu;
mod index;
pub mod metrics;
mod output;
mod params;
mod presets;
pub mod shaders;
mod shape;
mod validate;

pub use config::{
    Activation, ClassSelection, DiceConfig, EmptyClass, GeneralizedWeight, LossForm, Reduction,
    Scope, WeightMode,
};
pub use cross_entropy::{CeDivisor, CeMean, CrossEntropy, CrossEntropyKind};
pub use error::DiceError;
pub use gpu::{
    describe_adapter, BufferRegion, ContextOptions, DeviceLimits, DiceContext, DicePlan, GpuInputs,
    Recorded, RecordedCounts, RECORDING_SLOTS,
};
pub use index::{mcc, SimilarityIndex};
pub use output::{ClassSums, DiceOutput, Finalized, Gradient, SumCell};
pub use shape::{PredFormat, Shape, TargetForm, TargetKind, Targets};
/// The wgpu this crate is built on: use it to make devices and buffers of the matching version.
pub use wgpu;

// The README's and the docs' examples compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
#[cfg(doctest)]
#[doc = include_str!("../docs/options.md")]
struct OptionsDoctests;
