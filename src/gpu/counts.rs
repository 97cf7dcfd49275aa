//! dice_counts' host side: the confusion counts of a plan's inputs, recorded into the
//! caller's encoder and read back as [`ConfusionCounts`].

use super::*;
use crate::error::DiceError;
use crate::metrics::{Confusion, ConfusionCounts, Decision};
use crate::params::{
    COUNT_BAD_LABELS, COUNT_NON_FINITE, COUNT_NOT_BINARY, COUNT_STATUS_WORDS, COUNT_TERMS,
    COUNT_UNKNOWN_DECISION,
};
use crate::shaders::{Buffer, Kernel};

/// The handle of one [`DicePlan::record_counts`] recording, for [`DicePlan::read_counts`].
#[derive(Debug, PartialEq, Eq)]
pub struct RecordedCounts {
    recorded: Recorded,
}

/// What a plan keeps for its counts once asked for them: the counts buffer (status words,
/// then `[b][c][TP, FP, TN, FN]` as u32), its readback slots and the bind group over the
/// caller's buffers last seen.
pub(super) struct CountsState {
    buffer: wgpu::Buffer,
    slots: Slots,
    bind: Option<(InputKey, wgpu::BindGroup)>,
}

/// Bytes of a counts buffer for `cells` (sample, class) cells.
fn counts_bytes(cells: u64) -> u64 {
    (COUNT_STATUS_WORDS as u64 + cells * COUNT_TERMS as u64) * 4
}

