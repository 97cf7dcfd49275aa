//! How the input kernels bind the caller's tensors: the one table of each kernel's bindings,
//! the caller's regions, and the bind groups over them.

use super::*;
use crate::error::DiceError;
use crate::shaders::{page_binding, Binding, Kernel, Pages, FIRST_BINDING};
use crate::shape::{PredFormat, TargetKind};

/// What one binding of a kernel holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    Uniform,
    Read,
    Write,
}

/// The bindings of an input kernel (`DiceNormaliser`, `DicePartials`, `DiceGradient`) under a
/// [`Binding`], as (number, slot): the one table from which its layout is built and its
/// storage bindings counted. The WGSL declares the same numbers (the kernel files, and
/// `bindings_flat.wgsl` or the generated pages of [`Binding::Paged`]).
pub(super) fn input_bindings(kernel: Kernel, binding: Binding) -> Vec<(u32, Slot)> {
    use Slot::{Read, Uniform, Write};
    // The kernel's own buffers: params; partials, status and coefficients (with the softmax
    // normalisers) at the numbers its file declares.
    let mut table = match kernel {
        Kernel::DiceNormaliser => vec![(0, Uniform), (18, Write)],
        Kernel::DicePartials => vec![(0, Uniform), (3, Write), (4, Write), (18, Read)],
        _ => vec![(0, Uniform), (3, Read), (4, Read)],
    };
    let (pages, views) = match binding {
        Binding::Flat => (
            Pages {
                preds: 1,
                targets: 1,
                grad: 1,
            },
            true,
        ),
        Binding::Paged(pages) => (pages, false),
    };
    let first = FIRST_BINDING;
    let mut tensors = vec![(first.preds, pages.preds, Read)];
    if kernel != Kernel::DiceNormaliser {
        tensors.push((first.targets, pages.targets, Read));
    }
    if kernel == Kernel::DiceGradient {
        tensors.push((first.grad, pages.grad, Write));
    }
    for (first, n, slot) in tensors {
        table.extend((0..n).map(|k| (page_binding(first, k), slot)));
    }
    // The flat VEC4 path's vec4 views of predictions, u32 labels and gradient.
    if views {
        match kernel {
            Kernel::DicePartials => table.extend([(6, Read), (7, Read)]),
            Kernel::DiceGradient => table.extend([(6, Read), (7, Read), (17, Write)]),
            _ => {}
        }
    }
    table
}

/// Storage bindings of the input kernel that uses the most under `binding`.
pub(crate) fn storage_bindings(binding: Binding) -> u32 {
    [Kernel::DicePartials, Kernel::DiceGradient]
        .iter()
        .map(|&k| {
            input_bindings(k, binding)
                .iter()
                .filter(|(_, slot)| *slot != Slot::Uniform)
                .count() as u32
        })
        .max()
        .unwrap_or(0)
}

