//! The CPU reference: the same three steps as the shaders, in the same order and with the same
//! names (`dice_partials` + `dice_reduce` folded into [`dice_sums`], [`dice_finalize`],
//! [`dice_gradient`]), accumulating in f64. It is the oracle of every test, and the path the
//! quickstart takes where no GPU exists.

// Index loops on purpose: they line up with the WGSL loops they mirror.
#![allow(clippy::needless_range_loop)]

use crate::config::{Activation, DiceConfig, EmptyClass, GeneralizedWeight, LossForm, Reduction};
use crate::cross_entropy::{CeDivisor, CrossEntropyKind};
use crate::error::DiceError;
use crate::index::{mcc, SimilarityIndex};
use crate::output::{ClassSums, DiceOutput, Finalized};
use crate::shape::{Shape, TargetKind, Targets};

/// Validates everything the host can see: shape, config, lengths, labels and finiteness.
pub fn validate_inputs(
    shape: &Shape,
    config: &DiceConfig,
    preds: &[f32],
    targets: Targets<'_>,
) -> Result<(), DiceError> {
    config.validate(shape.classes())?;
    config.validate_targets(targets.kind())?;
    if preds.len() != shape.len() {
        return Err(DiceError::LengthMismatch {
            what: "predictions",
            expected: shape.len(),
            got: preds.len(),
        });
    }
    let expected = targets.kind().len_for(shape);
    if targets.len() != expected {
        return Err(DiceError::LengthMismatch {
            what: "targets",
            expected,
            got: targets.len(),
        });
    }
    let non_finite = preds.iter().filter(|v| !v.is_finite()).count();
    if non_finite > 0 {
        return Err(DiceError::NonFinite {
            what: "predictions",
            count: non_finite as u64,
        });
    }
    if let Targets::Dense(dense) = targets {
        let non_finite = dense.iter().filter(|v| !v.is_finite()).count();
        if non_finite > 0 {
            return Err(DiceError::NonFinite {
                what: "targets",
                count: non_finite as u64,
            });
        }
    } else {
        // One pass: the count and the first offending pixel.
        let n_c = shape.classes() as u32;
        let (mut count, mut first) = (0u64, None);
        for i in 0..targets.len() {
            let l = targets.label(i);
            if l >= n_c && Some(l) != config.ignore_index {
                count += 1;
                first = first.or(Some(i));
            }
        }
        if count > 0 {
            return Err(DiceError::LabelOutOfRange {
                count,
                n_classes: shape.classes(),
                first,
            });
        }
    }
    Ok(())
}

/// MONAI's sigmoid focal element and its derivative in `x`, as `focal`:
/// `f = exp(γ ln σ(z)) · B` with `z = -x (2y - 1)` (so `σ(z) = 1 - p_t`) and the binary
/// cross-entropy `B = x - x y - ln σ(x)`; `f' = exp(γ ln σ(z)) (γ σ(-z) (1 - 2y) B + σ(x) - y)`.
fn focal(x: f64, y: f64, gamma: f64) -> [f64; 2] {
    let z = -x * (2.0 * y - 1.0);
    let m = (gamma * log_sigmoid(z)).exp();
    let b = x - x * y - log_sigmoid(x);
    let s = |t: f64| 1.0 / (1.0 + (-t).exp());
    [m * b, m * (gamma * s(-z) * (1.0 - 2.0 * y) * b + s(x) - y)]
}

/// `(1 - q)^γ` and `γ (1 - q)^(γ - 1)` of MONAI's softmax focal loss, as `focal_powers` (1 and
/// 0 at `γ = 0`).
fn focal_powers(q: f64, gamma: f64) -> [f64; 2] {
    if gamma == 0.0 {
        return [1.0, 0.0];
    }
    [(1.0 - q).powf(gamma), gamma * (1.0 - q).powf(gamma - 1.0)]
}

/// MONAI's softmax focal `h = u y q d(-(1 - q)^γ ln q)/dq`, as `focal_h`: the element's share of
/// d loss / d x is `h_c - q_c Σ_k h_k`.
fn focal_h(x: f64, lse: f64, y: f64, u: f64, gamma: f64) -> f64 {
    let lq = x - lse;
    let q = lq.exp();
    let [r, dr] = focal_powers(q, gamma);
    u * y * (dr * q * lq - r)
}

