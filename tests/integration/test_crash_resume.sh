#!/usr/bin/env bash
# `ltb up` killed with SIGKILL halfway: a second `ltb up` converges and `ltb down` removes all;
# `ltb down --lab` also works with the topology file deleted, and with the state file deleted
# (then it finds the lab's objects by their labels and names only).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"

lab=it-crash
track_lab "$lab"
file="$IT_TMP/lab.yaml"

write_topology() {
  cat >"$file" <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.234.0/24
topology:
  kinds:
    linux:
      image: $k_busybox
  nodes:
    n1: {kind: linux}
    n2: {kind: linux}
    n3: {kind: linux}
    n4: {kind: linux}
    n5: {kind: linux}
    n6:
      kind: linux
      exec:
        - ip addr add 10.234.0.6/24 dev eth2
    sw: {kind: ovs-bridge}
  links:
    - endpoints: ["n1:eth1", "n2:eth1"]
    - endpoints: ["n2:eth2", "n3:eth1"]
    - endpoints: ["n3:eth2", "n4:eth1"]
    - endpoints: ["n4:eth2", "n5:eth1"]
    - endpoints: ["n5:eth2", "n6:eth1"]
    - endpoints: ["n1:eth2", "sw:p1"]
    - endpoints: ["n4:eth3", "sw:p2"]
    - endpoints: ["n6:eth2", "sw:p3"]
EOF
}
readonly k_ifaces="n1:eth1 n1:eth2 n2:eth1 n2:eth2 n3:eth1 n3:eth2 n4:eth1 n4:eth2 n4:eth3 n5:eth1 n5:eth2 n6:eth1 n6:eth2"

lab_has_containers() { [[ $(count_containers "$lab") -gt 0 ]]; }

# up_and_kill DELAY [first-container]: starts `ltb up` in the background and kills it with SIGKILL
# DELAY seconds later (counted from its first container with first-container).
up_and_kill() {
  local delay=$1 from=${2:-start} pid rc=0
  "$LTB" --state "$LTB_STATE" up "$file" >"$IT_TMP/bg.out" 2>&1 &
  pid=$!
  track_pid "$pid"
  if [[ $from == first-container ]]; then
    wait_until 30 lab_has_containers || fail "ltb up made no container within 30 s"
  fi
  sleep "$delay"
  if kill -0 "$pid" 2>/dev/null; then
    kill_and_reap "$pid" || rc=$?
    log "killed ltb up ${delay}s after its $from (exit $rc); $(count_containers "$lab") containers exist"
  else
    wait "$pid" 2>/dev/null || rc=$?
    log "ltb up finished (exit $rc) before the kill ${delay}s after its $from"
  fi
  # Requests already sent to dockerd complete without their client; let them land.
  sleep 1
}

assert_converged() {
  assert_all_running "$lab"
  # shellcheck disable=SC2086 # a list of NODE:IFACE words
  assert_ifaces "$lab" $k_ifaces
  local ports
  ports=$(ovs-vsctl --bare --columns=name find Port "external_ids:ltb-lab=$lab" | sed '/^$/d' | wc -l)
  [[ $ports -eq 3 ]] || fail "lab $lab has $ports OVS ports, expected 3"
  expect_rc 0 ltb inspect "$lab" --format json
  local down
  down=$(jq -r '.links[] | select(.status != "up") | "\(.name)=\(.status)"' "$IT_TMP/out")
  [[ -z $down ]] || fail "links not up after convergence: $down"
  [[ $(jq '.links | length' "$IT_TMP/out") -eq 8 ]] || fail "inspect does not list 8 links"
  # n6's exec ran (known bug: not when the kill fell between n6's creation and its exec).
  cexec "$lab" n6 ip -o addr show eth2 | grep -q 10.234.0.6/24 ||
    check_later "n6's exec did not run after a kill -9 and a resumed ltb up"
  cexec "$lab" n1 ip addr add 10.234.0.1/24 dev eth2
  cexec "$lab" n4 ip addr add 10.234.0.4/24 dev eth3
  retry 3 cexec "$lab" n1 ping -c 2 -W 2 10.234.0.4 >/dev/null || fail "n1 cannot ping n4 across sw"
  expect_rc 0 ltb up "$file"
  expect_output out "up to date"
}

write_topology

