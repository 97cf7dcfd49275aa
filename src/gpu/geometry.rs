//! A plan's geometry: rows, class chunks, workgroup counts, the tensor layout, the input
//! kernels' specialisation and the scratch sizes, from the shape, the config, the target format
//! and the device's limits. Pure arithmetic (no device), so that it is unit-tested.

use super::*;
use crate::config::{Activation, DiceConfig, Scope};
use crate::error::DiceError;
use crate::params::{
    Params, ACT_NONE, ACT_SIGMOID, ACT_SOFTMAX, CE_OFF, CE_SOFTMAX, CLASS_CHUNK, SUM_TERMS,
};
use crate::shape::{PredFormat, Shape, TargetKind};

/// What a plan's buffers and dispatches are sized by.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    /// Rows of sums: B per sample, 1 for the batch.
    pub(super) n_rows: u32,
    /// Class chunks of [`CLASS_CHUNK`] classes (dice_partials' dispatch y).
    pub(super) n_chunks: u32,
    /// dice_partials workgroups per (sample, class chunk).
    pub(super) groups: u32,
    /// dice_gradient workgroups per sample on the scalar and on the VEC4 path (which takes
    /// four pixels per thread and step).
    pub(super) gradient_groups: [u32; 2],
    /// dice_finalize workgroups: one thread per cell (per row for Generalized Dice).
    pub(super) finalize_groups: u32,
    /// Workgroups per dispatch dimension; larger counts are grid-stride loops in the kernels.
    pub(super) max_dim: u32,
    /// Flat, or each tensor over its pages.
    pub(super) layout: TensorLayout,
    /// The input kernels' parameters with the sizes filled in (offsets come per call).
    pub(super) params: Params,
    /// The input kernels' specialisation (without VEC4).
    pub(super) spec: Spec,
    /// Whether the VEC4 path may run (whole quads of pixels, one class chunk, integer labels,
    /// no cross-entropy term but softmax beside a softmax Dice term); offsets are checked per
    /// call.
    pub(super) vec4: bool,
    /// Bytes of the coefficients (and the softmax normalisers where stored).
    pub(super) coefs_bytes: u64,
    /// Bytes of dice_partials' partial sums.
    pub(super) partials_bytes: u64,
}

impl Geometry {
    /// The geometry of one plan, or the limit that the shape exceeds. `slots` is the partial
    /// sums each dice_partials workgroup writes (the fold's).
    pub(super) fn new(
        limits: &wgpu::Limits,
        grid: Grid,
        slots: u32,
        shape: &Shape,
        config: &DiceConfig,
        pred_format: PredFormat,
        target_kind: TargetKind,
    ) -> Result<Self, DiceError> {
        let max_dim = limits.max_compute_workgroups_per_dimension;
        let (n_b, n_c, n_s) = (shape.batch(), shape.classes(), shape.spatial());
        fits(
            "class count",
            n_c as u64,
            max_dim as u64 * CLASS_CHUNK as u64,
            "max_compute_workgroups_per_dimension x class chunk",
        )?;
        // Element indices are u32 (counted from the start of a tensor's first binding).
        fits(
            "elements",
            shape.len() as u64 + 1024,
            u32::MAX as u64,
            "u32 element index",
        )?;
        let layout = TensorLayout::choose(
            TensorBytes {
                preds: shape.len() as u64 * pred_format.element_size(),
                targets: target_kind.len_for(shape) as u64 * target_kind.element_size(),
                grad: shape.len() as u64 * 4,
            },
            limits,
        )?;
        let n_rows = match config.scope {
            Scope::PerSample => n_b as u32,
            Scope::Batch => 1,
        };
        let n_chunks = (n_c as u32).div_ceil(CLASS_CHUNK);
        let per_unit =
            |target, units, pixels| Grid::per_unit(target, units, n_s as u32, pixels, max_dim);
        let groups = per_unit(
            grid.partial_groups,
            n_chunks.saturating_mul(n_b as u32),
            grid.partial_pixels_per_thread,
        );
        let gradient_groups = grid
            .gradient_pixels_per_thread
            .map(|pixels| per_unit(grid.gradient_groups, n_b as u32, pixels));
        let finalize_units = match config.generalized {
            Some(_) => n_rows as u64,
            None => n_rows as u64 * n_c as u64,
        };
        let mut params = Params::for_config(config);
        params.n_samples = n_b as u32;
        params.n_classes = n_c as u32;
        params.spatial = n_s as u32;
        // Partials per (sample, class chunk): `slots` per workgroup.
        params.groups = groups * slots;
        params.page_shift = layout.page_shift();
        params.n_rows = n_rows;
        let spec = input_spec(config, n_c, pred_format, target_kind);
        let mut geo = Self {
            n_rows,
            n_chunks,
            groups,
            gradient_groups,
            finalize_groups: finalize_units.div_ceil(WG as u64).clamp(1, max_dim as u64) as u32,
            max_dim,
            layout,
            params,
            spec,
            vec4: vec4_path(config, shape, target_kind, params.ce_kind),
            coefs_bytes: 0,
            partials_bytes: 0,
        };
        geo.size_scratch(limits, shape)?;
        Ok(geo)
    }

