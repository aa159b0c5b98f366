#!/bin/bash
# Where netcap_xdp's time goes in a live capture, by sampling (this VM has no PMU:
# cpu-clock at 25 kHz on all CPUs, call graphs). Root; run from the repository.
#   docs/bench/kernel-live/perf.sh NETCAP FRAMES OUT.data [netcap capture args...]
#   perf script -i OUT.data --comm trafgen -F ip,sym | docs/bench/kernel-live/agg.py
# NETCAP "floor" attaches the one-byte-read floor (target/release/examples/kbench).
# Makes a veth pair and a namespace (named by this pid), removed on exit.
set -u
BIN=$1; FRAMES=$2; OUT=$3; shift 3
NS=klq$$; H=klqh$$; P=klqp$$
TMP=$(mktemp -d)
cleanup(){ ip link del dev $H 2>/dev/null; ip netns del $NS 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
ip netns add $NS
ip link add $H type veth peer name $P netns $NS
sysctl -qw net.ipv6.conf.$H.disable_ipv6=1
ip netns exec $NS sysctl -qw net.ipv6.conf.$P.disable_ipv6=1
ip link set dev $H up; ip -n $NS link set dev $P up
echo '{ eth(da=02:00:00:00:00:01, sa=02:00:00:00:00:02), ipv4(saddr=10.250.0.2, daddr=10.250.0.1, ttl=64), udp(sport=dinc(1024, 51023), dport=dinc(9, 40)), fill(0x41, 22) }' > "$TMP/tg.cfg"
if [ "$BIN" = floor ]; then
  target/release/examples/kbench attach-floor $H 2>"$TMP/err" & pid=$!; ready=attached
else
  "$BIN" capture -i $H --backend xdp --xdp-mode generic -F none "$@" 2>"$TMP/err" & pid=$!; ready="capturing with"
fi
for i in $(seq 100); do grep -q "$ready" "$TMP/err" && break; sleep 0.1; done
ip netns exec $NS trafgen -o $P -i "$TMP/tg.cfg" --no-sock-mem -n $FRAMES -P 1 >/dev/null 2>&1 &
tg=$!
sleep 0.3
perf record -q -e cpu-clock -F 25000 -a -g -o "$OUT" sleep 2 2>/dev/null
wait $tg
kill -TERM $pid; wait $pid 2>/dev/null
tail -2 "$TMP/err"
