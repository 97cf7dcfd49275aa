//! Reads a reference fixture file (the format of `gen_fixtures.py`), maps each case's library
//! call to a [`DiceConfig`] by reading the call's keyword arguments, and compares the GPU and
//! the CPU oracle with the Python numbers. Shared by `examples/parity` and the parity test.

use std::collections::HashMap;

use serde::Deserialize;

use crate::activation::HostActivation;
use crate::pycall::{parse_call, Kwargs, Value};
use softdice::{
    cpu, Activation, ClassSelection, CrossEntropy, DiceConfig, DiceContext, GeneralizedWeight,
    Gradient, LossForm, Reduction, Scope, Shape, Targets, WeightMode,
};

/// Loss: relative bar (with a floor for losses at zero).
pub const LOSS_REL: f64 = 1e-5;
pub const LOSS_ABS_FLOOR: f64 = 1e-7;
/// Gradient: `abs + rel * |want|`.
pub const GRAD_ABS: f64 = 1e-6;
pub const GRAD_REL: f64 = 1e-4;

#[derive(Deserialize)]
pub struct Fixture {
    #[serde(default)]
    pub generator: serde_json::Value,
    pub inputs: HashMap<String, Input>,
    pub cases: Vec<Case>,
}

#[derive(Deserialize)]
pub struct Input {
    pub shape: Vec<usize>,
    pub dtype: String,
    pub data: Vec<f64>,
}

#[derive(Deserialize)]
pub struct Case {
    pub id: String,
    pub library: String,
    pub call: String,
    pub input: String,
    pub input_kind: String,
    pub target: String,
    pub target_kind: String,
    pub loss_shape: Vec<usize>,
    pub loss: Vec<f64>,
    pub grad: Vec<f64>,
    /// The Python warnings the call raised, where the generator recorded them.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// One case's outcome on one path.
pub struct Outcome {
    pub id: String,
    /// Worst relative loss error over the loss elements, over the paths run.
    pub loss_err: f64,
    /// Worst absolute gradient error.
    pub grad_err: f64,
    pub pass: bool,
    /// Why it failed, or which paths ran.
    pub note: String,
}

impl Fixture {
    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
    }
}

/// Targets as read from the fixture.
pub enum OwnedTargets {
    Labels(Vec<u32>),
    Dense(Vec<f32>),
}

impl OwnedTargets {
    pub fn as_targets(&self) -> Targets<'_> {
        match self {
            OwnedTargets::Labels(v) => Targets::Labels(v),
            OwnedTargets::Dense(v) => Targets::Dense(v),
        }
    }
}

/// What a case asks for, in softdice's terms.
pub struct Mapped {
    pub shape: Shape,
    pub config: DiceConfig,
    pub preds: Vec<f32>,
    pub targets: OwnedTargets,
    /// An activation the call names that softdice does not fuse (MONAI `other_act`): applied
    /// around softdice's call, which then takes its output as probabilities.
    pub act: Option<HostActivation>,
    /// The warnings the Python call prints for this mapping (MONAI's single-channel fallbacks).
    pub warnings: Vec<String>,
}

/// The parameters of each mapped class in signature order, for its positional arguments.
fn signature(library: &str, name: &str) -> Vec<&'static str> {
    // MONAI's losses open with the same five, its Dice family goes on with the same six; smp's
    // open with the same seven.
    const MONAI: &[&str] = &[
        "include_background",
        "to_onehot_y",
        "sigmoid",
        "softmax",
        "other_act",
    ];
    const MONAI_DICE: &[&str] = &[
        "squared_pred",
        "jaccard",
        "reduction",
        "smooth_nr",
        "smooth_dr",
        "batch",
    ];
    const MONAI_SMOOTH: &[&str] = &["reduction", "smooth_nr", "smooth_dr", "batch"];
    const SMP: &[&str] = &[
        "mode",
        "classes",
        "log_loss",
        "from_logits",
        "smooth",
        "ignore_index",
        "eps",
    ];
    let parts: &[&[&str]] = match (library, name) {
        ("seed", _) => &[&["num_classes", "eps"]],
        ("monai", "DiceLoss") => &[MONAI, MONAI_DICE, &["weight", "soft_label", "ignore_index"]],
        ("monai", "DiceCELoss") => &[
            MONAI,
            MONAI_DICE,
            &["weight", "lambda_dice", "lambda_ce", "label_smoothing"],
        ],
        ("monai", "DiceFocalLoss") => &[
            MONAI,
            MONAI_DICE,
            &["gamma", "weight", "lambda_dice", "lambda_focal", "alpha"],
        ],
        ("monai", "GeneralizedDiceLoss") => &[MONAI, &["w_type"], MONAI_SMOOTH, &["soft_label"]],
        ("monai", "GeneralizedDiceFocalLoss") => &[
            MONAI,
            &["w_type"],
            MONAI_SMOOTH,
            &["gamma", "weight", "lambda_gdl", "lambda_focal"],
        ],
        ("monai", "TverskyLoss") => &[
            MONAI,
            &["alpha", "beta"],
            MONAI_SMOOTH,
            &["soft_label", "ignore_index"],
        ],
        ("monai", "FocalLoss") => &[&[
            "include_background",
            "to_onehot_y",
            "gamma",
            "alpha",
            "weight",
            "reduction",
            "use_softmax",
            "ignore_index",
        ]],
        ("nnunet", "DC_and_CE_loss") => &[&[
            "soft_dice_kwargs",
            "ce_kwargs",
            "weight_ce",
            "weight_dice",
            "ignore_label",
            "dice_class",
        ]],
        ("nnunet", _) => &[&["apply_nonlin", "batch_dice", "do_bg", "smooth"]],
        ("torch", "CrossEntropyLoss") => &[&[
            "weight",
            "size_average",
            "ignore_index",
            "reduce",
            "reduction",
            "label_smoothing",
        ]],
        ("torch", "BCEWithLogitsLoss") => &[&[
            "weight",
            "size_average",
            "reduce",
            "reduction",
            "pos_weight",
        ]],
        ("smp", "DiceLoss" | "JaccardLoss") => &[SMP, &["class_weights"]],
        ("smp", "TverskyLoss") => &[SMP, &["alpha", "beta", "gamma", "class_weights"]],
        ("smp", "MCCLoss") => &[&["eps"]],
        ("smp", "SoftCrossEntropyLoss") => {
            &[&["reduction", "smooth_factor", "ignore_index", "dim"]]
        }
        ("smp", "SoftBCEWithLogitsLoss") => &[&[
            "weight",
            "ignore_index",
            "reduction",
            "smooth_factor",
            "pos_weight",
        ]],
        _ => &[],
    };
    parts.concat()
}

