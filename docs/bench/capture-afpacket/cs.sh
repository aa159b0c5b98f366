#!/bin/bash
# usage: cs.sh SIZE FRAMES -- tool... : the tool's context switches, minor faults and syscalls-ish over one blast
SIZE=$1; N=$2; shift 3
D=${D:-$PWD}
"$@" >/dev/null 2>$D/cs.err & TP=$!; sleep 1.5
# the capture thread(s): sum over tasks
snap() { local v=0 nv=0 mf=0; for t in /proc/$TP/task/*; do v=$((v+$(awk '/^voluntary_ctxt/ {print $2}' $t/status))); nv=$((nv+$(awk '/^nonvoluntary_ctxt/ {print $2}' $t/status))); mf=$((mf+$(awk '{print $10}' $t/stat))); done; echo "$v $nv $mf"; }
a=($(snap)); 
ip netns exec afpns trafgen -o afpp -i $D/tg$SIZE.cfg -n $N -P 1 --no-sock-mem >/dev/null 2>&1
sleep 1.2
b=($(snap)); kill -INT $TP; wait $TP
echo "$(basename $1) $SIZE B: voluntary cs $((b[0]-a[0])), involuntary $((b[1]-a[1])), minor faults $((b[2]-a[2])) over $N frames"
