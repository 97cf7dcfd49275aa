//! Reading a recording's results back to the host.

use super::*;
use crate::error::DiceError;
use crate::output::{ClassSums, DiceOutput};
use crate::params::{
    STATUS_BAD_LABELS, STATUS_NON_FINITE, STATUS_SUBGROUPS, STATUS_WORDS, SUM_TERMS,
};

/// Words of the output buffer: `[loss, dice[cells], loss elements[cells], cross-entropy]`,
/// then the status counts as f32 (bad labels, non-finite inputs: `DicePlan::output_buffer`).
pub(super) fn out_words(cells: u64) -> u64 {
    4 + 2 * cells
}

/// Words of the sums buffer: `[cells][SUM_TERMS]`, then the pixel count.
pub(super) fn sums_words(cells: u64) -> u64 {
    cells * SUM_TERMS as u64 + 1
}

impl DicePlan {
    /// The results a recording copies out, in order: status, output and sums (bytes).
    pub(super) fn results(&self) -> [(&wgpu::Buffer, u64); 3] {
        let cells = self.cells();
        [
            (&self.buffers.status, STATUS_WORDS as u64 * 4),
            (&self.buffers.out, out_words(cells) * 4),
            (&self.buffers.sums, sums_words(cells) * 4),
        ]
    }

    pub(super) fn results_bytes(cells: u64) -> u64 {
        (STATUS_WORDS as u64 + out_words(cells) + sums_words(cells)) * 4
    }

    /// The loss, dice and sums of `recorded` (a call of this plan), or the error the GPU
    /// counted, once the encoder it was recorded into has been submitted; blocks until the
    /// device has run it. The gradient stays on the GPU.
    ///
    /// Fails with [`DiceError::StaleResults`] where the plan's readback does not hold that
    /// recording's results: its encoder not submitted yet, or
    /// [`RECORDING_SLOTS`](crate::RECORDING_SLOTS) later recordings of the plan reused its slot.
    pub fn read_results(
        &self,
        ctx: &DiceContext,
        recorded: Recorded,
    ) -> Result<DiceOutput<f32>, DiceError> {
        let bytes = pollster::block_on(self.slots.read(&ctx.device, recorded, true))?;
        self.parse_results(&bytes)
    }

    /// [`DicePlan::read_results`] without blocking, for render loops: the future completes
    /// once the device has run the submission and has been polled (any `Device::poll`, or a
    /// later `Queue::submit`, drives it), and waits for nothing else in the queue.
    pub fn read_results_async<'a>(
        &'a self,
        ctx: &'a DiceContext,
        recorded: Recorded,
    ) -> impl std::future::Future<Output = Result<DiceOutput<f32>, DiceError>> + 'a {
        let read = self.slots.read(&ctx.device, recorded, false);
        async move { self.parse_results(&read.await?) }
    }

    pub(super) fn parse_results(&self, bytes: &[u8]) -> Result<DiceOutput<f32>, DiceError> {
        let cells = self.cells() as usize;
        let status: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[..STATUS_WORDS as usize * 4]);
        if status[STATUS_BAD_LABELS as usize] > 0 {
            return Err(DiceError::LabelOutOfRange {
                count: status[STATUS_BAD_LABELS as usize] as u64,
                n_classes: self.shape.classes(),
                first: None,
            });
        }
        if status[STATUS_NON_FINITE as usize] > 0 {
            return Err(DiceError::NonFinite {
                what: "predictions or targets",
                count: status[STATUS_NON_FINITE as usize] as u64,
            });
        }
        if status[STATUS_SUBGROUPS as usize] > 0 {
            return Err(DiceError::Gpu(format!(
                "the device ran subgroups narrower than the smallest size it reports ({} of \
                 dice_partials' workgroups had more subgroups than partial slots); the results \
                 were discarded: please report the adapter",
                status[STATUS_SUBGROUPS as usize]
            )));
        }
        let floats = to_f32(&bytes[STATUS_WORDS as usize * 4..]);
        let (out, sums) = floats.split_at(out_words(cells as u64) as usize);
        let (sums, pixels) = sums.split_at(cells * SUM_TERMS as usize);
        let mut sums = ClassSums::from_cells(
            self.geo.n_rows as usize,
            self.shape.classes(),
            sums.chunks_exact(SUM_TERMS as usize)
                .map(|c| std::array::from_fn(|k| c[k] as f64))
                .collect(),
        )?;
        sums.set_pixels(pixels[0] as f64, self.target_kind.form());
        sums.set_spatial(self.shape.spatial() as f64);
        let (loss, dice, elements) = (out[0], &out[1..1 + cells], &out[1 + cells..1 + 2 * cells]);
        let ce = self
            .config
            .cross_entropy
            .is_some()
            .then_some(out[1 + 2 * cells]);
        Ok(DiceOutput::from_parts(
            &self.config,
            loss,
            ce,
            dice.to_vec(),
            elements,
            sums,
            None,
        ))
    }
}