/// One past the largest binding number of the input kernels under `binding`
/// (`max_bindings_per_bind_group` must reach it).
pub(crate) fn binding_numbers(binding: Binding) -> u32 {
    Kernel::ALL
        .iter()
        .filter(|k| k.reads_inputs())
        .flat_map(|&k| input_bindings(k, binding))
        .map(|(number, _)| number + 1)
        .max()
        .unwrap_or(0)
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

pub(super) fn layout_entry((binding, slot): (u32, Slot)) -> wgpu::BindGroupLayoutEntry {
    let ty = match slot {
        Slot::Uniform => wgpu::BufferBindingType::Uniform,
        Slot::Read => wgpu::BufferBindingType::Storage { read_only: true },
        Slot::Write => wgpu::BufferBindingType::Storage { read_only: false },
    };
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// A tensor's binding over a caller's buffer: (buffer, aligned start, size in bytes); bound
/// paged, page k starts `k * page_bytes` after the start.
pub(super) type BindingKey = (wgpu::Buffer, u64, u64);
/// The bindings of predictions, targets and the optional gradient of one call.
pub(super) type InputKey = (BindingKey, BindingKey, Option<BindingKey>);

impl DicePlan {
    /// Checks one of the caller's regions and returns the aligned binding over it (at most
    /// `pages` pages) and the element offset inside that binding.
    pub(super) fn binding(
        &self,
        what: &'static str,
        region: BufferRegion<'_>,
        elem_size: u64,
        elements: u64,
        pages: u32,
    ) -> Result<(BindingKey, u32), DiceError> {
        let BufferRegion { buffer, offset } = region;
        if !buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
            return Err(DiceError::MissingUsage {
                what,
                missing: wgpu::BufferUsages::STORAGE,
            });
        }
        if offset % elem_size != 0 {
            return Err(DiceError::Misaligned {
                what,
                offset,
                alignment: elem_size,
            });
        }
        let needed = elements * elem_size;
        if offset
            .checked_add(needed)
            .is_none_or(|end| end > buffer.size())
        {
            return Err(DiceError::BufferTooSmall {
                what,
                size: buffer.size(),
                offset,
                needed,
            });
        }
        let align = self.limits.min_storage_buffer_offset_alignment as u64;
        let start = offset / align * align;
        let size = (offset - start + needed).div_ceil(4) * 4;
        if start + size > buffer.size() {
            // Only the rounding to whole words can end past the buffer here.
            return Err(DiceError::NotWordPadded {
                what,
                size: buffer.size(),
                end: start + size,
            });
        }
        let capacity = match self.binding_kind {
            Binding::Flat => self.limits.max_storage_buffer_binding_size,
            Binding::Paged(_) => pages as u64 * self.page_bytes,
        };
        if size > capacity {
            return Err(DiceError::TooLarge {
                what,
                needed: size,
                limit: capacity,
                limit_name: "max_storage_buffer_binding_size x the plan's binding pages",
            });
        }
        Ok((
            (buffer.clone(), start, size),
            ((offset - start) / elem_size) as u32,
        ))
    }

    /// The bind groups over the caller's buffers (cached: rebuilt only when they change).
    pub(super) fn input_bind_groups(
        &self,
        ctx: &DiceContext,
        (preds, targets, grad): &InputKey,
        vec4: bool,
    ) -> InputBinds {
        // Page k of a tensor (the whole tensor when bound flat), or the placeholder past its
        // last page or for no tensor.
        fn page<'a>(
            placeholder: &'a wgpu::Buffer,
            page_bytes: u64,
            key: Option<&'a BindingKey>,
            k: u32,
        ) -> wgpu::BindingResource<'a> {
            let at = k as u64 * page_bytes;
            match key {
                Some((buffer, start, size)) if at < *size => {
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset: start + at,
                        size: std::num::NonZeroU64::new((size - at).min(page_bytes)),
                    })
                }
                _ => placeholder.as_entire_binding(),
            }
        }
        let page_rw = |key, k| page(&self.placeholder_rw, self.page_bytes, key, k);
        let page = |key, k| page(&self.placeholder, self.page_bytes, key, k);
        let (preds, targets) = (Some(preds), Some(targets));
        let paged = self.binding_kind != Binding::Flat;
        let pages = self.pages();
        // The vec4 views: the same regions on the flat VEC4 path (u32 labels only: u8 labels
        // are read as words), placeholders otherwise (the paged VEC4 path reads pages word by
        // word).
        let vec4_views = vec4 && !paged;
        let preds4 = preds.filter(|_| vec4_views && self.pred_format == PredFormat::F32);
        let labels4 = targets.filter(|_| vec4_views && self.target_kind == TargetKind::LabelsU32);
        // Every page of a tensor at its binding number.
        let first = FIRST_BINDING;
        let tensor_pages =
            |key, first, n| (0..n).map(move |k| (page_binding(first, k), page(key, k)));
        let mut partials = vec![
            (0, self.params_buf.as_entire_binding()),
            (3, self.partials.as_entire_binding()),
            (4, self.status.as_entire_binding()),
            (18, self.coefs.as_entire_binding()),
        ];
        partials.extend(tensor_pages(preds, first.preds, pages.preds));
        partials.extend(tensor_pages(targets, first.targets, pages.targets));
        let mut normaliser = vec![
            (0, self.params_buf.as_entire_binding()),
            (18, self.coefs.as_entire_binding()),
        ];
        normaliser.extend(tensor_pages(preds, first.preds, pages.preds));
        if !paged {
            partials.extend([(6, page(preds4, 0)), (7, page(labels4, 0))]);
        }
        let stages = ctx.pipelines.stages(&ctx.device, self.binding_kind);
        let bind = |layout: &wgpu::BindGroupLayout,
                    resources: Vec<(u32, wgpu::BindingResource<'_>)>| {
            let entries: Vec<_> = resources
                .into_iter()
                .map(|(binding, resource)| wgpu::BindGroupEntry { binding, resource })
                .collect();
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout,
                entries: &entries,
            })
        };
        let partials = bind(&stages.dice_partials.layout, partials);
        let normaliser = self
            .specialised
            .dice_normaliser
            .is_some()
            .then(|| bind(&stages.dice_normaliser.layout, normaliser));
        let gradient = grad.as_ref().map(|g| {
            let g = Some(g);
            let mut entries = vec![
                (0, self.params_buf.as_entire_binding()),
                (3, self.coefs.as_entire_binding()),
                (4, self.status.as_entire_binding()),
            ];
            entries.extend(tensor_pages(preds, first.preds, pages.preds));
            entries.extend(tensor_pages(targets, first.targets, pages.targets));
            entries.extend((0..pages.grad).map(|k| (page_binding(first.grad, k), page_rw(g, k))));
            if !paged {
                entries.extend([
                    (6, page(preds4, 0)),
                    (7, page(labels4, 0)),
                    (17, page_rw(g.filter(|_| vec4_views), 0)),
                ]);
            }
            bind(&stages.dice_gradient.layout, entries)
        });
        InputBinds {
            normaliser,
            partials,
            gradient,
        }
    }
}
