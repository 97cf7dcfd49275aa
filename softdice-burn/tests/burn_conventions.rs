//! The loss the way Burn programs make it: `DiceLossConfig` (a Burn `Config`, saved and loaded
//! as JSON), `init(&device)` on Burn's own devices (taken over for the fused path when the loss
//! is first, the host path with one warning when Burn was), a `DiceLoss` inside a
//! `#[derive(Module)]` model, typed errors. A binary of its own: Burn's devices are process
//! state, and these tests decide who initialises them.

mod common;

use std::sync::{Mutex, OnceLock};

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, DeviceKind, Int, Tensor, TensorData};
use common::*;
use softdice::{DiceConfig, DiceError};
use softdice_burn::{DiceLoss, DiceLossConfig, Error, LossPath};

/// The `log` records of this process, for the one warning of the host path.
struct Records(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Records {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        if record.target().starts_with("softdice_burn") {
            let line = record.args().to_string();
            self.0.lock().unwrap().push((record.level(), line));
        }
    }
    fn flush(&self) {}
}

fn records() -> &'static Records {
    static RECORDS: OnceLock<&'static Records> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let records: &'static Records = Box::leak(Box::new(Records(Mutex::new(Vec::new()))));
        log::set_logger(records).expect("no other logger in this binary");
        log::set_max_level(log::LevelFilter::Info);
        records
    })
}

/// `loss_fn` on the standard data on `device` against the oracle, loss and `x.grad()`.
fn matches_the_oracle(loss_fn: &DiceLoss, device: &Device, what: &str) {
    let dims = [2, 3, 6, 5];
    let (logits, labels) = data(&dims);
    let (x, y) = tensors::<4, 3>(&dims, &logits, &labels, device);
    let out = loss_fn.forward(x.clone(), y);
    let grads = (out.clone() * 0.7).backward();
    let grad = values(x.grad(&grads).expect("logits require grad"));
    let (want, want_grad) = oracle(&dims, loss_fn.config(), &logits, &labels, &[0.7]);
    assert_close(&format!("{what}: loss"), &values(out), &want, 2e-5);
    assert_close(&format!("{what}: gradient"), &grad, &want_grad, 2e-4);
}

#[test]
fn burns_default_device_initialised_by_the_loss_runs_the_fused_kernels() {
    records();
    // As every Burn program makes it, before its first tensor.
    let device = Device::default();
    let loss_fn = DiceLossConfig::nnunet_dc_and_ce().init(&device);
    assert_eq!(loss_fn.path(&device).unwrap(), LossPath::Fused);
    // The model's tensors come after; Burn runs on the device the loss initialised.
    let before = softdice_burn::path_calls().fused;
    matches_the_oracle(&loss_fn, &device, "nnunet dc+ce on Device::default()");
    assert!(
        softdice_burn::path_calls().fused > before,
        "the fused kernels ran"
    );
    // A second init on the same device is the same device.
    assert_eq!(
        softdice_burn::init_device(&device).unwrap(),
        LossPath::Fused
    );
}

#[test]
fn a_device_burn_initialised_first_takes_the_composed_path_and_says_so_once() {
    let records = records();
    let device = Device::wgpu(DeviceKind::Cpu);
    // Burn initialises it: a tensor before the loss.
    let _model_weights = Tensor::<1>::zeros([4], &device);
    let loss_fn = DiceLossConfig::monai().try_init(&device).unwrap();
    assert_eq!(loss_fn.path(&device).unwrap(), LossPath::Composed);
    matches_the_oracle(&loss_fn, &device, "monai on a Burn-initialised device");
    matches_the_oracle(
        &loss_fn,
        &device,
        "monai on a Burn-initialised device, again",
    );
    let printed = format!("{device:?}");
    let warnings: Vec<String> = records
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(level, line)| *level == log::Level::Warn && line.contains(&printed))
        .map(|(_, line)| line.clone())
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning for the device: {warnings:?}"
    );
    assert!(warnings[0].contains("composed path"), "{}", warnings[0]);
}

