//! softdice inside a render-like loop, no framework: fit soft-rasterised circles (centre and
//! radius, one circle per class) to a target label map by gradient descent. Each step records
//! rasterise → `DicePlan::record` (loss and d loss / d logits) → backward through the
//! rasteriser with an SGD step, in one encoder and one submission; nothing is read back
//! except every `--report` steps for the progress line. Writes target | start | result as a
//! PNG and prints the Dice reached and steps/s.
//!
//! `cargo run --release --example fit_mask -- [--steps N] [--report N] [--out FILE]`

use std::time::Instant;

use softdice::wgpu::{self, util::DeviceExt};
use softdice::{
    BufferRegion, DiceConfig, DiceContext, DiceOutput, GpuInputs, Shape, TargetKind, Targets,
};

const SIZE: u32 = 128;
/// Background and three circle classes.
const CLASSES: usize = 4;

/// The scene's uniform block (`Scene` in scene.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Scene {
    width: u32,
    height: u32,
    circles: u32,
    tau: f32,
    lr: f32,
    momentum: f32,
    _pad: [u32; 2],
}

/// The target circles (cx, cy, r) of classes 1, 2, 3, and where the fit starts.
const TARGET: [[f32; 3]; 3] = [[38.0, 42.0, 22.0], [90.0, 50.0, 16.0], [64.0, 96.0, 26.0]];
const START: [[f32; 3]; 3] = [[56.0, 60.0, 10.0], [74.0, 62.0, 10.0], [62.0, 74.0, 10.0]];

/// The label map of circles (later circles over earlier ones).
fn labels_of(circles: &[[f32; 3]]) -> Vec<u32> {
    (0..SIZE * SIZE)
        .map(|p| {
            let (x, y) = ((p % SIZE) as f32 + 0.5, (p / SIZE) as f32 + 0.5);
            circles
                .iter()
                .enumerate()
                .filter(|(_, c)| (x - c[0]).hypot(y - c[1]) <= c[2])
                .map(|(k, _)| k as u32 + 1)
                .next_back()
                .unwrap_or(0)
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut steps = 300usize;
    let mut report = 50usize;
    let mut out = std::path::PathBuf::from("target/fit_mask.png");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--steps" => steps = value.parse()?,
            "--report" => report = value.parse()?,
            "--out" => out = value.into(),
            other => panic!("unknown flag {other} (--steps N, --report N, --out FILE)"),
        }
    }
    let ctx = DiceContext::new()?;
    let device = ctx.device();
    println!(
        "adapter: {}",
        softdice::describe_adapter(ctx.adapter_info())
    );
    let shape = Shape::new(&[1, CLASSES, SIZE as usize, SIZE as usize])?;
    let config = DiceConfig::monai();
    let mut plan = ctx.plan(&shape, &config, TargetKind::LabelsU32)?;

    let target = labels_of(&TARGET);
    let labels = ctx.upload_targets(Targets::Labels(&target));
    let logits = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("fit_mask logits"),
        size: shape.len() as u64 * 4,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let grad = ctx.gradient_buffer(&shape);
    let circles: Vec<[f32; 4]> = START.iter().map(|c| [c[0], c[1], c[2], 0.0]).collect();
    let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
    let circles_buf = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("fit_mask circles"),
        contents: bytemuck::cast_slice(&circles),
        usage: storage,
    });
    let velocity = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("fit_mask velocity"),
        contents: &vec![0u8; circles.len() * 16],
        usage: storage,
    });
    let scene = Scene {
        width: SIZE,
        height: SIZE,
        circles: circles.len() as u32,
        tau: 2.0,
        lr: 400.0,
        momentum: 0.8,
        _pad: [0; 2],
    };
    let scene_buf = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("fit_mask scene"),
        contents: bytemuck::bytes_of(&scene),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("fit_mask scene"),
        source: wgpu::ShaderSource::Wgsl(include_str!("scene.wgsl").into()),
    });
    let pipeline = |entry: &str| {
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        })
    };
    let (rasterise, backward) = (pipeline("rasterise"), pipeline("backward"));
    let bind = |pipeline: &wgpu::ComputePipeline, entries: &[(u32, &wgpu::Buffer)]| {
        let entries: Vec<_> = entries
            .iter()
            .map(|&(binding, buffer)| wgpu::BindGroupEntry {
                binding,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    };
    let raster_bind = bind(
        &rasterise,
        &[(0, &scene_buf), (1, &circles_buf), (3, &logits)],
    );
    let backward_bind = bind(
        &backward,
        &[
            (0, &scene_buf),
            (1, &circles_buf),
            (2, &velocity),
            (4, &grad),
        ],
    );
    let inputs = GpuInputs {
        preds: BufferRegion::whole(&logits),
        targets: BufferRegion::whole(&labels),
        gradient: Some(BufferRegion::whole(&grad)),
    };
    let mean_dice = |out: &DiceOutput<f32>| out.dice[1..].iter().sum::<f32>() / 3.0;

    // One step: rasterise, loss and gradient, backward and SGD, in one encoder.
    let step = |plan: &mut softdice::DicePlan, last: bool| {
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&rasterise);
            pass.set_bind_group(0, &raster_bind, &[]);
            pass.dispatch_workgroups((SIZE * SIZE).div_ceil(256), 1, 1);
        }
        let recorded = plan.record(&ctx, &mut encoder, &inputs)?;
        if !last {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&backward);
            pass.set_bind_group(0, &backward_bind, &[]);
            pass.dispatch_workgroups(scene.circles, 1, 1);
        }
        ctx.queue().submit([encoder.finish()]);
        Ok::<_, softdice::DiceError>(recorded)
    };

    let start_map = labels_of(&START);
    let first = step(&mut plan, false)?;
    let first = plan.read_results(&ctx, first)?;
    println!(
        "step    0: loss {:.4}  mean Dice {:.4}",
        first.loss,
        mean_dice(&first)
    );
    let started = Instant::now();
    for s in 1..steps {
        let recorded = step(&mut plan, false)?;
        if s % report == 0 {
            let r = plan.read_results(&ctx, recorded)?;
            let rate = s as f64 / started.elapsed().as_secs_f64();
            println!(
                "step {s:>4}: loss {:.4}  mean Dice {:.4}  ({rate:.1} steps/s)",
                r.loss,
                mean_dice(&r)
            );
        }
    }
    // The result: the circles as rasterised now, without another update.
    let last = step(&mut plan, true)?;
    let last = plan.read_results(&ctx, last)?;
    device.poll(wgpu::PollType::wait_indefinitely())?;
    let elapsed = started.elapsed().as_secs_f64();
    let fitted = read_circles(&ctx, &circles_buf);
    let result_map = labels_of(&fitted);
    println!(
        "after {steps} steps: loss {:.4}, soft Dice per class {:?}, mean {:.4}; hard Dice of \
         the rasterised circles {:.4}; {:.1} steps/s",
        last.loss,
        &last.dice[1..],
        mean_dice(&last),
        hard_dice(&result_map, &target),
        steps as f64 / elapsed
    );
    for (k, (t, f)) in TARGET.iter().zip(&fitted).enumerate() {
        println!(
            "  circle {}: target ({:.1}, {:.1}, r {:.1})  fitted ({:.1}, {:.1}, r {:.1})",
            k + 1,
            t[0],
            t[1],
            t[2],
            f[0],
            f[1],
            f[2]
        );
    }
    write_png(&out, &[&target, &start_map, &result_map])?;
    println!("wrote {} (target | start | result)", out.display());
    Ok(())
}

