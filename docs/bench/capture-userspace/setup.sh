#!/bin/bash
NS=wkns; H=wkh; P=wkp
case $1 in
up)
ip netns add $NS
ip link add $H type veth peer name $P netns $NS
sysctl -qw net.ipv6.conf.$H.disable_ipv6=1
ip netns exec $NS sysctl -qw net.ipv6.conf.$P.disable_ipv6=1
ip link set dev $H up; ip -n $NS link set dev $P up
for s in 64 512 1500; do
  echo "{ eth(da=02:00:00:00:00:01, sa=02:00:00:00:00:02), ipv4(saddr=10.250.0.2, daddr=10.250.0.1, ttl=64), udp(sport=dinc(1024, 51023), dport=dinc(9, 40)), fill(0x41, $((s-42))) }" > tg$s.cfg
done
;;
down)
ip link del dev $H 2>/dev/null; ip netns del $NS 2>/dev/null ;;
esac
