use super::Plan;
use netcap_common::{ring, MAX_RINGS};

#[test]
fn one_ring_per_cpu_sharing_the_buffer() {
    let p = Plan::for_cpus(2, 16 << 20, 1500);
    assert_eq!((p.cpus, p.rings, p.bytes_each), (2, 2, 8 << 20));
    // A share that is not a power of two rounds down; never below a page.
    let p = Plan::for_cpus(3, 16 << 20, 1500);
    assert_eq!((p.rings, p.bytes_each), (3, 4 << 20));
    let p = Plan::for_cpus(8, 4096, 1500);
    assert_eq!(p.bytes_each, 4096);
    // More CPUs than wake-up slots: a capture ring each, MAX_RINGS wake-up rings.
    let p = Plan::for_cpus(200, 1 << 30, 1500);
    assert_eq!((p.cpus, p.rings), (200, MAX_RINGS as usize));
    // One CPU never gets more than the verifier's variable-offset limit allows.
    let p = Plan::for_cpus(1, 1 << 30, 1500);
    assert_eq!(p.bytes_each, 1 << 28);
}

#[test]
fn a_ring_element_holds_its_data_and_one_largest_record_of_slack() {
    let p = Plan::for_cpus(2, 1 << 20, 262_144);
    // Control page, 512 KiB of data, 24 + 262,144 bytes of slack, to the next page.
    assert_eq!(p.value_size(), 4096 + (512 << 10) + (65 << 12));
    assert_eq!(p.mask, (512 << 10) - 1);
    let p = Plan::for_cpus(2, 8192, 100);
    assert_eq!(p.value_size(), 4096 + 4096 + 4096);
    assert!(p.value_size() >= u64::from(ring::DATA) + 4096 + 24 + 100);
}

#[test]
fn every_ring_and_every_cpu_goes_to_exactly_one_source() {
    for cpus in [1usize, 2, 3, 7, 64, 65, 200] {
        let p = Plan::for_cpus(cpus, 1 << 30, 1500);
        for sources in [1usize, 2, 3, 5, 300] {
            let dealt = p.deal((0..cpus).collect(), sources);
            assert_eq!(
                dealt.len(),
                sources.min(p.rings),
                "{cpus} cpus, {sources} sources"
            );
            let mut rings: Vec<usize> = dealt.iter().flat_map(|(r, _)| r.clone()).collect();
            rings.sort_unstable();
            assert_eq!(rings, (0..cpus).collect::<Vec<_>>());
            // A source reads the rings of exactly the CPUs it reports, and the CPU's
            // wake-up slot (a ring below MAX_RINGS) is among its rings.
            for (rings, cpu_list) in &dealt {
                assert_eq!(rings, cpu_list);
                for &cpu in cpu_list {
                    assert!(rings.contains(&(cpu % MAX_RINGS as usize)), "cpu {cpu}");
                }
            }
        }
    }
}
