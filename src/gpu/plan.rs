//! A plan: the scratch buffers and launch sizes for one shape, configuration and target
//! format.

use std::sync::Arc;

use super::*;
use crate::config::{Activation, DiceConfig, Scope};
use crate::error::DiceError;
use crate::params::{
    FinalizeParams, Params, ACT_NONE, ACT_SIGMOID, ACT_SOFTMAX, CE_OFF, CE_SOFTMAX, CLASS_CHUNK,
    STATUS_WORDS, SUM_TERMS,
};
use crate::shaders::{Binding, BindingSlot, Buffer, Kernel};
use crate::shape::{PredFormat, Shape, TargetKind};

/// The buffers a plan owns, by the [`Buffer`] they are bound as.
pub(super) struct PlanBuffers {
    pub(super) params: wgpu::Buffer,
    pub(super) partials: wgpu::Buffer,
    pub(super) status: wgpu::Buffer,
    pub(super) sums: wgpu::Buffer,
    pub(super) out: wgpu::Buffer,
    pub(super) coefs: wgpu::Buffer,
    pub(super) finalize_params: wgpu::Buffer,
    pub(super) class_info: wgpu::Buffer,
    /// The upstream gradient of the loss output, copied from the caller's region.
    pub(super) upstream: wgpu::Buffer,
}

impl PlanBuffers {
    /// The plan's buffer bound as `buffer`, or `None` for the caller's tensors.
    pub(super) fn find(&self, buffer: Buffer) -> Option<&wgpu::Buffer> {
        Some(match buffer {
            Buffer::Params => &self.params,
            Buffer::Partials => &self.partials,
            Buffer::Status => &self.status,
            Buffer::Sums => &self.sums,
            Buffer::Out => &self.out,
            Buffer::Coefs => &self.coefs,
            Buffer::FinalizeParams => &self.finalize_params,
            Buffer::ClassInfo => &self.class_info,
            Buffer::Upstream => &self.upstream,
            Buffer::Preds
            | Buffer::Targets
            | Buffer::Grad
            | Buffer::Preds4
            | Buffer::Targets4
            | Buffer::Grad4 => return None,
        })
    }
}

