//! Bad input: a clear error, never a panic, a hang or a silently wrong number.

use softdice::{
    cpu, Activation, BufferRegion, ClassSelection, DiceConfig, DiceError, GpuInputs, Gradient,
    Shape, TargetKind, Targets,
};

use crate::common::*;

#[test]
fn shapes_are_checked() {
    assert!(matches!(
        Shape::new(&[3]),
        Err(DiceError::BadRank { rank: 1, .. })
    ));
    assert!(matches!(
        Shape::new(&[2, 0, 4]),
        Err(DiceError::ZeroClasses)
    ));
    assert!(matches!(
        Shape::new(&[2, 3, 4, 0]),
        Err(DiceError::EmptyAxis { axis: 3, .. })
    ));
}

#[test]
fn host_inputs_are_checked_on_both_paths() {
    let shape = Shape::new(&[1, 3, 2, 2]).unwrap();
    let preds = vec![0.25f32; 12];
    let labels = vec![0u32, 1, 2, 1];
    let config = DiceConfig::default();
    type Case = (Vec<f32>, Vec<u32>, DiceConfig, fn(&DiceError) -> bool);
    let cases: Vec<Case> = vec![
        (vec![0.25; 11], labels.clone(), config.clone(), |e| {
            matches!(
                e,
                DiceError::LengthMismatch {
                    what: "predictions",
                    expected: 12,
                    got: 11
                }
            )
        }),
        (preds.clone(), vec![0, 1, 2], config.clone(), |e| {
            matches!(
                e,
                DiceError::LengthMismatch {
                    what: "targets",
                    ..
                }
            )
        }),
        (preds.clone(), vec![0, 3, 2, 7], config.clone(), |e| {
            matches!(
                e,
                DiceError::LabelOutOfRange {
                    count: 2,
                    n_classes: 3,
                    first: Some(1)
                }
            )
        }),
        (
            {
                let mut p = preds.clone();
                p[5] = f32::NAN;
                p[6] = f32::INFINITY;
                p
            },
            labels.clone(),
            config.clone(),
            |e| matches!(e, DiceError::NonFinite { count: 2, .. }),
        ),
        (
            preds.clone(),
            labels.clone(),
            DiceConfig {
                smooth_nr: -1.0,
                ..config.clone()
            },
            |e| {
                matches!(
                    e,
                    DiceError::InvalidParameter {
                        name: "smooth_nr",
                        ..
                    }
                )
            },
        ),
        (
            preds.clone(),
            labels.clone(),
            DiceConfig {
                smooth_dr: f32::NAN,
                ..config.clone()
            },
            |e| {
                matches!(
                    e,
                    DiceError::InvalidParameter {
                        name: "smooth_dr",
                        ..
                    }
                )
            },
        ),
        (
            preds.clone(),
            labels.clone(),
            DiceConfig {
                classes: ClassSelection::Subset(vec![1, 5]),
                ..config.clone()
            },
            |e| {
                matches!(
                    e,
                    DiceError::ClassOutOfRange {
                        class: 5,
                        n_classes: 3
                    }
                )
            },
        ),
        (
            preds.clone(),
            labels.clone(),
            DiceConfig {
                class_weights: Some(vec![1.0, 2.0]),
                ..config.clone()
            },
            |e| {
                matches!(
                    e,
                    DiceError::LengthMismatch {
                        what: "class_weights",
                        ..
                    }
                )
            },
        ),
    ];
    for (p, l, c, is_expected) in &cases {
        let err = cpu::compute(&shape, c, p, Targets::Labels(l), Gradient::With).unwrap_err();
        assert!(is_expected(&err), "CPU: unexpected {err:?}");
        if let Some(ctx) = ctx() {
            let err = ctx
                .compute(&shape, c, p, Targets::Labels(l), Gradient::With)
                .unwrap_err();
            assert!(is_expected(&err), "GPU: unexpected {err:?}");
        }
    }
    // The ignore label is not out of range.
    let ignoring = DiceConfig {
        ignore_index: Some(255),
        ..config
    };
    cpu::compute(
        &shape,
        &ignoring,
        &preds,
        Targets::Labels(&[0, 255, 2, 1]),
        Gradient::With,
    )
    .unwrap();
}