/// `ln σ(x)`, stable on both sides, as `log_sigmoid`.
fn log_sigmoid(x: f64) -> f64 {
    x.min(0.0) - (-x.abs()).exp().ln_1p()
}

/// Softmax normaliser of one pixel: (max logit, 1 / sum exp(x - max)), as `softmax_norm`.
fn softmax_norm(preds: &[f32], pred_base: usize, n_c: usize, n_s: usize, s: usize) -> (f64, f64) {
    let x = |c: usize| preds[pred_base + c * n_s + s] as f64;
    let m = (1..n_c).map(x).fold(x(0), f64::max);
    let z: f64 = (0..n_c).map(|c| (x(c) - m).exp()).sum();
    (m, 1.0 / z)
}

/// The probability of one element, as `activate`.
fn activate(activation: Activation, x: f64, norm: (f64, f64)) -> f64 {
    match activation {
        Activation::Softmax => (x - norm.0).exp() * norm.1,
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::None => x,
    }
}

/// The target of element (b, c, s) and whether it is kept (not ignored).
fn target_of(
    targets: Targets<'_>,
    ignore: Option<u32>,
    shape: &Shape,
    b: usize,
    c: usize,
    s: usize,
) -> (f64, bool) {
    let (n_c, n_s) = (shape.classes(), shape.spatial());
    match targets {
        Targets::Dense(d) => {
            let y = d[(b * n_c + c) * n_s + s];
            (y as f64, ignore.is_none_or(|i| y != i as f32))
        }
        Targets::Labels(_) | Targets::LabelsU8(_) | Targets::LabelsU16(_) => {
            let label = targets.label(b * n_s + s);
            (
                if label as usize == c { 1.0 } else { 0.0 },
                Some(label) != ignore,
            )
        }
    }
}

/// One pixel as the kernels take it: its sample, its row of sums, its spatial index and its
/// softmax normaliser (where softmax is the activation).
struct Pixel<'a> {
    preds: &'a [f32],
    activation: Activation,
    n_c: usize,
    n_s: usize,
    b: usize,
    row: usize,
    s: usize,
    norm: (f64, f64),
    /// `ln Σ exp x` of the raw logits, for a softmax cross-entropy term.
    lse: f64,
}

impl Pixel<'_> {
    /// The index of class `c` of this pixel in a `[B, C, spatial...]` tensor.
    fn element(&self, c: usize) -> usize {
        (self.b * self.n_c + c) * self.n_s + self.s
    }

    /// The raw input of class `c`.
    fn x(&self, c: usize) -> f64 {
        self.preds[self.element(c)] as f64
    }

    /// The cross-entropy sums' terms `(X1, X2)` of class `c` with target `y`, as `ce_terms`:
    /// softmax `(y (lse - x), lse - x)`, sigmoid `(-t ln σ(x), -(1 - t) ln(1 - σ(x)))` on the
    /// smoothed target `t` ([`crate::CrossEntropy::sigmoid_target`]), focal
    /// `(y f, (1 - y) f)` with `f` the focal element.
    fn ce_terms(&self, ce: &crate::CrossEntropy, c: usize, y: f64) -> [f64; 2] {
        let x = self.x(c);
        match ce.kind {
            CrossEntropyKind::Softmax => [y * (self.lse - x), self.lse - x],
            CrossEntropyKind::Sigmoid => {
                let [a, b] = ce.sigmoid_target();
                let t = a * y + b;
                [-t * log_sigmoid(x), -(1.0 - t) * log_sigmoid(-x)]
            }
            CrossEntropyKind::SigmoidFocal => {
                let f = focal(x, y, ce.focal_gamma as f64)[0];
                [y * f, (1.0 - y) * f]
            }
            CrossEntropyKind::SoftmaxFocal => {
                let q = (x - self.lse).exp();
                [
                    y * focal_powers(q, ce.focal_gamma as f64)[0] * (self.lse - x),
                    0.0,
                ]
            }
        }
    }

    /// The activated prediction of class `c`.
    fn p(&self, c: usize) -> f64 {
        activate(
            self.activation,
            self.preds[self.element(c)] as f64,
            self.norm,
        )
    }
}

