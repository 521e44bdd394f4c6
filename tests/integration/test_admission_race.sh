#!/usr/bin/env bash
# Two unreserved `ltb up` of different labs started at the same instant, which together would
# leave an admitted reservation short: exactly one is admitted and deploys, the other is refused
# with the usual proposal and creates nothing, in every round. (Admission and the lab's claim are
# one step under the host-wide admission lock.)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"

prefix=ltbtest-race
rounds=5

# lab_file PATH NAME NODES: a lab of NODES busybox nodes (no links).
lab_file() {
  local path=$1 name=$2 nodes=$3 i
  {
    printf 'name: %s\ntopology:\n  kinds:\n    linux:\n      image: %s\n  nodes:\n' "$name" "$k_busybox"
    for ((i = 1; i <= nodes; i++)); do
      printf '    n%d:\n      kind: linux\n' "$i"
    done
  } >"$path"
}

# 3 vCPU, 1 per container node. A 2 vCPU reservation from +2h leaves room for one 1-node lab
# running open-ended beside it, not for two.
expect_rc 0 ltb config set cpus 3
expect_rc 0 ltb config set cpu-overcommit 1
expect_rc 0 ltb config set memory 4GiB
expect_rc 0 ltb config set disk 10GB
expect_rc 0 ltb config set container-cpus 1
lab_file "$IT_TMP/booked.yaml" "$prefix-booked" 2
expect_rc 0 ltb reserve create "$IT_TMP/booked.yaml" --start +2h --for 1h
id=$(sed -E 's/^reservation ([0-9]+):.*/\1/' "$IT_TMP/out")

lab_file "$IT_TMP/a.yaml" "$prefix-a" 1
lab_file "$IT_TMP/b.yaml" "$prefix-b" 1
track_lab "$prefix-a" "$prefix-b"
# Each alone fits.
expect_rc 0 ltb up "$IT_TMP/a.yaml" --dry-run
expect_rc 0 ltb up "$IT_TMP/b.yaml" --dry-run

for ((round = 1; round <= rounds; round++)); do
  go="$IT_TMP/go.$round"
  # Both wait for the same file, then exec ltb: they start within a few milliseconds.
  for lab in a b; do
    bash -c 'while [[ ! -e $1 ]]; do :; done; shift; exec "$@"' _ "$go" \
      "$LTB" --state "$LTB_STATE" up "$IT_TMP/$lab.yaml" >"$IT_TMP/$lab.out" 2>"$IT_TMP/$lab.err" &
    eval "pid_$lab=$!"
    track_pid "$!"
  done
  touch "$go"
  rc_a=0 rc_b=0
  wait "$pid_a" || rc_a=$?
  wait "$pid_b" || rc_b=$?
  log "round $round: ltb up a exited $rc_a, ltb up b exited $rc_b"
  if ((rc_a == 0 && rc_b == 1)); then
    admitted=a refused=b
  elif ((rc_a == 1 && rc_b == 0)); then
    admitted=b refused=a
  else
    fail "round $round: expected one ltb up admitted and one refused, got exit $rc_a (a: $(cat "$IT_TMP/a.err")) and $rc_b (b: $(cat "$IT_TMP/b.err"))"
  fi
  grep -Eq "^lab $prefix-$admitted is up: 1 node" "$IT_TMP/$admitted.out" ||
    fail "round $round: lab $admitted did not say it is up: $(cat "$IT_TMP/$admitted.out" "$IT_TMP/$admitted.err")"
  grep -Eq "^ltb: error: lab $prefix-$refused cannot start without a reservation: it would leave reservation $id \\(lab $prefix-booked, from .*\\) short$" "$IT_TMP/$refused.err" ||
    fail "round $round: lab $refused was not refused with the usual message: $(cat "$IT_TMP/$refused.err")"
  grep -Eq '^help: deploy it until the reservation starts: --until ' "$IT_TMP/$refused.err" ||
    fail "round $round: the refusal of lab $refused proposes no --until: $(cat "$IT_TMP/$refused.err")"
  assert_all_running "$prefix-$admitted"
  [[ $(count_containers "$prefix-$refused") == 0 ]] || fail "round $round: the refused lab $refused has containers"
  lab_in_status "$prefix-$refused" && fail "round $round: the refused lab $refused is recorded"
  expect_rc 0 ltb down --lab "$prefix-$admitted"
  assert_lab_gone "$prefix-$admitted"
done

log "all admission race checks passed"
