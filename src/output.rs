//! Results: the per-class sums (mergeable across devices), the finalized loss and coefficients,
//! and the output handed to the caller.

use crate::config::{DiceConfig, Reduction};
use crate::error::DiceError;
use crate::shape::TargetForm;

/// The sums of one row and class: `[A, P, Y, X1, X2]`.
pub type SumCell = [f64; crate::params::SUM_TERMS as usize];

/// Per-row, per-class sums `[A, P, Y, X1, X2]`: `A = sum p y` (or `sum |p - y|` for soft labels
/// in the L1 form), `P = sum p` (or `p^2`), `Y = sum y` (or `y^2`), and the two sums of a fused
/// cross-entropy term ([`crate::CrossEntropy`]; zero without one). A row is the whole batch
/// ([`crate::Scope::Batch`]) or one sample ([`crate::Scope::PerSample`]).
///
/// This is the value to merge across devices in data-parallel training: add the batch-scope
/// sums of every device with [`ClassSums::merge`] (or stack per-sample rows with
/// [`ClassSums::concat`]), then finish with [`crate::cpu::dice_finalize`] — the same
/// loss and coefficients as one device holding the whole batch.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassSums {
    rows: usize,
    classes: usize,
    cells: Vec<SumCell>,
    /// Pixels summed (`B · spatial`): the divisor of a cross-entropy mean over dense targets.
    pixels: f64,
    /// The spatial size of a sample (what MONAI `FocalLoss`'s `reduction='sum'` divides by);
    /// 0 where not known yet. The same on every device of a batch.
    spatial: f64,
    /// Labels or dense targets (a softmax cross-entropy mean over labels divides by the
    /// weighted label count, `Σ w_c Y_c`).
    form: TargetForm,
}

impl ClassSums {
    /// All zeros.
    pub fn zeros(rows: usize, classes: usize) -> Self {
        Self {
            rows,
            classes,
            cells: vec![[0.0; crate::params::SUM_TERMS as usize]; rows * classes],
            pixels: 0.0,
            spatial: 0.0,
            form: TargetForm::Labels,
        }
    }

    /// From `rows * classes` cells of `[A, P, Y, X1, X2]`, row-major.
    pub fn from_cells(rows: usize, classes: usize, cells: Vec<SumCell>) -> Result<Self, DiceError> {
        if cells.len() != rows * classes {
            return Err(DiceError::LengthMismatch {
                what: "class sums",
                expected: rows * classes,
                got: cells.len(),
            });
        }
        Ok(Self {
            rows,
            classes,
            cells,
            pixels: 0.0,
            spatial: 0.0,
            form: TargetForm::Labels,
        })
    }

    /// The pixels the sums cover (`B · spatial`, added up by [`ClassSums::merge`]).
    pub fn pixels(&self) -> f64 {
        self.pixels
    }

    /// Sets the pixels the sums cover and what the targets were (what a cross-entropy term's
    /// mean divides by).
    pub fn set_pixels(&mut self, pixels: f64, form: TargetForm) {
        self.pixels = pixels;
        self.form = form;
    }

    /// What the targets were (labels until [`ClassSums::set_pixels`] says otherwise).
    pub fn target_form(&self) -> TargetForm {
        self.form
    }

    /// The spatial size of one sample (0 until [`ClassSums::set_spatial`]; the oracle's and
    /// the kernels' sums carry it).
    pub fn spatial(&self) -> f64 {
        self.spatial
    }

    /// Sets the spatial size of one sample. Sums built with [`ClassSums::from_cells`] need it
    /// before a focal term's `Reduction::Sum` is finalized (the divisor of its spatial means).
    pub fn set_spatial(&mut self, spatial: f64) {
        self.spatial = spatial;
    }

    /// Rows (1 for batch scope, B for per-sample scope).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// `[A, P, Y, X1, X2]` of row `r`, class `c`.
    pub fn cell(&self, r: usize, c: usize) -> SumCell {
        self.cells[r * self.classes + c]
    }

    pub(crate) fn cell_mut(&mut self, r: usize, c: usize) -> &mut SumCell {
        &mut self.cells[r * self.classes + c]
    }

    /// All cells, row-major.
    pub fn cells(&self) -> &[SumCell] {
        &self.cells
    }

    /// The cells as f32 `[A, P, Y, X1, X2]`, then the pixel count: the layout of
    /// [`crate::DicePlan::sums_buffer`]
    /// (to write merged sums back before [`crate::DicePlan::record_loss`]).
    pub fn to_f32(&self) -> Vec<f32> {
        let cells = self.cells.iter().flatten().map(|&v| v as f32);
        cells.chain([self.pixels as f32]).collect()
    }

    /// Adds another device's sums of the same rows and classes (batch scope: each device
    /// summed its share of the batch).
    pub fn merge(&mut self, other: &ClassSums) -> Result<(), DiceError> {
        if (other.rows, other.classes) != (self.rows, self.classes) {
            return Err(DiceError::LengthMismatch {
                what: "class sums to merge",
                expected: self.cells.len(),
                got: other.cells.len(),
            });
        }
        self.merge_spatial(other)?;
        for (a, b) in self.cells.iter_mut().zip(&other.cells) {
            for (a, b) in a.iter_mut().zip(b) {
                *a += b;
            }
        }
        self.pixels += other.pixels;
        Ok(())
    }

