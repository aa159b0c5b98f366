#!/bin/bash
# usage: st.sh SIZE FRAMES REPS -- tool... : per blast perf stat task-clock ns/frame and context switches of the tool
SIZE=$1; N=$2; R=$3; shift 4
D=/tmp/wake
"$@" >/dev/null 2>$D/st.err & TP=$!; sleep 1.5
out=""
for i in $(seq $R); do
perf stat -e task-clock,context-switches -p $TP -x, -o $D/st.stat &
PS=$!
sleep 0.2
ip netns exec wkns trafgen -o wkp -i $D/tg$SIZE.cfg -n $N -P 1 --no-sock-mem >/dev/null 2>&1
sleep 0.3
kill -INT $PS; wait $PS
out="$out $(awk -F, -v n=$N '/task-clock/ {printf "%.0f", $1*1e6/n} /context-switches/ {printf "/%d", $1}' $D/st.stat)"
done
kill -INT $TP; wait $TP
echo "$SIZE B ns/frame/cs:$out (load $(cut -d' ' -f1 /proc/loadavg))"
