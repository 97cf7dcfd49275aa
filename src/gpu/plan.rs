//! A plan: the scratch buffers and launch sizes for one shape, configuration and target
//! format.

use std::sync::Arc;

use super::*;
use crate::config::DiceConfig;
use crate::error::DiceError;
use crate::params::{FinalizeParams, Params, STATUS_WORDS};
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
    /// The scratch and parameter buffers of a plan of geometry `geo`.
    fn new(
        ctx: &DiceContext,
        geo: &Geometry,
        config: &DiceConfig,
        shape: &Shape,
        target_kind: TargetKind,
    ) -> Self {
        let (device, queue) = (&ctx.device, &ctx.queue);
        let n_c = shape.classes();
        let cells = geo.cells();
        let none = wgpu::BufferUsages::empty();
        let copy = wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let finalize_params = FinalizeParams::new(config, n_c, shape.spatial(), target_kind.form());
        Self {
            params: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("softdice params"),
                size: std::mem::size_of::<Params>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            partials: storage(device, "softdice partials", geo.partials_bytes, none),
            status: storage(device, "softdice status", STATUS_WORDS as u64 * 4, copy),
            sums: storage(
                device,
                "softdice sums",
                readback::sums_words(cells) * 4,
                copy,
            ),
            out: storage(device, "softdice out", readback::out_words(cells) * 4, copy),
            coefs: storage(device, "softdice coefs", geo.coefs_bytes, none),
            finalize_params: buffer_with(
                device,
                queue,
                "softdice finalize params",
                bytemuck::bytes_of(&finalize_params),
                wgpu::BufferUsages::UNIFORM,
            ),
            class_info: buffer_with(
                device,
                queue,
                "softdice class info",
                bytemuck::cast_slice(&crate::params::class_info(config, n_c)),
                wgpu::BufferUsages::STORAGE,
            ),
            // One value per loss output: one, or a cell each for `Reduction::None`.
            upstream: storage(
                device,
                "softdice upstream",
                cells * 4,
                wgpu::BufferUsages::COPY_DST,
            ),
        }
    }

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
            // Made with the counts' state, on the first `record_counts`.
            Buffer::Counts
            | Buffer::Preds
            | Buffer::Targets
            | Buffer::Grad
            | Buffer::Preds4
            | Buffer::Targets4
            | Buffer::Grad4 => return None,
        })
    }
}

/// A storage buffer of at least 16 bytes (wgpu refuses empty bindings).
fn storage(
    device: &wgpu::Device,
    label: &str,
    size: u64,
    extra: wgpu::BufferUsages,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: size.max(16),
        usage: wgpu::BufferUsages::STORAGE | extra,
        mapped_at_creation: false,
    })
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
///     softdice::Gradient::Without,
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
    /// Rows, chunks, workgroups, layout, parameters and scratch sizes.
    pub(super) geo: Geometry,
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
    /// Bound where a paged tensor has fewer pages than the layout: one for read-only pages,
    /// one for writable ones (wgpu forbids one buffer in both roles in a dispatch).
    pub(super) placeholder: wgpu::Buffer,
    pub(super) placeholder_rw: wgpu::Buffer,
    /// Bind groups over the caller's buffers, kept while the same regions come back.
    pub(super) input_binds: Option<(InputKey, InputBinds)>,
    /// The confusion counts' buffer, readback and bind group, made on first use.
    pub(super) counts: Option<CountsState>,
}

impl std::fmt::Debug for DicePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DicePlan")
            .field("shape", &self.shape)
            .field("config", &self.config)
            .field("pred_format", &self.pred_format)
            .field("target_kind", &self.target_kind)
            .field("binding", &self.geo.layout.binding)
            .finish_non_exhaustive()
    }
}

impl DicePlan {
    /// Validate, then the geometry, the buffers, and the fixed bind groups and pipelines.
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
        let geo = Geometry::new(
            &limits,
            ctx.grid,
            ctx.pipelines.slots,
            shape,
            config,
            pred_format,
            target_kind,
        )?;
        let device = &ctx.device;
        let buffers = PlanBuffers::new(ctx, &geo, config, shape, target_kind);
        let slots = Slots::new(device, Self::results_bytes(geo.cells()));
        let placeholder = storage(
            device,
            "softdice placeholder",
            16,
            wgpu::BufferUsages::empty(),
        );
        let placeholder_rw = storage(
            device,
            "softdice placeholder rw",
            16,
            wgpu::BufferUsages::empty(),
        );
        let p = &ctx.pipelines;
        // Reduce and finalize bind only the plan's buffers (the placeholder would stand for a
        // tensor, which they never bind).
        let own = |slot: &BindingSlot| {
            buffers
                .find(slot.buffer)
                .unwrap_or(&placeholder)
                .as_entire_binding()
        };
        let own_group = |layout: &wgpu::BindGroupLayout, kernel| {
            bind_group(device, layout, kernel, Binding::Flat, own)
        };
        let reduce_bind = own_group(&p.dice_reduce.layout, Kernel::DiceReduce);
        let finalize_bind = own_group(&p.dice_finalize.layout, Kernel::DiceFinalize);
        let binding = geo.layout.binding;
        Ok(Self {
            shape: shape.clone(),
            config: config.clone(),
            pred_format,
            target_kind,
            specialised: p.specialised(device, binding, geo.spec),
            specialised_vec4: geo.vec4.then(|| {
                let spec = Spec {
                    vec4: true,
                    ..geo.spec
                };
                p.specialised(device, binding, spec)
            }),
            geo,
            buffers,
            slots,
            reduce_bind,
            finalize_bind,
            limits,
            placeholder,
            placeholder_rw,
            input_binds: None,
            counts: None,
        })
    }

    pub(super) fn cells(&self) -> u64 {
        self.geo.cells()
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
