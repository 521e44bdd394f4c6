#!/usr/bin/env bash
# `ltb schedule` against real dockerd: the daemon wakes for a reservation made after it went to
# sleep, deploys the lab within 2 s of the start and removes it within 2 s of the end (nothing
# left); `ltb status` shows the end and the time left meanwhile; a second scheduler on the same
# state file is refused; SIGTERM stops it cleanly; `run --once` catches up a missed start (late
# deploy, then idempotent) and a passed end (removal at once); the scheduler and a user's `ltb up`
# of another lab at the same moment leave state consistent; `schedule install --root` writes units
# that systemd-analyze accepts, with the next event's OnCalendar kept in step.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing: apt-get install systemd"

prefix=ltbtest-sched
lab_a=$prefix-a     # the daemon's reservation
lab_b=$prefix-b     # the catch-up
lab_c=$prefix-c     # reserved, deploys while ...
lab_user=$prefix-up # ... a user deploys this one by hand
track_lab "$lab_a" "$lab_b" "$lab_c" "$lab_user"

# lab_file PATH NAME SUBNET: two busybox nodes and a link.
lab_file() {
  cat >"$1" <<EOF
name: $2
mgmt:
  ipv4-subnet: $3
topology:
  kinds:
    linux:
      image: $k_busybox
  nodes:
    n1: {kind: linux}
    n2: {kind: linux}
  links:
    - endpoints: ["n1:eth1", "n2:eth1"]
EOF
}
file="$IT_TMP/lab.yaml"
lab_file "$file" "$lab_a" 172.20.45.0/24
user_file="$IT_TMP/user.yaml"
lab_file "$user_file" "$lab_user" 172.20.145.0/24

iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# sleep_until SECONDS: until that unix time (fractions allowed via ms arithmetic).
sleep_until() {
  local left=$(($1 * 1000 - $(now_ms)))
  ((left <= 0)) || sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
}
# reserve FILE START DURATION [ARGS]: creates a reservation; its id in $rid.
reserve() {
  local f=$1 start=$2 dur=$3
  shift 3
  expect_rc 0 ltb reserve create "$f" --start "$(iso "$start")" --for "$dur" "$@"
  rid=$(sed -nE 's/^reservation ([0-9]+):.*/\1/p' "$IT_TMP/out" | head -1)
  [[ -n $rid ]] || fail "no reservation id in: $(cat "$IT_TMP/out")"
}
state_of() {
  ltb reserve list --all --format json | jq -r --argjson id "$1" '.[] | select(.id == $id) | .state'
}
lab_running() {
  local json
  json=$(ltb status "$1" --format json 2>/dev/null) || return 1
  [[ $(jq -r .status <<<"$json") == running ]] || return 1
  [[ $(jq '[.nodes[] | select(.state == "running")] | length' <<<"$json") -eq 2 ]]
}
lab_absent() { [[ -z $(lab_leftovers "$1") ]]; }
# Quick checks from outside (one docker call each), to time the scheduler to 0.1 s.
containers_up() {
  [[ $(docker ps -q --filter "label=ltb.lab=$1" --filter status=running | wc -l) -eq $2 ]]
}
nothing_in_docker() {
  [[ -z $(docker ps -aq --filter "label=ltb.lab=$1") &&
    -z $(docker network ls -q --filter "label=ltb.lab=$1") ]]
}
# wait_fast SECONDS CMD...: like wait_until, every 0.1 s.
wait_fast() {
  local deadline=$(($(now_ms) + $1 * 1000))
  shift
  until "$@" >/dev/null 2>&1; do
    (($(now_ms) < deadline)) || return 1
    sleep 0.1
  done
}
# logged_ms PATTERN: the time (unix ms) of the daemon's log line matching PATTERN.
logged_ms() {
  local line
  line=$(grep -E "$1" "$IT_TMP/daemon.log" | head -1)
  [[ -n $line ]] || return 1
  echo $(($(date -d "${line%% *}" +%s%N) / 1000000))
}

