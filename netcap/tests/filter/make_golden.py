#!/usr/bin/env python3
"""Regenerates golden.json: which frames tcpdump selects for each expression in
exprs.txt, over every *.pcap in this directory.

    cd netcap/tests/filter && python3 make_golden.py

For each (expression, fixture) it runs `tcpdump -r FIXTURE -w OUT EXPR` and maps the
records of OUT back to frame indexes of FIXTURE (0-based). OUT is an ordered
subsequence of FIXTURE, and records with identical header and bytes get the same
verdict from any filter, so matching greedily in order is exact.
The test (`filter_table.rs`) needs no tcpdump: it reads only golden.json.
"""
import glob
import json
import os
import struct
import subprocess
import tempfile


def records(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off, out = 24, []
    while off + 16 <= len(data):
        sec, frac, caplen, orig = struct.unpack(endian + "IIII", data[off:off + 16])
        out.append((sec, frac, orig, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return out


def selected(fixture, expr, tmp):
    out = os.path.join(tmp, "out.pcap")
    subprocess.run(["tcpdump", "-r", fixture, "-w", out, expr], check=True,
                   stderr=subprocess.DEVNULL)
    everything, chosen = records(fixture), records(out)
    picked, i = [], 0
    for rec in chosen:
        while everything[i] != rec:
            i += 1
        picked.append(i)
        i += 1
    return picked


def main():
    with open("exprs.txt") as f:
        exprs = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    fixtures = sorted(glob.glob("*.pcap"))
    counts = {fx: len(records(fx)) for fx in fixtures}
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for expr in exprs:
            cases.append({"expr": expr,
                          "selected": {fx: selected(fx, expr, tmp) for fx in fixtures}})
    with open("golden.json", "w") as f:
        f.write('{\n"generator": "%s",\n"frames": %s,\n"cases": [\n' % (
            subprocess.run(["tcpdump", "--version"], capture_output=True, text=True)
            .stdout.splitlines()[0], json.dumps(counts)))
        f.write(",\n".join(json.dumps(c) for c in cases))
        f.write("\n]\n}\n")
    total = sum(len(v) for c in cases for v in c["selected"].values())
    print(f"{len(exprs)} expressions x {len(fixtures)} fixtures, {total} selections")


if __name__ == "__main__":
    main()
