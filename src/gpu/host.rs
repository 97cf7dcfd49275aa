//! The host-slice API: host slices in, results out. Each (shape, configuration, target kind)
//! keeps its plan and buffers in a small cache on the context, so a repeated call uploads,
//! runs and reads back without creating a buffer, bind group or pipeline.

use std::sync::{Arc, Mutex};

use super::*;
use crate::config::DiceConfig;
use crate::error::DiceError;
use crate::metrics::{ConfusionCounts, Decision};
use crate::output::DiceOutput;
use crate::shape::{Shape, TargetKind, Targets};

/// Shapes, configurations and target kinds whose plans the cache keeps (the oldest goes).
const HOST_CACHE_ENTRIES: usize = 4;

/// Calls whose buffers would hold more than this are not kept: their upload dominates anyway,
/// and a context should not hold gigabytes after one large call.
const HOST_CACHE_MAX_BYTES: u64 = 256 << 20;

/// What a cached plan serves: the shape, the configuration (by its exact `Debug` text, which
/// spells every float so that it reads back bit for bit) and the target kind.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HostKey {
    dims: Vec<usize>,
    config: String,
    target_kind: TargetKind,
}

/// A plan and the buffers the host-slice API uploads to and reads back from.
struct HostSlot {
    plan: DicePlan,
    preds: wgpu::Buffer,
    targets: wgpu::Buffer,
    grad: wgpu::Buffer,
    grad_readback: wgpu::Buffer,
}

/// The context's cache of [`HostSlot`]s, most recently made last.
#[derive(Default)]
pub(super) struct HostCache {
    slots: Mutex<Vec<(HostKey, Arc<Mutex<HostSlot>>)>>,
}

impl HostCache {
    /// The slot for this call, made on first use.
    fn slot(
        &self,
        ctx: &DiceContext,
        shape: &Shape,
        config: &DiceConfig,
        target_kind: TargetKind,
    ) -> Result<Arc<Mutex<HostSlot>>, DiceError> {
        let key = HostKey {
            dims: shape.dims().to_vec(),
            config: format!("{config:?}"),
            target_kind,
        };
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, slot)) = slots.iter().find(|(k, _)| *k == key) {
            return Ok(slot.clone());
        }
        let plan = ctx.plan(shape, config, target_kind)?;
        let grad_bytes = shape.len() as u64 * 4;
        let target_bytes = target_kind.len_for(shape) as u64 * target_kind.element_size();
        let device = &ctx.device;
        let buffer = |label, size: u64, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size.div_ceil(4).max(1) * 4,
                usage,
                mapped_at_creation: false,
            })
        };
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let slot = Arc::new(Mutex::new(HostSlot {
            plan,
            preds: buffer("softdice preds", grad_bytes, storage),
            targets: buffer("softdice targets", target_bytes, storage),
            grad: buffer(
                "softdice gradient",
                grad_bytes,
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            ),
            grad_readback: buffer(
                "softdice gradient readback",
                grad_bytes,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            ),
        }));
        if 3 * grad_bytes + target_bytes <= HOST_CACHE_MAX_BYTES {
            if slots.len() == HOST_CACHE_ENTRIES {
                slots.remove(0);
            }
            slots.push((key, slot.clone()));
        }
        Ok(slot)
    }
}

impl DiceContext {
    /// The convenience layer: uploads host slices, runs the loss (and gradient) on the GPU,
    /// and reads everything back. Input is validated on the host first. Repeated calls with
    /// the same shape, configuration and target kind reuse their plan and buffers (for the last
    /// few of them, up to 256 MiB of buffers each).
    pub fn compute(
        &self,
        shape: &Shape,
        config: &DiceConfig,
        preds: &[f32],
        targets: Targets<'_>,
        gradient: crate::Gradient,
    ) -> Result<DiceOutput<f32>, DiceError> {
        crate::cpu::validate_inputs(shape, config, preds, targets)?;
        self.on_slot(shape, config, targets, |slot| {
            slot.run(self, preds, targets, gradient)
        })
    }