# start_daemon: `ltb schedule run` in the background, log in $IT_TMP/daemon.log, pid in $daemon.
start_daemon() {
  "$LTB" --state "$LTB_STATE" schedule run >>"$IT_TMP/daemon.log" 2>&1 &
  daemon=$!
  track_pid "$daemon"
  wait_until 10 grep -q "scheduler started .*pid $daemon" "$IT_TMP/daemon.log" ||
    fail "the scheduler did not start: $(cat "$IT_TMP/daemon.log")"
}
stop_daemon() {
  kill -TERM "$daemon"
  local rc=0
  wait "$daemon" || rc=$?
  ((rc == 0)) || fail "the scheduler exited $rc on SIGTERM: $(tail -5 "$IT_TMP/daemon.log")"
  tail -1 "$IT_TMP/daemon.log" | grep -q "scheduler stopped" ||
    fail "the scheduler did not say it stopped: $(tail -3 "$IT_TMP/daemon.log")"
}

# --- the daemon: sleeps, wakes on a new reservation, deploys and removes on time ---------------
log "daemon: a reservation made while it sleeps, 6 s ahead, lasting 10 s"
: >"$IT_TMP/daemon.log"
start_daemon
# Asleep means asleep: no CPU while nothing is due and nothing changes (no polling).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$daemon/stat"; }
ticks=$(cpu_ticks)
sleep 3
(($(cpu_ticks) - ticks <= 2)) || fail "the idle scheduler used $(($(cpu_ticks) - ticks)) CPU ticks in 3 s"
expect_rc 1 ltb schedule run
expect_output err "another scheduler \\(pid $daemon\\) already runs on state file"
expect_rc 1 ltb schedule run --once
expect_output err "another scheduler \\(pid $daemon\\)"
expect_rc 0 ltb schedule status --format json
[[ $(jq -r .scheduler.pid "$IT_TMP/out") == "$daemon" ]] ||
  fail "schedule status does not show the running scheduler: $(cat "$IT_TMP/out")"

start=$(($(date +%s) + 6))
end=$((start + 10))
reserve "$file" "$start" 10s
id_a=$rid
expect_rc 0 ltb schedule status
expect_output out "^scheduler: running \\(pid $daemon\\)"
expect_output out " $id_a +$lab_a +deploy$"
sleep_until $((start - 1))
[[ $(count_containers "$lab_a") -eq 0 ]] || fail "lab $lab_a was deployed before its start"
sleep_until "$start"
wait_fast 4 containers_up "$lab_a" 2 || fail "lab $lab_a has no 2 running containers 4 s after its start"
up_ms=$(now_ms)
wait_fast 4 logged_ms "reservation $id_a \\(lab $lab_a\\): deployed" || true
done_ms=$(logged_ms "reservation $id_a \\(lab $lab_a\\): deployed") ||
  fail "no deploy line in the scheduler's log: $(cat "$IT_TMP/daemon.log")"
log "lab $lab_a: containers seen $((up_ms - start * 1000)) ms, deploy done $((done_ms - start * 1000)) ms after its start"
((up_ms <= start * 1000 + 2000 && done_ms <= start * 1000 + 2000)) ||
  fail "lab $lab_a was deployed more than 2 s after its start"
assert_all_running "$lab_a"
[[ $(state_of "$id_a") == active ]] || fail "reservation $id_a is $(state_of "$id_a"), not active"

# ltb status: the end and the time left, in the table and in json.
expect_rc 0 ltb status
expect_output out "^$lab_a +running .* $(date -d "@$end" '+%Y-%m-%d %H:%M') \\(([0-9]+s) left\\)$"
expect_rc 0 ltb status --format json
jq -e --arg lab "$lab_a" --argjson id "$id_a" --arg e "$(iso "$end")" \
  '.labs[] | select(.name == $lab) | .reservation | .id == $id and .end == $e and
   .left_seconds > 0 and .left_seconds <= 10' "$IT_TMP/out" >/dev/null ||
  fail "ltb status json has no reservation end for $lab_a: $(cat "$IT_TMP/out")"
expect_rc 0 ltb status "$lab_a"
expect_output out "^reserved until .* left, reservation $id_a\\)"
expect_rc 0 ltb status "$lab_a" --format json
[[ $(jq -r .reservation.id "$IT_TMP/out") == "$id_a" ]] || fail "status $lab_a json: no reservation"

