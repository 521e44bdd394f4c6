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
