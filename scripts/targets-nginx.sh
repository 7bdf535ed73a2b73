#!/usr/bin/env bash
# Checks connbench's per-target counts (`--targets`) against nginx's access log. A targets file of three, a
# GET with a header of its own, a POST with a body file and a HEAD, is sent with -n N in keepalive and
# pipeline mode (HTTP/1.1) and multiplex mode (h2c, on a second port). For each mode, the requests connbench
# counts for each target must equal the log's lines for its method and URL, and every one of the N must end
# in a response or one counted error.
#
#   scripts/targets-nginx.sh [N]        (N requests per mode, default 30000)
#   ORDER=random scripts/targets-nginx.sh   (--targets-order random --seed 42 instead of round-robin)
#
# Needs Debian's nginx (apt-get install nginx). Starts its own nginx on 127.0.0.1 ($PORT, $H2_PORT) with a
# config written to a temporary directory, and stops it on exit. Loopback only; every run is bounded by -n.
set -euo pipefail
N=${1:-30000}
PORT=${PORT:-18080}
H2_PORT=${H2_PORT:-18081}
ORDER=${ORDER:-round-robin}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${CONNBENCH:-$here/target/release/connbench}
[ -x "$bin" ] || (cd "$here" && cargo build --release --quiet)
command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx)" >&2; exit 2; }

WORKDIR=$(mktemp -d)
SERVER_CPU=${SERVER_CPU:-0}
ACCESS_LOG=$WORKDIR/logs/access.log
log() { echo "[targets-nginx] $*" >&2; }
# shellcheck source=lib/nginx.sh
. "$(dirname "$0")/lib/nginx.sh"
write_nginx_conf 4096 10000000
start_nginx
trap 'stop_nginx; rm -rf "$WORKDIR"' EXIT

printf '{"item":42,"quantity":3}' > "$WORKDIR/order.json"
cat > "$WORKDIR/targets.txt" <<TARGETS
# three endpoints of one origin
GET /api/users?page=2
X-Api-Key: secret

POST /api/orders
Content-Type: application/json
@$WORKDIR/order.json

HEAD /health
TARGETS
order=(--targets-order "$ORDER")
[ "$ORDER" = random ] && order+=(--seed 42)

printf '%-10s %-24s %10s %10s %s\n' mode target connbench nginx verdict
fail=0
for mode in keepalive pipeline multiplex; do
  port=$PORT
  [ "$mode" = multiplex ] && port=$H2_PORT
  : > "$ACCESS_LOG"
  "$bin" run "http://127.0.0.1:$port/" --mode "$mode" --targets "$WORKDIR/targets.txt" "${order[@]}" -n "$N" -c 8 \
    --format json --no-progress > "$WORKDIR/$mode.json" 2> "$WORKDIR/$mode.err"
  # nginx writes a request's line once it has answered it: give the last answers a moment.
  sleep 0.5
  python3 - "$WORKDIR/$mode.json" "$ACCESS_LOG" "$mode" "$N" <<'PY' || fail=1
import collections, json, sys
result, access, mode, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
run = json.load(open(result))["runs"][0]
logged = collections.Counter(" ".join(line.split()[1:3]) for line in open(access))
ok = run["requests"] + sum(run["errors"].values()) == n
for target in run["targets"]:
    key = f"{target['method']} {target['url']}"
    seen = logged.pop(key, 0)
    ok &= target["requests"] == seen
    verdict = "ok" if target["requests"] == seen else "MISMATCH"
    print(f"{mode:<10} {key:<24} {target['requests']:>10} {seen:>10} {verdict}")
for key, count in logged.items():
    ok = False
    print(f"{mode:<10} {key:<24} {0:>10} {count:>10} MISMATCH (not a target)")
sys.exit(0 if ok else 1)
PY
done
exit $fail