#[test]
fn labels_only_the_gpu_sees_are_counted_and_leave_the_gradient_alone() {
    let Some(ctx) = ctx() else { return };
    let shape = Shape::new(&[2, 3, 10, 10]).unwrap();
    let mut rng = Rng::new(21);
    let logits = rng.logits(shape.len(), 2.0);
    let mut labels = rng.labels(shape.pixels(), 3);
    labels[17] = 3;
    labels[150] = 99;
    let config = DiceConfig {
        activation: Activation::Softmax,
        ..DiceConfig::default()
    };
    let preds = storage(
        ctx.device(),
        bytemuck::cast_slice(&logits),
        wgpu::BufferUsages::empty(),
    );
    let targets = storage(
        ctx.device(),
        bytemuck::cast_slice(&labels),
        wgpu::BufferUsages::empty(),
    );
    let sentinel = vec![7.0f32; shape.len()];
    let grad = storage(
        ctx.device(),
        bytemuck::cast_slice(&sentinel),
        wgpu::BufferUsages::COPY_SRC,
    );
    let mut plan = ctx.plan(&shape, &config, TargetKind::LabelsU32).unwrap();
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    let recorded = plan
        .record(
            ctx,
            &mut encoder,
            &GpuInputs {
                preds: BufferRegion::whole(&preds),
                targets: BufferRegion::whole(&targets),
                gradient: Some(BufferRegion::whole(&grad)),
            },
        )
        .unwrap();
    ctx.queue().submit([encoder.finish()]);
    let err = plan.read_results(ctx, recorded).unwrap_err();
    assert!(
        matches!(
            err,
            DiceError::LabelOutOfRange {
                count: 2,
                n_classes: 3,
                first: None
            }
        ),
        "{err:?}"
    );
    let after = read_buffer(ctx, &grad);
    assert!(
        after.iter().all(|&v| v == 7.0),
        "gradient buffer was written"
    );
}

#[test]
fn buffers_are_checked_before_recording() {
    let Some(ctx) = ctx() else { return };
    let shape = Shape::new(&[1, 2, 8, 8]).unwrap();
    let config = DiceConfig::default();
    let mut plan = ctx.plan(&shape, &config, TargetKind::LabelsU32).unwrap();
    let full = storage(ctx.device(), &vec![0u8; 512], wgpu::BufferUsages::empty());
    let small = storage(ctx.device(), &[0u8; 64], wgpu::BufferUsages::empty());
    let uniform = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 512,
        usage: wgpu::BufferUsages::UNIFORM,
        mapped_at_creation: false,
    });
    let mut encoder = ctx.device().create_command_encoder(&Default::default());
    let mut run = |preds: BufferRegion<'_>, targets: BufferRegion<'_>| {
        plan.record(
            ctx,
            &mut encoder,
            &GpuInputs {
                preds,
                targets,
                gradient: None,
            },
        )
        .unwrap_err()
    };
    let whole = BufferRegion::whole;
    assert!(matches!(
        run(whole(&small), whole(&full)),
        DiceError::BufferTooSmall {
            what: "predictions",
            ..
        }
    ));
    assert!(matches!(
        run(
            BufferRegion {
                buffer: &full,
                offset: 6
            },
            whole(&full)
        ),
        DiceError::Misaligned {
            what: "predictions",
            offset: 6,
            alignment: 4
        }
    ));
    assert!(matches!(
        run(
            BufferRegion {
                buffer: &full,
                offset: 4
            },
            whole(&full)
        ),
        DiceError::BufferTooSmall {
            what: "predictions",
            ..
        }
    ));
    assert!(matches!(
        run(whole(&uniform), whole(&full)),
        DiceError::MissingUsage {
            what: "predictions",
            ..
        }
    ));
    assert!(matches!(
        run(whole(&full), whole(&small)),
        DiceError::BufferTooSmall {
            what: "targets",
            ..
        }
    ));
}

