import subprocess, sys, re
# usage: ana.py FRAMES NAME... : ns/frame (children, i.e. inclusive) for chosen symbols, per profile
frames = int(sys.argv[1]); names = sys.argv[2:]
SYMS = ["__x64_sys_sendto","net_rx_action","process_backlog","__netif_receive_skb_core.constprop.0","tpacket_rcv",
 "skb_copy_bits","ktime_get_real_ts64","tpacket_get_timestamp","__packet_rcv_has_room","prb_fill_curr_block","prb_retire_current_block","prb_close_block",
 "sock_def_readable","__wake_up_sync_key","ip_rcv","sk_skb_reason_drop","consume_skb","asm_exc_page_fault","skb_copy_ubufs","run_filter","bpf_prog_run_generic_xdp",
 "packet_rcv_fanout","fanout_demux_hash","__skb_get_hash_net","__skb_flow_dissect","skb_clone","tpacket_ubuf_complete"]
def rep(name, comms, children=True):
    cmd = ["perf","report","-i",f"{name}.data","--children" if children else "--no-children","--sort","sym","-g","none","--stdio"]
    if comms: cmd += ["--comms", comms]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    ev = float(re.search(r"Event count \(approx.\): (\d+)", out).group(1))
    d = {}
    for l in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+\[.\]\s+(\S+)", l) if children else re.match(r"\s+([\d.]+)%\s+\[.\]\s+(\S+)", l)
        if m:
            if children: d[m.group(3)] = float(m.group(1))*ev/100/frames
            else: d[m.group(2)] = float(m.group(1))*ev/100/frames
    return d
def comms(name):
    out = subprocess.run(["perf","report","-i",f"{name}.data","--no-children","--sort","comm","-g","none","--stdio"], capture_output=True, text=True).stdout
    ev = float(re.search(r"Event count \(approx.\): (\d+)", out).group(1))
    d = {}
    for l in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(.+?)\s*$", l)
        if m: d[m.group(2)] = d.get(m.group(2),0)+float(m.group(1))*ev/100/frames
    return d
tabs = {n: rep(n, "trafgen,ksoftirqd/0,ksoftirqd/1") for n in names}
cs = {n: comms(n) for n in names}
print("%-40s" % "ns/frame (inclusive)" + "".join("%12s" % n for n in names))
for c in ["trafgen","ksoftirqd/0","ksoftirqd/1","netcap","tcpdump","swapper"]:
    print("%-40s" % ("comm " + c) + "".join("%12.1f" % cs[n].get(c,0) for n in names))
for s in SYMS:
    print("%-40s" % s + "".join("%12.1f" % tabs[n].get(s,0) for n in names))
