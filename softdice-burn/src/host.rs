//! The host reference: the inputs come to the host, softdice's f64 reference computes the
//! loss output, state and gradient (every option, exact), the results go back to the
//! tensors' device. Taken when a loss asks for it, and where the fused kernels refuse an
//! input.

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Backend, TensorMetadata};
use burn::tensor::{FloatDType, TensorData, read_sync};
use softdice::{ClassSums, Reduction, Targets, cpu};

use crate::spec::{DiceSpec, STATUS_COUNTS, SUM_TERMS};

/// A tensor's values as f32 (read back: a device round trip).
pub(crate) fn floats<B: Backend>(tensor: FloatTensor<B>) -> Vec<f32> {
    let data = read_sync(B::float_into_data(tensor)).expect("softdice-burn: reading a tensor back");
    data.iter::<f32>().collect()
}

/// Integer labels as the u32 softdice reads (a negative i32 as its bits, as the kernels see
/// Burn's i32 labels), and how many fit in neither.
fn labels<B: Backend>(tensor: IntTensor<B>) -> (Vec<u32>, u64) {
    let data = read_sync(B::int_into_data(tensor)).expect("softdice-burn: reading labels back");
    let mut unreadable = 0;
    let labels = data
        .iter::<i64>()
        .map(|l| match (u32::try_from(l), i32::try_from(l)) {
            (Ok(l), _) => l,
            (Err(_), Ok(negative)) => negative as u32,
            (Err(_), Err(_)) => {
                unreadable += 1;
                0
            }
        })
        .collect();
    (labels, unreadable)
}

fn upload<B: Backend>(values: Vec<f32>, device: &B::Device) -> FloatTensor<B> {
    let len = values.len();
    B::float_from_data(TensorData::new(values, [len]), device)
}

/// The loss output of finalized sums: the loss, or every cell's loss element.
fn values_of(spec: &DiceSpec, fin: &softdice::Finalized<f64>) -> Vec<f32> {
    match spec.config.reduction {
        Reduction::None => fin.elements.iter().map(|&e| e as f32).collect(),
        Reduction::Mean | Reduction::Sum => vec![fin.loss as f32],
    }
}

/// The sums and the status counts of a state.
fn split_state(spec: &DiceSpec, state: &[f32]) -> (ClassSums, [f32; STATUS_COUNTS]) {
    let (sums, counts) = state.split_at(spec.sums_len());
    let (cells, pixels) = sums.split_at(spec.cells() * SUM_TERMS);
    let cells = cells
        .chunks_exact(SUM_TERMS)
        .map(|c| std::array::from_fn(|k| c[k] as f64))
        .collect();
    let mut sums = ClassSums::from_cells(spec.rows(), spec.shape.classes(), cells)
        .expect("softdice-burn: a state of the spec's length");
    sums.set_pixels(pixels[0] as f64, softdice::TargetForm::Labels);
    sums.set_spatial(spec.shape.spatial() as f64);
    (sums, std::array::from_fn(|k| counts[k]))
}

/// Labels out of range (not the ignore index) and non-finite predictions, as the kernels
/// count them.
fn status(spec: &DiceSpec, preds: &[f32], labels: &[u32], unreadable: u64) -> [f32; 2] {
    let n_c = spec.shape.classes() as u32;
    let bad = labels
        .iter()
        .filter(|&&l| l >= n_c && Some(l) != spec.config.ignore_index)
        .count() as u64
        + unreadable;
    let non_finite = preds.iter().filter(|v| !v.is_finite()).count();
    [bad as f32, non_finite as f32]
}

/// [`crate::SoftDiceOps::softdice_forward`] on the host.
pub(crate) fn forward<B: Backend>(
    preds: FloatTensor<B>,
    labels: IntTensor<B>,
    spec: &DiceSpec,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let device = preds.device();
    let preds = floats::<B>(preds);
    let (labels, unreadable) = self::labels::<B>(labels);
    let counts = status(spec, &preds, &labels, unreadable);
    let (values, mut state) = if counts.iter().any(|&c| c != 0.0) {
        // As the kernels: NaN out, and no sums from bad input.
        (
            vec![f32::NAN; spec.values_len()],
            vec![0.0; spec.sums_len()],
        )
    } else {
        let sums = cpu::dice_sums(&spec.shape, &spec.config, &preds, Targets::Labels(&labels));
        let fin = cpu::dice_finalize(&spec.config, &sums);
        (values_of(spec, &fin), sums.to_f32())
    };
    state.extend(counts);
    (upload::<B>(values, &device), upload::<B>(state, &device))
}

/// [`crate::SoftDiceOps::softdice_finish`] on the host.
pub(crate) fn finish<B: Backend>(state: FloatTensor<B>, spec: &DiceSpec) -> FloatTensor<B> {
    let device = state.device();
    let (sums, counts) = split_state(spec, &floats::<B>(state));
    let values = if counts.iter().any(|&c| c != 0.0) {
        vec![f32::NAN; spec.values_len()]
    } else {
        values_of(spec, &cpu::dice_finalize(&spec.config, &sums))
    };
    upload::<B>(values, &device)
}

/// [`crate::SoftDiceOps::softdice_backward`] on the host.
pub(crate) fn backward<B: Backend>(
    preds: FloatTensor<B>,
    labels: IntTensor<B>,
    state: FloatTensor<B>,
    upstream: FloatTensor<B>,
    spec: &DiceSpec,
) -> FloatTensor<B> {
    let device = preds.device();
    // The gradient goes back in the predictions' dtype (f16, bf16: Burn's mixed precision).
    let dtype = FloatDType::from(preds.dtype());
    let preds = floats::<B>(preds);
    let (labels, _) = self::labels::<B>(labels);
    let (sums, counts) = split_state(spec, &floats::<B>(state));
    let upstream: Vec<f64> = floats::<B>(upstream).iter().map(|&u| u as f64).collect();
    let grad = if counts.iter().any(|&c| c != 0.0) {
        // As the kernels' vector-Jacobian product: a NaN gradient after bad input.
        vec![f32::NAN; preds.len()]
    } else {
        let fin = cpu::dice_finalize(&spec.config, &sums);
        let fin = cpu::with_upstream(&spec.config, spec.shape.classes(), &fin, &upstream);
        cpu::dice_gradient(
            &spec.shape,
            &spec.config,
            &preds,
            Targets::Labels(&labels),
            &fin,
        )
        .iter()
        .map(|&g| g as f32)
        .collect()
    };
    let dims = spec.shape.dims().to_vec();
    let grad = B::float_from_data(TensorData::new(grad, dims), &device);
    match dtype {
        FloatDType::F32 => grad,
        _ => B::float_cast(grad, dtype),
    }
}
