#!/bin/sh
# Remakes the reference turtle goldens with the seed's decoder. Run from netcap/tests/golden
# after `NETCAP_BLESS=1 cargo test --test golden crafted_fixtures_are_current`.
set -eu
ref=${TURTLE_REFERENCE:-../../../../shared/reference/turtle_reference.py}
for pcap in crafted.pcap $(sed -n 's/^    "\(.*\)",$/\1.pcap/p' ../golden.rs); do
    python3 "$ref" "$pcap" > "${pcap%.pcap}.turtle.txt"
done
