#!/usr/bin/env bash
# Where softdice's kernels spend their time on lavapipe (llvmpipe), at the instruction level.
# Run by hand (needs perf and gdb, and root or ptrace rights); not part of CI.
#
#   tools/lavapipe_profile.sh [B,C,D1,D2[,D3]]     # default 4,8,512,512
#
# It samples a `throughput` run (u8 labels, softmax, forward and forward+backward repeated)
# with perf, dumps the process's core while it runs, disassembles the JIT code that perf
# sampled and reports, per compiled kernel, its share of the samples and the share spent
# inside llvmpipe's per-lane memory loops: Mesa 22.3 turns every storage-buffer load and store
# into a loop over the SIMD lanes that handles one lane, and within it one component, at a
# time (exec-mask test, bounds check, scalar load or store). The length of the hottest such
# loop is printed too (the analysis: tools/lavapipe_profile.py). The kernel with atomic
# instructions is dice_partials (its status counters), the other dice_gradient. The driver is
# whichever the Vulkan loader picks: set VK_ICD_FILENAMES to profile another
# (tools/lavapipe_backports.sh fetches a newer lavapipe without installing it).
set -euo pipefail
cd "$(dirname "$0")/.."
shape=${1:-4,8,512,512}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$work}

cargo build --release --example throughput
bin=target/release/examples/throughput
"$bin" --shape "$shape" --labels u8 --iters 600 >"$work/out.json" 2>/dev/null &
pid=$!
sleep 4 # pipelines compiled, kernels running
perf record -q -F 2000 -p "$pid" -o "$work/perf.data" -- sleep 4 2>/dev/null
gcore -o "$work/core" "$pid" >/dev/null 2>&1
grep -E ' r-xp 00000000 00:00 0 *$' "/proc/$pid/maps" >"$work/maps" || true
wait "$pid"
perf script -i "$work/perf.data" -F ip >"$work/ips" 2>/dev/null

while read -r range _; do
  lo=0x${range%-*}
  hi=0x${range#*-}
  gdb -batch -ex "disassemble $lo,$hi" "$bin" "$work/core.$pid" 2>/dev/null \
    | grep -E '^ +0x' >"$work/dis.$lo" || true
done <"$work/maps"

python3 tools/lavapipe_profile.py "$work"
