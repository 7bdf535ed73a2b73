#!/usr/bin/env bash
# The performance gate a CI job calls: a fixed run (profiles/ci-gate.toml: serial and keep-alive,
# 10,000 requests each, with absolute --check limits) held against results/baseline.json.
#
#   scripts/ci-gate.sh [URL] [more connbench run flags…]     # no URL: the embedded server
#   UPDATE_BASELINE=1 scripts/ci-gate.sh [URL]               # measure and save a new baseline
#
# Exit codes are connbench's: 0 passed, 1 a check failed or requests/s fell (or p99 total rose) by
# more than MAX_REGRESSION, 2 the run could not be made (no baseline, bad flags, target down).
# Environment: CONNBENCH (the binary; default target/release/connbench, built when missing),
# PROFILE [profiles/ci-gate.toml], BASELINE [results/baseline.json], MAX_REGRESSION [25%],
# LATEST [results/latest.json]. When GITHUB_STEP_SUMMARY is set (GitHub Actions), the comparison is
# appended to the job summary as a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${CONNBENCH:-target/release/connbench}
[ -x "$bin" ] || cargo build --release --quiet
profile=${PROFILE:-profiles/ci-gate.toml}
baseline=${BASELINE:-results/baseline.json}
latest=${LATEST:-results/latest.json}
max=${MAX_REGRESSION:-25%}

if [ -n "${UPDATE_BASELINE:-}" ]; then
    "$bin" run "$@" -p "$profile" --no-progress -o "$baseline"
    echo "ci-gate: new baseline in $baseline" >&2
    exit 0
fi
if [ ! -f "$baseline" ]; then
    echo "ci-gate: no baseline at $baseline; make one with: UPDATE_BASELINE=1 $0 $*" >&2
    exit 2
fi

code=0
"$bin" run "$@" -p "$profile" --no-progress --baseline "$baseline" --max-regression "$max" -o "$latest" || code=$?
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$latest" ] && [ "$code" -ne 2 ]; then
    "$bin" compare "$baseline" "$latest" --max-regression "$max" --format markdown >>"$GITHUB_STEP_SUMMARY" || true
fi
case $code in
    0) echo "ci-gate: passed" >&2 ;;
    1) echo "ci-gate: FAILED (see the checks and REGRESSION rows above)" >&2 ;;
    *) echo "ci-gate: could not run (exit $code)" >&2 ;;
esac
exit "$code"
