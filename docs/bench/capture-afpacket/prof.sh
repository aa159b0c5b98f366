#!/bin/bash
# usage: prof.sh NAME SIZE FRAMES CORES(1|all) -- tool cmd... ; records perf + stat, prints tool stderr
NAME=$1; SIZE=$2; N=$3; CORES=$4; shift 5
D=${D:-$PWD}
P1=""; [ "$CORES" = 1 ] && P1="-P 1"
if [ $# -gt 0 ]; then "$@" >/dev/null 2>$D/$NAME.err & TP=$!; sleep 1.5; fi
perf stat -a -e context-switches,page-faults,cpu-migrations,cpu-clock -o $D/$NAME.stat -- perf record -q -a -g -F 2999 -o $D/$NAME.data -- ip netns exec afpns trafgen -o afpp -i $D/tg$SIZE.cfg -n $N $P1 --no-sock-mem > $D/$NAME.tg 2>&1
sleep 1.5
if [ -n "$TP" ]; then kill -INT $TP; wait $TP; tail -5 $D/$NAME.err; fi
grep -E "packets outgoing|sec," $D/$NAME.tg
