//! The buffer API's contracts: each misuse gives the right number or a named error, never
//! a wrong number with `Ok`.

use softdice::{
    cpu, Activation, BufferRegion, DiceConfig, DiceContext, DiceError, GpuInputs, Gradient, Shape,
    TargetKind, Targets, RECORDING_SLOTS,
};

use crate::common::*;

fn softmax_config() -> DiceConfig {
    DiceConfig {
        activation: Activation::Softmax,
        ..DiceConfig::seed()
    }
}

#[test]
fn two_recordings_of_one_plan_in_one_submission_each_give_their_own_results() {
    let Some(ctx) = ctx() else { return };
    let shape = Shape::new(&[1, 3, 8, 8]).unwrap();
    let config = softmax_config();
    let mut rng = Rng::new(41);
    // One arena, the predictions of the two calls at element offsets 1 and 2 (not multiples of
    // the binding alignment: the offsets are parameters of each call).
    let arena = rng.logits(shape.len() + 2, 3.0);
    let labels = rng.labels(shape.pixels(), 3);
    let preds = storage(
        ctx.device(),
        bytemuck::cast_slice(&arena),
        wgpu::BufferUsages::COPY_SRC,
    );
    let targets = storage(
        ctx.device(),
        bytemuck::cast_slice(&labels),
        wgpu::BufferUsages::COPY_SRC,
    );
    let grads = [ctx.gradient_buffer(&shape), ctx.gradient_buffer(&shape)];
    let mut plan = ctx.plan(&shape, &config, TargetKind::LabelsU32).unwrap();
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    let recorded: Vec<_> = [1u64, 2]
        .iter()
        .zip(&grads)
        .map(|(&at, grad)| {
            let inputs = GpuInputs {
                preds: BufferRegion {
                    buffer: &preds,
                    offset: 4 * at,
                },
                targets: BufferRegion::whole(&targets),
                gradient: Some(BufferRegion::whole(grad)),
            };
            plan.record(ctx, &mut encoder, &inputs).unwrap()
        })
        .collect();
    ctx.queue().submit([encoder.finish()]);
    for ((recorded, at), grad) in recorded.into_iter().zip([1usize, 2]).zip(&grads) {
        let logits = &arena[at..at + shape.len()];
        let want = cpu::compute(
            &shape,
            &config,
            logits,
            Targets::Labels(&labels),
            Gradient::With,
        )
        .unwrap();
        let got = plan.read_results(ctx, recorded).unwrap();
        check_loss(&format!("loss at offset {at}"), got.loss, want.loss).unwrap();
        check_grad(
            &format!("gradient at offset {at}"),
            &read_buffer(ctx, grad),
            want.gradient.as_ref().unwrap(),
        )
        .unwrap();
    }
}

#[test]
fn results_not_yet_submitted_or_overwritten_are_an_error() {
    let Some(ctx) = ctx() else { return };
    let shape = Shape::new(&[1, 2, 4, 4]).unwrap();
    let config = DiceConfig::seed();
    let probs = vec![0.5f32; shape.len()];
    let labels = vec![1u32; shape.pixels()];
    let preds = storage(
        ctx.device(),
        bytemuck::cast_slice(&probs),
        wgpu::BufferUsages::COPY_SRC,
    );
    let targets = storage(
        ctx.device(),
        bytemuck::cast_slice(&labels),
        wgpu::BufferUsages::COPY_SRC,
    );
    let inputs = GpuInputs {
        preds: BufferRegion::whole(&preds),
        targets: BufferRegion::whole(&targets),
        gradient: None,
    };
    let mut plan = ctx.plan(&shape, &config, TargetKind::LabelsU32).unwrap();
    // Read before its encoder is submitted: nothing of it is there.
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    let first = plan.record(ctx, &mut encoder, &inputs).unwrap();
    assert_eq!(first.number(), 1);
    let err = plan.read_results(ctx, first).unwrap_err();
    assert_eq!(
        err,
        DiceError::StaleResults {
            recording: 1,
            found: 0
        }
    );
    ctx.queue().submit([encoder.finish()]);
    // Read after RECORDING_SLOTS later recordings took its slot again.
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    let second = plan.record(ctx, &mut encoder, &inputs).unwrap();
    for _ in 0..RECORDING_SLOTS {
        plan.record(ctx, &mut encoder, &inputs).unwrap();
    }
    ctx.queue().submit([encoder.finish()]);
    let err = plan.read_results(ctx, second).unwrap_err();
    assert_eq!(
        err,
        DiceError::StaleResults {
            recording: 2,
            found: 2 + RECORDING_SLOTS
        }
    );
    assert!(err.to_string().contains("submit the encoder"), "{err}");
}

#[test]
fn results_are_read_without_blocking() {
    let Some(ctx) = ctx() else { return };
    let shape = Shape::new(&[2, 3, 6, 5]).unwrap();
    let config = softmax_config();
    let mut rng = Rng::new(43);
    let logits = rng.logits(shape.len(), 2.0);
    let labels = rng.labels(shape.pixels(), 3);
    let want = cpu::compute(
        &shape,
        &config,
        &logits,
        Targets::Labels(&labels),
        Gradient::Without,
    )
    .unwrap();
    let preds = storage(
        ctx.device(),
        bytemuck::cast_slice(&logits),
        wgpu::BufferUsages::COPY_SRC,
    );
    let targets = storage(
        ctx.device(),
        bytemuck::cast_slice(&labels),
        wgpu::BufferUsages::COPY_SRC,
    );
    let mut plan = ctx.plan(&shape, &config, TargetKind::LabelsU32).unwrap();
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    let inputs = GpuInputs {
        preds: BufferRegion::whole(&preds),
        targets: BufferRegion::whole(&targets),
        gradient: None,
    };
    let recorded = plan.record(ctx, &mut encoder, &inputs).unwrap();
    ctx.queue().submit([encoder.finish()]);
    let future = plan.read_results_async(ctx, recorded);
    // A render loop would poll once a frame; here, until the device is idle.
    ctx.device()
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap();
    let got = pollster::block_on(future).unwrap();
    check_loss("loss", got.loss, want.loss).unwrap();
}