/// Every pixel, sample by sample.
fn pixels<'a>(
    shape: &Shape,
    config: &DiceConfig,
    preds: &'a [f32],
) -> impl Iterator<Item = Pixel<'a>> {
    let (n_b, n_c, n_s) = (shape.batch(), shape.classes(), shape.spatial());
    let per_sample = config.scope == crate::Scope::PerSample;
    let activation = config.activation;
    let softmax = config.softmax_over_classes();
    let ce_softmax = config
        .cross_entropy
        .as_ref()
        .is_some_and(|ce| ce.kind.is_softmax());
    (0..n_b).flat_map(move |b| {
        (0..n_s).map(move |s| {
            let raw = if softmax {
                softmax_norm(preds, b * n_c * n_s, n_c, n_s, s)
            } else {
                (0.0, 1.0)
            };
            Pixel {
                preds,
                activation,
                n_c,
                n_s,
                b,
                row: if per_sample { b } else { 0 },
                s,
                norm: match activation {
                    Activation::Softmax => raw,
                    Activation::None | Activation::Sigmoid => (0.0, 1.0),
                },
                lse: if ce_softmax { raw.0 - raw.1.ln() } else { 0.0 },
            }
        })
    })
}

/// Per-row, per-class sums `(A, P, Y)` in f64: what `dice_partials` followed by `dice_reduce`
/// compute. Inputs must have passed [`validate_inputs`].
pub fn dice_sums(
    shape: &Shape,
    config: &DiceConfig,
    preds: &[f32],
    targets: Targets<'_>,
) -> ClassSums {
    let (n_b, n_c) = (shape.batch(), shape.classes());
    let per_sample = config.scope == crate::Scope::PerSample;
    let mut sums = ClassSums::zeros(if per_sample { n_b } else { 1 }, n_c);
    sums.set_pixels(shape.pixels() as f64, targets.kind() != TargetKind::Dense);
    sums.set_spatial(shape.spatial() as f64);
    for px in pixels(shape, config, preds) {
        for c in 0..n_c {
            let (y, keep) = target_of(targets, config.ignore_index, shape, px.b, c, px.s);
            if !keep {
                continue;
            }
            let p = px.p(c);
            let ce = config
                .cross_entropy
                .as_ref()
                .map(|ce| px.ce_terms(ce, c, y));
            let cell = sums.cell_mut(px.row, c);
            cell[0] += if config.soft_l1() {
                (p - y).abs()
            } else {
                p * y
            };
            if config.squared {
                cell[1] += p * p;
                cell[2] += y * y;
            } else {
                cell[1] += p;
                cell[2] += y;
            }
            if let Some([x1, x2]) = ce {
                cell[3] += x1;
                cell[4] += x2;
            }
        }
    }
    sums
}

/// The loss of one dice value and d loss / d dice, as `loss_of`.
fn loss_of(config: &DiceConfig, d: f64) -> (f64, f64) {
    match config.loss_form {
        LossForm::NegLog => {
            let clamp = config.log_clamp as f64;
            if clamp > 0.0 && d < clamp {
                (-clamp.ln(), 0.0)
            } else {
                (-d.ln(), -1.0 / d)
            }
        }
        LossForm::NegDice => (-d, -1.0),
        LossForm::OneMinusDice => (1.0 - d, -1.0),
    }
}

/// Whether `denominator_clamp` replaces a denominator, as `clamps`: 0 turns it off (a
/// negative denominator, from an activation with negative outputs, stays as it is).
fn clamps(den: f64, clamp: f64) -> bool {
    clamp > 0.0 && den < clamp
}

/// Generalized Dice weight of a class from its ground-truth sum, as `gdl_weight`.
fn gdl_weight(w: GeneralizedWeight, y: f64) -> f64 {
    match w {
        GeneralizedWeight::Square => 1.0 / (y * y),
        GeneralizedWeight::Simple => 1.0 / y,
        GeneralizedWeight::Uniform => 1.0,
    }
}

