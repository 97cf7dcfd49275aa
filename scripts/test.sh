#!/usr/bin/env bash
# The test command: sets up what the GPU tests need on a fresh Debian machine, then runs every
# test once and the GPU suite on every backend present and under WebGPU's default limits, with
# a missing adapter made a failure (never a silent skip).
#
#   scripts/test.sh [extra cargo test args]
#
# Where no Vulkan, Metal or DX12 adapter is found (a fresh Debian image has only Mesa's GL
# driver) it installs Mesa's CPU Vulkan driver (lavapipe: packages mesa-vulkan-drivers and
# libvulkan1), and where they are missing the shader validators the translation test runs
# (spirv-tools, glslang-tools); needs root or sudo for either. Runs, in order:
#   1. `cargo test` on the default adapter (Vulkan first): unit, naga (every variant written
#      as SPIR-V, MSL, HLSL and GLSL; spirv-val and glslangValidator required), doc and GPU
#      tests;
#   2. `cargo test --test gpu` on each other backend found (GL: llvmpipe);
#   3. the GPU suite's fold modules (fold, oracle, parity, vjp, seed, f16, merge, contracts)
#      on lavapipe at each other SIMD width it takes (LP_NATIVE_VECTOR_WIDTH 64 .. 1024:
#      subgroups of 2 .. 32 lanes);
#   4. `cargo test --test gpu` on the default adapter with SOFTDICE_TEST_LIMITS=webgpu
#      (8 storage buffers per stage, 128 MiB bindings, 256 MiB buffers);
#   5. the fit_mask example for a few steps, and the soak example;
#   6. softdice-burn's tests with Burn's fusion on (then the train_segmentation example for a
#      few steps and its soak example) and off, on the default adapter and on NdArray.
set -euo pipefail
cd "$(dirname "$0")/.."

# Lavapipe complains without a valid runtime dir; give it a private one.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ] || [ ! -w "${XDG_RUNTIME_DIR}" ]; then
  XDG_RUNTIME_DIR="$(mktemp -d)"
  chmod 700 "$XDG_RUNTIME_DIR"
  export XDG_RUNTIME_DIR
fi

# "backend<TAB>adapter" for each backend with an adapter (the test runs choose with
# WGPU_BACKEND themselves).
backends() { env -u WGPU_BACKEND -u WGPU_ADAPTER_NAME cargo run --quiet --example adapter -- --backends; }

found="$(backends)"
packages=()
if ! grep -qE '^(vulkan|metal|dx12)' <<<"$found"; then
  echo "test.sh: no Vulkan adapter; installing mesa-vulkan-drivers (lavapipe)" >&2
  packages+=(mesa-vulkan-drivers libvulkan1)
