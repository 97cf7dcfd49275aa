//! The shader variants the crate can build: each kernel in each binding layout and fold, and
//! the specialisations (`override` values) its pipelines are created with.

use std::collections::HashMap;

use softdice::shaders::{host_constants, Binding, Fold, Kernel, Pages, MAX_PAGES};

const fn paged(preds: u32, targets: u32, grad: u32) -> Binding {
    Binding::Paged(Pages {
        preds,
        targets,
        grad,
    })
}

/// Layouts as devices choose them: flat, one page for a small tensor beside several, the same
/// count for all, and the most pages a tensor may span.
pub const LAYOUTS: [Binding; 5] = [
    Binding::Flat,
    paged(2, 1, 2),
    paged(4, 4, 4),
    paged(1, 1, 2),
    paged(MAX_PAGES, 3, MAX_PAGES),
];

/// The layouts a kernel is built in: all of them where it reads the inputs, flat otherwise.
pub fn layouts(kernel: Kernel) -> &'static [Binding] {
    if kernel.reads_inputs() {
        &LAYOUTS
    } else {
        &[Binding::Flat]
    }
}

/// The folds whose sources differ for a kernel (only `dice_partials` has two).
pub fn folds(kernel: Kernel) -> &'static [Fold] {
    match kernel {
        Kernel::DicePartials => &[Fold::Workgroup, Fold::Subgroup],
        Kernel::DiceReduce
        | Kernel::DiceFinalize
        | Kernel::DiceGradient
        | Kernel::DiceNormaliser
        | Kernel::DiceCounts => &[Fold::Workgroup],
    }
}

/// naga's validator as the device offers it: the subgroup fold is only built on devices with
/// `Features::SUBGROUP`, and the workgroup fold must validate without it.
pub fn validator(fold: Fold) -> naga::valid::Validator {
    match fold {
        Fold::Workgroup => naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        ),
        Fold::Subgroup => {
            let mut v = naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::SUBGROUP,
            );
            v.subgroup_stages(naga::valid::ShaderStages::COMPUTE)
                .subgroup_operations(naga::valid::SubgroupOperationSet::all());
            v
        }
    }
}

/// A kernel variant parsed and validated (panics naming the variant on either error).
pub fn module(
    kernel: Kernel,
    binding: Binding,
    fold: Fold,
) -> (String, naga::Module, naga::valid::ModuleInfo) {
    let source = kernel.source(binding, fold);
    let name = format!("{} ({binding:?}, {fold:?} fold)", kernel.name());
    let module = naga::front::wgsl::parse_str(&source)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
    let info = validator(fold)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
    (name, module, info)
}

/// The values of one family of shared codes (`ACT_*`, `TARGET_*`, `CE_*` less `CE_DIV_*`): a
/// code added to a family is specialised on here without an edit.
fn codes(prefix: &str, except: &[&str]) -> Vec<f64> {
    host_constants()
        .into_iter()
        .filter(|(name, _)| name.starts_with(prefix) && !except.iter().any(|e| name.starts_with(e)))
        .map(|(_, v)| f64::from(v))
        .collect()
}

/// One shared code by name.
fn code(name: &str) -> f64 {
    let found = host_constants().into_iter().find(|&(n, _)| n == name);
    f64::from(
        found
            .unwrap_or_else(|| panic!("no shared constant {name}"))
            .1,
    )
}

/// One specialisation: override name → value, as `PipelineCompilationOptions::constants`.
pub type Spec = HashMap<String, f64>;

/// The specialisations a variant is translated with, restricted to the overrides its module
/// declares: on the flat layout, every activation × target format × cross-entropy kind, and
/// each other override over its range from a base; on the paged layouts the base and
/// everything switched on. `SLOTS` follows the fold (one partial per workgroup, or one per
/// subgroup down to subgroups of one lane); `LANES` every power of two the host picks.
pub fn specialisations(module: &naga::Module, binding: Binding, fold: Fold) -> Vec<Spec> {
    let declared: Vec<&str> = module
        .overrides
        .iter()
        .filter_map(|(_, o)| o.name.as_deref())
        .collect();
    let slots: &[f64] = match fold {
        Fold::Workgroup => &[1.0],
        Fold::Subgroup => &[1.0, 2.0, 4.0, 16.0, 32.0, 128.0],
    };
    let base: Spec = [
        ("N_CLASSES", 2.0),
        ("LANES", 128.0),
        ("SLOTS", slots[slots.len() - 1]),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .into();
    let with = |changes: &[(&str, f64)]| {
        let mut spec = base.clone();
        spec.extend(changes.iter().map(|&(k, v)| (k.to_string(), v)));
        spec
    };
    let everything = with(&[
        ("ACTIVATION", code("ACT_SOFTMAX")),
        ("CE_KIND", code("CE_SOFTMAX_FOCAL")),
        ("SQUARED", 1.0),
        ("SOFT_L1", 1.0),
        ("VEC4", 1.0),
        ("PRED_F16", 1.0),
        ("N_CLASSES", 9.0),
        ("DECISION", code("DECISION_THRESHOLD")),
    ]);
    let mut specs = vec![base.clone(), everything];
    if binding == Binding::Flat {
        for act in codes("ACT_", &[]) {
            for target in codes("TARGET_", &[]) {
                for ce in codes("CE_", &["CE_DIV_"]) {
                    specs.push(with(&[
                        ("ACTIVATION", act),
                        ("TARGET_KIND", target),
                        ("CE_KIND", ce),
                    ]));
                }
            }
        }
        for decision in codes("DECISION_", &[]) {
            for act in codes("ACT_", &[]) {
                for vec4 in [0.0, 1.0] {
                    specs.push(with(&[
                        ("DECISION", decision),
                        ("ACTIVATION", act),
                        ("VEC4", vec4),
                    ]));
                }
            }
        }
        for flag in ["SQUARED", "SOFT_L1", "VEC4", "PRED_F16"] {
            specs.push(with(&[(flag, 1.0)]));
        }
        for classes in [1.0, 8.0, 9.0, 40.0] {
            specs.push(with(&[("N_CLASSES", classes)]));
        }
        for lanes in [4.0, 8.0, 16.0, 32.0, 64.0] {
            specs.push(with(&[("LANES", lanes)]));
        }
        for &s in slots {
            specs.push(with(&[("SLOTS", s)]));
        }
    }
    // Only the overrides the module declares (naga refuses others); then without repeats.
    let mut seen = Vec::new();
    specs
        .into_iter()
        .map(|spec| {
            spec.into_iter()
                .filter(|(k, _)| declared.contains(&k.as_str()))
                .collect::<Spec>()
        })
        .filter(|spec| {
            let mut key: Vec<_> = spec.iter().map(|(k, v)| (k.clone(), v.to_bits())).collect();
            key.sort();
            let new = !seen.contains(&key);
            seen.push(key);
            new
        })
        .collect()
}

/// Every (kernel, layout, fold) the crate can build.
pub fn all() -> impl Iterator<Item = (Kernel, Binding, Fold)> {
    Kernel::ALL.into_iter().flat_map(|k| {
        layouts(k)
            .iter()
            .flat_map(move |&b| folds(k).iter().map(move |&f| (k, b, f)))
    })
}
