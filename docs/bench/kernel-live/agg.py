#!/usr/bin/env python3
"""Reads `perf script -F ip,sym` (call graphs) on stdin; of the samples whose stack
holds MARKER (default bpf_prog_run_generic_xdp: one generic-XDP program run, bpf_stats'
clock reads included), counts (the frame called by MARKER, the leaf), most first."""
import collections, sys

marker = sys.argv[1] if len(sys.argv) > 1 else "bpf_prog_run_generic_xdp"

def samples(lines):
    cur = []
    for line in lines:
        if not line.strip():
            if cur:
                yield cur
            cur = []
        elif line[0] in " \t":
            parts = line.split()
            if len(parts) >= 2:
                cur.append(parts[1].split("+")[0])
    if cur:
        yield cur

count = collections.Counter()
total = inside = 0
for st in samples(sys.stdin):
    total += 1
    if marker in st:
        inside += 1
        i = st.index(marker)
        count[(st[i - 1] if i > 0 else "(self)", st[0])] += 1
print(f"samples {total}, with {marker} {inside}")
for (child, leaf), n in count.most_common(25):
    print(f"{n:6d} {100 * n / max(inside, 1):5.1f}%  {child:45s} leaf={leaf}")