#[test]
fn a_device_below_the_kernels_needs_is_refused_naming_the_limit() {
    if ctx().is_none() {
        return;
    }
    // wgpu's downlevel defaults allow 4 storage buffers per stage; the flat layout binds 8.
    let (device, queue) = own_device(wgpu::Features::empty(), |_| {
        wgpu::Limits::downlevel_defaults()
    });
    let err = softdice::DiceContext::from_device(device, queue).expect_err("refused");
    assert_eq!(
        err,
        DiceError::DeviceUnsupported {
            limit: "max_storage_buffers_per_shader_stage",
            needed: 8,
            available: 4,
        }
    );
    assert_eq!(
        err.to_string(),
        "the device's max_storage_buffers_per_shader_stage is 4; softdice needs at least 8"
    );
}

/// MCC is formed from the plain sums over every element of its row: the options that change
/// the sums or leave elements out are refused by name, and so is a bad ε.
#[test]
fn mcc_refuses_the_options_it_cannot_take() {
    let mcc = softdice::DiceConfig::smp_mcc();
    let refused = [
        (
            "squared",
            softdice::DiceConfig {
                squared: true,
                ..mcc.clone()
            },
        ),
        (
            "soft_label",
            softdice::DiceConfig {
                soft_label: true,
                ..mcc.clone()
            },
        ),
        (
            "generalized",
            softdice::DiceConfig {
                generalized: Some(softdice::GeneralizedWeight::Simple),
                ..mcc.clone()
            },
        ),
        (
            "alpha/beta",
            softdice::DiceConfig {
                alpha: 0.3,
                ..mcc.clone()
            },
        ),
        (
            "ignore_index",
            softdice::DiceConfig {
                ignore_index: Some(255),
                ..mcc.clone()
            },
        ),
        (
            "denominator_clamp",
            softdice::DiceConfig {
                denominator_clamp: 1e-7,
                ..mcc.clone()
            },
        ),
        (
            "eps",
            softdice::DiceConfig {
                index: softdice::SimilarityIndex::Mcc { eps: -1.0 },
                ..mcc.clone()
            },
        ),
    ];
    for (field, config) in refused {
        let err = config.validate(2).unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
    mcc.validate(2).unwrap();
}

#[test]
fn smoothing_and_the_all_pixel_mean_are_refused_where_they_do_not_belong() {
    use softdice::{CeMean, CrossEntropy, DiceConfig, TargetKind};
    let with = |ce: CrossEntropy| DiceConfig {
        cross_entropy: Some(ce),
        ..DiceConfig::monai()
    };
    let refused = [
        (
            "label_smoothing",
            with(CrossEntropy {
                label_smoothing: 0.1,
                ..CrossEntropy::sigmoid_focal(2.0)
            }),
        ),
        (
            "label_smoothing",
            with(CrossEntropy {
                label_smoothing: 0.1,
                ..CrossEntropy::softmax_focal(2.0)
            }),
        ),
        (
            "CeMean::All",
            with(CrossEntropy {
                mean: CeMean::All,
                ..CrossEntropy::sigmoid_focal(2.0)
            }),
        ),
        ("label_smoothing", DiceConfig::smp_soft_bce_with_logits(0.6)),
    ];
    for (field, config) in refused {
        let err = config.validate(3).unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
    // An ignore value: the sigmoid kind takes it with smp's mean over every element only; the
    // softmax kind on labels only.
    let ignoring = |config: DiceConfig| DiceConfig {
        ignore_index: Some(255),
        ..config
    };
    let pytorch_bce = ignoring(DiceConfig::cross_entropy_only(CrossEntropy::sigmoid()));
    let err = pytorch_bce.validate_targets(TargetKind::Dense).unwrap_err();
    assert!(err.to_string().contains("CeMean::All"), "{err}");
    let smp_bce = ignoring(DiceConfig::smp_soft_bce_with_logits(0.1));
    smp_bce.validate(3).unwrap();
    smp_bce.validate_targets(TargetKind::Dense).unwrap();
    smp_bce.validate_targets(TargetKind::LabelsU32).unwrap();
    let smp_ce = ignoring(DiceConfig::smp_soft_cross_entropy(0.1));
    smp_ce.validate_targets(TargetKind::LabelsU32).unwrap();
    assert!(smp_ce.validate_targets(TargetKind::Dense).is_err());
}
