//! MONAI's `ConfusionMatrixMetric`: the 17 metrics of `compute_confusion_matrix_metric`, taken
//! per cell (`compute_sample=True`) or from the reduced counts (the default).

use super::counts::ConfusionCounts;
use super::reduction::{reduce, MetricReduction, Reduced};
use super::scores::{check_class, per_cell, scored_cells};
use crate::error::DiceError;

/// One metric of the confusion matrix, as MONAI names it (every alias of
/// `check_confusion_matrix_metric_name` is taken by [`ConfusionMetric::from_name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfusionMetric {
    /// Sensitivity, recall, hit rate: TP / P.
    Tpr,
    /// Specificity, selectivity: TN / N.
    Tnr,
    /// Precision: TP / (TP + FP).
    Ppv,
    /// Negative predictive value: TN / (TN + FN).
    Npv,
    /// Miss rate: FN / P.
    Fnr,
    /// Fall-out: FP / N.
    Fpr,
    /// False discovery rate: FP / (FP + TP).
    Fdr,
    /// False omission rate: FN / (FN + TN).
    For,
    /// Prevalence threshold: (sqrt(TPR (1 - TNR)) + TNR - 1) / (TPR + TNR - 1).
    Pt,
    /// Threat score, critical success index (IoU): TP / (TP + FN + FP).
    Ts,
    /// Accuracy: (TP + TN) / (P + N).
    Acc,
    /// Balanced accuracy: (TPR + TNR) / 2.
    Ba,
    /// F1 score (Dice): 2 TP / (2 TP + FN + FP).
    F1,
    /// Matthews correlation coefficient.
    Mcc,
    /// Fowlkes–Mallows index: sqrt(PPV TPR).
    Fm,
    /// Informedness (Youden's index): TPR + TNR - 1.
    Bm,
    /// Markedness: PPV + NPV - 1.
    Mk,
}

impl ConfusionMetric {
    /// From any of MONAI's names for it (spaces or underscores, any case).
    pub fn from_name(name: &str) -> Result<Self, DiceError> {
        use ConfusionMetric::*;
        let key = name.replace(' ', "_").to_lowercase();
        Ok(match key.as_str() {
            "sensitivity" | "recall" | "hit_rate" | "true_positive_rate" | "tpr" => Tpr,
            "specificity" | "selectivity" | "true_negative_rate" | "tnr" => Tnr,
            "precision" | "positive_predictive_value" | "ppv" => Ppv,
            "negative_predictive_value" | "npv" => Npv,
            "miss_rate" | "false_negative_rate" | "fnr" => Fnr,
            "fall_out" | "false_positive_rate" | "fpr" => Fpr,
            "false_discovery_rate" | "fdr" => Fdr,
            "false_omission_rate" | "for" => For,
            "prevalence_threshold" | "pt" => Pt,
            "threat_score" | "critical_success_index" | "ts" | "csi" => Ts,
            "accuracy" | "acc" => Acc,
            "balanced_accuracy" | "ba" => Ba,
            "f1_score" | "f1" => F1,
            "matthews_correlation_coefficient" | "mcc" => Mcc,
            "fowlkes_mallows_index" | "fm" => Fm,
            "informedness" | "bookmaker_informedness" | "bm" | "youden_index" | "youden" => Bm,
            "markedness" | "deltap" | "mk" => Mk,
            _ => {
                return Err(DiceError::InvalidConfig(format!(
                    "unknown confusion matrix metric {name:?}"
                )))
            }
        })
    }

    /// The metric of counts `[tp, fp, tn, fn]` (counts or their reduced means), NaN where its
    /// denominator is 0, as MONAI.
    pub fn of(self, [tp, fp, tn, fn_]: [f64; 4]) -> f64 {
        use ConfusionMetric::*;
        let (p, n) = (tp + fn_, fp + tn);
        let ratio = |a: f64, b: f64| if b != 0.0 { a / b } else { f64::NAN };
        let (tpr, tnr) = (ratio(tp, p), ratio(tn, n));
        let (ppv, npv) = (ratio(tp, tp + fp), ratio(tn, tn + fn_));
        match self {
            Tpr => tpr,
            Tnr => tnr,
            Ppv => ppv,
            Npv => npv,
            Fnr => ratio(fn_, p),
            Fpr => ratio(fp, n),
            Fdr => ratio(fp, fp + tp),
            For => ratio(fn_, fn_ + tn),
            Pt => ratio((tpr * (1.0 - tnr)).sqrt() + tnr - 1.0, tpr + tnr - 1.0),
            Ts => ratio(tp, tp + fn_ + fp),
            Acc => ratio(tp + tn, p + n),
            Ba => (tpr + tnr) / 2.0,
            F1 => ratio(2.0 * tp, 2.0 * tp + fn_ + fp),
            Mcc => ratio(
                tp * tn - fp * fn_,
                ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt(),
            ),
            Fm => (ppv * tpr).sqrt(),
            Bm => tpr + tnr - 1.0,
            Mk => ppv + npv - 1.0,
        }
    }
}

/// MONAI's `ConfusionMatrixMetric` for one metric: with `compute_sample` the metric of each
/// (sample, class) cell, then reduced; without (MONAI's default) the counts reduced first
/// (their means or sums), then the metric of the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfusionMatrixMetric {
    /// Which metric.
    pub metric: ConfusionMetric,
    /// Score class 0 too (`include_background`, default true).
    pub include_background: bool,
    /// Take the metric per cell before reducing (`compute_sample`, default false).
    pub compute_sample: bool,
    /// How cells (or counts) are reduced (`reduction`, default mean).
    pub reduction: MetricReduction,
    /// MONAI's in-range `ignore_index`: this class's channel is zeroed first.
    pub ignore_class: Option<usize>,
}

impl ConfusionMatrixMetric {
    /// `monai.metrics.ConfusionMatrixMetric(metric_name=...)`'s defaults for one metric.
    pub fn monai(metric: ConfusionMetric) -> Self {
        Self {
            metric,
            include_background: true,
            compute_sample: false,
            reduction: MetricReduction::Mean,
            ignore_class: None,
        }
    }

    /// The metric of `counts`, reduced. Without `compute_sample` each value is the metric of
    /// one reduced entry of the counts, and `not_nans` is its count of cells (MONAI repeats it
    /// for each of the four counts).
    pub fn compute(&self, counts: &ConfusionCounts) -> Result<Reduced, DiceError> {
        check_class(self.ignore_class, counts.classes())?;
        let metric = self.metric;
        if self.compute_sample {
            let (cells, n) = per_cell(counts, self.include_background, self.ignore_class, |k| {
                metric.of(k.as_array().map(|v| v as f64))
            });
            return Ok(reduce(&cells, counts.batch(), n, 1, self.reduction));
        }
        let (cells, n) = scored_cells(counts, self.include_background, self.ignore_class);
        let flat: Vec<f64> = cells
            .iter()
            .flat_map(|k| k.as_array().map(|v| v as f64))
            .collect();
        let four = reduce(&flat, counts.batch(), n, 4, self.reduction);
        let mut shape = four.shape;
        shape.pop();
        if shape.is_empty() {
            // MONAI's compute_confusion_matrix_metric makes the four reduced counts a row.
            shape.push(1);
        }
        Ok(Reduced {
            values: four
                .values
                .chunks(4)
                .map(|q| metric.of([q[0], q[1], q[2], q[3]]))
                .collect(),
            // The four counts are never NaN, so each keeps the same count: one per value.
            not_nans: four.not_nans.chunks(4).map(|q| q[0]).collect(),
            shape,
        })
    }
}
