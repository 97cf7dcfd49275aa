//! How a pixel's predictions become a predicted class: the post-processing MONAI's metrics
//! expect to have been done (`AsDiscrete(argmax=True)` or a threshold on probabilities).

/// Which classes a pixel is predicted in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    /// The one class of largest input (the first of equal ones, as `torch.argmax`): softmax or
    /// multiclass predictions. The activation is monotone, so logits and probabilities agree.
    Argmax,
    /// Every class whose probability (the activation of its input) is above `value`, or at
    /// least `value` where `inclusive`: sigmoid or multilabel predictions. MONAI's `DiceHelper`
    /// takes `p > 0.5`; `AsDiscrete(threshold=t)` takes `p >= t`.
    Threshold {
        /// The threshold on the probability.
        value: f64,
        /// Whether a probability equal to it counts as predicted.
        inclusive: bool,
    },
}

impl Decision {
    /// `p > 0.5`, as MONAI's `DiceHelper(threshold=True)`.
    pub const HALF: Decision = Decision::Threshold {
        value: 0.5,
        inclusive: false,
    };

    /// Whether a probability `p` is predicted under a threshold decision.
    pub(crate) fn above(value: f64, inclusive: bool, p: f64) -> bool {
        if inclusive {
            p >= value
        } else {
            p > value
        }
    }

    /// dice_counts' `(decision, threshold, threshold_inclusive)` parameters. The shader
    /// compares an f32 probability; where `value` is not an f32, the f32 test that decides as
    /// the f64 one does is `p >= ` the smallest f32 above `value` (for either `inclusive`), so a
    /// probability stored exactly (no activation) is decided as the oracle decides it.
    pub(crate) fn gpu_params(self) -> (u32, f32, u32) {
        use crate::params::{DECISION_ARGMAX, DECISION_THRESHOLD};
        match self {
            Decision::Argmax => (DECISION_ARGMAX, 0.0, 0),
            Decision::Threshold { value, inclusive } => {
                let near = value as f32;
                let (t, inclusive) = match (near as f64).partial_cmp(&value) {
                    Some(std::cmp::Ordering::Equal) | None => (near, inclusive),
                    Some(std::cmp::Ordering::Less) => (next_up(near), true),
                    Some(std::cmp::Ordering::Greater) => (near, true),
                };
                (DECISION_THRESHOLD, t, u32::from(inclusive))
            }
        }
    }

    /// Checks a threshold decision's value (finite), before anything runs.
    pub(crate) fn check(self) -> Result<(), crate::DiceError> {
        match self {
            Decision::Threshold { value, .. } if !value.is_finite() => {
                Err(crate::DiceError::InvalidConfig(format!(
                    "the metric threshold {value} is not finite"
                )))
            }
            Decision::Argmax | Decision::Threshold { .. } => Ok(()),
        }
    }
}

/// The smallest f32 above a finite `x`.
fn next_up(x: f32) -> f32 {
    if x == 0.0 {
        // Either zero: the smallest subnormal.
        f32::from_bits(1)
    } else if x > 0.0 {
        f32::from_bits(x.to_bits() + 1)
    } else {
        f32::from_bits(x.to_bits() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_f32_threshold_decides_as_the_f64_one() {
        // Every f32 near each threshold: the shader's test on the f32 parameters against
        // Decision::above in f64.
        for value in [0.5, 0.3, 0.7, 1.0 / 3.0, 0.0, -0.1, 1e-30, 2.5] {
            for inclusive in [false, true] {
                let decision = Decision::Threshold { value, inclusive };
                let (_, t, inc) = decision.gpu_params();
                let centre = (value as f32).to_bits() as i64;
                for d in -4..=4i64 {
                    let p = f32::from_bits((centre + d) as u32);
                    let gpu = p > t || (inc == 1 && p == t);
                    let f64_test = Decision::above(value, inclusive, p as f64);
                    assert_eq!(gpu, f64_test, "value {value} inclusive {inclusive} p {p}");
                }
            }
        }
    }
}
