//! The GPU path: a context holding the device and the pipelines, plans holding the per-shape
//! scratch buffers, and the two API layers (host slices, and recording into the caller's
//! encoder over the caller's buffers).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::adapter::{check_device_limits, ContextOptions};
use crate::config::{Activation, DiceConfig, Scope};
use crate::error::DiceError;
use crate::output::{ClassSums, DiceOutput, Finalized};
use crate::params::{class_info, FinalizeParams, Params, CLASS_CHUNK};
use crate::recording::{Recorded, Slots};
use crate::shaders::{page_binding, Binding, Fold, Kernel, Pages, FIRST_BINDING, MAX_PAGES};
use crate::shape::{PredFormat, Shape, TargetKind, Targets};

/// Workgroup size of the partials, reduce and gradient kernels (the `WG` override).
pub(crate) const WG: u32 = 128;

/// Workgroup memory of the kernel that uses the most: fold_workgroup.wgsl's `red`, 24 floats
/// per thread (8 classes x A, P, Y).
pub(crate) const WORKGROUP_BYTES: u64 = 24 * WG as u64 * 4;

/// How many workgroups the input kernels launch, from the kind of adapter. Each kernel aims
/// at a total number of workgroups and gives every thread at least a minimum of pixels;
/// larger inputs give each thread a longer run (`run_index` in shaders/inputs.wgsl).
#[derive(Clone, Copy, Debug)]
struct Grid {
    /// dice_partials workgroups to aim for over the whole input.
    partial_groups: u32,
    /// Pixels each dice_partials thread takes at least.
    partial_pixels_per_thread: u32,
    /// dice_gradient workgroups to aim for over the whole input.
    gradient_groups: u32,
    /// Pixels each dice_gradient thread takes at least, on the scalar and on the VEC4 path.
    gradient_pixels_per_thread: [u32; 2],
}

impl Grid {
    // Measured on lavapipe, 2 cores, 4x8x512^2 logits, forward+backward (ms), with the VEC4
    // loops laid out per SIMD group (`LANES`):
    // - subgroup fold, one partial per subgroup, no barrier: 2, 4, 8, 16 partials workgroups
    //   in all 20.5, 20.0, 20.6, 21.2 (within noise); 4 pixels per thread (2048 workgroups)
    //   46 ms for the forward alone: lavapipe's cost per thread start is high.
    // - VEC4 gradient: 8 quads per thread 20.1, 128: 17.5, 512: 17.4.
    // - the workgroup fold: 32 to 512 workgroups within noise, 2048 twice as slow (each
    //   workgroup's barriers switch every SIMD group).
    // - scalar paths (4x8x511^2, 1x32x64^2x32) laid out the same way: 60 -> 31 and 60 -> 50 ms
    //   against grid-stride loops of 4 pixels per thread.
    fn for_adapter(info: &wgpu::AdapterInfo, fold: Fold) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        match (info.device_type, fold) {
            // A CPU rasteriser runs one workgroup per core at a time: a few per core (more
            // with the workgroup fold, whose per-workgroup barriers were measured with 32).
            (wgpu::DeviceType::Cpu, fold) => Self {
                partial_groups: cores * if fold == Fold::Subgroup { 4 } else { 16 },
                partial_pixels_per_thread: 64,
                gradient_groups: 4 * cores,
                gradient_pixels_per_thread: [64, 64],
            },
            // A GPU: enough workgroups to fill it many times over, a few pixels per thread.
            _ => Self {
                partial_groups: 8192,
                partial_pixels_per_thread: 8,
                gradient_groups: u32::MAX,
                gradient_pixels_per_thread: [1, 4],
            },
        }
    }

    /// Workgroups per (sample, class chunk) when `units` of them share the `target`, each
    /// thread taking at least `pixels` of the `n_s`, and at most `max_dim`.
    fn per_unit(target: u32, units: u32, n_s: u32, pixels: u32, max_dim: u32) -> u32 {
        (target / units.max(1))
            .min(n_s.div_ceil(WG * pixels))
            .clamp(1, max_dim)
    }
}

/// Status words (bad labels, non-finite, spare, spare), kept in sync with `STATUS_*`.
const STATUS_WORDS: u64 = 4;

/// A device, its queue and the compiled pipelines. Build it once and share it: it is
/// `Send + Sync`, and calls from several threads may run at once.
pub struct DiceContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter_info: wgpu::AdapterInfo,
    grid: Grid,
    pipelines: Pipelines,
    lost: Arc<AtomicBool>,
}

/// Bind group layouts, the shader modules and the pipelines that need no specialisation;
/// `dice_partials` and `dice_gradient` come in two bindings (flat, paged) and are specialised
/// per [`Spec`], compiled on first use and cached.
struct Pipelines {
    /// How dice_partials folds, from the device's features.
    fold: Fold,
    /// dice_partials partials per workgroup (the `SLOTS` override): one per subgroup of the
    /// smallest size with the subgroup fold, one with the workgroup fold.
    slots: u32,
    /// The VEC4 loops' `LANES` override: threads that take one contiguous run of quads
    /// together. A CPU rasteriser's SIMD width (its subgroup size) there, so each SIMD group
    /// streams through memory in order (lavapipe, 4x8x512^2 forward+backward: 34 ms with
    /// LANES = WG, 23 ms with 8); WG elsewhere.
    lanes: u32,
    dice_reduce: (wgpu::ComputePipeline, wgpu::BindGroupLayout),
    dice_finalize: (wgpu::ComputePipeline, wgpu::BindGroupLayout),
    /// dice_finalize's `total` entry point (same bind group).
    dice_total: wgpu::ComputePipeline,
    flat: Arc<InputStages>,
    /// Per page counts, built on first use (only tensors past one binding need them).
    paged: Mutex<HashMap<Pages, Arc<InputStages>>>,
    specialised: Mutex<HashMap<(Spec, Binding), Arc<Specialised>>>,
    /// One read-only storage binding: [`DiceContext::check_owned`]'s.
    probe: wgpu::BindGroupLayout,
}

/// The input kernels' layouts and modules for one [`Binding`].
struct InputStages {
    dice_normaliser: Stage,
    dice_partials: Stage,
    dice_gradient: Stage,
}

impl InputStages {
    fn new(device: &wgpu::Device, binding: Binding) -> Self {
        let stage = |kernel| Stage::new(device, kernel, binding, &input_bindings(kernel, binding));
        Self {
            dice_normaliser: stage(Kernel::DiceNormaliser),
            dice_partials: stage(Kernel::DicePartials),
            dice_gradient: stage(Kernel::DiceGradient),
        }
    }
}

