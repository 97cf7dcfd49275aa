//! Shader modules, layouts and pipelines, built once per context and specialised per plan.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::*;
use crate::params::CLASS_CHUNK;
use crate::shaders::{bindings, Access, Binding, BindingSlot, Buffer, Fold, Kernel, Pages};

/// The one binding of [`DiceContext::check_owned`]'s probe: any buffer, read-only.
pub(super) const PROBE_SLOT: BindingSlot = BindingSlot {
    buffer: Buffer::Preds,
    page: 0,
    access: Access::Read,
};

/// Bind group layouts, the shader modules and the pipelines that need no specialisation;
/// `dice_partials` and `dice_gradient` come in two bindings (flat, paged) and are specialised
/// A kernel that needs no specialisation: its pipeline and its bind group layout.
pub(super) struct Fixed {
    pub(super) pipeline: wgpu::ComputePipeline,
    pub(super) layout: wgpu::BindGroupLayout,
}

/// per [`Spec`], compiled on first use and cached.
pub(super) struct Pipelines {
    /// How dice_partials folds, from the device's features.
    pub(super) fold: Fold,
    /// dice_partials partials per workgroup (the `SLOTS` override): one per subgroup of the
    /// smallest size with the subgroup fold, one with the workgroup fold.
    pub(super) slots: u32,
    /// The VEC4 loops' `LANES` override: threads that take one contiguous run of quads
    /// together. A CPU rasteriser's SIMD width (its subgroup size) there, so each SIMD group
    /// streams through memory in order (a third faster on lavapipe); WG elsewhere.
    pub(super) lanes: u32,
    pub(super) dice_reduce: Fixed,
    pub(super) dice_finalize: Fixed,
    /// dice_finalize's `total` entry point (same bind group).
    pub(super) dice_total: wgpu::ComputePipeline,
    pub(super) flat: Arc<InputStages>,
    /// Per page counts, built on first use (only tensors past one binding need them).
    pub(super) paged: Mutex<HashMap<Pages, Arc<InputStages>>>,
    pub(super) specialised: Mutex<HashMap<(Spec, Binding), Arc<Specialised>>>,
    /// dice_counts per specialisation, compiled on a plan's first `record_counts`.
    pub(super) counts: Mutex<HashMap<(Spec, Binding, u32), Arc<wgpu::ComputePipeline>>>,
    /// One read-only storage binding: [`DiceContext::check_owned`]'s.
    pub(super) probe: wgpu::BindGroupLayout,
}

/// The input kernels' layouts and modules for one [`Binding`].
pub(super) struct InputStages {
    pub(super) dice_normaliser: Stage,
    pub(super) dice_partials: Stage,
    pub(super) dice_gradient: Stage,
    pub(super) dice_counts: Stage,
}

impl InputStages {
    pub(super) fn new(device: &wgpu::Device, binding: Binding, fold: Fold) -> Self {
        let stage = |kernel| Stage::new(device, kernel, binding, fold);
        Self {
            dice_normaliser: stage(Kernel::DiceNormaliser),
            dice_partials: stage(Kernel::DicePartials),
            dice_gradient: stage(Kernel::DiceGradient),
            dice_counts: stage(Kernel::DiceCounts),
        }
    }
}

/// One kernel's layout and module, from which pipelines are specialised.
pub(super) struct Stage {
    pub(super) kernel: Kernel,
    pub(super) layout: wgpu::BindGroupLayout,
    pub(super) pipeline_layout: wgpu::PipelineLayout,
    pub(super) module: wgpu::ShaderModule,
}

/// What the input kernels are specialised on (their WGSL `override` constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Spec {
    pub(super) activation: u32,
    pub(super) target_kind: u32,
    pub(super) squared: bool,
    pub(super) soft_l1: bool,
    pub(super) n_classes: u32,
    /// Quads of pixels per thread with vec4 loads (aligned inputs, C <= 8, integer labels).
    pub(super) vec4: bool,
    /// Predictions stored as f16 pairs.
    pub(super) pred_f16: bool,
    /// The fused cross-entropy term (`CE_*`).
    pub(super) ce_kind: u32,
    /// [`crate::DiceConfig::softmax_over_classes`].
    pub(super) softmax: bool,
}

impl Spec {
    /// Whether dice_normaliser stores each pixel's softmax normaliser first: softmax (of the
    /// Dice term or of a cross-entropy term) over more classes than one chunk (the shaders
    /// test the same constants).
    pub(super) fn norms(&self) -> bool {
        self.softmax && self.n_classes > CLASS_CHUNK
    }
}

/// The two specialised pipelines of one [`Spec`].
pub(super) struct Specialised {
    /// Where the spec stores normalisers.
    pub(super) dice_normaliser: Option<wgpu::ComputePipeline>,
    pub(super) dice_partials: wgpu::ComputePipeline,
    pub(super) dice_gradient: wgpu::ComputePipeline,
}