/// A dense value standing for "ignored" where the call's ignore value is not a u32 or where
/// MONAI's mask is spatial: 2^24 - 1, exact in f32.
const IGNORED: u32 = (1 << 24) - 1;

/// Labels as u32 with the call's ignore label: a negative ignore label (`-1`, `-100`) becomes
/// [`IGNORED`]; any other negative label is an error.
fn labels_with_ignore(
    labels: &[i64],
    ignore: Option<i64>,
) -> Result<(Vec<u32>, Option<u32>), String> {
    let ignore_u32 = ignore.map(|l| u32::try_from(l).unwrap_or(IGNORED));
    let labels = labels
        .iter()
        .map(|&l| match u32::try_from(l) {
            _ if Some(l) == ignore => Ok(ignore_u32.unwrap()),
            Ok(v) if v != IGNORED || ignore_u32 == Some(IGNORED) => Ok(v),
            _ => Err(format!("label {l} cannot be mapped")),
        })
        .collect::<Result<_, _>>()?;
    Ok((labels, ignore_u32))
}

/// Dense targets with the pixels (or elements) `masked` marks set to [`IGNORED`] in every class,
/// ignored through `ignore_index`: the kernels then leave them out of every sum, as a 0/1
/// mask multiplied into both inputs after the activation does.
fn mask_dense(
    shape: &Shape,
    dense: &mut [f32],
    masked: impl Fn(&[f32], usize, usize, usize) -> Result<bool, String>,
) -> Result<u32, String> {
    if dense.contains(&(IGNORED as f32)) {
        return Err(format!(
            "dense targets hold {IGNORED}, the runner's ignore value"
        ));
    }
    let (n_c, n_s) = (shape.classes(), shape.spatial());
    let mut hits = Vec::new();
    for b in 0..shape.batch() {
        for s in 0..n_s {
            for c in 0..n_c {
                if masked(dense, b, c, s)? {
                    hits.push((b * n_c + c) * n_s + s);
                }
            }
        }
    }
    for i in hits {
        dense[i] = IGNORED as f32;
    }
    Ok(IGNORED)
}

