//! The loss composed of Burn tensor operations: softdice's steps (class sums, finalize, the
//! loss output) written as Burn ops on the tensors' own device, so that CUDA, ROCm, any
//! other cubecl runtime, NdArray, Flex and a wgpu device Burn initialised itself compute the
//! loss where the tensors are, without a host round trip. The gradient is Burn's autodiff of
//! these operations; the formulas are those of softdice's f64 reference (`softdice::cpu`),
//! which every test checks this path against.

use std::sync::atomic::{AtomicU64, Ordering};

use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Bool, DType, FloatDType, Int, Tensor, TensorData};
use softdice::{
    Activation, DiceConfig, EmptyClass, GeneralizedWeight, LossForm, Reduction, Scope,
    SimilarityIndex,
};

mod ce;

use crate::spec::{DiceSpec, STATUS_COUNTS, SUM_TERMS};
use ce::{ce_term, ce_terms};

/// Loss calls composed here (forward and merged finish), for [`crate::path_calls`].
static CALLS: AtomicU64 = AtomicU64::new(0);

/// How many loss calls took the composed path.
pub(crate) fn calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// One call's statistics on its device: the class sums `[rows, C, SUM_TERMS]` (in the graph
/// of the predictions), the pixel count `[1]` and the status counts `[STATUS_COUNTS]`.
pub(crate) struct Sums {
    pub(crate) cells: Tensor<3>,
    pub(crate) pixels: Tensor<1>,
    pub(crate) counts: Tensor<1>,
}

impl Sums {
    /// The flat state softdice's backends exchange: the sums, the pixel count, the counts,
    /// out of the graph. The sums of bad input are zeros, as the kernels leave them.
    pub(crate) fn state(&self) -> Tensor<1> {
        let n = self.cells.shape().num_elements();
        let cells = self.cells.clone().detach().reshape([n]);
        let cells = cells.mask_fill(poisoned(&self.counts).expand([n]), 0.0);
        Tensor::cat(vec![cells, self.pixels.clone(), self.counts.clone()], 0)
    }

    /// The statistics of a flat state (merged across shards), cut back into its parts.
    pub(crate) fn of_state(spec: &DiceSpec, state: Tensor<1>) -> Self {
        let (rows, n_c) = (spec.rows(), spec.shape.classes());
        let n = spec.cells() * SUM_TERMS;
        Self {
            cells: state
                .clone()
                .narrow(0, 0, n)
                .reshape([rows, n_c, SUM_TERMS]),
            pixels: state.clone().narrow(0, n, 1),
            counts: state.narrow(0, n + 1, STATUS_COUNTS),
        }
    }

    /// Sum term `k` (a column of [`SUM_TERMS`]) of every cell, as `[rows, C]`.
    fn column(&self, k: usize) -> Tensor<2> {
        let [rows, n_c, _] = self.cells.dims();
        self.cells.clone().narrow(2, k, 1).reshape([rows, n_c])
    }

    /// `merged`'s values with this shard's gradient: the merged sums plus this shard's live
    /// sums minus their own values (exactly zero), so that the loss formed from them is the
    /// whole batch's and its gradient flows into this shard's predictions.
    pub(crate) fn merged_into(self, merged: Sums) -> Sums {
        let own = self.cells.clone() - self.cells.detach();
        Sums {
            cells: merged.cells + own,
            ..merged
        }
    }
}

/// Whether a call's counts voided it (bad labels or non-finite input), as a `[1]` mask.
fn poisoned(counts: &Tensor<1>) -> Tensor<1, Bool> {
    counts.clone().sum().greater_elem(0.0)
}

