//! Every kernel parses and validates with naga, and its bindings, shared constants and structs
//! match the host's tables.

use std::collections::HashMap;

use softdice::shaders::{bindings, host_constants, host_structs, Access, Binding, Fold, Kernel};

use crate::variants;

#[test]
fn every_kernel_parses_and_validates() {
    for (kernel, binding, fold) in variants::all() {
        let (name, module, _) = variants::module(kernel, binding, fold);
        assert!(
            module.entry_points.iter().any(|e| e.name == "main"),
            "{name} has no entry point main"
        );
    }
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
                "tree.wgsl",
            ]
            .map(String::from),
        )
        .collect();
    expected.sort();
    assert_eq!(files, expected);
}

/// Every kernel variant's module and its validation info.
fn modules() -> Vec<(
    String,
    Kernel,
    Binding,
    naga::Module,
    naga::valid::ModuleInfo,
)> {
    let mut out = Vec::new();
    for kernel in Kernel::ALL {
        for &binding in variants::layouts(kernel) {
            let (name, module, info) = variants::module(kernel, binding, Fold::Workgroup);
            out.push((name, kernel, binding, module, info));
        }
    }
    out
}

#[test]
fn every_binding_table_matches_its_wgsl() {
    for (name, kernel, binding, module, info) in modules() {
        let table = bindings(kernel, binding);
        let declared: HashMap<u32, (&str, naga::AddressSpace)> = module
            .global_variables
            .iter()
            .filter_map(|(_, var)| {
                let b = var.binding.as_ref()?;
                assert_eq!(b.group, 0, "{name}");
                Some((b.binding, (var.name.as_deref().unwrap_or(""), var.space)))
            })
            .collect();
        // Every table entry is declared with the same number, name and access.
        for slot in &table {
            let (var, space) = declared
                .get(&slot.number())
                .unwrap_or_else(|| panic!("{name}: {slot:?} is not declared"));
            assert_eq!(*var, slot.name(), "{name}: binding {}", slot.number());
            let access = match space {
                naga::AddressSpace::Uniform => Access::Uniform,
                naga::AddressSpace::Storage { access } => {
                    if access.contains(naga::StorageAccess::STORE) {
                        Access::ReadWrite
                    } else {
                        Access::Read
                    }
                }
                other => panic!("{name}: {var} in {other:?}"),
            };
            assert_eq!(access, slot.access, "{name}: {var}");
        }
        // Every binding an entry point uses is in the table.
        for (i, entry) in module.entry_points.iter().enumerate() {
            let uses = info.get_entry_point(i);
            for (handle, var) in module.global_variables.iter() {
                let (Some(b), false) = (&var.binding, uses[handle].is_empty()) else {
                    continue;
                };
                assert!(
                    table.iter().any(|s| s.number() == b.binding),
                    "{name}: {} uses {:?} (binding {}), missing from the table",
                    entry.name,
                    var.name,
                    b.binding
                );
            }
        }
    }
}

/// The value of a WGSL module-scope `const` of type u32.
fn wgsl_constant(module: &naga::Module, name: &str) -> Option<u32> {
    let (_, constant) = module
        .constants
        .iter()
        .find(|(_, c)| c.name.as_deref() == Some(name))?;
    match module.global_expressions[constant.init] {
        naga::Expression::Literal(naga::Literal::U32(v)) => Some(v),
        ref other => panic!("{name} = {other:?} is not a u32 literal"),
    }
}

#[test]
fn every_shared_constant_and_struct_matches_the_wgsl() {
    let modules = modules();
    for (name, value) in host_constants() {
        let found: Vec<u32> = modules
            .iter()
            .filter_map(|(_, _, _, module, _)| wgsl_constant(module, name))
            .collect();
        assert!(!found.is_empty(), "{name} is in no kernel");
        assert!(
            found.iter().all(|&v| v == value),
            "{name}: host {value}, WGSL {found:?}"
        );
    }
    for softdice::shaders::StructLayout { name, size, fields } in host_structs() {
        let (_, module) = modules
            .iter()
            .map(|(_, _, _, m, _)| ((), m))
            .find(|(_, m)| m.types.iter().any(|(_, t)| t.name.as_deref() == Some(name)))
            .unwrap_or_else(|| panic!("struct {name} is in no kernel"));
        let ty = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .unwrap()
            .1;
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("{name} is not a struct")
        };
        assert_eq!(*span as usize, size, "{name} size");
        let wgsl: Vec<(&str, usize)> = members
            .iter()
            .map(|m| (m.name.as_deref().unwrap_or(""), m.offset as usize))
            .collect();
        assert_eq!(wgsl, fields, "{name} fields and offsets");
    }
}

#[test]
fn the_floor_kernels_of_the_throughput_example_validate() {
    let source = include_str!("../../examples/floor.wgsl");
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("floor.wgsl: {}", e.emit_to_string(source)));
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("floor.wgsl: {}", e.emit_to_string(source)));
}
