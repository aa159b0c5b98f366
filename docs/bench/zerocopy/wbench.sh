#!/bin/bash
# Written for the zero-copy -w measurement (docs/bench/capture-zerocopy.md); root, needs trafgen, tcpdump, capinfos.
# -w to a file on tmpfs: netcap (both backends) and tcpdump, tool CPU per frame.
# usage: tmpfs.sh NETCAP_BIN SIZE FRAMES RUNS
set -u
BIN=$1; SIZE=$2; FRAMES=$3; RUNS=$4; OUT=${5:-/dev/shm/zcw.pcap}
NS=zcwns$$; H=zcwh$$; P=zcwp$$
ip netns add $NS
ip link add $H type veth peer name $P netns $NS
sysctl -qw net.ipv6.conf.$H.disable_ipv6=1
ip netns exec $NS sysctl -qw net.ipv6.conf.$P.disable_ipv6=1
ip link set $H up; ip -n $NS link set $P up
sleep 1
FILL=$((SIZE-42))
CFG=/tmp/zcw/cfg$$.txt
echo "{ eth(da=02:00:00:00:00:01, sa=02:00:00:00:00:02), ipv4(saddr=10.250.0.2, daddr=10.250.0.1, ttl=64), udp(sport=dinc(1024, 51023), dport=dinc(9, 40)), fill(0x41, $FILL) }" > $CFG
cpu() { # pid -> utime+stime ticks
  awk '{print $14+$15}' /proc/$1/stat
}
run() { # name cmd...
  local name=$1; shift
  [ -f "$OUT" ] && rm -f $OUT
  "$@" 2>/tmp/zcw/err$$ &
  local pid=$!
  for i in $(seq 100); do grep -qE "capturing with|listening on" /tmp/zcw/err$$ && break; sleep 0.05; done
  local c0=$(cpu $pid)
  ip netns exec $NS trafgen -o $P -i $CFG -n $FRAMES --no-sock-mem -P 1 -q >/dev/null 2>&1
  sleep 0.5
  local c1=$(cpu $pid)
  kill -INT $pid; wait $pid
  local got=$( [ -f "$OUT" ] && capinfos -c -M $OUT 2>/dev/null | awk "/Number of packets/{print \$NF}")
  local size=$( [ -f "$OUT" ] && stat -c %s $OUT)
  echo "$name size=$SIZE frames_in_file=$got bytes=$size tool_cpu_ns_per_frame=$(( (c1-c0) * 10000000 / FRAMES ))"
}
for r in $(seq $RUNS); do
  run "netcap-tc" $BIN capture -i $H --backend tc -w $OUT
  run "netcap-afpacket" $BIN capture -i $H -w $OUT
  run "tcpdump" tcpdump -i $H -B 16384 -Z root -w $OUT
done
rm -f $CFG /tmp/zcw/err$$
ip link del $H; ip netns del $NS
