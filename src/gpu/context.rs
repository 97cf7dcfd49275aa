//! The context: a device, its queue and the pipelines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;
use crate::config::DiceConfig;
use crate::error::DiceError;
use crate::shaders::Fold;
use crate::shape::{PredFormat, Shape, TargetKind, Targets};

/// A device, its queue and the compiled pipelines. Build it once and share it: it is
/// `Send + Sync`, and calls from several threads may run at once.
pub struct DiceContext {
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    pub(super) adapter_info: wgpu::AdapterInfo,
    pub(super) grid: Grid,
    pub(super) pipelines: Pipelines,
    pub(super) lost: Arc<AtomicBool>,
    /// The host-slice API's plans and buffers, reused across calls.
    pub(super) host: HostCache,
}

/// A buffer holding `bytes` (padded to a whole word), filled through the queue: unlike
/// `create_buffer_init` it does not map, so a lost device yields an error, not a panic.
pub(super) fn buffer_with(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    label: &str,
    bytes: &[u8],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    let size = (bytes.len() as u64).div_ceil(4).max(1) * 4;
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: usage | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    write_padded(queue, &buffer, bytes);
    buffer
}

/// Writes `bytes` from the start of `buffer` through the queue, the last word zero-padded
/// (the queue writes whole words).
pub(super) fn write_padded(queue: &wgpu::Queue, buffer: &wgpu::Buffer, bytes: &[u8]) {
    let whole = bytes.len() / 4 * 4;
    if whole > 0 {
        queue.write_buffer(buffer, 0, &bytes[..whole]);
    }
    if whole < bytes.len() {
        let mut tail = [0u8; 4];
        tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
        queue.write_buffer(buffer, whole as u64, &tail);
    }
}

pub(super) fn to_f32(bytes: &[u8]) -> Vec<f32> {
    bytemuck::pod_collect_to_vec(bytes)
}

