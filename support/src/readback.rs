//! Reading a GPU buffer back to the host, for tests and examples (the library reads its own
//! results through its readback slots).

use softdice::{wgpu, DiceContext};

/// Reads a whole f32 buffer (with `COPY_SRC`) back; blocks until the device is idle.
pub fn read_buffer(ctx: &DiceContext, buffer: &wgpu::Buffer) -> Vec<f32> {
    let staging = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: buffer.size(),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, buffer.size());
    ctx.queue().submit([encoder.finish()]);
    staging.map_async(wgpu::MapMode::Read, .., |r| {
        r.expect("mapping a staging buffer")
    });
    ctx.device()
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("waiting for the device");
    let v = bytemuck::pod_collect_to_vec(&staging.get_mapped_range(..).expect("mapped range"));
    staging.unmap();
    v
}
