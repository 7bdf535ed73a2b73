#!/usr/bin/env bash
# A local rehearsal of a sharded run (docs/shards.md): N shard processes of one plan against one nginx,
# started together with --start-at, merged, and checked against nginx's own count (stub_status) and
# against one unsharded run of the same plan.
#
#   scripts/shards.sh                                  # 2 shards of --rate 2000 -d 3s -c 4
#   SHARDS=3 PLAN="-n 1001 -c 4" scripts/shards.sh     # any run flags; -n splits exactly
#
# Env (defaults in brackets): SHARDS [2], PLAN ["--rate 2000 -d 3s -c 4"], PORT [18095], SERVER_CPU [0],
# CONNBENCH [target/release/connbench, built if missing], WORKDIR [a new temporary directory, kept].
# Needs Debian's nginx. Loopback only; every run is bounded by PLAN's -d or -n.
set -euo pipefail
SHARDS=${SHARDS:-2}
PLAN=${PLAN:---rate 2000 -d 3s -c 4}
PORT=${PORT:-18095}
SERVER_CPU=${SERVER_CPU:-0}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${CONNBENCH:-$here/target/release/connbench}
[ -x "$bin" ] || (cd "$here" && cargo build --release --quiet)
command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx)" >&2; exit 2; }
WORKDIR=${WORKDIR:-$(mktemp -d)}
log() { echo "[shards] $*" >&2; }
# shellcheck source=lib/nginx.sh
. "$(dirname "$0")/lib/nginx.sh"
write_nginx_conf 4096 10000000 'location = /status { stub_status; }'
start_nginx

# stub_status's third line: accepts handled requests.
served() { python3 -c "
import urllib.request
print(urllib.request.urlopen('http://127.0.0.1:$PORT/status').read().decode().splitlines()[2].split()[2])"; }
url="http://127.0.0.1:$PORT/"

# shellcheck disable=SC2086 # PLAN is a list of flags
run_shards() {
  local start pids=() i
  start=$(python3 -c 'import time; print(f"{time.time() + 1.5:.3f}")')
  for i in $(seq 0 $((SHARDS - 1))); do
    "$bin" run "$url" $PLAN --shard "$i/$SHARDS" --start-at "$start" --no-progress --format json \
      -o "$WORKDIR/shard-$i.json" > /dev/null 2> "$WORKDIR/shard-$i.err" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
}

before=$(served)
run_shards
after=$(served)
"$bin" merge "$WORKDIR"/shard-*.json -o "$WORKDIR/merged.json"
# shellcheck disable=SC2086
"$bin" run "$url" $PLAN --no-progress --format json -o "$WORKDIR/whole.json" > /dev/null

python3 - "$WORKDIR" "$((after - before - 1))" <<'PY'
import json, sys
workdir, nginx = sys.argv[1], int(sys.argv[2])
merged = json.load(open(f"{workdir}/merged.json"))["runs"][0]
whole = json.load(open(f"{workdir}/whole.json"))["runs"][0]
inflight = merged.get("in_flight_at_end", 0)
ok = merged["requests"] <= nginx <= merged["requests"] + inflight
print(f"{'':28}{'merged shards':>14}{'one process':>14}")
for label, key in [("requests", "requests"), ("in flight at end", "in_flight_at_end"),
                   ("connections", "connections"), ("connections opened", "connections_opened"),
                   ("requests/s", "rps"), ("errors", None)]:
    value = lambda run: sum(run["errors"].values()) if key is None else run.get(key)
    a, b = value(merged), value(whole)
    fmt = (lambda v: f"{v:.1f}") if key == "rps" else str
    print(f"{label:28}{fmt(a):>14}{fmt(b):>14}")
print(f"{'timeline seconds':28}{len(merged['timeline']):>14}{len(whole['timeline']):>14}")
print(f"nginx served {nginx} requests to the shards: {'matches' if ok else 'MISMATCH'}"
      f" (merged {merged['requests']} completed, {inflight} in flight at the end)")
sys.exit(0 if ok else 1)
PY
