//! Reading a Python call as the fixtures write it, `module.Class(arg, key=value, ...)`: its class
//! name and its arguments as Python literals, positional ones named after the class's signature,
//! consumed one by one so that an argument the mapping does not read is an error, not a skip.

/// A Python literal from a call's arguments.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    Num(f64),
    Str(String),
    /// A list, a tuple or a `torch.tensor([...])` of numbers.
    List(Vec<f64>),
    /// A bare name (`softmax`, `C`).
    Ident(String),
    /// A dict literal `{'key': value, ...}`, its values as written.
    Dict(Vec<(String, String)>),
    /// Anything else, as written: a dotted callable (`torch.tanh`), a module
    /// (`torch.nn.Softmax(dim=1)`), a lambda.
    Expr(String),
    None,
}

/// The numbers of `[a, b]`, `(a, b)`, `(a,)`.
fn numbers(inner: &str) -> Option<Vec<f64>> {
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<f64>().ok())
        .collect()
}

/// `torch.tensor(X)`, `torch.as_tensor(X)`, `torch.Tensor(X)`, `numpy.array(X)`: the `X`.
fn tensor_literal(t: &str) -> Option<&str> {
    let open = t.find('(')?;
    let name = t[..open].rsplit('.').next()?;
    let inner = t[open + 1..].strip_suffix(')')?;
    ["tensor", "as_tensor", "Tensor", "array", "asarray"]
        .contains(&name)
        .then(|| inner.split(", dtype").next().unwrap_or(inner))
}

pub fn parse_value(text: &str) -> Value {
    let t = text.trim();
    let bracketed = |open: char, close: char| t.starts_with(open) && t.ends_with(close);
    match t {
        "True" => return Value::Bool(true),
        "False" => return Value::Bool(false),
        "None" => return Value::None,
        _ => {}
    }
    if bracketed('[', ']') || bracketed('(', ')') {
        if let Some(list) = numbers(&t[1..t.len() - 1]) {
            return Value::List(list);
        }
    }
    if bracketed('{', '}') {
        let entries: Option<Vec<(String, String)>> = split_top(&t[1..t.len() - 1])
            .into_iter()
            .map(|entry| {
                let (k, v) = entry.split_once(':')?;
                match parse_value(k) {
                    Value::Str(k) => Some((k, v.trim().to_string())),
                    _ => None,
                }
            })
            .collect();
        if let Some(entries) = entries {
            return Value::Dict(entries);
        }
    }
    if let Some(inner) = tensor_literal(t) {
        match parse_value(inner) {
            Value::List(l) => return Value::List(l),
            Value::Num(n) => return Value::Num(n),
            _ => {}
        }
    }
    if bracketed('\'', '\'') || bracketed('"', '"') {
        return Value::Str(t[1..t.len() - 1].to_string());
    }
    if let Ok(n) = t.parse::<f64>() {
        return Value::Num(n);
    }
    if t.chars().all(|c| c.is_alphanumeric() || c == '_')
        && t.starts_with(|c: char| c.is_alphabetic() || c == '_')
    {
        return Value::Ident(t.to_string());
    }
    Value::Expr(t.to_string())
}

