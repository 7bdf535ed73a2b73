#!/usr/bin/env bash
# TIME_WAIT port exhaustion, shown deterministically in a private network namespace (docs/design.md §4):
# a 10-port ephemeral range and tcp_tw_reuse=0, so 10 client-first closes fill one
# (client IP, server IP, server port) tuple for 60 s. Then:
#   1. one client IP (--source-ip kernel), --port-policy off: the kernel refuses (EADDRNOTAVAIL, counted
#      addr_unavailable);
#   2. --port-policy fail: connbench refuses the plan up front, with the arithmetic (exit 2);
#   3. --source-ip 127.0.0.2-127.0.0.4: rotation over exactly three more client IPs completes 25 with 0 errors;
#   4. the default, --source-ip auto: 50 complete with no error and no wait, over as many 127.x
#      addresses as the ports need.
#
#   scripts/exhaust-lab.sh            (re-runs itself under `unshare -rn`: nothing outside is touched)
#
# Loopback only, inside the namespace; every run is bounded by -n.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${CONNBENCH:-$here/target/release/connbench}
[ -x "$bin" ] || (cd "$here" && cargo build --release --quiet)
if [ "${CONNBENCH_LAB_NETNS:-}" != 1 ]; then
  CONNBENCH_LAB_NETNS=1 CONNBENCH="$bin" exec unshare -rn "$0" "$@"
fi

ip link set lo up
echo "40000 40009" > /proc/sys/net/ipv4/ip_local_port_range
echo 0 > /proc/sys/net/ipv4/tcp_tw_reuse
"$bin" serve --listen 127.0.0.1:8080 2>/dev/null & server=$!
trap 'kill $server 2>/dev/null' EXIT
# Wait for the listener without connecting to it: a probe connection would hold one of the 10 ports.
for _ in $(seq 50); do ss -ltn | grep -q '127.0.0.1:8080 ' && break; sleep 0.1; done
url=http://127.0.0.1:8080/
summary() { python3 -c "
import json, sys
r = json.load(sys.stdin)['runs'][0]
errors = {k: v for k, v in r['errors'].items() if v}
p = r['ports']
print(f\"requests {r['requests']}, errors {errors or 0}, TIME_WAIT peak: ledger {p['time_wait_peak']}, kernel {p['kernel_time_wait_peak']}\")
print(f\"waited {p['waited_ms']} ms for ports, client IPs: {len(p['client_ips'])} ({p.get('source_ip', 'list')})\")
print('opened per client IP:', ', '.join(f\"{i['ip']} {i['opened']}\" for i in p['per_ip']))"; }

echo "## 10 serial requests from 127.0.0.1 (--source-ip kernel): the client closes first, each port stays in TIME_WAIT for 60 s"
"$bin" run "$url" --mode serial -n 10 --source-ip kernel --format json --no-progress 2>/dev/null | summary
echo
echo "## connbench ports: the tuple is full"
"$bin" ports "$url" --source-ip kernel 2>/dev/null
echo
echo "## 5 more with --port-policy off: the kernel has no port to give"
"$bin" run "$url" --mode serial -n 5 --source-ip kernel --port-policy off --format json --no-progress 2>/dev/null | summary
echo
echo "## --port-policy fail: refused before any load"
"$bin" run "$url" --mode serial -n 5 --source-ip kernel --port-policy fail --no-progress 2>&1 || echo "(exit $?)"
echo
echo "## 25 requests rotated over 127.0.0.2-127.0.0.4 (10 ports each)"
"$bin" run "$url" --mode serial -n 25 --source-ip 127.0.0.2-127.0.0.4 --format json --no-progress 2>/dev/null | summary
echo
echo "## 50 requests with no --source-ip (auto): a new client IP before one holds a quarter of its ports"
"$bin" run "$url" --mode serial -n 50 --format json --no-progress | summary