fi
command -v spirv-val >/dev/null || packages+=(spirv-tools)
command -v glslangValidator >/dev/null || packages+=(glslang-tools)
if [ ${#packages[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    echo "test.sh: installing ${packages[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
    found="$(backends)"
  else
    echo "test.sh: no apt-get to install ${packages[*]}" >&2
  fi
fi
if [ -z "$found" ]; then
  echo "test.sh: no GPU adapter on any backend" >&2
  exit 1
fi
echo "test.sh: adapters found:"
sed 's/^/  /' <<<"$found"
names=($(cut -f1 <<<"$found"))
missing=()
for b in vulkan gl; do
  grep -q "^$b" <<<"$found" || missing+=("$b")
done

export SOFTDICE_REQUIRE_GPU=1
# The translation test fails where spirv-val or glslangValidator is missing.
export SOFTDICE_REQUIRE_SHADER_TOOLS=1
# wgpu's GL backend serialises every call on one context lock that gives up after a timeout
# ("Could not lock adapter context"); on a loaded 2-core machine parallel test threads have hit
# it. GL gains nothing from them (llvmpipe runs behind that lock), so its runs take one.
# (An empty RUST_TEST_THREADS would be an error: the variable is set for GL only.)
threads() { if [ "$1" = gl ]; then echo "RUST_TEST_THREADS=1"; fi; }
ran=()
first="${names[0]}"
echo "test.sh: == all tests on $first =="
env WGPU_BACKEND="$first" $(threads "$first") cargo test "$@"
ran+=("$first (all tests)")
for b in "${names[@]:1}"; do
  echo "test.sh: == GPU suite on $b =="
  env WGPU_BACKEND="$b" $(threads "$b") cargo test --test gpu "$@"
  ran+=("$b (GPU suite)")
done
# lavapipe's subgroup width follows its SIMD width: the suite at each width it takes other
# than the default one (2 lanes take the workgroup fold; 1024 bits reports 32 lanes and runs
# some workgroups narrower, which the shader's subgroup count catches).
# The subgroup width changes only how workgroups fold their partials, so these runs take the
# modules that reduce over every shape and option and skip the ones that re-run the same folds
# at size (props, large, accuracy, concurrency) — minutes of CI at each width. `counts` is left
# out too: dice_counts uses no subgroup operations, and its suite cost 2.5–3.7 min at each width
# (11 min of a CI run); it runs on Vulkan, GL and under WebGPU's limits above and below.
fold_tests=(fold:: oracle:: parity:: vjp:: seed:: f16:: merge:: contracts::)
# Test-name filters go after `--`; add one unless the caller's arguments already hold it.
filters_after() { for a in "$@"; do [ "$a" = "--" ] && return; done; echo "--"; }
if grep -q "^vulkan.*llvmpipe" <<<"$found"; then
  subgroups() { env WGPU_BACKEND=vulkan "$@" cargo run --quiet --example adapter -- --subgroups; }
  default_sizes="$(subgroups)"
  for bits in 64 128 256 512 1024; do
    sizes="$(subgroups LP_NATIVE_VECTOR_WIDTH=$bits 2>/dev/null || true)"
    if [ -z "$sizes" ] || [ "$sizes" = "$default_sizes" ]; then
      continue
    fi
    echo "test.sh: == GPU fold tests on vulkan at LP_NATIVE_VECTOR_WIDTH=$bits (subgroups $sizes) =="
    env LP_NATIVE_VECTOR_WIDTH=$bits WGPU_BACKEND=vulkan cargo test --test gpu "$@" \
      $(filters_after "$@") "${fold_tests[@]}"
    ran+=("vulkan at $bits-bit SIMD with subgroups of ${sizes%% *} lanes (GPU fold tests)")
  done
fi
echo "test.sh: == GPU suite on $first under WebGPU's default limits =="
env SOFTDICE_TEST_LIMITS=webgpu WGPU_BACKEND="$first" $(threads "$first") \
  cargo test --test gpu "$@"
ran+=("$first with WebGPU's default limits (GPU suite)")

# The examples a few steps each, so that they cannot rot (pictures under target/ci/).
echo "test.sh: == examples, a few steps each, on $first =="
env WGPU_BACKEND="$first" cargo run --quiet --profile test --example fit_mask -- \
  --steps 20 --report 10 --out target/ci/fit_mask.png
ran+=("$first (fit_mask example)")
# The soak: 10 000 plan steps and 2 000 host-API calls on one context, same bits throughout and
# bounded memory growth (exits 1 otherwise).
env WGPU_BACKEND="$first" cargo run --quiet --profile test --example soak
ran+=("$first (soak example)")

# softdice-burn: on Burn's wgpu backend (the default adapter) with Burn's kernel fusion on
# and off, and on NdArray (the host path). Burn is a large build (~12 min cold here).
echo "test.sh: == softdice-burn, Burn fusion on, on $first =="
env WGPU_BACKEND="$first" cargo test -p softdice-burn --features ndarray "$@"
ran+=("$first (softdice-burn, fusion on)")
env WGPU_BACKEND="$first" cargo run --quiet --profile test -p softdice-burn --features ndarray \
  --example train_segmentation -- --epochs 1 --steps 3 --val 8 --out target/ci/train
ran+=("$first (train_segmentation example)")
env WGPU_BACKEND="$first" cargo run --quiet --profile test -p softdice-burn --features ndarray \
  --example soak
ran+=("$first (softdice-burn soak example)")
echo "test.sh: == softdice-burn, Burn fusion off, on $first =="
env WGPU_BACKEND="$first" cargo test -p softdice-burn --no-default-features --features ndarray "$@"
ran+=("$first (softdice-burn, fusion off)")

echo "test.sh: ran on: $(IFS=,; echo "${ran[*]}" | sed 's/,/, /g')"
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: no adapter found for: ${missing[*]} (not tested there)"
fi
