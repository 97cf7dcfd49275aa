//! The metrics against MONAI 1.6.1: `tests/fixtures/metric_cases.json` (from
//! `tools/gen_metric_fixtures.py`) holds raw logits, labels or dense targets and what
//! `DiceMetric`, `MeanIoU` and `ConfusionMatrixMetric` aggregate from them; each case is
//! counted by `cpu::confusion_counts` (labels as u32, u16 and u8) and scored here. Counts merged
//! from batch shards and spatial tiles equal the whole batch's.

use serde_json::Value;
use softdice::metrics::{
    ConfusionCounts, ConfusionMatrixMetric, ConfusionMetric, Decision, DiceMetric, MeanIoU,
    MetricReduction, Reduced,
};
use softdice::{cpu, Activation, Shape, Targets};

struct Case {
    name: String,
    shape: Vec<usize>,
    preds: Vec<f32>,
    labels: Option<Vec<u32>>,
    dense: Option<Vec<f32>>,
    decision: (Decision, Activation),
    json: Value,
}

fn cases() -> Vec<Case> {
    let text = include_str!("fixtures/metric_cases.json");
    let root: Value = serde_json::from_str(text).expect("metric_cases.json parses");
    let f32s = |v: &Value| -> Vec<f32> {
        let a = v.as_array().expect("an array");
        a.iter()
            .map(|x| x.as_f64().expect("a number") as f32)
            .collect()
    };
    root["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().expect("name").to_string(),
            shape: c["shape"]
                .as_array()
                .expect("shape")
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect(),
            preds: f32s(&c["preds"]),
            labels: c
                .get("labels")
                .map(|l| f32s(l).into_iter().map(|v| v as u32).collect()),
            dense: c.get("dense").map(f32s),
            decision: match c["decision"].as_str().expect("decision") {
                "argmax" => (Decision::Argmax, Activation::Softmax),
                "sigmoid" => (Decision::HALF, Activation::Sigmoid),
                other => panic!("{}: unknown decision {other}", c["name"]),
            },
            json: c.clone(),
        })
        .collect()
}

/// The case's keyword arguments, refusing any this runner does not read.
fn kwargs(case: &Case) -> &serde_json::Map<String, Value> {
    let kw = case.json["kwargs"].as_object().expect("kwargs");
    let known = [
        "include_background",
        "reduction",
        "ignore_empty",
        "ignore_index",
        "compute_sample",
    ];
    for key in kw.keys() {
        assert!(
            known.contains(&key.as_str()),
            "{}: unmapped argument {key}",
            case.name
        );
    }
    kw
}

/// MONAI's `ignore_index` split into the counts' ignore label and the metric's zeroed class:
/// DiceMetric masks pixels for any value; MeanIoU and ConfusionMatrixMetric zero an in-range
/// class channel instead.
fn ignores(case: &Case, spatial_for_any: bool) -> (Option<u32>, Option<usize>) {
    let classes = case.shape[1] as u64;
    match kwargs(case).get("ignore_index").and_then(Value::as_u64) {
        Some(i) if i < classes && !spatial_for_any => (None, Some(i as usize)),
        Some(i) => (Some(i as u32), None),
        None => (None, None),
    }
}

fn counts(case: &Case, ignore: Option<u32>, width: u32) -> ConfusionCounts {
    let shape = Shape::new(&case.shape).unwrap();
    let (decision, activation) = case.decision;
    let run =
        |t: Targets| cpu::confusion_counts(&shape, &case.preds, t, decision, activation, ignore);
    let out = match (&case.labels, &case.dense) {
        (Some(l), _) if width == 8 => run(Targets::LabelsU8(
            &l.iter().map(|&v| v as u8).collect::<Vec<_>>(),
        )),
        (Some(l), _) if width == 16 => run(Targets::LabelsU16(
            &l.iter().map(|&v| v as u16).collect::<Vec<_>>(),
        )),
        (Some(l), _) => run(Targets::Labels(l)),
        (None, Some(d)) => run(Targets::Dense(d)),
        (None, None) => panic!("{}: no targets", case.name),
    };
    out.unwrap_or_else(|e| panic!("{}: {e}", case.name))
}

fn reduction(case: &Case) -> MetricReduction {
    let name = kwargs(case)
        .get("reduction")
        .and_then(Value::as_str)
        .unwrap_or("mean");
    MetricReduction::from_name(name).unwrap()
}

fn flag(case: &Case, key: &str, default: bool) -> bool {
    kwargs(case)
        .get(key)
        .and_then(Value::as_bool)
        .unwrap_or(default)
}

