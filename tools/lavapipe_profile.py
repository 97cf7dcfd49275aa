#!/usr/bin/env python3
"""The analysis half of tools/lavapipe_profile.sh (which see).

    lavapipe_profile.py WORK

WORK holds `ips` (one sampled instruction address per line, from `perf script -F ip`) and
`dis.<address>` files (gdb's disassembly of each mapping of JIT code). For each compiled
function in them with at least 5 % of the samples it prints its share, and the share of its
samples inside llvmpipe's per-lane memory loops: loops whose head counts lanes (`inc`, or
`cmp $0x8,`) and that a backward branch closes.
"""
import collections
import glob
import re
import sys

LINE = re.compile(r"\s+(0x[0-9a-f]+)(?: <[^>]*>)?:\s+(.*)")
BRANCH = re.compile(r"j\w+\s+0x([0-9a-f]+)")


def functions(work):
    samples = collections.Counter(int(l, 16) for l in open(f"{work}/ips") if l.strip())
    total = sum(samples.values())
    for path in sorted(glob.glob(f"{work}/dis.*")):
        rows = [(int(m.group(1), 16), m.group(2).strip())
                for m in map(LINE.match, open(path)) if m]
        # One mapping may hold several compiled functions; each starts by saving %rbp.
        starts = [i for i, (_, ins) in enumerate(rows) if ins.startswith("push   %rbp")]
        for lo, hi in zip([0] + starts, starts + [len(rows)]):
            function = rows[lo:hi]
            hits = [samples.get(address, 0) for address, _ in function]
            if function and total and sum(hits) >= total * 0.05:
                yield hex(function[0][0]), function, hits, sum(hits) / total


def lane_loops(rows):
    """(first, last) row of each per-lane loop."""
    index = {address: i for i, (address, _) in enumerate(rows)}
    for i, (address, ins) in enumerate(rows):
        m = BRANCH.match(ins)
        head = int(m.group(1), 16) if m else None
        if head is None or head >= address or head not in index:
            continue
        j = index[head]
        top = [r[1] for r in rows[j:j + 4]]
        if any(t.startswith(("inc", "cmp    $0x8,")) for t in top):
            yield j, i


def main(work):
    for name, rows, hits, share in functions(work):
        in_loop = [False] * len(rows)
        hottest = None
        for j, i in lane_loops(rows):
            for k in range(j, i + 1):
                in_loop[k] = True
            weight = sum(hits[j:i + 1])
            if hottest is None or weight > hottest[0]:
                hottest = (weight, i - j + 1)
        looped = sum(h for h, flag in zip(hits, in_loop) if flag)
        # dice_partials counts bad labels and non-finite values with atomics; dice_gradient
        # has none.
        kind = "dice_partials" if any(ins.startswith("lock") for _, ins in rows) else "dice_gradient"
        print(f"JIT function at {name} ({kind}): {100 * share:.1f} % of the samples")
        print(f"  in per-lane memory loops: {100 * looped / sum(hits):.0f} % of its samples")
        if looped >= 0.01 * sum(hits):
            print(f"  hottest lane loop: {hottest[1]} instructions in its body, run once per "
                  "SIMD lane (8 with AVX2) for each load or store")


if __name__ == "__main__":
    main(sys.argv[1])
