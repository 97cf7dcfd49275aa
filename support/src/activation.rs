//! MONAI's `other_act=`: any activation the caller names, composed around softdice rather than
//! fused into it. The runner applies the activation on the host in f64, runs softdice on its
//! output with `Activation::None`, and chains the gradient through the activation's Jacobian —
//! what a Rust user does with the buffer API around their own kernel.

use softdice::Shape;

/// An activation a Python call names (`torch.tanh`, `torch.nn.Softmax(dim=1)`,
/// `lambda x: torch.log_softmax(x, dim=1)`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostActivation {
    Identity,
    Tanh,
    Sigmoid,
    Relu,
    Exp,
    Abs,
    /// `softplus(x)` with PyTorch's defaults (beta 1, linear above the threshold 20).
    Softplus,
    /// Softmax over the class axis (dim 1).
    Softmax,
    /// Log-softmax over the class axis (dim 1).
    LogSoftmax,
}

/// PyTorch's `softplus` threshold: above it the function is the identity.
const SOFTPLUS_THRESHOLD: f64 = 20.0;

/// The function a name designates (the last dotted segment, case-insensitive).
fn by_name(name: &str) -> Option<HostActivation> {
    use HostActivation::*;
    Some(match name.to_lowercase().as_str() {
        "identity" => Identity,
        "tanh" => Tanh,
        "sigmoid" => Sigmoid,
        "relu" => Relu,
        "exp" => Exp,
        "abs" => Abs,
        "softplus" => Softplus,
        "softmax" => Softmax,
        "log_softmax" | "logsoftmax" => LogSoftmax,
        _ => return None,
    })
}

/// Arguments of an activation call besides its input: only `dim=1` (or `1`) for the class-axis
/// functions; anything else is not mapped.
fn check_args(act: HostActivation, args: &[String]) -> Result<(), String> {
    let over_classes = matches!(act, HostActivation::Softmax | HostActivation::LogSoftmax);
    match (over_classes, args) {
        (false, []) => Ok(()),
        (true, [dim]) if dim.replace(' ', "") == "dim=1" || dim.trim() == "1" => Ok(()),
        _ => Err(format!(
            "{act:?} with arguments {args:?} (softmax / log_softmax over dim 1 only)"
        )),
    }
}

impl HostActivation {
    /// Reads `torch.tanh`, `torch.nn.Tanh()`, `torch.nn.Softmax(dim=1)`, `lambda x: x`,
    /// `lambda x: torch.log_softmax(x, dim=1)`, `lambda t: t.softmax(1)`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let unknown = || format!("other_act `{text}` is not one the runner maps");
        if let Some(rest) = text.strip_prefix("lambda") {
            let (var, body) = rest.split_once(':').ok_or_else(unknown)?;
            let (var, body) = (var.trim(), body.trim());
            if body == var {
                return Ok(Self::Identity);
            }
            let open = body.find('(').ok_or_else(unknown)?;
            let args = crate::pycall::split_top(
                crate::pycall::inside_parens(body, open).ok_or_else(unknown)?,
            );
            let head = &body[..open];
            // `var.f(args)` or `module.f(var, args)`.
            let (name, rest) = match head.strip_prefix(&format!("{var}.")) {
                Some(method) => (method, &args[..]),
                None if args.first().map(String::as_str) == Some(var) => {
                    (head.rsplit('.').next().unwrap_or(""), &args[1..])
                }
                None => return Err(unknown()),
            };
            let act = by_name(name).ok_or_else(unknown)?;
            check_args(act, rest)?;
            return Ok(act);
        }
        // A module instance `torch.nn.Softmax(dim=1)` or a function `torch.tanh`.
        let (head, args) = match text.find('(') {
            Some(open) => (
                &text[..open],
                crate::pycall::split_top(
                    crate::pycall::inside_parens(text, open).ok_or_else(unknown)?,
                ),
            ),
            None => (text, Vec::new()),
        };
        let act = by_name(head.rsplit('.').next().unwrap_or("")).ok_or_else(unknown)?;
        check_args(act, &args)?;
        Ok(act)
    }

    /// The activated values, in f64.
    pub fn forward(self, shape: &Shape, x: &[f32]) -> Vec<f64> {
        use HostActivation::*;
        let mut out: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        match self {
            Softmax | LogSoftmax => {
                for_each_pixel(shape, |at| {
                    let m = at.clone().map(|i| out[i]).fold(f64::MIN, f64::max);
                    let z: f64 = at.clone().map(|i| (out[i] - m).exp()).sum();
                    for i in at {
                        out[i] = if self == Softmax {
                            (out[i] - m).exp() / z
                        } else {
                            out[i] - m - z.ln()
                        };
                    }
                });
            }
            _ => out.iter_mut().for_each(|v| *v = self.elementwise(*v).0),
        }
        out
    }

    /// `f(x)` and `f'(x)` of an element-wise function.
    fn elementwise(self, x: f64) -> (f64, f64) {
        use HostActivation::*;
        match self {
            Identity => (x, 1.0),
            Tanh => (x.tanh(), 1.0 - x.tanh() * x.tanh()),
            Sigmoid => {
                let s = 1.0 / (1.0 + (-x).exp());
                (s, s * (1.0 - s))
            }
            // PyTorch's derivatives at the kinks: relu'(0) = 0, abs'(0) = sign(0) = 0.
            Relu => (x.max(0.0), f64::from(x > 0.0)),
            Exp => (x.exp(), x.exp()),
            Abs => (x.abs(), if x == 0.0 { 0.0 } else { x.signum() }),
            Softplus if x > SOFTPLUS_THRESHOLD => (x, 1.0),
            Softplus => (x.exp().ln_1p(), 1.0 / (1.0 + (-x).exp())),
            Softmax | LogSoftmax => unreachable!("class-axis functions are not element-wise"),
        }
    }

    /// d loss / d x from d loss / d f(x) (a vector-Jacobian product).
    pub fn backward(self, shape: &Shape, x: &[f32], f: &[f64], grad: &[f64]) -> Vec<f64> {
        use HostActivation::*;
        let mut out = grad.to_vec();
        match self {
            Softmax => for_each_pixel(shape, |at| {
                let dot: f64 = at.clone().map(|i| f[i] * grad[i]).sum();
                at.for_each(|i| out[i] = f[i] * (grad[i] - dot));
            }),
            LogSoftmax => for_each_pixel(shape, |at| {
                let total: f64 = at.clone().map(|i| grad[i]).sum();
                at.for_each(|i| out[i] = grad[i] - f[i].exp() * total);
            }),
            _ => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o *= self.elementwise(x[i] as f64).1;
                }
            }
        }
        out
    }
}