/// The statistics of `preds` `[B, C, spatial…]` against `labels` `[B, spatial…]`.
pub(crate) fn sums<const D: usize, const DL: usize>(
    spec: &DiceSpec,
    preds: Tensor<D>,
    labels: Tensor<DL, Int>,
) -> Sums {
    let config = &spec.config;
    let (n_b, n_c, n_s) = (
        spec.shape.batch(),
        spec.shape.classes(),
        spec.shape.spatial(),
    );
    let device = preds.device();
    let (x, labels) = flat_inputs(preds, labels, [n_b, n_c, n_s]);
    let counts = status(config, n_c, &x, &labels);

    let classes = Tensor::<1, Int>::arange(0..n_c as i64, (&device, labels.dtype()))
        .reshape([1, n_c, 1])
        .expand([n_b, n_c, n_s]);
    let y = labels
        .clone()
        .unsqueeze_dim::<3>(1)
        .expand([n_b, n_c, n_s])
        .equal(classes)
        .float();
    // Ignored pixels leave every sum, after the activation saw all their classes.
    let kept = config.ignore_index.map(|i| {
        labels
            .not_equal_elem(i as i64)
            .float()
            .unsqueeze_dim::<3>(1)
            .expand([n_b, n_c, n_s])
    });
    let keep = |t: Tensor<3>| match &kept {
        Some(k) => t * k.clone(),
        None => t,
    };

    let p = match config.activation {
        Activation::Softmax => softmax(x.clone(), 1),
        Activation::Sigmoid => sigmoid(x.clone()),
        Activation::None => x.clone(),
    };
    let a = if config.soft_l1() {
        (p.clone() - y.clone()).abs()
    } else {
        p.clone() * y.clone()
    };
    // One-hot targets: y² = y.
    let p_sum = if config.squared { p.clone() * p } else { p };
    let (x1, x2) = match &config.cross_entropy {
        Some(ce) => ce_terms(ce, x, y.clone()),
        None => (y.zeros_like(), y.zeros_like()),
    };
    let row = |t: Tensor<3>| rows(config.scope, keep(t));
    let cells = Tensor::stack::<3>(vec![row(a), row(p_sum), row(y), row(x1), row(x2)], 2);
    let pixels = Tensor::from_data(TensorData::new(vec![(n_b * n_s) as f32], [1]), &device);
    Sums {
        cells,
        pixels,
        counts,
    }
}

/// Predictions `[B, C, S]` in f32 and labels `[B, S]`: f16/bf16 predictions are summed in f32,
/// as the kernels do (autodiff casts the gradient back to the predictions' dtype).
pub(crate) fn flat_inputs<const D: usize, const DL: usize>(
    preds: Tensor<D>,
    labels: Tensor<DL, Int>,
    [n_b, n_c, n_s]: [usize; 3],
) -> (Tensor<3>, Tensor<2, Int>) {
    let x: Tensor<3> = preds.reshape([n_b, n_c, n_s]);
    let x = match x.dtype() {
        DType::F32 => x,
        _ => x.cast(FloatDType::F32),
    };
    (x, labels.reshape([n_b, n_s]))
}

/// Labels out of range (negative ones included) that are not `ignore`.
pub(crate) fn bad_labels<const D: usize>(
    labels: &Tensor<D, Int>,
    n_c: usize,
    ignore: Option<u32>,
) -> Tensor<D, Bool> {
    let out_of_range = labels
        .clone()
        .lower_elem(0)
        .bool_or(labels.clone().greater_equal_elem(n_c as i64));
    match ignore {
        Some(i) => out_of_range.bool_and(labels.clone().not_equal_elem(i as i64)),
        None => out_of_range,
    }
}

/// Labels out of range that are not the ignore index, and non-finite predictions: the
/// kernels' two status counts, as floats (a merge sums them).
fn status(config: &DiceConfig, n_c: usize, x: &Tensor<3>, labels: &Tensor<2, Int>) -> Tensor<1> {
    let bad = bad_labels(labels, n_c, config.ignore_index);
    let non_finite = x.clone().detach().is_finite().bool_not();
    Tensor::cat(vec![bad.float().sum(), non_finite.float().sum()], 0)
}

/// `[B, C, S]` summed into the loss's rows `[rows, C]`: over space, and over the batch too for
/// [`Scope::Batch`].
fn rows(scope: Scope, t: Tensor<3>) -> Tensor<2> {
    let [n_b, n_c, _] = t.dims();
    let per_sample: Tensor<2> = t.sum_dim(2).reshape([n_b, n_c]);
    match scope {
        Scope::PerSample => per_sample,
        Scope::Batch => per_sample.sum_dim(0),
    }
}

