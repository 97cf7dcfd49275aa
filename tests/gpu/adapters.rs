//! Adapter choice and device limits follow `ContextOptions` (and so wgpu's `WGPU_*`
//! variables, which fill the options left `None`).

use softdice::{ContextOptions, DeviceLimits, DiceContext, DiceError};

use crate::common::*;

#[test]
fn an_adapter_name_that_matches_none_is_an_error_listing_the_adapters() {
    let Some(shared) = ctx() else { return };
    let options = ContextOptions {
        adapter_name: Some("no adapter is called this".into()),
        ..options()
    };
    let err = DiceContext::with_options(&options).expect_err("no such adapter");
    let DiceError::NoAdapter { hint } = &err else {
        panic!("{err:?}")
    };
    assert!(hint.contains("no adapter is called this"), "{hint}");
    assert!(hint.contains(&shared.adapter_info().name), "{hint}");
}

#[test]
fn the_context_has_the_backend_and_limits_asked_for() {
    let Some(shared) = ctx() else { return };
    let backend = shared.adapter_info().backend;
    let options = ContextOptions {
        backends: Some(backend.into()),
        limits: DeviceLimits::WebGpu,
        ..Default::default()
    };
    let ctx = DiceContext::with_options(&options).unwrap();
    assert_eq!(ctx.adapter_info().backend, backend);
    let (got, webgpu) = (ctx.device().limits(), wgpu::Limits::default());
    assert_eq!(got.max_storage_buffers_per_shader_stage, 8);
    assert_eq!(
        got.max_storage_buffer_binding_size,
        webgpu.max_storage_buffer_binding_size
    );
    assert_eq!(got.max_buffer_size, webgpu.max_buffer_size);
}

#[test]
fn vulkan_metal_or_dx12_is_chosen_over_gl_for_the_same_kind_of_device() {
    if ctx().is_none() {
        return;
    }
    let all = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle())
        .enumerate_adapters(wgpu::Backends::all());
    let infos: Vec<_> = pollster::block_on(all)
        .iter()
        .map(|a| a.get_info())
        .collect();
    let native = |t| {
        infos
            .iter()
            .any(|i| i.device_type == t && i.backend != wgpu::Backend::Gl)
    };
    let options = ContextOptions {
        backends: Some(wgpu::Backends::all()),
        ..options()
    };
    let chosen = DiceContext::with_options(&options).unwrap();
    let info = chosen.adapter_info();
    // The kind chosen is the best present, and GL only where that kind has no other backend.
    let best = infos
        .iter()
        .map(|i| i.device_type)
        .min_by_key(|&t| kind_rank(t))
        .unwrap();
    assert_eq!(kind_rank(info.device_type), kind_rank(best), "{infos:?}");
    if native(info.device_type) {
        assert_ne!(info.backend, wgpu::Backend::Gl, "{infos:?}");
    }
}

/// A real GPU before a virtual one before a CPU rasteriser (high performance).
fn kind_rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}
