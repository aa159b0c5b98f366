#!/bin/bash
# usage: percomm.sh REPS FRAMES : interleaved blasts; per blast, ns/frame of trafgen's context (sender + receive
# softirq) and of the capture process, from perf samples (perf record -a -F 999, no call graphs); appends to percomm.csv
R=$1; N=$2; D=${D:-$PWD}; NEW=${NEW:-netcap}
declare -A T=(
 [none]=""
 [nc_none]="$NEW capture -i afph -F none"
 [nc_w]="$NEW capture -i afph -w /dev/null"
 [old_none]="$D/netcap.orig capture -i afph -F none"
 [old_w]="$D/netcap.orig capture -i afph -w /dev/null"
 [floor]="$NEW capture -i afph -F none udp port 1"
 [tcpdump]="tcpdump -i afph -w /dev/null -B 16384")
ORDER=(none nc_none nc_w old_none old_w floor tcpdump)
for rep in $(seq $R); do for s in 64 512 1500; do
 for k in $(seq 0 $((${#ORDER[@]}-1))); do t=${ORDER[$(( (k+rep) % ${#ORDER[@]} ))]}
  TP=""; if [ -n "${T[$t]}" ]; then ${T[$t]} >/dev/null 2>$D/pc.err & TP=$!; sleep 1.2; fi
  perf record -q -a -F 999 -o $D/pc.data -- sh -c "echo \$\$ > $D/pc.tgpid; exec ip netns exec afpns trafgen -o afpp -i $D/tg$s.cfg -n $N -P 1 --no-sock-mem" >/dev/null 2>&1
  sleep 0.3
  [ -n "$TP" ] && { kill -INT $TP; wait $TP; }
  perf report -i $D/pc.data -n --no-children --sort pid --stdio 2>/dev/null | awk -v tp="$TP" -v gp="$(cat $D/pc.tgpid)" -v t=$t -v s=$s -v n=$N -v l="$(cut -d' ' -f1 /proc/loadavg)" '
   /^ +[0-9.]+%/ { split($3, a, ":"); p=a[1]+0; v=$2*1e9/999/n; if ($3 ~ /:trafgen$/ && p>=gp && p<gp+64) tg+=v; else if (tp!="" && p==tp+0) tool+=v; else if ($3 ~ /ksoftirq/) ks+=v }
   END { printf "%s,%s,%.1f,%.1f,%.1f,%s\n", t, s, tg, tool, ks, l }' >> $D/percomm.csv
 done; done; done
