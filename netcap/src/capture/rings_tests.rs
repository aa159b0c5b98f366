use super::Plan;
use netcap_common::MAX_RINGS;

#[test]
fn one_ring_per_cpu_sharing_the_buffer() {
    let p = Plan::for_cpus(2, 16 << 20);
    assert_eq!((p.rings, p.bytes_each), (2, 8 << 20));
    // A share that is not a power of two rounds down; never below a page.
    let p = Plan::for_cpus(3, 16 << 20);
    assert_eq!((p.rings, p.bytes_each), (3, 4 << 20));
    let p = Plan::for_cpus(8, 4096);
    assert_eq!(p.bytes_each, 4096);
    // More CPUs than slots: MAX_RINGS rings.
    let p = Plan::for_cpus(200, 1 << 30);
    assert_eq!(p.rings, MAX_RINGS as usize);
}

#[test]
fn every_ring_and_every_cpu_goes_to_exactly_one_source() {
    for cpus in [1usize, 2, 3, 7, 64, 65, 200] {
        let p = Plan::for_cpus(cpus, 1 << 30);
        for sources in [1usize, 2, 3, 5, 300] {
            let dealt = p.deal((0..p.rings).collect(), sources);
            assert_eq!(
                dealt.len(),
                sources.min(p.rings),
                "{cpus} cpus, {sources} sources"
            );
            let mut rings: Vec<usize> = dealt.iter().flat_map(|(r, _)| r.clone()).collect();
            rings.sort_unstable();
            assert_eq!(rings, (0..p.rings).collect::<Vec<_>>());
            let mut cpu_list: Vec<usize> = dealt.iter().flat_map(|(_, c)| c.clone()).collect();
            cpu_list.sort_unstable();
            assert_eq!(cpu_list, (0..cpus).collect::<Vec<_>>());
            // A source reports the CPUs that write to its own rings.
            for (rings, cpus) in &dealt {
                for &cpu in cpus {
                    assert!(rings.contains(&p.ring_of(cpu)), "cpu {cpu}");
                }
            }
        }
    }
}
