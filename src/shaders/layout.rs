//! Every binding of every kernel, declared once: which buffers a kernel binds, at which
//! number, under which WGSL name and with which access. Layouts and bind groups are built
//! from [`bindings`]; `tests/shaders.rs` checks it against the WGSL with naga.

use super::Kernel;

/// A buffer the kernels bind: one binding number and one WGSL name in every kernel that binds
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Buffer {
    /// The plan's parameter block (`Params`, uniform).
    Params,
    /// Predictions (page 0 of them where paged).
    Preds,
    /// Targets (page 0 of them where paged).
    Targets,
    /// dice_partials' per-workgroup partial sums.
    Partials,
    /// Counters of bad labels and non-finite inputs.
    Status,
    /// The gradient (page 0 of it where paged).
    Grad,
    /// The predictions as vec4 (flat VEC4 path).
    Preds4,
    /// u32 labels as vec4 (flat VEC4 path).
    Targets4,
    /// dice_finalize's parameters (`FinalizeParams`, uniform).
    FinalizeParams,
    /// Per class (selected, weight).
    ClassInfo,
    /// Per row and class (A, P, Y).
    Sums,
    /// [loss, dice, loss elements].
    Out,
    /// Per row and class (cA, cP), then the per-pixel softmax normalisers.
    Coefs,
    /// The gradient as vec4 (flat VEC4 path).
    Grad4,
    /// The upstream gradient of the loss output ([`crate::DicePlan::record_loss_vjp`]).
    Upstream,
    /// dice_counts' status words and confusion counts.
    Counts,
}

impl Buffer {
    /// Its binding number (page 0's, for a paged tensor).
    pub fn number(self) -> u32 {
        match self {
            Buffer::Params => 0,
            Buffer::Preds => 1,
            Buffer::Targets => 2,
            Buffer::Partials => 3,
            Buffer::Status => 4,
            Buffer::Grad => 5,
            Buffer::Preds4 => 6,
            Buffer::Targets4 => 7,
            Buffer::FinalizeParams => 8,
            Buffer::ClassInfo => 9,
            Buffer::Sums => 10,
            Buffer::Out => 11,
            Buffer::Coefs => 12,
            Buffer::Grad4 => 13,
            Buffer::Upstream => 14,
            Buffer::Counts => 15,
        }
    }

    /// Its WGSL variable name (page 0's, for a paged tensor).
    pub fn name(self) -> &'static str {
        match self {
            Buffer::Params => "params",
            Buffer::Preds => "preds",
            Buffer::Targets => "targets",
            Buffer::Partials => "partials",
            Buffer::Status => "status",
            Buffer::Grad => "grad",
            Buffer::Preds4 => "preds4",
            Buffer::Targets4 => "targets4",
            Buffer::FinalizeParams => "fin",
            Buffer::ClassInfo => "class_info",
            Buffer::Sums => "sums",
            Buffer::Out => "out",
            Buffer::Coefs => "coefs",
            Buffer::Grad4 => "grad4",
            Buffer::Upstream => "upstream",
            Buffer::Counts => "counts",
        }
    }
}

/// How a kernel accesses a binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A uniform buffer.
    Uniform,
    /// Read-only storage.
    Read,
    /// Read-write storage.
    ReadWrite,
}

/// One binding of a kernel: page `page` of `buffer` (0 for all but paged tensors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindingSlot {
    /// The buffer.
    pub buffer: Buffer,
    /// Its page (0 unless the tensor is paged).
    pub page: u32,
    /// How the kernel accesses it.
    pub access: Access,
}

impl BindingSlot {
    /// The binding number.
    pub fn number(&self) -> u32 {
        page_binding(self.buffer.number(), self.page)
    }

    /// The WGSL variable name.
    pub fn name(&self) -> String {
        page_name(self.buffer.name(), self.page)
    }
}

/// The bindings of `kernel` under `binding` (which matters only for the kernels that read the
/// inputs): the one table its bind group layout and bind groups are built from.
pub fn bindings(kernel: Kernel, binding: Binding) -> Vec<BindingSlot> {
    use Access::{Read, ReadWrite, Uniform};
    use Buffer::*;
    let slot = |buffer, access| BindingSlot {
        buffer,
        page: 0,
        access,
    };
    let mut table = vec![slot(Params, Uniform)];
    match kernel {
        Kernel::DiceReduce => table.extend([slot(Partials, Read), slot(Sums, ReadWrite)]),
        Kernel::DiceFinalize => table.extend([
            slot(FinalizeParams, Uniform),
            slot(ClassInfo, Read),
            slot(Sums, Read),
            slot(Out, ReadWrite),
            slot(Coefs, ReadWrite),
            slot(Status, Read),
            slot(Upstream, Read),
        ]),
        Kernel::DiceNormaliser => table.push(slot(Coefs, ReadWrite)),
        Kernel::DicePartials => table.extend([
            slot(Partials, ReadWrite),
            slot(Status, ReadWrite),
            slot(Coefs, Read),
        ]),
        Kernel::DiceGradient => table.extend([slot(Coefs, Read), slot(Status, Read)]),
        Kernel::DiceCounts => table.push(slot(Counts, ReadWrite)),
    }
    if !kernel.reads_inputs() {
        return table;
    }
    let (pages, views) = match binding {
        Binding::Flat => (Pages::FLAT, true),
        Binding::Paged(pages) => (pages, false),
    };
    let mut tensors = vec![(Preds, pages.preds, Read)];
    if kernel != Kernel::DiceNormaliser {
        tensors.push((Targets, pages.targets, Read));
    }
    if kernel == Kernel::DiceGradient {
        tensors.push((Grad, pages.grad, ReadWrite));
    }
    for (buffer, n, access) in tensors {
        table.extend((0..n).map(|page| BindingSlot {
            buffer,
            page,
            access,
        }));
    }
    // The flat VEC4 path's vec4 views (bound to placeholders off that path).
    if views {
        match kernel {
            Kernel::DicePartials | Kernel::DiceCounts => {
                table.extend([slot(Preds4, Read), slot(Targets4, Read)])
            }
            Kernel::DiceGradient => table.extend([
                slot(Preds4, Read),
                slot(Targets4, Read),
                slot(Grad4, ReadWrite),
            ]),
            Kernel::DiceNormaliser | Kernel::DiceReduce | Kernel::DiceFinalize => {}
        }
    }
    table
}