    /// The scratch sizes, each within one storage binding. The coefficients: the Dice ones, the
    /// cross-entropy ones and their sum (`ce_coef_base`), then for softmax over several class
    /// chunks the per-pixel normalisers (`norm_index`), in one binding (8 bytes a pixel against
    /// at least 36 of predictions: past about 4.5 bindings of predictions this refuses before
    /// the pages would). The partials: per slot and class A, P, Y, and X1, X2 where a
    /// cross-entropy term is fused (`partial_terms` in the WGSL).
    fn size_scratch(&mut self, limits: &wgpu::Limits, shape: &Shape) -> Result<(), DiceError> {
        let (n_b, n_c, n_s) = (shape.batch(), shape.classes(), shape.spatial());
        let coef_pairs = self.cells() + n_c as u64 + 1;
        let norm_pairs = if self.spec.norms() {
            (n_b * n_s) as u64
        } else {
            0
        };
        self.coefs_bytes = (coef_pairs + norm_pairs) * 2 * 4;
        let partial_terms = if self.params.ce_kind == CE_OFF {
            3
        } else {
            SUM_TERMS
        };
        let per_sample = self.n_chunks as u64 * n_b as u64;
        self.partials_bytes =
            per_sample * self.params.groups as u64 * (partial_terms * CLASS_CHUNK) as u64 * 4;
        let limit = limits.max_storage_buffer_binding_size;
        let binding = "max_storage_buffer_binding_size";
        fits(
            "coefficients and softmax normalisers",
            self.coefs_bytes,
            limit,
            binding,
        )?;
        fits("partials scratch", self.partials_bytes, limit, binding)
    }

    /// Cells of sums: rows times classes.
    pub(super) fn cells(&self) -> u64 {
        self.n_rows as u64 * self.params.n_classes as u64
    }
}

/// The input kernels' specialisation (without VEC4) for a config, class count and formats.
fn input_spec(
    config: &DiceConfig,
    n_c: usize,
    pred_format: PredFormat,
    target_kind: TargetKind,
) -> Spec {
    Spec {
        activation: match config.activation {
            Activation::None => ACT_NONE,
            Activation::Softmax => ACT_SOFTMAX,
            Activation::Sigmoid => ACT_SIGMOID,
        },
        target_kind: target_kind.code(),
        pred_f16: pred_format == PredFormat::F16,
        squared: config.squared,
        soft_l1: config.soft_l1(),
        n_classes: n_c as u32,
        vec4: false,
        ce_kind: crate::params::ce_kind(config),
        softmax: config.softmax_over_classes(),
    }
}

