//! Every kernel parses and validates with naga: a broken shader fails here even where no GPU
//! exists.

use softdice::shaders::{Binding, Fold, Kernel, Pages, MAX_PAGES};

#[test]
fn every_kernel_parses_and_validates() {
    // Paged layouts as devices choose them: one page for a small tensor beside several, the
    // same count for all, and the most pages a tensor may span.
    let paged = |preds, targets, grad| {
        Binding::Paged(Pages {
            preds,
            targets,
            grad,
        })
    };
    let layouts = [
        Binding::Flat,
        paged(2, 1, 2),
        paged(4, 4, 4),
        paged(1, 1, 2),
        paged(MAX_PAGES, 3, MAX_PAGES),
    ];
    let variants = Kernel::ALL.iter().flat_map(|&k| {
        let bindings: &[Binding] = if k.reads_inputs() {
            &layouts
        } else {
            &[Binding::Flat]
        };
        bindings.iter().map(move |&b| (k, b))
    });
    for (kernel, binding) in variants {
        for fold in [Fold::Workgroup, Fold::Subgroup] {
            validate(kernel, binding, fold);
        }
    }
}

fn validate(kernel: Kernel, binding: Binding, fold: Fold) {
    let source = kernel.source(binding, fold);
    let name = format!("{} ({binding:?}, {fold:?} fold)", kernel.name());
    let module = naga::front::wgsl::parse_str(&source)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
    // The subgroup fold is only built on devices with `Features::SUBGROUP`; the workgroup
    // fold must validate without it.
    let mut validator = match fold {
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
    };
    validator
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
    assert!(
        module.entry_points.iter().any(|e| e.name == "main"),
        "{name} has no entry point main"
    );
}

#[test]
fn every_shader_file_is_used() {
    // A kernel file that no Kernel loads would never be validated above.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = Kernel::ALL
        .iter()
        .map(|k| format!("{}.wgsl", k.name()))
        .chain(
            [
                "common.wgsl",
                "inputs.wgsl",
                "bindings_flat.wgsl",
                "bindings_paged.wgsl",
                "fold_subgroup.wgsl",
                "fold_workgroup.wgsl",
            ]
            .map(String::from),
        )
        .collect();
    expected.sort();
    assert_eq!(files, expected);
}
