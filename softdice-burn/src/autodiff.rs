//! The analytic backward pass. Both loss operations register one backward step, which runs
//! [`SoftDiceOps::softdice_backward`] with the upstream gradient of their output: the kernels
//! take it into their per-cell coefficients (a vector-Jacobian product), so `0.3 · loss`, a
//! weighted sum of `Reduction::None`'s elements, or the loss inside a larger graph all get
//! their exact gradient. The state output is a constant (the sums carry no graph).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend};

use crate::ops::SoftDiceOps;
use crate::spec::DiceSpec;

/// The backward step of the loss output.
#[derive(Debug)]
struct DiceBackward;

impl<B: Backend + SoftDiceOps> Backward<B, 1> for DiceBackward {
    /// Predictions, labels, the state the loss was formed from, the spec.
    type State = (FloatTensor<B>, IntTensor<B>, FloatTensor<B>, DiceSpec);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let upstream = grads.consume::<B>(&ops.node);
        if let Some(parent) = parent {
            let (preds, labels, state, spec) = ops.state;
            let grad = B::softdice_backward(preds, labels, state, upstream, spec);
            grads.register::<B>(parent.id, grad);
        }
    }
}

/// Tracks `values`, computed from the predictions behind `node` and from `state`, with the
/// loss's backward step.
fn track<B: Backend + SoftDiceOps, C: CheckpointStrategy>(
    node: NodeGuard,
    inputs: (FloatTensor<B>, IntTensor<B>, FloatTensor<B>, DiceSpec),
    values: FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    match DiceBackward.prepare::<C>([node]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(inputs, values),
        OpsKind::UnTracked(prep) => prep.finish(values),
    }
}

impl<B: Backend + SoftDiceOps, C: CheckpointStrategy> SoftDiceOps for Autodiff<B, C> {
    fn softdice_forward(
        preds: FloatTensor<Self>,
        labels: IntTensor<Self>,
        spec: DiceSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // The guard before the primitive is consumed (burn-autodiff's rule).
        let node = preds.node();
        let preds = preds.into_primitive();
        let (values, state) = B::softdice_forward(preds.clone(), labels.clone(), spec.clone());
        let values = track::<B, C>(node, (preds, labels, state.clone(), spec), values);
        (values, <FloatTensor<Self>>::new(state))
    }

    fn softdice_finish(
        preds: FloatTensor<Self>,
        labels: IntTensor<Self>,
        state: FloatTensor<Self>,
        spec: DiceSpec,
    ) -> FloatTensor<Self> {
        let node = preds.node();
        let (preds, state) = (preds.into_primitive(), state.into_primitive());
        let values = B::softdice_finish(preds.clone(), labels.clone(), state.clone(), spec.clone());
        track::<B, C>(node, (preds, labels, state, spec), values)
    }

    fn softdice_backward(
        preds: FloatTensor<Self>,
        labels: IntTensor<Self>,
        state: FloatTensor<Self>,
        upstream: FloatTensor<Self>,
        spec: DiceSpec,
    ) -> FloatTensor<Self> {
        // First derivatives only: the gradient is a constant of the graph.
        <FloatTensor<Self>>::new(B::softdice_backward(
            preds.into_primitive(),
            labels,
            state.into_primitive(),
            upstream.into_primitive(),
            spec,
        ))
    }
}
