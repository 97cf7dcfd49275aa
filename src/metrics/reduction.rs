//! `monai.metrics.utils.do_metric_reduction`: reductions over samples and classes that skip
//! NaN cells and count the cells they kept.

use crate::error::DiceError;

/// How per-(sample, class) values are reduced, as MONAI's `MetricReduction`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MetricReduction {
    /// Every cell, `[B, C]`.
    None,
    /// The mean over classes of each sample, then the mean over the samples that have one
    /// (MONAI's default): a scalar.
    #[default]
    Mean,
    /// The sum of every kept cell: a scalar.
    Sum,
    /// Per class, the mean over samples: `[C]`.
    MeanBatch,
    /// Per class, the sum over samples: `[C]`.
    SumBatch,
    /// Per sample, the mean over classes: `[B]`.
    MeanChannel,
    /// Per sample, the sum over classes: `[B]`.
    SumChannel,
}

impl MetricReduction {
    /// From MONAI's name (`"mean"`, `"sum"`, `"mean_batch"`, `"sum_batch"`, `"mean_channel"`,
    /// `"sum_channel"`, `"none"`).
    pub fn from_name(name: &str) -> Result<Self, DiceError> {
        Ok(match name {
            "none" => Self::None,
            "mean" => Self::Mean,
            "sum" => Self::Sum,
            "mean_batch" => Self::MeanBatch,
            "sum_batch" => Self::SumBatch,
            "mean_channel" => Self::MeanChannel,
            "sum_channel" => Self::SumChannel,
            _ => {
                return Err(DiceError::InvalidConfig(format!(
                    "unknown metric reduction {name:?} (MONAI's: none, mean, sum, mean_batch, \
                     sum_batch, mean_channel, sum_channel)"
                )))
            }
        })
    }
}

/// A reduced metric: its values (row-major over `shape`) and, for each, how many cells were
/// not NaN (MONAI's `not_nans`, returned with `get_not_nans=True`).
#[derive(Clone, Debug, PartialEq)]
pub struct Reduced {
    /// The values, row-major over `shape`.
    pub values: Vec<f64>,
    /// How many cells were not NaN, per value (MONAI's `not_nans`; for `None`, 1 or 0).
    pub not_nans: Vec<f64>,
    /// As MONAI's: `[B, C]` (none), `[C]` (per class), `[B]` (per sample), `[1]` (mean) or `[]`
    /// (sum); `ConfusionMatrixMetric` without `compute_sample` gives `[1]` for both scalars.
    pub shape: Vec<usize>,
}

/// Reduces `cells` (`[batch, classes, k]`, row-major) as `do_metric_reduction`: NaN cells are
/// zeroed and not counted; a mean over no kept cell is 0.
pub(crate) fn reduce(
    cells: &[f64],
    batch: usize,
    classes: usize,
    k: usize,
    reduction: MetricReduction,
) -> Reduced {
    let at = |b: usize, c: usize, j: usize| cells[(b * classes + c) * k + j];
    let kept = |v: f64| if v.is_nan() { (0.0, 0.0) } else { (v, 1.0) };
    let trailing = |mut dims: Vec<usize>| {
        if k > 1 {
            dims.push(k);
        }
        dims
    };
    // Sum and kept count along classes (per sample) or samples (per class).
    let over_classes = |b: usize, j: usize| {
        (0..classes).fold((0.0, 0.0), |(s, n), c| {
            let (v, m) = kept(at(b, c, j));
            (s + v, n + m)
        })
    };
    let over_batch = |c: usize, j: usize| {
        (0..batch).fold((0.0, 0.0), |(s, n), b| {
            let (v, m) = kept(at(b, c, j));
            (s + v, n + m)
        })
    };
    let mean = |(s, n): (f64, f64)| if n > 0.0 { s / n } else { 0.0 };
    let mut values = Vec::new();
    let mut not_nans = Vec::new();
    let shape = match reduction {
        MetricReduction::None => {
            for &v in cells {
                values.push(v);
                not_nans.push(if v.is_nan() { 0.0 } else { 1.0 });
            }
            trailing(vec![batch, classes])
        }
        MetricReduction::Mean => {
            for j in 0..k {
                // Each sample's class mean, then the mean over samples with a kept cell.
                let (mut s, mut n) = (0.0, 0.0);
                for b in 0..batch {
                    let row = over_classes(b, j);
                    s += mean(row);
                    n += if row.1 > 0.0 { 1.0 } else { 0.0 };
                }
                values.push(mean((s, n)));
                not_nans.push(n);
            }
            // MONAI's mean keeps one dimension (its zero fill is a 1-element tensor).
            if k > 1 {
                vec![k]
            } else {
                vec![1]
            }
        }
        MetricReduction::Sum => {
            for j in 0..k {
                let (s, n) = (0..batch).fold((0.0, 0.0), |(s, n), b| {
                    let row = over_classes(b, j);
                    (s + row.0, n + row.1)
                });
                values.push(s);
                not_nans.push(n);
            }
            trailing(vec![])
        }
        MetricReduction::MeanBatch | MetricReduction::SumBatch => {
            for c in 0..classes {
                for j in 0..k {
                    let col = over_batch(c, j);
                    let is_mean = reduction == MetricReduction::MeanBatch;
                    values.push(if is_mean { mean(col) } else { col.0 });
                    not_nans.push(col.1);
                }
            }
            trailing(vec![classes])
        }
        MetricReduction::MeanChannel | MetricReduction::SumChannel => {
            for b in 0..batch {
                for j in 0..k {
                    let row = over_classes(b, j);
                    let is_mean = reduction == MetricReduction::MeanChannel;
                    values.push(if is_mean { mean(row) } else { row.0 });
                    not_nans.push(row.1);
                }
            }
            trailing(vec![batch])
        }
    };
    Reduced {
        values,
        not_nans,
        shape,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_cells_are_skipped_and_counted_out() {
        let nan = f64::NAN;
        // [2 samples, 3 classes]; sample 1 has no kept cell.
        let cells = [0.5, nan, 1.0, nan, nan, nan];
        let r = reduce(&cells, 2, 3, 1, MetricReduction::Mean);
        assert_eq!((r.values, r.not_nans), (vec![0.75], vec![1.0]));
        let r = reduce(&cells, 2, 3, 1, MetricReduction::MeanBatch);
        assert_eq!(r.values, vec![0.5, 0.0, 1.0]);
        assert_eq!(r.not_nans, vec![1.0, 0.0, 1.0]);
        let r = reduce(&cells, 2, 3, 1, MetricReduction::SumChannel);
        assert_eq!((r.values, r.shape), (vec![1.5, 0.0], vec![2]));
        let r = reduce(&cells, 2, 3, 1, MetricReduction::Sum);
        assert_eq!((r.values, r.not_nans), (vec![1.5], vec![2.0]));
        assert!(MetricReduction::from_name("average").is_err());
    }
}
