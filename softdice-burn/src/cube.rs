//! The fused path: softdice's kernels on the buffers of Burn's cubecl tensors, on a wgpu
//! device registered with this crate ([`crate::device`]). A call that asked for the host
//! reference, and anything the kernels refuse (an input past the device's limits), takes the
//! host path; other cubecl devices never come here (they take the composed path).

use std::sync::atomic::{AtomicU64, Ordering};

use burn::backend::ops::{FloatTensorOps, IntTensorOps};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::tensor::{DType, FloatDType, IntDType, Shape};
use burn_cubecl::CubeBackend;
use burn_cubecl::cubecl::wgpu::{AutoCompiler, WgpuResource, WgpuServer};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use softdice::{BufferRegion, DiceError, GpuInputs};

use crate::device::{self, Shared};
use crate::host;
use crate::ops::SoftDiceOps;
use crate::spec::{DiceSpec, STATUS_COUNTS};

/// Operations run by softdice's kernels, and by the host path on a cubecl device.
static FUSED: AtomicU64 = AtomicU64::new(0);
static HOST: AtomicU64 = AtomicU64::new(0);

/// How many loss operations each path ran, process-wide since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathCalls {
    /// Operations that ran softdice's kernels (a forward, a finish, a backward: one each).
    pub fused: u64,
    /// Loss calls composed of Burn tensor operations (forward or merged finish).
    pub composed: u64,
    /// Operations on softdice's host reference: asked for, or an input the kernels refused.
    pub host: u64,
}

/// The operations each path has run: a test or a trainer's log can tell that the fused
/// kernels, not a fallback, computed its loss.
pub fn path_calls() -> PathCalls {
    PathCalls {
        fused: FUSED.load(Ordering::Relaxed),
        composed: crate::composed::calls(),
        host: HOST.load(Ordering::Relaxed),
    }
}

type Server = WgpuServer<AutoCompiler>;

/// The wgpu buffer region behind a handle; holding it pins the allocation.
struct Pinned(cubecl_runtime::storage::ManagedResource<WgpuResource>);

impl Pinned {
    fn of(tensor: &CubeTensor) -> Result<Self, DiceError> {
        tensor
            .client
            .get_resource::<Server>(tensor.handle.clone())
            .map(Pinned)
            .map_err(|e| DiceError::Gpu(format!("softdice-burn: a tensor's buffer: {e:?}")))
    }

    fn region(&self) -> BufferRegion<'_> {
        let r = self.0.resource();
        BufferRegion {
            buffer: &r.buffer,
            offset: r.offset,
        }
    }
}

/// A new contiguous f32 tensor of `len` floats beside `like`.
fn empty(like: &CubeTensor, dims: &[usize]) -> CubeTensor {
    let shape = Shape::from(dims.to_vec());
    let handle = like.client.empty(shape.num_elements() * 4);
    CubeTensor::new_contiguous(
        like.client.clone(),
        like.device.clone(),
        shape,
        handle,
        DType::F32,
    )
}

/// Predictions as contiguous f32, labels as contiguous 32-bit integers (Burn's i32 read as
/// u32: a negative label is out of range).
fn prepare(preds: CubeTensor, labels: CubeTensor) -> (CubeTensor, CubeTensor) {
    let preds = match preds.dtype {
        DType::F32 => preds,
        _ => CubeBackend::float_cast(preds, FloatDType::F32),
    };
    let labels = match labels.dtype {
        DType::I32 | DType::U32 => labels,
        _ => CubeBackend::int_cast(labels, IntDType::I32),
    };
    (into_contiguous(preds), into_contiguous(labels))
}

/// Runs the fused path on a registered device unless the call asked for the host reference,
/// else the host path.
fn route<T>(
    device: &burn_cubecl::CubeDevice,
    spec: &DiceSpec,
    fused: impl FnOnce(&Shared) -> Result<T, DiceError>,
    host: impl FnOnce() -> T,
) -> T {
    if let Some(shared) = device::shared(device).filter(|_| !spec.host) {
        match fused(&shared) {
            Ok(out) => {
                FUSED.fetch_add(1, Ordering::Relaxed);
                return out;
            }
            Err(e) => eprintln!("softdice-burn: fused path refused ({e}); computing on the host"),
        }
    }
    HOST.fetch_add(1, Ordering::Relaxed);
    host()
}

