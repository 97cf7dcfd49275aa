//! What can go wrong before a loss is queued, and the bad input the kernels counted.

/// An error of softdice-burn: the loss's own (softdice's validation and GPU errors), or the
/// Burn side's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A softdice error: configuration, shape, labels out of range, non-finite input, device.
    #[error(transparent)]
    Dice(#[from] softdice::DiceError),
    /// The tensors do not fit the loss (ranks, shapes, dtypes, devices).
    #[error("softdice-burn: {0}")]
    Input(String),
    /// Burn could not make or register the wgpu device.
    #[error("softdice-burn: device: {0}")]
    Device(String),
    /// Reading a result back from the device failed.
    #[error("softdice-burn: reading the loss back: {0}")]
    Read(String),
}
