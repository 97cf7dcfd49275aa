//! What one loss call computes, carried through Burn's dispatch into the backends: the loss
//! instance (its plans are cached under it), the input shape and the configuration.

use std::sync::Arc;

use softdice::{DiceConfig, Reduction, Scope, Shape, SumCell};

/// The ordinary argument of every [`crate::SoftDiceOps`] method.
#[derive(Clone, Debug)]
pub struct DiceSpec {
    /// The [`crate::DiceLoss`] this call belongs to (its plans are kept per device under it).
    pub(crate) loss_id: u64,
    /// `[B, C, spatial…]` of the predictions.
    pub(crate) shape: Shape,
    /// The loss.
    pub(crate) config: Arc<DiceConfig>,
    /// The call asked for softdice's host reference: a registered device does not run the
    /// kernels for it.
    pub(crate) host: bool,
}

impl DiceSpec {
    /// Rows of sums: one over the batch, or one per sample.
    pub(crate) fn rows(&self) -> usize {
        match self.config.scope {
            Scope::Batch => 1,
            Scope::PerSample => self.shape.batch(),
        }
    }

    /// Rows times classes.
    pub(crate) fn cells(&self) -> usize {
        self.rows() * self.shape.classes()
    }

    /// Floats of the loss output: the loss, or every cell's loss element for
    /// `Reduction::None` (the upstream gradient has this length too).
    pub(crate) fn values_len(&self) -> usize {
        match self.config.reduction {
            Reduction::None => self.cells(),
            Reduction::Mean | Reduction::Sum => 1,
        }
    }

    /// Floats of the sums: `[cells][A, P, Y, X1, X2]`, then the pixel count (softdice's sums
    /// buffer).
    pub(crate) fn sums_len(&self) -> usize {
        self.cells() * SUM_TERMS + 1
    }

    /// Floats of the state the backward pass and a merge read: the sums, then the counts of
    /// bad labels and non-finite inputs (floats, so that a sum merges them too).
    pub(crate) fn state_len(&self) -> usize {
        self.sums_len() + STATUS_COUNTS
    }
}

/// Terms per cell of softdice's sums (A, P, Y, X1, X2).
pub(crate) const SUM_TERMS: usize = std::mem::size_of::<SumCell>() / std::mem::size_of::<f64>();

/// The status counts at the end of the state: bad labels, non-finite inputs.
pub(crate) const STATUS_COUNTS: usize = 2;
