//! MONAI's `DiceMetric` and `MeanIoU` over confusion counts.

use super::counts::{Confusion, ConfusionCounts};
use super::reduction::{reduce, MetricReduction, Reduced};
use crate::error::DiceError;

/// The classes a metric scores: every class, or all but class 0 (`include_background=False`,
/// which keeps a lone class, as MONAI's `ignore_background`).
pub(crate) fn scored_classes(classes: usize, include_background: bool) -> std::ops::Range<usize> {
    if include_background || classes == 1 {
        0..classes
    } else {
        1..classes
    }
}

/// A cell with its class channel zeroed (MONAI's in-range `ignore_index` for `MeanIoU` and
/// `ConfusionMatrixMetric`): nothing predicted or labelled in it, every pixel a true negative.
pub(crate) fn zeroed(cell: Confusion) -> Confusion {
    Confusion {
        tn: cell.positives() + cell.negatives(),
        ..Confusion::default()
    }
}

/// The scored cells, `[B, scored classes]` row-major, and the scored class count; the ignored
/// class (MONAI's in-range `ignore_index`) zeroed.
pub(crate) fn scored_cells(
    counts: &ConfusionCounts,
    include_background: bool,
    ignore_class: Option<usize>,
) -> (Vec<Confusion>, usize) {
    let classes = scored_classes(counts.classes(), include_background);
    let n = classes.len();
    let mut cells = Vec::with_capacity(counts.batch() * n);
    for b in 0..counts.batch() {
        for c in classes.clone() {
            let cell = counts.cell(b, c);
            cells.push(if ignore_class == Some(c) {
                zeroed(cell)
            } else {
                cell
            });
        }
    }
    (cells, n)
}

/// The scored cells' values from a per-cell formula, and the scored class count.
pub(crate) fn per_cell(
    counts: &ConfusionCounts,
    include_background: bool,
    ignore_class: Option<usize>,
    score: impl Fn(Confusion) -> f64,
) -> (Vec<f64>, usize) {
    let (cells, n) = scored_cells(counts, include_background, ignore_class);
    (cells.into_iter().map(score).collect(), n)
}

/// MONAI's `DiceMetric`: per sample and class `2 TP / (2 TP + FP + FN)` where the class is
/// labelled; where it is not, NaN (`ignore_empty`, the default, so the cell is left out of the
/// means) or 1 if nothing is predicted either and 0 otherwise. MONAI's `ignore_index` (any
/// value) is the ignore label the counts were taken with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiceMetric {
    /// Score class 0 too (`include_background`, default true).
    pub include_background: bool,
    /// Empty ground truth gives NaN (`ignore_empty`, default true).
    pub ignore_empty: bool,
    /// How cells are reduced (`reduction`, default mean).
    pub reduction: MetricReduction,
}

impl DiceMetric {
    /// `monai.metrics.DiceMetric()`'s defaults.
    pub fn monai() -> Self {
        Self {
            include_background: true,
            ignore_empty: true,
            reduction: MetricReduction::Mean,
        }
    }

    /// The metric of `counts`, reduced.
    pub fn compute(&self, counts: &ConfusionCounts) -> Result<Reduced, DiceError> {
        let ignore_empty = self.ignore_empty;
        let (cells, n) = per_cell(counts, self.include_background, None, |k| {
            let (y, p) = (k.positives() as f64, k.predicted() as f64);
            if y > 0.0 {
                2.0 * k.tp as f64 / (y + p)
            } else if ignore_empty {
                f64::NAN
            } else if p <= 0.0 {
                1.0
            } else {
                0.0
            }
        });
        Ok(reduce(&cells, counts.batch(), n, 1, self.reduction))
    }
}

/// MONAI's `MeanIoU`: per sample and class `TP / (TP + FP + FN)`; with `ignore_empty` (the
/// default) NaN where the class is not labelled, otherwise 1 where the union is empty.
/// MONAI's `ignore_index` outside the classes is the counts' ignore label; inside them it
/// zeroes that class ([`MeanIoU::ignore_class`]), as MONAI does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeanIoU {
    /// Score class 0 too (`include_background`, default true).
    pub include_background: bool,
    /// Empty ground truth gives NaN (`ignore_empty`, default true).
    pub ignore_empty: bool,
    /// How cells are reduced (`reduction`, default mean).
    pub reduction: MetricReduction,
    /// MONAI's in-range `ignore_index`: this class's channel is zeroed before scoring.
    pub ignore_class: Option<usize>,
}

impl MeanIoU {
    /// `monai.metrics.MeanIoU()`'s defaults.
    pub fn monai() -> Self {
        Self {
            include_background: true,
            ignore_empty: true,
            reduction: MetricReduction::Mean,
            ignore_class: None,
        }
    }

    /// With MONAI's in-range `ignore_index` (a class whose channel is zeroed).
    pub fn ignore_class(self, ignore_class: Option<usize>) -> Self {
        Self {
            ignore_class,
            ..self
        }
    }

    /// The metric of `counts`, reduced.
    pub fn compute(&self, counts: &ConfusionCounts) -> Result<Reduced, DiceError> {
        check_class(self.ignore_class, counts.classes())?;
        let ignore_empty = self.ignore_empty;
        let (cells, n) = per_cell(counts, self.include_background, self.ignore_class, |k| {
            let union = (k.tp + k.fp + k.fn_) as f64;
            if ignore_empty && k.positives() == 0 {
                f64::NAN
            } else if union > 0.0 {
                k.tp as f64 / union
            } else {
                1.0
            }
        });
        Ok(reduce(&cells, counts.batch(), n, 1, self.reduction))
    }
}

/// The builders of the options `DiceMetric` and `MeanIoU` share, written once.
macro_rules! score_options {
    ($t:ty) => {
        impl $t {
            /// With `include_background` set.
            pub fn include_background(self, include_background: bool) -> Self {
                Self {
                    include_background,
                    ..self
                }
            }

            /// With `ignore_empty` set.
            pub fn ignore_empty(self, ignore_empty: bool) -> Self {
                Self {
                    ignore_empty,
                    ..self
                }
            }

            /// With `reduction` set.
            pub fn reduction(self, reduction: MetricReduction) -> Self {
                Self { reduction, ..self }
            }
        }
    };
}

score_options!(DiceMetric);
score_options!(MeanIoU);

/// An error where an ignored class is not one of the counts' classes.
pub(crate) fn check_class(class: Option<usize>, classes: usize) -> Result<(), DiceError> {
    match class {
        Some(c) if c >= classes => Err(DiceError::ClassOutOfRange {
            class: c as u32,
            n_classes: classes,
        }),
        _ => Ok(()),
    }
}