/// From sums to the loss, the per-cell dice and loss elements, and the gradient coefficients
/// (d loss / d A, d loss / d P) of every cell: what `dice_finalize` computes. Also the way to
/// finish a loss from sums merged across devices.
pub fn dice_finalize(config: &DiceConfig, sums: &ClassSums) -> Finalized<f64> {
    let (n_r, n_c) = (sums.rows(), sums.classes());
    let selected = config.selected_classes(n_c);
    let smooth_nr = config.smooth_nr as f64;
    let smooth_dr = config.smooth_dr as f64;
    let clamp = config.denominator_clamp as f64;
    let soft = config.soft_l1();
    let intersection = |a: f64, p: f64, y: f64| if soft { 0.5 * (p + y - a) } else { a };
    // d loss / d I and d loss / d P to the stored (A, P) coefficients.
    let coefs_of = |d_i: f64, d_p: f64| {
        if soft {
            [-0.5 * d_i, d_p + 0.5 * d_i]
        } else {
            [d_i, d_p]
        }
    };
    let weight = |c: usize| config.class_weight(c) as f64;
    // The Tversky denominator 2 (I + alpha (P - I) + beta (Y - I)) = 2 (k I + alpha P + beta Y).
    let (alpha, beta) = (config.alpha as f64, config.beta as f64);
    let k = 1.0 - alpha - beta;

    let m = config.mean_factor(n_r, n_c);
    // The elements of one row of one class (MCC's N): a sample's, or the whole batch's.
    let row_elements = sums.pixels() / n_r as f64;

    let mut out = Finalized::zeros(n_r, n_c);
    let mut total = 0.0;
    for r in 0..n_r {
        for c in 0..n_c {
            let [a, p, y, ..] = sums.cell(r, c);
            let i = intersection(a, p, y);
            // The index and its derivatives d / d I, d / d P.
            let (d, dd_i, dd_p) = match config.index {
                SimilarityIndex::Tversky => {
                    let num = 2.0 * i + smooth_nr;
                    let den = 2.0 * (k * i + alpha * p + beta * y) + smooth_dr;
                    // A clamped denominator is a constant.
                    if clamps(den, clamp) {
                        (num / clamp, 2.0 / clamp, 0.0)
                    } else {
                        (
                            num / den,
                            2.0 / den - 2.0 * k * num / (den * den),
                            -2.0 * alpha * num / (den * den),
                        )
                    }
                }
                SimilarityIndex::Mcc { eps } => mcc(eps as f64, i, p, y, row_elements),
            };
            out.dice[r * n_c + c] = d;
            if config.generalized.is_some() || !selected[c] {
                continue;
            }
            let mut l = loss_of(config, d);
            if config.empty_class == EmptyClass::ZeroLoss && y <= 0.0 {
                l = (0.0, 0.0);
            }
            let w = weight(c);
            out.elements[r * n_c + c] = w * l.0;
            total += w * l.0;
            let g = m * w * l.1;
            out.coefs[r * n_c + c] = coefs_of(g * dd_i, g * dd_p);
        }
        let Some(gw) = config.generalized else {
            continue;
        };
        let w_max = (0..n_c)
            .filter(|&c| selected[c])
            .map(|c| gdl_weight(gw, sums.cell(r, c)[2]))
            .filter(|w| !w.is_infinite())
            .fold(0.0, f64::max);
        let w_of = |c: usize| {
            let w = gdl_weight(gw, sums.cell(r, c)[2]);
            if w.is_infinite() {
                w_max
            } else {
                w
            }
        };
        let mut numer = smooth_nr;
        let mut denom = smooth_dr;
        for c in (0..n_c).filter(|&c| selected[c]) {
            let [a, p, y, ..] = sums.cell(r, c);
            numer += 2.0 * w_of(c) * intersection(a, p, y);
            denom += w_of(c) * (p + y);
        }
        let clamped = clamps(denom, clamp);
        denom = if clamped { clamp } else { denom };
        let l = loss_of(config, numer / denom);
        out.elements[r * n_c] = l.0;
        total += l.0;
        let g = m * l.1;
        for c in (0..n_c).filter(|&c| selected[c]) {
            let w = w_of(c);
            let dd_p = if clamped {
                0.0
            } else {
                -numer * w / (denom * denom)
            };
            out.coefs[r * n_c + c] = coefs_of(g * 2.0 * w / denom, g * dd_p);
        }
    }
    // λ_dice · loss^γ: every coefficient times its derivative. λ_dice = 0 drops the term
    // (a Dice of the raw input may be NaN; 0 · NaN would not vanish).
    let dice_loss = total * m;
    let (gamma, lambda) = (config.loss_exponent as f64, config.lambda_dice as f64);
    let scale = if lambda == 0.0 {
        0.0
    } else {
        lambda * gamma * dice_loss.powf(gamma - 1.0)
    };
    if scale != 1.0 {
        for coef in &mut out.coefs {
            *coef = coef.map(|v| if scale == 0.0 { 0.0 } else { v * scale });
        }
    }
    out.loss = match (lambda, gamma) {
        (0.0, _) => 0.0,
        (_, 1.0) => lambda * dice_loss,
        _ => lambda * dice_loss.powf(gamma),
    };
    if let Some(ce) = &config.cross_entropy {
        let (value, coefs) = ce_finalize(config, ce, sums);
        out.loss += ce.lambda as f64 * value;
        out.cross_entropy = value;
        out.ce_coefs = coefs;
    }
    out
}