/// What one binding of a kernel holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Uniform,
    Read,
    Write,
}

/// The bindings of an input kernel (`DiceNormaliser`, `DicePartials`, `DiceGradient`) under a
/// [`Binding`], as (number, slot): the one table from which its layout is built and its
/// storage bindings counted. The WGSL declares the same numbers (the kernel files, and
/// `bindings_flat.wgsl` or the generated pages of [`Binding::Paged`]).
fn input_bindings(kernel: Kernel, binding: Binding) -> Vec<(u32, Slot)> {
    use Slot::{Read, Uniform, Write};
    // The kernel's own buffers: params; partials, status and coefficients (with the softmax
    // normalisers) at the numbers its file declares.
    let mut table = match kernel {
        Kernel::DiceNormaliser => vec![(0, Uniform), (18, Write)],
        Kernel::DicePartials => vec![(0, Uniform), (3, Write), (4, Write), (18, Read)],
        _ => vec![(0, Uniform), (3, Read), (4, Read)],
    };
    let (pages, views) = match binding {
        Binding::Flat => (
            Pages {
                preds: 1,
                targets: 1,
                grad: 1,
            },
            true,
        ),
        Binding::Paged(pages) => (pages, false),
    };
    let first = FIRST_BINDING;
    let mut tensors = vec![(first.preds, pages.preds, Read)];
    if kernel != Kernel::DiceNormaliser {
        tensors.push((first.targets, pages.targets, Read));
    }
    if kernel == Kernel::DiceGradient {
        tensors.push((first.grad, pages.grad, Write));
    }
    for (first, n, slot) in tensors {
        table.extend((0..n).map(|k| (page_binding(first, k), slot)));
    }
    // The flat VEC4 path's vec4 views of predictions, u32 labels and gradient.
    if views {
        match kernel {
            Kernel::DicePartials => table.extend([(6, Read), (7, Read)]),
            Kernel::DiceGradient => table.extend([(6, Read), (7, Read), (17, Write)]),
            _ => {}
        }
    }
    table
}

/// Storage bindings of the input kernel that uses the most under `binding`.
pub(crate) fn storage_bindings(binding: Binding) -> u32 {
    [Kernel::DicePartials, Kernel::DiceGradient]
        .iter()
        .map(|&k| {
            input_bindings(k, binding)
                .iter()
                .filter(|(_, slot)| *slot != Slot::Uniform)
                .count() as u32
        })
        .max()
        .unwrap_or(0)
}

/// One past the largest binding number of the input kernels under `binding`
/// (`max_bindings_per_bind_group` must reach it).
pub(crate) fn binding_numbers(binding: Binding) -> u32 {
    Kernel::ALL
        .iter()
        .filter(|k| k.reads_inputs())
        .flat_map(|&k| input_bindings(k, binding))
        .map(|(number, _)| number + 1)
        .max()
        .unwrap_or(0)
}

/// One kernel's layout and module, from which pipelines are specialised.
struct Stage {
    kernel: Kernel,
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    module: wgpu::ShaderModule,
}

/// What the input kernels are specialised on (their WGSL `override` constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Spec {
    activation: u32,
    target_kind: u32,
    squared: bool,
    soft_l1: bool,
    n_classes: u32,
    /// Quads of pixels per thread with vec4 loads (aligned inputs, C <= 8, integer labels).
    vec4: bool,
    /// Predictions stored as f16 pairs.
    pred_f16: bool,
}

impl Spec {
    /// Whether dice_normaliser stores each pixel's softmax normaliser first: softmax over
    /// more classes than one chunk (the shaders test the same constants).
    fn norms(&self) -> bool {
        self.activation == ACT_SOFTMAX && self.n_classes > CLASS_CHUNK
    }
}

// Activation codes, kept in sync with ACT_* in shaders/common.wgsl.
const ACT_NONE: u32 = 0;
const ACT_SOFTMAX: u32 = 1;
const ACT_SIGMOID: u32 = 2;

/// The two specialised pipelines of one [`Spec`].
struct Specialised {
    /// Where the spec stores normalisers.
    dice_normaliser: Option<wgpu::ComputePipeline>,
    dice_partials: wgpu::ComputePipeline,
    dice_gradient: wgpu::ComputePipeline,
}

/// The bind groups of the input kernels over one set of the caller's buffers.
struct InputBinds {
    /// dice_normaliser's, where the plan stores normalisers.
    normaliser: Option<wgpu::BindGroup>,
    partials: wgpu::BindGroup,
    /// dice_gradient's, where a gradient is asked for.
    gradient: Option<wgpu::BindGroup>,
}

/// A region of a caller's buffer: the buffer and a byte offset into it.
#[derive(Clone, Copy, Debug)]
pub struct BufferRegion<'a> {
    /// The buffer (needs `STORAGE` usage).
    pub buffer: &'a wgpu::Buffer,
    /// Byte offset of the first element.
    pub offset: u64,
}

impl<'a> BufferRegion<'a> {
    /// The whole buffer from its start.
    pub fn whole(buffer: &'a wgpu::Buffer) -> Self {
        Self { buffer, offset: 0 }
    }
}

/// The inputs of [`DicePlan::record`], all in the caller's buffers, which must belong to the
/// plan's device (checked as far as wgpu allows: [`DiceError::ForeignBuffer`]).
#[derive(Clone, Copy, Debug)]
pub struct GpuInputs<'a> {
    /// Predictions (probabilities or logits) `[B, C, spatial...]`, in the plan's
    /// [`PredFormat`] (f32 unless made with [`DiceContext::plan_for`]).
    pub preds: BufferRegion<'a>,
    /// Targets in the plan's [`TargetKind`].
    pub targets: BufferRegion<'a>,
    /// Where d loss / d input is written (f32, the predictions' shape), or `None` for the
    /// forward pass only.
    pub gradient: Option<BufferRegion<'a>>,
}

