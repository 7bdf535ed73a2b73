#!/usr/bin/env bash
# connbench beside wrk, h2load and ab (those installed): the same target, the same number of
# connections, the same duration, one table. Two cases:
#   keep-alive: persistent connections (connbench keepalive, wrk, h2load --h1, ab -k);
#   close:      a new connection for every request, the server closing it (connbench parallel
#               --close-by server, wrk with Connection: close, ab without -k).
#
#   scripts/peers.sh [URL]      # no URL: `connbench serve` on 127.0.0.1:$PORT for the duration
#
# Environment: CONNBENCH (default target/release/connbench, built when missing), CONNECTIONS [50],
# DURATION [5] (seconds), THREADS [2] (wrk and h2load), PORT [18080], CASES ["keep-alive close"].
# Latency is each tool's own: wrk and connbench time each request, ab times each request from its
# connect, h2load prints no percentiles (its mean is shown as p50). Figures in ms.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${CONNBENCH:-target/release/connbench}
[ -x "$bin" ] || cargo build --release --quiet
c=${CONNECTIONS:-50}
secs=${DURATION:-5}
threads=${THREADS:-2}
url=${1:-}
if [ -z "$url" ]; then
    url="http://127.0.0.1:${PORT:-18080}/"
    "$bin" serve --listen "127.0.0.1:${PORT:-18080}" 2>/dev/null &
    server=$!
    trap 'kill "$server" 2>/dev/null' EXIT
    sleep 0.5
fi
have() { command -v "$1" >/dev/null; }
log=$(mktemp)
trap 'rm -f "$log"; [ -n "${server:-}" ] && kill "$server" 2>/dev/null' EXIT

row() { printf '%-10s %-11s %6s %10s %11s %9s %9s %7s\n' "$1" "$2" "$3" "$4" "$(rps "$5")" "$6" "$7" "$8"; }
rps() { awk -v v="$1" 'BEGIN { if (v ~ /^[0-9.]+$/) printf "%.1f", v; else printf "%s", v }'; }
ms() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }
# wrk prints 1.23ms, 456.78us, 1.02s
wrk_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; printf "%.2f", n }'; }

connbench_row() { # case, connbench run flags…
    local case=$1
    shift
    "$bin" run "$url" "$@" -c "$c" -d "${secs}s" --no-progress --format json >"$log"
    row connbench "$case" "$c" \
        "$(jq '.runs[0].requests' "$log")" \
        "$(jq '.runs[0].rps' "$log")" \
        "$(ms "$(jq '.runs[0].latency.total.p50_us / 1000' "$log")")" \
        "$(ms "$(jq '.runs[0].latency.total.p99_us / 1000' "$log")")" \
        "$(jq '.runs[0].errors | add' "$log")"
}

wrk_row() { # case, wrk flags…
    local case=$1
    shift
    wrk -t "$threads" -c "$c" -d "${secs}s" --latency "$@" "$url" >"$log" 2>&1
    local errors
    errors=$(awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$log")
    row wrk "$case" "$c" \
        "$(awk '/requests in/ { print $1 }' "$log")" \
        "$(awk '/Requests\/sec/ { print $2 }' "$log")" \
        "$(wrk_ms "$(awk '$1 == "50%" { print $2 }' "$log")")" \
        "$(wrk_ms "$(awk '$1 == "99%" { print $2 }' "$log")")" \
        "${errors:-0}"
}

ab_row() { # case, ab flags…
    local case=$1
    shift
    ab -q -c "$c" -t "$secs" -n 100000000 "$@" "$url" >"$log" 2>&1 || true
    row ab "$case" "$c" \
        "$(awk '/Complete requests/ { print $3 }' "$log")" \
        "$(awk '/Requests per second/ { print $4 }' "$log")" \
        "$(awk '$1 == "50%" { print $2 }' "$log")" \
        "$(awk '$1 == "99%" { print $2 }' "$log")" \
        "$(awk '/Failed requests/ { print $3 }' "$log")"
}

h2load_row() { # case
    h2load --h1 -t "$threads" -c "$c" -D "$secs" "$url" >"$log" 2>&1
    local mean
    mean=$(awk '/time for request:/ { print $6 }' "$log")
    row h2load "$1" "$c" \
        "$(awk '/^requests:/ { print $8 }' "$log")" \
        "$(awk '/^finished in/ { print $4 }' "$log")" \
        "$(wrk_ms "$mean")" \
        "-" \
        "$(awk '/^requests:/ { print $10 + $12 + $14 }' "$log")"
}

echo "target $url, $c connections, ${secs}s each"
row tool case conns requests "req/s" "p50 ms" "p99 ms" errors
for case in ${CASES:-keep-alive close}; do
    if [ "$case" = keep-alive ]; then
        connbench_row "$case" --mode keepalive
        have wrk && wrk_row "$case"
        have h2load && h2load_row "$case"
        have ab && ab_row "$case" -k
    else
        connbench_row "$case" --mode parallel --close-by server
        have wrk && wrk_row "$case" -H "Connection: close"
        have ab && ab_row "$case"
    fi
done