/// A `[1, C]` row of per-class constants.
fn class_row(values: impl Iterator<Item = f64>, n_c: usize, like: &Tensor<2>) -> Tensor<2> {
    let values: Vec<f32> = values.map(|v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, [1, n_c]), &like.device())
}

/// The loss of each dice value, as `softdice::cpu`'s `loss_of`.
fn loss_of(config: &DiceConfig, d: Tensor<2>) -> Tensor<2> {
    match config.loss_form {
        LossForm::NegLog if config.log_clamp > 0.0 => -d.clamp_min(config.log_clamp).log(),
        LossForm::NegLog => -d.log(),
        LossForm::NegDice => -d,
        LossForm::OneMinusDice => -d + 1.0,
    }
}

/// A denominator clamped below at `denominator_clamp` (0: not clamped).
fn clamped(config: &DiceConfig, den: Tensor<2>) -> Tensor<2> {
    match config.denominator_clamp {
        c if c > 0.0 => den.clamp_min(c),
        _ => den,
    }
}

/// The loss output formed from `sums` (this call's, or merged across shards): the loss `[1]`,
/// or the loss elements `[rows · C]` for `Reduction::None` (the caller selects the returned
/// columns). NaN where the counts say the input was bad.
pub(crate) fn finish(spec: &DiceSpec, sums: Sums) -> Tensor<1> {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let config = &spec.config;
    let (rows, n_c) = (spec.rows(), spec.shape.classes());
    let (a, p, y) = (sums.column(0), sums.column(1), sums.column(2));
    // The targets' sums carry no gradient.
    let y = y.detach();
    let i = if config.soft_l1() {
        (p.clone() + y.clone() - a) * 0.5
    } else {
        a
    };
    // 1 for each class the loss includes, 0 for the rest: the one mask both forms apply.
    let selection = config
        .selected_classes(n_c)
        .into_iter()
        .map(|s| f64::from(u8::from(s)));
    let selection = class_row(selection, n_c, &y).expand([rows, n_c]);
    let elements = match config.generalized {
        None => per_class(config, selection, i, p, y.clone(), &sums.pixels),
        Some(w) => generalized(config, w, selection, i, p, y.clone()),
    };
    let values = match config.reduction {
        Reduction::None => {
            let elements = elements.reshape([rows * n_c]);
            // The Dice term's weight scales the elements' gradient, not their values (as
            // softdice's finalize has it).
            let l = config.lambda_dice;
            if l == 1.0 {
                elements
            } else {
                elements.clone() * l + (elements.clone() - elements * l).detach()
            }
        }
        Reduction::Mean | Reduction::Sum => {
            let mut loss = dice_term(config, elements, rows, n_c);
            if let Some(ce) = &config.cross_entropy {
                let spatial = spec.shape.spatial();
                loss = loss + ce_term(config, ce, &sums, y, spatial) * ce.lambda;
            }
            loss
        }
    };
    // Bad input voids the call as the kernels do: a NaN loss and, through the product, a NaN
    // gradient (a mask would leave a zero gradient, a silent no-op step).
    let n = values.dims()[0];
    let void = values
        .ones_like()
        .mask_fill(poisoned(&sums.counts).expand([n]), f32::NAN);
    values * void
}

/// `λ_dice · (m Σ elements)^γ`; nothing where `λ_dice = 0` (a Dice of the raw input may be
/// NaN, and 0 · NaN would not vanish).
fn dice_term(config: &DiceConfig, elements: Tensor<2>, rows: usize, n_c: usize) -> Tensor<1> {
    let device = elements.device();
    if config.lambda_dice == 0.0 {
        return Tensor::zeros([1], &device);
    }
    let loss = elements.sum() * config.mean_factor(rows, n_c) as f32;
    let g = config.loss_exponent;
    let loss = if g == 1.0 { loss } else { loss.powf_scalar(g) };
    loss * config.lambda_dice
}

