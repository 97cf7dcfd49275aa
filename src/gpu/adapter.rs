//! Choosing an adapter and creating a device for [`crate::DiceContext`], and checking that a
//! device (ours or the caller's) can run the kernels at all.

use crate::error::DiceError;

/// The limits [`crate::DiceContext::with_options`] creates its device with.
#[derive(Clone, Debug, Default)]
pub enum DeviceLimits {
    /// Everything the adapter offers (the default): the largest tensors and the fewest
    /// binding pages.
    #[default]
    Adapter,
    /// WebGPU's defaults (`wgpu::Limits::default()`: 8 storage buffers per stage, 128 MiB
    /// per binding, 256 MiB per buffer), which every WebGPU implementation offers: what a
    /// browser gives, and a way to check that a program stays within it on any machine.
    WebGpu,
    /// These limits exactly (the adapter must offer them).
    Custom(Box<wgpu::Limits>),
}

/// How [`crate::DiceContext::with_options`] picks an adapter and creates its device. Each
/// field left `None` follows wgpu's environment conventions, then softdice's default.
#[derive(Clone, Debug, Default)]
pub struct ContextOptions {
    /// Backends to consider; `None`: `WGPU_BACKEND` (e.g. `vulkan`, `gl`, `metal,dx12`), else
    /// every backend.
    pub backends: Option<wgpu::Backends>,
    /// `None`: `WGPU_POWER_PREF` (`high` or `low`), else high performance.
    pub power_preference: Option<wgpu::PowerPreference>,
    /// Only adapters whose name contains this (case-insensitive); `None`: `WGPU_ADAPTER_NAME`,
    /// else any.
    pub adapter_name: Option<String>,
    /// The device's limits.
    pub limits: DeviceLimits,
}

/// Printed where no adapter is found.
const NO_ADAPTER_HINT: &str = "no Vulkan/Metal/DX12/GL adapter; on Debian or Ubuntu without a \
     GPU, install Mesa's CPU Vulkan driver: `apt-get install mesa-vulkan-drivers`";

impl ContextOptions {
    /// The options with every `None` resolved from the environment.
    fn resolved(&self) -> (wgpu::Backends, wgpu::PowerPreference, Option<String>) {
        let backends = self
            .backends
            .or_else(wgpu::Backends::from_env)
            .unwrap_or(wgpu::Backends::all());
        let power = self
            .power_preference
            .or_else(wgpu::PowerPreference::from_env)
            .unwrap_or(wgpu::PowerPreference::HighPerformance);
        let name = self
            .adapter_name
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
            .filter(|n| !n.is_empty());
        (backends, power, name)
    }

    /// Picks the adapter (for callers who create the device themselves, too): among those of
    /// the chosen backends (and name), a real GPU before a virtual one before a CPU rasteriser
    /// (a discrete GPU first under high performance, an integrated one first under low power),
    /// and at equal kind Vulkan, Metal, DX12 or WebGPU before GL; ties keep wgpu's order.
    pub async fn pick_adapter(&self) -> Result<(wgpu::Instance, wgpu::Adapter), DiceError> {
        let (backends, power, name) = self.resolved();
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        descriptor.backends = backends;
        let instance = wgpu::Instance::new(descriptor);
        let all = instance.enumerate_adapters(backends).await;
        let seen: Vec<String> = all
            .iter()
            .map(|a| describe_adapter(&a.get_info()))
            .collect();
        let mut candidates: Vec<wgpu::Adapter> = all
            .into_iter()
            .filter(|a| {
                let info = a.get_info();
                info.backend != wgpu::Backend::Noop
                    && name
                        .as_ref()
                        .is_none_or(|n| info.name.to_lowercase().contains(&n.to_lowercase()))
            })
            .collect();
        candidates.sort_by_key(|a| {
            let info = a.get_info();
            rank(info.device_type, info.backend, power)
        });
        match candidates.into_iter().next() {
            Some(adapter) => Ok((instance, adapter)),
            None => Err(DiceError::NoAdapter {
                hint: match (&name, seen.is_empty()) {
                    (Some(n), false) => format!(
                        "no adapter's name contains {n:?} (WGPU_ADAPTER_NAME or \
                         ContextOptions::adapter_name); found: {}",
                        seen.join("; ")
                    ),
                    _ => format!("{NO_ADAPTER_HINT} (backends searched: {backends:?})"),
                },
            }),
        }
    }

