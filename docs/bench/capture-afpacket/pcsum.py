import csv, statistics as st, sys
# per size: median (min-max) of trafgen-context + capture-process ns/frame, minus the median of the no-capture blasts
rows=[r for r in csv.reader(open('percomm.csv')) if float(r[2])>100]
names=["none","floor","old_none","nc_none","old_w","nc_w","tcpdump"]
label={"none":"no capture (trafgen's context, absolute)","floor":"netcap afpacket, socket filter rejects all","old_none":"netcap -F none, before (netcap.orig)","nc_none":"netcap -F none, with prefetch","old_w":"netcap -w /dev/null, before","nc_w":"netcap -w /dev/null, with prefetch","tcpdump":"tcpdump -w /dev/null -B 16384"}
loads=[float(r[5]) for r in rows]
print(f"blasts: {len(rows)}, load average {min(loads):.1f}-{max(loads):.1f}")
for s in ["64","512","1500"]:
    tot=lambda r: float(r[2])+float(r[3])+float(r[4])
    base=st.median([tot(r) for r in rows if r[0]=="none" and r[1]==s])
    tcp=st.median([tot(r)-base for r in rows if r[0]=="tcpdump" and r[1]==s])
    print(f"\n{s} B: | tool | runs | trafgen's context | capture process | over no capture | vs tcpdump |")
    for n in names:
        rs=[r for r in rows if r[0]==n and r[1]==s]
        if not rs: continue
        tg=[float(r[2]) for r in rs]; tl=[float(r[3]) for r in rs]; ov=[tot(r)-base for r in rs]
        f=lambda v: f"{st.median(v):.0f} ({min(v):.0f}–{max(v):.0f})"
        if n=="none":
            print(f"| {s} B | {label[n]} | {len(rs)} | {f(tg)} | – | (baseline) {f([tot(r) for r in rs])} | – |")
        else:
            print(f"| {s} B | {label[n]} | {len(rs)} | {f(tg)} | {f(tl)} | {f(ov)} | {st.median(ov)/tcp:.2f}x |")
