//! The loss as Burn users call it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::backend::{Dispatch, DispatchDevice};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use softdice::{DiceConfig, DiceError, Reduction, Scope, TargetKind};

use crate::composed::{self, Sums};
use crate::error::Error;
use crate::inputs::check_inputs;
use crate::ops::SoftDiceOps;
use crate::spec::{DiceSpec, STATUS_COUNTS, SUM_TERMS};

/// Where a device's loss runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossPath {
    /// softdice's fused kernels on the tensors' own wgpu buffers (a wgpu device whose
    /// initialisation went through this crate: [`crate::DiceLossConfig::init`],
    /// [`crate::init_device`], [`crate::wgpu_device`], [`crate::new_wgpu_device`]).
    Fused,
    /// The loss composed of Burn tensor operations on the tensors' own device, differentiated
    /// by Burn's autodiff: every other device (CUDA, ROCm, other cubecl runtimes, a wgpu
    /// device Burn initialised itself, NdArray, Flex, any backend of Burn's dispatch).
    Composed,
    /// softdice's f64 reference on the host, a round trip each call: the oracle, taken only
    /// when asked for ([`crate::DiceLossConfig::host_reference`]), on cubecl, NdArray and Flex
    /// devices.
    Host,
}

/// Which path `device` takes: [`LossPath::Fused`] on a wgpu device registered with this
/// crate, [`LossPath::Composed`] on every other.
pub fn loss_path(device: &Device) -> LossPath {
    if crate::device::is_fused(device) {
        LossPath::Fused
    } else {
        LossPath::Composed
    }
}

/// Whether softdice's host reference runs on `device` (the backends of [`SoftDiceOps`]).
fn host_runs_on(device: &Device) -> Result<(), Error> {
    match device.as_dispatch().clone().inner() {
        DispatchDevice::Cube(_) => Ok(()),
        #[cfg(feature = "ndarray")]
        DispatchDevice::NdArray(_) => Ok(()),
        #[cfg(feature = "flex")]
        DispatchDevice::Flex(_) => Ok(()),
        #[allow(unreachable_patterns)]
        _ => Err(Error::UnsupportedDevice {
            device: format!("{device:?}"),
        }),
    }
}

/// Numbers each loss: its plans are cached per device under it.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A soft-Dice loss (Dice, Tversky, Generalized Dice, with an optional fused cross-entropy
/// term: every option of [`DiceConfig`] and its MONAI/smp/nnU-Net presets) on Burn tensors,
/// differentiable with softdice's analytic gradient. A Burn [`Module`] without parameters, as
/// burn-nn's losses: made by [`crate::DiceLossConfig::init`], it can be a field of a model.
///
/// ```
/// use burn::tensor::{Int, Tensor, TensorData};
/// use softdice_burn::DiceLossConfig;
///
/// # fn main() -> Result<(), softdice_burn::Error> {
/// let device = softdice_burn::new_wgpu_device()?.autodiff();
/// let loss_fn = DiceLossConfig::monai().try_init(&device)?;
/// let logits = Tensor::<4>::from_data(
///     TensorData::new((0..2 * 3 * 4 * 4).map(|i| (i % 7) as f32 * 0.3).collect::<Vec<_>>(), [2, 3, 4, 4]),
///     &device,
/// )
/// .require_grad();
/// let labels = Tensor::<3, Int>::from_data(
///     TensorData::new((0..2 * 4 * 4).map(|i| (i % 3) as i32).collect::<Vec<_>>(), [2, 4, 4]),
///     &device,
/// );
/// let loss = loss_fn.forward(logits.clone(), labels);
/// let grads = loss.backward();
/// let grad = logits.grad(&grads).expect("logits require grad");
/// // Each pixel's softmax gradient sums to zero over the classes.
/// let grad = grad.into_data().to_vec::<f32>().expect("f32");
/// let pixel0: f32 = (0..3).map(|c| grad[c * 16]).sum();
/// assert!(pixel0.abs() < 1e-6, "{pixel0}");
/// // 1 - Dice per sample and class, in (0, 1).
/// let value: f32 = loss.into_scalar();
/// assert!(value > 0.0 && value < 1.0, "{value}");
/// # Ok(())
/// # }
/// ```
///
/// The example reads its results back before it ends: a process that exits while its last
/// GPU work is still queued can crash in the driver's teardown (lavapipe's shader compiler
/// thread was seen to), in any wgpu program.
#[derive(Module, Debug)]
pub struct DiceLoss {
    #[module(skip)]
    config: Arc<DiceConfig>,
    /// Keys the plans cached per device; a clone shares them.
    #[module(skip)]
    id: u64,
    /// Every call on softdice's f64 host reference ([`LossPath::Host`]).
    #[module(skip)]
    host: bool,
}

