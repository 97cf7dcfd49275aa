//! The wgpu devices the fused path runs on: one wgpu device and queue shared by Burn (its
//! cubecl runtime) and a softdice context, registered here so that an operation on a tensor
//! finds the context of the tensor's device.
//!
//! Burn offers no way to read the wgpu device back from a device it initialised lazily, so
//! the fused path needs a device whose initialisation went through here: Burn's own device
//! taken over before its first tensor ([`init_device`], which `DiceLossConfig::init` calls),
//! by kind ([`wgpu_device`]), or made on softdice's adapter and handed to Burn
//! ([`new_wgpu_device`]). Any other wgpu device takes the composed path, with one warning
//! ([`is_fused`] says which).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use burn::backend::DispatchDevice;
use burn::tensor::wgpu::{WgpuSetup, wgpu};
use burn::tensor::{Device, DeviceKind};
use burn_cubecl::CubeDevice;
use cubecl_runtime::device::WgpuDeviceKind;
use softdice::{ContextOptions, DiceContext, DiceError, DicePlan, TargetKind};

use crate::error::Error;
use crate::loss::LossPath;
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
/// The wgpu devices already warned of taking the composed path (once each).
static WARNED: LazyLock<Mutex<HashSet<CubeDevice>>> = LazyLock::new(Default::default);
/// Held while a device is checked and initialised: two threads initialising one device would
/// see the second fail ("already initialised") on a device the first just registered.
static INIT: Mutex<()> = Mutex::new(());

/// Makes `device` ready for the loss and says which path it takes. A wgpu device of Burn's
/// (`Device::default()`, `Device::wgpu(..)`, with or without autodiff) that Burn has not
/// initialised yet is initialised here, Burn's way for its kind and graphics API, with its
/// wgpu device shared with softdice: the fused path. Call it (or `DiceLossConfig::init`)
/// before the first tensor on the device. A wgpu device Burn initialised first cannot be
/// shared afterwards: [`LossPath::Composed`], with one `log` warning saying so. Other
/// devices take the path [`crate::loss_path`] gives them.
pub fn init_device(device: &Device) -> Result<LossPath, Error> {
    if let Err(e) = take_over(device) {
        warn_composed_once(device, Some(&e));
    }
    Ok(crate::loss::loss_path(device))
}

/// Burn's wgpu device of `kind` (`Device::wgpu(kind)`), initialised here and registered for
/// the fused path; the same device on later calls. Fails where Burn has already initialised
/// it itself (by a tensor created on `Device::wgpu(kind)` before this call): call it first.
pub fn wgpu_device(kind: DeviceKind) -> Result<Device, Error> {
    let device = Device::wgpu(kind);
    take_over(&device)?;
    Ok(device)
}

/// Initialises `device`, a Burn wgpu device not registered yet, Burn's way for its kind and
/// graphics API, and registers it. Nothing to do for a registered device or one of another
/// backend; an error where Burn's runtime for it exists already or Burn cannot select it.
fn take_over(device: &Device) -> Result<(), Error> {
    let Some(CubeDevice::Wgpu(wgpu)) = cube_device(device) else {
        return Ok(());
    };
    let _init = INIT.lock().expect("softdice-burn device init");
    if is_fused(device) {
        return Ok(());
    }
    let kind = burn_kind(&wgpu.kind).ok_or_else(|| {
        Error::DeviceInit(format!(
            "Burn cannot initialise a wgpu device of kind {:?} by itself",
            wgpu.kind
        ))
    })?;
    let (burn_device, setup) = Device::wgpu_options()
        .device_kind(kind)
        .graphics_api(wgpu.backend)
        .init_with_setup()
        .map_err(|e| Error::DeviceInit(e.to_string()))?;
    register(&burn_device, setup)
}

/// Burn's name of a wgpu device kind it can initialise (not an existing setup, not an
/// unclassified adapter: Burn has no selector for those).
fn burn_kind(kind: &WgpuDeviceKind) -> Option<DeviceKind> {
    match *kind {
        WgpuDeviceKind::DiscreteGpu(i) => Some(DeviceKind::DiscreteGpu(i)),
        WgpuDeviceKind::IntegratedGpu(i) => Some(DeviceKind::IntegratedGpu(i)),
        WgpuDeviceKind::VirtualGpu(i) => Some(DeviceKind::VirtualGpu(i)),
        WgpuDeviceKind::Cpu => Some(DeviceKind::Cpu),
        WgpuDeviceKind::DefaultDevice => Some(DeviceKind::DefaultDevice),
        WgpuDeviceKind::Existing(_) | WgpuDeviceKind::Other(_) => None,
    }
}

/// Why a wgpu device not registered here takes the composed path, when no take-over was
/// tried on it.
const NOT_TAKEN_OVER: &str = "Burn initialised its wgpu device before softdice-burn saw it";

/// Says, once per device, that a wgpu device takes the composed path instead of the fused
/// kernels, and why (`None`: it was never offered to [`init_device`]). Other backends'
/// devices have no kernels to miss: nothing to say.
pub(crate) fn warn_composed_once(device: &Device, why: Option<&dyn std::fmt::Display>) {
    let Some(cube @ CubeDevice::Wgpu(_)) = cube_device(device) else {
        return;
    };
    if WARNED.lock().expect("softdice-burn warnings").insert(cube) {
        let why = why.map_or_else(|| NOT_TAKEN_OVER.to_string(), |w| w.to_string());
        log::warn!(
            "softdice-burn: {device:?} takes the composed path (the loss as Burn tensor \
             operations, not softdice's fused kernels): {why}. Call softdice_burn::init_device \
             (or DiceLossConfig::init) on it before its first tensor for the fused kernels."
        );
    }
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
        .map_err(|e| Error::DeviceInit(e.to_string()))?;
    register(&burn_device, setup)?;
    Ok(burn_device)
}

/// Whether the loss runs softdice's kernels on `device` (else: the composed path).
pub fn is_fused(device: &Device) -> bool {
    cube_device(device).is_some_and(|d| shared(&d).is_some())
}

fn register(device: &Device, setup: WgpuSetup) -> Result<(), Error> {
    let cube = cube_device(device)
        .ok_or_else(|| Error::DeviceInit("Burn returned a device of another backend".into()))?;
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
