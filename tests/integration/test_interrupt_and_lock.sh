#!/usr/bin/env bash
# SIGINT during `ltb up` stops it cleanly (exit 130) and a second `ltb up` finishes the lab; two
# `ltb up` of one lab at once serialise on the lab's lock; `--wait 0` gives up at once when another
# ltb holds the lock.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"

lab=it-interrupt
track_lab "$lab"
file="$IT_TMP/lab.yaml"
{
  cat <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.235.0/24
topology:
  kinds:
    linux:
      image: $k_busybox
  nodes:
    sw: {kind: ovs-bridge}
EOF
  for i in $(seq 1 10); do
    printf '    n%d: {kind: linux}\n' "$i"
  done
  printf '  links:\n'
  for i in $(seq 1 9); do
    printf '    - endpoints: ["n%d:eth1", "n%d:eth2"]\n' "$i" $((i + 1))
  done
  printf '    - endpoints: ["n1:eth3", "sw:p1"]\n    - endpoints: ["n10:eth3", "sw:p2"]\n'
} >"$file"

assert_converged() {
  assert_all_running "$lab"
  [[ $(count_containers "$lab") -eq 10 ]] || fail "expected 10 containers, found $(count_containers "$lab")"
  local i ifaces=(n1:eth3 n10:eth3)
  for i in $(seq 1 9); do
    ifaces+=("n$i:eth1" "n$((i + 1)):eth2")
  done
  assert_ifaces "$lab" "${ifaces[@]}"
  expect_rc 0 ltb inspect "$lab" --format json
  local bad
  bad=$(jq -r '.links[] | select(.status != "up") | .name' "$IT_TMP/out" | paste -sd ' ')
  [[ -z $bad && $(jq '.links | length' "$IT_TMP/out") -eq 11 ]] ||
    fail "links not all up: $(jq -c '[.links[] | {name, status}]' "$IT_TMP/out")"
  expect_rc 0 ltb up "$file"
  expect_output out "up to date"
}

lab_has_containers() { [[ $(count_containers "$lab") -gt 0 ]]; }

# Starts `ltb up` in the background; its pid is in $bg_pid. Bash starts
# background jobs with SIGINT ignored; --default-signal gives ltb the disposition of a terminal.
start_up() {
  env --default-signal=INT "$LTB" --state "$LTB_STATE" up "$file" >"$IT_TMP/bg.out" 2>"$IT_TMP/bg.err" &
  bg_pid=$!
  track_pid "$bg_pid"
}

log "SIGINT while ltb up works"
interrupted=0
for delay in 0.3 0.1 0.0; do
  start_up
  wait_until 20 lab_has_containers || fail "ltb up made no container within 20 s"
  sleep "$delay"
  kill -INT "$bg_pid" 2>/dev/null || true
  rc=0
  wait "$bg_pid" || rc=$?
  if ((rc == 130)); then
    grep -q "interrupted" "$IT_TMP/bg.err" || fail "ltb up exited 130 without saying it was interrupted: $(cat "$IT_TMP/bg.err")"
    interrupted=1
    log "interrupted $delay s after the first container: $(grep "^ltb: interrupted" "$IT_TMP/bg.err")"
    break
  fi
  ((rc == 0)) || fail "ltb up exited $rc on SIGINT (expected 130, or 0 when it had finished): $(cat "$IT_TMP/bg.err")"
  log "ltb up finished before SIGINT at $delay s; again, earlier"
  expect_rc 0 ltb down "$file"
  assert_lab_gone "$lab"
done
((interrupted)) || fail "could not interrupt ltb up: it always finished first"
expect_rc 0 ltb status "$lab" --format json
expect_rc 0 ltb up "$file"
assert_converged

log "two ltb up of the same lab at once"
expect_rc 0 ltb down "$file"
assert_lab_gone "$lab"
"$LTB" --state "$LTB_STATE" up "$file" >"$IT_TMP/one.out" 2>&1 &
one=$!
"$LTB" --state "$LTB_STATE" up "$file" >"$IT_TMP/two.out" 2>&1 &
two=$!
track_pid "$one" "$two"
rc_one=0
rc_two=0
wait "$one" || rc_one=$?
wait "$two" || rc_two=$?
((rc_one == 0 && rc_two == 0)) ||
  fail "concurrent ltb up exited $rc_one and $rc_two: $(cat "$IT_TMP/one.out" "$IT_TMP/two.out")"
grep -h "lab $lab" "$IT_TMP/one.out" "$IT_TMP/two.out" | sed 's/^/  /' >&2
up_to_date=$(grep -l "up to date" "$IT_TMP/one.out" "$IT_TMP/two.out" | wc -l)
((up_to_date == 1)) || fail "expected one of the two ltb up to find the lab up to date, $up_to_date did"
assert_converged

log "--wait 0 while another ltb holds the lab's lock"
expect_rc 0 ltb down "$file"
assert_lab_gone "$lab"
checked=0
for _ in 1 2 3; do
  start_up
  wait_until 20 lab_has_containers || fail "ltb up made no container within 20 s"
  kill -0 "$bg_pid" 2>/dev/null || {
    log "ltb up finished before the check; again"
    wait "$bg_pid" || true
    expect_rc 0 ltb down "$file"
    continue
  }
  rc=0
  ltb --wait 0 up "$file" >"$IT_TMP/out" 2>"$IT_TMP/err" || rc=$?
  alive=0
  kill -0 "$bg_pid" 2>/dev/null && alive=1
  bg_rc=0
  wait "$bg_pid" || bg_rc=$?
  ((bg_rc == 0)) || fail "the background ltb up exited $bg_rc: $(cat "$IT_TMP/bg.err")"
  if ((rc == 1)); then
    grep -q "locked by another ltb process" "$IT_TMP/err" ||
      fail "--wait 0 exited 1 but does not say the lab is locked: $(cat "$IT_TMP/err")"
    grep -q "pid $bg_pid" "$IT_TMP/err" || log "note: the message does not name pid $bg_pid: $(cat "$IT_TMP/err")"
    checked=1
    break
  fi
  ((alive == 0)) || fail "ltb --wait 0 up exited $rc while another ltb up (pid $bg_pid) held the lab: $(cat "$IT_TMP/out" "$IT_TMP/err")"
  log "the background ltb up ended during the check; again"
  expect_rc 0 ltb down "$file"
done
((checked)) || fail "--wait 0 could never be checked: the background ltb up was always done first"
assert_converged

expect_rc 0 ltb down "$file"
assert_lab_gone "$lab"