/// Scratch buffers and fixed bind groups for one shape, configuration and target format; see
/// [`DiceContext::plan`]. The results of the last recorded call stay in its buffers:
/// [`DicePlan::output_buffer`] (loss, dice, loss elements), [`DicePlan::sums_buffer`] (the
/// mergeable class sums) and [`DicePlan::status_buffer`] (error counters).
///
/// Up to [`RECORDING_SLOTS`](crate::RECORDING_SLOTS) recordings of one plan may share a
/// submission: each runs with its own parameters and copies its results to a readback slot of
/// its own, which [`DicePlan::read_results`] reads through the [`Recorded`] handle the
/// recording returned.
///
/// ```
/// use softdice::{BufferRegion, DiceConfig, DiceContext, GpuInputs, Shape, TargetKind, Targets};
///
/// # fn main() -> Result<(), softdice::DiceError> {
/// let ctx = DiceContext::new()?;
/// let shape = Shape::new(&[1, 2, 8, 8])?;
/// let probs = vec![0.5f32; shape.len()];
/// let labels = vec![1u32; shape.pixels()];
/// // Your buffers (here made by the context's helpers), on the context's device.
/// let preds = ctx.upload_preds(&probs);
/// let targets = ctx.upload_targets(Targets::Labels(&labels));
/// let grad = ctx.gradient_buffer(&shape);
///
/// let mut plan = ctx.plan(&shape, &DiceConfig::seed(), TargetKind::LabelsU32)?;
/// let mut encoder = ctx.device().create_command_encoder(&Default::default());
/// let inputs = GpuInputs {
///     preds: BufferRegion::whole(&preds),
///     targets: BufferRegion::whole(&targets),
///     gradient: Some(BufferRegion::whole(&grad)),
/// };
/// let recorded = plan.record(&ctx, &mut encoder, &inputs)?;
/// ctx.queue().submit([encoder.finish()]);
/// let out = plan.read_results(&ctx, recorded)?; // the gradient stays in `grad`
/// let oracle = softdice::cpu::compute(
///     &shape,
///     &DiceConfig::seed(),
///     &probs,
///     Targets::Labels(&labels),
///     false,
/// )?;
/// assert!((out.loss as f64 - oracle.loss).abs() <= 1e-5 * oracle.loss.abs());
/// # Ok(())
/// # }
/// ```
pub struct DicePlan {
    pub(super) shape: Shape,
    pub(super) config: DiceConfig,
    pub(super) pred_format: PredFormat,
    pub(super) target_kind: TargetKind,
    pub(super) params: Params,
    pub(super) n_rows: u32,
    pub(super) n_chunks: u32,
    pub(super) groups: u32,
    /// dice_gradient workgroups per sample on the scalar and on the VEC4 path (which takes
    /// four pixels per thread and step).
    pub(super) gradient_groups: [u32; 2],
    /// The plan's own buffers, bound by name.
    pub(super) buffers: PlanBuffers,
    /// Each recording's parameters and results.
    pub(super) slots: Slots,
    pub(super) reduce_bind: wgpu::BindGroup,
    pub(super) finalize_bind: wgpu::BindGroup,
    pub(super) limits: wgpu::Limits,
    /// The input kernels specialised for this plan's config, shape and target format.
    pub(super) specialised: Arc<Specialised>,
    /// The same with VEC4, where the shape and format allow it (used when the offsets do).
    pub(super) specialised_vec4: Option<Arc<Specialised>>,
    /// Workgroups per dispatch dimension; larger counts are grid-stride loops in the kernels.
    pub(super) max_dim: u32,
    /// dice_finalize workgroups: one thread per cell (per row for Generalized Dice).
    pub(super) finalize_groups: u32,
    /// Flat, or each tensor over its pages.
    pub(super) layout: TensorLayout,
    /// Bound where a paged tensor has fewer pages than the layout: one for read-only pages,
    /// one for writable ones (wgpu forbids one buffer in both roles in a dispatch).
    pub(super) placeholder: wgpu::Buffer,
    pub(super) placeholder_rw: wgpu::Buffer,
    /// Bind groups over the caller's buffers, kept while the same regions come back.
    pub(super) input_binds: Option<(InputKey, InputBinds)>,
}

impl std::fmt::Debug for DicePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DicePlan")
            .field("shape", &self.shape)
            .field("config", &self.config)
            .field("pred_format", &self.pred_format)
            .field("target_kind", &self.target_kind)
            .field("binding", &self.layout.binding)
            .finish_non_exhaustive()
    }
}

