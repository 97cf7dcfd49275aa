//! softdice-burn against softdice's f64 oracle: loss values and `x.grad()` for upstream
//! gradients other than one, across shapes, presets and devices; the fused path proven to
//! run; bad input; statistics merged across two devices.

mod common;

use burn::tensor::{Int, Tensor, TensorData};
use common::*;
use softdice::{DiceConfig, GeneralizedWeight, Reduction, Scope};
use softdice_burn::{DiceLoss, LossPath};

/// Every preset a Burn user is likely to pick, and the option families beyond them.
fn configs() -> Vec<(&'static str, DiceConfig)> {
    vec![
        (
            "seed (on softmax)",
            DiceConfig {
                activation: softdice::Activation::Softmax,
                ..DiceConfig::seed()
            },
        ),
        ("monai", DiceConfig::monai()),
        (
            "monai generalized",
            DiceConfig::monai_generalized(GeneralizedWeight::Square),
        ),
        ("monai tversky", DiceConfig::monai_tversky(0.3, 0.7)),
        ("monai dice+ce", DiceConfig::monai_dice_ce()),
        ("smp multiclass", DiceConfig::smp_multiclass()),
        ("smp multilabel", DiceConfig::smp_multilabel()),
        ("smp jaccard", DiceConfig::smp_jaccard()),
        ("smp tversky", DiceConfig::smp_tversky(0.5, 0.5, 2.0)),
        ("nnunet", DiceConfig::nnunet()),
        ("nnunet dc+ce", DiceConfig::nnunet_dc_and_ce()),
    ]
}

/// `0.3 · loss` (and, for `Reduction::None`, a weighted sum of the elements) against the
/// oracle's vector-Jacobian product with the same upstream gradient.
fn check<const D: usize, const DL: usize>(dims: &[usize], name: &str, config: &DiceConfig) {
    let (logits, labels) = data(dims);
    check_on::<D, DL>(dims, name, config, &logits, &labels);
}

/// [`check`] on given logits and labels.
fn check_on<const D: usize, const DL: usize>(
    dims: &[usize],
    name: &str,
    config: &DiceConfig,
    logits: &[f32],
    labels: &[u32],
) {
    let (logits, labels) = (logits.to_vec(), labels.to_vec());
    for (device_name, device, path) in devices() {
        let what = format!("{name} {dims:?} on {device_name}");
        let (x, y) = tensors::<D, DL>(dims, &logits, &labels, &device);
        let loss = loss_on(config, &device, path);
        let out = loss
            .try_forward(x.clone(), y)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let n = out.dims()[0];
        // Upstream weights: 0.3 for a reduced loss, 0.3, 0.5, 0.7, … over the elements.
        let weights: Vec<f32> = (0..n).map(|k| 0.3 + 0.2 * (k % 4) as f32).collect();
        let w = Tensor::<1>::from_data(TensorData::new(weights.clone(), [n]), &out.device());
        let total = (out.clone() * w).sum();
        let grads = total.backward();
        let grad = values(x.grad(&grads).expect("logits require grad"));
        let upstream: Vec<f64> = weights.iter().map(|&w| w as f64).collect();
        let (want_values, want_grad) = oracle(dims, config, &logits, &labels, &upstream);
        assert_close(&format!("{what}: loss"), &values(out), &want_values, 2e-5);
        assert_close(&format!("{what}: gradient"), &grad, &want_grad, 2e-4);
    }
}

#[test]
fn presets_match_the_oracle_in_2d() {
    for (name, config) in configs() {
        check::<4, 3>(&[2, 4, 9, 7], name, &config);
    }
}

#[test]
fn presets_match_the_oracle_in_3d_and_odd_sizes() {
    for (name, config) in configs() {
        check::<5, 4>(&[1, 3, 5, 3, 7], name, &config);
        check::<3, 2>(&[3, 2, 13], name, &config);
    }
}

