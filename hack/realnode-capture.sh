#!/usr/bin/env bash
# Loops real-node tests with the host's conntrack events and TCP SYN/RST
# and ICMP packets captured, to find why a rare request failure happens
# (a connection refused at the moment old pods exit, say). Root only; it
# installs conntrack and tcpdump with apt-get if missing.
#
#   hack/realnode-capture.sh OUT COUNT [go test -run pattern]
#
# OUT gets test.log, ct.log (conntrack -E, timestamps, the users' host's
# flows only) and pkts.pcap (tcpdump -r it). The loop stops at the first
# failing run. The kernel caps the netlink buffer at net.core.rmem_max; raise
# it while capturing (and restore it) if ct.log says it lost events.
set -euo pipefail
out=${1:?OUT}; count=${2:?COUNT}; run=${3:-'^TestBlueGreenSwitch$/preStop'}
cd "$(dirname "$0")/.."
command -v conntrack >/dev/null && command -v tcpdump >/dev/null || apt-get install -y conntrack tcpdump >/dev/null
bin=$(upstream/build.sh)
for i in $(seq 1 "$count"); do
  dir="$out/$i"; mkdir -p "$dir"
  conntrack -E -o timestamp,extended -p tcp -s 10.213.1.2 --buffer-size 67108864 >"$dir/ct.log" 2>&1 & ct=$!
  tcpdump -i any -nn -w "$dir/pkts.pcap" 'tcp[tcpflags] & (tcp-syn|tcp-rst) != 0 or icmp' >/dev/null 2>&1 & td=$!
  rc=0
  CUTOVER_TESTBED_BIN=$bin go test -race -count=1 -v -run "$run" ./realnode/ >"$dir/test.log" 2>&1 || rc=$?
  kill "$ct" "$td" 2>/dev/null || true
  wait "$ct" "$td" 2>/dev/null || true
  echo "run $i: exit $rc"
  [ "$rc" -eq 0 ] || break
done