impl SoftDiceOps for CubeBackend {
    fn softdice_forward(
        preds: FloatTensor<Self>,
        labels: IntTensor<Self>,
        spec: DiceSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (preds, labels) = prepare(preds, labels);
        route(
            &preds.device.clone(),
            &spec,
            |shared| forward(shared, &preds, &labels, &spec),
            || host::forward::<Self>(preds.clone(), labels.clone(), &spec),
        )
    }

    fn softdice_finish(
        preds: FloatTensor<Self>,
        labels: IntTensor<Self>,
        state: FloatTensor<Self>,
        spec: DiceSpec,
    ) -> FloatTensor<Self> {
        let (preds, labels) = prepare(preds, labels);
        let state = into_contiguous(state);
        route(
            &preds.device.clone(),
            &spec,
            |shared| finish(shared, &preds, &labels, &state, &spec),
            || host::finish::<Self>(state.clone(), &spec),
        )
    }

    fn softdice_backward(
        preds: FloatTensor<Self>,
        labels: IntTensor<Self>,
        state: FloatTensor<Self>,
        upstream: FloatTensor<Self>,
        spec: DiceSpec,
    ) -> FloatTensor<Self> {
        // The kernels read and write f32 (f16/bf16 predictions are upcast on the device); the
        // gradient goes back in the predictions' dtype, as Burn's fusion layer expects.
        let dtype = preds.dtype;
        let (preds, labels) = prepare(preds, labels);
        let (state, upstream) = (into_contiguous(state), into_contiguous(upstream));
        let grad = route(
            &preds.device.clone(),
            &spec,
            |shared| backward(shared, &preds, &labels, &state, &upstream, &spec),
            || {
                host::backward::<Self>(
                    preds.clone(),
                    labels.clone(),
                    state.clone(),
                    upstream.clone(),
                    &spec,
                )
            },
        );
        in_dtype(grad, dtype)
    }
}

/// `grad` in `dtype`, a float dtype (a cast on the device where it is not f32).
fn in_dtype(grad: CubeTensor, dtype: DType) -> CubeTensor {
    if dtype == DType::F32 {
        grad
    } else {
        CubeBackend::float_cast(grad, FloatDType::from(dtype))
    }
}

/// Where the loss output sits in softdice's output buffer: the loss, or the loss elements.
fn values_offset(spec: &DiceSpec) -> u64 {
    match spec.config.reduction {
        softdice::Reduction::None => (1 + spec.cells() as u64) * 4,
        softdice::Reduction::Mean | softdice::Reduction::Sum => 0,
    }
}

/// Where the status counts sit in softdice's output buffer (after loss, dice, elements and
/// the cross-entropy value).
fn counts_offset(spec: &DiceSpec) -> u64 {
    (2 + 2 * spec.cells() as u64) * 4
}

/// Copies the loss output (and the state) from the plan's buffers into Burn's.
fn copy_results(
    plan: &softdice::DicePlan,
    encoder: &mut softdice::wgpu::CommandEncoder,
    spec: &DiceSpec,
    values: &Pinned,
    state: Option<&Pinned>,
) {
    let out = plan.output_buffer();
    let v = values.region();
    let values_bytes = spec.values_len() as u64 * 4;
    encoder.copy_buffer_to_buffer(out, values_offset(spec), v.buffer, v.offset, values_bytes);
    if let Some(state) = state {
        let s = state.region();
        let sums_bytes = spec.sums_len() as u64 * 4;
        encoder.copy_buffer_to_buffer(plan.sums_buffer(), 0, s.buffer, s.offset, sums_bytes);
        encoder.copy_buffer_to_buffer(
            out,
            counts_offset(spec),
            s.buffer,
            s.offset + sums_bytes,
            STATUS_COUNTS as u64 * 4,
        );
    }
}

/// Writes a state (sums and status counts) back into the plan's buffers: the status words
/// take the counts' f32 bits, which the kernels test only against zero.
fn restore_state(
    plan: &softdice::DicePlan,
    encoder: &mut softdice::wgpu::CommandEncoder,
    spec: &DiceSpec,
    state: &Pinned,
) {
    let s = state.region();
    let sums_bytes = spec.sums_len() as u64 * 4;
    encoder.copy_buffer_to_buffer(s.buffer, s.offset, plan.sums_buffer(), 0, sums_bytes);
    encoder.clear_buffer(plan.status_buffer(), 0, None);
    encoder.copy_buffer_to_buffer(
        s.buffer,
        s.offset + sums_bytes,
        plan.status_buffer(),
        0,
        STATUS_COUNTS as u64 * 4,
    );
}