fn layout_entry((binding, slot): (u32, Slot)) -> wgpu::BindGroupLayoutEntry {
    let ty = match slot {
        Slot::Uniform => wgpu::BufferBindingType::Uniform,
        Slot::Read => wgpu::BufferBindingType::Storage { read_only: true },
        Slot::Write => wgpu::BufferBindingType::Storage { read_only: false },
    };
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

impl Stage {
    /// Layout and module of a kernel with the given bindings.
    fn new(
        device: &wgpu::Device,
        kernel: Kernel,
        binding: Binding,
        bindings: &[(u32, Slot)],
    ) -> Self {
        let entries: Vec<_> = bindings.iter().copied().map(layout_entry).collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(kernel.name()),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(kernel.name()),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(kernel.name()),
            source: wgpu::ShaderSource::Wgsl(
                kernel
                    .source(binding, Fold::for_features(device.features()))
                    .into(),
            ),
        });
        Self {
            kernel,
            layout,
            pipeline_layout,
            module,
        }
    }

    fn pipeline(&self, device: &wgpu::Device, constants: &[(&str, f64)]) -> wgpu::ComputePipeline {
        self.entry_point(device, "main", constants)
    }

    fn entry_point(
        &self,
        device: &wgpu::Device,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> wgpu::ComputePipeline {
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(self.kernel.name()),
            layout: Some(&self.pipeline_layout),
            module: &self.module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                // Every kernel writes its workgroup memory before reading it.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        })
    }
}

impl Pipelines {
    fn new(device: &wgpu::Device) -> Self {
        let fold = Fold::for_features(device.features());
        let info = device.adapter_info();
        let slots = match fold {
            Fold::Workgroup => 1,
            Fold::Subgroup => WG / info.subgroup_min_size.clamp(4, WG),
        };
        let lanes = match info.device_type {
            wgpu::DeviceType::Cpu if info.subgroup_min_size > 0 => {
                info.subgroup_min_size.next_power_of_two().min(WG)
            }
            wgpu::DeviceType::Cpu => 8,
            _ => WG,
        };
        let flat = Binding::Flat;
        use Slot::{Read, Uniform, Write};
        let reduce = Stage::new(
            device,
            Kernel::DiceReduce,
            flat,
            &[(0, Uniform), (1, Read), (2, Write)],
        );
        let finalize = Stage::new(
            device,
            Kernel::DiceFinalize,
            flat,
            &[
                (0, Uniform),
                (1, Uniform),
                (2, Read),
                (3, Read),
                (4, Write),
                (5, Write),
                (6, Read),
            ],
        );
        Self {
            fold,
            slots,
            lanes,
            dice_reduce: (reduce.pipeline(device, &[("WG", WG as f64)]), reduce.layout),
            dice_total: finalize.entry_point(device, "total", &[("WG", WG as f64)]),
            dice_finalize: (
                finalize.pipeline(device, &[("WG", WG as f64)]),
                finalize.layout,
            ),
            flat: Arc::new(InputStages::new(device, flat)),
            paged: Mutex::new(HashMap::new()),
            probe: device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("softdice buffer check"),
                entries: &[layout_entry((0, Slot::Read))],
            }),
            specialised: Mutex::new(HashMap::new()),
        }
    }

    /// The input kernels' layouts for a binding (the paged ones built on first use).
    fn stages(&self, device: &wgpu::Device, binding: Binding) -> Arc<InputStages> {
        match binding {
            Binding::Flat => self.flat.clone(),
            Binding::Paged(pages) => self
                .paged
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(pages)
                .or_insert_with(|| Arc::new(InputStages::new(device, binding)))
                .clone(),
        }
    }

    /// The pipelines for one specialisation, compiled on first use and then shared.
    fn specialised(&self, device: &wgpu::Device, binding: Binding, spec: Spec) -> Arc<Specialised> {
        let stages = self.stages(device, binding);
        let mut cache = self.specialised.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry((spec, binding))
            .or_insert_with(|| {
                let constants = [
                    ("WG", WG as f64),
                    ("ACTIVATION", spec.activation as f64),
                    ("TARGET_KIND", spec.target_kind as f64),
                    ("SQUARED", spec.squared as u32 as f64),
                    ("SOFT_L1", spec.soft_l1 as u32 as f64),
                    ("N_CLASSES", spec.n_classes as f64),
                    ("VEC4", spec.vec4 as u32 as f64),
                    ("PRED_F16", spec.pred_f16 as u32 as f64),
                    ("LANES", self.lanes as f64),
                ];
                let mut partials_constants = constants.to_vec();
                partials_constants.push(("SLOTS", self.slots as f64));
                Arc::new(Specialised {
                    dice_normaliser: spec
                        .norms()
                        .then(|| stages.dice_normaliser.pipeline(device, &constants)),
                    dice_partials: stages.dice_partials.pipeline(device, &partials_constants),
                    dice_gradient: stages.dice_gradient.pipeline(device, &constants),
                })
            })
            .clone()
    }
}

fn map_read(device: &wgpu::Device, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>, DiceError> {
    let slice = buffer.slice(..size);
    let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        sender.send(r).ok();
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| DiceError::Gpu(format!("poll: {e}")))?;
    match pollster::block_on(receiver.receive()) {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(DiceError::Gpu(format!("map: {e}"))),
        None => return Err(DiceError::Gpu("map callback dropped".into())),
    }
    let bytes = slice
        .get_mapped_range()
        .map_err(|e| DiceError::Gpu(format!("mapped range: {e}")))?
        .to_vec();
    buffer.unmap();
    Ok(bytes)
}

/// A buffer holding `bytes` (padded to a whole word), filled through the queue: unlike
/// `create_buffer_init` it does not map, so a lost device yields an error, not a panic.
fn buffer_with(
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
    let whole = bytes.len() / 4 * 4;
    if whole > 0 {
        queue.write_buffer(&buffer, 0, &bytes[..whole]);
    }
    if whole < bytes.len() {
        let mut tail = [0u8; 4];
        tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
        queue.write_buffer(&buffer, whole as u64, &tail);
    }
    buffer
}