    /// Runs `f` on the host slot for (shape, config, target kind) inside validation and
    /// out-of-memory error scopes, so that a wgpu error is this call's `Gpu` error rather than
    /// a panic in wgpu's uncaptured-error handler, and checks the device before and after.
    fn on_slot<T>(
        &self,
        shape: &Shape,
        config: &DiceConfig,
        targets: Targets<'_>,
        f: impl FnOnce(&mut HostSlot) -> Result<T, DiceError>,
    ) -> Result<T, DiceError> {
        self.check_alive()?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let result = self
            .host
            .slot(self, shape, config, targets.kind())
            .and_then(|slot| f(&mut slot.lock().unwrap_or_else(|e| e.into_inner())));
        let oom = pollster::block_on(oom.pop());
        let validation = pollster::block_on(scope.pop());
        if let Some(e) = oom.or(validation) {
            return Err(DiceError::Gpu(e.to_string()));
        }
        self.check_alive()?;
        result
    }

    /// The convenience layer of [`DicePlan::record_counts`]: uploads host slices, counts TP,
    /// FP, TN and FN per sample and class on the GPU (the pixels' classes taken by `decision`
    /// from `config`'s activation, its `ignore_index` counted nowhere) and reads the counts
    /// back. Lengths are checked on the host; bad labels, non-finite predictions and soft
    /// dense targets are counted on the GPU and are the same errors as
    /// [`crate::cpu::confusion_counts`]'s. The plan and buffers are shared with
    /// [`DiceContext::compute`] for the same shape, configuration and target kind.
    pub fn confusion_counts(
        &self,
        shape: &Shape,
        config: &DiceConfig,
        preds: &[f32],
        targets: Targets<'_>,
        decision: Decision,
    ) -> Result<ConfusionCounts, DiceError> {
        crate::cpu::check_lengths(shape, preds, targets)?;
        decision.check()?;
        self.on_slot(shape, config, targets, |slot| {
            slot.count(self, preds, targets, decision)
        })
    }
}

impl HostSlot {
    fn count(
        &mut self,
        ctx: &DiceContext,
        preds: &[f32],
        targets: Targets<'_>,
        decision: Decision,
    ) -> Result<ConfusionCounts, DiceError> {
        write_padded(&ctx.queue, &self.preds, bytemuck::cast_slice(preds));
        write_padded(&ctx.queue, &self.targets, targets.as_bytes());
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let inputs = GpuInputs {
            preds: BufferRegion::whole(&self.preds),
            targets: BufferRegion::whole(&self.targets),
            gradient: None,
        };
        let recorded = self
            .plan
            .record_counts(ctx, &mut encoder, &inputs, decision)?;
        ctx.queue.submit([encoder.finish()]);
        self.plan.read_counts(ctx, recorded)
    }

    fn run(
        &mut self,
        ctx: &DiceContext,
        preds: &[f32],
        targets: Targets<'_>,
        gradient: crate::Gradient,
    ) -> Result<DiceOutput<f32>, DiceError> {
        let with_gradient = gradient.wanted();
        write_padded(&ctx.queue, &self.preds, bytemuck::cast_slice(preds));
        write_padded(&ctx.queue, &self.targets, targets.as_bytes());
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let recorded = self.plan.record(
            ctx,
            &mut encoder,
            &GpuInputs {
                preds: BufferRegion::whole(&self.preds),
                targets: BufferRegion::whole(&self.targets),
                gradient: with_gradient.then(|| BufferRegion::whole(&self.grad)),
            },
        )?;
        let grad_bytes = preds.len() as u64 * 4;
        if with_gradient {
            encoder.copy_buffer_to_buffer(&self.grad, 0, &self.grad_readback, 0, grad_bytes);
        }
        ctx.queue.submit([encoder.finish()]);
        let mut out = self.plan.read_results(ctx, recorded)?;
        if with_gradient {
            let bytes = pollster::block_on(read_mapped(&ctx.device, &self.grad_readback, true))?;
            out.gradient = Some(to_f32(&bytes[..grad_bytes as usize]));
        }
        Ok(out)
    }
}