#[test]
fn the_config_is_a_burn_config_saved_and_loaded_as_json() {
    // The default is MONAI's DiceLoss, as DiceConfig::monai().
    assert_eq!(DiceLossConfig::new().dice, DiceConfig::monai());
    let presets = [
        DiceLossConfig::seed(),
        DiceLossConfig::monai(),
        DiceLossConfig::monai_generalized(softdice::GeneralizedWeight::Simple),
        DiceLossConfig::monai_dice_ce(),
        DiceLossConfig::monai_tversky(0.3, 0.7),
        DiceLossConfig::smp_multiclass(),
        DiceLossConfig::smp_multilabel(),
        DiceLossConfig::smp_tversky(0.5, 0.5, 2.0),
        DiceLossConfig::smp_jaccard(),
        DiceLossConfig::nnunet(),
        DiceLossConfig::nnunet_dc_and_ce(),
    ];
    for config in presets {
        let json = config.to_string();
        let back = DiceLossConfig::load_binary(json.as_bytes())
            .unwrap_or_else(|e| panic!("{json}: {e:?}"));
        assert_eq!(back.dice, config.dice, "{json}");
    }
    // Each preset is its DiceConfig's (one name each, one source).
    assert_eq!(
        DiceLossConfig::smp_jaccard().dice,
        DiceConfig::smp_jaccard()
    );
    assert_eq!(
        DiceLossConfig::smp_tversky(0.2, 0.8, 1.5).dice,
        DiceConfig::smp_tversky(0.2, 0.8, 1.5)
    );
}

/// A segmentation head with its loss, as burn-nn's layers sit in a model.
#[derive(Module, Debug)]
struct Head {
    conv: Conv2d,
    loss: DiceLoss,
}

#[test]
fn the_loss_is_a_module_field_of_a_model() {
    let device = fused();
    let head = Head {
        conv: Conv2dConfig::new([3, 3], [1, 1]).init(&device),
        loss: DiceLossConfig::monai().init(&device),
    };
    // The loss has no parameters: the model's are the convolution's 3·3 + 3.
    assert_eq!(head.num_params(), 12);
    let head = head.clone();
    matches_the_oracle(&head.loss, &device, "a model's loss field");
}

#[test]
fn init_refuses_what_cannot_run_with_typed_errors() {
    let device = fused();
    let bad = DiceLossConfig::new().with_dice(DiceConfig {
        smooth_dr: -1.0,
        ..DiceConfig::monai()
    });
    let err = bad.try_init(&device).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Dice(DiceError::InvalidParameter {
                name: "smooth_dr",
                ..
            })
        ),
        "{err}"
    );
    // Weights that disagree with each other on the class count.
    let bad = DiceLossConfig::new().with_dice(DiceConfig {
        class_weights: Some(vec![1.0; 3]),
        classes: softdice::ClassSelection::Subset(vec![0, 4]),
        ..DiceConfig::monai()
    });
    assert!(bad.try_init(&device).is_err());
    // Labels of another shape: the dims in the error's fields.
    let loss_fn = DiceLossConfig::monai().init(&device);
    let (logits, labels) = data(&[2, 3, 4, 4]);
    let (x, _) = tensors::<4, 3>(&[2, 3, 4, 4], &logits, &labels, &device);
    let wrong = Tensor::<3, Int>::zeros([2, 4, 5], &device.clone().autodiff());
    match loss_fn.try_forward(x.clone(), wrong).unwrap_err() {
        Error::LabelShape { expected, .. } => assert_eq!(expected, [2, 4, 4]),
        e => panic!("{e}"),
    }
    // Merged statistics of another shape.
    let other = Tensor::<3, Int>::from_data(
        TensorData::new(vec![0i32; 2 * 16], [2, 4, 4]),
        &device.clone().autodiff(),
    );
    let nnunet = DiceLossConfig::nnunet().init(&device);
    let (small, _) = tensors::<4, 3>(&[2, 2, 4, 4], &logits[..64], &labels, &device);
    let sums = nnunet.sums(small, other.clone()).unwrap();
    match nnunet.forward_merged(x, other, &sums).unwrap_err() {
        Error::MergedLength { got, expected } => assert!(got < expected, "{got} {expected}"),
        e => panic!("{e}"),
    }
}
