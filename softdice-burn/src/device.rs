//! The wgpu devices the fused path runs on: one wgpu device and queue shared by Burn (its
//! cubecl runtime) and a softdice context, registered here so that an operation on a tensor
//! finds the context of the tensor's device.
//!
//! Burn offers no way to read the wgpu device back from a device it initialised lazily, so
//! the fused path needs a device made here: by Burn with its handles handed over
//! ([`wgpu_device`]), or by this crate on softdice's adapter and handed to Burn
//! ([`new_wgpu_device`]). Any other device gets the host path ([`is_fused`] says which).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use burn::backend::DispatchDevice;
use burn::tensor::wgpu::{WgpuSetup, wgpu};
use burn::tensor::{Device, DeviceKind};
use burn_cubecl::CubeDevice;
use softdice::{ContextOptions, DiceContext, DiceError, DicePlan, TargetKind};

use crate::error::Error;
use crate::spec::DiceSpec;

/// Plans kept per device: a trainer uses a shape or two; evaluation may add a few.
const PLANS_KEPT: usize = 8;

/// A plan's key: the loss and the input dims.
type PlanKey = (u64, Vec<usize>);

/// A registered device: its softdice context and the plans of the losses run on it.
pub(crate) struct Shared {
    ctx: DiceContext,
    /// Plans by key, most recently used last.
    plans: Mutex<Vec<(PlanKey, DicePlan)>>,
}

static REGISTRY: LazyLock<Mutex<HashMap<CubeDevice, Arc<Shared>>>> =
    LazyLock::new(Default::default);
static BY_KIND: LazyLock<Mutex<HashMap<DeviceKind, Device>>> = LazyLock::new(Default::default);

/// Burn's wgpu device of `kind`, initialised by Burn and registered for the fused path; the
/// same device on later calls. Fails where Burn has already initialised a device of this kind
/// itself (by a tensor created on `Device::wgpu(kind)` before this call): call it first.
pub fn wgpu_device(kind: DeviceKind) -> Result<Device, Error> {
    let mut kinds = BY_KIND.lock().expect("softdice-burn device registry");
    if let Some(device) = kinds.get(&kind) {
        return Ok(device.clone());
    }
    let (device, setup) = Device::wgpu_options()
        .device_kind(kind.clone())
        .init_with_setup()
        .map_err(|e| Error::Device(e.to_string()))?;
    register(&device, setup)?;
    kinds.insert(kind, device.clone());
    Ok(device)
}

/// A new wgpu device on the adapter softdice picks (a real GPU first; `WGPU_BACKEND`,
/// `WGPU_POWER_PREF` and `WGPU_ADAPTER_NAME` honoured), handed to Burn and registered for
/// the fused path. Each call makes another device: two of them stand for two GPUs (as in
/// this crate's test of merged sums).
pub fn new_wgpu_device() -> Result<Device, Error> {
    let (instance, adapter) = pollster::block_on(ContextOptions::default().pick_adapter())?;
    let (device, queue) = pollster::block_on(
        adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("softdice-burn"),
            // CubeCL plans its kernels from the adapter's features: ask for all of them (less the
            // one a discrete GPU's shared memory would misuse, as Burn does).
            required_features: adapter
                .features()
                .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
            required_limits: adapter.limits(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::MemoryUsage,
            trace: wgpu::Trace::Off,
        }),
    )
    .map_err(|e| DiceError::RequestDevice(e.to_string()))?;
    let backend = adapter.get_info().backend;
    let setup = WgpuSetup {
        instance,
        adapter,
        device,
        queue,
        backend,
    };
    let burn_device = Device::wgpu_options()
        .setup(setup.clone())
        .init()
        .map_err(|e| Error::Device(e.to_string()))?;
    register(&burn_device, setup)?;
    Ok(burn_device)
}

/// Whether the loss runs softdice's kernels on `device` (else: the host path).
pub fn is_fused(device: &Device) -> bool {
    cube_device(device).is_some_and(|d| shared(&d).is_some())
}

fn register(device: &Device, setup: WgpuSetup) -> Result<(), Error> {
    let cube = cube_device(device)
        .ok_or_else(|| Error::Device("Burn returned a device of another backend".into()))?;
    // Burn owns the device's callbacks (its uncaptured-error handler panics): every softdice
    // call runs inside error scopes (`Shared::run`).
    let ctx = DiceContext::from_shared_device(setup.device, setup.queue)?;
    let shared = Arc::new(Shared {
        ctx,
        plans: Mutex::new(Vec::new()),
    });
    REGISTRY
        .lock()
        .expect("softdice-burn device registry")
        .insert(cube, shared);
    Ok(())
}

/// The cubecl device behind a Burn device (through autodiff), if it is one.
pub(crate) fn cube_device(device: &Device) -> Option<CubeDevice> {
    match device.as_dispatch().clone().inner() {
        DispatchDevice::Cube(device) => Some(device),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The registered device `device` is, if any.
pub(crate) fn shared(device: &CubeDevice) -> Option<Arc<Shared>> {
    REGISTRY
        .lock()
        .expect("softdice-burn device registry")
        .get(device)
        .cloned()
}

impl Shared {
    /// Records work of the plan for `spec` into a new encoder and submits it, all inside
    /// error scopes: a wgpu error comes back as an error, never reaches the device's
    /// (panicking) handler.
    pub(crate) fn run<T>(
        &self,
        spec: &DiceSpec,
        record: impl FnOnce(
            &DiceContext,
            &mut DicePlan,
            &mut wgpu::CommandEncoder,
        ) -> Result<T, DiceError>,
    ) -> Result<T, DiceError> {
        let mut plans = self.plans.lock().expect("softdice-burn plan cache");
        let key = (spec.loss_id, spec.shape.dims().to_vec());
        let at = match plans.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                let plan = self
                    .ctx
                    .plan(&spec.shape, &spec.config, TargetKind::LabelsU32)?;
                if plans.len() == PLANS_KEPT {
                    plans.remove(0);
                }
                plans.push((key, plan));
                plans.len() - 1
            }
        };
        let entry = plans.remove(at);
        plans.push(entry);
        let plan = &mut plans.last_mut().expect("just pushed").1;
        let device = self.ctx.device();
        let memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("softdice-burn"),
        });
        let result = record(&self.ctx, plan, &mut encoder);
        if result.is_ok() {
            self.ctx.queue().submit([encoder.finish()]);
        }
        let errors = [
            pollster::block_on(validation.pop()),
            pollster::block_on(memory.pop()),
        ];
        match errors.into_iter().flatten().next() {
            Some(e) => Err(DiceError::Gpu(format!("softdice-burn: {e}"))),
            None => result,
        }
    }
}
