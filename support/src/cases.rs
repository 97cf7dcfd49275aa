//! Reads a reference fixture file (the format of `gen_fixtures.py`), maps each case's library
//! call to a [`DiceConfig`] by reading the call's keyword arguments, and compares the GPU and
//! the CPU oracle with the Python numbers. Shared by `examples/parity` and the parity test.

use std::collections::HashMap;

use serde::Deserialize;
use softdice::{
    cpu, Activation, ClassSelection, DiceConfig, DiceContext, EmptyClass, GeneralizedWeight,
    LossForm, Reduction, Scope, Shape, Targets, WeightMode,
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

    fn ignore_label(&self) -> u32 {
        self.generator
            .get("ignore_label")
            .and_then(|v| v.as_u64())
            .unwrap_or(255) as u32
    }
}

/// A Python literal from a call's keyword arguments.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Bool(bool),
    Num(f64),
    Str(String),
    List(Vec<f64>),
    /// A bare name (`softmax`, `C`).
    Ident(String),
    None,
}

fn parse_value(text: &str) -> Result<Value, String> {
    let t = text.trim();
    Ok(match t {
        "True" => Value::Bool(true),
        "False" => Value::Bool(false),
        "None" => Value::None,
        _ if t.starts_with('[') && t.ends_with(']') => Value::List(
            t[1..t.len() - 1]
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse::<f64>().map_err(|e| format!("{s}: {e}")))
                .collect::<Result<_, _>>()?,
        ),
        _ if (t.starts_with('\'') && t.ends_with('\''))
            || (t.starts_with('"') && t.ends_with('"')) =>
        {
            Value::Str(t[1..t.len() - 1].to_string())
        }
        _ if t.chars().all(|c| c.is_alphanumeric() || c == '_')
            && t.starts_with(|c: char| c.is_alphabetic() || c == '_') =>
        {
            Value::Ident(t.to_string())
        }
        _ => Value::Num(t.parse().map_err(|_| format!("cannot read value `{t}`"))?),
    })
}