/// The cross-entropy term's value and its gradient coefficients `(u_c, v_c)` per class, as
/// `total` computes them (it also stores `Σ v` for the gradient kernel, which the oracle sums
/// where it needs it). Its pixel loss is `Σ_c (u_c X1_c + v_c X2_c)` up to
/// the mean's divisor and `λ_ce` (`u`, `v`: [`crate::CrossEntropy`]'s `uv`).
fn ce_finalize(
    config: &DiceConfig,
    ce: &crate::CrossEntropy,
    sums: &ClassSums,
) -> (f64, Vec<[f64; 2]>) {
    let n_c = sums.classes();
    let uv = |c: usize| ce.uv(c, n_c);
    let (mut sum, mut label_weight) = (0.0, 0.0);
    for r in 0..sums.rows() {
        for c in 0..n_c {
            let [_, _, y, x1, x2] = sums.cell(r, c);
            let [u, v] = uv(c);
            sum += u * x1 + v * x2;
            label_weight += ce.class_weight(c) as f64 * y;
        }
    }
    let divisor = match ce.divisor(config.reduction, sums.labels) {
        CeDivisor::One => 1.0,
        CeDivisor::LabelWeight => label_weight,
        CeDivisor::Pixels => sums.pixels(),
        CeDivisor::Elements => sums.pixels() * ce.n_included(n_c) as f64,
        // Sums from `from_cells` without `set_spatial`: NaN, not a silent 0.
        CeDivisor::Spatial if sums.spatial() == 0.0 => f64::NAN,
        CeDivisor::Spatial => sums.spatial(),
    };
    // Nothing kept (every pixel ignored): 0, as nnU-Net's DC_and_CE_loss guards it (PyTorch's
    // mean would be 0 / 0).
    if divisor == 0.0 {
        return (0.0, vec![[0.0; 2]; n_c]);
    }
    let lambda = ce.lambda as f64 / divisor;
    let coefs = (0..n_c).map(|c| uv(c).map(|k| k * lambda)).collect();
    (sum / divisor, coefs)
}

/// d loss / d input of every element from the finalized coefficients: what `dice_gradient`
/// computes.
pub fn dice_gradient(
    shape: &Shape,
    config: &DiceConfig,
    preds: &[f32],
    targets: Targets<'_>,
    fin: &Finalized<f64>,
) -> Vec<f64> {
    let coefs = &fin.coefs;
    let n_c = shape.classes();
    let soft = config.soft_l1();
    let mut grad = vec![0.0; shape.len()];
    // d loss / d p of one element, as `element_grad` (zero where ignored).
    let grad_p = |coef: [f64; 2], p: f64, (y, keep): (f64, bool)| {
        if !keep {
            return 0.0;
        }
        let g = if config.squared {
            2.0 * coef[1] * p
        } else {
            coef[1]
        };
        g + coef[0]
            * if soft {
                (p - y).signum() * f64::from(p != y)
            } else {
                y
            }
    };
    for px in pixels(shape, config, preds) {
        let g_of = |c: usize| {
            let t = target_of(targets, config.ignore_index, shape, px.b, c, px.s);
            grad_p(coefs[px.row * n_c + c], px.p(c), t)
        };
        let dot: f64 = match config.activation {
            Activation::Softmax => (0..n_c).map(|c| px.p(c) * g_of(c)).sum(),
            Activation::None | Activation::Sigmoid => 0.0,
        };
        for c in 0..n_c {
            let (p, g) = (px.p(c), g_of(c));
            grad[px.element(c)] = match config.activation {
                Activation::Softmax => p * (g - dot),
                Activation::Sigmoid => g * p * (1.0 - p),
                Activation::None => g,
            };
        }
        if let Some(ce) = &config.cross_entropy {
            let target = |c| target_of(targets, config.ignore_index, shape, px.b, c, px.s);
            // An ignored pixel leaves the softmax kinds; the per-element kinds leave out
            // each ignored element (dense targets are masked per element).
            if ce.kind.is_softmax() && !target(0).1 {
                continue;
            }
            ce_gradient(ce, &px, &fin.ce_coefs, target, &mut grad);
        }
    }
    grad
}

