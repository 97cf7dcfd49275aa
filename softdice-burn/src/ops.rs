//! The loss as a Burn backend extension: three primitive operations routed through Burn's
//! dispatch, for the fused path and the host reference (the composed path needs none: it is
//! Burn's own ops). On the cubecl backend with a device registered with this crate they run
//! softdice's kernels on Burn's own buffers ([`crate::cube`]); for the host reference, and
//! where the kernels refuse an input, softdice's f64 reference on the host ([`crate::host`]). `Autodiff` has its own
//! implementation with the analytic backward pass ([`crate::autodiff`]); under Burn's
//! `fusion` feature the macro registers each operation as a lazy custom operation.

// burn-ndarray is deprecated in favour of burn-flex; both stay supported here (the routing
// the macro generates names NdArray).
#![allow(deprecated)]

#[cfg(feature = "fusion")]
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Backend, backend_extension};

use crate::host;
use crate::spec::DiceSpec;

/// A flat f32 tensor of `len` floats, as fusion describes an output before it runs.
#[cfg(feature = "fusion")]
fn floats(len: usize) -> TensorSpec {
    TensorSpec::new(burn::tensor::Shape::new([len]), burn::tensor::DType::F32)
}

/// Output metadata of [`SoftDiceOps::softdice_forward`]: the loss output and the state.
#[cfg(feature = "fusion")]
fn forward_meta(
    _preds: &TensorSpec,
    _labels: &TensorSpec,
    spec: &DiceSpec,
) -> (TensorSpec, TensorSpec) {
    (floats(spec.values_len()), floats(spec.state_len()))
}

/// Output metadata of [`SoftDiceOps::softdice_finish`]: the loss output.
#[cfg(feature = "fusion")]
fn finish_meta(
    _preds: &TensorSpec,
    _labels: &TensorSpec,
    _state: &TensorSpec,
    spec: &DiceSpec,
) -> TensorSpec {
    floats(spec.values_len())
}

/// The soft-Dice loss (and its fused cross-entropy term) as backend operations on integer
/// labels. Tensors are flat f32 where they are not the inputs: the loss output has
/// `values_len` floats (the loss, or every `[rows][C]` loss element for `Reduction::None`),
/// the state `[cells][A, P, Y, X1, X2]`, the pixel count, then the counts of bad labels and
/// non-finite inputs.
#[backend_extension(
    Cube,
    NdArray: cfg(feature = "ndarray"),
    Flex: cfg(feature = "flex"),
    Autodiff,
    Fusion: cfg(feature = "fusion")
)]
pub trait SoftDiceOps: Backend {
    /// The loss output and the state (the class sums and status counts) of `preds`
    /// `[B, C, spatial…]` against `labels` `[B, spatial…]`.
    #[fusion(meta = forward_meta)]
    fn softdice_forward(
        preds: FloatTensor<Self>,
        labels: IntTensor<Self>,
        spec: DiceSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        host::forward::<Self>(preds, labels, &spec)
    }

    /// The loss output from a state, such as the element-wise sum of the states of the shards
    /// of a batch on several devices; `preds` and `labels` are this device's shard (its
    /// gradient is [`SoftDiceOps::softdice_backward`] with the same state).
    #[fusion(meta = finish_meta)]
    fn softdice_finish(
        preds: FloatTensor<Self>,
        labels: IntTensor<Self>,
        state: FloatTensor<Self>,
        spec: DiceSpec,
    ) -> FloatTensor<Self> {
        let _ = (preds, labels);
        host::finish::<Self>(state, &spec)
    }

    /// `Σ_k upstream[k] · d output[k] / d preds` (a vector-Jacobian product) with the loss
    /// formed from `state`: the gradient of the loss output for any upstream gradient.
    #[fusion(dtype = preds, shape = preds)]
    fn softdice_backward(
        preds: FloatTensor<Self>,
        labels: IntTensor<Self>,
        state: FloatTensor<Self>,
        upstream: FloatTensor<Self>,
        spec: DiceSpec,
    ) -> FloatTensor<Self> {
        host::backward::<Self>(preds, labels, state, upstream, &spec)
    }
}
