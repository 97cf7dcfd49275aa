//! How a plan lays its tensors over storage bindings, from the device's limits alone: flat,
//! or each tensor over pages of one binding each; and where a caller's region is bound.

use super::binding_numbers;
use super::storage_bindings;
use crate::error::DiceError;
use crate::shaders::{Binding, Pages, MAX_PAGES};

/// `Err(TooLarge)` where `needed` is past `limit`.
pub(super) fn fits(
    what: &'static str,
    needed: u64,
    limit: u64,
    limit_name: &'static str,
) -> Result<(), DiceError> {
    if needed > limit {
        return Err(DiceError::TooLarge {
            what,
            needed,
            limit,
            limit_name,
        });
    }
    Ok(())
}

/// The bytes of a plan's three tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TensorBytes {
    pub(super) preds: u64,
    pub(super) targets: u64,
    pub(super) grad: u64,
}

/// How a plan binds its tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TensorLayout {
    /// Flat, or the pages of each tensor.
    pub(super) binding: Binding,
    /// Bytes of one page: the largest power of two a binding may hold.
    pub(super) page_bytes: u64,
    /// The most a flat binding may hold.
    max_binding: u64,
}

impl TensorLayout {
    /// Flat where every tensor fits one binding; else each tensor over as many pages as it
    /// needs, one storage binding a page, as far as the device's storage bindings per stage
    /// (and bindings per group) allow; `TooLarge`, with the largest predictions of these
    /// proportions that fit, where no page count does.
    pub(super) fn choose(bytes: TensorBytes, limits: &wgpu::Limits) -> Result<Self, DiceError> {
        for (what, b) in [
            ("predictions (bytes)", bytes.preds),
            ("targets (bytes)", bytes.targets),
            ("gradient (bytes)", bytes.grad),
        ] {
            fits(what, b, limits.max_buffer_size, "max_buffer_size")?;
        }
        let max_binding = limits.max_storage_buffer_binding_size.min(1 << 32);
        let page_bytes = 1u64 << (63 - max_binding.leading_zeros());
        let layout = |binding| Self {
            binding,
            page_bytes,
            max_binding,
        };
        // A binding starts at the tensor's offset rounded down to the offset alignment, so it
        // spans up to `slack` bytes more than the tensor, and never more than a buffer.
        let slack = limits.min_storage_buffer_offset_alignment as u64 + 4;
        let span = |b: u64| (b + slack).min(limits.max_buffer_size);
        if [bytes.preds, bytes.targets, bytes.grad]
            .iter()
            .all(|&b| span(b) <= max_binding)
        {
            return Ok(layout(Binding::Flat));
        }
        let pages_of = |b: u64| (span(b).div_ceil(page_bytes) as u32).max(1);
        // The pages of tensors in these proportions with `preds` bytes of predictions.
        let scaled = |preds: u64| {
            let of = |b: u64| pages_of((b as u128 * preds as u128 / bytes.preds as u128) as u64);
            Pages {
                preds: pages_of(preds),
                targets: of(bytes.targets),
                grad: of(bytes.grad),
            }
        };
        let allowed = |p: Pages| {
            p.preds.max(p.targets).max(p.grad) <= MAX_PAGES
                && storage_bindings(Binding::Paged(p))
                    <= limits.max_storage_buffers_per_shader_stage
                && binding_numbers(Binding::Paged(p)) <= limits.max_bindings_per_bind_group
        };
        let pages = scaled(bytes.preds);
        if allowed(pages) {
            return Ok(layout(Binding::Paged(pages)));
        }
        let largest = (1..pages.preds)
            .rev()
            .map(|k| k as u64 * page_bytes - slack)
            .find(|&b| allowed(scaled(b)))
            .unwrap_or(max_binding - slack);
        Err(DiceError::TooLarge {
            what: "predictions (bytes)",
            needed: bytes.preds,
            limit: largest,
            limit_name: "max_storage_buffers_per_shader_stage x \
                         max_storage_buffer_binding_size (one binding per page)",
        })
    }

    /// Pages per tensor (one each when flat).
    pub(super) fn pages(&self) -> Pages {
        match self.binding {
            Binding::Flat => Pages::FLAT,
            Binding::Paged(pages) => pages,
        }
    }

    /// The most one tensor's binding of `pages` pages may hold.
    pub(super) fn capacity(&self, pages: u32) -> u64 {
        match self.binding {
            Binding::Flat => self.max_binding,
            Binding::Paged(_) => pages as u64 * self.page_bytes,
        }
    }

    /// log2 of the 32-bit words in a page (`Params::page_shift`).
    pub(super) fn page_shift(&self) -> u32 {
        (self.page_bytes / 4).trailing_zeros()
    }
}

/// Where a tensor of `elements` elements of `elem_size` bytes at byte `offset` of a buffer of
/// `buffer_size` bytes is bound: from `offset` rounded down to the offset alignment `align`,
/// over whole 32-bit words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Region {
    /// The binding's first byte.
    pub(super) start: u64,
    /// The binding's size in bytes.
    pub(super) size: u64,
    /// The tensor's first element within the binding.
    pub(super) first: u32,
}

