//! How the input kernels bind the caller's tensors: the one table of each kernel's bindings,
//! the caller's regions, and the bind groups over them.

use super::*;
use crate::error::DiceError;
use crate::shaders::{bindings, Access, Binding, BindingSlot, Buffer, Kernel};
use crate::shape::{PredFormat, TargetKind};

/// Storage bindings of the input kernel that uses the most under `binding`.
pub(crate) fn storage_bindings(binding: Binding) -> u32 {
    [Kernel::DicePartials, Kernel::DiceGradient]
        .iter()
        .map(|&k| {
            bindings(k, binding)
                .iter()
                .filter(|slot| slot.access != Access::Uniform)
                .count() as u32
        })
        .max()
        .unwrap_or(0)
}

/// One past the largest binding number of the kernels under `binding`
/// (`max_bindings_per_bind_group` must reach it).
pub(crate) fn binding_numbers(binding: Binding) -> u32 {
    Kernel::ALL
        .iter()
        .flat_map(|&k| bindings(k, binding))
        .map(|slot| slot.number() + 1)
        .max()
        .unwrap_or(0)
}

/// The layout entry of one binding.
pub(super) fn layout_entry(slot: &BindingSlot) -> wgpu::BindGroupLayoutEntry {
    let ty = match slot.access {
        Access::Uniform => wgpu::BufferBindingType::Uniform,
        Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
        Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
    };
    wgpu::BindGroupLayoutEntry {
        binding: slot.number(),
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// The bind group of `kernel` under `binding`, each entry of its table bound to `resource`.
pub(super) fn bind_group<'a>(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    kernel: Kernel,
    binding: Binding,
    resource: impl Fn(&BindingSlot) -> wgpu::BindingResource<'a>,
) -> wgpu::BindGroup {
    let entries: Vec<_> = bindings(kernel, binding)
        .iter()
        .map(|slot| wgpu::BindGroupEntry {
            binding: slot.number(),
            resource: resource(slot),
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(kernel.name()),
        layout,
        entries: &entries,
    })
}

/// The bind groups of the input kernels over one set of the caller's buffers.
pub(super) struct InputBinds {
    /// dice_normaliser's, where the plan stores normalisers.
    pub(super) normaliser: Option<wgpu::BindGroup>,
    pub(super) partials: wgpu::BindGroup,
    /// dice_gradient's, where a gradient is asked for.
    pub(super) gradient: Option<wgpu::BindGroup>,
}

/// A region of a caller's buffer: the buffer and a byte offset into it.
#[derive(Clone, Copy, Debug)]
pub struct BufferRegion<'a> {
    /// The buffer (needs `STORAGE` usage).
    pub buffer: &'a wgpu::Buffer,
    /// Byte offset of the first element.
    pub offset: u64,
}

impl<'a> BufferRegion<'a> {
    /// The whole buffer from its start.
    pub fn whole(buffer: &'a wgpu::Buffer) -> Self {
        Self { buffer, offset: 0 }
    }
}

/// The inputs of [`DicePlan::record`], all in the caller's buffers, which must belong to the
/// plan's device (checked as far as wgpu allows: [`DiceError::ForeignBuffer`]).
#[derive(Clone, Copy, Debug)]
pub struct GpuInputs<'a> {
    /// Predictions (probabilities or logits) `[B, C, spatial...]`, in the plan's
    /// [`PredFormat`] (f32 unless made with [`DiceContext::plan_for`]).
    pub preds: BufferRegion<'a>,
    /// Targets in the plan's [`TargetKind`].
    pub targets: BufferRegion<'a>,
    /// Where d loss / d input is written (f32, the predictions' shape), or `None` for the
    /// forward pass only.
    pub gradient: Option<BufferRegion<'a>>,
}

/// A tensor's binding over a caller's buffer: the buffer and the bound byte range; bound
/// paged, page k starts `k * page_bytes` after the start.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct TensorBinding {
    pub(super) buffer: wgpu::Buffer,
    pub(super) start: u64,
    pub(super) size: u64,
}

/// The bindings of one call's tensors: what the plan's cached bind groups were built over.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct InputKey {
    pub(super) preds: TensorBinding,
    pub(super) targets: TensorBinding,
    pub(super) grad: Option<TensorBinding>,
    /// Whether the VEC4 pipelines (and views) are used.
    pub(super) vec4: bool,
}

