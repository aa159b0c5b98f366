#!/bin/bash
# usage: il2.sh SIZE FRAMES ROUNDS "label:cmd args" ... : one blast per process, rotating; task-clock ns/frame / cs
SIZE=$1; N=$2; R=$3; shift 3
CFGS=("$@")
for r in $(seq $R); do for cfg in "${CFGS[@]}"; do
 lab=${cfg%%:*}; cmd=${cfg#*:}
 o=$(./st.sh $SIZE $N 1 -- $cmd)
 echo "$lab: $o"
done; done | awk -F': ' '{split($3,a," "); v[$1]=v[$1]" "a[1]} END {for (k in v) print k":"v[k]}' | sort
echo "$SIZE B, load $(cut -d' ' -f1 /proc/loadavg)"