impl Region {
    pub(super) fn new(
        what: &'static str,
        offset: u64,
        elem_size: u64,
        elements: u64,
        buffer_size: u64,
        align: u64,
    ) -> Result<Self, DiceError> {
        if !offset.is_multiple_of(elem_size) {
            return Err(DiceError::Misaligned {
                what,
                offset,
                alignment: elem_size,
            });
        }
        let needed = elements * elem_size;
        if offset
            .checked_add(needed)
            .is_none_or(|end| end > buffer_size)
        {
            return Err(DiceError::BufferTooSmall {
                what,
                size: buffer_size,
                offset,
                needed,
            });
        }
        let start = offset / align * align;
        let size = (offset - start + needed).div_ceil(4) * 4;
        if start + size > buffer_size {
            // Only the rounding to whole words can end past the buffer here.
            return Err(DiceError::NotWordPadded {
                what,
                size: buffer_size,
                end: start + size,
            });
        }
        Ok(Self {
            start,
            size,
            first: ((offset - start) / elem_size) as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn limits(storage: u32, binding: u64, buffer: u64, align: u32) -> wgpu::Limits {
        wgpu::Limits {
            max_storage_buffers_per_shader_stage: storage,
            max_storage_buffer_binding_size: binding,
            max_buffer_size: buffer,
            min_storage_buffer_offset_alignment: align,
            ..wgpu::Limits::default()
        }
    }

    /// f32 predictions and gradient with u8 labels, `[1, 4, n]`.
    fn u8_labels(preds: u64) -> TensorBytes {
        TensorBytes {
            preds,
            targets: preds / 16,
            grad: preds,
        }
    }

    fn paged(preds: u32, targets: u32, grad: u32) -> Binding {
        Binding::Paged(Pages {
            preds,
            targets,
            grad,
        })
    }

    #[test]
    fn pages_follow_the_storage_bindings_and_the_binding_size() {
        let lavapipe = limits(32, 128 * MIB, 2048 * MIB - 1, 32);
        let gl = limits(16, 128 * MIB, 2047 * MIB, 256);
        let webgpu = wgpu::Limits::default();
        // 315 MB: three pages each of predictions and gradient, one of labels.
        let big = u8_labels(4 * 4096 * 4800 * 4);
        for l in [&lavapipe, &gl] {
            assert_eq!(
                TensorLayout::choose(big, l).unwrap().binding,
                paged(3, 1, 3)
            );
        }
        // A tensor as large as a WebGPU buffer takes exactly two pages (no slack past it).
        let layout = TensorLayout::choose(u8_labels(256 * MIB), &webgpu).unwrap();
        assert_eq!(layout.binding, paged(2, 1, 2));
        assert_eq!(layout.page_shift(), 25);
        assert_eq!(layout.capacity(2), 256 * MIB);
        // Small tensors are flat, up to the whole binding (not only the page).
        let odd = limits(8, 100 * MIB, 256 * MIB, 256);
        let flat = TensorLayout::choose(u8_labels(99 * MIB), &odd).unwrap();
        assert_eq!((flat.binding, flat.page_bytes), (Binding::Flat, 64 * MIB));
        assert_eq!(flat.capacity(1), 100 * MIB);
    }

    #[test]
    fn too_many_pages_name_the_largest_predictions_that_fit() {
        // GL: 16 storage bindings hold 6 pages each of predictions and gradient beside one of
        // labels and the kernel's 2 buffers.
        let gl = limits(16, 128 * MIB, 2047 * MIB, 256);
        match TensorLayout::choose(u8_labels(1024 * MIB), &gl) {
            Err(DiceError::TooLarge { needed, limit, .. }) => {
                assert_eq!(needed, 1024 * MIB);
                assert_eq!(limit, 6 * 128 * MIB - 260);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            TensorLayout::choose(u8_labels(6 * 128 * MIB - 260), &gl)
                .unwrap()
                .binding,
            paged(6, 1, 6)
        );
        // Past a buffer: the buffer limit.
        let err = TensorLayout::choose(u8_labels(300 * MIB), &wgpu::Limits::default());
        assert!(
            matches!(
                err,
                Err(DiceError::TooLarge {
                    limit_name: "max_buffer_size",
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn regions_start_at_the_alignment_and_end_on_a_word() {
        // 10 f32 at byte 260 of a 1 KiB buffer, 256-byte alignment: bound from 256.
        let r = Region::new("preds", 260, 4, 10, 1024, 256).unwrap();
        assert_eq!((r.start, r.size, r.first), (256, 44, 1));
        // 5 u8 labels at byte 3: words 0..2 (8 bytes), the first label is byte 3.
        let r = Region::new("targets", 3, 1, 5, 8, 32).unwrap();
        assert_eq!((r.start, r.size, r.first), (0, 8, 3));
        // The same in a 7-byte buffer: the last word ends past it.
        assert!(matches!(
            Region::new("targets", 3, 1, 4, 7, 32),
            Err(DiceError::NotWordPadded {
                size: 7,
                end: 8,
                ..
            })
        ));
        assert!(matches!(
            Region::new("preds", 6, 4, 1, 64, 32),
            Err(DiceError::Misaligned { offset: 6, .. })
        ));
        assert!(matches!(
            Region::new("preds", 8, 4, 15, 64, 32),
            Err(DiceError::BufferTooSmall { needed: 60, .. })
        ));
    }
}