/// How the input tensors are bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binding {
    /// One storage binding per tensor, plus vec4 views of the same regions for the VEC4 path.
    Flat,
    /// Each tensor over its own number of binding pages, for tensors larger than one binding.
    Paged(Pages),
}

/// How many binding pages each input tensor spans in [`Binding::Paged`] (each at least 1, at
/// most [`MAX_PAGES`]). Page `k` of a tensor is bound at [`page_binding`]`(first, k)`, with
/// `first` its [`Buffer::number`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pages {
    /// Predictions.
    pub preds: u32,
    /// Targets.
    pub targets: u32,
    /// The gradient.
    pub grad: u32,
}

impl Pages {
    /// One page each: the flat layout's.
    pub const FLAT: Pages = Pages {
        preds: 1,
        targets: 1,
        grad: 1,
    };
}

/// The most pages one tensor may span (keeps every binding number below WebGPU's
/// `max_bindings_per_bind_group` of 1000).
pub const MAX_PAGES: u32 = 16;

/// Distance between the binding numbers of consecutive pages of one tensor; every other
/// binding of the input kernels is below it.
const PAGE_STRIDE: u32 = 32;

/// The binding number of page `k` of the tensor whose page 0 is bound at `first`.
pub fn page_binding(first: u32, k: u32) -> u32 {
    first + PAGE_STRIDE * k
}

/// The WGSL of a paged binding: every page's declaration and, for each tensor, a function
/// that picks the page of an element with a `switch` (WGSL has no arrays of storage buffers
/// without an optional feature GL lacks, so the pages are generated, not overridden).
pub(super) fn paged_source(pages: Pages) -> String {
    let declare = |name: &str, ty: &str, access: &str, first: u32, n: u32| {
        (0..n)
            .map(|k| {
                format!(
                    "@group(0) @binding({}) var<storage, {access}> {}: array<{ty}>;\n",
                    page_binding(first, k),
                    page_name(name, k)
                )
            })
            .collect::<String>()
    };
    // `fn head { let j = in_page(index); switch page_of(index) { case k: { arm(page k) } } }`
    let switch = |head: &str, index: &str, name: &str, n: u32, arm: &dyn Fn(&str) -> String| {
        let mut f =
            format!("{head} {{\n    let j = in_page({index});\n    switch page_of({index}) {{\n");
        for k in 0..n {
            let case = if k + 1 == n {
                "default".to_string()
            } else {
                format!("case {k}u")
            };
            f += &format!("        {case}: {{ {} }}\n", arm(&page_name(name, k)));
        }
        f + "    }\n}\n"
    };
    let (preds, targets, grad) = (Buffer::Preds, Buffer::Targets, Buffer::Grad);
    let mut s = String::new();
    s += &declare(preds.name(), "f32", "read", preds.number(), pages.preds);
    s += &declare(
        targets.name(),
        "u32",
        "read",
        targets.number(),
        pages.targets,
    );
    s += &declare(grad.name(), "f32", "read_write", grad.number(), pages.grad);
    s += &switch(
        "fn pred_word(e: u32) -> f32",
        "e",
        "preds",
        pages.preds,
        &|t| format!("return {t}[j];"),
    );
    s += &switch(
        "fn pred_words4(e: u32) -> vec4<f32>",
        "e",
        "preds",
        pages.preds,
        &|t| format!("return vec4<f32>({t}[j], {t}[j + 1u], {t}[j + 2u], {t}[j + 3u]);"),
    );
    s += &switch(
        "fn target_word(e: u32) -> u32",
        "e",
        "targets",
        pages.targets,
        &|t| format!("return {t}[j];"),
    );
    s += &switch(
        "fn store_grad(e: u32, v: f32)",
        "e",
        "grad",
        pages.grad,
        &|t| format!("{t}[j] = v;"),
    );
    s += &switch(
        "fn store_grad_quad(e: u32, v: vec4<f32>)",
        "e",
        "grad",
        pages.grad,
        &|t| format!("{t}[j] = v.x; {t}[j + 1u] = v.y; {t}[j + 2u] = v.z; {t}[j + 3u] = v.w;"),
    );
    s
}

/// The WGSL name of page `k` of a tensor: the flat name for page 0.
fn page_name(name: &str, k: u32) -> String {
    if k == 0 {
        name.to_string()
    } else {
        format!("{name}_{k}")
    }
}