impl DicePlan {
    pub(super) fn new(
        ctx: &DiceContext,
        shape: &Shape,
        config: &DiceConfig,
        pred_format: PredFormat,
        target_kind: TargetKind,
    ) -> Result<Self, DiceError> {
        config.validate(shape.classes())?;
        config.validate_targets(target_kind)?;
        let limits = ctx.device.limits();
        let max_dim = limits.max_compute_workgroups_per_dimension as u64;
        let (n_b, n_c, n_s) = (shape.batch(), shape.classes(), shape.spatial());
        fits(
            "class count",
            n_c as u64,
            max_dim * CLASS_CHUNK as u64,
            "max_compute_workgroups_per_dimension x class chunk",
        )?;
        // Element indices are u32 (counted from the start of a tensor's first binding).
        fits(
            "elements",
            shape.len() as u64 + 1024,
            u32::MAX as u64,
            "u32 element index",
        )?;
        let layout = TensorLayout::choose(
            TensorBytes {
                preds: shape.len() as u64 * pred_format.element_size(),
                targets: target_kind.len_for(shape) as u64 * target_kind.element_size(),
                grad: shape.len() as u64 * 4,
            },
            &limits,
        )?;
        let n_rows = if config.scope == Scope::PerSample {
            n_b
        } else {
            1
        } as u32;
        let n_chunks = (n_c as u32).div_ceil(CLASS_CHUNK);
        let per_sample = n_chunks.saturating_mul(n_b as u32);
        let grid = ctx.grid;
        let n_s32 = n_s as u32;
        let max_dim32 = max_dim as u32;
        let groups = Grid::per_unit(
            grid.partial_groups,
            per_sample,
            n_s32,
            grid.partial_pixels_per_thread,
            max_dim32,
        );
        let gradient_groups = grid.gradient_pixels_per_thread.map(|pixels| {
            Grid::per_unit(grid.gradient_groups, n_b as u32, n_s32, pixels, max_dim32)
        });

        let mut params = Params::for_config(config);
        params.n_samples = n_b as u32;
        params.n_classes = n_c as u32;
        params.spatial = n_s as u32;
        // Partials per (sample, class chunk): SLOTS per workgroup.
        params.groups = groups * ctx.pipelines.slots;
        params.page_shift = layout.page_shift();
        params.n_rows = n_rows;

        let spec = Spec {
            activation: match config.activation {
                Activation::None => ACT_NONE,
                Activation::Softmax => ACT_SOFTMAX,
                Activation::Sigmoid => ACT_SIGMOID,
            },
            target_kind: target_kind.code(),
            pred_f16: pred_format == PredFormat::F16,
            squared: config.squared,
            soft_l1: config.soft_l1(),
            n_classes: n_c as u32,
            vec4: false,
            ce_kind: params.ce_kind,
            softmax: config.softmax_over_classes(),
        };
        // The VEC4 path: whole quads of pixels, every class in one chunk, integer labels
        // (offsets are checked per call).
        let vec4_ok = n_s % 4 == 0
            && n_c as u32 <= CLASS_CHUNK
            // A cross-entropy term on this path only as softmax beside a softmax Dice term
            // (they share the exponentials).
            && (params.ce_kind == CE_OFF
                || (params.ce_kind == CE_SOFTMAX && config.activation == Activation::Softmax))
            && matches!(
                target_kind,
                TargetKind::LabelsU8 | TargetKind::LabelsU16 | TargetKind::LabelsU32
            );
        let device = &ctx.device;
        let storage = |label: &str, size: u64, extra: wgpu::BufferUsages| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size.max(16),
                usage: wgpu::BufferUsages::STORAGE | extra,
                mapped_at_creation: false,
            })
        };
        let cells = (n_rows as u64) * n_c as u64;
        // Softmax over several class chunks: per-pixel normalisers after the coefficients, in
        // one binding (8 bytes a pixel against at least 36 of predictions: past about 4.5
        // bindings of predictions this refuses before the pages would).
        // The Dice coefficients, the cross-entropy ones and their sum (`ce_coef_base`), then
        // the normalisers (`norm_index`).
        let coef_pairs = cells + n_c as u64 + 1;
        let coefs_size = if spec.norms() {
            (coef_pairs + (n_b * n_s) as u64) * 2 * 4
        } else {
            coef_pairs * 2 * 4
        };
        fits(
            "coefficients and softmax normalisers",
            coefs_size,
            limits.max_storage_buffer_binding_size,
            "max_storage_buffer_binding_size",
        )?;
        // Per slot and class: A, P, Y, and X1, X2 where a cross-entropy term is fused
        // (`partial_terms` in the WGSL).
        let partial_terms = if params.ce_kind == CE_OFF {
            3
        } else {
            SUM_TERMS
        };
        let partials_size =
            per_sample as u64 * params.groups as u64 * (partial_terms * CLASS_CHUNK) as u64 * 4;
        fits(
            "partials scratch",
            partials_size,
            limits.max_storage_buffer_binding_size,
            "max_storage_buffer_binding_size",
        )?;
        let copy = wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let partials = storage(
            "softdice partials",
            partials_size,
            wgpu::BufferUsages::empty(),
        );
        let status = storage("softdice status", STATUS_WORDS as u64 * 4, copy);
        let sums = storage("softdice sums", readback::sums_words(cells) * 4, copy);
        let out = storage("softdice out", readback::out_words(cells) * 4, copy);
        let coefs = storage("softdice coefs", coefs_size, wgpu::BufferUsages::empty());
        // One value per loss output: one, or a cell each for `Reduction::None`.
        let upstream = storage("softdice upstream", cells * 4, wgpu::BufferUsages::COPY_DST);
        let slots = Slots::new(device, Self::results_bytes(cells));
        let params_block = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("softdice params"),
            size: std::mem::size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let finalize_params = buffer_with(
            device,
            &ctx.queue,
            "softdice finalize params",
            bytemuck::bytes_of(&FinalizeParams::new(
                config,
                n_c,
                n_s,
                target_kind != TargetKind::Dense,
            )),
            wgpu::BufferUsages::UNIFORM,
        );
        let class_info = buffer_with(
            device,
            &ctx.queue,
            "softdice class info",
            bytemuck::cast_slice(&crate::params::class_info(config, n_c)),
            wgpu::BufferUsages::STORAGE,
        );
        let placeholder = storage("softdice placeholder", 16, wgpu::BufferUsages::empty());
        let placeholder_rw = storage("softdice placeholder rw", 16, wgpu::BufferUsages::empty());
        let buffers = PlanBuffers {
            params: params_block,
            partials,
            status,
            sums,
            out,
            coefs,
            finalize_params,
            class_info,
            upstream,
        };
        let p = &ctx.pipelines;
        // Reduce and finalize bind only the plan's buffers (the placeholder would stand for a
        // tensor, which they never bind).
        let own = |slot: &BindingSlot| {
            buffers
                .find(slot.buffer)
                .unwrap_or(&placeholder)
                .as_entire_binding()
        };
        let reduce_bind = bind_group(
            device,
            &p.dice_reduce.layout,
            Kernel::DiceReduce,
            Binding::Flat,
            own,
        );
        let finalize_bind = bind_group(
            device,
            &p.dice_finalize.layout,
            Kernel::DiceFinalize,
            Binding::Flat,
            own,
        );
        Ok(Self {
            shape: shape.clone(),
            config: config.clone(),
            pred_format,
            target_kind,
            params,
            n_rows,
            n_chunks,
            groups,
            gradient_groups,
            buffers,
            slots,
            reduce_bind,
            finalize_bind,
            limits,
            max_dim: max_dim as u32,
            finalize_groups: {
                let units = if config.generalized.is_some() {
                    n_rows as u64
                } else {
                    cells
                };
                units.div_ceil(WG as u64).clamp(1, max_dim) as u32
            },
            layout,
            placeholder,
            placeholder_rw,
            specialised: p.specialised(device, layout.binding, spec),
            specialised_vec4: vec4_ok
                .then(|| p.specialised(device, layout.binding, Spec { vec4: true, ..spec })),
            input_binds: None,
        })
    }

    pub(super) fn cells(&self) -> u64 {
        self.n_rows as u64 * self.shape.classes() as u64
    }

    /// Buffer `[loss, dice[rows][C], loss_elements[rows][C], cross-entropy, bad labels,
    /// non-finite inputs]` (f32; the last two are the status counts, as floats so that they
    /// add up like the sums when merged) of the last recorded call.
    /// With a bad label or a non-finite input the loss is NaN.
    pub fn output_buffer(&self) -> &wgpu::Buffer {
        &self.buffers.out
    }

    /// Buffer `[rows][C][A, P, Y, X1, X2]` then the pixel count (f32): the class sums to merge
    /// across devices ([`ClassSums::to_f32`](crate::ClassSums::to_f32) writes this layout).
    pub fn sums_buffer(&self) -> &wgpu::Buffer {
        &self.buffers.sums
    }

    /// Buffer of four u32: labels out of range, non-finite inputs, and two spare words.
    pub fn status_buffer(&self) -> &wgpu::Buffer {
        &self.buffers.status
    }

    /// Whether [`DicePlan::record_sums`] stores per-pixel softmax normalisers that
    /// [`DicePlan::record_loss`] reads (softmax over more than 8 classes): then a loss recorded
    /// from restored sums needs a sums pass over the same predictions first.
    pub fn stores_normalisers(&self) -> bool {
        self.specialised.dice_normaliser.is_some()
    }

    /// The shape this plan was made for.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }
}
