//! From class sums to the loss and the per-cell gradient coefficients: what `dice_finalize`
//! computes, and the vector-Jacobian product's scaling of its coefficients.

// Index loops on purpose: they line up with the WGSL loops they mirror.
#![allow(clippy::needless_range_loop)]

use crate::config::{DiceConfig, EmptyClass, GeneralizedWeight, LossForm, Reduction};
use crate::cross_entropy::CeDivisor;
use crate::index::{mcc, SimilarityIndex};
use crate::output::{ClassSums, Finalized};

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
    let rows = Rows {
        config,
        sums,
        m: config.mean_factor(n_r, n_c),
        selected: config.selected_classes(n_c),
        inter: Intersection {
            soft_l1: config.soft_l1(),
        },
    };
    let mut out = Finalized::zeros(n_r, n_c);
    let mut total = 0.0;
    for r in 0..n_r {
        total += rows.cells(r, &mut out);
        if let Some(gw) = config.generalized {
            total += rows.generalized(r, gw, &mut out);
        }
    }
    finish_dice_term(config, total * rows.m, &mut out);
    if let Some(ce) = &config.cross_entropy {
        let (value, coefs) = ce_finalize(config, ce, sums);
        out.loss += ce.lambda as f64 * value;
        out.cross_entropy = value;
        out.ce_coefs = coefs;
    }
    out
}

/// How slot A of the sums gives the intersection, and d loss / d I, d loss / d P go back to
/// the stored (A, P) coefficients: A itself, or `I = (P + Y - A) / 2` from MONAI's soft-label
/// L1 sum.
#[derive(Clone, Copy)]
struct Intersection {
    soft_l1: bool,
}

impl Intersection {
    fn of(self, a: f64, p: f64, y: f64) -> f64 {
        if self.soft_l1 {
            0.5 * (p + y - a)
        } else {
            a
        }
    }

    fn coefs(self, d_i: f64, d_p: f64) -> [f64; 2] {
        if self.soft_l1 {
            [-0.5 * d_i, d_p + 0.5 * d_i]
        } else {
            [d_i, d_p]
        }
    }
}

/// The similarity index of one cell and its derivatives d / d I, d / d P: Tversky's
/// `(2 I + s_nr) / (2 (I + α (P − I) + β (Y − I)) + s_dr)` (its denominator clamped where
/// asked, then a constant), or the soft MCC over the row's elements.
fn cell_index(config: &DiceConfig, i: f64, p: f64, y: f64, row_elements: f64) -> [f64; 3] {
    match config.index {
        SimilarityIndex::Tversky => {
            let (alpha, beta) = (config.alpha as f64, config.beta as f64);
            // 2 (I + α (P - I) + β (Y - I)) = 2 (k I + α P + β Y).
            let k = 1.0 - alpha - beta;
            let clamp = config.denominator_clamp as f64;
            let num = 2.0 * i + config.smooth_nr as f64;
            let den = 2.0 * (k * i + alpha * p + beta * y) + config.smooth_dr as f64;
            if clamps(den, clamp) {
                [num / clamp, 2.0 / clamp, 0.0]
            } else {
                let d2 = den * den;
                [
                    num / den,
                    2.0 / den - 2.0 * k * num / d2,
                    -2.0 * alpha * num / d2,
                ]
            }
        }
        SimilarityIndex::Mcc { eps } => {
            let (d, d_i, d_p) = mcc(eps as f64, i, p, y, row_elements);
            [d, d_i, d_p]
        }
    }
}

/// What every row's finalisation reads: the config, the sums, the reduction's factor `m`, the
/// selected classes and how slot A reads.
struct Rows<'a> {
    config: &'a DiceConfig,
    sums: &'a ClassSums,
    m: f64,
    selected: Vec<bool>,
    inter: Intersection,
}

impl Rows<'_> {
    /// Row `r`'s cells: every cell's index, and for the per-class losses each selected cell's
    /// weighted loss element and coefficients. Returns the row's share of the loss before `m`
    /// (none under Generalized Dice, whose row is one element).
    fn cells(&self, r: usize, out: &mut Finalized<f64>) -> f64 {
        let (config, sums, m, inter) = (self.config, self.sums, self.m, self.inter);
        let selected = &self.selected;
        let n_c = sums.classes();
        // The elements of one row of one class (MCC's N): a sample's, or the whole batch's.
        let row_elements = sums.pixels() / sums.rows() as f64;
        let mut total = 0.0;
        for c in 0..n_c {
            let [a, p, y, ..] = sums.cell(r, c);
            let [d, dd_i, dd_p] = cell_index(config, inter.of(a, p, y), p, y, row_elements);
            let j = r * n_c + c;
            out.dice[j] = d;
            if config.generalized.is_some() || !selected[c] {
                continue;
            }
            let mut l = loss_of(config, d);
            if config.empty_class == EmptyClass::ZeroLoss && y <= 0.0 {
                l = (0.0, 0.0);
            }
            let w = config.class_weight(c) as f64;
            out.elements[j] = w * l.0;
            total += w * l.0;
            let g = m * w * l.1;
            out.coefs[j] = inter.coefs(g * dd_i, g * dd_p);
        }
        total
    }

    /// Row `r` under Generalized Dice: one loss element (in column 0) from the weighted sums of
    /// the selected classes, an infinite weight (an absent class) replaced by the row's largest
    /// finite one, as MONAI does; each class's coefficients. Returns the row's loss before `m`.
    fn generalized(&self, r: usize, gw: GeneralizedWeight, out: &mut Finalized<f64>) -> f64 {
        let (config, sums, m, inter) = (self.config, self.sums, self.m, self.inter);
        let selected = &self.selected;
        let n_c = sums.classes();
        let kept = || (0..n_c).filter(|&c| selected[c]);
        let clamp = config.denominator_clamp as f64;
        let w_max = kept()
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
        let mut numer = config.smooth_nr as f64;
        let mut denom = config.smooth_dr as f64;
        for c in kept() {
            let [a, p, y, ..] = sums.cell(r, c);
            numer += 2.0 * w_of(c) * inter.of(a, p, y);
            denom += w_of(c) * (p + y);
        }
        let clamped = clamps(denom, clamp);
        if clamped {
            denom = clamp;
        }
        let l = loss_of(config, numer / denom);
        out.elements[r * n_c] = l.0;
        let g = m * l.1;
        for c in kept() {
            let w = w_of(c);
            let dd_p = if clamped {
                0.0
            } else {
                -numer * w / (denom * denom)
            };
            out.coefs[r * n_c + c] = inter.coefs(g * 2.0 * w / denom, g * dd_p);
        }
        l.0
    }
}

/// `λ_dice · loss^γ` of the Dice term's `dice_loss`, and every coefficient times its
/// derivative. λ_dice = 0 drops the term (a Dice of the raw input may be NaN; 0 · NaN would
/// not vanish).
fn finish_dice_term(config: &DiceConfig, dice_loss: f64, out: &mut Finalized<f64>) {
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
    let divisor = match ce.divisor(config.reduction, sums.target_form()) {
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

/// The finalized coefficients of a vector-Jacobian product, as `dice_finalize`'s `total`
/// forms them for [`crate::DicePlan::record_loss_vjp`]: each cell's Dice coefficients times
/// the upstream gradient of the output it feeds (`upstream[0]` for a reduced loss, the cell's
/// own for `Reduction::None`, its row's column 0 for Generalized Dice), the cross-entropy
/// coefficients times `upstream[0]`. [`dice_gradient`](super::dice_gradient) of the result is
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
