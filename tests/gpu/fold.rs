//! The two workgroup folds of the forward pass: `subgroupAdd` where the device has subgroups
//! (lavapipe does), workgroup memory otherwise. Each against the oracle on the scalar, VEC4
//! and multi-chunk paths, and each bit-identical run to run.

use softdice::shaders::Fold;
use softdice::{Activation, DiceConfig, DiceContext, Gradient, Scope, Shape, Targets};

use crate::common::*;
use crate::oracle::compare;

/// A context on the default adapter whose device was created without subgroups.
fn workgroup_fold_ctx() -> DiceContext {
    own_ctx(wgpu::Features::empty(), |limits| limits)
}

#[test]
fn the_default_context_folds_with_subgroups_where_the_adapter_has_them() {
    let Some(ctx) = ctx() else { return };
    // Read from the adapter's features, whatever the adapter: lavapipe has subgroups, GL
    // (llvmpipe) has none; lavapipe's are narrower than Fold::MIN_SUBGROUP at
    // LP_NATIVE_VECTOR_WIDTH 64 and 128 (2 and 4 lanes).
    let adapter_has = shared_adapter()
        .features()
        .contains(wgpu::Features::SUBGROUP);
    let has = ctx.device().features().contains(wgpu::Features::SUBGROUP);
    assert_eq!(
        has, adapter_has,
        "the context asks for subgroups where offered"
    );
    let wide = Fold::smallest_subgroup(ctx.adapter_info()) >= Fold::MIN_SUBGROUP;
    assert_eq!(
        ctx.fold(),
        if has && wide {
            Fold::Subgroup
        } else {
            Fold::Workgroup
        }
    );
    assert_eq!(workgroup_fold_ctx().fold(), Fold::Workgroup);
}

#[test]
fn both_folds_match_the_oracle_and_repeat_bit_for_bit() {
    let Some(shared) = ctx() else { return };
    let workgroup = workgroup_fold_ctx();
    let mut rng = Rng::new(77);
    // Scalar path (S not a multiple of 4), VEC4 path, two class chunks; sizes that leave
    // partly filled subgroups and workgroups.
    let shapes = [
        Shape::new(&[2, 3, 37, 68]).unwrap(),
        Shape::new(&[3, 4, 64, 64]).unwrap(),
        Shape::new(&[2, 17, 45]).unwrap(),
        Shape::new(&[1, 2, 5]).unwrap(),
    ];
    for shape in &shapes {
        let logits = rng.logits(shape.len(), 4.0);
        let labels = rng.labels(shape.pixels(), shape.classes() as u32);
        for scope in [Scope::Batch, Scope::PerSample] {
            let config = DiceConfig {
                activation: Activation::Softmax,
                scope,
                ..DiceConfig::seed()
            };
            for ctx in [shared, &workgroup] {
                let targets = Targets::Labels(&labels);
                compare(ctx, shape, &config, &logits, targets)
                    .unwrap_or_else(|e| panic!("{:?} fold: {e}", ctx.fold()));
                let a = ctx
                    .compute(shape, &config, &logits, targets, Gradient::With)
                    .unwrap();
                let b = ctx
                    .compute(shape, &config, &logits, targets, Gradient::With)
                    .unwrap();
                assert_eq!(a.loss.to_bits(), b.loss.to_bits(), "{:?} fold", ctx.fold());
                assert_eq!(a.dice, b.dice, "{:?} fold", ctx.fold());
                assert_eq!(a.gradient, b.gradient, "{:?} fold", ctx.fold());
            }
        }
    }
}
