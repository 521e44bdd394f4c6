#!/usr/bin/env bash
# The scheduler's lateness: 20 reservations of a one-node lab, one starting every 3 s and lasting
# 2 s, deployed and removed by one `ltb schedule run` daemon. Lateness = the time the deploy
# started minus the reservation's start, as the daemon logs it (to the millisecond). Target: median
# under 1 s. Run by run.sh; alone: LTB=build/ltb bash tests/bench/schedule.sh
#
# Output: on stderr progress; on stdout (and appended to BENCH_OUT when set) one tab-separated
# row per measurement, as run.sh's table
# wants them ("measurement<TAB>seconds<TAB>ratio/target<TAB>result").
# Exit status: 0 when every event was measured and the target met, 2 when it was missed (the row
# says MISS; verdict.sh's line on stderr too), 1 on failure.
# Everything it makes is named ltbtest-sched-bench* and removed on exit.

set -uo pipefail
export LC_ALL=C

LTB_BIN=${LTB:?set LTB to the ltb binary}
EVENTS=${BENCH_SCHEDULE_EVENTS:-20}
SPACING=3 # seconds between starts
WINDOW=2  # seconds each lab stays
PREFIX=ltbtest-sched-bench
IMAGE=ltb/busybox:latest
# Neighbours alternate between two subnets, so a late removal never blocks the next deploy.
SUBNETS=(172.20.45.0/24 172.20.145.0/24)

WORK=$(mktemp -d /tmp/ltbtest-sched-bench.XXXXXX)
export LTB_STATE=$WORK/state.db
DAEMON=""

BENCH_NAME='bench schedule'
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# shellcheck disable=SC2317 # called by lib.sh's EXIT trap
cleanup() {
  local rc=$1
  if [[ -n $DAEMON ]] && kill -0 "$DAEMON" 2>/dev/null; then
    kill -TERM "$DAEMON"
    wait "$DAEMON" 2>/dev/null
  fi
  local i
  for ((i = 1; i <= EVENTS; i++)); do
    if [[ -n $(docker ps -aq --filter "label=ltb.lab=$PREFIX-$i") ||
      -n $(docker network ls -q --filter "label=ltb.lab=$PREFIX-$i") ]]; then
      "$LTB_BIN" --quiet down --lab "$PREFIX-$i" >/dev/null 2>&1 ||
        say "could not remove lab $PREFIX-$i; try: ltb --state $LTB_STATE down --lab $PREFIX-$i"
    fi
  done
  if ((rc == 0)); then
    rm -rf "$WORK"
  else
    say "files kept in $WORK"
  fi
}

docker image inspect "$IMAGE" >/dev/null 2>&1 || die "image $IMAGE is missing; run \`make images\`"

t0=$(($(date +%s) + 8))
say "$EVENTS reservations, one every ${SPACING} s for ${WINDOW} s from $(date -d "@$t0" +%T)"
for ((i = 1; i <= EVENTS; i++)); do
  start=$((t0 + (i - 1) * SPACING))
  cat >"$WORK/lab$i.yaml" <<EOF
name: $PREFIX-$i
mgmt:
  ipv4-subnet: ${SUBNETS[i % 2]}
topology:
  nodes:
    n1: {kind: linux, image: $IMAGE}
EOF
  "$LTB_BIN" reserve create "$WORK/lab$i.yaml" --start "$(date -u -d "@$start" +%Y-%m-%dT%H:%M:%SZ)" \
    --for "${WINDOW}s" >>"$WORK/reserve.log" 2>&1 || {
    cat "$WORK/reserve.log" >&2
    die "ltb reserve create failed"
  }
done
(($(date +%s) < t0)) || die "creating the reservations took too long; the first start passed"

"$LTB_BIN" schedule run >"$WORK/daemon.log" 2>&1 &
DAEMON=$!
last_end=$((t0 + (EVENTS - 1) * SPACING + WINDOW))
# Wait for the last removal (at most 30 s after the last end).
deadline=$((last_end + 30))
while (($(date +%s) < deadline)); do
  if [[ $(grep -c ": lab removed" "$WORK/daemon.log") -ge $EVENTS ]]; then
    break
  fi
  kill -0 "$DAEMON" 2>/dev/null || {
    cat "$WORK/daemon.log" >&2
    die "the scheduler exited"
  }
  sleep 1
done
kill -TERM "$DAEMON"
wait "$DAEMON"
rc=$?
DAEMON=""
((rc == 0)) || die "the scheduler exited $rc on SIGTERM"

mapfile -t late < <(sed -nE 's/.*: deployed; started ([0-9.]+) s after its start time.*/\1/p' \
  "$WORK/daemon.log")
removed=$(grep -c ": lab removed" "$WORK/daemon.log")
if ((${#late[@]} != EVENTS || removed != EVENTS)); then
  sed 's/^/  | /' "$WORK/daemon.log" >&2
  die "expected $EVENTS deploys and removals, the log has ${#late[@]} and $removed"
fi
if grep -q "failed" "$WORK/daemon.log"; then
  grep "failed" "$WORK/daemon.log" | sed 's/^/  | /' >&2
  die "some deploys or removals failed"
fi
median=$(printf '%s\n' "${late[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
max=$(printf '%s\n' "${late[@]}" | sort -g | tail -1)
say "lateness (s): ${late[*]}"
pass=$(awk -v m="$median" 'BEGIN { print (m < 1 ? "PASS" : "MISS") }')
rows=$(
  printf 'scheduler lateness, median of %d (s)\t%s\t%s (target <1)\t%s\n' "$EVENTS" "$median" \
    "$median" "$pass"
  printf 'scheduler lateness, max of %d (s)\t%s\t-\t-\n' "$EVENTS" "$max"
)
printf '%s\n' "$rows"
if [[ -n ${BENCH_OUT:-} ]]; then
  printf '%s\n' "$rows" >>"$BENCH_OUT" || die "cannot write $BENCH_OUT"
fi
printf '%s\n' "$rows" | bash "$(dirname "${BASH_SOURCE[0]}")/verdict.sh" "bench schedule" >&2
