#!/usr/bin/env bash
# `ltb down` killed with SIGKILL at many points, then `ltb up` (issue 9): the first `up` must
# converge - exit 0 with every node running, in `ltb status` and in Docker - although the killed
# run left the lab recorded as removing, nodes half removed and Docker still removing containers
# (no pause after the kill: requests already sent to dockerd are meant to race the next `up`).
# Finally `ltb down` leaves nothing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"

# write_chain FILE LAB SUBNET N: N busybox nodes in a chain of point-to-point links.
write_chain() {
  local file=$1 lab=$2 subnet=$3 n=$4 i
  {
    printf 'name: %s\nmgmt:\n  ipv4-subnet: %s\ntopology:\n' "$lab" "$subnet"
    printf '  kinds:\n    linux:\n      image: %s\n  nodes:\n' "$k_busybox"
    for ((i = 1; i <= n; i++)); do
      printf '    n%d: {kind: linux}\n' "$i"
    done
    printf '  links:\n'
    for ((i = 1; i < n; i++)); do
      printf '    - endpoints: ["n%d:eth2", "n%d:eth1"]\n' "$i" "$((i + 1))"
    done
  } >"$file"
}

# round LAB FILE N DELAY: a converged lab, `ltb down` killed DELAY s after it started, then one
# `ltb up` that must converge.
round() {
  local lab=$1 file=$2 n=$3 delay=$4 pid rc=0
  expect_rc 0 ltb up "$file"
  "$LTB" --state "$LTB_STATE" down --lab "$lab" >"$IT_TMP/bg.out" 2>&1 &
  pid=$!
  track_pid "$pid"
  sleep "$delay"
  if kill -0 "$pid" 2>/dev/null; then
    kill_and_reap "$pid" || rc=$?
    log "$lab: killed ltb down ${delay}s after it started (exit $rc); $(count_containers "$lab") containers left"
  else
    wait "$pid" 2>/dev/null || rc=$?
    log "$lab: ltb down finished (exit $rc) before the kill at ${delay}s"
  fi
  ltb up "$file" >"$IT_TMP/up.out" 2>&1 ||
    fail "$lab: the first ltb up after ltb down was killed at ${delay}s failed: $(tr '\n' ';' <"$IT_TMP/up.out")"
  local status
  status=$(ltb status "$lab" --format json) || fail "$lab: ltb status failed"
  [[ $(jq -r .status <<<"$status") == running ]] ||
    fail "$lab: after the kill at ${delay}s and ltb up, the lab is $(jq -r .status <<<"$status"): $(tr '\n' ';' <"$IT_TMP/up.out")"
  [[ $(jq '.nodes | length' <<<"$status") -eq $n ]] ||
    fail "$lab: ltb status lists $(jq '.nodes | length' <<<"$status") nodes, expected $n"
  assert_all_running "$lab"
  local running
  running=$(docker ps -q --filter "label=ltb.lab=$lab" --filter status=running | wc -l)
  [[ $running -eq $n ]] || fail "$lab: docker runs $running of the lab's $n containers after the kill at ${delay}s"
}

small=it-killdown3
big=it-killdown8
track_lab "$small" "$big"
write_chain "$IT_TMP/small.yaml" "$small" 172.20.236.0/24 3
write_chain "$IT_TMP/big.yaml" "$big" 172.20.237.0/24 8

for delay in 0.05 0.1 0.2 0.3 0.45 0.6; do
  round "$small" "$IT_TMP/small.yaml" 3 "$delay"
done
for delay in 0.1 0.25 0.4 0.5 0.6 0.7; do
  round "$big" "$IT_TMP/big.yaml" 8 "$delay"
done

for lab in "$small" "$big"; do
  expect_rc 0 ltb down --lab "$lab"
  assert_lab_gone "$lab"
done
log "passed"