fn check(case: &Case, what: &str, got: &Reduced, expected: &Value) {
    let values = expected["values"].as_array().unwrap();
    let shape: Vec<usize> = expected["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let mut not_nans: Vec<f64> = expected["not_nans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // ConfusionMatrixMetric without compute_sample repeats the count for each of the four.
    if not_nans.len() == 4 * values.len() {
        not_nans = not_nans.iter().step_by(4).copied().collect();
    }
    assert_eq!(got.shape, shape, "{} {what}: shape", case.name);
    assert_eq!(got.not_nans, not_nans, "{} {what}: not_nans", case.name);
    for (i, (g, e)) in got.values.iter().zip(values).enumerate() {
        match e.as_f64() {
            None => assert!(g.is_nan(), "{} {what}[{i}]: {g}, MONAI NaN", case.name),
            // MONAI scores in f32.
            Some(e) => assert!(
                (g - e).abs() <= 2e-6 * e.abs().max(1.0),
                "{} {what}[{i}]: {g} vs MONAI {e}",
                case.name
            ),
        }
    }
}

fn score(case: &Case, counts: &ConfusionCounts) {
    let (include_background, red) = (flag(case, "include_background", true), reduction(case));
    let expected = case.json["expected"].as_array().unwrap();
    match case.json["metric"].as_str().unwrap() {
        "DiceMetric" => {
            let m = DiceMetric::monai()
                .include_background(include_background)
                .ignore_empty(flag(case, "ignore_empty", true))
                .reduction(red);
            check(case, "dice", &m.compute(counts).unwrap(), &expected[0]);
        }
        "MeanIoU" => {
            let m = MeanIoU::monai()
                .include_background(include_background)
                .ignore_empty(flag(case, "ignore_empty", true))
                .reduction(red)
                .ignore_class(ignores(case, false).1);
            check(case, "iou", &m.compute(counts).unwrap(), &expected[0]);
        }
        "ConfusionMatrixMetric" => {
            let names = case.json["metric_names"].as_array().unwrap();
            for (name, e) in names.iter().zip(expected) {
                let name = name.as_str().unwrap();
                let m = ConfusionMatrixMetric {
                    include_background,
                    compute_sample: flag(case, "compute_sample", false),
                    reduction: red,
                    ignore_class: ignores(case, false).1,
                    ..ConfusionMatrixMetric::monai(ConfusionMetric::from_name(name).unwrap())
                };
                check(case, name, &m.compute(counts).unwrap(), e);
            }
        }
        other => panic!("{}: unmapped metric {other}", case.name),
    }
}

#[test]
fn every_monai_metric_case_matches() {
    let cases = cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for case in &cases {
        let spatial = case.json["metric"] == "DiceMetric";
        let ignore = ignores(case, spatial).0;
        let whole = counts(case, ignore, 32);
        if case.labels.is_some() {
            assert_eq!(counts(case, ignore, 16), whole, "{}: u16 labels", case.name);
            assert_eq!(counts(case, ignore, 8), whole, "{}: u8 labels", case.name);
        }
        score(case, &whole);
    }
}

/// Counts of a sub-batch (samples `b0..b1`) and a spatial tile (`s0..s1` of every sample).
fn part(case: &Case, b: std::ops::Range<usize>, s: std::ops::Range<usize>) -> ConfusionCounts {
    let (n_c, n_s) = (case.shape[1], case.shape[2..].iter().product::<usize>());
    let pick = |v: &[f32], per_pixel: usize| -> Vec<f32> {
        let mut out = Vec::new();
        for bi in b.clone() {
            for c in 0..per_pixel {
                out.extend(s.clone().map(|si| v[(bi * per_pixel + c) * n_s + si]));
            }
        }
        out
    };
    let sub = Case {
        name: case.name.clone(),
        shape: vec![b.len(), n_c, s.len()],
        preds: pick(&case.preds, n_c),
        labels: case.labels.as_ref().map(|l| {
            let f: Vec<f32> = l.iter().map(|&v| v as f32).collect();
            pick(&f, 1).into_iter().map(|v| v as u32).collect()
        }),
        dense: case.dense.as_ref().map(|d| pick(d, n_c)),
        decision: case.decision,
        json: case.json.clone(),
    };
    counts(&sub, ignores(case, true).0, 32)
}

#[test]
fn counts_merged_over_shards_and_tiles_equal_the_whole_batch() {
    for case in cases().iter().filter(|c| c.shape[0] >= 2) {
        let (b, n_s) = (case.shape[0], case.shape[2..].iter().product::<usize>());
        let whole = counts(case, ignores(case, true).0, 32);
        let mut shards = part(case, 0..1, 0..n_s);
        shards.append_samples(&part(case, 1..b, 0..n_s)).unwrap();
        assert_eq!(shards, whole, "{}: batch shards", case.name);
        let mut tiles = part(case, 0..b, 0..n_s / 3);
        tiles.add(&part(case, 0..b, n_s / 3..n_s)).unwrap();
        assert_eq!(tiles, whole, "{}: spatial tiles", case.name);
    }
}

#[test]
fn bad_inputs_are_errors() {
    let shape = Shape::new(&[1, 2, 2, 2]).unwrap();
    let preds = [0.0f32; 8];
    let go = |p: &[f32], t: Targets| {
        cpu::confusion_counts(
            &shape,
            p,
            t,
            Decision::Argmax,
            Activation::Softmax,
            Some(255),
        )
    };
    assert!(
        go(&preds[..7], Targets::Labels(&[0; 4])).is_err(),
        "short predictions"
    );
    assert!(
        go(&preds, Targets::Labels(&[0; 3])).is_err(),
        "short labels"
    );
    assert!(
        go(&preds, Targets::Labels(&[0, 1, 2, 255])).is_err(),
        "label 2 of 2 classes"
    );
    let mut nan = preds;
    nan[3] = f32::NAN;
    assert!(
        go(&nan, Targets::Labels(&[0; 4])).is_err(),
        "NaN prediction"
    );
    assert!(
        go(
            &preds,
            Targets::Dense(&[0.0, 1.0, 0.5, 0.0, 1.0, 0.0, 1.0, 0.0])
        )
        .is_err(),
        "soft dense target"
    );
    assert!(ConfusionMetric::from_name("f2 score").is_err());
    let counts = go(&preds, Targets::Labels(&[0, 1, 255, 0])).unwrap();
    // Argmax of equal logits is class 0; the ignored pixel counts nowhere.
    assert_eq!(counts.cell(0, 0).as_array(), [2, 1, 0, 0]);
    assert!(MeanIoU::monai()
        .ignore_class(Some(2))
        .compute(&counts)
        .is_err());
}