impl Stage {
    /// Layout and module of a kernel with the given bindings and the context's fold (one
    /// choice per context: `SLOTS` is sized for it).
    pub(super) fn new(device: &wgpu::Device, kernel: Kernel, binding: Binding, fold: Fold) -> Self {
        let entries: Vec<_> = bindings(kernel, binding).iter().map(layout_entry).collect();
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
            source: wgpu::ShaderSource::Wgsl(kernel.source(binding, fold).into()),
        });
        Self {
            kernel,
            layout,
            pipeline_layout,
            module,
        }
    }

    pub(super) fn pipeline(
        &self,
        device: &wgpu::Device,
        constants: &[(&str, f64)],
    ) -> wgpu::ComputePipeline {
        self.entry_point(device, "main", constants)
    }

    pub(super) fn entry_point(
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
    pub(super) fn new(device: &wgpu::Device) -> Self {
        let fold = Fold::for_device(device);
        let info = device.adapter_info();
        let smallest = Fold::smallest_subgroup(&info);
        let slots = match (fold, info.device_type) {
            (Fold::Workgroup, _) => 1,
            // lavapipe at LP_NATIVE_VECTOR_WIDTH=1024 reports 32 but runs some workgroups
            // narrower: on a CPU rasteriser the slots hold the narrowest width the fold takes.
            (Fold::Subgroup, wgpu::DeviceType::Cpu) => subgroup_slots(Fold::MIN_SUBGROUP),
            (Fold::Subgroup, _) => subgroup_slots(smallest),
        };
        let lanes = match info.device_type {
            wgpu::DeviceType::Cpu if smallest > 0 => smallest.next_power_of_two().min(WG),
            wgpu::DeviceType::Cpu => 8,
            _ => WG,
        };
        let flat = Binding::Flat;
        let reduce = Stage::new(device, Kernel::DiceReduce, flat, fold);
        let finalize = Stage::new(device, Kernel::DiceFinalize, flat, fold);
        Self {
            fold,
            slots,
            lanes,
            dice_total: finalize.entry_point(device, "total", &[("WG", WG as f64)]),
            dice_reduce: Fixed {
                pipeline: reduce.pipeline(device, &[("WG", WG as f64)]),
                layout: reduce.layout,
            },
            dice_finalize: Fixed {
                pipeline: finalize.pipeline(device, &[("WG", WG as f64)]),
                layout: finalize.layout,
            },
            flat: Arc::new(InputStages::new(device, flat, fold)),
            paged: Mutex::new(HashMap::new()),
            probe: device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("softdice buffer check"),
                entries: &[layout_entry(&PROBE_SLOT)],
            }),
            specialised: Mutex::new(HashMap::new()),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// The input kernels' layouts for a binding (the paged ones built on first use).
    pub(super) fn stages(&self, device: &wgpu::Device, binding: Binding) -> Arc<InputStages> {
        match binding {
            Binding::Flat => self.flat.clone(),
            Binding::Paged(pages) => self
                .paged
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(pages)
                .or_insert_with(|| Arc::new(InputStages::new(device, binding, self.fold)))
                .clone(),
        }
    }

    /// The pipelines for one specialisation, compiled on first use and then shared.
    pub(super) fn specialised(
        &self,
        device: &wgpu::Device,
        binding: Binding,
        spec: Spec,
    ) -> Arc<Specialised> {
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
                    ("CE_KIND", spec.ce_kind as f64),
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

    /// dice_counts for one specialisation, compiled on first use and then shared. It reads
    /// what the loss kernels read but sums nothing, so only the overrides of its readers
    /// (activation, target format, classes, f16 predictions, VEC4) and the decision
    /// (`DECISION_*`) tell its pipelines apart.
    pub(super) fn counts(
        &self,
        device: &wgpu::Device,
        binding: Binding,
        spec: Spec,
        decision: u32,
    ) -> Arc<wgpu::ComputePipeline> {
        let spec = Spec {
            squared: false,
            soft_l1: false,
            ce_kind: crate::params::CE_OFF,
            softmax: false,
            ..spec
        };
        debug_assert!(!spec.vec4 || spec.n_classes <= CLASS_CHUNK);
        let stages = self.stages(device, binding);
        let mut cache = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry((spec, binding, decision))
            .or_insert_with(|| {
                let constants = [
                    ("WG", WG as f64),
                    ("DECISION", decision as f64),
                    ("ACTIVATION", spec.activation as f64),
                    ("TARGET_KIND", spec.target_kind as f64),
                    ("N_CLASSES", spec.n_classes as f64),
                    ("PRED_F16", spec.pred_f16 as u32 as f64),
                    ("VEC4", spec.vec4 as u32 as f64),
                    ("LANES", self.lanes as f64),
                ];
                Arc::new(stages.dice_counts.pipeline(device, &constants))
            })
            .clone()
    }
}
