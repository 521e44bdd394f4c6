#!/usr/bin/env bash
# Concurrency: 10 ltb processes at once on one state file, on different labs and on the same lab
# (up, down, stop, start, status, inspect, reserve, snapshot, schedule), for a number of rounds.
# Each round checks: every command ends within its --wait (a hang is a failure), a command that
# waited too long names whom it waited for, none crashed, the state file passes
# PRAGMA integrity_check, and what ltb records matches what runs (a recorded lab's containers run
# or are stopped as recorded; a lab it does not list has nothing on this machine).
#
#   tests/fault/concurrency.sh [--rounds N] [--seed S]
#
# `make fault` runs 100 rounds; CI runs 3 (test_fault_concurrency.sh).
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

rounds=3
seed=1
while (($#)); do
  case $1 in
  --rounds) rounds=$2 && shift 2 ;;
  --seed) seed=$2 && shift 2 ;;
  *) fail "unknown argument $1 (see the header of $0)" ;;
  esac
done
require_services "$k_busybox"
command -v python3 >/dev/null || fail "python3 is missing (apt-get install python3)"

readonly k_wait=60 k_procs=10
labs=(fc-a fc-b fc-c)
declare -A file_of=()
i=0
for lab in "${labs[@]}"; do
  track_lab "$lab"
  file_of[$lab]="$IT_TMP/$lab.yaml"
  cat >"${file_of[$lab]}" <<YAML
name: $lab
mgmt:
  ipv4-subnet: 172.20.$((57 + i)).0/24
topology:
  nodes:
    c1: {kind: linux, image: $k_busybox}
    c2: {kind: linux, image: $k_busybox}
    sw: {kind: ovs-bridge}
  links:
    - endpoints: ["c1:eth1", "c2:eth1"]
    - endpoints: ["c1:eth2", "sw:p1"]
YAML
  i=$((i + 1))
done
on_cleanup "docker images --format '{{.Repository}}:{{.Tag}}' ltb-snapshot | { grep -E ':fc-[abc]\\.' || true; } | xargs -r docker rmi -f"

integrity() {
  python3 - "$LTB_STATE" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(db.execute("PRAGMA integrity_check").fetchone()[0])
PY
}

# One random command line for a process of the round.
random_command() {
  local lab=${labs[RANDOM % ${#labs[@]}]}
  case $((RANDOM % 12)) in
  0 | 1 | 2) echo "up ${file_of[$lab]}" ;;
  3) echo "down --lab $lab" ;;
  4) echo "stop $lab --timeout 2" ;;
  5) echo "start $lab" ;;
  6) echo "status --format json" ;;
  7) echo "inspect $lab --format json" ;;
  8) echo "reserve create ${file_of[$lab]} --start $(date -u -d '+1 hour' +%FT%TZ) --for 10m" ;;
  9) echo "snapshot create $lab s$((RANDOM % 3))" ;;
  10) echo "schedule run --once" ;;
  11) echo "reserve list --all --format json" ;;
  esac
}

# Brings every lab down, removes snapshots and reservations: the next round starts from nothing.
reset_all() {
  local lab id name
  for lab in "${labs[@]}"; do
    ltb --wait "$k_wait" down --lab "$lab" >"$IT_TMP/reset.out" 2>&1 ||
      fail "ltb down --lab $lab fails after the round: $(tail -5 "$IT_TMP/reset.out" | tr '\n' ';')"
    assert_lab_gone "$lab"
    for name in $(ltb snapshot list "$lab" --format json | jq -r '.snapshots[].name'); do
      ltb snapshot rm "$lab" "$name" >"$IT_TMP/reset.out" 2>&1 ||
        fail "ltb snapshot rm $lab $name fails: $(tail -3 "$IT_TMP/reset.out" | tr '\n' ';')"
    done
  done
  for id in $(ltb reserve list --all --format json | jq -r '.[].id'); do
    ltb reserve delete "$id" --yes >"$IT_TMP/reset.out" 2>&1 ||
      fail "ltb reserve delete $id fails: $(tail -3 "$IT_TMP/reset.out" | tr '\n' ';')"
  done
}

