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
}
