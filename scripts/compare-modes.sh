#!/usr/bin/env bash
# Every connection mode (--mode all: multiplex where the target speaks HTTP/2) side by side against URL,
# or against the embedded server when no URL is given. Keeps the whole result in results/modes-STAMP.json and its markdown table in
# results/modes-STAMP.md, and prints the table.
#
#   scripts/compare-modes.sh [URL] [more connbench run flags…]
#
# Environment: CONNBENCH (the binary; default target/release/connbench, built when missing),
# DURATION [5s], CONNECTIONS [50], DEPTH [16], OUT (path without extension) [results/modes-STAMP].
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${CONNBENCH:-target/release/connbench}
[ -x "$bin" ] || cargo build --release --quiet
out=${OUT:-results/modes-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$(dirname "$out")"

# Flags after the URL are passed on; the embedded server is used when the first argument is not a URL.
"$bin" run "$@" --mode all -d "${DURATION:-5s}" -c "${CONNECTIONS:-50}" --depth "${DEPTH:-16}" \
    --no-progress --format markdown -o "$out.json" >"$out.md"
cat "$out.md"
echo "compare-modes: wrote $out.json and $out.md" >&2