/// Whether the VEC4 path may run: whole quads of pixels, every class in one chunk, integer
/// labels, and a cross-entropy term only as softmax beside a softmax Dice term (they share the
/// exponentials).
fn vec4_path(config: &DiceConfig, shape: &Shape, target_kind: TargetKind, ce_kind: u32) -> bool {
    shape.spatial().is_multiple_of(4)
        && shape.classes() as u32 <= CLASS_CHUNK
        && (ce_kind == CE_OFF
            || (ce_kind == CE_SOFTMAX && config.activation == Activation::Softmax))
        && matches!(
            target_kind,
            TargetKind::LabelsU8 | TargetKind::LabelsU16 | TargetKind::LabelsU32
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cross_entropy::CrossEntropy;

    fn cpu_grid() -> Grid {
        Grid {
            partial_groups: 8,
            partial_pixels_per_thread: 64,
            gradient_groups: 8,
            gradient_pixels_per_thread: [16, 64],
        }
    }

    fn geometry(dims: &[usize], config: &DiceConfig, target: TargetKind) -> Geometry {
        let shape = Shape::new(dims).unwrap();
        let limits = wgpu::Limits::downlevel_defaults();
        Geometry::new(
            &limits,
            cpu_grid(),
            4,
            &shape,
            config,
            PredFormat::F32,
            target,
        )
        .unwrap()
    }

    #[test]
    fn rows_chunks_and_workgroups_follow_the_shape() {
        let per_sample = DiceConfig::monai();
        let g = geometry(&[3, 11, 64, 64], &per_sample, TargetKind::LabelsU8);
        assert_eq!((g.n_rows, g.n_chunks), (3, 2));
        // 8 workgroups aimed at over 3 samples x 2 chunks: 1 each; the gradient's 8 over 3
        // samples: 2 each, where 4096 pixels at 16 a thread fill two; at the VEC4 path's 64, one.
        assert_eq!(g.groups, 1);
        assert_eq!(g.gradient_groups, [2, 1]);
        assert_eq!(g.params.groups, 4);
        // Softmax over 11 classes stores a normaliser pair per pixel after 33 + 11 + 1 pairs.
        assert_eq!(g.coefs_bytes, (33 + 11 + 1 + 3 * 64 * 64) * 8);
        assert_eq!(g.partials_bytes, 6 * 4 * 3 * CLASS_CHUNK as u64 * 4);
        assert!(!g.vec4, "more classes than one chunk");
        assert_eq!(g.finalize_groups, 1);
        assert_eq!(g.cells(), 33);
    }

    #[test]
    fn the_vec4_path_takes_whole_quads_of_labels_only() {
        let seed = DiceConfig::seed();
        assert!(geometry(&[2, 3, 8, 8], &seed, TargetKind::LabelsU32).vec4);
        assert!(!geometry(&[2, 3, 7, 5], &seed, TargetKind::LabelsU32).vec4);
        assert!(!geometry(&[2, 3, 8, 8], &seed, TargetKind::Dense).vec4);
        let sigmoid_ce = DiceConfig {
            cross_entropy: Some(CrossEntropy::sigmoid()),
            ..DiceConfig::monai()
        };
        let g = geometry(&[2, 3, 8, 8], &sigmoid_ce, TargetKind::LabelsU32);
        assert!(!g.vec4);
        // With a cross-entropy term each slot holds five sums per class.
        assert_eq!(
            g.partials_bytes,
            2 * 4 * SUM_TERMS as u64 * CLASS_CHUNK as u64 * 4
        );
        let batch = DiceConfig::seed();
        assert_eq!(geometry(&[5, 2, 4, 4], &batch, TargetKind::Dense).n_rows, 1);
    }

    #[test]
    fn a_shape_past_the_limits_is_refused_by_name() {
        let shape = Shape::new(&[1, 2, 1 << 16, 1 << 15]).unwrap();
        let limits = wgpu::Limits::downlevel_defaults();
        let err = Geometry::new(
            &limits,
            cpu_grid(),
            4,
            &shape,
            &DiceConfig::seed(),
            PredFormat::F32,
            TargetKind::LabelsU32,
        )
        .unwrap_err();
        assert!(err.to_string().contains("elements"), "{err}");
    }
}
