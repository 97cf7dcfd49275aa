//! The WGSL sources, embedded at compile time. Each kernel is assembled from the shared
//! prelude (`common.wgsl`), for the kernels that read the inputs a binding file
//! (`bindings_flat.wgsl` or `bindings_paged.wgsl`) and the input readers (`inputs.wgsl`), its
//! own file, for `dice_partials` a fold file (`fold_subgroup.wgsl` or `fold_workgroup.wgsl`),
//! and for `dice_reduce` and `dice_finalize` the workgroup tree (`tree.wgsl`); entry point
//! `main`.

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const INPUTS: &str = include_str!("../../shaders/inputs.wgsl");
const BINDINGS_FLAT: &str = include_str!("../../shaders/bindings_flat.wgsl");
const BINDINGS_PAGED: &str = include_str!("../../shaders/bindings_paged.wgsl");
const FOLD_WORKGROUP: &str = include_str!("../../shaders/fold_workgroup.wgsl");
const FOLD_SUBGROUP: &str = include_str!("../../shaders/fold_subgroup.wgsl");
const TREE: &str = include_str!("../../shaders/tree.wgsl");

mod layout;

pub use crate::params::{host_constants, host_structs, StructLayout};
use layout::paged_source;
pub use layout::{bindings, page_binding, Access, Binding, BindingSlot, Buffer, Pages, MAX_PAGES};

/// How `dice_partials` folds its threads' sums across the workgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fold {
    /// Workgroup memory only: every thread's sums, folded by one thread per quantity.
    Workgroup,
    /// `subgroupAdd` first, then the subgroups' sums folded the same way (needs
    /// `wgpu::Features::SUBGROUP` and subgroups of at least [`Fold::MIN_SUBGROUP`] lanes).
    Subgroup,
}

impl Fold {
    /// The narrowest subgroups the subgroup fold takes. Narrower ones need WG / width partial
    /// slots per workgroup: at 4 lanes (lavapipe at `LP_NATIVE_VECTOR_WIDTH=128`) a batch of
    /// 70 000 samples needed 430 MB of partials scratch, past a 128 MiB binding, and lavapipe
    /// at 64 bits reports and runs 2 lanes, under the floor of 4 that wgpu documents. The
    /// workgroup fold serves them.
    pub const MIN_SUBGROUP: u32 = 8;

    /// The fold a device runs: subgroups where it has them, at least
    /// [`Fold::MIN_SUBGROUP`] wide.
    pub fn for_device(device: &wgpu::Device) -> Self {
        let wide = Self::smallest_subgroup(&device.adapter_info()) >= Self::MIN_SUBGROUP;
        if device.features().contains(wgpu::Features::SUBGROUP) && wide {
            Fold::Subgroup
        } else {
            Fold::Workgroup
        }
    }

    /// The smallest subgroup the adapter may run, as it reports it (its own figure where
    /// limit bucketing rounded the reported one).
    pub fn smallest_subgroup(info: &wgpu::AdapterInfo) -> u32 {
        let raw = info.limit_bucket.as_ref().map(|b| b.raw_subgroup_min_size);
        raw.map_or(info.subgroup_min_size, |raw| {
            raw.min(info.subgroup_min_size)
        })
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
    /// Exact confusion counts for the validation metrics (its own recording,
    /// [`crate::DicePlan::record_counts`]).
    DiceCounts,
}

impl Kernel {
    /// Every kernel.
    pub const ALL: [Kernel; 6] = [
        Kernel::DiceNormaliser,
        Kernel::DicePartials,
        Kernel::DiceReduce,
        Kernel::DiceFinalize,
        Kernel::DiceGradient,
        Kernel::DiceCounts,
    ];

    /// The kernel's name (its file in `shaders/` without `.wgsl`).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::DicePartials => "dice_partials",
            Kernel::DiceReduce => "dice_reduce",
            Kernel::DiceFinalize => "dice_finalize",
            Kernel::DiceGradient => "dice_gradient",
            Kernel::DiceNormaliser => "dice_normaliser",
            Kernel::DiceCounts => "dice_counts",
        }
    }

    /// Whether the kernel reads the input tensors (and so comes in both [`Binding`]s).
    pub fn reads_inputs(self) -> bool {
        matches!(
            self,
            Kernel::DicePartials
                | Kernel::DiceGradient
                | Kernel::DiceNormaliser
                | Kernel::DiceCounts
        )
    }

    /// The complete WGSL source of the kernel; `binding` matters only where it reads inputs,
    /// `fold` only for [`Kernel::DicePartials`].
    pub fn source(self, binding: Binding, fold: Fold) -> String {
        let (reads_inputs, own) = match self {
            Kernel::DicePartials => (true, include_str!("../../shaders/dice_partials.wgsl")),
            Kernel::DiceReduce => (false, include_str!("../../shaders/dice_reduce.wgsl")),
            Kernel::DiceFinalize => (false, include_str!("../../shaders/dice_finalize.wgsl")),
            Kernel::DiceGradient => (true, include_str!("../../shaders/dice_gradient.wgsl")),
            Kernel::DiceNormaliser => (true, include_str!("../../shaders/dice_normaliser.wgsl")),
            Kernel::DiceCounts => (true, include_str!("../../shaders/dice_counts.wgsl")),
        };
        if !reads_inputs {
            // dice_reduce and dice_finalize: their workgroup tree.
            return format!("{COMMON}\n{own}\n{TREE}");
        }
        let bindings = match binding {
            Binding::Flat => BINDINGS_FLAT.to_string(),
            Binding::Paged(pages) => format!("{}\n{BINDINGS_PAGED}", paged_source(pages)),
        };
        let fold = match (self, fold) {
            (Kernel::DicePartials, Fold::Workgroup) => FOLD_WORKGROUP,
            (Kernel::DicePartials, Fold::Subgroup) => FOLD_SUBGROUP,
            (
                Kernel::DiceNormaliser
                | Kernel::DiceCounts
                | Kernel::DiceReduce
                | Kernel::DiceFinalize
                | Kernel::DiceGradient,
                _,
            ) => "",
        };
        format!("{COMMON}\n{bindings}\n{INPUTS}\n{own}\n{fold}")
    }
}
