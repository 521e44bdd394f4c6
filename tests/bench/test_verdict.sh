#!/usr/bin/env bash
# verdict.sh, the exit status of `make bench`: 0 only when every target was met, 2 when one was
# missed, with every miss named on the summary line; and run.sh's dry mode (BENCH_DRY_ROWS), which
# reports given rows without measuring, ends with the same verdict.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
failures=0
fail() {
  printf 'test_verdict: FAIL: %s\n' "$*" >&2
  failures=$((failures + 1))
}

# expect RC PATTERN ROWS: verdict.sh on ROWS must exit RC and print a line matching PATTERN.
expect() {
  local want=$1 pattern=$2 rows=$3 out rc=0
  out=$(printf '%b' "$rows" | bash "$here/verdict.sh" bench) || rc=$?
  ((rc == want)) || fail "exit $rc, expected $want, for rows: $rows (said: $out)"
  [[ $out =~ $pattern ]] || fail "said '$out', expected /$pattern/"
}

expect 0 '^bench: all 2 targets met$' 'floor\t1.0\t-\t-\nltb up\t1.1\t1.05 (target <=1.1)\tPASS\nno-op\t0.05\t0.05 (target <0.1)\tPASS\n'
expect 2 '^bench: MISSED 1 of 2 targets: ltb up: 1.30 \(target <=1.1\)$' 'ltb up\t1.4\t1.30 (target <=1.1)\tMISS\nno-op\t0.05\t0.05 (target <0.1)\tPASS\n'
expect 2 'MISSED 2 of 2 targets: a: 3 \(target <1\); b: 4 \(target <1\)$' 'a\t3\t3 (target <1)\tMISS\nb\t4\t4 (target <1)\tMISS\n'
expect 0 '^bench: all 0 targets met$' 'floor\t1.0\t-\t-\n'

# run.sh in dry mode: the rows of a file, the table, the verdict; nothing measured.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'ltb up / floor\t4.1\t1.02 (target <=1.1)\tPASS\nno-op up\t0.2\t0.2 (target <0.1)\tMISS\n' >"$tmp/miss.rows"
printf 'ltb up / floor\t4.1\t1.02 (target <=1.1)\tPASS\n' >"$tmp/pass.rows"
rc=0
BENCH_DRY_ROWS=$tmp/miss.rows bash "$here/run.sh" >"$tmp/out" 2>"$tmp/err" || rc=$?
((rc == 2)) || fail "run.sh with a missed target exited $rc, expected 2: $(cat "$tmp/err")"
grep -q 'no-op up .*MISS' "$tmp/out" || fail "run.sh did not print the missed row: $(cat "$tmp/out")"
grep -q '^bench: MISSED 1 of 2 targets: no-op up: 0.2 (target <0.1)$' "$tmp/out" ||
  fail "run.sh printed no summary of the miss: $(cat "$tmp/out")"
rc=0
BENCH_DRY_ROWS=$tmp/pass.rows bash "$here/run.sh" >"$tmp/out" 2>"$tmp/err" || rc=$?
((rc == 0)) || fail "run.sh with every target met exited $rc: $(cat "$tmp/err")"
grep -q '^bench: all 1 targets met$' "$tmp/out" || fail "run.sh: no summary line: $(cat "$tmp/out")"

((failures == 0)) || exit 1
echo "test_verdict: ok"
