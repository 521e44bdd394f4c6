# shellcheck shell=bash
# What every benchmark script shares. Set BENCH_NAME (the prefix of its messages) and source this
# file; define cleanup (what the script made, to remove on any exit): it runs once, with the exit
# status as $1, and returns; the script then exits with that status (130 on ^C, 143 on TERM).

say() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# median N...: the middle value (the upper one of an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# shellcheck disable=SC2317 # called by the EXIT trap
bench_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if declare -F cleanup >/dev/null; then
    cleanup "$rc"
  fi
  exit "$rc"
}
trap bench_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# For a benchmark script that keeps its files in $WORK: calc EXPR prints EXPR to 3 decimals;
# timed CMD... runs CMD with its output in $WORK/last.log and sets T to its wall time (s); row NAME
# SECONDS [RATIO TARGET] adds a row to ROWS (TARGET like "<=1.3": PASS or MISS); report TITLE
# prints the rows under TITLE, appends them to BENCH_OUT when set and ends with verdict.sh's
# status (2 when a target was missed).
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }

T=0
timed() {
  local start=$EPOCHREALTIME rc=0
  "$@" >"$WORK/last.log" 2>&1 || rc=$?
  T=$(calc "$EPOCHREALTIME - $start")
  return $rc
}

ROWS=()
row() {
  local name=$1 seconds=$2 ratio=${3:-} target=${4:-}
  if [[ -z $target ]]; then
    ROWS+=("$name	$seconds	${ratio:--}	-")
    return
  fi
  local limit=${target##*[<=]} pass
  pass=$(awk -v v="$ratio" -v l="$limit" 'BEGIN { print (v <= l ? "PASS" : "MISS") }')
  ROWS+=("$name	$seconds	$ratio (target $target)	$pass")
}

# each CMD...: CMD NODE for every node of NODES at once; fails when one fails.
each() {
  local node pids=() pid rc=0
  for node in "${NODES[@]}"; do
    "$@" "$node" >/dev/null &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || rc=1
  done
  return $rc
}

report() {
  local line name value ratio result
  printf '\n%s, %s, %s cores, median of %s rounds\n\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$(nproc)" "$RUNS"
  printf '%-46s %11s  %-24s %s\n' MEASUREMENT VALUE RATIO RESULT
  for line in "${ROWS[@]}"; do
    IFS=$'\t' read -r name value ratio result <<<"$line"
    printf '%-46s %11s  %-24s %s\n' "$name" "$value" "$ratio" "$result"
  done
  if [[ -n ${BENCH_OUT:-} ]]; then
    printf '%s\n' "${ROWS[@]}" >>"$BENCH_OUT" || die "cannot write $BENCH_OUT"
  fi
  printf '%s\n' "${ROWS[@]}" | bash "$(dirname "${BASH_SOURCE[0]}")/verdict.sh" "$BENCH_NAME"
}
