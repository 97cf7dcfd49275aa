//! Shapes of the inputs and the target formats.

use crate::error::DiceError;

/// The shape of the predictions, `[B, C, spatial...]`, with any number of spatial dims (none,
/// 2-D images, 3-D volumes). Labels have shape `[B, spatial...]`; dense targets the same as the
/// predictions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    dims: Vec<usize>,
}

impl Shape {
    /// A shape from `[B, C, spatial...]`; rejects a rank below 2 and empty axes.
    pub fn new(dims: &[usize]) -> Result<Self, DiceError> {
        if dims.len() < 2 {
            return Err(DiceError::BadRank {
                shape: dims.to_vec(),
                rank: dims.len(),
            });
        }
        if dims[1] == 0 {
            return Err(DiceError::ZeroClasses);
        }
        if let Some(axis) = dims.iter().position(|&d| d == 0) {
            return Err(DiceError::EmptyAxis {
                axis,
                shape: dims.to_vec(),
            });
        }
        let shape = Self {
            dims: dims.to_vec(),
        };
        // The element count must be representable; u64 is plenty for any real device.
        dims.iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
            .ok_or(DiceError::TooLarge {
                what: "element count",
                needed: u64::MAX,
                limit: u64::MAX,
                limit_name: "u64",
            })?;
        Ok(shape)
    }

    /// The dims as given.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// B.
    pub fn batch(&self) -> usize {
        self.dims[0]
    }

    /// C.
    pub fn classes(&self) -> usize {
        self.dims[1]
    }

    /// The product of the spatial dims (1 when there are none).
    pub fn spatial(&self) -> usize {
        self.dims[2..].iter().product()
    }

    /// Elements of the predictions (and of the gradient): B * C * S.
    pub fn len(&self) -> usize {
        self.batch() * self.classes() * self.spatial()
    }

    /// Never true: a valid shape has no empty axis. Here for the `len` convention.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pixels (labels): B * S.
    pub fn pixels(&self) -> usize {
        self.batch() * self.spatial()
    }
}

/// Ground truth on the host, in one of the formats the kernels read.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// Integer labels `[B, spatial...]`.
    Labels(&'a [u32]),
    /// Integer labels `[B, spatial...]` as bytes (a quarter of the traffic of u32).
    LabelsU8(&'a [u8]),
    /// Integer labels `[B, spatial...]` as u16.
    LabelsU16(&'a [u16]),
    /// Dense targets with the predictions' shape: one-hot, multilabel 0/1 or soft labels in
    /// [0, 1].
    Dense(&'a [f32]),
}

impl Targets<'_> {
    /// Elements given.
    pub fn len(&self) -> usize {
        match self {
            Targets::Labels(v) => v.len(),
            Targets::LabelsU8(v) => v.len(),
            Targets::LabelsU16(v) => v.len(),
            Targets::Dense(v) => v.len(),
        }
    }

    /// Whether no element is given.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The format of these targets.
    pub fn kind(&self) -> TargetKind {
        match self {
            Targets::Labels(_) => TargetKind::LabelsU32,
            Targets::LabelsU8(_) => TargetKind::LabelsU8,
            Targets::LabelsU16(_) => TargetKind::LabelsU16,
            Targets::Dense(_) => TargetKind::Dense,
        }
    }

    /// The targets as the bytes the GPU reads (u8/u16 labels packed, little-endian).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Targets::Labels(v) => bytemuck::cast_slice(v),
            Targets::LabelsU8(v) => v,
            Targets::LabelsU16(v) => bytemuck::cast_slice(v),
            Targets::Dense(v) => bytemuck::cast_slice(v),
        }
    }

    /// The label of pixel `i` (labels only).
    pub(crate) fn label(&self, i: usize) -> u32 {
        match self {
            Targets::Labels(v) => v[i],
            Targets::LabelsU8(v) => v[i] as u32,
            Targets::LabelsU16(v) => v[i] as u32,
            Targets::Dense(_) => unreachable!("dense targets have no labels"),
        }
    }
}

/// What targets are, whatever their storage: integer labels (one per pixel) or dense values
/// (one per element). A cross-entropy mean divides by different counts for the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetForm {
    /// Integer class labels.
    Labels,
    /// Dense per-class values (one-hot, soft or probabilities).
    Dense,
}

/// The format of targets in a GPU buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// One u32 per pixel.
    LabelsU32,
    /// One byte per pixel, four per 32-bit word (little endian).
    LabelsU8,
    /// One u16 per pixel, two per word.
    LabelsU16,
    /// f32 with the predictions' shape.
    Dense,
}

impl TargetKind {
    /// Labels or dense values.
    pub fn form(self) -> TargetForm {
        match self {
            TargetKind::LabelsU32 | TargetKind::LabelsU8 | TargetKind::LabelsU16 => {
                TargetForm::Labels
            }
            TargetKind::Dense => TargetForm::Dense,
        }
    }

    /// Bytes per element.
    pub fn element_size(self) -> u64 {
        match self {
            TargetKind::LabelsU32 | TargetKind::Dense => 4,
            TargetKind::LabelsU8 => 1,
            TargetKind::LabelsU16 => 2,
        }
    }

    /// Elements expected for a shape.
    pub fn len_for(self, shape: &Shape) -> usize {
        match self {
            TargetKind::Dense => shape.len(),
            TargetKind::LabelsU32 | TargetKind::LabelsU8 | TargetKind::LabelsU16 => shape.pixels(),
        }
    }

    pub(crate) fn code(self) -> u32 {
        match self {
            TargetKind::LabelsU32 => crate::params::TARGET_U32,
            TargetKind::LabelsU8 => crate::params::TARGET_U8,
            TargetKind::LabelsU16 => crate::params::TARGET_U16,
            TargetKind::Dense => crate::params::TARGET_DENSE,
        }
    }
}

/// The element type of predictions in a GPU buffer (the buffer-level API).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PredFormat {
    /// f32.
    #[default]
    F32,
    /// IEEE f16, two per 32-bit word (little endian): half the prediction traffic. Decoded in
    /// the kernels with integer operations, so no shader-f16 feature is needed; sums,
    /// gradients and the loss stay f32.
    F16,
}

impl PredFormat {
    /// Bytes per element.
    pub fn element_size(self) -> u64 {
        match self {
            PredFormat::F32 => 4,
            PredFormat::F16 => 2,
        }
    }
}
