//! Segmentation metrics from per-sample, per-class confusion counts, with MONAI 1.6.1's
//! semantics: [`DiceMetric`], [`MeanIoU`] and [`ConfusionMatrixMetric`] (its 17 metrics and
//! their aliases), each reduced as `monai.metrics.utils.do_metric_reduction` reduces
//! ([`MetricReduction`], NaN cells skipped, `not_nans` counted).
//!
//! The counts ([`ConfusionCounts`]) are exact integers, so they are the same bits whatever order
//! they are added in: count shards of a batch on several devices and merge them
//! ([`ConfusionCounts::append_samples`] for batch shards, [`ConfusionCounts::add`] for
//! spatial tiles of the same samples) before any metric is taken. [`crate::cpu::confusion_counts`]
//! counts on the host from the raw predictions (argmax or a threshold, [`Decision`]).
//!
//! ```
//! use softdice::metrics::{Decision, DiceMetric, MetricReduction};
//! use softdice::{cpu, Activation, Shape, Targets};
//!
//! # fn main() -> Result<(), softdice::DiceError> {
//! let shape = Shape::new(&[1, 2, 2, 2])?; // [B, C, H, W]
//! // Logits of class 0 then class 1; the argmax is class 1 at pixels 0 and 1.
//! let logits = [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 0.0, 0.0];
//! let labels = [1u32, 0, 0, 0];
//! let counts = cpu::confusion_counts(&shape, &logits, Targets::Labels(&labels), Decision::Argmax,
//!     Activation::Softmax, None)?;
//! let dice = DiceMetric::monai().include_background(false).reduction(MetricReduction::None);
//! let scores = dice.compute(&counts)?;
//! // Class 1: TP 1, FP 1, FN 0, so Dice 2 / 3.
//! assert!((scores.values[0] - 2.0 / 3.0).abs() < 1e-12);
//! # Ok(())
//! # }
//! ```

mod confusion_metric;
mod counts;
mod decision;
mod reduction;
mod scores;

pub use confusion_metric::{ConfusionMatrixMetric, ConfusionMetric};
pub use counts::{Confusion, ConfusionCounts};
pub use decision::Decision;
pub use reduction::{MetricReduction, Reduced};
pub use scores::{DiceMetric, MeanIoU};
