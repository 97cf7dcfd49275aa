//! Per-sample, per-class confusion counts: the mergeable statistic every metric is taken from.

use crate::error::DiceError;

/// One (sample, class) cell's counts over the pixels that take part (ignored pixels count in
/// none of them): true and false positives, true and false negatives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Confusion {
    /// Predicted in the class and labelled in it.
    pub tp: u64,
    /// Predicted in the class, labelled outside it.
    pub fp: u64,
    /// Predicted outside the class and labelled outside it.
    pub tn: u64,
    /// Predicted outside the class, labelled in it.
    pub fn_: u64,
}

impl Confusion {
    /// Pixels labelled in the class (`tp + fn`).
    pub fn positives(&self) -> u64 {
        self.tp + self.fn_
    }

    /// Pixels labelled outside the class (`fp + tn`).
    pub fn negatives(&self) -> u64 {
        self.fp + self.tn
    }

    /// Pixels predicted in the class (`tp + fp`).
    pub fn predicted(&self) -> u64 {
        self.tp + self.fp
    }

    /// The four counts in MONAI's `get_confusion_matrix` order: `[tp, fp, tn, fn]`.
    pub fn as_array(&self) -> [u64; 4] {
        [self.tp, self.fp, self.tn, self.fn_]
    }

    fn add(&mut self, other: &Confusion) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.tn += other.tn;
        self.fn_ += other.fn_;
    }
}

/// Confusion counts of every (sample, class) cell, sample-major (`cells[b * C + c]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionCounts {
    classes: usize,
    cells: Vec<Confusion>,
}

impl ConfusionCounts {
    /// Counts of `classes` classes from sample-major cells; an error where the cells are not a
    /// whole number of samples (or there are no classes).
    pub fn new(classes: usize, cells: Vec<Confusion>) -> Result<Self, DiceError> {
        if classes == 0 {
            return Err(DiceError::ZeroClasses);
        }
        if !cells.len().is_multiple_of(classes) {
            return Err(DiceError::LengthMismatch {
                what: "confusion cells (a whole number of samples)",
                expected: cells.len().div_ceil(classes) * classes,
                got: cells.len(),
            });
        }
        Ok(Self { classes, cells })
    }

    /// Samples counted.
    pub fn batch(&self) -> usize {
        self.cells.len() / self.classes
    }

    /// Classes counted.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The counts of class `c` of sample `b`.
    pub fn cell(&self, b: usize, c: usize) -> Confusion {
        self.cells[b * self.classes + c]
    }

    /// Every cell, sample-major.
    pub fn cells(&self) -> &[Confusion] {
        &self.cells
    }

    /// Merges the counts of other samples (a shard of the batch counted elsewhere): they follow
    /// this batch's samples, in order.
    pub fn append_samples(&mut self, other: &ConfusionCounts) -> Result<(), DiceError> {
        self.check_classes(other)?;
        self.cells.extend_from_slice(&other.cells);
        Ok(())
    }

    /// Merges counts of the same samples over other pixels (a spatial tile counted elsewhere):
    /// cell by cell. Exact, so any order of merging gives the same counts.
    pub fn add(&mut self, other: &ConfusionCounts) -> Result<(), DiceError> {
        self.check_classes(other)?;
        if other.cells.len() != self.cells.len() {
            return Err(DiceError::LengthMismatch {
                what: "samples of confusion counts to add",
                expected: self.batch(),
                got: other.batch(),
            });
        }
        for (a, b) in self.cells.iter_mut().zip(&other.cells) {
            a.add(b);
        }
        Ok(())
    }

    fn check_classes(&self, other: &ConfusionCounts) -> Result<(), DiceError> {
        if other.classes != self.classes {
            return Err(DiceError::LengthMismatch {
                what: "classes of confusion counts to merge",
                expected: self.classes,
                got: other.classes,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(tp: u64, fp: u64, tn: u64, fn_: u64) -> Confusion {
        Confusion { tp, fp, tn, fn_ }
    }

    #[test]
    fn shards_merge_into_the_whole_batch() {
        let a = ConfusionCounts::new(2, vec![cell(1, 2, 3, 4), cell(5, 6, 7, 8)]).unwrap();
        let b = ConfusionCounts::new(2, vec![cell(9, 1, 1, 1), cell(0, 0, 2, 0)]).unwrap();
        let mut batch = a.clone();
        batch.append_samples(&b).unwrap();
        assert_eq!(batch.batch(), 2);
        assert_eq!(batch.cell(1, 0), cell(9, 1, 1, 1));
        let mut tiles = a.clone();
        tiles.add(&b).unwrap();
        assert_eq!(tiles.cell(0, 1), cell(5, 6, 9, 8));
        let three = ConfusionCounts::new(3, vec![Confusion::default(); 3]).unwrap();
        assert!(matches!(
            tiles.add(&three),
            Err(DiceError::LengthMismatch { .. })
        ));
        assert!(matches!(
            tiles.add(&batch),
            Err(DiceError::LengthMismatch { .. })
        ));
        assert!(ConfusionCounts::new(2, vec![Confusion::default(); 3]).is_err());
    }
}
