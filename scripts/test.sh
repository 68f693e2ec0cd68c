#!/usr/bin/env bash
# `npm test`: type checking (tsc, incremental) and the fast vitest suite side by side, not
# one after the other: tsc is ~12 s of one core, vitest's workers leave some of a second
# one idle while they wait for subprocesses (issue 11: ≤ 60 s on a 2-core machine).
# Fails when either fails; tsc's diagnostics are printed after vitest's report.
set -u
cd "$(dirname "$0")/.."
tsc_out=$(mktemp "${TMPDIR:-/tmp}/nixlab-tsc-XXXXXX")
npm run -s build >"$tsc_out" 2>&1 &
tsc_pid=$!
npx vitest run "$@"
vitest_rc=$?
wait "$tsc_pid"
tsc_rc=$?
if [ "$tsc_rc" -ne 0 ]; then
    echo "== tsc --noEmit failed (exit $tsc_rc):"
    cat "$tsc_out"
fi
rm -f "$tsc_out"
[ "$vitest_rc" -eq 0 ] && [ "$tsc_rc" -eq 0 ]
