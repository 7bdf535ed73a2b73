#!/usr/bin/env bash
# Checks connbench's own counts against nginx's: for each mode, a `-n` run must report exactly the
# requests and connections that nginx's stub_status saw (accepts and requests deltas), and every one
# of the N requests must end in a response or one counted error.
#
#   scripts/nginx-counters.sh [N]        (N requests per mode, default 20000)
#   KEEPALIVE_REQUESTS=100 scripts/nginx-counters.sh   (nginx closes each connection after 100 requests)
#   ENGINE=uring scripts/nginx-counters.sh              (connbench --engine uring; default: each mode's own)
#
# Needs Debian's nginx (apt-get install nginx). Starts its own nginx on 127.0.0.1 with a config
# written to a temporary directory, and stops it on exit. Loopback only; every run is bounded by -n.
set -euo pipefail
N=${1:-20000}
PORT=${PORT:-18080}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${CONNBENCH:-$here/target/release/connbench}
[ -x "$bin" ] || (cd "$here" && cargo build --release --quiet)
command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx)" >&2; exit 2; }

WORKDIR=$(mktemp -d)
SERVER_CPU=${SERVER_CPU:-0}
log() { echo "[nginx-counters] $*" >&2; }
# shellcheck source=lib/nginx.sh
. "$(dirname "$0")/lib/nginx.sh"
write_nginx_conf 4096 "${KEEPALIVE_REQUESTS:-10000000}" 'location = /status { stub_status; }'
start_nginx
trap 'stop_nginx; rm -rf "$WORKDIR"' EXIT

# stub_status: "Active connections", then "accepts handled requests" on the third line.
status() { curl -s "http://127.0.0.1:$PORT/status" 2>/dev/null || python3 -c "
import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$PORT/status').read().decode())"; }
counters() { status | awk 'NR==3 {print $1, $3}'; }

printf '%-10s %10s %10s %12s %12s %8s %8s %s\n' mode requests nginx_req connections nginx_conn errors retries verdict
fail=0
for mode in serial parallel keepalive pipeline; do
  read -r acc0 req0 < <(counters)
  "$bin" run "http://127.0.0.1:$PORT/" --mode "$mode" -n "$N" -c 50 ${ENGINE:+--engine "$ENGINE"} \
    --format json --no-progress > "$WORKDIR/$mode.json"
  read -r acc1 req1 < <(counters)
  # The status request itself is one connection and one request.
  nginx_conn=$((acc1 - acc0 - 1)); nginx_req=$((req1 - req0 - 1))
  read -r ours_req ours_conn errors retries < <(python3 -c "
import json; r = json.load(open('$WORKDIR/$mode.json'))['runs'][0]
print(r['requests'], r['connections_opened'], sum(r['errors'].values()), r['retries'])")
  verdict=ok
  [ $((ours_req + errors)) = "$N" ] && [ "$ours_req" = "$nginx_req" ] && [ "$ours_conn" = "$nginx_conn" ] || { verdict=MISMATCH; fail=1; }
  printf '%-10s %10s %10s %12s %12s %8s %8s %s\n' "$mode" "$ours_req" "$nginx_req" "$ours_conn" "$nginx_conn" "$errors" "$retries" "$verdict"
done
exit $fail
