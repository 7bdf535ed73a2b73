#!/usr/bin/env bash
# bench-memory.sh: connbench's memory at scale (docs/design.md §7): 10,000 concurrent keep-alive
# connections in under 64 MiB, and flat over the run (RSS after 10 s within ±10 % of RSS at the end).
#
#   scripts/bench-memory.sh                    # -c 10000, 60 s
#   DURATION=15 scripts/bench-memory.sh        # a quick check (samples at 10 s and at 14 s)
#
# Env (defaults in brackets): CONNS [10000], DURATION [60] seconds, EARLY [10] seconds (the first sample),
# PORT [18091], SERVER_CPU [0], CLIENT_CPU [1], CONNBENCH [target/release/connbench, built first],
# WORKDIR [a new temporary directory, kept], ENGINE [the mode's default: tokio or uring, as --engine].
#
# The target is nginx on its own core, not the embedded server, so that only the client's memory is in
# the process measured. RSS is read from /proc/PID/status (VmRSS) once a second; the peak is
# /usr/bin/time's %M. The fd limit is raised for both processes (connbench needs one per connection).
# Loopback only, and the run is bounded by -d plus a hard timeout. Exits 1 when a check says NO (a run
# whose connections did not all come up measured something else).
set -u -o pipefail

C=${CONNS:-10000}
D=${DURATION:-60}
EARLY=${EARLY:-10}
PORT=${PORT:-18091}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
here=$(cd "$(dirname "$0")/.." && pwd)
CONNBENCH=${CONNBENCH:-$here/target/release/connbench}
WORKDIR=${WORKDIR:-$(mktemp -d -t bench-memory.XXXXXX)}
NGINX_PID=""

log() { echo "[bench-memory] $*" >&2; }

command -v nginx >/dev/null || { log "nginx is not installed (apt-get install nginx)"; exit 2; }
[ -x /usr/bin/time ] || { log "/usr/bin/time is not installed (apt-get install time)"; exit 2; }
[ "$D" -gt "$EARLY" ] || { log "DURATION ($D) must be longer than EARLY ($EARLY)"; exit 2; }
if [ -z "${CONNBENCH_PREBUILT:-}" ]; then
  (cd "$here" && cargo build --release --quiet) || { log "cargo build --release failed"; exit 2; }
fi

# One fd per connection on each side, plus a margin. Raise the soft limit to the hard one, and the hard
# one too where we may (root).
want=$((C + 1024))
ulimit -Hn "$((want * 2))" 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge "$want" ] || { log "fd limit $(ulimit -n) < $want; raise it (ulimit -Hn as root)"; exit 2; }
ports=$(awk '{print $2 - $1 + 1}' /proc/sys/net/ipv4/ip_local_port_range)
[ "$ports" -gt "$C" ] || { log "ip_local_port_range has $ports ports, fewer than $C connections"; exit 2; }

# shellcheck source=lib/nginx.sh
. "$(dirname "$0")/lib/nginx.sh"
write_nginx_conf $((want * 2)) 100000000
start_nginx

rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null; }
nginx_rss_kib() {
  local p t=0
  for p in $(cat "/proc/$NGINX_PID/task/$NGINX_PID/children" 2>/dev/null); do t=$((t + $(rss_kib "$p"))); done
  echo "$t"
}

log "connbench -c $C --mode keepalive -d ${D}s against nginx (pid $NGINX_PID, CPU $SERVER_CPU), client on CPU $CLIENT_CPU"
timeout -s INT -k 10 $((D + 60)) /usr/bin/time -f '%U %S %M' -o "$WORKDIR/time" \
  taskset -c "$CLIENT_CPU" "$CONNBENCH" run "http://127.0.0.1:$PORT/" --mode keepalive -c "$C" -d "${D}s" ${ENGINE:+--engine "$ENGINE"} \
  --connect-timeout 30s --format json --no-progress > "$WORKDIR/result.json" 2> "$WORKDIR/connbench.err" &