/// The mergeable statistics of a loss call: softdice's class sums `[rows][C][A, P, Y, X1,
/// X2]`, the count of pixels kept, and the counts of bad labels and non-finite inputs, in
/// one flat f32 tensor. The element-wise sum of the statistics of the shards of a batch
/// (an all-reduce across devices) is the statistics of the whole batch; finish the loss
/// from it with [`DiceLoss::forward_merged`] on each device.
#[derive(Clone, Debug)]
pub struct DiceSums {
    state: Tensor<1>,
    rows: usize,
    classes: usize,
}

impl DiceSums {
    /// The flat tensor to all-reduce (sum).
    pub fn tensor(&self) -> &Tensor<1> {
        &self.state
    }

    /// These statistics with the flat tensor replaced by `reduced` (the all-reduced sum).
    pub fn with_tensor(&self, reduced: Tensor<1>) -> Self {
        Self {
            state: reduced,
            ..self.clone()
        }
    }

    /// The element-wise sum with another shard's statistics (of the same loss and classes).
    pub fn merge(&self, other: &DiceSums) -> Self {
        self.with_tensor(self.state.clone() + other.state.clone().to_device(&self.state.device()))
    }

    /// The class sums `[rows, C, 5]`: A (intersection), P (predictions), Y (targets), and the
    /// cross-entropy term's two sums (zero without one).
    pub fn cells(&self) -> Tensor<3> {
        let n = self.rows * self.classes * SUM_TERMS;
        self.state
            .clone()
            .narrow(0, 0, n)
            .reshape([self.rows, self.classes, SUM_TERMS])
    }
}

impl DiceLoss {
    /// The loss of `config` (see [`DiceConfig`]'s presets: `DiceConfig::monai()` is MONAI's
    /// `DiceLoss(to_onehot_y=True, softmax=True)`), unchecked until its first call and without
    /// preparing a device: [`crate::DiceLossConfig::init`] is the way to make one.
    pub fn new(config: DiceConfig) -> Self {
        Self {
            config: Arc::new(config),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            host: false,
        }
    }

    /// This loss on softdice's f64 host reference on every device ([`LossPath::Host`]): exact,
    /// and a round trip each call. [`crate::DiceLossConfig::host_reference`] sets it.
    pub fn with_host_reference(self, host: bool) -> Self {
        Self { host, ..self }
    }

    /// The path this loss takes on `device`; [`Error::UnsupportedDevice`] where it is the host
    /// reference and the device's backend has none.
    pub fn path(&self, device: &Device) -> Result<LossPath, Error> {
        if self.host {
            host_runs_on(device)?;
            return Ok(LossPath::Host);
        }
        Ok(loss_path(device))
    }

    /// The configuration.
    pub fn config(&self) -> &DiceConfig {
        &self.config
    }

