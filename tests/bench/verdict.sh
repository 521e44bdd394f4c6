#!/usr/bin/env bash
# The verdict of a benchmark run: reads its rows on stdin (measurement<TAB>value<TAB>ratio and
# target<TAB>result, where result is PASS, MISS or - for a figure without a target), prints one
# summary line that names every missed target, and exits 0 when every target was met, 2 when any
# was missed. Used by run.sh (`make bench`), bench_capture.sh and schedule.sh; checked by
# test_verdict.sh.
#   verdict.sh [NAME]   NAME starts the summary line (default "bench")
set -uo pipefail

name=${1:-bench}
targets=0
misses=()
while IFS=$'\t' read -r measurement _ ratio result; do
  case $result in
  PASS) targets=$((targets + 1)) ;;
  MISS)
    targets=$((targets + 1))
    misses+=("$measurement: $ratio")
    ;;
  esac
done
if ((${#misses[@]} == 0)); then
  printf '%s: all %d targets met\n' "$name" "$targets"
  exit 0
fi
summary=$(printf '%s; ' "${misses[@]}")
printf '%s: MISSED %d of %d targets: %s\n' "$name" "${#misses[@]}" "$targets" "${summary%; }"
exit 2