fn to_f32(bytes: &[u8]) -> Vec<f32> {
    bytemuck::pod_collect_to_vec(bytes)
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
        check_device_limits(&device.limits())?;
        let lost = Arc::new(AtomicBool::new(false));
        let flag = lost.clone();
        device.set_device_lost_callback(move |_, _| flag.store(true, Ordering::SeqCst));
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
        })
    }

    /// Checks that `buffer` belongs to this context's device, as far as wgpu 30 lets a library
    /// tell: a buffer of another device of the same instance is a validation error, and one
    /// of another instance carries an id that names nothing here (wgpu-core panics on it) or
    /// another buffer. Binding the buffer's last word, by the size the caller's handle gives,
    /// catches the panic and, where the buffer the id names here is smaller (or lacks
    /// `STORAGE`), the aliasing; a foreign buffer whose id names a buffer of this device at
    /// least as large cannot be told apart (README, "Guarantees").
    fn check_owned(&self, what: &'static str, buffer: &wgpu::Buffer) -> Result<(), DiceError> {
        let align = self.device.limits().min_storage_buffer_offset_alignment as u64;
        let offset = (buffer.size() - 4) / align * align;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("softdice buffer check"),
                layout: &self.pipelines.probe,
                entries: &[wgpu::BindGroupEntry {
                    binding: 0,
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

    fn check_alive(&self) -> Result<(), DiceError> {
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

    /// The convenience layer: uploads host slices, runs the loss (and gradient) on the GPU,
    /// and reads everything back. Input is validated on the host first.
    pub fn compute(
        &self,
        shape: &Shape,
        config: &DiceConfig,
        preds: &[f32],
        targets: Targets<'_>,
        with_gradient: bool,
    ) -> Result<DiceOutput<f32>, DiceError> {
        crate::cpu::validate_inputs(shape, config, preds, targets)?;
        self.check_alive()?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let result = self.compute_inner(shape, config, preds, targets, with_gradient);
        let oom = pollster::block_on(oom.pop());
        let validation = pollster::block_on(scope.pop());
        if let Some(e) = oom.or(validation) {
            return Err(DiceError::Gpu(e.to_string()));
        }
        self.check_alive()?;
        result
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
        let bytes: &[u8] = match targets {
            Targets::Labels(v) => bytemuck::cast_slice(v),
            Targets::LabelsU8(v) => v,
            Targets::LabelsU16(v) => bytemuck::cast_slice(v),
            Targets::Dense(v) => bytemuck::cast_slice(v),
        };
        let usage = wgpu::BufferUsages::STORAGE;
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

    fn compute_inner(
        &self,
        shape: &Shape,
        config: &DiceConfig,
        preds: &[f32],
        targets: Targets<'_>,
        with_gradient: bool,
    ) -> Result<DiceOutput<f32>, DiceError> {
        let mut plan = self.plan(shape, config, targets.kind())?;
        let pred_buf = self.upload_preds(preds);
        let target_buf = self.upload_targets(targets);
        let grad_bytes = (shape.len() * 4) as u64;
        let grad = with_gradient.then(|| {
            let buf = self.gradient_buffer(shape);
            let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("softdice gradient readback"),
                size: grad_bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            (buf, staging)
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        let recorded = plan.record(
            self,
            &mut encoder,
            &GpuInputs {
                preds: BufferRegion::whole(&pred_buf),
                targets: BufferRegion::whole(&target_buf),
                gradient: grad.as_ref().map(|(b, _)| BufferRegion::whole(b)),
            },
        )?;
        if let Some((buf, staging)) = &grad {
            encoder.copy_buffer_to_buffer(buf, 0, staging, 0, grad_bytes);
        }
        self.queue.submit([encoder.finish()]);
        let mut out = plan.read_results(self, recorded)?;
        if let Some((_, staging)) = &grad {
            out.gradient = Some(to_f32(&map_read(&self.device, staging, grad_bytes)?));
        }
        Ok(out)
    }
}

/// Scratch buffers and fixed bind groups for one shape, configuration and target format; see
/// [`DiceContext::plan`]. The results of the last recorded call stay in its buffers:
/// [`DicePlan::output_buffer`] (loss, dice, loss elements), [`DicePlan::sums_buffer`] (the
/// mergeable class sums) and [`DicePlan::status_buffer`] (error counters).
///
/// Up to [`RECORDING_SLOTS`](crate::RECORDING_SLOTS) recordings of one plan may share a submission: each runs with
/// its own parameters and copies its results to a readback slot of its own, which
/// [`DicePlan::read_results`] reads through the [`Recorded`] handle the recording returned.
pub struct DicePlan {
    shape: Shape,
    config: DiceConfig,
    pred_format: PredFormat,
    target_kind: TargetKind,
    params: Params,
    n_rows: u32,
    n_chunks: u32,
    groups: u32,
    /// dice_gradient workgroups per sample on the scalar and on the VEC4 path (which takes
    /// four pixels per thread and step).
    gradient_groups: [u32; 2],
    params_buf: wgpu::Buffer,
    partials: wgpu::Buffer,
    status: wgpu::Buffer,
    sums: wgpu::Buffer,
    out: wgpu::Buffer,
    /// Each recording's parameters and results.
    slots: Slots,
    reduce_bind: wgpu::BindGroup,
    finalize_bind: wgpu::BindGroup,
    coefs: wgpu::Buffer,
    limits: wgpu::Limits,
    /// The input kernels specialised for this plan's config, shape and target format.
    specialised: Arc<Specialised>,
    /// The same with VEC4, where the shape and format allow it (used when the offsets do).
    specialised_vec4: Option<Arc<Specialised>>,
    /// Workgroups per dispatch dimension; larger counts are grid-stride loops in the kernels.
    max_dim: u32,
    /// dice_finalize workgroups: one thread per cell (per row for Generalized Dice).
    finalize_groups: u32,
    /// One binding per tensor, or pages of `page_bytes`.
    binding_kind: Binding,
    page_bytes: u64,
    /// Bound where a paged tensor has fewer pages than the layout: one for read-only pages,
    /// one for writable ones (wgpu forbids one buffer in both roles in a dispatch).
    placeholder: wgpu::Buffer,
    placeholder_rw: wgpu::Buffer,
    /// Bind groups over the caller's buffers, kept while the same regions come back.
    input_binds: Option<(InputKey, bool, InputBinds)>,
}

/// A tensor's binding over a caller's buffer: (buffer, aligned start, size in bytes); bound
/// paged, page k starts `k * page_bytes` after the start.
type BindingKey = (wgpu::Buffer, u64, u64);
/// The bindings of predictions, targets and the optional gradient of one call.
type InputKey = (BindingKey, BindingKey, Option<BindingKey>);

impl DicePlan {
    fn new(
        ctx: &DiceContext,
        shape: &Shape,
        config: &DiceConfig,
        pred_format: PredFormat,
        target_kind: TargetKind,
    ) -> Result<Self, DiceError> {
        config.validate(shape.classes())?;
        let limits = ctx.device.limits();
        let too_large = |what, needed: u64, limit: u64, limit_name| {
            if needed > limit {
                Err(DiceError::TooLarge {
                    what,
                    needed,
                    limit,
                    limit_name,
                })
            } else {
                Ok(())
            }
        };
        let max_dim = limits.max_compute_workgroups_per_dimension as u64;
        let (n_b, n_c, n_s) = (shape.batch(), shape.classes(), shape.spatial());
        too_large(
            "class count",
            n_c as u64,
            max_dim * CLASS_CHUNK as u64,
            "max_compute_workgroups_per_dimension x class chunk",
        )?;
        // Element indices are u32 (counted from the start of a tensor's first binding).
        too_large(
            "elements",
            shape.len() as u64 + 1024,
            u32::MAX as u64,
            "u32 element index",
        )?;
        // Pages: the largest power of two a binding may hold. Tensors that fit one binding each
        // are bound flat; otherwise each tensor spans as many pages as it needs, one storage
        // binding a page, as far as the device's storage bindings per stage allow.
        let max_binding = limits.max_storage_buffer_binding_size.min(1 << 32);
        let page_bytes = 1u64 << (63 - max_binding.leading_zeros());
        let bytes = [
            shape.len() as u64 * pred_format.element_size(),
            target_kind.len_for(shape) as u64 * target_kind.element_size(),
            shape.len() as u64 * 4,
        ];
        for (what, bytes) in ["predictions (bytes)", "targets (bytes)", "gradient (bytes)"]
            .into_iter()
            .zip(bytes)
        {
            too_large(what, bytes, limits.max_buffer_size, "max_buffer_size")?;
        }
        // A binding starts at the tensor's offset rounded down to the offset alignment, so it
        // spans up to `slack` bytes more than the tensor, and never more than a buffer.
        let slack = limits.min_storage_buffer_offset_alignment as u64 + 4;
        let span = |bytes: u64| (bytes + slack).min(limits.max_buffer_size);
        let binding_kind = if bytes.iter().all(|&b| span(b) <= max_binding) {
            Binding::Flat
        } else {
            let pages_of = |b: u64| (span(b).div_ceil(page_bytes) as u32).max(1);
            let scaled = |preds_bytes: u64| {
                let of =
                    |b: u64| pages_of((b as u128 * preds_bytes as u128 / bytes[0] as u128) as u64);
                Pages {
                    preds: pages_of(preds_bytes),
                    targets: of(bytes[1]),
                    grad: of(bytes[2]),
                }
            };
            let pages = scaled(bytes[0]);
            let storage_limit = limits.max_storage_buffers_per_shader_stage;
            let fits = |p: Pages| {
                p.preds.max(p.targets).max(p.grad) <= MAX_PAGES
                    && storage_bindings(Binding::Paged(p)) <= storage_limit
                    && binding_numbers(Binding::Paged(p)) <= limits.max_bindings_per_bind_group
            };
            if !fits(pages) {
                // The largest predictions of this shape's proportions that some page count
                // fits, for the message.
                let largest = (1..pages.preds)
                    .rev()
                    .map(|k| k as u64 * page_bytes - slack)
                    .find(|&b| fits(scaled(b)))
                    .unwrap_or(max_binding - slack);
                return Err(DiceError::TooLarge {
                    what: "predictions (bytes)",
                    needed: bytes[0],
                    limit: largest,
                    limit_name: "max_storage_buffers_per_shader_stage x \
                                 max_storage_buffer_binding_size (one binding per page)",
                });
            }
            Binding::Paged(pages)
        };
        let n_rows = if config.scope == Scope::PerSample {
            n_b
        } else {
            1
        } as u32;
        let n_chunks = (n_c as u32).div_ceil(CLASS_CHUNK);
        let per_sample = n_chunks.saturating_mul(n_b as u32);
        let grid = ctx.grid;
        let n_s32 = n_s as u32;
        let max_dim32 = max_dim as u32;
        let groups = Grid::per_unit(
            grid.partial_groups,
            per_sample,
            n_s32,
            grid.partial_pixels_per_thread,
            max_dim32,
        );
        let gradient_groups = grid.gradient_pixels_per_thread.map(|pixels| {
            Grid::per_unit(grid.gradient_groups, n_b as u32, n_s32, pixels, max_dim32)
        });

        let mut params = Params::for_config(config);
        params.n_samples = n_b as u32;
        params.n_classes = n_c as u32;
        params.spatial = n_s as u32;
        // Partials per (sample, class chunk): SLOTS per workgroup.
        params.groups = groups * ctx.pipelines.slots;
        params.page_shift = (page_bytes / 4).trailing_zeros();
        params.n_rows = n_rows;

        let spec = Spec {
            activation: match config.activation {
                Activation::None => ACT_NONE,
                Activation::Softmax => ACT_SOFTMAX,
                Activation::Sigmoid => ACT_SIGMOID,
            },
            target_kind: target_kind.code(),
            pred_f16: pred_format == PredFormat::F16,
            squared: config.squared,
            soft_l1: config.soft_l1(),
            n_classes: n_c as u32,
            vec4: false,
        };
        // The VEC4 path: whole quads of pixels, every class in one chunk, integer labels
        // (offsets are checked per call).
        let vec4_ok = n_s % 4 == 0
            && n_c as u32 <= CLASS_CHUNK
            && matches!(
                target_kind,
                TargetKind::LabelsU8 | TargetKind::LabelsU16 | TargetKind::LabelsU32
            );
        let device = &ctx.device;
        let storage = |label: &str, size: u64, extra: wgpu::BufferUsages| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size.max(16),
                usage: wgpu::BufferUsages::STORAGE | extra,
                mapped_at_creation: false,
            })
        };
        let cells = (n_rows as u64) * n_c as u64;
        // Softmax over several class chunks: per-pixel normalisers after the coefficients.
        // (They fit one binding whenever the predictions fit their pages: 8 bytes a pixel
        // against 4 bytes for each of more than 8 classes.)
        let coefs_size = if spec.norms() {
            (cells + (n_b * n_s) as u64) * 2 * 4
        } else {
            cells * 2 * 4
        };
        too_large(
            "coefficients and softmax normalisers",
            coefs_size,
            limits.max_storage_buffer_binding_size,
            "max_storage_buffer_binding_size",
        )?;
        let partials_size = per_sample as u64 * params.groups as u64 * 3 * CLASS_CHUNK as u64 * 4;
        too_large(
            "partials scratch",
            partials_size,
            limits.max_storage_buffer_binding_size,
            "max_storage_buffer_binding_size",
        )?;
        let copy = wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let partials = storage(
            "softdice partials",
            partials_size,
            wgpu::BufferUsages::empty(),
        );
        let status = storage("softdice status", STATUS_WORDS * 4, copy);
        let sums = storage("softdice sums", cells * 3 * 4, copy);
        let out = storage("softdice out", (1 + 2 * cells) * 4, copy);
        let coefs = storage("softdice coefs", coefs_size, wgpu::BufferUsages::empty());
        let slots = Slots::new(device, Self::results_bytes(cells));
        let params_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("softdice params"),
            size: std::mem::size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let fin_buf = buffer_with(
            device,
            &ctx.queue,
            "softdice finalize params",
            bytemuck::bytes_of(&FinalizeParams::new(config, n_c)),
            wgpu::BufferUsages::UNIFORM,
        );
        let class_info_buf = buffer_with(
            device,
            &ctx.queue,
            "softdice class info",
            bytemuck::cast_slice(&class_info(config, n_c)),
            wgpu::BufferUsages::STORAGE,
        );
        let bind = |layout: &wgpu::BindGroupLayout, buffers: &[&wgpu::Buffer]| {
            let entries: Vec<_> = buffers
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect();
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout,
                entries: &entries,
            })
        };
        let p = &ctx.pipelines;
        let reduce_bind = bind(&p.dice_reduce.1, &[&params_buf, &partials, &sums]);
        let finalize_bind = bind(
            &p.dice_finalize.1,
            &[
                &params_buf,
                &fin_buf,
                &class_info_buf,
                &sums,
                &out,
                &coefs,
                &status,
            ],
        );
        Ok(Self {
            shape: shape.clone(),
            config: config.clone(),
            pred_format,
            target_kind,
            params,
            n_rows,
            n_chunks,
            groups,
            gradient_groups,
            params_buf,
            partials,
            status,
            sums,
            out,
            slots,
            reduce_bind,
            finalize_bind,
            coefs,
            limits,
            max_dim: max_dim as u32,
            finalize_groups: {
                let units = if config.generalized.is_some() {
                    n_rows as u64
                } else {
                    cells
                };
                units.div_ceil(WG as u64).clamp(1, max_dim) as u32
            },
            binding_kind,
            page_bytes,
            placeholder: storage("softdice placeholder", 16, wgpu::BufferUsages::empty()),
            placeholder_rw: storage("softdice placeholder rw", 16, wgpu::BufferUsages::empty()),
            specialised: p.specialised(device, binding_kind, spec),
            specialised_vec4: vec4_ok
                .then(|| p.specialised(device, binding_kind, Spec { vec4: true, ..spec })),
            input_binds: None,
        })
    }

    /// The results a recording copies out, in order: status, output and sums (bytes).
    fn results(&self) -> [(&wgpu::Buffer, u64); 3] {
        let cells = self.cells();
        [
            (&self.status, STATUS_WORDS * 4),
            (&self.out, (1 + 2 * cells) * 4),
            (&self.sums, 3 * cells * 4),
        ]
    }

    fn results_bytes(cells: u64) -> u64 {
        (STATUS_WORDS + 1 + 2 * cells + 3 * cells) * 4
    }

    fn cells(&self) -> u64 {
        self.n_rows as u64 * self.shape.classes() as u64
    }

    /// Buffer `[loss, dice[rows][C], loss_elements[rows][C]]` (f32) of the last recorded call.
    /// With a bad label or a non-finite input the loss is NaN.
    pub fn output_buffer(&self) -> &wgpu::Buffer {
        &self.out
    }

    /// Buffer `[rows][C][A, P, Y]` (f32): the class sums to merge across devices.
    pub fn sums_buffer(&self) -> &wgpu::Buffer {
        &self.sums
    }

    /// Buffer of four u32: labels out of range, non-finite inputs, and two spare words.
    pub fn status_buffer(&self) -> &wgpu::Buffer {
        &self.status
    }

    /// The shape this plan was made for.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// Pages per tensor (one each when bound flat).
    fn pages(&self) -> Pages {
        match self.binding_kind {
            Binding::Flat => Pages {
                preds: 1,
                targets: 1,
                grad: 1,
            },
            Binding::Paged(pages) => pages,
        }
    }

    /// Checks one of the caller's regions and returns the aligned binding over it (at most
    /// `pages` pages) and the element offset inside that binding.
    fn binding(
        &self,
        what: &'static str,
        region: BufferRegion<'_>,
        elem_size: u64,
        elements: u64,
        pages: u32,
    ) -> Result<(BindingKey, u32), DiceError> {
        let BufferRegion { buffer, offset } = region;
        if !buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
            return Err(DiceError::MissingUsage {
                what,
                missing: wgpu::BufferUsages::STORAGE,
            });
        }
        if offset % elem_size != 0 {
            return Err(DiceError::Misaligned {
                what,
                offset,
                alignment: elem_size,
            });
        }
        let needed = elements * elem_size;
        if offset
            .checked_add(needed)
            .is_none_or(|end| end > buffer.size())
        {
            return Err(DiceError::BufferTooSmall {
                what,
                size: buffer.size(),
                offset,
                needed,
            });
        }
        let align = self.limits.min_storage_buffer_offset_alignment as u64;
        let start = offset / align * align;
        let size = (offset - start + needed).div_ceil(4) * 4;
        if start + size > buffer.size() {
            // Only the rounding to whole words can end past the buffer here.
            return Err(DiceError::NotWordPadded {
                what,
                size: buffer.size(),
                end: start + size,
            });
        }
        let capacity = match self.binding_kind {
            Binding::Flat => self.limits.max_storage_buffer_binding_size,
            Binding::Paged(_) => pages as u64 * self.page_bytes,
        };
        if size > capacity {
            return Err(DiceError::TooLarge {
                what,
                needed: size,
                limit: capacity,
                limit_name: "max_storage_buffer_binding_size x the plan's binding pages",
            });
        }
        Ok((
            (buffer.clone(), start, size),
            ((offset - start) / elem_size) as u32,
        ))
    }

    /// Records the loss (and, when `inputs.gradient` is set, the gradient) into the caller's
    /// encoder over the caller's buffers: one compute pass (four or five dispatches, six with
    /// softmax over more than 8 classes), no host round trip, no allocation once the caller's
    /// buffers have been seen. The results stay in this plan's buffers and are copied to the
    /// recording's readback slot (read them with [`DicePlan::read_results`] and the returned
    /// handle); the gradient goes to `inputs.gradient`.
    /// Buffers are checked (usage, size at the offset, alignment, word padding, device,
    /// binding limit) before anything is recorded.
    ///
    /// Labels out of range and non-finite values are counted on the GPU into
    /// [`DicePlan::status_buffer`]; then the loss is NaN and the gradient buffer is left as it
    /// was. [`DicePlan::read_results`] turns the counts into errors.
    pub fn record(
        &mut self,
        ctx: &DiceContext,
        encoder: &mut wgpu::CommandEncoder,
        inputs: &GpuInputs<'_>,
    ) -> Result<Recorded, DiceError> {
        self.record_stages(ctx, encoder, inputs, true, true)
    }

    /// The first half of [`DicePlan::record`]: only the class sums, into
    /// [`DicePlan::sums_buffer`]. For data-parallel training: all-reduce that buffer across
    /// devices (batch scope), write the merged sums back, then [`DicePlan::record_loss`].
    pub fn record_sums(
        &mut self,
        ctx: &DiceContext,
        encoder: &mut wgpu::CommandEncoder,
        inputs: &GpuInputs<'_>,
    ) -> Result<Recorded, DiceError> {
        self.record_stages(ctx, encoder, inputs, true, false)
    }

    /// The second half of [`DicePlan::record`]: loss, dice and (with `inputs.gradient`) the
    /// gradient from whatever [`DicePlan::sums_buffer`] holds now, such as sums merged across
    /// devices. Reads the status counted by the last [`DicePlan::record_sums`] (and, with
    /// softmax over more than 8 classes, the per-pixel normalisers it stored: pass the same
    /// predictions to both).
    pub fn record_loss(
        &mut self,
        ctx: &DiceContext,
        encoder: &mut wgpu::CommandEncoder,
        inputs: &GpuInputs<'_>,
    ) -> Result<Recorded, DiceError> {
        self.record_stages(ctx, encoder, inputs, false, true)
    }

    fn record_stages(
        &mut self,
        ctx: &DiceContext,
        encoder: &mut wgpu::CommandEncoder,
        inputs: &GpuInputs<'_>,
        sums: bool,
        loss: bool,
    ) -> Result<Recorded, DiceError> {
        ctx.check_alive()?;
        let n = self.shape.len() as u64;
        let n_targets = self.target_kind.len_for(&self.shape) as u64;
        let pred_size = self.pred_format.element_size();
        let pages = self.pages();
        let (preds, pred_offset) =
            self.binding("predictions", inputs.preds, pred_size, n, pages.preds)?;
        let (targets, target_offset) = self.binding(
            "targets",
            inputs.targets,
            self.target_kind.element_size(),
            n_targets,
            pages.targets,
        )?;
        let grad = inputs
            .gradient
            .map(|g| self.binding("gradient", g, 4, n, pages.grad))
            .transpose()?;

        let mut params = self.params;
        params.pred_offset = pred_offset;
        params.target_offset = target_offset;
        params.grad_offset = grad.as_ref().map_or(0, |g| g.1);
        // VEC4 where the plan allows it and every tensor starts on a quad of elements.
        let vec4 = self.specialised_vec4.is_some()
            && params.pred_offset % 4 == 0
            && params.target_offset % 4 == 0
            && params.grad_offset % 4 == 0;
        let pipelines = match (&self.specialised_vec4, vec4) {
            (Some(v), true) => v.clone(),
            _ => self.specialised.clone(),
        };
        let key = (preds, targets, grad.map(|g| g.0));
        if self.input_binds.as_ref().map(|b| (&b.0, b.1)) != Some((&key, vec4)) {
            let buffers = [("predictions", &key.0 .0), ("targets", &key.1 .0)];
            let grad_buffer = key.2.as_ref().map(|g| ("gradient", &g.0));
            for (what, buffer) in buffers.into_iter().chain(grad_buffer) {
                ctx.check_owned(what, buffer)?;
            }
            if let Some((_, g)) = grad_buffer {
                // wgpu cannot bind one buffer read-only and writable in the same dispatch.
                if let Some((with, _)) = buffers.iter().find(|(_, b)| *b == g) {
                    return Err(DiceError::SharedBuffer {
                        what: "gradient",
                        with,
                    });
                }
            }
            // A binding wgpu rejects is an error here, not a panic in wgpu's default handler.
            let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let binds = self.input_bind_groups(ctx, &key, vec4);
            if let Some(e) = pollster::block_on(scope.pop()) {
                return Err(DiceError::Gpu(format!("binding the caller's buffers: {e}")));
            }
            self.input_binds = Some((key, vec4, binds));
        }
        let (_, _, binds) = self.input_binds.as_ref().expect("just set");

        let recorded = self
            .slots
            .begin(&ctx.queue, encoder, &params, &self.params_buf);
        if sums {
            encoder.clear_buffer(&self.status, 0, None);
        }
        let p = &ctx.pipelines;
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("softdice"),
            timestamp_writes: None,
        });
        let n_b = self.shape.batch() as u32;
        if sums {
            if let (Some(normaliser), Some(bind)) = (&pipelines.dice_normaliser, &binds.normaliser)
            {
                pass.set_pipeline(normaliser);
                pass.set_bind_group(0, bind, &[]);
                pass.dispatch_workgroups(self.gradient_groups[0], n_b.min(self.max_dim), 1);
            }
            pass.set_pipeline(&pipelines.dice_partials);
            pass.set_bind_group(0, &binds.partials, &[]);
            pass.dispatch_workgroups(self.groups, self.n_chunks, n_b.min(self.max_dim));
            pass.set_pipeline(&p.dice_reduce.0);
            pass.set_bind_group(0, &self.reduce_bind, &[]);
            pass.dispatch_workgroups(
                (self.shape.classes() as u32).min(self.max_dim),
                self.n_rows.min(self.max_dim),
                1,
            );
        }
        if loss {
            pass.set_pipeline(&p.dice_finalize.0);
            pass.set_bind_group(0, &self.finalize_bind, &[]);
            pass.dispatch_workgroups(self.finalize_groups, 1, 1);
            pass.set_pipeline(&p.dice_total);
            pass.dispatch_workgroups(1, 1, 1);
            if let Some(gradient_bind) = &binds.gradient {
                pass.set_pipeline(&pipelines.dice_gradient);
                pass.set_bind_group(0, gradient_bind, &[]);
                let groups = self.gradient_groups[vec4 as usize];
                pass.dispatch_workgroups(groups, n_b.min(self.max_dim), 1);
            }
        }
        drop(pass);
        self.slots.finish(encoder, &recorded, &self.results());
        Ok(recorded)
    }

    /// The bind groups over the caller's buffers (cached: rebuilt only when they change).
    fn input_bind_groups(
        &self,
        ctx: &DiceContext,
        (preds, targets, grad): &InputKey,
        vec4: bool,
    ) -> InputBinds {
        // Page k of a tensor (the whole tensor when bound flat), or the placeholder past its
        // last page or for no tensor.
        fn page<'a>(
            placeholder: &'a wgpu::Buffer,
            page_bytes: u64,
            key: Option<&'a BindingKey>,
            k: u32,
        ) -> wgpu::BindingResource<'a> {
            let at = k as u64 * page_bytes;
            match key {
                Some((buffer, start, size)) if at < *size => {
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset: start + at,
                        size: std::num::NonZeroU64::new((size - at).min(page_bytes)),
                    })
                }
                _ => placeholder.as_entire_binding(),
            }
        }
        let page_rw = |key, k| page(&self.placeholder_rw, self.page_bytes, key, k);
        let page = |key, k| page(&self.placeholder, self.page_bytes, key, k);
        let (preds, targets) = (Some(preds), Some(targets));
        let paged = self.binding_kind != Binding::Flat;
        let pages = self.pages();
        // The vec4 views: the same regions on the flat VEC4 path (u32 labels only: u8 labels
        // are read as words), placeholders otherwise (the paged VEC4 path reads pages word by
        // word).
        let vec4_views = vec4 && !paged;
        let preds4 = preds.filter(|_| vec4_views && self.pred_format == PredFormat::F32);
        let labels4 = targets.filter(|_| vec4_views && self.target_kind == TargetKind::LabelsU32);
        // Every page of a tensor at its binding number.
        let first = FIRST_BINDING;
        let tensor_pages =
            |key, first, n| (0..n).map(move |k| (page_binding(first, k), page(key, k)));
        let mut partials = vec![
            (0, self.params_buf.as_entire_binding()),
            (3, self.partials.as_entire_binding()),
            (4, self.status.as_entire_binding()),
            (18, self.coefs.as_entire_binding()),
        ];
        partials.extend(tensor_pages(preds, first.preds, pages.preds));
        partials.extend(tensor_pages(targets, first.targets, pages.targets));
        let mut normaliser = vec![
            (0, self.params_buf.as_entire_binding()),
            (18, self.coefs.as_entire_binding()),
        ];
        normaliser.extend(tensor_pages(preds, first.preds, pages.preds));
        if !paged {
            partials.extend([(6, page(preds4, 0)), (7, page(labels4, 0))]);
        }
        let stages = ctx.pipelines.stages(&ctx.device, self.binding_kind);
        let bind = |layout: &wgpu::BindGroupLayout,
                    resources: Vec<(u32, wgpu::BindingResource<'_>)>| {
            let entries: Vec<_> = resources
                .into_iter()
                .map(|(binding, resource)| wgpu::BindGroupEntry { binding, resource })
                .collect();
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout,
                entries: &entries,
            })
        };
        let partials = bind(&stages.dice_partials.layout, partials);
        let normaliser = self
            .specialised
            .dice_normaliser
            .is_some()
            .then(|| bind(&stages.dice_normaliser.layout, normaliser));
        let gradient = grad.as_ref().map(|g| {
            let g = Some(g);
            let mut entries = vec![
                (0, self.params_buf.as_entire_binding()),
                (3, self.coefs.as_entire_binding()),
                (4, self.status.as_entire_binding()),
            ];
            entries.extend(tensor_pages(preds, first.preds, pages.preds));
            entries.extend(tensor_pages(targets, first.targets, pages.targets));
            entries.extend((0..pages.grad).map(|k| (page_binding(first.grad, k), page_rw(g, k))));
            if !paged {
                entries.extend([
                    (6, page(preds4, 0)),
                    (7, page(labels4, 0)),
                    (17, page_rw(g.filter(|_| vec4_views), 0)),
                ]);
            }
            bind(&stages.dice_gradient.layout, entries)
        });
        InputBinds {
            normaliser,
            partials,
            gradient,
        }
    }

    /// The loss, dice and sums of `recorded` (a call of this plan), or the error the GPU
    /// counted, once the encoder it was recorded into has been submitted; blocks until the
    /// device has run it. The gradient stays on the GPU.
    ///
    /// Fails with [`DiceError::StaleResults`] where the plan's readback does not hold that
    /// recording's results: its encoder not submitted yet, or [`RECORDING_SLOTS`](crate::RECORDING_SLOTS) later
    /// recordings of the plan reused its slot.
    pub fn read_results(
        &self,
        ctx: &DiceContext,
        recorded: Recorded,
    ) -> Result<DiceOutput<f32>, DiceError> {
        let bytes = pollster::block_on(self.slots.read(&ctx.device, recorded, true))?;
        self.parse_results(&bytes)
    }

    /// [`DicePlan::read_results`] without blocking, for render loops: the future completes
    /// once the device has run the submission and has been polled (any `Device::poll`, or a
    /// later `Queue::submit`, drives it), and waits for nothing else in the queue.
    pub fn read_results_async<'a>(
        &'a self,
        ctx: &'a DiceContext,
        recorded: Recorded,
    ) -> impl std::future::Future<Output = Result<DiceOutput<f32>, DiceError>> + 'a {
        let read = self.slots.read(&ctx.device, recorded, false);
        async move { self.parse_results(&read.await?) }
    }

    fn parse_results(&self, bytes: &[u8]) -> Result<DiceOutput<f32>, DiceError> {
        let cells = self.cells() as usize;
        let status: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[..STATUS_WORDS as usize * 4]);
        if status[0] > 0 {
            return Err(DiceError::LabelOutOfRange {
                count: status[0] as u64,
                n_classes: self.shape.classes(),
                first: None,
            });
        }
        if status[1] > 0 {
            return Err(DiceError::NonFinite {
                what: "predictions or targets",
                count: status[1] as u64,
            });
        }
        let floats = to_f32(&bytes[STATUS_WORDS as usize * 4..]);
        let (out, sums) = floats.split_at(1 + 2 * cells);
        let fin = Finalized {
            loss: out[0],
            dice: out[1..1 + cells].to_vec(),
            elements: out[1 + cells..].to_vec(),
            coefs: Vec::new(),
        };
        let sums = ClassSums::from_cells(
            self.n_rows as usize,
            self.shape.classes(),
            sums.chunks_exact(3)
                .map(|c| [c[0] as f64, c[1] as f64, c[2] as f64])
                .collect(),
        )?;
        Ok(DiceOutput::from_finalized(&self.config, fin, sums, None))
    }
}