/// Calls `f` with the element indices of every pixel's classes.
fn for_each_pixel(shape: &Shape, mut f: impl FnMut(std::iter::StepBy<std::ops::Range<usize>>)) {
    let (n_c, n_s) = (shape.classes(), shape.spatial());
    for b in 0..shape.batch() {
        for s in 0..n_s {
            let first = b * n_c * n_s + s;
            f((first..first + n_c * n_s).step_by(n_s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_python_writes() {
        use HostActivation::*;
        for (text, act) in [
            ("torch.tanh", Tanh),
            ("torch.nn.Sigmoid()", Sigmoid),
            ("torch.nn.Softmax(dim=1)", Softmax),
            ("lambda x: x", Identity),
            ("lambda x: torch.log_softmax(x, dim=1)", LogSoftmax),
            ("lambda t: t.softmax(1)", Softmax),
            ("torch.nn.functional.relu", Relu),
        ] {
            assert_eq!(HostActivation::parse(text), Ok(act), "{text}");
        }
        assert!(HostActivation::parse("lambda x: torch.softmax(x, dim=0)").is_err());
        assert!(HostActivation::parse("lambda x: 2 * x").is_err());
        assert!(HostActivation::parse("torch.erf").is_err());
    }

    /// Every function's backward against central differences of its forward.
    #[test]
    fn backward_matches_finite_differences() {
        let shape = Shape::new(&[2, 3, 5]).unwrap();
        let x: Vec<f32> = (0..shape.len())
            .map(|i| ((i * 37 % 17) as f32 - 8.0) / 3.0 + 0.01)
            .collect();
        let upstream: Vec<f64> = (0..shape.len()).map(|i| (i % 5) as f64 - 1.5).collect();
        use HostActivation::*;
        for act in [
            Identity, Tanh, Sigmoid, Relu, Exp, Abs, Softplus, Softmax, LogSoftmax,
        ] {
            let f = act.forward(&shape, &x);
            let g = act.backward(&shape, &x, &f, &upstream);
            let h = 1.0 / 1024.0;
            for i in 0..shape.len() {
                let at = |d: f32| {
                    let mut v = x.clone();
                    v[i] += d;
                    let f = act.forward(&shape, &v);
                    f.iter().zip(&upstream).map(|(a, b)| a * b).sum::<f64>()
                };
                let fd = (at(h) - at(-h)) / (2.0 * h as f64);
                assert!((fd - g[i]).abs() < 1e-4 * (1.0 + g[i].abs()), "{act:?} {i}");
            }
        }
    }
}