    /// Takes `other`'s spatial size where this one has none; two known sizes must agree
    /// (samples of one batch share their shape).
    fn merge_spatial(&mut self, other: &ClassSums) -> Result<(), DiceError> {
        match (self.spatial, other.spatial) {
            (_, 0.0) => Ok(()),
            (0.0, s) => {
                self.spatial = s;
                Ok(())
            }
            (a, b) if a == b => Ok(()),
            (a, b) => Err(DiceError::LengthMismatch {
                what: "spatial size of sums to merge",
                expected: a as usize,
                got: b as usize,
            }),
        }
    }

    /// Appends another device's per-sample rows (per-sample scope: devices hold different
    /// samples).
    pub fn concat(&mut self, other: &ClassSums) -> Result<(), DiceError> {
        if other.classes != self.classes {
            return Err(DiceError::LengthMismatch {
                what: "classes of sums to concatenate",
                expected: self.classes,
                got: other.classes,
            });
        }
        self.merge_spatial(other)?;
        self.rows += other.rows;
        self.cells.extend_from_slice(&other.cells);
        self.pixels += other.pixels;
        Ok(())
    }
}

/// Whether a call also computes d loss / d input (the gradient pass and its readback).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gradient {
    /// The loss output only.
    Without,
    /// The loss output and the gradient.
    With,
}

impl Gradient {
    /// Whether the gradient is asked for.
    pub fn wanted(self) -> bool {
        match self {
            Gradient::Without => false,
            Gradient::With => true,
        }
    }
}

/// What the finalize step produces, on either path.
#[derive(Clone, Debug, PartialEq)]
pub struct Finalized<T> {
    /// The reduced loss.
    pub loss: T,
    /// Dice of every cell `[rows][classes]`, selected or not.
    pub dice: Vec<T>,
    /// Loss element of every cell `[rows][classes]` (weighted, before the reduction; zero for
    /// unselected classes; for Generalized Dice, the row's loss sits in column 0).
    pub elements: Vec<T>,
    /// `[d loss / d A, d loss / d P]` of every cell.
    pub coefs: Vec<[T; 2]>,
    /// The cross-entropy term's value (before `λ_ce`; zero without a term).
    pub cross_entropy: T,
    /// The cross-entropy term's gradient coefficients `(u_c, v_c)` per class (empty without a
    /// term).
    pub ce_coefs: Vec<[T; 2]>,
}

impl<T: Copy + Default> Finalized<T> {
    pub(crate) fn zeros(rows: usize, classes: usize) -> Self {
        let n = rows * classes;
        Self {
            loss: T::default(),
            dice: vec![T::default(); n],
            elements: vec![T::default(); n],
            coefs: vec![[T::default(); 2]; n],
            cross_entropy: T::default(),
            ce_coefs: Vec::new(),
        }
    }
}

/// The result of one loss evaluation: `DiceOutput<f32>` from the GPU, `DiceOutput<f64>` from
/// the CPU reference.
#[derive(Clone, Debug, PartialEq)]
pub struct DiceOutput<T> {
    /// The loss (for [`Reduction::None`], the sum of [`DiceOutput::values`]): with a
    /// cross-entropy term, `λ_dice · dice loss + λ_ce · cross-entropy`.
    pub loss: T,
    /// The cross-entropy term's value (before `λ_ce`), where the config has one.
    pub cross_entropy: Option<T>,
    /// The loss as the Python call returns it: one value for `Mean`/`Sum`; for `None`, one per
    /// row and selected class (`[B, C']` per sample, `[C']` over the batch), or one per row for
    /// Generalized Dice.
    pub values: Vec<T>,
    /// Dice of every row and class, `[rows][classes]`.
    pub dice: Vec<T>,
    /// The sums the loss was formed from.
    pub sums: ClassSums,
    /// d loss / d input with the predictions' shape, when asked for.
    pub gradient: Option<Vec<T>>,
}

impl<T: Copy + Default> DiceOutput<T> {
    /// Assembles the output from the finalize step (its coefficients stay behind: they feed
    /// the gradient only).
    pub(crate) fn from_finalized(
        config: &DiceConfig,
        fin: Finalized<T>,
        sums: ClassSums,
        gradient: Option<Vec<T>>,
    ) -> Self {
        let ce = config.cross_entropy.is_some().then_some(fin.cross_entropy);
        Self::from_parts(
            config,
            fin.loss,
            ce,
            fin.dice,
            &fin.elements,
            sums,
            gradient,
        )
    }

    /// Assembles the output from the loss, the dice and the loss elements of every cell.
    pub(crate) fn from_parts(
        config: &DiceConfig,
        loss: T,
        cross_entropy: Option<T>,
        dice: Vec<T>,
        elements: &[T],
        sums: ClassSums,
        gradient: Option<Vec<T>>,
    ) -> Self {
        let (n_r, n_c) = (sums.rows(), sums.classes());
        let values = match config.reduction {
            Reduction::Mean | Reduction::Sum => vec![loss],
            Reduction::None => {
                let columns = config.returned_columns(n_c);
                (0..n_r)
                    .flat_map(|r| columns.iter().map(move |&c| elements[r * n_c + c]))
                    .collect()
            }
        };
        Self {
            loss,
            cross_entropy,
            values,
            dice,
            sums,
            gradient,
        }
    }
}