impl DicePlan {
    /// Checks one of the caller's regions and returns the binding over it (at most `pages`
    /// pages) and the tensor's first element within it.
    pub(super) fn binding(
        &self,
        what: &'static str,
        region: BufferRegion<'_>,
        elem_size: u64,
        elements: u64,
        pages: u32,
    ) -> Result<(TensorBinding, u32), DiceError> {
        let BufferRegion { buffer, offset } = region;
        if !buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
            return Err(DiceError::MissingUsage {
                what,
                missing: wgpu::BufferUsages::STORAGE,
            });
        }
        let align = self.limits.min_storage_buffer_offset_alignment as u64;
        let region = Region::new(what, offset, elem_size, elements, buffer.size(), align)?;
        fits(
            what,
            region.size,
            self.geo.layout.capacity(pages),
            "max_storage_buffer_binding_size x the plan's binding pages",
        )?;
        let binding = TensorBinding {
            buffer: buffer.clone(),
            start: region.start,
            size: region.size,
        };
        Ok((binding, region.first))
    }

    /// The bind groups over the caller's buffers (cached: rebuilt only when they change).
    pub(super) fn input_bind_groups(&self, ctx: &DiceContext, key: &InputKey) -> InputBinds {
        let resource = |slot: &BindingSlot| self.resource(key, slot);
        let stages = ctx.pipelines.stages(&ctx.device, self.geo.layout.binding);
        let bind = |stage: &Stage| {
            bind_group(
                &ctx.device,
                &stage.layout,
                stage.kernel,
                self.geo.layout.binding,
                resource,
            )
        };
        let partials = bind(&stages.dice_partials);
        let normaliser = self
            .specialised
            .dice_normaliser
            .is_some()
            .then(|| bind(&stages.dice_normaliser));
        let gradient = key.grad.is_some().then(|| bind(&stages.dice_gradient));
        InputBinds {
            normaliser,
            partials,
            gradient,
        }
    }

    /// What a binding of the tables is bound to: the plan's own buffers by name, the tensors'
    /// pages (placeholders past a tensor's pages and for buffers the plan does not own).
    pub(super) fn resource<'a>(
        &'a self,
        key: &'a InputKey,
        slot: &BindingSlot,
    ) -> wgpu::BindingResource<'a> {
        if let Some(own) = self.buffers.find(slot.buffer) {
            return own.as_entire_binding();
        }
        let page_bytes = self.geo.layout.page_bytes;
        let tensor = self.tensor_of(key, slot.buffer);
        match slot.access {
            Access::ReadWrite => page(&self.placeholder_rw, page_bytes, tensor, slot.page),
            _ => page(&self.placeholder, page_bytes, tensor, slot.page),
        }
    }

    /// The caller's tensor bound as `buffer`: the vec4 views are the same regions on the flat
    /// VEC4 path (u32 labels only: u8 labels are read as words) and none otherwise (the paged
    /// VEC4 path reads pages word by word); none for the plan's own buffers.
    fn tensor_of<'a>(&self, key: &'a InputKey, buffer: Buffer) -> Option<&'a TensorBinding> {
        let vec4_views = key.vec4 && self.geo.layout.binding == Binding::Flat;
        match buffer {
            Buffer::Preds => Some(&key.preds),
            Buffer::Targets => Some(&key.targets),
            Buffer::Grad => key.grad.as_ref(),
            Buffer::Preds4 => {
                Some(&key.preds).filter(|_| vec4_views && self.pred_format == PredFormat::F32)
            }
            Buffer::Targets4 => Some(&key.targets)
                .filter(|_| vec4_views && self.target_kind == TargetKind::LabelsU32),
            Buffer::Grad4 => key.grad.as_ref().filter(|_| vec4_views),
            Buffer::Params
            | Buffer::Partials
            | Buffer::Status
            | Buffer::FinalizeParams
            | Buffer::ClassInfo
            | Buffer::Sums
            | Buffer::Out
            | Buffer::Coefs
            | Buffer::Upstream
            | Buffer::Counts => None,
        }
    }
}

/// Page k of a tensor (the whole tensor when bound flat), or the placeholder past its last page
/// or for no tensor.
fn page<'a>(
    placeholder: &'a wgpu::Buffer,
    page_bytes: u64,
    tensor: Option<&'a TensorBinding>,
    k: u32,
) -> wgpu::BindingResource<'a> {
    let at = k as u64 * page_bytes;
    match tensor {
        Some(TensorBinding {
            buffer,
            start,
            size,
        }) if at < *size => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer,
            offset: start + at,
            size: std::num::NonZeroU64::new((size - at).min(page_bytes)),
        }),
        _ => placeholder.as_entire_binding(),
    }
}