/// The name before the first `(` and the top-level arguments inside the matching `)`:
/// positional ones under their index ("0", "1", ...), keyword ones under their name.
fn parse_call(call: &str) -> Result<(String, Vec<(String, String)>), String> {
    let open = call.find('(').ok_or("no argument list")?;
    let name = call[..open]
        .trim()
        .rsplit('.')
        .next()
        .unwrap_or("")
        .to_string();
    let mut depth = 0;
    let mut args = Vec::new();
    let mut current = String::new();
    for ch in call[open + 1..].chars() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' if depth > 0 => depth -= 1,
            ')' => {
                args.push(std::mem::take(&mut current));
                break;
            }
            ',' if depth == 0 => {
                args.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    let mut out = Vec::new();
    for (i, arg) in args
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .enumerate()
    {
        match arg.split_once('=') {
            Some((k, v)) if !k.contains('(') => {
                out.push((k.trim().to_string(), v.trim().to_string()))
            }
            _ => out.push((i.to_string(), arg.to_string())),
        }
    }
    Ok((name, out))
}

/// Keyword arguments, consumed one by one so that an unknown one is an error, not a skip.
struct Kwargs(Vec<(String, Value)>);

impl Kwargs {
    fn new(args: Vec<(String, String)>) -> Result<Self, String> {
        Ok(Self(
            args.into_iter()
                .map(|(k, v)| parse_value(&v).map(|v| (k, v)))
                .collect::<Result<_, _>>()?,
        ))
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(at).1)
    }

    fn bool(&mut self, key: &str, default: bool) -> Result<bool, String> {
        match self.take(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(b),
            Some(v) => Err(format!("{key}={v:?} is not a bool")),
        }
    }

    fn num(&mut self, key: &str, default: f64) -> Result<f64, String> {
        match self.take(key) {
            None => Ok(default),
            Some(Value::Num(n)) => Ok(n),
            Some(v) => Err(format!("{key}={v:?} is not a number")),
        }
    }

    fn string(&mut self, key: &str, default: &str) -> Result<String, String> {
        match self.take(key) {
            None => Ok(default.to_string()),
            Some(Value::Str(s)) => Ok(s),
            Some(v) => Err(format!("{key}={v:?} is not a string")),
        }
    }

    fn list(&mut self, key: &str) -> Result<Option<Vec<f64>>, String> {
        match self.take(key) {
            None | Some(Value::None) => Ok(None),
            Some(Value::List(l)) => Ok(Some(l)),
            Some(Value::Num(n)) => Ok(Some(vec![n])),
            Some(v) => Err(format!("{key}={v:?} is not a list")),
        }
    }

    fn done(self) -> Result<(), String> {
        match self.0.first() {
            None => Ok(()),
            Some((k, v)) => Err(format!("unsupported argument {k}={v:?}")),
        }
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
}

/// Maps one case's library call (its keyword arguments) and inputs to a softdice config.
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
    let (name, args) = parse_call(&case.call)?;
    let mut kw = Kwargs::new(args)?;
    let config = match case.library.as_str() {
        "seed" => {
            kw.take("num_classes");
            let eps = kw.num("eps", 1e-5)? as f32;
            DiceConfig {
                activation: if logits {
                    Activation::Softmax
                } else {
                    Activation::None
                },
                smooth_nr: eps,
                smooth_dr: eps,
                ..DiceConfig::seed()
            }
        }
        "monai" => map_monai(&name, &mut kw, n_c, logits, dense)?,
        "smp" => map_smp(&mut kw, n_c, fixture.ignore_label())?,
        "nnunet" => {
            // The first positional argument names the nonlinearity.
            let activation = match kw.take("0") {
                Some(Value::Ident(f)) if f == "softmax" => Activation::Softmax,
                Some(Value::Ident(f)) if f == "sigmoid" => Activation::Sigmoid,
                other => return Err(format!("nnU-Net nonlinearity {other:?}")),
            };
            let batch = kw.bool("batch_dice", false)?;
            let do_bg = kw.bool("do_bg", true)?;
            let smooth = kw.num("smooth", 1.0)? as f32;
            // "with loss_mask = (labels != N)": nnU-Net's ignore label.
            let ignore_index = case
                .call
                .split("labels != ")
                .nth(1)
                .map(|rest| {
                    rest.trim_end_matches(|c: char| !c.is_ascii_digit())
                        .split(|c: char| !c.is_ascii_digit())
                        .next()
                        .unwrap_or("")
                        .parse::<u32>()
                        .map_err(|e| format!("loss_mask label: {e}"))
                })
                .transpose()?;
            DiceConfig {
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
            }
        }
        other => return Err(format!("unknown library {other}")),
    };
    kw.done()?;
    if dense != (case.target_kind != "labels") {
        return Err("target kind does not fit the call".into());
    }
    let preds: Vec<f32> = input.data.iter().map(|&v| v as f32).collect();
    let targets = if dense {
        if target.shape != input.shape {
            return Err(format!(
                "dense target shape {:?} != {:?}",
                target.shape, input.shape
            ));
        }
        OwnedTargets::Dense(target.data.iter().map(|&v| v as f32).collect())
    } else {
        if target.dtype != "i64" {
            return Err(format!("labels of dtype {}", target.dtype));
        }
        let labels = target
            .data
            .iter()
            .map(|&v| {
                if v >= 0.0 && v <= u32::MAX as f64 && v.fract() == 0.0 {
                    Ok(v as u32)
                } else {
                    Err(format!("label {v} is not a u32"))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        OwnedTargets::Labels(labels)
    };
    Ok(Mapped {
        shape,
        config,
        preds,
        targets,
    })
}

fn reduction(name: &str) -> Result<Reduction, String> {
    match name {
        "mean" => Ok(Reduction::Mean),
        "sum" => Ok(Reduction::Sum),
        "none" => Ok(Reduction::None),
        other => Err(format!("reduction {other}")),
    }
}

fn map_monai(
    name: &str,
    kw: &mut Kwargs,
    n_c: usize,
    logits: bool,
    dense: bool,
) -> Result<DiceConfig, String> {
    let include_background = kw.bool("include_background", true)?;
    let to_onehot_y = kw.bool("to_onehot_y", false)?;
    let sigmoid = kw.bool("sigmoid", false)?;
    let softmax = kw.bool("softmax", false)?;
    if to_onehot_y == dense {
        return Err("to_onehot_y must match integer label targets".into());
    }
    let activation = match (sigmoid, softmax) {
        (true, false) => Activation::Sigmoid,
        (false, true) => Activation::Softmax,
        (false, false) => Activation::None,
        _ => return Err("sigmoid and softmax both set".into()),
    };
    if logits && activation == Activation::None {
        return Err("logits given but no activation in the call".into());
    }
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
        classes: if include_background {
            ClassSelection::All
        } else {
            ClassSelection::NoBackground
        },
        soft_label: kw.bool("soft_label", false)?,
        ignore_index: match kw.take("ignore_index") {
            None | Some(Value::None) => None,
            Some(Value::Num(n)) if n >= 0.0 => Some(n as u32),
            Some(v) => return Err(format!("ignore_index={v:?}")),
        },
        ..DiceConfig::monai()
    };
    match name {
        "DiceLoss" => {
            config.squared = kw.bool("squared_pred", false)?;
            config.jaccard = kw.bool("jaccard", false)?;
            if let Some(w) = kw.list("weight")? {
                // MONAI's weight covers the channels left after dropping the background.
                let mut w: Vec<f32> = w.iter().map(|&v| v as f32).collect();
                if !include_background && w.len() + 1 == n_c {
                    w.insert(0, 0.0);
                }
                if w.len() == 1 {
                    w = vec![w[0]; n_c];
                }
                config.class_weights = Some(w);
                config.weight_mode = WeightMode::Scale;
            }
        }
        "GeneralizedDiceLoss" => {
            config.generalized = Some(match kw.string("w_type", "square")?.as_str() {
                "square" => GeneralizedWeight::Square,
                "simple" => GeneralizedWeight::Simple,
                "uniform" => GeneralizedWeight::Uniform,
                other => return Err(format!("w_type {other}")),
            });
        }
        other => return Err(format!("unknown MONAI loss {other}")),
    }
    Ok(config)
}

fn map_smp(kw: &mut Kwargs, n_c: usize, _ignore_label: u32) -> Result<DiceConfig, String> {
    let mode = kw.string("mode", "")?;
    let base = match mode.as_str() {
        "multiclass" => DiceConfig::smp_multiclass(),
        "multilabel" => DiceConfig::smp_multilabel(),
        "binary" if n_c == 1 => DiceConfig::smp_multilabel(),
        "binary" => return Err("binary mode needs one channel".into()),
        other => return Err(format!("smp mode {other:?}")),
    };
    let from_logits = kw.bool("from_logits", true)?;
    let smooth = kw.num("smooth", 0.0)? as f32;
    let eps = kw.num("eps", 1e-7)? as f32;
    let log_loss = kw.bool("log_loss", false)?;
    let classes = kw.list("classes")?;
    let class_weights = kw.list("class_weights")?;
    let ignore_index = match kw.take("ignore_index") {
        None | Some(Value::None) => None,
        Some(Value::Num(n)) if n >= 0.0 => Some(n as u32),
        Some(v) => return Err(format!("ignore_index={v:?}")),
    };
    Ok(DiceConfig {
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
        // smp 0.6.0 smooths as (2 I + 2 s) / (P + Y + 2 s): fitted to, and checked by, the
        // fixture case smp_smooth (the 0.5 docs' (2 I + s) / (P + Y + s) misses it by 7e-3).
        smooth_nr: 2.0 * smooth,
        smooth_dr: 2.0 * smooth,
        denominator_clamp: eps,
        log_clamp: eps,
        classes: match classes {
            None => ClassSelection::All,
            Some(list) => ClassSelection::Subset(list.iter().map(|&c| c as u32).collect()),
        },
        class_weights: class_weights.map(|w| w.iter().map(|&v| v as f32).collect()),
        weight_mode: WeightMode::Normalize,
        empty_class: EmptyClass::ZeroLoss,
        ignore_index,
        ..base
    })
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
        preds,
        targets,
    } = &mapped;
    let expected_len: usize = case.loss_shape.iter().product();
    if case.loss.len() != expected_len || case.grad.len() != shape.len() {
        return fail("fixture lengths do not match its shapes".into());
    }
    let mut paths: Vec<(&str, Vec<f64>, Vec<f64>)> = Vec::new();
    match cpu::compute(shape, config, preds, targets.as_targets(), true) {
        Ok(out) => paths.push(("cpu", out.values, out.gradient.unwrap_or_default())),
        Err(e) => return fail(format!("cpu: {e}")),
    }
    if let Some(ctx) = ctx {
        match ctx.compute(shape, config, preds, targets.as_targets(), true) {
            Ok(out) => paths.push((
                "gpu",
                out.values.iter().map(|&v| v as f64).collect(),
                out.gradient
                    .unwrap_or_default()
                    .iter()
                    .map(|&v| v as f64)
                    .collect(),
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
