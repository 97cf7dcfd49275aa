//! The WGSL sources, embedded at compile time. Each kernel is assembled from the shared
//! prelude (`common.wgsl`), for the kernels that read the inputs a binding file
//! (`bindings_flat.wgsl` or `bindings_paged.wgsl`) and the input readers (`inputs.wgsl`), its
//! own file, and for `dice_partials` a fold file (`fold_subgroup.wgsl` or
//! `fold_workgroup.wgsl`); entry point `main`.

const COMMON: &str = include_str!("../shaders/common.wgsl");
const INPUTS: &str = include_str!("../shaders/inputs.wgsl");
const BINDINGS_FLAT: &str = include_str!("../shaders/bindings_flat.wgsl");
const BINDINGS_PAGED: &str = include_str!("../shaders/bindings_paged.wgsl");
const FOLD_WORKGROUP: &str = include_str!("../shaders/fold_workgroup.wgsl");
const FOLD_SUBGROUP: &str = include_str!("../shaders/fold_subgroup.wgsl");

/// How the input tensors are bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binding {
    /// One storage binding per tensor, plus vec4 views of the same regions for the VEC4 path.
    Flat,
    /// Each tensor over its own number of binding pages, for tensors larger than one binding.
    Paged(Pages),
}

/// How many binding pages each input tensor spans in [`Binding::Paged`] (each at least 1, at
/// most [`MAX_PAGES`]). Page `k` of a tensor is bound at [`page_binding`]`(first, k)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pages {
    /// Predictions.
    pub preds: u32,
    /// Targets.
    pub targets: u32,
    /// The gradient.
    pub grad: u32,
}

/// The most pages one tensor may span (keeps every binding number below WebGPU's
/// `max_bindings_per_bind_group` of 1000).
pub const MAX_PAGES: u32 = 16;

/// Binding numbers of page 0 (the flat binding) of predictions, targets and gradient.
pub const FIRST_BINDING: Pages = Pages {
    preds: 1,
    targets: 2,
    grad: 5,
};

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
fn paged_source(pages: Pages) -> String {
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
    let f = FIRST_BINDING;
    let mut s = String::new();
    s += &declare("preds", "f32", "read", f.preds, pages.preds);
    s += &declare("targets", "u32", "read", f.targets, pages.targets);
    s += &declare("grad", "f32", "read_write", f.grad, pages.grad);
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

/// How `dice_partials` folds its threads' sums across the workgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fold {
    /// Workgroup memory only: every thread's sums, folded by one thread per quantity.
    Workgroup,
    /// `subgroupAdd` first, then the subgroups' sums folded the same way (needs
    /// `wgpu::Features::SUBGROUP`).
    Subgroup,
}

impl Fold {
    /// Subgroups where the device has them.
    pub fn for_features(features: wgpu::Features) -> Self {
        if features.contains(wgpu::Features::SUBGROUP) {
            Fold::Subgroup
        } else {
            Fold::Workgroup
        }
    }
}

/// The kernels, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Fused activation, one-hot masking and per-workgroup partial sums.
    DicePartials,
    /// Fixed-order fold of the partials into per-row, per-class sums.
    DiceReduce,
    /// Dice, loss and gradient coefficients.
    DiceFinalize,
    /// d loss / d input per element.
    DiceGradient,
    /// Per-pixel softmax normalisers, before `DicePartials` when softmax spans several class
    /// chunks.
    DiceNormaliser,
}

impl Kernel {
    /// Every kernel.
    pub const ALL: [Kernel; 5] = [
        Kernel::DiceNormaliser,
        Kernel::DicePartials,
        Kernel::DiceReduce,
        Kernel::DiceFinalize,
        Kernel::DiceGradient,
    ];

    /// The kernel's name (its file in `shaders/` without `.wgsl`).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::DicePartials => "dice_partials",
            Kernel::DiceReduce => "dice_reduce",
            Kernel::DiceFinalize => "dice_finalize",
            Kernel::DiceGradient => "dice_gradient",
            Kernel::DiceNormaliser => "dice_normaliser",
        }
    }

    /// Whether the kernel reads the input tensors (and so comes in both [`Binding`]s).
    pub fn reads_inputs(self) -> bool {
        matches!(
            self,
            Kernel::DicePartials | Kernel::DiceGradient | Kernel::DiceNormaliser
        )
    }

    /// The complete WGSL source of the kernel; `binding` matters only where it reads inputs,
    /// `fold` only for [`Kernel::DicePartials`].
    pub fn source(self, binding: Binding, fold: Fold) -> String {
        let (reads_inputs, own) = match self {
            Kernel::DicePartials => (true, include_str!("../shaders/dice_partials.wgsl")),
            Kernel::DiceReduce => (false, include_str!("../shaders/dice_reduce.wgsl")),
            Kernel::DiceFinalize => (false, include_str!("../shaders/dice_finalize.wgsl")),
            Kernel::DiceGradient => (true, include_str!("../shaders/dice_gradient.wgsl")),
            Kernel::DiceNormaliser => (true, include_str!("../shaders/dice_normaliser.wgsl")),
        };
        if !reads_inputs {
            return format!("{COMMON}\n{own}");
        }
        let bindings = match binding {
            Binding::Flat => BINDINGS_FLAT.to_string(),
            Binding::Paged(pages) => format!("{}\n{BINDINGS_PAGED}", paged_source(pages)),
        };
        let fold = match (self, fold) {
            (Kernel::DicePartials, Fold::Workgroup) => FOLD_WORKGROUP,
            (Kernel::DicePartials, Fold::Subgroup) => FOLD_SUBGROUP,
            _ => "",
        };
        format!("{COMMON}\n{bindings}\n{INPUTS}\n{own}\n{fold}")
    }
}
