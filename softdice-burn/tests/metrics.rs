//! The validation metrics' counts, taken by Burn operations on the tensors' device, against
//! softdice's exact host counts, on every device of the suite; bad labels are errors.

mod common;

use burn::tensor::{Int, Tensor, TensorData};
use common::*;
use softdice::metrics::DiceMetric;
use softdice::{Activation, Shape, Targets, cpu};
use softdice_burn::metrics::{Decision, confusion_counts};

#[test]
fn counts_on_every_device_equal_the_host_counts() {
    let dims = [3, 4, 9, 7];
    let shape = Shape::new(&dims).unwrap();
    let (logits, mut labels) =
        softdice_support::inputs::logits_and_labels(shape.len(), shape.pixels(), 4);
    // Some ignored pixels, and class 3 missing from sample 0.
    for (i, l) in labels.iter_mut().enumerate() {
        if i % 11 == 3 {
            *l = 255;
        } else if i < shape.spatial() && *l == 3 {
            *l = 0;
        }
    }
    let decisions = [
        (Decision::Argmax, Activation::Softmax, Some(255)),
        (Decision::HALF, Activation::Sigmoid, Some(255)),
        (
            Decision::Threshold {
                value: 0.25,
                inclusive: true,
            },
            Activation::Softmax,
            Some(255),
        ),
    ];
    for (name, device, _) in devices() {
        for (decision, activation, ignore) in decisions {
            let (x, y) = tensors::<4, 3>(&dims, &logits, &labels, &device);
            let got = confusion_counts(x, y, decision, activation, ignore)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let want = cpu::confusion_counts(
                &shape,
                &logits,
                Targets::Labels(&labels),
                decision,
                activation,
                ignore,
            )
            .unwrap();
            assert_eq!(got, want, "{name}, {decision:?}");
            // A real metric of them: sample 0 has no class 3, so its cell is left out.
            let dice = DiceMetric::monai().compute(&got).unwrap();
            assert_eq!(dice.not_nans, vec![3.0], "{name}");
        }
    }
}

#[test]
fn bad_labels_and_shapes_are_errors() {
    for (name, device, _) in devices() {
        let x = Tensor::<4>::zeros([1, 2, 2, 2], &device);
        let bad =
            Tensor::<3, Int>::from_data(TensorData::new(vec![0i32, 1, 2, -1], [1, 2, 2]), &device);
        let err = confusion_counts(x.clone(), bad, Decision::Argmax, Activation::Softmax, None);
        assert!(
            matches!(
                err,
                Err(softdice_burn::Error::Dice(
                    softdice::DiceError::LabelOutOfRange { count: 2, .. }
                ))
            ),
            "{name}: {err:?}"
        );
        let short = Tensor::<3, Int>::zeros([1, 2, 1], &device);
        let err = confusion_counts(x, short, Decision::Argmax, Activation::Softmax, None);
        assert!(
            matches!(err, Err(softdice_burn::Error::LabelShape { .. })),
            "{name}"
        );
    }
}
