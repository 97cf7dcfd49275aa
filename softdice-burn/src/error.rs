//! What can go wrong before a loss is queued, and the bad input the kernels counted.

/// An error of softdice-burn: the loss's own (softdice's validation and GPU errors), or the
/// Burn side's. Each case a caller may handle is a variant of its own, with its values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A softdice error: configuration, shape, labels out of range, non-finite input, device.
    #[error(transparent)]
    Dice(#[from] softdice::DiceError),
    /// The labels' shape is not the predictions' without the class axis.
    #[error(
        "softdice-burn: labels of shape {labels:?} for predictions {preds:?}: expected {expected:?}"
    )]
    LabelShape {
        /// The predictions' dims `[B, C, spatial…]`.
        preds: Vec<usize>,
        /// The labels' dims.
        labels: Vec<usize>,
        /// The dims the labels need, `[B, spatial…]`.
        expected: Vec<usize>,
    },
    /// Predictions and labels are on different devices.
    #[error("softdice-burn: predictions on {preds}, labels on {labels}: move them to one device")]
    DeviceMismatch {
        /// The predictions' device.
        preds: String,
        /// The labels' device.
        labels: String,
    },
    /// This build has no path for the device's backend.
    #[error(
        "softdice-burn: no softdice path for {device}: enable softdice-burn's feature of that \
         backend (`ndarray`, `flex`)"
    )]
    UnsupportedDevice {
        /// The device, as Burn prints it.
        device: String,
    },
    /// Merged statistics of another loss or shape than this call's.
    #[error("softdice-burn: merged sums of {got} floats; this loss and shape have {expected}")]
    MergedLength {
        /// The merged tensor's length.
        got: usize,
        /// The length this loss and shape produce.
        expected: usize,
    },
    /// Burn could not make or register the wgpu device.
    #[error("softdice-burn: device: {0}")]
    DeviceInit(String),
    /// Statistics of [`softdice::Scope::PerSample`] asked to merge across shards: their rows
    /// are per sample, so the element-wise sum of two shards' rows would add different
    /// samples together (a wrong loss, not an error). Refused until rows carry their samples.
    #[error(
        "softdice-burn: merged statistics need Scope::Batch; with Scope::PerSample each shard's \
         rows are its own samples, and summing two shards' rows would mix samples"
    )]
    PerSampleMerge,
}
