// User-space pointer chase for docs/bench/kernel-flows.md section 6: FLOWS random
// 128-byte slots of a 16 MiB region (131,072 slots), in 4 KiB pages (HUGE=0,
// MADV_NOHUGEPAGE) or 2 MiB pages (HUGE=1, MADV_HUGEPAGE; transparent huge pages in
// madvise mode), one dependent load per access; POLLUTION=1 makes a system call
// (getppid) between accesses. Thread CPU time (the machine is shared), ns per access
// above the system calls alone, the second of two passes.
// Build: gcc -O2 -o chase chase.c; run: taskset -c 1 ./chase HUGE POLLUTION FLOWS
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec*1e9+t.tv_nsec;}
static uint64_t rng=88172645463325252ull;static uint64_t xr(void){rng^=rng<<13;rng^=rng>>7;rng^=rng<<17;return rng;}
int main(int argc,char**argv){
  int huge=atoi(argv[1]); int pol=atoi(argv[2]); size_t flows=strtoul(argv[3],0,0);
  size_t bytes=16<<20, slots=bytes/128;
  char*m=mmap(0,bytes+(2<<20),PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
  m=(char*)(((uintptr_t)m+(2<<20)-1)&~((uintptr_t)(2<<20)-1));
  madvise(m,bytes,huge?MADV_HUGEPAGE:MADV_NOHUGEPAGE);
  memset(m,1,bytes);
  // pick `flows` distinct random slots, chain them in a random cycle
  size_t*idx=malloc(slots*sizeof(size_t)); for(size_t i=0;i<slots;i++)idx[i]=i;
  for(size_t i=slots-1;i>0;i--){size_t j=xr()%(i+1);size_t t=idx[i];idx[i]=idx[j];idx[j]=t;}
  for(size_t i=0;i<flows;i++) *(char**)(m+idx[i]*128)=m+idx[(i+1)%flows]*128;
  size_t n=2000000; volatile uint64_t sink=0;
  for(int pass=0;pass<2;pass++){
  char*c=m+idx[0]*128; double t0=now();
  for(size_t i=0;i<n;i++){ c=*(char**)c;
    if(pol) syscall(SYS_getppid); }
  double t1=now(); sink+=(uintptr_t)c;
  // pollution alone
  double t2=now();
  for(size_t i=0;i<n;i++){ if(pol) syscall(SYS_getppid); }
  double t3=now();
  if(pass) printf("huge=%d pollution=%d flows=%zu: %.1f ns/access (with %.1f, pollution alone %.1f)\n",huge,pol,flows,((t1-t0)-(t3-t2))/n,(t1-t0)/n,(t3-t2)/n);
  }
  FILE*f=fopen("/proc/self/smaps_rollup","r");char l[256];while(fgets(l,256,f)) if(strstr(l,"AnonHuge"))fputs(l,stdout);
  return 0;}
