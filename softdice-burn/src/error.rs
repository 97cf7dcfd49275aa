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
    /// Statistics of [`softdice::Scope::PerSample`] asked to merge across shards: their rows
    /// are per sample, so the element-wise sum of two shards' rows would add different
    /// samples together (a wrong loss, not an error). Refused until rows carry their samples.
    #[error(
        "softdice-burn: merged statistics need Scope::Batch; with Scope::PerSample each shard's \
         rows are its own samples, and summing two shards' rows would mix samples"
    )]
    PerSampleMerge,
    /// Reading a result back from the device failed.
    #[error("softdice-burn: reading the loss back: {0}")]
    Read(String),
}
