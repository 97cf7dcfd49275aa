//! The checks every call on predictions and labels makes first: their shapes agree and they
//! are on one device.

use burn::tensor::{Int, Tensor};
use softdice::Shape;

use crate::error::Error;

/// The predictions' shape, where the labels are `[B, spatial…]` of predictions
/// `[B, C, spatial…]` on the same device.
pub(crate) fn check_inputs<const D: usize, const DL: usize>(
    preds: &Tensor<D>,
    labels: &Tensor<DL, Int>,
) -> Result<Shape, Error> {
    let dims = preds.dims();
    let shape = Shape::new(&dims)?;
    let expected: Vec<usize> = [dims[0]]
        .into_iter()
        .chain(dims[2..].iter().copied())
        .collect();
    if labels.dims().as_slice() != expected.as_slice() {
        return Err(Error::LabelShape {
            preds: dims.to_vec(),
            labels: labels.dims().to_vec(),
            expected,
        });
    }
    let device = preds.device();
    if device != labels.device() {
        return Err(Error::DeviceMismatch {
            preds: format!("{device:?}"),
            labels: format!("{:?}", labels.device()),
        });
    }
    Ok(shape)
}