#[test]
fn buffers_of_another_instance_are_refused() {
    if ctx().is_none() {
        return;
    }
    // A context on an instance of its own, so that it holds only the few small buffers made
    // here, and a device of a second instance on the same adapter: the second's buffer ids
    // name, in the context's instance, either nothing (past its buffers) or a smaller buffer.
    let ctx = DiceContext::with_options(&options()).unwrap();
    let shape = Shape::new(&[1, 2, 64, 64]).unwrap();
    let mut plan = ctx
        .plan(&shape, &DiceConfig::seed(), TargetKind::LabelsU32)
        .unwrap();
    let (device, _queue) =
        pollster::block_on(shared_adapter().request_device(&Default::default())).unwrap();
    let probs = vec![0.5f32; shape.len()];
    let labels = vec![1u32; shape.pixels()];
    // Ids 0 and 1 name two of the plan's small scratch buffers in the context's instance.
    let aliasing = storage(
        &device,
        bytemuck::cast_slice(&probs),
        wgpu::BufferUsages::COPY_SRC,
    );
    let foreign_targets = storage(
        &device,
        bytemuck::cast_slice(&labels),
        wgpu::BufferUsages::COPY_SRC,
    );
    // Past every buffer of the context's instance.
    let _more: Vec<_> = (0..64)
        .map(|_| storage(&device, &[0u8; 16], wgpu::BufferUsages::COPY_SRC))
        .collect();
    let nothing = storage(
        &device,
        bytemuck::cast_slice(&probs),
        wgpu::BufferUsages::COPY_SRC,
    );
    let own_preds = storage(
        ctx.device(),
        bytemuck::cast_slice(&probs),
        wgpu::BufferUsages::COPY_SRC,
    );
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    for (preds, what) in [
        (&aliasing, "predictions"),
        (&nothing, "predictions"),
        (&own_preds, "targets"),
    ] {
        let err = plan
            .record(
                &ctx,
                &mut encoder,
                &GpuInputs {
                    preds: BufferRegion::whole(preds),
                    targets: BufferRegion::whole(&foreign_targets),
                    gradient: None,
                },
            )
            .unwrap_err();
        assert!(
            matches!(&err, DiceError::ForeignBuffer { what: w, .. } if *w == what),
            "{err:?}"
        );
    }
}

#[test]
fn buffer_problems_are_buffer_errors_that_read_as_sentences() {
    let Some(ctx) = ctx() else { return };
    // 65 u8 labels: the last of 17 words ends at byte 68, past a 65-byte buffer.
    let shape = Shape::new(&[1, 2, 65]).unwrap();
    let config = DiceConfig::seed();
    let mut plan = ctx.plan(&shape, &config, TargetKind::LabelsU8).unwrap();
    let probs = vec![0.5f32; shape.len()];
    let preds = storage(
        ctx.device(),
        bytemuck::cast_slice(&probs),
        wgpu::BufferUsages::COPY_SRC,
    );
    // (create_buffer_init would round the size up to whole words.)
    let labels = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 65,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let padded = storage(ctx.device(), &[1u8; 68], wgpu::BufferUsages::COPY_SRC);
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    let mut record = |targets, gradient| {
        plan.record(
            ctx,
            &mut encoder,
            &GpuInputs {
                preds: BufferRegion::whole(&preds),
                targets: BufferRegion::whole(targets),
                gradient,
            },
        )
    };
    let err = record(&labels, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the targets buffer holds 65 bytes, but its tensor is read as whole 4-byte words (u8 \
         and u16 labels four or two to a word), up to byte 68: pad the buffer to 68 bytes"
    );
    // The gradient in the predictions' buffer.
    let err = record(&padded, Some(BufferRegion::whole(&preds))).unwrap_err();
    assert_eq!(
        err,
        DiceError::SharedBuffer {
            what: "gradient",
            with: "predictions"
        }
    );
    // Counts read as sentences, the same from the host and the GPU.
    let one = DiceError::LabelOutOfRange {
        count: 1,
        n_classes: 4,
        first: None,
    };
    assert_eq!(
        one.to_string(),
        "1 label out of range: >= the class count 4 and not the ignore label"
    );
    let host = DiceError::LabelOutOfRange {
        count: 3,
        n_classes: 4,
        first: Some(17),
    };
    assert_eq!(
        host.to_string(),
        "3 labels out of range: >= the class count 4 and not the ignore label; the first at \
         pixel 17"
    );
}

#[test]
fn from_device_takes_a_device_with_webgpu_limits() {
    if ctx().is_none() {
        return;
    }
    let (device, queue) = own_device(wgpu::Features::empty(), |_| wgpu::Limits::default());
    let ctx = DiceContext::from_device(device, queue).unwrap();
    let shape = Shape::new(&[1, 2, 8, 8]).unwrap();
    let probs = vec![0.25f32; shape.len()];
    let labels = vec![1u32; shape.pixels()];
    let (targets, seed) = (Targets::Labels(&labels), DiceConfig::seed());
    let want = cpu::compute(&shape, &seed, &probs, targets, Gradient::Without).unwrap();
    let got = ctx
        .compute(&shape, &seed, &probs, targets, Gradient::Without)
        .unwrap();
    check_loss("loss", got.loss, want.loss).unwrap();
}