    /// The limits to ask the adapter for.
    pub(crate) fn limits(&self, adapter: &wgpu::Adapter) -> wgpu::Limits {
        match &self.limits {
            DeviceLimits::Adapter => adapter.limits(),
            DeviceLimits::WebGpu => wgpu::Limits::default(),
            DeviceLimits::Custom(limits) => (**limits).clone(),
        }
    }
}

/// Sort key of an adapter: lower is preferred.
fn rank(
    device_type: wgpu::DeviceType,
    backend: wgpu::Backend,
    power: wgpu::PowerPreference,
) -> (u8, u8) {
    use wgpu::DeviceType::{Cpu, DiscreteGpu, IntegratedGpu, Other, VirtualGpu};
    let kind = match (device_type, power) {
        (DiscreteGpu, wgpu::PowerPreference::LowPower) => 1,
        (IntegratedGpu, wgpu::PowerPreference::LowPower) => 0,
        (DiscreteGpu, _) => 0,
        (IntegratedGpu, _) => 1,
        (VirtualGpu, _) => 2,
        (Other, _) => 3,
        (Cpu, _) => 4,
    };
    // GL last: fewer storage bindings, no subgroups, and slower on the same hardware.
    (kind, u8::from(backend == wgpu::Backend::Gl))
}

/// "name (device type, backend)", as the examples print it.
pub fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.device_type, info.backend)
}

/// The least of each limit the kernels need on any input (larger inputs need more, checked
/// per plan): the flat layout's bindings, the workgroup size and workgroup memory.
pub(crate) fn check_device_limits(limits: &wgpu::Limits) -> Result<(), DiceError> {
    let needs: [(&'static str, u64, u64); 7] = [
        (
            "max_storage_buffers_per_shader_stage",
            super::storage_bindings(crate::shaders::Binding::Flat) as u64,
            limits.max_storage_buffers_per_shader_stage as u64,
        ),
        (
            "max_uniform_buffers_per_shader_stage",
            2,
            limits.max_uniform_buffers_per_shader_stage as u64,
        ),
        (
            "max_bindings_per_bind_group",
            super::binding_numbers(crate::shaders::Binding::Flat) as u64,
            limits.max_bindings_per_bind_group as u64,
        ),
        (
            "max_compute_invocations_per_workgroup",
            super::WG as u64,
            limits.max_compute_invocations_per_workgroup as u64,
        ),
        (
            "max_compute_workgroup_size_x",
            super::WG as u64,
            limits.max_compute_workgroup_size_x as u64,
        ),
        (
            "max_compute_workgroup_storage_size",
            super::WORKGROUP_BYTES,
            limits.max_compute_workgroup_storage_size as u64,
        ),
        (
            "max_compute_workgroups_per_dimension",
            1,
            limits.max_compute_workgroups_per_dimension as u64,
        ),
    ];
    match needs.iter().find(|(_, needed, got)| got < needed) {
        Some(&(limit, needed, available)) => Err(DiceError::DeviceUnsupported {
            limit,
            needed,
            available,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::rank;
    use wgpu::{Backend, DeviceType, PowerPreference};

    /// Sorts (type, backend) pairs as `pick_adapter` sorts adapters.
    fn order(power: PowerPreference) -> Vec<(DeviceType, Backend)> {
        let mut all = vec![
            (DeviceType::Cpu, Backend::Gl),
            (DeviceType::Cpu, Backend::Vulkan),
            (DeviceType::IntegratedGpu, Backend::Gl),
            (DeviceType::IntegratedGpu, Backend::Vulkan),
            (DeviceType::VirtualGpu, Backend::Vulkan),
            (DeviceType::DiscreteGpu, Backend::Gl),
            (DeviceType::DiscreteGpu, Backend::Dx12),
        ];
        all.sort_by_key(|&(t, b)| rank(t, b, power));
        all
    }

    #[test]
    fn a_real_gpu_first_then_gl_after_the_native_backend() {
        assert_eq!(
            order(PowerPreference::HighPerformance),
            [
                (DeviceType::DiscreteGpu, Backend::Dx12),
                (DeviceType::DiscreteGpu, Backend::Gl),
                (DeviceType::IntegratedGpu, Backend::Vulkan),
                (DeviceType::IntegratedGpu, Backend::Gl),
                (DeviceType::VirtualGpu, Backend::Vulkan),
                (DeviceType::Cpu, Backend::Vulkan),
                (DeviceType::Cpu, Backend::Gl),
            ]
        );
        let low = order(PowerPreference::LowPower);
        assert_eq!(low[0], (DeviceType::IntegratedGpu, Backend::Vulkan));
        assert_eq!(low[2], (DeviceType::DiscreteGpu, Backend::Dx12));
    }
}
