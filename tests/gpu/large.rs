//! Inputs larger than one storage binding (128 MiB on lavapipe) are split over binding pages
//! and still match the oracle; inputs past what the device can address get an error that
//! says how large they may be.

use softdice::{cpu, Activation, DiceConfig, DiceError, Gradient, Scope, Shape, Targets};

use crate::common::*;

#[test]
fn an_input_over_300_mib_matches_the_oracle() {
    let Some(ctx) = ctx() else { return };
    // 1 x 4 x 4096 x 4800 f32 = 314.6 MB of logits (three 128 MiB pages), u8 labels. Under
    // WebGPU's limits (256 MiB buffers) the largest they allow, 1 x 4 x 4096 x 4096 (two
    // pages), and one column more is refused.
    let width = last_axis_that_fits(ctx, &[1, 4, 4096], 4800);
    let shape = Shape::new(&[1, 4, 4096, width]).unwrap();
    let mut rng = Rng::new(91);
    let logits = rng.logits(shape.len(), 3.0);
    let labels: Vec<u8> = (0..shape.pixels()).map(|_| rng.below(4) as u8).collect();
    let config = DiceConfig {
        activation: Activation::Softmax,
        scope: Scope::PerSample,
        ..DiceConfig::monai()
    };
    let targets = Targets::LabelsU8(&labels);
    let want = cpu::compute(&shape, &config, &logits, targets, Gradient::With).unwrap();
    let got = ctx
        .compute(&shape, &config, &logits, targets, Gradient::With)
        .unwrap();
    check_loss("loss", got.loss, want.loss).unwrap();
    check_close("dice", &got.dice, &want.dice, DICE_ABS, DICE_REL).unwrap();
    let (g, w) = (got.gradient.unwrap(), want.gradient.unwrap());
    // Every element at a bar scaled to their size (~1e-9): the last page is really read and
    // written.
    check_grad("gradient", &g, &w).unwrap();
}

#[test]
fn an_input_past_the_device_limits_says_how_large_it_may_be() {
    let Some(ctx) = ctx() else { return };
    // 2^30 elements: past four pages and past u32 byte offsets on every device.
    let shape = Shape::new(&[1, 4, 16384, 16384]).unwrap();
    let err = ctx
        .plan(
            &shape,
            &DiceConfig::default(),
            softdice::TargetKind::LabelsU8,
        )
        .expect_err("too large");
    match &err {
        DiceError::TooLarge { needed, limit, .. } => assert!(needed > limit, "{err}"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("at most"), "{err}");
}

/// A context whose device allows storage bindings of only `bytes`, so that small tensors are
/// split over pages: every paged path, fast to check.
fn small_binding_ctx(bytes: u64) -> softdice::DiceContext {
    own_ctx(wgpu::Features::SUBGROUP, |limits| wgpu::Limits {
        max_storage_buffer_binding_size: bytes,
        ..limits
    })
}

/// Bindings small enough that every case below spans several pages, and large enough that
/// the pages fit the device's storage bindings (WebGPU's 8 take two pages a tensor).
fn small_binding_bytes() -> u64 {
    let storage = ctx()
        .unwrap()
        .device()
        .limits()
        .max_storage_buffers_per_shader_stage;
    if storage >= 12 {
        1 << 16
    } else {
        1 << 17
    }
}

#[test]
fn tensors_paged_over_small_bindings_match_the_oracle() {
    let Some(_) = ctx() else { return };
    let binding = small_binding_bytes();
    let ctx = small_binding_ctx(binding);
    let mut rng = Rng::new(93);
    // (shape, activation): the VEC4 path over pages (u8, u16, u32 labels), the scalar path (odd
    // spatial size), softmax over two class chunks (stored normalisers), sigmoid.
    let cases = [
        (&[2, 4, 64, 96][..], Activation::Softmax),
        (&[2, 4, 64, 96][..], Activation::Sigmoid),
        (&[2, 5, 63, 65][..], Activation::Softmax),
        (&[1, 11, 60, 60][..], Activation::Softmax),
    ];
    for (dims, activation) in cases {
        let shape = Shape::new(dims).unwrap();
        assert!(
            shape.len() as u64 * 4 > binding,
            "{dims:?} must span several pages"
        );
        let logits = rng.logits(shape.len(), 3.0);
        let labels = rng.labels(shape.pixels(), shape.classes() as u32);
        let u8s: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
        let u16s: Vec<u16> = labels.iter().map(|&l| l as u16).collect();
        for scope in [Scope::Batch, Scope::PerSample] {
            let config = DiceConfig {
                activation,
                scope,
                ..DiceConfig::seed()
            };
            for targets in [
                Targets::Labels(&labels),
                Targets::LabelsU8(&u8s),
                Targets::LabelsU16(&u16s),
            ] {
                crate::oracle::compare(&ctx, &shape, &config, &logits, targets)
                    .unwrap_or_else(|e| panic!("{dims:?} {activation:?} {scope:?}: {e}"));
            }
        }
    }
}

#[test]
fn more_pages_than_storage_bindings_says_the_largest_that_fits_and_that_size_works() {
    let Some(_) = ctx() else { return };
    // WebGPU's 8 storage buffers per stage and 64 KiB bindings: dice_gradient binds every page
    // of predictions, targets and gradient, and the coefficient and status buffers.
    let small = own_ctx(wgpu::Features::SUBGROUP, |limits| wgpu::Limits {
        max_storage_buffer_binding_size: 1 << 16,
        max_storage_buffers_per_shader_stage: 8,
        ..limits
    });
    let config = DiceConfig {
        activation: Activation::Softmax,
        ..DiceConfig::seed()
    };
    // 4 classes x 96 x 96 f32 = 144 KiB: three pages of predictions and three of gradient.
    let past = Shape::new(&[1, 4, 96, 96]).unwrap();
    let err = small
        .plan(&past, &config, softdice::TargetKind::LabelsU8)
        .expect_err("too many pages for 8 storage bindings");
    assert_too_large(&err, "max_storage_buffers_per_shader_stage");
    let DiceError::TooLarge { limit, .. } = err else {
        unreachable!()
    };
    // The largest predictions it names fit (two pages each), in this shape's proportions.
    let width = (limit / (4 * 4 * 96)) as usize;
    assert!(width >= 64, "{limit} bytes is less than two pages");
    let shape = Shape::new(&[1, 4, 96, width]).unwrap();
    assert!(shape.len() as u64 * 4 > 1 << 16, "it spans two pages");
    let mut rng = Rng::new(95);
    let logits = rng.logits(shape.len(), 3.0);
    let labels: Vec<u8> = (0..shape.pixels()).map(|_| rng.below(4) as u8).collect();
    crate::oracle::compare(&small, &shape, &config, &logits, Targets::LabelsU8(&labels)).unwrap();
}