/// Maps one case's library call and inputs to a softdice config (and the host activation
/// around it, if any).
pub fn map_case(fixture: &Fixture, case: &Case) -> Result<Mapped, String> {
    let input = fixture
        .inputs
        .get(&case.input)
        .ok_or(format!("no input {}", case.input))?;
    let target = fixture
        .inputs
        .get(&case.target)
        .ok_or(format!("no input {}", case.target))?;
    let shape = Shape::new(&input.shape).map_err(|e| e.to_string())?;
    let n_c = shape.classes();
    let logits = match case.input_kind.as_str() {
        "logits" => true,
        "probs" => false,
        other => return Err(format!("unknown input_kind {other}")),
    };
    let dense = match case.target_kind.as_str() {
        "labels" => false,
        "onehot" | "soft" => true,
        other => return Err(format!("unknown target_kind {other}")),
    };
    let given = if dense {
        // One channel: `[B, 1, ...]` or `[B, ...]`, the same elements.
        let fits = target.shape == input.shape
            || (n_c == 1 && target.data.len() == shape.len() && target.shape[0] == shape.batch());
        if !fits {
            return Err(format!(
                "dense target shape {:?} != {:?}",
                target.shape, input.shape
            ));
        }
        Given::Dense(target.data.iter().map(|&v| v as f32).collect())
    } else {
        if target.dtype != "i64" {
            return Err(format!("labels of dtype {}", target.dtype));
        }
        let labels = target
            .data
            .iter()
            .map(|&v| {
                if v.fract() == 0.0 && v.abs() < 2f64.powi(53) {
                    Ok(v as i64)
                } else {
                    Err(format!("label {v} is not an integer"))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if labels.len() != shape.pixels() {
            return Err(format!(
                "{} labels for {} pixels",
                labels.len(),
                shape.pixels()
            ));
        }
        Given::Labels(labels)
    };
    let preds: Vec<f32> = input.data.iter().map(|&v| v as f32).collect();
    let mut extras = Extras::default();
    let terms = split_sum(&case.call);
    let (config, targets) = if terms.len() > 1 {
        map_sum(&terms, &shape, logits, given, &mut extras)?
    } else {
        map_call(
            &case.library,
            &case.call,
            &shape,
            logits,
            given,
            &mut extras,
        )?
    };
    Ok(Mapped {
        shape,
        config,
        preds,
        targets,
        act: extras.act,
        warnings: extras.warnings,
    })
}

/// The top-level terms of `A + B` (a call alone is one term).
fn split_sum(call: &str) -> Vec<String> {
    let mut depth = 0i32;
    let mut terms = vec![String::new()];
    for ch in call.chars() {
        match ch {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            '+' if depth == 0 => {
                terms.push(String::new());
                continue;
            }
            _ => {}
        }
        terms.last_mut().unwrap().push(ch);
    }
    terms.iter().map(|t| t.trim().to_string()).collect()
}

/// The library a call's module names.
fn library_of(call: &str) -> Result<&'static str, String> {
    let module = call.split('(').next().unwrap_or("");
    Ok(match module {
        m if m.starts_with("segmentation_models_pytorch.") => "smp",
        m if m.starts_with("monai.") => "monai",
        m if m.starts_with("torch.nn.") => "torch",
        _ => return Err(format!("the library of `{call}` is not mapped")),
    })
}

/// A hand-written sum `[a *] DiceCall(...) + [b *] torch.nn.CrossEntropyLoss(...)` (what smp
/// users write): the Dice term's config with the cross-entropy term of the other, each term's
/// weight its lambda.
fn map_sum(
    terms: &[String],
    shape: &Shape,
    logits: bool,
    given: Given,
    extras: &mut Extras,
) -> Result<(DiceConfig, OwnedTargets), String> {
    let [dice, ce] = terms else {
        return Err("only sums of two terms are mapped".into());
    };
    let weighted = |term: &str| -> Result<(f32, String), String> {
        match term.split_once('*') {
            Some((w, call)) if !w.contains('(') => Ok((
                w.trim()
                    .parse()
                    .map_err(|e| format!("term weight {w}: {e}"))?,
                call.trim().to_string(),
            )),
            _ => Ok((1.0, term.to_string())),
        }
    };
    let (dice_weight, dice_call) = weighted(dice)?;
    let (ce_weight, ce_call) = weighted(ce)?;
    let library = library_of(&dice_call)?;
    let (mut config, targets) =
        map_call(library, &dice_call, shape, logits, given.clone(), extras)?;
    if library_of(&ce_call)? != "torch" || extras.act.is_some() || config.cross_entropy.is_some() {
        return Err("a sum is mapped as a Dice call plus a torch.nn cross-entropy call".into());
    }
    let (ce_config, ce_targets) = map_call("torch", &ce_call, shape, logits, given, extras)?;
    let mut ce = ce_config
        .cross_entropy
        .ok_or("the second term has no cross-entropy")?;
    if ce_config.reduction != Reduction::Mean || config.reduction != Reduction::Mean {
        return Err("a sum is mapped with mean reductions".into());
    }
    // An ignore label only one term sets, that no target holds, ignores nothing (PyTorch's
    // default ignore_index -100).
    let holds = |t: &OwnedTargets, l: u32| match t {
        OwnedTargets::Labels(v) => v.contains(&l),
        OwnedTargets::Dense(v) => v.contains(&(l as f32)),
    };
    config.ignore_index = match (config.ignore_index, ce_config.ignore_index) {
        (a, b) if a == b => a,
        (Some(l), None) | (None, Some(l)) if !holds(&ce_targets, l) => None,
        _ => return Err("the two terms ignore different labels".into()),
    };
    let same_targets = matches!(
        (&targets, &ce_targets),
        (OwnedTargets::Labels(_), OwnedTargets::Labels(_))
            | (OwnedTargets::Dense(_), OwnedTargets::Dense(_))
    );
    if !same_targets {
        return Err("the two terms read the targets differently".into());
    }
    config.lambda_dice *= dice_weight;
    ce.lambda *= ce_weight;
    config.cross_entropy = Some(ce);
    Ok((config, targets))
}

/// What a mapping hands back besides the config and targets.
#[derive(Default)]
struct Extras {
    /// A host activation around softdice (MONAI `other_act`).
    act: Option<HostActivation>,
    /// The warnings the Python call prints.
    warnings: Vec<String>,
}

/// Maps one library call.
fn map_call(
    library: &str,
    call: &str,
    shape: &Shape,
    logits: bool,
    given: Given,
    extras: &mut Extras,
) -> Result<(DiceConfig, OwnedTargets), String> {
    let n_c = shape.classes();
    let (name, args) = parse_call(call)?;
    let mut kw = Kwargs::new(args, &signature(library, &name))?;
    let (config, targets) = match library {
        "seed" => {
            kw.take("num_classes");
            let eps = kw.num("eps", 1e-5)? as f32;
            let config = DiceConfig {
                activation: if logits {
                    Activation::Softmax
                } else {
                    Activation::None
                },
                smooth_nr: eps,
                smooth_dr: eps,
                ..DiceConfig::seed()
            };
            (config, given.plain()?)
        }
        "monai" => map_monai(&name, &mut kw, shape, given, extras)?,
        "smp" if name.starts_with("Soft") => map_smp_soft(&name, &mut kw, shape, given)?,
        "smp" => map_smp(&name, &mut kw, n_c, given)?,
        "nnunet" => map_nnunet(&name, call, &mut kw, given)?,
        "torch" => map_torch(&name, &mut kw, n_c, given)?,
        other => return Err(format!("unknown library {other}")),
    };
    kw.done()?;
    Ok((config, targets))
}

/// The fixture's targets before the call decides what they are.
#[derive(Clone)]
enum Given {
    Labels(Vec<i64>),
    Dense(Vec<f32>),
}

impl Given {
    /// Labels with an ignore label, or an error for dense targets.
    fn labels(self, ignore: Option<i64>) -> Result<(OwnedTargets, Option<u32>), String> {
        match self {
            Given::Labels(l) => {
                let (labels, ignore) = labels_with_ignore(&l, ignore)?;
                Ok((OwnedTargets::Labels(labels), ignore))
            }
            Given::Dense(_) => {
                Err("the call takes integer labels, the case gives dense targets".into())
            }
        }
    }

    /// As given, nothing ignored.
    fn plain(self) -> Result<OwnedTargets, String> {
        Ok(match self {
            Given::Labels(l) => OwnedTargets::Labels(labels_with_ignore(&l, None)?.0),
            Given::Dense(d) => OwnedTargets::Dense(d),
        })
    }

    /// Dense values, labels read as numbers (a one-channel call that takes labels as they are).
    fn dense(self) -> Vec<f32> {
        match self {
            Given::Labels(l) => l.iter().map(|&v| v as f32).collect(),
            Given::Dense(d) => d,
        }
    }
}

fn reduction(name: &str) -> Result<Reduction, String> {
    match name {
        "mean" => Ok(Reduction::Mean),
        "sum" => Ok(Reduction::Sum),
        "none" => Ok(Reduction::None),
        other => Err(format!("reduction {other}")),
    }
}

/// MONAI's warning for a single-channel fallback, word for word.
fn monai_warning(what: &str) -> String {
    format!("single channel prediction, `{what}` ignored.")
}

fn map_monai(
    name: &str,
    kw: &mut Kwargs,
    shape: &Shape,
    given: Given,
    extras: &mut Extras,
) -> Result<(DiceConfig, OwnedTargets), String> {
    let Extras { act, warnings } = extras;
    let n_c = shape.classes();
    let one_channel = n_c == 1;
    let include_background = kw.bool("include_background", true)?;
    let to_onehot_y = kw.bool("to_onehot_y", false)?;
    let sigmoid = kw.bool("sigmoid", false)?;
    let softmax = kw.bool("softmax", false)?;
    *act = match kw.take("other_act") {
        None | Some(Value::None) => None,
        Some(Value::Expr(e) | Value::Ident(e)) => Some(HostActivation::parse(&e)?),
        Some(v) => return Err(format!("other_act={v:?}")),
    };
    if u8::from(sigmoid) + u8::from(softmax) + u8::from(act.is_some()) > 1 {
        return Err("MONAI: more than one of sigmoid, softmax, other_act".into());
    }
    // MONAI's single-channel fallbacks: it warns and computes on.
    for (skipped, what) in [
        (softmax, "softmax=True"),
        (to_onehot_y, "to_onehot_y=True"),
        (!include_background, "include_background=False"),
    ] {
        if one_channel && skipped {
            warnings.push(monai_warning(what));
        }
    }
    let activation = match (sigmoid, softmax && !one_channel) {
        (true, _) => Activation::Sigmoid,
        (false, true) => Activation::Softmax,
        (false, false) => Activation::None,
    };
    let mut config = DiceConfig {
        activation,
        scope: if kw.bool("batch", false)? {
            Scope::Batch
        } else {
            Scope::PerSample
        },
        reduction: reduction(&kw.string("reduction", "mean")?)?,
        smooth_nr: kw.num("smooth_nr", 1e-5)? as f32,
        smooth_dr: kw.num("smooth_dr", 1e-5)? as f32,
        classes: if include_background || one_channel {
            ClassSelection::All
        } else {
            ClassSelection::NoBackground
        },
        soft_label: kw.bool("soft_label", false)?,
        ..DiceConfig::monai()
    };
    let ignore = if name == "GeneralizedDiceLoss" {
        None
    } else {
        kw.label("ignore_index")?
    };
    // The target: labels one-hot encoded (more than one channel), or dense as given (labels on
    // one channel are taken as values, as MONAI does when it skips `to_onehot_y`).
    let (targets, ignore_index) = match (to_onehot_y && !one_channel, given) {
        (true, given @ Given::Labels(_)) => given.labels(ignore)?,
        (true, Given::Dense(_)) => return Err("to_onehot_y=True on dense targets".into()),
        (false, Given::Labels(_)) if !one_channel => {
            return Err("labels on several channels need to_onehot_y=True".into())
        }
        (false, given) => {
            let mut dense = given.dense();
            let ignore_index = match ignore {
                None => None,
                // MONAI's `create_ignore_mask`: label-encoded (one channel) compares the
                // values; one-hot with a class index masks the pixels of that class, with any
                // other value the pixels whose channels are all zero. The mask must be 0/1.
                Some(l) => Some(mask_dense(shape, &mut dense, |d, b, _, s| {
                    let at = |c: usize| d[(b * n_c + c) * shape.spatial() + s];
                    let m = if one_channel {
                        f32::from(at(0) as f64 == l as f64)
                    } else if (0..n_c as i64).contains(&l) {
                        at(l as usize)
                    } else {
                        f32::from((0..n_c).map(at).sum::<f32>() <= 0.0)
                    };
                    match m {
                        0.0 => Ok(false),
                        1.0 => Ok(true),
                        _ => Err(format!("MONAI's ignore mask is {m} here, not 0 or 1")),
                    }
                })?),
            };
            (OwnedTargets::Dense(dense), ignore_index)
        }
    };
    config.ignore_index = ignore_index;
    match name {
        "DiceLoss" | "DiceCELoss" | "DiceFocalLoss" => {
            config.squared = kw.bool("squared_pred", false)?;
            if kw.bool("jaccard", false)? {
                (config.alpha, config.beta) = (1.0, 1.0);
            }
            // MONAI's weight covers the channels left after dropping the background, and is
            // skipped where one channel is left.
            let kept = if matches!(config.classes, ClassSelection::NoBackground) {
                n_c - 1
            } else {
                n_c
            };
            // DiceCELoss passes its weight to both terms, to the Dice term without the
            // background's.
            let weight = kw.list("weight")?;
            if name == "DiceCELoss" {
                let dice_ce = map_monai_ce(kw, n_c, weight.as_deref())?;
                (config.lambda_dice, config.cross_entropy) = dice_ce;
                if act.is_some() {
                    return Err(
                        "DiceCELoss with other_act: the CE term takes the raw logits, \
                                the runner's composition would hand it the activation"
                            .into(),
                    );
                }
            }
            if name == "DiceFocalLoss" {
                config.cross_entropy = Some(monai_focal(kw, n_c, include_background, &weight)?);
                config.lambda_dice = kw.num("lambda_dice", 1.0)? as f32;
            }
            let dice_weight = match weight {
                Some(w) if name == "DiceCELoss" && kept < n_c && w.len() == n_c => {
                    Some(w[1..].to_vec())
                }
                w => w,
            };
            if let Some(w) = dice_weight {
                let mut w: Vec<f32> = w.iter().map(|&v| v as f32).collect();
                if w.len() == 1 {
                    w = vec![w[0]; kept];
                }
                if w.len() != kept {
                    return Err(format!("weight of {} for {kept} channels", w.len()));
                }
                if kept > 1 {
                    if kept < n_c {
                        w.insert(0, 0.0);
                    }
                    config.class_weights = Some(w);
                    config.weight_mode = WeightMode::Scale;
                }
            }
        }
        "GeneralizedDiceLoss" | "GeneralizedDiceFocalLoss" => {
            config.generalized = Some(match kw.string("w_type", "square")?.as_str() {
                "square" => GeneralizedWeight::Square,
                "simple" => GeneralizedWeight::Simple,
                "uniform" => GeneralizedWeight::Uniform,
                other => return Err(format!("w_type {other}")),
            });
            if name == "GeneralizedDiceFocalLoss" {
                let weight = kw.list("weight")?;
                config.cross_entropy = Some(monai_focal(kw, n_c, include_background, &weight)?);
                config.lambda_dice = kw.num("lambda_gdl", 1.0)? as f32;
            }
        }
        "FocalLoss" => {
            let use_softmax = kw.bool("use_softmax", false)?;
            if use_softmax && !include_background && n_c > 1 {
                return Err(
                    "FocalLoss(use_softmax=True, include_background=False) is not \
                            mapped (its softmax runs over the channels left)"
                        .into(),
                );
            }
            let weight = kw.list("weight")?;
            let mut focal = monai_focal(kw, n_c, include_background, &weight)?;
            if use_softmax {
                // MONAI's softmax alpha: 1 - α on the background, α elsewhere.
                let alpha = focal.pos_weight.take().map(|pw| {
                    let a = pw[0];
                    (0..n_c).map(|c| if c == 0 { 1.0 - a } else { a }).collect()
                });
                focal = CrossEntropy {
                    kind: softdice::CrossEntropyKind::SoftmaxFocal,
                    pos_weight: alpha,
                    neg_weight: None,
                    ..focal
                };
            }
            config.cross_entropy = Some(focal);
            // The focal term alone: a Dice term weighted 0, on probabilities.
            config.lambda_dice = 0.0;
            config.activation = Activation::Sigmoid;
            config.classes = ClassSelection::All;
        }
        "TverskyLoss" => {
            config.alpha = kw.num("alpha", 0.5)? as f32;
            config.beta = kw.num("beta", 0.5)? as f32;
            // MONAI writes (I + s) / (I + alpha FP + beta FN + s): in the Dice scale, 2 s.
            config.smooth_nr *= 2.0;
            config.smooth_dr *= 2.0;
        }
        other => return Err(format!("unknown MONAI loss {other}")),
    }
    // 'sum' maps (the focal kinds' sum is MONAI's sum of spatial means, `CeDivisor::Spatial`);
    // 'none' returns MONAI's element-wise focal tensor, which softdice does not output.
    let focal = config.cross_entropy.as_ref().is_some_and(|ce| {
        use softdice::CrossEntropyKind as K;
        matches!(ce.kind, K::SigmoidFocal | K::SoftmaxFocal)
    });
    if focal && config.reduction == Reduction::None {
        return Err(
            "MONAI FocalLoss with reduction='none' is not mapped (it returns the element-wise \
             focal tensor [B, C, spatial...], which softdice does not output)"
                .into(),
        );
    }
    Ok((config, targets))
}

/// MONAI `FocalLoss` with its sigmoid (as `DiceFocalLoss` and `GeneralizedDiceFocalLoss` build
/// it): `gamma`, `alpha` (a scalar: `α` on positives, `1 - α` on negatives), `weight` (over the
/// channels left after `include_background=False`), `lambda_focal`; reductions mean and sum.
fn monai_focal(
    kw: &mut Kwargs,
    n_c: usize,
    include_background: bool,
    weight: &Option<Vec<f64>>,
) -> Result<CrossEntropy, String> {
    let gamma = kw.num("gamma", 2.0)? as f32;
    let lambda = kw.num("lambda_focal", 1.0)? as f32;
    let (pos_weight, neg_weight) = match kw.take("alpha") {
        None | Some(Value::None) => (None, None),
        Some(Value::Num(a)) => (Some(vec![a as f32; n_c]), Some(vec![1.0 - a as f32; n_c])),
        Some(v) => return Err(format!("alpha={v:?} is not mapped (a scalar is)")),
    };
    // One channel: MONAI warns and keeps it.
    let include_background = include_background || n_c == 1;
    let kept = if include_background { n_c } else { n_c - 1 };
    let class_weights = match weight.as_deref() {
        None => None,
        Some([w]) => Some(vec![*w as f32; n_c]),
        Some(w) if w.len() == kept && n_c > 1 => {
            let w: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            Some(if kept < n_c {
                [&[0.0][..], &w].concat()
            } else {
                w
            })
        }
        Some(w) => return Err(format!("focal weight of {} for {kept} channels", w.len())),
    };
    Ok(CrossEntropy {
        lambda,
        class_weights,
        pos_weight,
        neg_weight,
        include_background,
        ..CrossEntropy::sigmoid_focal(gamma)
    })
}

/// MONAI `DiceCELoss`'s cross-entropy term: `CrossEntropyLoss(weight, label_smoothing)` over
/// several channels, `BCEWithLogitsLoss(pos_weight=weight)` on one; and `lambda_dice`.
fn map_monai_ce(
    kw: &mut Kwargs,
    n_c: usize,
    weight: Option<&[f64]>,
) -> Result<(f32, Option<CrossEntropy>), String> {
    let lambda_dice = kw.num("lambda_dice", 1.0)? as f32;
    let lambda = kw.num("lambda_ce", 1.0)? as f32;
    let label_smoothing = kw.num("label_smoothing", 0.0)? as f32;
    let weight = weight.map(|w| {
        if w.len() == 1 {
            vec![w[0] as f32; n_c]
        } else {
            w.iter().map(|&v| v as f32).collect()
        }
    });
    let ce = if n_c > 1 {
        CrossEntropy {
            lambda,
            class_weights: weight,
            label_smoothing,
            ..CrossEntropy::softmax()
        }
    } else {
        // One channel: BCE, the weight as pos_weight; label_smoothing is the CE's only.
        CrossEntropy {
            lambda,
            pos_weight: weight,
            ..CrossEntropy::sigmoid()
        }
    };
    Ok((lambda_dice, Some(ce)))
}

/// PyTorch `CrossEntropyLoss` and `BCEWithLogitsLoss` alone: a cross-entropy term with the Dice
/// term weighted 0.
fn map_torch(
    name: &str,
    kw: &mut Kwargs,
    n_c: usize,
    given: Given,
) -> Result<(DiceConfig, OwnedTargets), String> {
    let reduction = match kw.string("reduction", "mean")?.as_str() {
        "none" => return Err("reduction='none' (per-pixel cross-entropy) is not mapped".into()),
        other => reduction(other)?,
    };
    let to_f32 = |w: Option<Vec<f64>>| w.map(|w| w.iter().map(|&v| v as f32).collect::<Vec<_>>());
    let (ce, targets, ignore_index) = match name {
        "CrossEntropyLoss" => {
            let ce = CrossEntropy {
                class_weights: to_f32(kw.list("weight")?),
                label_smoothing: kw.num("label_smoothing", 0.0)? as f32,
                ..CrossEntropy::softmax()
            };
            let ignore = kw.label("ignore_index")?.unwrap_or(-100);
            match given {
                labels @ Given::Labels(_) => {
                    let (targets, ignore_index) = labels.labels(Some(ignore))?;
                    (ce, targets, ignore_index)
                }
                // Probability targets have no ignore_index.
                dense => (ce, dense.plain()?, None),
            }
        }
        "BCEWithLogitsLoss" => {
            // A tensor `pos_weight` broadcasts against the input's last axis, not the
            // classes: only a scalar is mapped, and no `weight`.
            if !matches!(kw.take("weight"), None | Some(Value::None)) {
                return Err("BCEWithLogitsLoss(weight=...) is not mapped".into());
            }
            let pos_weight = match kw.take("pos_weight") {
                None | Some(Value::None) => None,
                Some(Value::Num(w)) => Some(vec![w as f32; n_c]),
                Some(Value::List(w)) if w.len() == 1 => Some(vec![w[0] as f32; n_c]),
                Some(v) => return Err(format!("pos_weight={v:?} is not mapped (a scalar is)")),
            };
            let ce = CrossEntropy {
                pos_weight,
                ..CrossEntropy::sigmoid()
            };
            (ce, OwnedTargets::Dense(given.dense()), None)
        }
        other => return Err(format!("unknown torch loss {other}")),
    };
    let config = DiceConfig {
        reduction,
        ignore_index,
        ..DiceConfig::cross_entropy_only(ce)
    };
    Ok((config, targets))
}

/// smp `SoftCrossEntropyLoss(reduction, smooth_factor, ignore_index, dim)` and
/// `SoftBCEWithLogitsLoss(weight, ignore_index, reduction, smooth_factor, pos_weight)`: a
/// cross-entropy term alone, whose mean counts the ignored pixels (or elements) too.
fn map_smp_soft(
    name: &str,
    kw: &mut Kwargs,
    shape: &Shape,
    given: Given,
) -> Result<(DiceConfig, OwnedTargets), String> {
    let n_c = shape.classes();
    let reduction = match kw.string("reduction", "mean")?.as_str() {
        "none" => return Err(format!("smp {name}(reduction='none') is not mapped")),
        other => reduction(other)?,
    };
    // smp's default ignore_index is -100; None ignores nothing.
    let ignore = match kw.take("ignore_index") {
        None => Some(-100),
        Some(Value::None) => None,
        Some(Value::Num(l)) if l.fract() == 0.0 => Some(l as i64),
        Some(v) => return Err(format!("ignore_index={v:?}")),
    };
    let smooth = match kw.take("smooth_factor") {
        None | Some(Value::None) => None,
        Some(Value::Num(s)) => Some(s as f32),
        Some(v) => return Err(format!("smooth_factor={v:?}")),
    };
    let (ce, targets, ignore_index) = match name {
        "SoftCrossEntropyLoss" => {
            if kw.num("dim", 1.0)? != 1.0 {
                return Err(
                    "smp SoftCrossEntropyLoss over an axis other than 1 is not mapped".into(),
                );
            }
            // smp 0.6.0 divides the smoothing by the class count: None raises a TypeError.
            let s = smooth.ok_or("smp SoftCrossEntropyLoss(smooth_factor=None) raises in smp")?;
            let (targets, ignore_index) = given.labels(ignore)?;
            (
                CrossEntropy::smp_soft_cross_entropy(s),
                targets,
                ignore_index,
            )
        }
        "SoftBCEWithLogitsLoss" => {
            // Tensors broadcast against the input: a scalar (one class weight for all) maps.
            let mut scalar = |key: &str| match kw.take(key) {
                None | Some(Value::None) => Ok(None),
                Some(Value::Num(w)) => Ok(Some(vec![w as f32; n_c])),
                Some(Value::List(w)) if w.len() == 1 => Ok(Some(vec![w[0] as f32; n_c])),
                Some(v) => Err(format!("{key}={v:?} is not mapped (a scalar is)")),
            };
            let ce = CrossEntropy {
                class_weights: scalar("weight")?,
                pos_weight: scalar("pos_weight")?,
                ..CrossEntropy::smp_soft_bce_with_logits(smooth.unwrap_or(0.0))
            };
            // smp zeroes the elements whose target equals ignore_index.
            let mut dense = given.dense();
            let n_s = shape.spatial();
            let ignore_index = match ignore {
                Some(l) if dense.contains(&(l as f32)) => {
                    Some(mask_dense(shape, &mut dense, |d, b, c, s| {
                        Ok(d[(b * n_c + c) * n_s + s] == l as f32)
                    })?)
                }
                _ => None,
            };
            (ce, OwnedTargets::Dense(dense), ignore_index)
        }
        other => return Err(format!("unknown smp loss {other}")),
    };
    let config = DiceConfig {
        reduction,
        ignore_index,
        ..DiceConfig::cross_entropy_only(ce)
    };
    Ok((config, targets))
}

/// nnU-Net: `MemoryEfficientSoftDiceLoss(nonlin, batch_dice, do_bg, smooth)` (an ignore label
/// from the call's "labels != N" text), and `DC_and_CE_loss(soft_dice_kwargs, ce_kwargs,
/// weight_ce, weight_dice, ignore_label)` with softmax.
fn map_nnunet(
    name: &str,
    call: &str,
    kw: &mut Kwargs,
    given: Given,
) -> Result<(DiceConfig, OwnedTargets), String> {
    let dice = |kw: &mut Kwargs, activation, ignore| -> Result<_, String> {
        let batch = kw.bool("batch_dice", false)?;
        let do_bg = kw.bool("do_bg", true)?;
        let smooth = kw.num("smooth", 1.0)? as f32;
        kw.take("ddp");
        let (targets, ignore_index) = given.labels(ignore)?;
        let config = DiceConfig {
            activation,
            scope: if batch {
                Scope::Batch
            } else {
                Scope::PerSample
            },
            classes: if do_bg {
                ClassSelection::All
            } else {
                ClassSelection::NoBackground
            },
            smooth_nr: smooth,
            smooth_dr: smooth,
            ignore_index,
            ..DiceConfig::nnunet()
        };
        Ok((config, targets))
    };
    match name {
        "DC_and_CE_loss" => {
            let ignore = kw.label("ignore_label")?;
            let mut dice_kw = kw.dict("soft_dice_kwargs")?;
            let (mut config, targets) = dice(&mut dice_kw, Activation::Softmax, ignore)?;
            dice_kw.done()?;
            let mut ce_kw = kw.dict("ce_kwargs")?;
            let ce = CrossEntropy {
                lambda: kw.num("weight_ce", 1.0)? as f32,
                class_weights: ce_kw
                    .list("weight")?
                    .map(|w| w.iter().map(|&v| v as f32).collect()),
                label_smoothing: ce_kw.num("label_smoothing", 0.0)? as f32,
                ..CrossEntropy::softmax()
            };
            ce_kw.done()?;
            config.lambda_dice = kw.num("weight_dice", 1.0)? as f32;
            config.cross_entropy = Some(ce);
            match kw.take("dice_class") {
                None => {}
                Some(Value::Ident(c) | Value::Expr(c))
                    if c.ends_with("MemoryEfficientSoftDiceLoss") => {}
                Some(v) => return Err(format!("dice_class={v:?} is not mapped")),
            }
            Ok((config, targets))
        }
        _ => {
            let activation = match kw.take("apply_nonlin") {
                Some(Value::Ident(f)) if f == "softmax" => Activation::Softmax,
                Some(Value::Ident(f)) if f == "sigmoid" => Activation::Sigmoid,
                other => return Err(format!("nnU-Net nonlinearity {other:?}")),
            };
            // "with loss_mask = (labels != N)": nnU-Net's ignore label.
            let ignore = call
                .split("labels != ")
                .nth(1)
                .map(|rest| {
                    let digits: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '-')
                        .collect();
                    digits
                        .parse::<i64>()
                        .map_err(|e| format!("loss_mask label: {e}"))
                })
                .transpose()?;
            dice(kw, activation, ignore)
        }
    }
}

fn map_smp(
    name: &str,
    kw: &mut Kwargs,
    n_c: usize,
    given: Given,
) -> Result<(DiceConfig, OwnedTargets), String> {
    if name == "MCCLoss" {
        // Binary only: smp flattens every channel of a sample into one.
        if n_c != 1 {
            return Err(format!(
                "smp MCCLoss is binary: {n_c} channels would be flattened into one"
            ));
        }
        let config = DiceConfig {
            index: softdice::SimilarityIndex::Mcc {
                eps: kw.num("eps", 1e-5)? as f32,
            },
            ..DiceConfig::smp_mcc()
        };
        return Ok((config, OwnedTargets::Dense(given.dense())));
    }
    let mut base = match name {
        "DiceLoss" => DiceConfig::smp_multiclass(),
        "JaccardLoss" => DiceConfig::smp_jaccard(),
        "TverskyLoss" => DiceConfig::smp_tversky(
            kw.num("alpha", 0.5)? as f32,
            kw.num("beta", 0.5)? as f32,
            kw.num("gamma", 1.0)? as f32,
        ),
        other => return Err(format!("unknown smp loss {other}")),
    };
    let mode = kw.string("mode", "")?;
    let multiclass = match mode.as_str() {
        "multiclass" => true,
        "multilabel" => false,
        "binary" if n_c == 1 => false,
        "binary" => return Err("binary mode needs one channel".into()),
        other => return Err(format!("smp mode {other:?}")),
    };
    if !multiclass {
        base.activation = Activation::Sigmoid;
    }
    let from_logits = kw.bool("from_logits", true)?;
    let smooth = kw.num("smooth", 0.0)? as f32;
    let eps = kw.num("eps", 1e-7)? as f32;
    let log_loss = kw.bool("log_loss", false)?;
    let classes = kw.list("classes")?;
    let class_weights = kw.list("class_weights")?;
    if mode == "binary" && (classes.is_some() || class_weights.is_some()) {
        return Err("smp: classes and class_weights are not supported with mode=binary".into());
    }
    let ignore = kw.label("ignore_index")?;
    let (targets, ignore_index) = if multiclass {
        given.labels(ignore)?
    } else {
        // Element-wise `y_true != ignore_index` on dense targets.
        let Given::Dense(mut dense) = given else {
            return Err(format!("smp mode {mode} takes dense targets"));
        };
        let ignore_index = match ignore {
            Some(l) if u32::try_from(l).is_err() => {
                dense
                    .iter_mut()
                    .filter(|v| **v as f64 == l as f64)
                    .for_each(|v| *v = IGNORED as f32);
                Some(IGNORED)
            }
            other => other.map(|l| l as u32),
        };
        (OwnedTargets::Dense(dense), ignore_index)
    };
    let classes = match classes {
        None => ClassSelection::All,
        Some(list) => {
            let mut list: Vec<u32> = list.iter().map(|&c| c as u32).collect();
            list.sort_unstable();
            if list.windows(2).any(|w| w[0] == w[1]) {
                return Err("smp classes with repeats are not mapped".into());
            }
            ClassSelection::Subset(list)
        }
    };
    let config = DiceConfig {
        activation: if from_logits {
            base.activation
        } else {
            Activation::None
        },
        loss_form: if log_loss {
            LossForm::NegLog
        } else {
            LossForm::OneMinusDice
        },
        // smp's Tversky form (I + s) / max(I + a FP + b FN + s, eps) in the Dice scale.
        smooth_nr: 2.0 * smooth,
        smooth_dr: 2.0 * smooth,
        denominator_clamp: 2.0 * eps,
        log_clamp: eps,
        classes,
        class_weights: class_weights.map(|w| w.iter().map(|&v| v as f32).collect()),
        ignore_index,
        ..base
    };
    Ok((config, targets))
}

fn rel_err(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(LOSS_ABS_FLOOR / LOSS_REL)
}

/// Runs one case on the CPU oracle and, when a context is given, on the GPU.
pub fn run_case(fixture: &Fixture, case: &Case, ctx: Option<&DiceContext>) -> Outcome {
    let fail = |note: String| Outcome {
        id: case.id.clone(),
        loss_err: f64::NAN,
        grad_err: f64::NAN,
        pass: false,
        note,
    };
    let mapped = match map_case(fixture, case) {
        Ok(m) => m,
        Err(e) => return fail(format!("cannot map: {e}")),
    };
    let Mapped {
        shape,
        config,
        preds: x,
        targets,
        act,
        warnings,
    } = &mapped;
    for w in warnings {
        eprintln!("{}: {} warns: {w}", case.id, case.library);
    }
    if let Some(want) = &case.warnings {
        if want != warnings {
            return fail(format!("warnings {warnings:?}, the call printed {want:?}"));
        }
    }
    let expected_len: usize = case.loss_shape.iter().product();
    if case.loss.len() != expected_len || case.grad.len() != shape.len() {
        return fail("fixture lengths do not match its shapes".into());
    }
    // A host activation: softdice sees its output, the gradient goes back through it.
    let activated = act.map(|a| a.forward(shape, x));
    let preds: Vec<f32> = match &activated {
        Some(p) => p.iter().map(|&v| v as f32).collect(),
        None => x.clone(),
    };
    // MONAI's L1 form takes vector norms, sum |p|; softdice's takes sum p: they part where
    // the activated predictions go negative (other_act=torch.tanh, ...).
    let negative = config.activation == Activation::None && preds.iter().any(|&p| p < 0.0);
    if case.library == "monai" && config.soft_label && !config.squared && negative {
        return fail("MONAI soft_label on negative predictions (sum |p|) is not mapped".into());
    }
    let chain = |grad: Vec<f64>| match (act, &activated) {
        (Some(a), Some(p)) => a.backward(shape, x, p, &grad),
        _ => grad,
    };
    let mut paths: Vec<(&str, Vec<f64>, Vec<f64>)> = Vec::new();
    match cpu::compute(shape, config, &preds, targets.as_targets(), Gradient::With) {
        Ok(out) => paths.push(("cpu", out.values, chain(out.gradient.unwrap_or_default()))),
        Err(e) => return fail(format!("cpu: {e}")),
    }
    if let Some(ctx) = ctx {
        match ctx.compute(shape, config, &preds, targets.as_targets(), Gradient::With) {
            Ok(out) => paths.push((
                "gpu",
                out.values.iter().map(|&v| v as f64).collect(),
                chain(
                    out.gradient
                        .unwrap_or_default()
                        .iter()
                        .map(|&v| v as f64)
                        .collect(),
                ),
            )),
            Err(e) => return fail(format!("gpu: {e}")),
        }
    }
    let mut loss_err: f64 = 0.0;
    let mut grad_err: f64 = 0.0;
    let mut pass = true;
    let mut notes = Vec::new();
    for (path, values, grad) in &paths {
        if values.len() != case.loss.len() || grad.len() != case.grad.len() {
            notes.push(format!(
                "{path}: {} loss values for {} expected",
                values.len(),
                case.loss.len()
            ));
            pass = false;
            continue;
        }
        for (g, w) in values.iter().zip(&case.loss) {
            let e = rel_err(*g, *w);
            loss_err = loss_err.max(e);
            pass &= e <= LOSS_REL;
        }
        for (g, w) in grad.iter().zip(&case.grad) {
            let e = (g - w).abs();
            grad_err = grad_err.max(e);
            pass &= e <= GRAD_ABS + GRAD_REL * w.abs();
        }
    }
    notes.insert(0, paths.iter().map(|p| p.0).collect::<Vec<_>>().join("+"));
    Outcome {
        id: case.id.clone(),
        loss_err,
        grad_err,
        pass,
        note: notes.join("; "),
    }
}