#[test]
fn many_classes_match_the_oracle() {
    // Softmax over more than 8 classes: per-pixel normalisers between sums and gradient.
    check::<4, 3>(&[2, 11, 6, 5], "monai", &DiceConfig::monai());
    check::<4, 3>(
        &[2, 11, 6, 5],
        "nnunet dc+ce",
        &DiceConfig::nnunet_dc_and_ce(),
    );
}

#[test]
fn reduction_none_with_weights_matches_the_oracle() {
    let per_sample = |config: DiceConfig| DiceConfig {
        reduction: Reduction::None,
        scope: Scope::PerSample,
        ..config
    };
    check::<4, 3>(
        &[3, 4, 6, 5],
        "monai none",
        &per_sample(DiceConfig::monai()),
    );
    check::<4, 3>(
        &[3, 4, 6, 5],
        "monai none, no background",
        &DiceConfig {
            classes: softdice::ClassSelection::NoBackground,
            ..per_sample(DiceConfig::monai())
        },
    );
    check::<4, 3>(
        &[3, 4, 6, 5],
        "generalized none",
        &per_sample(DiceConfig::monai_generalized(GeneralizedWeight::Simple)),
    );
}

/// Each option family beyond the presets, on labels where the last class is absent (the
/// infinite Generalized Dice weights, smp's zero loss of absent classes) and some pixels carry
/// the ignore index: every path against the oracle.
#[test]
fn every_option_family_matches_the_oracle() {
    use softdice::{Activation, ClassSelection, CrossEntropy, EmptyClass, LossForm, WeightMode};
    let dims = [2, 4, 6, 5];
    let (logits, labels) = data(&dims);
    let absent: Vec<u32> = labels.iter().map(|&l| if l == 3 { 0 } else { l }).collect();
    let ignored: Vec<u32> = absent
        .iter()
        .enumerate()
        .map(|(i, &l)| if i % 7 == 3 { 255 } else { l })
        .collect();
    let monai = DiceConfig::monai();
    let weights = Some(vec![0.5, 1.0, 2.0, 0.25]);
    let ce = |ce: CrossEntropy| DiceConfig {
        cross_entropy: Some(ce),
        ..DiceConfig::monai()
    };
    let cases: Vec<(&str, DiceConfig)> = vec![
        (
            "ignore index",
            DiceConfig {
                ignore_index: Some(255),
                ..DiceConfig::nnunet_dc_and_ce()
            },
        ),
        (
            "ignore index inside the classes",
            DiceConfig {
                ignore_index: Some(1),
                ..monai.clone()
            },
        ),
        (
            "class weights scale",
            DiceConfig {
                class_weights: weights.clone(),
                ..monai.clone()
            },
        ),
        (
            "class weights normalize",
            DiceConfig {
                class_weights: weights.clone(),
                weight_mode: WeightMode::Normalize,
                ..DiceConfig::smp_multiclass()
            },
        ),
        (
            "subset",
            DiceConfig {
                classes: ClassSelection::Subset(vec![1, 3]),
                ..monai.clone()
            },
        ),
        (
            "squared",
            DiceConfig {
                squared: true,
                ..monai.clone()
            },
        ),
        (
            "soft label",
            DiceConfig {
                soft_label: true,
                ..monai.clone()
            },
        ),
        (
            "generalized square",
            DiceConfig::monai_generalized(GeneralizedWeight::Square),
        ),
        (
            "generalized simple",
            DiceConfig::monai_generalized(GeneralizedWeight::Simple),
        ),
        (
            "generalized uniform",
            DiceConfig::monai_generalized(GeneralizedWeight::Uniform),
        ),
        ("smp zero loss", DiceConfig::smp_multiclass()),
        (
            "smp log loss",
            DiceConfig {
                loss_form: LossForm::NegLog,
                ..DiceConfig::smp_multiclass()
            },
        ),
        (
            "smooth empty class",
            DiceConfig {
                empty_class: EmptyClass::Smooth,
                ..DiceConfig::smp_multiclass()
            },
        ),
        (
            "sum",
            DiceConfig {
                reduction: Reduction::Sum,
                ..DiceConfig::monai_dice_ce()
            },
        ),
        (
            "sigmoid dice",
            DiceConfig {
                activation: Activation::Sigmoid,
                ..monai.clone()
            },
        ),
        (
            "lambdas",
            DiceConfig {
                lambda_dice: 0.5,
                cross_entropy: Some(CrossEntropy {
                    lambda: 2.0,
                    ..CrossEntropy::softmax()
                }),
                ..monai.clone()
            },
        ),
        (
            "no dice term",
            DiceConfig {
                lambda_dice: 0.0,
                ..DiceConfig::nnunet_dc_and_ce()
            },
        ),
        (
            "ce label smoothing and weights",
            ce(CrossEntropy {
                label_smoothing: 0.1,
                class_weights: weights.clone(),
                ..CrossEntropy::softmax()
            }),
        ),
        (
            "bce with pos weight",
            ce(CrossEntropy {
                pos_weight: Some(vec![2.0, 1.0, 0.5, 3.0]),
                class_weights: weights.clone(),
                ..CrossEntropy::sigmoid()
            }),
        ),
        (
            "sigmoid focal",
            ce(CrossEntropy {
                neg_weight: Some(vec![0.75, 0.5, 1.0, 0.25]),
                include_background: false,
                ..CrossEntropy::sigmoid_focal(2.0)
            }),
        ),
        (
            "softmax focal",
            ce(CrossEntropy {
                pos_weight: Some(vec![0.25, 0.75, 0.75, 0.75]),
                ..CrossEntropy::softmax_focal(2.0)
            }),
        ),
        (
            "focal sums (MONAI's sum of spatial means)",
            DiceConfig {
                reduction: Reduction::Sum,
                cross_entropy: Some(CrossEntropy::sigmoid_focal(1.5)),
                ..monai.clone()
            },
        ),
        (
            "softmax focal sum",
            DiceConfig {
                reduction: Reduction::Sum,
                cross_entropy: Some(CrossEntropy::softmax_focal(2.0)),
                ..monai.clone()
            },
        ),
        (
            "none with a dice weight",
            DiceConfig {
                reduction: Reduction::None,
                lambda_dice: 0.5,
                ..monai.clone()
            },
        ),
        (
            "mcc (smp MCCLoss, per class on softmax)",
            DiceConfig {
                activation: Activation::Softmax,
                ..DiceConfig::smp_mcc()
            },
        ),
        (
            "mcc per sample, sigmoid, weights",
            DiceConfig {
                activation: Activation::Sigmoid,
                scope: softdice::Scope::PerSample,
                class_weights: weights.clone(),
                index: softdice::SimilarityIndex::Mcc { eps: 0.5 },
                ..DiceConfig::smp_mcc()
            },
        ),
        (
            "smp soft cross-entropy (ignored pixels in the mean)",
            DiceConfig {
                ignore_index: Some(255),
                ..DiceConfig::smp_soft_cross_entropy(0.1)
            },
        ),
        (
            "smp soft bce (smoothed, ignored pixels) beside a dice term",
            DiceConfig {
                ignore_index: Some(255),
                lambda_dice: 0.5,
                cross_entropy: Some(CrossEntropy {
                    pos_weight: weights.clone(),
                    ..CrossEntropy::smp_soft_bce_with_logits(0.1)
                }),
                ..monai.clone()
            },
        ),
        (
            "generalized none",
            DiceConfig {
                reduction: Reduction::None,
                ..DiceConfig::monai_generalized(GeneralizedWeight::Square)
            },
        ),
    ];
    for (name, config) in &cases {
        let labels = if config.ignore_index == Some(255) {
            &ignored
        } else {
            &absent
        };
        check_on::<4, 3>(&dims, name, config, &logits, labels);
    }
}