impl std::fmt::Debug for DiceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiceContext")
            .field("adapter", &describe_adapter(&self.adapter_info))
            .field("fold", &self.pipelines.fold)
            .field("lost", &self.lost.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl DiceContext {
    /// Picks an adapter as [`ContextOptions::default`] does (a real GPU first, Vulkan, Metal
    /// or DX12 before GL; `WGPU_BACKEND`, `WGPU_POWER_PREF` and `WGPU_ADAPTER_NAME` honoured),
    /// asks for its full limits, and builds the pipelines. Fails with
    /// [`DiceError::NoAdapter`] where there is none.
    pub fn new() -> Result<Self, DiceError> {
        Self::with_options(&ContextOptions::default())
    }

    /// [`DiceContext::new`] without blocking.
    pub async fn new_async() -> Result<Self, DiceError> {
        Self::with_options_async(&ContextOptions::default()).await
    }

    /// A context on the adapter and with the limits `options` choose, e.g. WebGPU's
    /// defaults on any machine:
    ///
    /// ```
    /// use softdice::{ContextOptions, DeviceLimits, DiceContext};
    /// # fn main() -> Result<(), softdice::DiceError> {
    /// let options = ContextOptions { limits: DeviceLimits::WebGpu, ..Default::default() };
    /// let ctx = DiceContext::with_options(&options)?;
    /// assert_eq!(ctx.device().limits().max_storage_buffers_per_shader_stage, 8);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_options(options: &ContextOptions) -> Result<Self, DiceError> {
        pollster::block_on(Self::with_options_async(options))
    }

    /// [`DiceContext::with_options`] without blocking.
    pub async fn with_options_async(options: &ContextOptions) -> Result<Self, DiceError> {
        let (_instance, adapter) = options.pick_adapter().await?;
        let limits = options.limits(&adapter);
        check_device_limits(&limits)?;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("softdice"),
                // Subgroups where the adapter has them: dice_partials folds with subgroupAdd.
                required_features: adapter.features() & wgpu::Features::SUBGROUP,
                required_limits: limits,
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| DiceError::RequestDevice(e.to_string()))?;
        // Our own device: errors are caught by error scopes, never by wgpu's panicking default.
        device.on_uncaptured_error(Arc::new(|e: wgpu::Error| {
            eprintln!("softdice: uncaptured wgpu error: {e}");
        }));
        Self::from_device(device, queue)
    }

    /// Wraps a device and queue the caller already has (their limits and features are read
    /// from the device; nothing about them is changed). Fails with
    /// [`DiceError::DeviceUnsupported`], naming the first limit, where the device is below
    /// what the kernels need on any input (README, "Devices and limits").
    ///
    /// It sets the device's lost callback, so that calls after a loss fail with
    /// [`DiceError::Gpu`]; wgpu keeps one callback per device, so this replaces one set
    /// before. If you set your own afterwards, call [`DiceContext::mark_lost`] from it.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Result<Self, DiceError> {
        let ctx = Self::from_shared_device(device, queue)?;
        let flag = ctx.lost.clone();
        ctx.device
            .set_device_lost_callback(move |_, _| flag.store(true, Ordering::SeqCst));
        Ok(ctx)
    }

    /// [`DiceContext::from_device`] for a device another runtime owns (a Burn/CubeCL device):
    /// its device-lost and uncaptured-error callbacks stay the owner's. Call
    /// [`DiceContext::mark_lost`] when the owner learns the device is lost, and record this
    /// context's work inside error scopes where the owner's uncaptured-error handler panics.
    pub fn from_shared_device(device: wgpu::Device, queue: wgpu::Queue) -> Result<Self, DiceError> {
        check_device_limits(&device.limits())?;
        let lost = Arc::new(AtomicBool::new(false));
        let pipelines = Pipelines::new(&device);
        let adapter_info = device.adapter_info();
        let grid = Grid::for_adapter(&adapter_info, pipelines.fold);
        Ok(Self {
            device,
            queue,
            grid,
            adapter_info,
            pipelines,
            lost,
            host: HostCache::default(),
        })
    }

    /// Checks that `buffer` belongs to this context's device, as far as wgpu 30 lets a library
    /// tell: a buffer of another device of the same instance is a validation error, and one
    /// of another instance carries an id that names nothing here (wgpu-core panics on it) or
    /// another buffer. Binding the buffer's last word, by the size the caller's handle gives,
    /// catches the panic and, where the buffer the id names here is smaller (or lacks
    /// `STORAGE`), the aliasing; a foreign buffer whose id names a buffer of this device at
    /// least as large cannot be told apart (README, "Guarantees").
    pub(super) fn check_owned(
        &self,
        what: &'static str,
        buffer: &wgpu::Buffer,
    ) -> Result<(), DiceError> {
        let align = self.device.limits().min_storage_buffer_offset_alignment as u64;
        // (Buffers reach here at least one word long: `Region` checked them.)
        let offset = buffer.size().saturating_sub(4) / align * align;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("softdice buffer check"),
                layout: &self.pipelines.probe,
                entries: &[wgpu::BindGroupEntry {
                    binding: PROBE_SLOT.number(),
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset,
                        size: None,
                    }),
                }],
            })
        }));
        let error = pollster::block_on(scope.pop());
        let detail = match (bound, error) {
            (Ok(_), None) => return Ok(()),
            (Err(_), _) => "wgpu has no buffer of its id on this context's instance".into(),
            (Ok(_), Some(e)) => e.to_string(),
        };
        Err(DiceError::ForeignBuffer { what, detail })
    }

    /// Marks the device as lost: every later call fails with [`DiceError::Gpu`] instead of
    /// touching it. For callers that replace the device-lost callback
    /// [`DiceContext::from_device`] sets.
    pub fn mark_lost(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    /// How the forward pass folds sums across a workgroup: with subgroup operations where the
    /// device was created with `wgpu::Features::SUBGROUP` ([`DiceContext::new`] asks for it
    /// where the adapter has it), in workgroup memory otherwise.
    pub fn fold(&self) -> Fold {
        self.pipelines.fold
    }

    /// The adapter behind the device.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.adapter_info
    }

    /// The device.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    pub(super) fn check_alive(&self) -> Result<(), DiceError> {
        // wgpu reports a loss from its maintenance, which a non-blocking poll runs (and which
        // finds nothing to do on a healthy idle device).
        if !self.lost.load(Ordering::SeqCst) {
            let _ = self.device.poll(wgpu::PollType::Poll);
        }
        if self.lost.load(Ordering::SeqCst) {
            return Err(DiceError::Gpu(
                "the device was lost; build a new DiceContext".into(),
            ));
        }
        Ok(())
    }

    /// Allocates the scratch buffers for one shape, configuration and target format. Reuse the
    /// plan for every call of that shape: nothing is allocated or compiled per call.
    pub fn plan(
        &self,
        shape: &Shape,
        config: &DiceConfig,
        target_kind: TargetKind,
    ) -> Result<DicePlan, DiceError> {
        self.plan_for(shape, config, PredFormat::F32, target_kind)
    }

    /// [`DiceContext::plan`] for predictions in another format (f16).
    pub fn plan_for(
        &self,
        shape: &Shape,
        config: &DiceConfig,
        pred_format: PredFormat,
        target_kind: TargetKind,
    ) -> Result<DicePlan, DiceError> {
        self.check_alive()?;
        DicePlan::new(self, shape, config, pred_format, target_kind)
    }

    /// A storage buffer holding predictions (for the buffer-level API, tests and benches).
    pub fn upload_preds(&self, preds: &[f32]) -> wgpu::Buffer {
        let usage = wgpu::BufferUsages::STORAGE;
        buffer_with(
            &self.device,
            &self.queue,
            "softdice preds",
            bytemuck::cast_slice(preds),
            usage,
        )
    }

    /// A storage buffer holding targets in their own format (u8/u16 labels packed into words,
    /// the last word zero-padded).
    pub fn upload_targets(&self, targets: Targets<'_>) -> wgpu::Buffer {
        let usage = wgpu::BufferUsages::STORAGE;
        let bytes = targets.as_bytes();
        buffer_with(&self.device, &self.queue, "softdice targets", bytes, usage)
    }

    /// A storage buffer (also `COPY_SRC`) for the gradient of `shape`.
    pub fn gradient_buffer(&self, shape: &Shape) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("softdice gradient"),
            size: (shape.len() as u64 * 4).max(4),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }
}
