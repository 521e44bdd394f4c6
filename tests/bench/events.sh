#!/usr/bin/env bash
# `ltb events` delay (run by tests/bench/run.sh, or alone): a one-node busybox lab, `ltb events
# LAB --format json` following it, and BENCH_EVENTS_RUNS times (default 7): `docker kill` of the
# node's container, then the time until the "died" line reaches a reader of ltb's stdout. The
# clock starts before `docker kill` runs (so the docker CLI's own start, about 20 ms, counts
# against ltb); a second figure starts it at Docker's own time of the death (the event's time).
# The container is started again between runs. Target: median < 200 ms.
#
# Environment: LTB (the ltb binary, required), BENCH_EVENTS_RUNS, BENCH_EVENTS_SUBNET (management
# subnet, default 172.20.187.0/24), BENCH_OUT (append the rows there, tab-separated as run.sh
# writes them).
# Exit status: 0 when every run measured and the target was met, 2 when the target was missed
# (a MISS row, and verdict.sh's last line names it), 1 when something failed.
# The lab is named ltbtest-eventsbench and removed on exit.

set -uo pipefail
export LC_ALL=C

: "${LTB:?set LTB to the ltb binary}"
RUNS=${BENCH_EVENTS_RUNS:-7}
SUBNET=${BENCH_EVENTS_SUBNET:-172.20.187.0/24}
LAB=ltbtest-eventsbench
WORK=$(mktemp -d /tmp/ltbtest-eventsbench.XXXXXX)
export LTB_STATE=$WORK/state.db
EVENTS_PID=
READER_PID=

BENCH_NAME='bench events'
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# shellcheck disable=SC2317 # called by lib.sh's EXIT trap
cleanup() {
  [[ -n $EVENTS_PID ]] && kill "$EVENTS_PID" 2>/dev/null && wait "$EVENTS_PID" 2>/dev/null
  [[ -n $READER_PID ]] && kill "$READER_PID" 2>/dev/null && wait "$READER_PID" 2>/dev/null
  "$LTB" --quiet down --lab "$LAB" >/dev/null 2>&1
  rm -rf "$WORK"
}


cat >"$WORK/lab.yaml" <<EOF
name: $LAB
mgmt:
  ipv4-subnet: $SUBNET
topology:
  nodes:
    n1:
      kind: linux
      image: ltb/busybox:latest
EOF
"$LTB" --quiet up "$WORK/lab.yaml" >"$WORK/up.log" 2>&1 || die "ltb up failed: $(cat "$WORK/up.log")"
container=ltb-$LAB-n1

# ltb's stdout goes through a FIFO to a reader that stamps each line with its arrival time.
mkfifo "$WORK/events.fifo"
while IFS= read -r line; do
  printf '%s %s\n' "$EPOCHREALTIME" "$line"
done <"$WORK/events.fifo" >"$WORK/stamped" &
READER_PID=$!
"$LTB" events "$LAB" --format json >"$WORK/events.fifo" 2>"$WORK/events.err" &
EVENTS_PID=$!
for _ in $(seq 100); do
  grep -q "following events" "$WORK/events.err" && break
  sleep 0.1
done
grep -q "following events" "$WORK/events.err" || die "ltb events did not start: $(cat "$WORK/events.err")"

from_kill=()
from_death=()
for ((i = 1; i <= RUNS; i++)); do
  before=$(grep -c '"action":"died"' "$WORK/stamped")
  t0=$EPOCHREALTIME
  docker kill "$container" >/dev/null || die "docker kill $container failed"
  for _ in $(seq 500); do
    (($(grep -c '"action":"died"' "$WORK/stamped") > before)) && break
    sleep 0.01
  done
  line=$(grep '"action":"died"' "$WORK/stamped" | tail -n +$((before + 1)) | head -1)
  [[ -n $line ]] || die "no died line within 5 s of docker kill (run $i): $(cat "$WORK/events.err")"
  arrived=${line%% *}
  death_ns=$(sed -E 's/.*"time_ns":([0-9]+).*/\1/' <<<"$line")
  from_kill+=("$(awk -v a="$arrived" -v t="$t0" 'BEGIN { printf "%.3f", a - t }')")
  from_death+=("$(awk -v a="$arrived" -v d="$death_ns" 'BEGIN { printf "%.3f", a - d / 1e9 }')")
  docker start "$container" >/dev/null || die "docker start $container failed"
  sleep 0.3
done

KILL_MEDIAN=$(median "${from_kill[@]}")
DEATH_MEDIAN=$(median "${from_death[@]}")
result=$(awk -v v="$KILL_MEDIAN" 'BEGIN { print (v < 0.2 ? "PASS" : "MISS") }')
ROWS=(
  "ltb events: docker kill to died line	$KILL_MEDIAN	$KILL_MEDIAN (target <0.2)	$result"
  "ltb events: Docker's death time to line	$DEATH_MEDIAN	-	-"
)
say "per run, docker kill to line (s): ${from_kill[*]}"
say "per run, Docker's death time to line (s): ${from_death[*]}"
printf '%s\n' "${ROWS[@]}"
if [[ -n ${BENCH_OUT:-} ]]; then
  printf '%s\n' "${ROWS[@]}" >>"$BENCH_OUT" || die "cannot write $BENCH_OUT"
fi
printf '%s\n' "${ROWS[@]}" | bash "$(dirname "${BASH_SOURCE[0]}")/verdict.sh" "bench events" >&2
