#!/usr/bin/env bash
# Crash tests of `ltb serve` handling requests: a user's `ltb up` and `ltb down` through the
# daemon, with the daemon's request killed at a seam point (LTB_FAULT_KILL in the daemon's
# environment reaches the command it forks for the request), or the daemon itself killed with
# SIGKILL at a random instant of the request. Then, with a daemon started again, the user's
# `ltb up` must converge (every node runs, a second up has nothing to do) and `ltb down` must
# leave nothing on the machine.
#
#   tests/fault/serve.sh [--points N] [--seed S]
#
# `make fault` runs 50 points; CI runs 6 (test_fault_serve.sh).
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../integration/serve_lib.sh"

points=6
seed=1
while (($#)); do
  case $1 in
  --points) points=$2 && shift 2 ;;
  --seed) seed=$2 && shift 2 ;;
  *) fail "unknown argument $1 (see the header of $0)" ;;
  esac
done
require_services "$k_busybox"

lab=fs-lab
lab_id=${SERVE_USER}__$lab # the user's lab, as root knows it
track_lab "$lab_id"
serve_setup

cat >"$SERVE_HOME/lab.yaml" <<YAML
name: $lab
mgmt:
  ipv4-subnet: 172.20.56.0/24
topology:
  nodes:
    c1: {kind: linux, image: $k_busybox, exec: ["ip addr add 10.56.0.1/24 dev eth1"]}
    c2: {kind: linux, image: $k_busybox, exec: ["ip addr add 10.56.0.2/24 dev eth1"]}
    sw: {kind: ovs-bridge}
  links:
    - endpoints: ["c1:eth1", "c2:eth1"]
    - endpoints: ["c1:eth2", "sw:p1"]
YAML
chown "$SERVE_USER" "$SERVE_HOME/lab.yaml"

# serve_restart [ENV...]: a new daemon (the old one ended by its pid), with ENV in its environment.
serve_restart() {
  if [[ -n $SERVE_PID ]] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  # shellcheck disable=SC2034 # serve_lib reads SERVE_PID
  env "$@" "$LTB" --state "$LTB_STATE" --socket "$SERVE_SOCK" serve --group "$SERVE_GROUP" \
    2>>"$IT_TMP/serve.log" &
  SERVE_PID=$!
  track_pid "$SERVE_PID"
  wait_until 20 raw_request GET /v1/version >/dev/null ||
    fail "ltb serve did not answer on $SERVE_SOCK: $(tail -5 "$IT_TMP/serve.log")"
}

assert_converged() {
  local json bad
  json=$(ultb status "$lab" --format json) || fail "the user's ltb status fails after convergence"
  bad=$(jq -r '.nodes[] | select(.state != "running") | "\(.name)=\(.state)"' <<<"$json")
  [[ -z $bad ]] || fail "nodes not running after convergence: $bad"
  [[ $(docker ps -q --filter "label=ltb.lab=$lab_id" | wc -l) -eq 2 ]] ||
    fail "2 containers should run for $lab_id: $(docker ps -a --filter "label=ltb.lab=$lab_id" --format '{{.Names}} {{.State}}' | tr '\n' ';')"
  ultb up lab.yaml >"$IT_TMP/again.out" 2>&1 || fail "a second ltb up fails: $(tail -3 "$IT_TMP/again.out")"
  grep -q "is up to date: nothing to do" "$IT_TMP/again.out" ||
    fail "a second ltb up was not a no-op: $(tail -5 "$IT_TMP/again.out" | tr '\n' ';')"
}

# Counts the points of a request of each operation, from a traced daemon.
declare -A count=()
trace="$IT_TMP/trace"
chmod 0711 "$IT_TMP"
for op in up down; do
  : >"$trace"
  if [[ $op == down ]]; then
    serve_restart
    ultb up lab.yaml >/dev/null 2>&1 || fail "the user's ltb up fails"
  fi
  serve_restart LTB_FAULT_TRACE="$trace"
  ultb "$op" lab.yaml >"$IT_TMP/op.out" 2>&1 || fail "the user's ltb $op fails unkilled: $(tail -5 "$IT_TMP/op.out")"
  count[$op]=$(grep -c . "$trace")
  cp "$trace" "$IT_TMP/trace.$op"
  ((count[$op] > 0)) || fail "the daemon's ltb $op reached no fault point: does LTB_FAULT_TRACE reach the request's command?"
  if [[ $op == up ]]; then
    serve_restart
    ultb down lab.yaml >/dev/null 2>&1 || fail "the user's ltb down fails"
  fi
  log "$op through the daemon: ${count[$op]} points"
done
assert_lab_gone "$lab_id"

RANDOM=$seed
survived=0
for ((i = 1; i <= points; ++i)); do
  op=$([[ $((RANDOM % 2)) == 0 ]] && echo up || echo down)
  serve_restart
  if [[ $op == down ]]; then
    ultb up lab.yaml >/dev/null 2>&1 || fail "the user's ltb up before the point fails"
  fi
  if ((i % 3 == 0)); then
    # The daemon itself, SIGKILLed while it serves the request.
    delay=$((RANDOM % 3000))
    ultb "$op" lab.yaml >"$IT_TMP/op.out" 2>&1 &
    client=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -9 "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
    timeout 60 tail --pid="$client" -f /dev/null || fail "the client did not end within 60 s of the daemon's death"
    wait "$client" 2>/dev/null || true
    point="daemon killed after ${delay} ms"
  else
    n=$((RANDOM % count[$op] + 1))
    site=$(sed -n "${n}p" "$IT_TMP/trace.$op" 2>/dev/null || true)
    serve_restart LTB_FAULT_KILL="any:$n"
    rc=0
    ultb "$op" lab.yaml >"$IT_TMP/op.out" 2>&1 || rc=$?
    point="request killed at point $n${site:+ ($site)} (client exit $rc)"
  fi
  serve_restart
  # The client must not leave a lock behind: the next commands wait at most --wait.
  ultb --wait 30 up lab.yaml >"$IT_TMP/conv.out" 2>&1 ||
    fail "[$op, $point, seed $seed] ltb up through the daemon does not converge: $(tail -6 "$IT_TMP/conv.out" | tr '\n' ';')"
  assert_converged
  ultb --wait 30 down lab.yaml >"$IT_TMP/down.out" 2>&1 ||
    fail "[$op, $point, seed $seed] ltb down through the daemon fails: $(tail -5 "$IT_TMP/down.out" | tr '\n' ';')"
  assert_lab_gone "$lab_id"
  [[ -e $(dirname "$LTB_STATE")/labs/$lab_id ]] && fail "the lab directory of $lab_id is left"
  survived=$((survived + 1))
  log "point $i/$points: $op, $point: survived"
done
log "serve fault points survived: $survived/$points (seed $seed)"
