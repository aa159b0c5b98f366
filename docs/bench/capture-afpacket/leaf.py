import subprocess, sys, collections
# usage: leaf.py FRAMES NAME ANCESTOR : leaf symbols of samples under ANCESTOR, ns/frame (sample period 1/2999 s)
frames=int(sys.argv[1]); name=sys.argv[2]; anc=sys.argv[3]
out=subprocess.run(["perf","script","-i",f"{name}.data","-F","comm,ip,sym"],capture_output=True,text=True).stdout
c=collections.Counter(); tot=0
for blk in out.split("\n\n"):
    lines=[l.strip() for l in blk.strip().splitlines()]
    if len(lines)<2: continue
    syms=[l.split(None,1)[1].split("+")[0] if len(l.split(None,1))>1 else "?" for l in lines[1:]]
    if anc in syms:
        c[syms[0]]+=1; tot+=1
per=1e9/2999/frames
print(f"{name}: under {anc}: {tot*per:.1f} ns/frame")
for s,n in c.most_common(18): print(f"  {n*per:6.1f}  {s}")
