#!/bin/bash
# usage: tcpu.sh SIZE FRAMES REPS -- tool... : the tool's own CPU (utime+stime, all threads) per frame, each blast
SIZE=$1; N=$2; R=$3; shift 4
D=${D:-$PWD}; HZ=$(getconf CLK_TCK)
"$@" >/dev/null 2>$D/tcpu.err & TP=$!; sleep 1.5
out=""
for i in $(seq $R); do
a=$(awk '{print $14+$15}' /proc/$TP/stat)
ip netns exec afpns trafgen -o afpp -i $D/tg$SIZE.cfg -n $N -P 1 --no-sock-mem >/dev/null 2>&1
sleep 0.5
b=$(awk '{print $14+$15}' /proc/$TP/stat)
out="$out $(( (b-a)*1000000000/HZ/N ))"
done
kill -INT $TP; wait $TP
echo "$(basename $1) $SIZE B ns/frame:$out  (load $(cut -d' ' -f1 /proc/loadavg))"
