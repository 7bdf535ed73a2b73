#!/usr/bin/env bash
# callgrind-h1.sh: instructions per HTTP/1.x request (callgrind's Ir, user space only), two ways
# (docs/performance.md, "Instructions per request").
#
#   scripts/callgrind-h1.sh machine                  # the state machine of src/engine/h1.rs alone
#   scripts/callgrind-h1.sh client BIN [BIN...]       # whole connbench processes against nginx, one per BIN
#
# machine: examples/h1_machine.rs (release build, with the `bench` feature) drives one h1::Connection with a
#   minimal host and no recorder, as benches/h1_machine.rs does: keep-alive (one request, its nginx response,
#   the next) and pipeline (16 requests written at once, their 16 responses in one read).
# client: each BIN (a release build of connbench) runs `run --mode keepalive` and `--mode pipeline --depth 16`
#   against nginx (`return 200 "hello world\n"`, the server of scripts/bench-peers.sh) with -c CONNS and
#   -t 1 under callgrind; nginx runs on its own, so only the client's instructions are counted.
#
# Every figure is a difference: the same run at N and at 2N requests, (Ir(2N) - Ir(N)) / N, so that the
# start-up, the preflight and the end of the run cancel out and what is left is what one more request costs.
# Callgrind counts instructions, not time: the kernel's work (system calls, TCP) is not in them.
#
# Env (defaults in brackets): N [machine: 200000, client: 20000] requests, CONNS [50], PORT [18095],
# SERVER_CPU [0], CLIENT_CPU [1], WORKDIR [a new temporary directory, kept: the callgrind files are in it].
set -u -o pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
WORKDIR=${WORKDIR:-$(mktemp -d -t callgrind-h1.XXXXXX)}
C=${CONNS:-50}
PORT=${PORT:-18095}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

log() { echo "[callgrind-h1] $*" >&2; }
mkdir -p "$WORKDIR"

for need in valgrind taskset; do
  command -v "$need" >/dev/null || { log "$need is not installed"; exit 2; }
done

# The Ir total of callgrind's output file $1.
total() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }

# ir_per_request LABEL REQUESTS COMMAND...: COMMAND with "@N@" replaced by N and by 2N requests (bounded:
# 20 minutes each), under callgrind, itself under $PIN (taskset, in client mode); prints "LABEL Ir/request".
PIN=()
ir_per_request() {
  local label=$1 n=$2 run out ir=()
  shift 2
  for run in "$n" "$((2 * n))"; do
    out="$WORKDIR/$label.$run.callgrind"
    timeout -k 5 1200 "${PIN[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" "${@//@N@/$run}" \
      > "$WORKDIR/$label.$run.out" 2> "$WORKDIR/$label.$run.err" || { log "$label at $run failed: see $WORKDIR"; exit 1; }
    ir+=("$(total "$out")")
  done
  awk -v l="$label" -v a="${ir[0]}" -v b="${ir[1]}" -v n="$n" 'BEGIN { printf "%s\t%.0f\n", l, (b - a) / n }'
}

case "${1:-}" in
  machine)
    N=${N:-200000}
    (cd "$here" && cargo build --release --quiet --example h1_machine) || { log "cargo build failed"; exit 2; }
    bin=$here/target/release/examples/h1_machine
    ir_per_request machine-keepalive "$N" "$bin" keepalive @N@
    # A round is 16 requests.
    ir_per_request machine-pipeline16 "$((N / 16))" "$bin" pipeline @N@ | awk '{ printf "%s\t%.0f\n", $1, $2 / 16 }'
    ;;
  client)
    shift
    [ $# -gt 0 ] || { log "client: name the connbench binaries to measure"; exit 2; }
    N=${N:-20000}
    command -v nginx >/dev/null || { log "nginx is not installed"; exit 2; }
    # shellcheck source=lib/nginx.sh
    . "$(dirname "$0")/lib/nginx.sh"
    write_nginx_conf 4096 100000000
    start_nginx
    PIN=(taskset -c "$CLIENT_CPU")
    i=0
    for bin in "$@"; do
      i=$((i + 1))
      cb=("$bin" run "http://127.0.0.1:$PORT/" -c "$C" -t 1 -n @N@ --no-progress --format json)
      log "client $i: $bin"
      ir_per_request "client$i-keepalive" "$N" "${cb[@]}" --mode keepalive
      ir_per_request "client$i-pipeline16" "$N" "${cb[@]}" --mode pipeline --depth 16
    done
    ;;
  *)
    log "usage: $0 machine | client BIN [BIN...]"
    exit 2
    ;;
esac
log "callgrind files in $WORKDIR"