    /// The loss of `preds` `[B, C, spatial…]` (logits or probabilities, as the config's
    /// activation says) against integer `labels` `[B, spatial…]`: one value for
    /// `Reduction::Mean`/`Sum`, the loss elements for `Reduction::None` (`[rows · C']`,
    /// row-major over rows and selected classes; `[rows]` for Generalized Dice), as the Python
    /// call returns them. Differentiable in `preds`.
    ///
    /// # Panics
    /// As Burn's own losses, on inputs that do not fit (ranks, shapes, devices, an invalid
    /// config) — before anything reaches the device. Labels out of range and non-finite
    /// predictions are counted on the device, not read back: the loss is NaN (and its
    /// gradient too). [`DiceLoss::try_forward`] returns them as errors.
    pub fn forward<const D: usize, const DL: usize>(
        &self,
        preds: Tensor<D>,
        labels: Tensor<DL, Int>,
    ) -> Tensor<1> {
        match self.run(preds, labels) {
            Ok((values, _)) => values,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`DiceLoss::forward`] that returns every error, including the bad labels and
    /// non-finite inputs the kernels counted (reading two counts back: a sync with the
    /// device).
    pub fn try_forward<const D: usize, const DL: usize>(
        &self,
        preds: Tensor<D>,
        labels: Tensor<DL, Int>,
    ) -> Result<Tensor<1>, Error> {
        let (values, sums) = self.run(preds, labels)?;
        self.check(&sums)?;
        Ok(values)
    }

    /// The statistics of `preds` and `labels` (this device's shard of a batch), to merge
    /// across devices before [`DiceLoss::forward_merged`]. [`Error::PerSampleMerge`] for
    /// [`Scope::PerSample`] losses (MONAI's `batch=False`).
    pub fn sums<const D: usize, const DL: usize>(
        &self,
        preds: Tensor<D>,
        labels: Tensor<DL, Int>,
    ) -> Result<DiceSums, Error> {
        self.mergeable()?;
        let preds = preds.detach();
        Ok(self.run(preds, labels)?.1)
    }

    /// The loss formed from `merged` (the sum of every shard's [`DiceLoss::sums`]),
    /// differentiable in this shard's `preds`: the gradient of the whole batch's loss with
    /// respect to this shard, as if the batch had been on one device.
    /// [`Error::PerSampleMerge`] for [`Scope::PerSample`] losses.
    pub fn forward_merged<const D: usize, const DL: usize>(
        &self,
        preds: Tensor<D>,
        labels: Tensor<DL, Int>,
        merged: &DiceSums,
    ) -> Result<Tensor<1>, Error> {
        self.mergeable()?;
        let (spec, path) = self.spec(&preds, &labels)?;
        let state = merged.state.clone().to_device(&preds.device());
        if state.dims() != [spec.state_len()] {
            return Err(Error::MergedLength {
                got: state.dims()[0],
                expected: spec.state_len(),
            });
        }
        let state = state.detach();
        let values = match path {
            LossPath::Composed => {
                let own = composed::sums(&spec, preds, labels);
                composed::finish(&spec, own.merged_into(Sums::of_state(&spec, state)))
            }
            LossPath::Fused | LossPath::Host => {
                Tensor::<1>::from_dispatch(Dispatch::softdice_finish(
                    preds.into_dispatch(),
                    labels.into_dispatch(),
                    state.into_dispatch(),
                    spec.clone(),
                ))
            }
        };
        Ok(self.select(values, &spec))
    }

    /// Whether this loss's statistics merge across shards by an element-wise sum: only over
    /// the batch (per-sample rows of two shards would be summed into one).
    fn mergeable(&self) -> Result<(), Error> {
        match self.config.scope {
            Scope::Batch => Ok(()),
            Scope::PerSample => Err(Error::PerSampleMerge),
        }
    }

    /// Validates the call, describes it to the backends, and says which path it takes.
    fn spec<const D: usize, const DL: usize>(
        &self,
        preds: &Tensor<D>,
        labels: &Tensor<DL, Int>,
    ) -> Result<(DiceSpec, LossPath), Error> {
        let shape = check_inputs(preds, labels)?;
        let device = preds.device();
        let path = self.path(&device)?;
        if path == LossPath::Composed {
            crate::device::warn_composed_once(&device, None);
        }
        self.config.validate(shape.classes())?;
        self.config.validate_targets(TargetKind::LabelsU32)?;
        let spec = DiceSpec {
            loss_id: self.id,
            shape,
            config: self.config.clone(),
            host: path == LossPath::Host,
        };
        Ok((spec, path))
    }

    /// The loss output (selected as the Python call returns it) and the statistics.
    fn run<const D: usize, const DL: usize>(
        &self,
        preds: Tensor<D>,
        labels: Tensor<DL, Int>,
    ) -> Result<(Tensor<1>, DiceSums), Error> {
        let (spec, path) = self.spec(&preds, &labels)?;
        let (values, state) = match path {
            LossPath::Composed => {
                let sums = composed::sums(&spec, preds, labels);
                let state = sums.state();
                (composed::finish(&spec, sums), state)
            }
            LossPath::Fused | LossPath::Host => {
                let (values, state) = Dispatch::softdice_forward(
                    preds.into_dispatch(),
                    labels.into_dispatch(),
                    spec.clone(),
                );
                (Tensor::from_dispatch(values), Tensor::from_dispatch(state))
            }
        };
        let sums = DiceSums {
            state,
            rows: spec.rows(),
            classes: spec.shape.classes(),
        };
        Ok((self.select(values, &spec), sums))
    }

    /// `Reduction::None`'s elements of the selected classes (column 0 of each row for
    /// Generalized Dice), as the Python call returns them; the reduced loss as it is.
    fn select(&self, values: Tensor<1>, spec: &DiceSpec) -> Tensor<1> {
        if self.config.reduction != Reduction::None {
            return values;
        }
        let (rows, n_c) = (spec.rows(), spec.shape.classes());
        let columns: Vec<i64> = self
            .config
            .returned_columns(n_c)
            .into_iter()
            .map(|c| c as i64)
            .collect();
        if columns.len() == n_c {
            return values;
        }
        let kept = columns.len();
        let index = Tensor::<1, Int>::from_data(TensorData::new(columns, [kept]), &values.device());
        values
            .reshape([rows, n_c])
            .select(1, index)
            .reshape([rows * kept])
    }

    /// The counted bad input of a call, as an error.
    fn check(&self, sums: &DiceSums) -> Result<(), Error> {
        let len = sums.state.dims()[0];
        let counts = sums
            .state
            .clone()
            .narrow(0, len - STATUS_COUNTS, STATUS_COUNTS)
            .into_data();
        let counts: Vec<f32> = counts.iter::<f32>().collect();
        if counts[0] > 0.0 {
            return Err(DiceError::LabelOutOfRange {
                count: counts[0] as u64,
                n_classes: sums.classes,
                first: None,
            }
            .into());
        }
        if counts[1] > 0.0 {
            return Err(DiceError::NonFinite {
                what: "predictions",
                count: counts[1] as u64,
            }
            .into());
        }
        Ok(())
    }
}