#[test]
fn the_wgpu_device_runs_the_fused_kernels() {
    let device = fused();
    assert_eq!(softdice_burn::loss_path(&device), LossPath::Fused);
    let dims = [2, 3, 8, 8];
    let (logits, labels) = data(&dims);
    let (x, y) = tensors::<4, 3>(&dims, &logits, &labels, &device);
    let before = softdice_burn::path_calls();
    let loss = DiceLoss::new(DiceConfig::monai()).forward(x.clone(), y);
    let grads = loss.backward();
    let _ = values(x.grad(&grads).unwrap());
    let after = softdice_burn::path_calls();
    let (fused_before, fused_after) = (before.fused, after.fused);
    let (host_before, host_after) = (before.host, after.host);
    // Forward and backward, on the kernels (other tests may add to the counts meanwhile, but
    // never take from them; the host count of this device stays where no test falls back).
    assert!(
        fused_after >= fused_before + 2,
        "{fused_before} -> {fused_after}"
    );
    assert_eq!(
        host_after, host_before,
        "a cubecl call fell back to the host"
    );
}

#[test]
fn a_burn_made_device_without_registration_takes_the_composed_path() {
    // Burn's own wgpu device, never handed to softdice-burn.
    let device = unregistered_wgpu();
    assert_eq!(softdice_burn::loss_path(&device), LossPath::Composed);
    let dims = [2, 3, 4, 4];
    let (logits, labels) = data(&dims);
    let (x, y) = tensors::<4, 3>(&dims, &logits, &labels, &device);
    let before = softdice_burn::path_calls();
    let loss = DiceLoss::new(DiceConfig::monai()).forward(x.clone(), y);
    let _ = values(x.grad(&loss.backward()).unwrap());
    let after = softdice_burn::path_calls();
    assert!(after.composed > before.composed, "{before:?} -> {after:?}");
}