/// Mean Dice of the foreground classes of two label maps.
fn hard_dice(a: &[u32], b: &[u32]) -> f64 {
    (1..CLASSES as u32)
        .map(|c| {
            let (x, y) = (
                a.iter().filter(|&&l| l == c).count(),
                b.iter().filter(|&&l| l == c).count(),
            );
            let both = a.iter().zip(b).filter(|&(&p, &q)| p == c && q == c).count();
            2.0 * both as f64 / (x + y).max(1) as f64
        })
        .sum::<f64>()
        / (CLASSES - 1) as f64
}

/// The circles' parameters, read back.
fn read_circles(ctx: &DiceContext, buffer: &wgpu::Buffer) -> Vec<[f32; 3]> {
    let floats = softdice_support::readback::read_buffer(ctx, buffer);
    floats.chunks_exact(4).map(|c| [c[0], c[1], c[2]]).collect()
}

/// Label maps side by side, classes coloured, as an RGB PNG.
fn write_png(path: &std::path::Path, maps: &[&[u32]]) -> Result<(), Box<dyn std::error::Error>> {
    const PALETTE: [[u8; 3]; CLASSES] =
        [[20, 20, 28], [230, 85, 60], [70, 160, 230], [250, 200, 60]];
    const GAP: u32 = 8;
    let width = maps.len() as u32 * (SIZE + GAP) + GAP;
    let height = SIZE + 2 * GAP;
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    for (k, map) in maps.iter().enumerate() {
        for (p, &l) in map.iter().enumerate() {
            let (x, y) = (
                GAP + k as u32 * (SIZE + GAP) + p as u32 % SIZE,
                GAP + p as u32 / SIZE,
            );
            let at = ((y * width + x) * 3) as usize;
            rgb[at..at + 3].copy_from_slice(&PALETTE[l as usize]);
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut encoder = png::Encoder::new(std::fs::File::create(path)?, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&rgb)?;
    Ok(())
}