sleep_until "$end"
wait_fast 4 nothing_in_docker "$lab_a" || fail "lab $lab_a is still in docker 4 s after its end"
gone_ms=$(now_ms)
wait_fast 4 logged_ms "reservation $id_a \\(lab $lab_a\\): lab removed" || true
done_ms=$(logged_ms "reservation $id_a \\(lab $lab_a\\): lab removed") ||
  fail "no removal line in the scheduler's log: $(cat "$IT_TMP/daemon.log")"
log "lab $lab_a: gone from docker $((gone_ms - end * 1000)) ms, removal done $((done_ms - end * 1000)) ms after its end"
((gone_ms <= end * 1000 + 2000 && done_ms <= end * 1000 + 2000)) ||
  fail "lab $lab_a was removed more than 2 s after its end"
assert_lab_gone "$lab_a"
[[ $(state_of "$id_a") == ended ]] || fail "reservation $id_a is $(state_of "$id_a"), not ended"
# One log line per action.
[[ $(grep -c "reservation $id_a (lab $lab_a): deployed" "$IT_TMP/daemon.log") -eq 1 &&
  $(grep -c "reservation $id_a (lab $lab_a): lab removed" "$IT_TMP/daemon.log") -eq 1 &&
  $(grep -c "reservation $id_a " "$IT_TMP/daemon.log") -eq 2 ]] ||
  fail "expected one log line per action: $(cat "$IT_TMP/daemon.log")"
stop_daemon

# --- catch-up with --once -------------------------------------------------------------------
log "run --once after a missed start: deploys late, then changes nothing"
lab_file "$IT_TMP/b.yaml" "$lab_b" 172.20.45.0/24
start=$(($(date +%s) + 2))
reserve "$IT_TMP/b.yaml" "$start" 12s
id_b=$rid
end=$((start + 12))
sleep_until $((start + 3)) # nothing ran at the start
[[ $(count_containers "$lab_b") -eq 0 ]] || fail "lab $lab_b deployed with no scheduler running"
expect_rc 0 ltb schedule run --once
expect_output out "reservation $id_b \\(lab $lab_b\\): deployed; started [0-9.]+ s after its start time"
assert_all_running "$lab_b"
[[ $(state_of "$id_b") == active ]] || fail "reservation $id_b is $(state_of "$id_b") after catch-up"
ids_before=$(container_ids "$lab_b")
expect_rc 0 ltb schedule run --once
expect_output out "^nothing due; next event at "
[[ $(container_ids "$lab_b") == "$ids_before" ]] || fail "a second run --once changed lab $lab_b"
log "run --once after a passed end: removes at once"
sleep_until $((end + 2))
lab_running "$lab_b" || fail "lab $lab_b was removed with no scheduler running"
expect_rc 0 ltb schedule run --once
expect_output out "reservation $id_b \\(lab $lab_b\\): lab removed \\(its window ended\\)"
assert_lab_gone "$lab_b"
[[ $(state_of "$id_b") == ended ]] || fail "reservation $id_b is $(state_of "$id_b"), not ended"
expect_rc 0 ltb schedule run --once
expect_output out "^nothing due"

