//! The one error type of the crate.

/// Everything that can go wrong, each with the values needed to fix it. Bad input is reported
/// here, never by a panic, and is checked before any GPU work wherever the host can see it.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum DiceError {
    /// No GPU adapter was found (on a machine without a GPU, install Mesa's lavapipe), or
    /// none matched the adapter name asked for.
    #[error("no GPU adapter found: {hint}")]
    NoAdapter {
        /// What was searched and what to do about it.
        hint: String,
    },
    /// The adapter refused to create a device.
    #[error("could not create a device: {0}")]
    RequestDevice(String),
    /// The device's limits are below what the kernels need on any input.
    #[error("the device's {limit} is {available}; softdice needs at least {needed}")]
    DeviceUnsupported {
        /// The name of the wgpu limit.
        limit: &'static str,
        /// The least value softdice needs.
        needed: u64,
        /// The device's value.
        available: u64,
    },
    /// A shape needs at least a batch and a class axis.
    #[error("shape {shape:?} has rank {rank}; predictions need [B, C, spatial...] with rank >= 2")]
    BadRank {
        /// The shape given.
        shape: Vec<usize>,
        /// Its rank.
        rank: usize,
    },
    /// The class axis is zero.
    #[error("the class axis is 0; at least one class is needed")]
    ZeroClasses,
    /// An axis other than the class axis is zero.
    #[error("axis {axis} of shape {shape:?} is empty")]
    EmptyAxis {
        /// The zero axis.
        axis: usize,
        /// The shape given.
        shape: Vec<usize>,
    },
    /// A buffer or slice has the wrong number of elements.
    #[error("{what} has {got} elements, expected {expected}")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// Elements the shape asks for.
        expected: usize,
        /// Elements given.
        got: usize,
    },
    /// Labels at or above the class count that are not the ignore label.
    #[error(
        "{} out of range: >= the class count {n_classes} and not the ignore label{}",
        counted(*count, "label", "labels"),
        first.map_or(String::new(), |p| format!("; the first at pixel {p}"))
    )]
    LabelOutOfRange {
        /// How many pixels carry such a label.
        count: u64,
        /// The class count.
        n_classes: usize,
        /// The first such pixel, when the host saw the labels (None when counted on the GPU).
        first: Option<usize>,
    },
    /// NaN or infinite predictions (or dense targets).
    #[error(
        "{} (NaN or infinity) in the {what}",
        counted(*count, "non-finite value", "non-finite values")
    )]
    NonFinite {
        /// Which input ("predictions", "targets", or "inputs" when counted on the GPU).
        what: &'static str,
        /// How many.
        count: u64,
    },
    /// Dense targets of a metric other than 0, 1 and the ignore value: metrics count hard
    /// decisions against hard targets.
    #[error(
        "{} of a metric neither 0, 1 nor the ignore value",
        counted(*count, "dense target value", "dense target values")
    )]
    NotBinary {
        /// How many.
        count: u64,
    },
    /// A smoothing term, clamp or weight is negative or not finite.
    #[error("{name} = {value} must be finite and >= 0")]
    InvalidParameter {
        /// Which parameter.
        name: &'static str,
        /// Its value.
        value: f32,
    },
    /// A class index in the configuration is out of range.
    #[error("class {class} is out of range for {n_classes} classes")]
    ClassOutOfRange {
        /// The class given.
        class: u32,
        /// The class count.
        n_classes: usize,
    },
    /// A configuration that cannot be computed.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An input is larger than the device can hold or address.
    #[error("{what} needs {needed} but the device allows at most {limit} ({limit_name})")]
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// What it needs (bytes, or a count).
        needed: u64,
        /// The device limit.
        limit: u64,
        /// The name of the wgpu limit.
        limit_name: &'static str,
    },
    /// A buffer given to the buffer-level API is too small for the shape at its offset.
    #[error(
        "the {what} buffer holds {size} bytes, but offset {offset} + {needed} bytes are needed"
    )]
    BufferTooSmall {
        /// Which buffer.
        what: &'static str,
        /// Its size in bytes.
        size: u64,
        /// The offset given.
        offset: u64,
        /// The bytes the shape needs from the offset on.
        needed: u64,
    },
    /// A buffer ends inside the last 32-bit word of its tensor: u8 and u16 labels are read
    /// as whole 4-byte words.
    #[error(
        "the {what} buffer holds {size} bytes, but its tensor is read as whole 4-byte words \
         (u8 and u16 labels four or two to a word), up to byte {end}: pad the buffer to \
         {end} bytes"
    )]
    NotWordPadded {
        /// Which buffer.
        what: &'static str,
        /// Its size in bytes.
        size: u64,
        /// Where the last word read ends.
        end: u64,
    },
    /// Two tensors of one call in one buffer where wgpu forbids it.
    #[error(
        "the {what} and the {with} are in one buffer; the {what} needs a buffer of its own \
         (wgpu cannot bind one buffer both read-only and writable in a dispatch)"
    )]
    SharedBuffer {
        /// The tensor that needs a buffer of its own.
        what: &'static str,
        /// The tensor it shares one with.
        with: &'static str,
    },
    /// A buffer that is not one of the context's device (another device or another
    /// `wgpu::Instance`), as far as wgpu lets it be seen (docs/guarantees.md).
    #[error(
        "the {what} buffer is not a buffer of this context's device (make it with \
         DiceContext::device(), or build the context with DiceContext::from_device on the \
         buffer's device): {detail}"
    )]
    ForeignBuffer {
        /// Which buffer.
        what: &'static str,
        /// What wgpu reported.
        detail: String,
    },
    /// A buffer lacks a usage flag the kernels need.
    #[error("the {what} buffer lacks usage {missing:?}")]
    MissingUsage {
        /// Which buffer.
        what: &'static str,
        /// The missing flags.
        missing: wgpu::BufferUsages,
    },
    /// A byte offset that is not a multiple of the element size.
    #[error("the {what} offset {offset} is not a multiple of {alignment} bytes")]
    Misaligned {
        /// Which buffer.
        what: &'static str,
        /// The offset given.
        offset: u64,
        /// The alignment needed.
        alignment: u64,
    },
    /// The plan's readback does not hold the results of the recording asked for.
    #[error(
        "the results of recording {recording} of this plan are not in its readback (it holds \
         recording {found}; 0 is none): submit the encoder it was recorded into before reading \
         it, and read it before {} more recordings of the plan reuse its slot",
        crate::RECORDING_SLOTS
    )]
    StaleResults {
        /// The recording asked for.
        recording: u32,
        /// The recording whose results the slot holds (0: none).
        found: u32,
    },
    /// The device reported an error (validation, out of memory) or was lost; build a new
    /// context.
    #[error("GPU error: {0}")]
    Gpu(String),
}

/// "1 label" / "3 labels".
fn counted(count: u64, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}
