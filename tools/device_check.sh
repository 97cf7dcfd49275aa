#!/usr/bin/env bash
# Real-GPU rows for BENCHMARKS.md, for a session whose task is lent a device machine (see the
# device tool's README in the tool library). Build and download here; run there in one call.
#
#   tools/device_check.sh prepare   # here: devbin/{throughput,soak,gpu} (release), .gl/*.deb
#   device run: command "tools/device_check.sh run", carry ["devbin", ".gl"], timeout_s 480
#
# `run` gives, on the lent adapter: the GPU suite (devbin/gpu, the `tests/gpu` binary, with a
# missing adapter a failure; its output in $OUT/gpu_suite.txt), the soak (10 000 plan steps
# and 2 000 host-API calls, same bits, memory growth), and one JSON line per throughput
# measurement in $OUT/gpu_rows.jsonl (and printed): the issue-4 shapes and inputs of 64 MiB
# and more, each with --check (loss and gradient against the f64 CPU oracle) and --floor (the
# floor kernels and a copy kernel on the same device: its copy bandwidth is the denominator
# for "fraction of memory bandwidth"), f32 and f16. DEVICE_CHECK_SHAPES="B,C,H,W ..." runs
# other shapes (a quick try on lavapipe).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
prepare)
  cargo build --release --example throughput --example soak
  mkdir -p devbin
  cp target/release/examples/throughput target/release/examples/soak devbin/
  # The GPU suite; it finds its fixtures under the path it was built in (CARGO_MANIFEST_DIR).
  suite="$(cargo test --release --test gpu --no-run --message-format=json \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)"
  cp "$suite" devbin/gpu
  pwd >devbin/manifest_dir
  # The Vulkan loader and GL libraries for a bare machine (the device README's recipe).
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  ls -la devbin .gl
  ;;
run)
  if ! ldconfig -p | grep -q libvulkan; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  fi
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
  # The suite reads its fixtures where it was built: point that path at this copy.
  built="$(cat devbin/manifest_dir)"
  if [ ! -e "$built" ]; then
    mkdir -p "$(dirname "$built")"
    ln -s "$PWD" "$built"
  fi
  # A failure is reported and the rest still runs: the session has one short lease.
  echo "device_check: == GPU suite =="
  if SOFTDICE_REQUIRE_GPU=1 devbin/gpu >"${OUT:-.}/gpu_suite.txt" 2>&1; then
    echo "device_check: GPU suite passed"
  else
    echo "device_check: GPU suite FAILED"
  fi
  grep -E "^test result|panicked" "${OUT:-.}/gpu_suite.txt" || true
  echo "device_check: == soak =="
  devbin/soak | tee "${OUT:-.}/soak.jsonl" || echo "device_check: soak FAILED"
  out="${OUT:-.}/gpu_rows.jsonl"
  : >"$out"
  # 8x4x256^2 and 2x4x96^3 (small), 4x8x512^2 (the goal shape, 33.5 MB of logits), then
  # 134 MB and 268 MB of logits (over the goal's 64 MiB).
  shapes="${DEVICE_CHECK_SHAPES:-8,4,256,256 4,8,512,512 2,4,96,96,96 16,8,512,512 8,4,128,128,128}"
  for shape in $shapes; do
    for preds in f32 f16; do
      devbin/throughput --shape "$shape" --labels u8 --preds "$preds" --iters 50 --check --floor \
        | tee -a "$out"
    done
  done
  ;;
*)
  echo "usage: tools/device_check.sh prepare|run" >&2
  exit 2
  ;;
esac