/// The finalized coefficients of a vector-Jacobian product, as `dice_finalize`'s `total`
/// forms them for [`crate::DicePlan::record_loss_vjp`]: each cell's Dice coefficients times
/// the upstream gradient of the output it feeds (`upstream[0]` for a reduced loss, the cell's
/// own for `Reduction::None`, its row's column 0 for Generalized Dice), the cross-entropy
/// coefficients times `upstream[0]`. [`dice_gradient`] of the result is
/// `Σ_k upstream[k] · d output[k] / d input`.
pub fn with_upstream(
    config: &DiceConfig,
    n_c: usize,
    fin: &Finalized<f64>,
    upstream: &[f64],
) -> Finalized<f64> {
    let of = |j: usize| match config.reduction {
        Reduction::Mean | Reduction::Sum => upstream[0],
        Reduction::None if config.generalized.is_some() => upstream[j - j % n_c],
        Reduction::None => upstream[j],
    };
    let mut scaled = fin.clone();
    for (j, c) in scaled.coefs.iter_mut().enumerate() {
        *c = c.map(|k| k * of(j));
    }
    for c in scaled.ce_coefs.iter_mut() {
        *c = c.map(|k| k * upstream[0]);
    }
    scaled
}

/// Adds the cross-entropy term's d loss / d x of one kept pixel, as `ce_grad`: softmax
/// `q_c Σ_k a_k - a_c` with `a_k = u_k y_k + v_k` and `q = softmax(x)`; sigmoid
/// `u_c y (σ(x) - 1) + v_c (1 - y) σ(x)`; focal `(u_c y + v_c (1 - y)) f'`.
fn ce_gradient(
    ce: &crate::CrossEntropy,
    px: &Pixel<'_>,
    ce_coefs: &[[f64; 2]],
    target: impl Fn(usize) -> (f64, bool),
    grad: &mut [f64],
) {
    let n_c = px.n_c;
    let a = |c: usize| ce_coefs[c][0] * target(c).0 + ce_coefs[c][1];
    match ce.kind {
        CrossEntropyKind::Softmax => {
            let a_sum: f64 = (0..n_c).map(a).sum();
            for c in 0..n_c {
                let q = (px.x(c) - px.lse).exp();
                grad[px.element(c)] += q * a_sum - a(c);
            }
        }
        CrossEntropyKind::Sigmoid => {
            let [a, b] = ce.sigmoid_target();
            for c in (0..n_c).filter(|&c| target(c).1) {
                let (y, s) = (a * target(c).0 + b, 1.0 / (1.0 + (-px.x(c)).exp()));
                let [u, v] = ce_coefs[c];
                grad[px.element(c)] += u * y * (s - 1.0) + v * (1.0 - y) * s;
            }
        }
        CrossEntropyKind::SigmoidFocal => {
            for c in (0..n_c).filter(|&c| target(c).1) {
                let y = target(c).0;
                let [u, v] = ce_coefs[c];
                let d = focal(px.x(c), y, ce.focal_gamma as f64)[1];
                grad[px.element(c)] += (u * y + v * (1.0 - y)) * d;
            }
        }
        CrossEntropyKind::SoftmaxFocal => {
            let gamma = ce.focal_gamma as f64;
            let h = |c: usize| focal_h(px.x(c), px.lse, target(c).0, ce_coefs[c][0], gamma);
            let h_sum: f64 = (0..n_c).map(h).sum();
            for c in 0..n_c {
                let q = (px.x(c) - px.lse).exp();
                grad[px.element(c)] += h(c) - q * h_sum;
            }
        }
    }
}

/// The whole computation on the CPU in f64: validation, sums, loss and (optionally) gradient.
pub fn compute(
    shape: &Shape,
    config: &DiceConfig,
    preds: &[f32],
    targets: Targets<'_>,
    with_gradient: bool,
) -> Result<DiceOutput<f64>, DiceError> {
    validate_inputs(shape, config, preds, targets)?;
    let sums = dice_sums(shape, config, preds, targets);
    let fin = dice_finalize(config, &sums);
    let gradient = with_gradient.then(|| dice_gradient(shape, config, preds, targets, &fin));
    Ok(DiceOutput::from_finalized(config, fin, sums, gradient))
}
