// throwaway: time WGSL kernels on lavapipe
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let groups: u32 = std::env::args().nth(2).unwrap().parse().unwrap();
    let src = std::fs::read_to_string(&path).unwrap();
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())).unwrap();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_features: adapter.features() & (wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16),
        required_limits: adapter.limits(),
        ..Default::default()
    })).unwrap();
    let n: u64 = 8 * 1024 * 1024;
    let mk = |usage| device.create_buffer(&wgpu::BufferDescriptor { label: None, size: n * 4, usage, mapped_at_creation: false });
    let a = mk(wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST);
    let b = mk(wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST);
    let c = mk(wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST);
    let data: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 * 0.001).collect();
    queue.write_buffer(&a, 0, bytemuck::cast_slice(&data));
    let labels: Vec<u32> = (0..n).map(|i| ((i * 31) % 8) as u32).collect();
    queue.write_buffer(&c, 0, bytemuck::cast_slice(&labels));
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor { label: None, source: wgpu::ShaderSource::Wgsl(src.into()) });
    let pipe = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor { label: None, layout: None, module: &module, entry_point: Some("main"), compilation_options: Default::default(), cache: None });
    let bg = device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &pipe.get_bind_group_layout(0), entries: &[
        wgpu::BindGroupEntry { binding: 0, resource: a.as_entire_binding() },
        wgpu::BindGroupEntry { binding: 1, resource: b.as_entire_binding() },
        wgpu::BindGroupEntry { binding: 2, resource: c.as_entire_binding() },
    ]});
    let mut times = vec![];
    for _ in 0..12 {
        let mut enc = device.create_command_encoder(&Default::default());
        { let mut p = enc.begin_compute_pass(&Default::default()); p.set_pipeline(&pipe); p.set_bind_group(0, &bg, &[]); p.dispatch_workgroups(groups, 1, 1); }
        let t = Instant::now();
        queue.submit([enc.finish()]);
        device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("{path} groups={groups}: median {:.2} ms min {:.2}", times[6], times[0]);
}