#[test]
fn bad_labels_are_errors_or_nan_never_a_number() {
    let dims = [2, 3, 4, 4];
    let (logits, mut labels) = data(&dims);
    labels[5] = 7;
    for (name, device, path) in devices() {
        let (x, y) = tensors::<4, 3>(&dims, &logits, &labels, &device);
        let loss = loss_on(&DiceConfig::monai(), &device, path);
        let err = loss
            .try_forward(x.clone(), y.clone())
            .unwrap_err()
            .to_string();
        assert!(err.contains("label"), "{name}: {err}");
        let out = loss.forward(x.clone(), y);
        let grad = values(x.grad(&out.clone().backward()).unwrap());
        let out = values(out);
        assert!(out[0].is_nan(), "{name}: {out:?}");
        // No step from it either: a NaN gradient, not a zero one.
        assert!(grad.iter().all(|g| g.is_nan()), "{name}: {:?}", &grad[..4]);
        // Negative labels (Burn's i32) are out of range too.
        let neg = Tensor::<3, Int>::from_data(
            TensorData::new(vec![-1i32; 2 * 16], [2, 4, 4]),
            &device.clone().autodiff(),
        );
        assert!(loss.try_forward(x, neg).is_err(), "{name}: negative labels");
    }
}

#[test]
fn shape_errors_are_errors() {
    let device = fused();
    let (logits, labels) = data(&[2, 3, 4, 4]);
    let (x, _) = tensors::<4, 3>(&[2, 3, 4, 4], &logits, &labels, &device);
    let wrong = Tensor::<3, Int>::zeros([2, 4, 5], &device.clone().autodiff());
    let err = DiceLoss::new(DiceConfig::monai())
        .try_forward(x, wrong)
        .unwrap_err();
    assert!(err.to_string().contains("labels of shape"), "{err}");
}

#[test]
fn without_autodiff_the_loss_is_the_oracles() {
    let dims = [2, 3, 5, 5];
    let (logits, labels) = data(&dims);
    for (name, device, path) in devices() {
        let x = Tensor::<4>::from_data(TensorData::new(logits.clone(), dims), &device);
        let y: Vec<i32> = labels.iter().map(|&l| l as i32).collect();
        let y = Tensor::<3, Int>::from_data(TensorData::new(y, [2, 5, 5]), &device);
        let out = values(loss_on(&DiceConfig::monai(), &device, path).forward(x, y));
        let (want, _) = oracle(&dims, &DiceConfig::monai(), &logits, &labels, &[1.0]);
        assert_close(&format!("{name}: loss"), &out, &want, 2e-5);
    }
}