# What ltb records matches what runs.
assert_consistent() {
  local lab json bad recorded containers running
  json=$(ltb status --format json) || fail "ltb status fails after the round"
  for lab in "${labs[@]}"; do
    if jq -e --arg lab "$lab" '.labs | any(.name == $lab)' <<<"$json" >/dev/null; then
      recorded=$(ltb status "$lab" --format json) || fail "ltb status $lab fails after the round"
      bad=$(jq -r '.nodes[] | select(.state != "running" and .state != "stopped") | "\(.name)=\(.state)"' <<<"$recorded")
      if [[ -n $bad ]]; then
        # A command that failed (or waited too long) may leave work for the next up: it must
        # converge, and then nothing may be off.
        ltb --wait "$k_wait" up "${file_of[$lab]}" >"$IT_TMP/conv.out" 2>&1 ||
          fail "lab $lab has nodes off record ($bad) and ltb up does not converge: $(tail -5 "$IT_TMP/conv.out" | tr '\n' ';')"
        recorded=$(ltb status "$lab" --format json)
        bad=$(jq -r '.nodes[] | select(.state != "running" and .state != "stopped") | "\(.name)=\(.state)"' <<<"$recorded")
        [[ -z $bad ]] || fail "lab $lab: nodes neither running nor stopped after ltb up: $bad"
      fi
      containers=$(jq '[.nodes[] | select(.kind != "ovs-bridge")] | length' <<<"$recorded")
      running=$(jq '[.nodes[] | select(.kind != "ovs-bridge" and .state == "running")] | length' <<<"$recorded")
      [[ $(count_containers "$lab") -eq $containers ]] ||
        fail "lab $lab records $containers containers, docker has $(count_containers "$lab")"
      [[ $(docker ps -q --filter "label=ltb.lab=$lab" | wc -l) -eq $running ]] ||
        fail "lab $lab records $running running containers, docker runs $(docker ps -q --filter "label=ltb.lab=$lab" | wc -l)"
    else
      local left
      left=$(lab_leftovers "$lab")
      [[ -z $left ]] || fail "lab $lab is not recorded, but this is left of it: $(tr '\n' ';' <<<"$left")"
    fi
  done
}

RANDOM=$seed
total_cmds=0 total_ok=0 total_refused=0
start=$(date +%s)
for ((round = 1; round <= rounds; ++round)); do
  # Two of the three labs are up when the round starts, so that down, stop, inspect and
  # snapshot find something to act on.
  for lab in fc-a fc-b; do
    ltb --wait "$k_wait" up "${file_of[$lab]}" >"$IT_TMP/pre.$lab.out" 2>&1 &
  done
  wait || true
  for lab in fc-a fc-b; do
    lab_in_status "$lab" || fail "round $round: ltb up $lab before the round failed: $(tail -5 "$IT_TMP/pre.$lab.out" | tr '\n' ';')"
  done
  pids=()
  cmds=()
  codes=()
  for ((p = 0; p < k_procs; ++p)); do
    cmds+=("$(random_command)")
  done
  for ((p = 0; p < k_procs; ++p)); do
    # shellcheck disable=SC2086 # the command line is words
    timeout $((k_wait + 90)) "$LTB" --state "$LTB_STATE" --wait "$k_wait" ${cmds[p]} \
      >"$IT_TMP/p$p.out" 2>"$IT_TMP/p$p.err" </dev/null &
    pids+=($!)
  done
  for ((p = 0; p < k_procs; ++p)); do
    rc=0
    wait "${pids[p]}" || rc=$?
    codes+=("${cmds[p]//$IT_TMP\//} -> $rc")
    total_cmds=$((total_cmds + 1))
    err=$(tail -4 "$IT_TMP/p$p.err" | tr '\n' ';')
    if ((rc == 124)); then
      fail "round $round (seed $seed): 'ltb --wait $k_wait ${cmds[p]}' did not end within $((k_wait + 90)) s"
    elif ((rc >= 128)); then
      fail "round $round (seed $seed): 'ltb ${cmds[p]}' died with signal $((rc - 128)): $err"
    elif ((rc == 0)); then
      total_ok=$((total_ok + 1))
    else
      total_refused=$((total_refused + 1))
      # A refusal is a clear error; a wait that ran out names the holder.
      grep -q "error:" "$IT_TMP/p$p.err" ||
        fail "round $round: 'ltb ${cmds[p]}' exited $rc without an error line: $err"
      if grep -Eiq "busy|wait|lock" "$IT_TMP/p$p.err"; then
        grep -Eq "pid [0-9]+|ltb (up|down|stop|start|snapshot|schedule)" "$IT_TMP/p$p.err" ||
          fail "round $round: 'ltb ${cmds[p]}' waited and does not say for whom: $err"
      fi
      grep -Eq "terminate called|Segmentation|Assertion|database disk image is malformed" "$IT_TMP/p$p.err" &&
        fail "round $round: 'ltb ${cmds[p]}': $err"
    fi
  done
  [[ $(integrity) == ok ]] || fail "round $round (seed $seed): the state file fails integrity_check: $(integrity)"
  assert_consistent
  reset_all
  log "round $round/$rounds: $(printf '%s; ' "${codes[@]}")"
done
log "concurrency: $rounds rounds of $k_procs processes survived ($total_ok commands succeeded, $total_refused refused with a clear error; seed $seed) in $(($(date +%s) - start)) s"
