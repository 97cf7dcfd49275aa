//! Recording a plan's kernels into the caller's encoder.

use super::*;
use crate::error::DiceError;
use crate::params::Params;
use crate::shaders::Kernel;

/// Which kernels a recording runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stages {
    /// Sums, loss and gradient.
    All,
    /// The class sums only ([`DicePlan::record_sums`]).
    Sums,
    /// Loss and gradient from the sums buffer ([`DicePlan::record_loss`]).
    Loss,
}

impl DicePlan {
    /// Records the loss (and, when `inputs.gradient` is set, the gradient) into the caller's
    /// encoder over the caller's buffers: one compute pass (four or five dispatches, six with
    /// softmax over more than 8 classes), no host round trip, no allocation once the caller's
    /// buffers have been seen. The results stay in this plan's buffers and are copied to the
    /// recording's readback slot (read them with [`DicePlan::read_results`] and the returned
    /// handle); the gradient goes to `inputs.gradient`.
    /// Buffers are checked (usage, size at the offset, alignment, word padding, device,
    /// binding limit) before anything is recorded.
    ///
    /// Labels out of range and non-finite values are counted on the GPU into
    /// [`DicePlan::status_buffer`]; then the loss is NaN and the gradient buffer is left as it
    /// was. [`DicePlan::read_results`] turns the counts into errors.
    pub fn record(
        &mut self,
        ctx: &DiceContext,
        encoder: &mut wgpu::CommandEncoder,
        inputs: &GpuInputs<'_>,
    ) -> Result<Recorded, DiceError> {
        self.record_stages(ctx, encoder, inputs, Stages::All, None)
    }

    /// The first half of [`DicePlan::record`]: only the class sums, into
    /// [`DicePlan::sums_buffer`]. For data-parallel training: all-reduce that buffer across
    /// devices (batch scope), write the merged sums back, then [`DicePlan::record_loss`].
    pub fn record_sums(
        &mut self,
        ctx: &DiceContext,
        encoder: &mut wgpu::CommandEncoder,
        inputs: &GpuInputs<'_>,
    ) -> Result<Recorded, DiceError> {
        self.record_stages(ctx, encoder, inputs, Stages::Sums, None)
    }

    /// The second half of [`DicePlan::record`]: loss, dice and (with `inputs.gradient`) the
    /// gradient from whatever [`DicePlan::sums_buffer`] holds now, such as sums merged across
    /// devices. Reads the status counted by the last [`DicePlan::record_sums`] (and, with
    /// softmax over more than 8 classes, the per-pixel normalisers it stored: pass the same
    /// predictions to both).
    pub fn record_loss(
        &mut self,
        ctx: &DiceContext,
        encoder: &mut wgpu::CommandEncoder,
        inputs: &GpuInputs<'_>,
    ) -> Result<Recorded, DiceError> {
        self.record_stages(ctx, encoder, inputs, Stages::Loss, None)
    }

    /// [`DicePlan::record_loss`] as a vector-Jacobian product: the gradient written to
    /// `inputs.gradient` is `Σ_k upstream[k] · d output[k] / d input`, for the loss output
    /// `upstream` stands beside — one f32 for `Reduction::Mean`/`Sum` (the loss), one per cell
    /// `[rows][C]` for `Reduction::None` (the loss elements of
    /// [`DicePlan::output_buffer`]; unselected classes' values are not read; Generalized Dice
    /// reads column 0 of each row, where its row loss is). The upstream gradient is taken into
    /// the per-cell coefficients before the gradient kernel runs, so any weighting of the loss
    /// elements (`0.3 · loss`, a weighted sum of `Reduction::None`'s values) gets its exact
    /// gradient in one pass. The region is copied (it needs `COPY_SRC`, a 4-byte aligned
    /// offset and those floats in range); the loss output is computed as by
    /// [`DicePlan::record_loss`].
    pub fn record_loss_vjp(
        &mut self,
        ctx: &DiceContext,
        encoder: &mut wgpu::CommandEncoder,
        inputs: &GpuInputs<'_>,
        upstream: BufferRegion<'_>,
    ) -> Result<Recorded, DiceError> {
        self.record_stages(ctx, encoder, inputs, Stages::Loss, Some(upstream))
    }