# --- the scheduler and a user's ltb up at the same moment ----------------------------------------
log "scheduler deploys $lab_c while a user runs ltb up $lab_user"
lab_file "$IT_TMP/c.yaml" "$lab_c" 172.20.45.0/24
start_daemon
start=$(($(date +%s) + 5))
reserve "$IT_TMP/c.yaml" "$start" 30s
id_c=$rid
sleep_until "$start"
expect_rc 0 ltb up "$user_file"
wait_until 10 lab_running "$lab_c" || fail "lab $lab_c was not deployed: $(tail -3 "$IT_TMP/daemon.log")"
assert_all_running "$lab_c"
assert_all_running "$lab_user"
expect_rc 0 ltb status --format json
[[ $(jq '[.labs[] | select(.name == "'"$lab_c"'" or .name == "'"$lab_user"'") |
  select(.status == "running" and .containers_running == 2)] | length' "$IT_TMP/out") -eq 2 ]] ||
  fail "state after the concurrent deploys: $(cat "$IT_TMP/out")"
[[ $(jq -r '.labs[] | select(.name == "'"$lab_user"'") | .reservation' "$IT_TMP/out") == null ]] ||
  fail "the user's lab shows a reservation"
[[ $(state_of "$id_c") == active ]] || fail "reservation $id_c is $(state_of "$id_c")"
# Deleting the active reservation removes its lab; the scheduler has nothing left to do for it,
# and the user's lab stays.
expect_rc 0 ltb reserve delete "$id_c" --yes
assert_lab_gone "$lab_c"
sleep 1
expect_rc 0 ltb schedule status --format json
[[ $(jq '[.events[] | select(.lab == "'"$lab_c"'")] | length' "$IT_TMP/out") -eq 0 ]] ||
  fail "events left for the deleted reservation: $(cat "$IT_TMP/out")"
assert_all_running "$lab_user"
grep -q "error" "$IT_TMP/daemon.log" && fail "the scheduler logged an error: $(cat "$IT_TMP/daemon.log")"
stop_daemon
expect_rc 0 ltb down "$user_file"
assert_lab_gone "$lab_user"

# --- install --------------------------------------------------------------------------------
log "schedule install --root: units that systemd-analyze accepts, the wake-up kept in step"
root="$IT_TMP/root"
expect_rc 0 ltb schedule install --root "$root"
units="$root/etc/systemd/system"
expect_output out "nothing was enabled"
for f in ltb-schedule.service ltb-schedule.timer; do
  [[ -f $units/$f ]] || fail "install did not write $units/$f"
done
grep -q "^ExecStart=$LTB --state $LTB_STATE schedule run --once$" "$units/ltb-schedule.service" ||
  fail "ExecStart is not this ltb and state file: $(grep ExecStart "$units/ltb-schedule.service")"
verify_units() {
  if ! systemd-analyze verify "$units/ltb-schedule.timer" "$units/ltb-schedule.service" \
    >"$IT_TMP/verify.out" 2>&1 || [[ -s $IT_TMP/verify.out ]]; then
    fail "systemd-analyze verify: $(cat "$IT_TMP/verify.out")"
  fi
}
verify_units
dropin="$units/ltb-schedule.timer.d/50-next-event.conf"
calendar_of() { sed -nE 's/^OnCalendar=(.+)$/\1/p' "$dropin"; }
[[ -z $(calendar_of) ]] || fail "a next event with no reservations: $(cat "$dropin")"
start=$(($(date +%s) + 3600))
reserve "$file" "$start" 1h --lab "$prefix-later"
id_later=$rid
# `ltb reserve create` brings the timer in step (schedule::refresh_wakeup).
want="$(date -u -d "@$start" '+%Y-%m-%d %H:%M:%S') UTC"
[[ $(calendar_of) == "$want" ]] ||
  fail "reserve create did not set the timer's OnCalendar to $want: $(cat "$dropin")"
expect_rc 0 ltb schedule run --once
[[ $(calendar_of) == "$want" ]] || fail "OnCalendar is not the next event $want: $(cat "$dropin")"
systemd-analyze calendar "$(calendar_of)" >"$IT_TMP/cal.out" 2>&1 ||
  fail "systemd-analyze calendar rejects $(calendar_of): $(cat "$IT_TMP/cal.out")"
grep -q "Normalized form: $want" "$IT_TMP/cal.out" || fail "calendar: $(cat "$IT_TMP/cal.out")"
verify_units
expect_rc 0 ltb schedule status
expect_output out "^timer: systemd timer $units/ltb-schedule.timer, not enabled .*wakes at $want"
# Cancelled: no event left; the drop-in drops OnCalendar (the safety wake-up stays).
expect_rc 0 ltb reserve delete "$id_later" --yes
expect_rc 0 ltb schedule run --once
[[ -z $(calendar_of) ]] || fail "OnCalendar left after the only reservation was cancelled"
verify_units

expect_rc 0 ltb schedule install --cron --root "$root"
grep -q "^\\* \\* \\* \\* \\* root '$LTB' --state '$LTB_STATE' --quiet schedule run --once$" \
  "$root/etc/cron.d/ltb-schedule" || fail "cron line: $(cat "$root/etc/cron.d/ltb-schedule")"
expect_rc 2 ltb schedule install --cron --systemd --root "$root"