fn forward(
    shared: &Shared,
    preds: &CubeTensor,
    labels: &CubeTensor,
    spec: &DiceSpec,
) -> Result<(CubeTensor, CubeTensor), DiceError> {
    let values = empty(preds, &[spec.values_len()]);
    let state = empty(preds, &[spec.state_len()]);
    let pinned = [preds, labels, &values, &state].map(Pinned::of);
    let [p, l, v, s] = pinned;
    let (p, l, v, s) = (p?, l?, v?, s?);
    // Burn's queued work on the inputs goes to the queue before ours.
    let _ = preds.client.flush();
    shared.run(spec, |ctx, plan, encoder| {
        let inputs = GpuInputs {
            preds: p.region(),
            targets: l.region(),
            gradient: None,
        };
        plan.record(ctx, encoder, &inputs)?;
        copy_results(plan, encoder, spec, &v, Some(&s));
        Ok(())
    })?;
    Ok((values, state))
}

fn finish(
    shared: &Shared,
    preds: &CubeTensor,
    labels: &CubeTensor,
    state: &CubeTensor,
    spec: &DiceSpec,
) -> Result<CubeTensor, DiceError> {
    let values = empty(state, &[spec.values_len()]);
    let pinned = [preds, labels, state, &values].map(Pinned::of);
    let [p, l, s, v] = pinned;
    let (p, l, s, v) = (p?, l?, s?, v?);
    let _ = state.client.flush();
    shared.run(spec, |ctx, plan, encoder| {
        restore_state(plan, encoder, spec, &s);
        let inputs = GpuInputs {
            preds: p.region(),
            targets: l.region(),
            gradient: None,
        };
        plan.record_loss(ctx, encoder, &inputs)?;
        copy_results(plan, encoder, spec, &v, None);
        Ok(())
    })?;
    Ok(values)
}

fn backward(
    shared: &Shared,
    preds: &CubeTensor,
    labels: &CubeTensor,
    state: &CubeTensor,
    upstream: &CubeTensor,
    spec: &DiceSpec,
) -> Result<CubeTensor, DiceError> {
    let grad = empty(preds, spec.shape.dims());
    let pinned = [preds, labels, state, upstream, &grad].map(Pinned::of);
    let [p, l, s, u, g] = pinned;
    let (p, l, s, u, g) = (p?, l?, s?, u?, g?);
    let _ = preds.client.flush();
    // Burn packs small tensors into shared pages: a gradient in the inputs' buffer goes
    // through a buffer of its own (wgpu binds no buffer read-only and writable at once).
    let shares = [&p, &l]
        .iter()
        .any(|t| t.region().buffer == g.region().buffer);
    shared.run(spec, |ctx, plan, encoder| {
        let inputs = |gradient| GpuInputs {
            preds: p.region(),
            targets: l.region(),
            gradient,
        };
        if plan.stores_normalisers() {
            // Softmax over more than 8 classes: the per-pixel normalisers come from a sums
            // pass over these predictions.
            plan.record_sums(ctx, encoder, &inputs(None))?;
        }
        restore_state(plan, encoder, spec, &s);
        if shares {
            let bytes = spec.shape.len() as u64 * 4;
            let own = scratch(ctx, bytes);
            plan.record_loss_vjp(
                ctx,
                encoder,
                &inputs(Some(BufferRegion::whole(&own))),
                u.region(),
            )?;
            let g = g.region();
            encoder.copy_buffer_to_buffer(&own, 0, g.buffer, g.offset, bytes);
        } else {
            plan.record_loss_vjp(ctx, encoder, &inputs(Some(g.region())), u.region())?;
        }
        Ok(())
    })?;
    Ok(grad)
}

/// A gradient buffer of the context's own (small tensors only reach here).
fn scratch(ctx: &softdice::DiceContext, bytes: u64) -> softdice::wgpu::Buffer {
    ctx.device()
        .create_buffer(&softdice::wgpu::BufferDescriptor {
            label: Some("softdice-burn gradient"),
            size: bytes.div_ceil(4) * 4,
            usage: softdice::wgpu::BufferUsages::STORAGE | softdice::wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
}
