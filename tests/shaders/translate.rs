//! Every variant and specialisation as each backend's driver receives it: the overrides
//! resolved as wgpu resolves them, then naga writes SPIR-V (Vulkan), MSL (Metal), HLSL (DX12)
//! and GLSL ES (GL) with the options wgpu-hal passes, and the external validators check what
//! they can: `spirv-val` the SPIR-V, `glslangValidator` the GLSL. scripts/test.sh installs
//! both (Debian `spirv-tools`, `glslang-tools`) and sets `SOFTDICE_REQUIRE_SHADER_TOOLS`, which
//! makes a missing validator a failure; elsewhere a missing one is skipped with a loud message.
//! No translator for MSL or HLSL runs here (Apple's and Microsoft's compilers are not on
//! Linux): those are checked as far as naga's writers go.

use std::path::{Path, PathBuf};
use std::process::Command;

use softdice::shaders::Fold;

use crate::variants::{self, Spec};

const REQUIRE_TOOLS: &str = "SOFTDICE_REQUIRE_SHADER_TOOLS";

/// One external validator.
struct Validator {
    program: &'static str,
    /// The Debian package that has it.
    package: &'static str,
}

const SPIRV_VAL: Validator = Validator {
    program: "spirv-val",
    package: "spirv-tools",
};
const GLSLANG: Validator = Validator {
    program: "glslangValidator",
    package: "glslang-tools",
};

impl Validator {
    /// Whether the program runs; a missing one fails under `SOFTDICE_REQUIRE_SHADER_TOOLS`.
    fn present(&self) -> bool {
        let runs = Command::new(self.program).arg("--version").output().is_ok();
        if !runs {
            assert!(
                std::env::var_os(REQUIRE_TOOLS).is_none(),
                "{} is missing and {REQUIRE_TOOLS} is set (apt-get install {})",
                self.program,
                self.package
            );
            eprintln!(
                "\n*** translate: {} not found: its output is NOT validated \
                 (apt-get install {}) ***\n",
                self.program, self.package
            );
        }
        runs
    }

