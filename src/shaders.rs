//! The WGSL sources, embedded at compile time. Each kernel is assembled from the shared
//! prelude (`common.wgsl`), the input readers where it reads inputs (`inputs.wgsl`), and its own
//! file; entry point `main`.

const COMMON: &str = include_str!("../shaders/common.wgsl");
const INPUTS: &str = include_str!("../shaders/inputs.wgsl");

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
}

impl Kernel {
    /// Every kernel.
    pub const ALL: [Kernel; 4] = [
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
        }
    }

    /// The complete WGSL source of the kernel.
    pub fn source(self) -> String {
        let (reads_inputs, own) = match self {
            Kernel::DicePartials => (true, include_str!("../shaders/dice_partials.wgsl")),
            Kernel::DiceReduce => (false, include_str!("../shaders/dice_reduce.wgsl")),
            Kernel::DiceFinalize => (false, include_str!("../shaders/dice_finalize.wgsl")),
            Kernel::DiceGradient => (true, include_str!("../shaders/dice_gradient.wgsl")),
        };
        let inputs = if reads_inputs { INPUTS } else { "" };
        format!("{COMMON}\n{inputs}\n{own}")
    }
}