impl DicePlan {
    /// Records the exact confusion counts (TP, FP, TN, FN per sample and class) of the
    /// caller's predictions and targets into the caller's encoder: one dispatch of
    /// `dice_counts`, the pixels' predicted classes taken by `decision` from the plan's
    /// activation, ignored pixels (the plan's `ignore_index`) counted nowhere. For validation
    /// beside the loss (record it after [`DicePlan::record`] in the same encoder) or alone; it
    /// leaves the loss's buffers as they were. `inputs.gradient` must be `None`.
    ///
    /// The counts are integers added with atomics: the same on every device, and merged
    /// across devices with [`ConfusionCounts::append_samples`] or [`ConfusionCounts::add`].
    /// Bad labels, non-finite predictions and dense targets other than 0, 1 and the ignore
    /// value are counted on the GPU and read as errors by [`DicePlan::read_counts`].
    ///
    /// ```
    /// use softdice::metrics::{Decision, DiceMetric};
    /// use softdice::{BufferRegion, DiceConfig, DiceContext, GpuInputs, Shape, TargetKind, Targets};
    ///
    /// # fn main() -> Result<(), softdice::DiceError> {
    /// let ctx = DiceContext::new()?;
    /// let shape = Shape::new(&[2, 3, 4, 4])?;
    /// let logits: Vec<f32> = (0..shape.len()).map(|i| (i % 7) as f32 - 3.0).collect();
    /// let labels: Vec<u32> = (0..shape.pixels() as u32).map(|i| i % 3).collect();
    /// let preds = ctx.upload_preds(&logits);
    /// let targets = ctx.upload_targets(Targets::Labels(&labels));
    ///
    /// let mut plan = ctx.plan(&shape, &DiceConfig::monai(), TargetKind::LabelsU32)?;
    /// let mut encoder = ctx.device().create_command_encoder(&Default::default());
    /// let inputs = GpuInputs {
    ///     preds: BufferRegion::whole(&preds),
    ///     targets: BufferRegion::whole(&targets),
    ///     gradient: None,
    /// };
    /// let recorded = plan.record_counts(&ctx, &mut encoder, &inputs, Decision::Argmax)?;
    /// ctx.queue().submit([encoder.finish()]);
    /// let counts = plan.read_counts(&ctx, recorded)?;
    /// let oracle = softdice::cpu::confusion_counts(
    ///     &shape,
    ///     &logits,
    ///     Targets::Labels(&labels),
    ///     Decision::Argmax,
    ///     DiceConfig::monai().activation,
    ///     None,
    /// )?;
    /// assert_eq!(counts, oracle);
    /// let dice = DiceMetric::monai().compute(&counts)?;
    /// assert_eq!(dice.shape, vec![1]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn record_counts(
        &mut self,
        ctx: &DiceContext,
        encoder: &mut wgpu::CommandEncoder,
        inputs: &GpuInputs<'_>,
        decision: Decision,
    ) -> Result<RecordedCounts, DiceError> {
        ctx.check_alive()?;
        decision.check()?;
        if inputs.gradient.is_some() {
            return Err(DiceError::InvalidConfig(
                "record_counts writes no gradient: pass `gradient: None`".into(),
            ));
        }
        let (key, mut params) = self.input_key(inputs)?;
        let (code, threshold, inclusive) = decision.gpu_params();
        params.threshold = threshold;
        params.threshold_inclusive = inclusive;
        let mut state = match self.counts.take() {
            Some(state) => state,
            None => self.counts_state(ctx),
        };
        let bind = match state.bind.take() {
            Some((cached, bind)) if cached == key => bind,
            _ => self.counts_bind(ctx, &key, &state.buffer)?,
        };
        // VEC4 where the loss's recording would take it (the plan allows it and every offset
        // is on a quad).
        let spec = Spec {
            vec4: key.vec4,
            ..self.geo.spec
        };
        let binding = self.geo.layout.binding;
        let pipeline = ctx.pipelines.counts(&ctx.device, binding, spec, code);
        let recorded = state
            .slots
            .begin(&ctx.queue, encoder, &params, &self.buffers.params);
        encoder.clear_buffer(&state.buffer, 0, None);
        let g = &self.geo;
        let samples = (self.shape.batch() as u32).min(g.max_dim);
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("softdice counts"),
            timestamp_writes: None,
        });
        pass.push_debug_group(Kernel::DiceCounts.name());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(g.groups, g.n_chunks, samples);
        pass.pop_debug_group();
        drop(pass);
        let bytes = counts_bytes(self.count_cells());
        state
            .slots
            .finish(encoder, &recorded, &[(&state.buffer, bytes)]);
        state.bind = Some((key, bind));
        self.counts = Some(state);
        Ok(RecordedCounts { recorded })
    }

    /// The counts of `recorded` once its encoder has been submitted; blocks until the device
    /// has run it. Errors: what the GPU counted (labels out of range, non-finite predictions,
    /// dense targets other than 0, 1 and the ignore value), or
    /// [`DiceError::StaleResults`] where the readback no longer holds that recording (its
    /// encoder not submitted, or [`RECORDING_SLOTS`] later recordings reused its slot).
    pub fn read_counts(
        &self,
        ctx: &DiceContext,
        recorded: RecordedCounts,
    ) -> Result<ConfusionCounts, DiceError> {
        let Some(state) = &self.counts else {
            return Err(DiceError::StaleResults {
                recording: recorded.recorded.number,
                found: 0,
            });
        };
        let bytes = pollster::block_on(state.slots.read(&ctx.device, recorded.recorded, true))?;
        self.parse_counts(&bytes)
    }

    /// (sample, class) cells of the counts: every sample's, whatever the loss's scope.
    fn count_cells(&self) -> u64 {
        (self.shape.batch() * self.shape.classes()) as u64
    }

    fn counts_state(&self, ctx: &DiceContext) -> CountsState {
        let bytes = counts_bytes(self.count_cells());
        CountsState {
            buffer: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("softdice counts"),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            slots: Slots::new(&ctx.device, bytes),
            bind: None,
        }
    }

    /// dice_counts' bind group over the caller's buffers (checked as the loss's are).
    fn counts_bind(
        &self,
        ctx: &DiceContext,
        key: &InputKey,
        counts: &wgpu::Buffer,
    ) -> Result<wgpu::BindGroup, DiceError> {
        ctx.check_owned("predictions", &key.preds.buffer)?;
        ctx.check_owned("targets", &key.targets.buffer)?;
        let binding = self.geo.layout.binding;
        let stages = ctx.pipelines.stages(&ctx.device, binding);
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bind = bind_group(
            &ctx.device,
            &stages.dice_counts.layout,
            Kernel::DiceCounts,
            binding,
            |slot| match slot.buffer {
                Buffer::Counts => counts.as_entire_binding(),
                _ => self.resource(key, slot),
            },
        );
        match pollster::block_on(scope.pop()) {
            Some(e) => Err(DiceError::Gpu(format!("binding the caller's buffers: {e}"))),
            None => Ok(bind),
        }
    }

    /// The status words turned into errors (in the oracle's order), then the cells.
    fn parse_counts(&self, bytes: &[u8]) -> Result<ConfusionCounts, DiceError> {
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(bytes);
        let (status, cells) = words.split_at(COUNT_STATUS_WORDS as usize);
        let count = |w: u32| status[w as usize] as u64;
        if count(COUNT_UNKNOWN_DECISION) > 0 {
            return Err(DiceError::Gpu(
                "dice_counts met a decision code it does not know; please report it".into(),
            ));
        }
        if count(COUNT_NON_FINITE) > 0 {
            return Err(DiceError::NonFinite {
                what: "predictions",
                count: count(COUNT_NON_FINITE),
            });
        }
        if count(COUNT_BAD_LABELS) > 0 {
            return Err(DiceError::LabelOutOfRange {
                count: count(COUNT_BAD_LABELS),
                n_classes: self.shape.classes(),
                first: None,
            });
        }
        if count(COUNT_NOT_BINARY) > 0 {
            return Err(DiceError::NotBinary {
                count: count(COUNT_NOT_BINARY),
            });
        }
        let cells = cells
            .chunks_exact(COUNT_TERMS as usize)
            .map(|c| Confusion {
                tp: c[0] as u64,
                fp: c[1] as u64,
                tn: c[2] as u64,
                fn_: c[3] as u64,
            })
            .collect();
        ConfusionCounts::new(self.shape.classes(), cells)
    }
}
