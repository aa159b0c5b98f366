#!/usr/bin/env python3
"""A/B of kbench binaries (netcap/examples/kbench.rs built against different eBPF objects:
`NETCAP_EBPF_OBJ=OBJ cargo build --release -p netcap --example kbench`, then copy the binary).
ab.py ROUNDS REPEAT name=path ... ; interleaves rounds (order rotated),
prints per (hook, case) median ns, median above floor, and the median paired difference to the first."""
import json, subprocess, sys, statistics as st, ctypes, os
# Hold BPF_ENABLE_STATS for the whole A/B: the shared sysctl that other helpers toggle
# then cannot change the figures mid-run (stats add two clock reads to every run).
libc = ctypes.CDLL(None, use_errno=True)
attr = ctypes.create_string_buffer(16)
STATS_FD = libc.syscall(321, 32, attr, 16)
if STATS_FD < 0: sys.exit(f'BPF_ENABLE_STATS: errno {ctypes.get_errno()}')
rounds, repeat = int(sys.argv[1]), sys.argv[2]
bins = [a.split('=', 1) for a in sys.argv[3:]]
data = {}  # (name, round) -> list of lines
for r in range(rounds):
    order = bins[r % len(bins):] + bins[:r % len(bins)]
    for name, path in order:
        out = subprocess.run([path, 'test-run', '--runs', '1', '--repeat', repeat], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f'{name}: {out.stderr}')
        data[(name, r)] = [json.loads(l) for l in out.stdout.splitlines()]
        print(f'round {r} {name} done', file=sys.stderr)
json.dump({f'{k[0]}/{k[1]}': v for k, v in data.items()}, open('ab.last.json', 'w'))
def key(l): return (l['hook'], l['case'], l['filter'])
keys = []
for l in data[(bins[0][0], 0)]:
    if key(l) not in keys: keys.append(key(l))
hooks = ['xdp', 'tc_in', 'tc']
keys.sort(key=lambda k: hooks.index(k[0]) if k[0] in hooks else 9)
def val(name, r, k):
    for l in data[(name, r)]:
        if key(l) == k: return l['ns']
def floor(name, r, hook):
    for l in data[(name, r)]:
        if l['hook'] == hook and l['case'].startswith('floor'): return l['ns']
hdr = '| hook | case | filter | ' + ' | '.join(f'{n} ns (above floor)' for n, _ in bins) + ' | ' + ' | '.join(f'{n} - {bins[0][0]}' for n, _ in bins[1:]) + ' |'
print(hdr); print('|' + ' --- |' * (3 + 2 * len(bins) - 1))
for k in keys:
    cells = []
    for n, _ in bins:
        v = [val(n, r, k) for r in range(rounds)]
        a = [val(n, r, k) - floor(n, r, k[0]) for r in range(rounds)]
        cells.append(f'{st.median(v):.0f} ({st.median(a):.0f})')
    diffs = []
    for n, _ in bins[1:]:
        d = [val(n, r, k) - val(bins[0][0], r, k) for r in range(rounds)]
        diffs.append(f'{st.median(d):+.0f} ({min(d):+.0f}..{max(d):+.0f})')
    print(f'| {k[0]} | {k[1]} | {k[2]} | ' + ' | '.join(cells) + ' | ' + ' | '.join(diffs) + ' |')