/// Each cell's weighted loss element `w_c · loss(dice)` (0 where not selected).
fn per_class(
    config: &DiceConfig,
    selection: Tensor<2>,
    i: Tensor<2>,
    p: Tensor<2>,
    y: Tensor<2>,
    pixels: &Tensor<1>,
) -> Tensor<2> {
    let [rows, n_c] = i.dims();
    let weights = (0..n_c).map(|c| config.class_weight(c) as f64);
    let weights = class_row(weights, n_c, &y).expand([rows, n_c]) * selection;
    let score = match config.index {
        SimilarityIndex::Tversky => tversky(config, i, p, y.clone()),
        SimilarityIndex::Mcc { eps } => {
            // The elements of one row of one class (MCC's N), out of the graph.
            let n = pixels.clone().detach().reshape([1, 1]).expand([rows, n_c]) / rows as f32;
            mcc(eps, i, p, y.clone(), n)
        }
    };
    let l = loss_of(config, score);
    let l = match config.empty_class {
        EmptyClass::ZeroLoss => l.mask_fill(y.lower_equal_elem(0.0), 0.0),
        EmptyClass::Smooth => l,
    };
    l * weights
}

/// The Tversky index in Dice scale of each cell.
fn tversky(config: &DiceConfig, i: Tensor<2>, p: Tensor<2>, y: Tensor<2>) -> Tensor<2> {
    let (alpha, beta) = (config.alpha, config.beta);
    // The Tversky denominator 2 (I + α (P - I) + β (Y - I)) = 2 (k I + α P + β Y).
    let k = 1.0 - alpha - beta;
    let num = i.clone() * 2.0 + config.smooth_nr;
    let den = (i * k + p * alpha + y * beta) * 2.0 + config.smooth_dr;
    num / clamped(config, den)
}

/// The soft MCC of each cell over its row's `n` elements, as `softdice::mcc`.
fn mcc(eps: f32, i: Tensor<2>, p: Tensor<2>, y: Tensor<2>, n: Tensor<2>) -> Tensor<2> {
    let tp = i.clone() + eps;
    let fp = p.clone() - i.clone() + eps;
    let fal = y.clone() - i.clone() + eps;
    let tn = n - p - y + i + eps;
    let num = tp.clone() * tn.clone() - fp.clone() * fal.clone();
    let root =
        ((tp.clone() + fp.clone()) * (tp + fal.clone()) * (tn.clone() + fp) * (tn + fal)).sqrt();
    num / root
}

/// Generalized Dice: one loss a row, in column 0 of its `[rows, C]` elements. Each selected
/// class is weighted by a function of its target volume; an infinite weight (an absent class)
/// is replaced by the row's largest finite weight, as MONAI does.
fn generalized(
    config: &DiceConfig,
    w: GeneralizedWeight,
    selection: Tensor<2>,
    i: Tensor<2>,
    p: Tensor<2>,
    y: Tensor<2>,
) -> Tensor<2> {
    let [rows, n_c] = i.dims();
    let absent = y.clone().equal_elem(0.0);
    let y_safe = y.clone().mask_fill(absent.clone(), 1.0);
    let weights = match w {
        GeneralizedWeight::Square => y_safe.square().recip(),
        GeneralizedWeight::Simple => y_safe.recip(),
        GeneralizedWeight::Uniform => y_safe.ones_like(),
    } * selection.clone();
    let weights = match w {
        GeneralizedWeight::Uniform => weights,
        GeneralizedWeight::Square | GeneralizedWeight::Simple => {
            let w_max = weights
                .clone()
                .mask_fill(absent.clone(), 0.0)
                .max_dim(1)
                .expand([rows, n_c]);
            weights.mask_where(absent, w_max) * selection
        }
    };
    let numer = (weights.clone() * i).sum_dim(1) * 2.0 + config.smooth_nr;
    let denom = (weights * (p + y)).sum_dim(1) + config.smooth_dr;
    let l = loss_of(config, numer / clamped(config, denom));
    if n_c == 1 {
        return l;
    }
    let rest = Tensor::zeros([rows, n_c - 1], &l.device());
    Tensor::cat(vec![l, rest], 1)
}