log "kill -9 while the first bridge is made (fresh state: Open vSwitch datapath probe), then ltb up converges"
lab_has_bridge() { [[ -n $(ovs-vsctl --bare --columns=name find Bridge "external_ids:ltb-lab=$lab") ]]; }
# Kill ltb and its children (ovs-vsctl) as soon as the bridge is in the Open vSwitch database:
# with no datapath recorded in the state, ltb tries the kernel one first and falls back to netdev,
# and this aims at that moment. Up to 3 tries to land in it (on a host with a kernel datapath the
# first bridge is simply right).
for attempt in 1 2 3; do
  rm -f "$LTB_STATE" "$LTB_STATE-wal" "$LTB_STATE-shm" "$LTB_STATE-journal"
  setsid "$LTB" --state "$LTB_STATE" up "$file" >"$IT_TMP/bg.out" 2>&1 &
  pid=$!
  track_pid "$pid"
  deadline=$(($(date +%s) + 20))
  until lab_has_bridge; do
    (($(date +%s) < deadline)) || fail "ltb up made no bridge within 20 s"
  done
  kill -9 -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  sleep 1
  datapath=$(ovs-vsctl --bare --columns=datapath_type find Bridge "external_ids:ltb-lab=$lab" | sed '/^$/d')
  log "attempt $attempt: killed while the bridge's datapath was '${datapath:-(bridge gone)}'"
  [[ $datapath == system || $attempt == 3 ]] && break
  expect_rc 0 ltb down --lab "$lab"
  assert_lab_gone "$lab"
done
rc=0
ltb up "$file" >"$IT_TMP/out" 2>"$IT_TMP/err" || rc=$?
if ((rc == 0)); then
  assert_converged
else
  check_later "ltb killed during the first bridge's creation (datapath probe): the next ltb up exits $rc: $(grep 'error:' "$IT_TMP/err" | head -1)"
  # Still failing the same way on a second try?
  ltb up "$file" >"$IT_TMP/out" 2>"$IT_TMP/err" || check_later "... and a second ltb up exits $? as well"
fi
expect_rc 0 ltb down "$file"
assert_lab_gone "$lab"
# A complete up records the datapath, so that the kills below do not land in the probe again.
expect_rc 0 ltb up "$file"
expect_rc 0 ltb down "$file"
assert_lab_gone "$lab"

for delay in 0.3 0.8; do
  log "kill -9 after ${delay}s, then ltb up converges"
  up_and_kill "$delay"
  expect_rc 0 ltb up "$file"
  assert_converged
  expect_rc 0 ltb down "$file"
  assert_lab_gone "$lab"
done

log "kill -9 while a node's exec runs: the resumed ltb up runs the rest of it"
cat >"$IT_TMP/exec.yaml" <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.234.0/24
topology:
  nodes:
    e1:
      kind: linux
      image: $k_busybox
      exec:
        - touch /tmp/exec-started; sleep 3
        - touch /tmp/exec-done
EOF
"$LTB" --state "$LTB_STATE" up "$IT_TMP/exec.yaml" >"$IT_TMP/bg.out" 2>&1 &
pid=$!
track_pid "$pid"
wait_until 30 cexec "$lab" e1 test -e /tmp/exec-started || fail "e1's first exec command never started"
kill_and_reap "$pid" || true
sleep 3.5 # the exec'd sleep runs on in the container without its client; let it end
cexec "$lab" e1 test -e /tmp/exec-done && fail "e1's second exec command ran though ltb was killed before it"
expect_rc 0 ltb up "$IT_TMP/exec.yaml"
cexec "$lab" e1 test -e /tmp/exec-done ||
  check_later "ltb killed during e1's exec: the resumed ltb up did not run e1's remaining exec commands (it printed: $(tr '\n' ' ' <"$IT_TMP/out"))"
expect_rc 0 ltb down --lab "$lab"
assert_lab_gone "$lab"

log "kill -9, topology file deleted: ltb down --lab still removes the lab"
up_and_kill 0.6
rm -f "$file"
expect_rc 0 ltb down --lab "$lab"
assert_lab_gone "$lab"

log "kill -9, state file deleted: ltb down --lab finds the lab by labels and names"
write_topology
for delay in 0 0.5; do
  up_and_kill "$delay" first-container
  left=$(lab_leftovers "$lab")
  [[ -n $left ]] || fail "nothing of the lab was made before the kill at ${delay}s; the case tests nothing"
  rm -f "$LTB_STATE" "$LTB_STATE-wal" "$LTB_STATE-shm" "$LTB_STATE-journal"
  expect_rc 0 ltb down --lab "$lab"
  assert_lab_gone "$lab"
done

log "state file deleted after a complete up"
expect_rc 0 ltb up "$file"
assert_all_running "$lab"
rm -f "$LTB_STATE" "$LTB_STATE-wal" "$LTB_STATE-shm" "$LTB_STATE-journal"
expect_rc 0 ltb down --lab "$lab"
assert_lab_gone "$lab"