outer=$!
# timeout -> time -> connbench (taskset execs): find connbench by walking down from our own child.
pid=""
for _ in $(seq 1 100); do # bounded: 10 s
  p=$outer
  for _ in 1 2; do p=$(cat "/proc/$p/task/$p/children" 2>/dev/null | awk '{print $1}'); [ -n "$p" ] || break; done
  if [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = connbench ]; then pid=$p; break; fi
  sleep 0.1
done
[ -n "$pid" ] || { log "connbench did not start: $(cat "$WORKDIR/connbench.err")"; wait "$outer"; exit 1; }

# One sample a second, from connbench's start: t, connbench RSS KiB, established client connections,
# nginx worker RSS KiB.
printf 't_s\trss_kib\testablished\tnginx_rss_kib\n' > "$WORKDIR/samples.tsv"
t0=$(date +%s.%N)
while kill -0 "$pid" 2>/dev/null; do
  rss=$(rss_kib "$pid")
  [ -n "$rss" ] || break
  t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
  est=$(ss -Htn state established "dport = :$PORT" 2>/dev/null | wc -l)
  printf '%s\t%s\t%s\t%s\n' "$t" "$rss" "$est" "$(nginx_rss_kib)" >> "$WORKDIR/samples.tsv"
  sleep 1
done
wait "$outer"
rc=$?
stop_nginx
[ "$rc" -eq 0 ] || log "connbench exited with $rc: $(tail -n 3 "$WORKDIR/connbench.err")"

python3 - "$WORKDIR" "$C" "$D" "$EARLY" <<'EOF'
import csv, json, sys
work, C, D, EARLY = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
samples = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(f"{work}/samples.tsv"), delimiter="\t")]
usr, sys_, peak = open(f"{work}/time").read().split("\n")[-2].split()
peak_mib = int(peak) / 1024
try:
    run = json.load(open(f"{work}/result.json"))["runs"][0]
except Exception:
    run = None
live = [s for s in samples if s["established"] > 0] or samples  # while connbench's load ran
def at(t):  # the sample nearest t s
    return min(live, key=lambda s: abs(s["t_s"] - t)) if live else None
early, late = at(EARLY), at(D - 1)
mib = lambda s: s["rss_kib"] / 1024
print(f"### bench-memory.sh: connbench keepalive -c {C} -d {D}s against nginx (client and nginx on separate cores)\n")
print("| figure | value |")
print("|---|---:|")
if run:
    print(f"| requests | {run['requests']} ({run['rps']:.0f}/s) |")
    print(f"| connections opened | {run['connections_opened']} |")
    print(f"| errors | {sum(run['errors'].values())} |")
most = max((s["established"] for s in samples), default=0)
print(f"| established connections (most seen) | {most:.0f} |")
if early:
    print(f"| RSS at {early['t_s']:.0f} s | {mib(early):.1f} MiB |")
if late:
    print(f"| RSS at {late['t_s']:.0f} s | {mib(late):.1f} MiB |")
print(f"| peak RSS (/usr/bin/time) | {peak_mib:.1f} MiB |")
print(f"| client CPU | {float(usr) + float(sys_):.1f} s (user {usr}, sys {sys_}) |")
if late:
    print(f"| nginx worker RSS at {late['t_s']:.0f} s (not counted) | {late['nginx_rss_kib'] / 1024:.1f} MiB |")
print()
if early and late:
    drift = (mib(late) - mib(early)) / mib(early) * 100
    flat = abs(drift) <= 10
    print(f"- flat: RSS {mib(early):.1f} MiB at {early['t_s']:.0f} s and {mib(late):.1f} MiB at {late['t_s']:.0f} s, "
          f"{drift:+.1f} %: {'yes (within ±10 %)' if flat else 'NO (more than ±10 %)'}")
print(f"- under 64 MiB: peak {peak_mib:.1f} MiB: {'yes' if peak_mib < 64 else 'NO'}")
print(f"- all {C} connections up: {'yes' if most >= C else f'NO (at most {most:.0f})'}")
sys.exit(0 if early and late and flat and peak_mib < 64 and most >= C else 1)
EOF
verdict=$?
log "samples in $WORKDIR/samples.tsv"
exit "$verdict"