    /// Runs the validator on `file` with `args` before it; panics with its output on failure.
    fn check(&self, args: &[&str], file: &Path, what: &str) {
        let out = Command::new(self.program)
            .args(args)
            .arg(file)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", self.program));
        assert!(
            out.status.success(),
            "{what}: {} {args:?} {} failed:\n{}{}",
            self.program,
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The SPIR-V and Vulkan versions wgpu-hal picks for a device that builds this fold: subgroup
/// operations need SPIR-V 1.3 (Vulkan 1.1); the workgroup fold runs on Vulkan 1.0 devices.
/// Both are also written at SPIR-V 1.6 (Vulkan 1.3), what current drivers get.
fn spirv_targets(fold: Fold) -> [((u8, u8), &'static str); 2] {
    match fold {
        Fold::Workgroup => [((1, 0), "vulkan1.0"), ((1, 6), "vulkan1.3")],
        Fold::Subgroup => [((1, 3), "vulkan1.1"), ((1, 6), "vulkan1.3")],
    }
}

/// Index and buffer accesses clamped, as wgpu compiles shaders by default.
fn policies() -> naga::proc::BoundsCheckPolicies {
    naga::proc::BoundsCheckPolicies {
        index: naga::proc::BoundsCheckPolicy::Restrict,
        buffer: naga::proc::BoundsCheckPolicy::Restrict,
        image_load: naga::proc::BoundsCheckPolicy::Restrict,
        binding_array: naga::proc::BoundsCheckPolicy::Restrict,
    }
}

/// What was written, per backend.
#[derive(Default)]
struct Counts {
    spirv: usize,
    msl: usize,
    hlsl: usize,
    glsl: usize,
}

struct Tools {
    spirv_val: bool,
    glslang: bool,
    dir: PathBuf,
}

/// Writes one specialised variant for every backend and validates what a tool exists for.
fn translate(
    tools: &Tools,
    job: usize,
    (name, module, info, fold): (&str, &naga::Module, &naga::valid::ModuleInfo, Fold),
    spec: &Spec,
    counts: &mut Counts,
) {
    let mut constants = naga::back::PipelineConstants::default();
    constants.extend(spec.iter().map(|(k, &v)| (k.clone(), v)));
    let entry = (naga::ShaderStage::Compute, "main");
    let mut keys: Vec<_> = spec.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    let what = format!("{name} {keys:?}");
    let (module, info) =
        naga::back::pipeline_constants::process_overrides(module, info, Some(entry), &constants)
            .unwrap_or_else(|e| panic!("{what}: overrides: {e}"));

    for (lang_version, env) in spirv_targets(fold) {
        let options = naga::back::spv::Options {
            lang_version,
            bounds_check_policies: policies(),
            // The crate's pipelines ask for no zeroing (every kernel writes first).
            zero_initialize_workgroup_memory:
                naga::back::spv::ZeroInitializeWorkgroupMemoryMode::None,
            ..Default::default()
        };
        let pipeline = naga::back::spv::PipelineOptions {
            shader_stage: entry.0,
            entry_point: entry.1.to_string(),
        };
        let words = naga::back::spv::write_vec(&module, &info, &options, Some(&pipeline))
            .unwrap_or_else(|e| panic!("{what}: SPIR-V {lang_version:?}: {e}"));
        counts.spirv += 1;
        if tools.spirv_val {
            let file = tools.dir.join(format!("{job}.spv"));
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            std::fs::write(&file, bytes).unwrap();
            SPIRV_VAL.check(&["--target-env", env], &file, &what);
        }
    }

    let msl = naga::back::msl::Options {
        // MSL 2.1: wgpu offers subgroups on Metal only on the Mac2 and Apple7 families and
        // Metal 3, which all have at least that.
        lang_version: (2, 1),
        bounds_check_policies: policies(),
        zero_initialize_workgroup_memory: false,
        ..Default::default()
    };
    let msl_pipeline = naga::back::msl::PipelineOptions {
        entry_point: Some((entry.0, entry.1.to_string())),
        ..Default::default()
    };
    naga::back::msl::write_string(&module, &info, &msl, &msl_pipeline)
        .unwrap_or_else(|e| panic!("{what}: MSL: {e}"));
    counts.msl += 1;

    let hlsl = naga::back::hlsl::Options {
        // Wave intrinsics need shader model 6.0; DX12's floor is 5.1.
        shader_model: match fold {
            Fold::Workgroup => naga::back::hlsl::ShaderModel::V5_1,
            Fold::Subgroup => naga::back::hlsl::ShaderModel::V6_0,
        },
        zero_initialize_workgroup_memory: false,
        restrict_indexing: true,
        ..Default::default()
    };
    let hlsl_pipeline = naga::back::hlsl::PipelineOptions {
        entry_point: Some((entry.0, entry.1.to_string())),
    };
    let mut text = String::new();
    naga::back::hlsl::Writer::new(&mut text, &hlsl, &hlsl_pipeline)
        .write(&module, &info, None)
        .unwrap_or_else(|e| panic!("{what}: HLSL: {e}"));
    counts.hlsl += 1;

    // wgpu's GL backend has no subgroup operations: only the workgroup fold runs there.
    if fold == Fold::Workgroup {
        let glsl = naga::back::glsl::Options {
            // OpenGL ES 3.1, the least version with compute shaders (llvmpipe offers 3.2).
            version: naga::back::glsl::Version::new_gles(310),
            zero_initialize_workgroup_memory: false,
            ..Default::default()
        };
        let glsl_pipeline = naga::back::glsl::PipelineOptions {
            shader_stage: entry.0,
            entry_point: entry.1.to_string(),
            multiview: None,
        };
        let mut text = String::new();
        naga::back::glsl::Writer::new(&mut text, &module, &info, &glsl, &glsl_pipeline, policies())
            .and_then(|mut w| w.write())
            .unwrap_or_else(|e| panic!("{what}: GLSL: {e}"));
        counts.glsl += 1;
        if tools.glslang {
            let file = tools.dir.join(format!("{job}.comp"));
            std::fs::write(&file, text).unwrap();
            GLSLANG.check(&[], &file, &what);
        }
    }
}

#[test]
fn every_variant_translates_for_every_backend_and_validates() {
    let dir = std::env::temp_dir().join(format!("softdice-translate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tools = Tools {
        spirv_val: SPIRV_VAL.present(),
        glslang: GLSLANG.present(),
        dir,
    };
    let modules: Vec<_> = variants::all()
        .map(|(kernel, binding, fold)| {
            let (name, module, info) = variants::module(kernel, binding, fold);
            let specs = variants::specialisations(&module, binding, fold);
            (name, module, info, fold, specs)
        })
        .collect();
    let jobs: Vec<_> = modules
        .iter()
        .flat_map(|(name, module, info, fold, specs)| {
            specs
                .iter()
                .map(move |s| ((name.as_str(), module, info, *fold), s))
        })
        .collect();
    // The validators are processes: run the jobs on every core.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = jobs.len().div_ceil(threads);
    let counts: Vec<Counts> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(per)
            .enumerate()
            .map(|(t, chunk)| {
                let tools = &tools;
                scope.spawn(move || {
                    let mut counts = Counts::default();
                    for (i, (variant, spec)) in chunk.iter().enumerate() {
                        translate(tools, t * per + i, *variant, spec, &mut counts);
                    }
                    counts
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let _ = std::fs::remove_dir_all(&tools.dir);
    let total = |f: fn(&Counts) -> usize| counts.iter().map(f).sum::<usize>();
    let (spirv, msl, hlsl, glsl) = (
        total(|c| c.spirv),
        total(|c| c.msl),
        total(|c| c.hlsl),
        total(|c| c.glsl),
    );
    eprintln!(
        "translate: {} variants, {} specialisations: {spirv} SPIR-V ({}), {msl} MSL, {hlsl} HLSL, \
         {glsl} GLSL ({})",
        modules.len(),
        jobs.len(),
        if tools.spirv_val {
            "spirv-val"
        } else {
            "not validated"
        },
        if tools.glslang {
            "glslangValidator"
        } else {
            "not validated"
        },
    );
    // Every kernel, layout and fold is in the jobs, each with at least its base.
    assert_eq!(modules.len(), variants::all().count());
    assert!(modules.iter().all(|m| !m.4.is_empty()));
    assert_eq!(msl, jobs.len());
}