/// Splits `text` at the top-level commas (outside brackets and strings).
pub fn split_top(text: &str) -> Vec<String> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut parts = vec![String::new()];
    for ch in text.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(ch),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut().unwrap().push(ch);
    }
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The text inside the parentheses that open at `open` (a byte index of `(`).
pub fn inside_parens(text: &str, open: usize) -> Option<&str> {
    let mut depth = 0;
    for (i, ch) in text[open..].char_indices() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[open + 1..open + i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The class name before the first `(` and the arguments inside the matching `)`: keyword ones
/// under their name, positional ones under their index ("0", "1", ...).
pub fn parse_call(call: &str) -> Result<(String, Vec<(String, String)>), String> {
    let open = call.find('(').ok_or("no argument list")?;
    let name = call[..open].trim().rsplit('.').next().unwrap_or("");
    let inner = inside_parens(call, open).ok_or("unbalanced argument list")?;
    let args = split_top(inner)
        .into_iter()
        .enumerate()
        .map(|(i, arg)| {
            // `key=value`, but not `f(x, dim=1)` nor `lambda x: x == 1`.
            match arg.split_once('=') {
                Some((k, v))
                    if !k.is_empty()
                        && k.trim().chars().all(|c| c.is_alphanumeric() || c == '_')
                        && !v.starts_with('=') =>
                {
                    (k.trim().to_string(), v.trim().to_string())
                }
                _ => (i.to_string(), arg),
            }
        })
        .collect();
    Ok((name.to_string(), args))
}

/// A call's arguments, consumed one by one.
pub struct Kwargs(Vec<(String, Value)>);

impl Kwargs {
    /// Names positional arguments after `signature` (the parameters in order).
    pub fn new(args: Vec<(String, String)>, signature: &[&str]) -> Result<Self, String> {
        let mut out = Vec::new();
        for (k, v) in args {
            let key = match k.parse::<usize>() {
                Ok(i) => signature
                    .get(i)
                    .ok_or(format!("positional argument {i} ({v}) past the signature"))?
                    .to_string(),
                Err(_) => k,
            };
            if out.iter().any(|(seen, _)| *seen == key) {
                return Err(format!("argument {key} given twice"));
            }
            out.push((key, parse_value(&v)));
        }
        Ok(Self(out))
    }

    pub fn take(&mut self, key: &str) -> Option<Value> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(at).1)
    }

    pub fn bool(&mut self, key: &str, default: bool) -> Result<bool, String> {
        match self.take(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(b),
            Some(v) => Err(format!("{key}={v:?} is not a bool")),
        }
    }

    pub fn num(&mut self, key: &str, default: f64) -> Result<f64, String> {
        match self.take(key) {
            None => Ok(default),
            Some(Value::Num(n)) => Ok(n),
            Some(v) => Err(format!("{key}={v:?} is not a number")),
        }
    }

    /// A string, or an enum member named by its last dotted segment
    /// (`LossReduction.MEAN` → `"mean"`).
    pub fn string(&mut self, key: &str, default: &str) -> Result<String, String> {
        match self.take(key) {
            None => Ok(default.to_string()),
            Some(Value::Str(s)) => Ok(s),
            Some(Value::Expr(e)) if e.contains('.') && !e.contains('(') => {
                Ok(e.rsplit('.').next().unwrap_or("").to_lowercase())
            }
            Some(v) => Err(format!("{key}={v:?} is not a string")),
        }
    }

    /// A list of numbers (a scalar is a list of one), or `None`.
    pub fn list(&mut self, key: &str) -> Result<Option<Vec<f64>>, String> {
        match self.take(key) {
            None | Some(Value::None) => Ok(None),
            Some(Value::List(l)) => Ok(Some(l)),
            Some(Value::Num(n)) => Ok(Some(vec![n])),
            Some(v) => Err(format!("{key}={v:?} is not a list")),
        }
    }

    /// A dict's entries as keyword arguments (an absent or empty dict: none).
    pub fn dict(&mut self, key: &str) -> Result<Kwargs, String> {
        match self.take(key) {
            None => Ok(Kwargs(Vec::new())),
            Some(Value::Dict(entries)) => Kwargs::new(entries, &[]),
            Some(v) => Err(format!("{key}={v:?} is not a dict")),
        }
    }

    /// An integer label, or `None`.
    pub fn label(&mut self, key: &str) -> Result<Option<i64>, String> {
        match self.take(key) {
            None | Some(Value::None) => Ok(None),
            Some(Value::Num(n)) if n.fract() == 0.0 => Ok(Some(n as i64)),
            Some(v) => Err(format!("{key}={v:?} is not an integer")),
        }
    }

    pub fn done(self) -> Result<(), String> {
        match self.0.first() {
            None => Ok(()),
            Some((k, v)) => Err(format!("unsupported argument {k}={v:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_literals_and_calls() {
        assert_eq!(parse_value("(3, 2.0, 1)"), Value::List(vec![3.0, 2.0, 1.0]));
        assert_eq!(
            parse_value("torch.tensor([0.5, 2])"),
            Value::List(vec![0.5, 2.0])
        );
        assert_eq!(parse_value("(1,)"), Value::List(vec![1.0]));
        assert_eq!(parse_value("torch.tanh"), Value::Expr("torch.tanh".into()));
        assert_eq!(
            parse_value("{'batch_dice': True, 'smooth': 1e-5}"),
            Value::Dict(vec![
                ("batch_dice".into(), "True".into()),
                ("smooth".into(), "1e-5".into())
            ])
        );
        let (name, args) =
            parse_call("m.DiceLoss(True, other_act=lambda x: torch.softmax(x, dim=1), w=(1, 2))")
                .unwrap();
        assert_eq!(name, "DiceLoss");
        assert_eq!(
            args,
            vec![
                ("0".into(), "True".into()),
                (
                    "other_act".into(),
                    "lambda x: torch.softmax(x, dim=1)".into()
                ),
                ("w".into(), "(1, 2)".into()),
            ]
        );
        let mut kw = Kwargs::new(args, &["include_background"]).unwrap();
        assert!(kw.bool("include_background", false).unwrap());
        assert_eq!(kw.list("w").unwrap(), Some(vec![1.0, 2.0]));
        assert!(kw.take("other_act").is_some());
        kw.done().unwrap();
    }
}