    /// Floats of the upstream gradient [`DicePlan::record_loss_vjp`] reads: 1, or a cell each
    /// for `Reduction::None`.
    pub fn upstream_len(&self) -> usize {
        match self.config.reduction {
            crate::Reduction::None => self.cells() as usize,
            crate::Reduction::Mean | crate::Reduction::Sum => 1,
        }
    }

    /// Checks the caller's upstream region and records its copy into the plan's buffer.
    fn copy_upstream(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        region: BufferRegion<'_>,
    ) -> Result<(), DiceError> {
        let BufferRegion { buffer, offset } = region;
        if !buffer.usage().contains(wgpu::BufferUsages::COPY_SRC) {
            return Err(DiceError::MissingUsage {
                what: "upstream gradient",
                missing: wgpu::BufferUsages::COPY_SRC,
            });
        }
        let bytes = self.upstream_len() as u64 * 4;
        Region::new("upstream gradient", offset, 4, bytes / 4, buffer.size(), 4)?;
        encoder.copy_buffer_to_buffer(buffer, offset, &self.buffers.upstream, 0, bytes);
        Ok(())
    }

    /// Checks and binds the caller's regions, then records the stages' dispatches in one
    /// compute pass, each in a debug group of its kernel's name (what profilers show).
    pub(super) fn record_stages(
        &mut self,
        ctx: &DiceContext,
        encoder: &mut wgpu::CommandEncoder,
        inputs: &GpuInputs<'_>,
        stages: Stages,
        upstream: Option<BufferRegion<'_>>,
    ) -> Result<Recorded, DiceError> {
        ctx.check_alive()?;
        let (key, mut params) = self.input_key(inputs)?;
        params.upstream = u32::from(upstream.is_some());
        let binds = match self.input_binds.take() {
            Some((cached, binds)) if cached == key => binds,
            _ => self.new_input_binds(ctx, &key)?,
        };
        if let Some(region) = upstream {
            self.copy_upstream(encoder, region)?;
        }
        let recorded = self
            .slots
            .begin(&ctx.queue, encoder, &params, &self.buffers.params);
        if stages != Stages::Loss {
            encoder.clear_buffer(&self.buffers.status, 0, None);
        }
        let pipelines = match (&self.specialised_vec4, key.vec4) {
            (Some(v), true) => v.clone(),
            _ => self.specialised.clone(),
        };
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("softdice"),
            timestamp_writes: None,
        });
        for d in self.dispatches(ctx, &pipelines, &binds, stages, key.vec4) {
            pass.push_debug_group(d.label);
            pass.set_pipeline(d.pipeline);
            pass.set_bind_group(0, d.bind, &[]);
            let [x, y, z] = d.groups;
            pass.dispatch_workgroups(x, y, z);
            pass.pop_debug_group();
        }
        drop(pass);
        self.slots.finish(encoder, &recorded, &self.results());
        self.input_binds = Some((key, binds));
        Ok(recorded)
    }

    /// The bindings of the caller's regions (checked: usage, size, alignment, pages) and the
    /// parameters with their offsets; VEC4 where the plan allows it and every tensor starts on
    /// a quad of elements.
    pub(super) fn input_key(
        &self,
        inputs: &GpuInputs<'_>,
    ) -> Result<(InputKey, Params), DiceError> {
        let n = self.shape.len() as u64;
        let n_targets = self.target_kind.len_for(&self.shape) as u64;
        let pred_size = self.pred_format.element_size();
        let pages = self.geo.layout.pages();
        let (preds, pred_offset) =
            self.binding("predictions", inputs.preds, pred_size, n, pages.preds)?;
        let (targets, target_offset) = self.binding(
            "targets",
            inputs.targets,
            self.target_kind.element_size(),
            n_targets,
            pages.targets,
        )?;
        let grad = inputs
            .gradient
            .map(|g| self.binding("gradient", g, 4, n, pages.grad))
            .transpose()?;
        let mut params = self.geo.params;
        params.pred_offset = pred_offset;
        params.target_offset = target_offset;
        params.grad_offset = grad.as_ref().map_or(0, |(_, first)| *first);
        let vec4 = self.specialised_vec4.is_some()
            && [params.pred_offset, params.target_offset, params.grad_offset]
                .iter()
                .all(|o| o.is_multiple_of(4));
        let key = InputKey {
            preds,
            targets,
            grad: grad.map(|(g, _)| g),
            vec4,
        };
        Ok((key, params))
    }

    /// Bind groups over the caller's buffers, built when they change: each buffer on the
    /// context's device, the gradient in no other tensor's buffer (wgpu cannot bind one buffer
    /// read-only and writable in one dispatch), and a binding wgpu rejects an error here, not
    /// a panic in wgpu's default handler.
    fn new_input_binds(&self, ctx: &DiceContext, key: &InputKey) -> Result<InputBinds, DiceError> {
        let tensors = [("predictions", &key.preds), ("targets", &key.targets)];
        let grad = key.grad.as_ref().map(|g| ("gradient", g));
        for (what, tensor) in tensors.into_iter().chain(grad) {
            ctx.check_owned(what, &tensor.buffer)?;
        }
        if let Some((_, g)) = grad {
            if let Some((with, _)) = tensors.iter().find(|(_, t)| t.buffer == g.buffer) {
                return Err(DiceError::SharedBuffer {
                    what: "gradient",
                    with,
                });
            }
        }
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let binds = self.input_bind_groups(ctx, key);
        match pollster::block_on(scope.pop()) {
            Some(e) => Err(DiceError::Gpu(format!("binding the caller's buffers: {e}"))),
            None => Ok(binds),
        }
    }

    /// The dispatches of `stages`, in order: the sums (normalisers where stored, partials,
    /// reduce), then the loss (finalize, total) and the gradient where one is bound.
    fn dispatches<'a>(
        &'a self,
        ctx: &'a DiceContext,
        pipelines: &'a Specialised,
        binds: &'a InputBinds,
        stages: Stages,
        vec4: bool,
    ) -> impl Iterator<Item = Dispatch<'a>> {
        let g = &self.geo;
        let p = &ctx.pipelines;
        let samples = (self.shape.batch() as u32).min(g.max_dim);
        // At most six, in a fixed array: a warm recording allocates nothing.
        let mut list: [Option<Dispatch<'a>>; 6] = Default::default();
        let mut at = 0;
        let mut push = |d: Dispatch<'a>| {
            list[at] = Some(d);
            at += 1;
        };
        if stages != Stages::Loss {
            if let (Some(pipeline), Some(bind)) = (&pipelines.dice_normaliser, &binds.normaliser) {
                let groups = [g.gradient_groups[0], samples, 1];
                push(Dispatch::new(
                    Kernel::DiceNormaliser,
                    pipeline,
                    bind,
                    groups,
                ));
            }
            let groups = [g.groups, g.n_chunks, samples];
            let partials = &pipelines.dice_partials;
            push(Dispatch::new(
                Kernel::DicePartials,
                partials,
                &binds.partials,
                groups,
            ));
            let classes = (self.shape.classes() as u32).min(g.max_dim);
            let groups = [classes, g.n_rows.min(g.max_dim), 1];
            let reduce = &p.dice_reduce.pipeline;
            push(Dispatch::new(
                Kernel::DiceReduce,
                reduce,
                &self.reduce_bind,
                groups,
            ));
        }
        if stages != Stages::Sums {
            let (finalize, bind) = (&p.dice_finalize.pipeline, &self.finalize_bind);
            let groups = [g.finalize_groups, 1, 1];
            push(Dispatch::new(Kernel::DiceFinalize, finalize, bind, groups));
            // `total`, the second entry point of dice_finalize, over the same bind group.
            push(Dispatch {
                label: "dice_finalize total",
                ..Dispatch::new(Kernel::DiceFinalize, &p.dice_total, bind, [1, 1, 1])
            });
            if let Some(bind) = &binds.gradient {
                let groups = [g.gradient_groups[vec4 as usize], samples, 1];
                let gradient = &pipelines.dice_gradient;
                push(Dispatch::new(Kernel::DiceGradient, gradient, bind, groups));
            }
        }
        list.into_iter().flatten()
    }
}

/// One dispatch of a recording: its debug group's name (the kernel's, and its entry point's
/// past the first), pipeline, bind group and workgroup counts.
struct Dispatch<'a> {
    label: &'static str,
    pipeline: &'a wgpu::ComputePipeline,
    bind: &'a wgpu::BindGroup,
    groups: [u32; 3],
}

impl<'a> Dispatch<'a> {
    fn new(
        kernel: Kernel,
        pipeline: &'a wgpu::ComputePipeline,
        bind: &'a wgpu::BindGroup,
        groups: [u32; 3],
    ) -> Self {
        Self {
            label: kernel.name(),
            pipeline,
            bind,
            groups,
        }
    }
}
