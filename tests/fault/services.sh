#!/usr/bin/env bash
# Services that go away: dockerd, Open vSwitch (both daemons, or ovs-vswitchd alone) and libvirtd
# each stopped, or restarted, in the middle of `ltb up`, in the middle of `ltb down`, and under a
# running lab; then a simulated host reboot.
#
#   tests/fault/services.sh [--cases a,b,...] [--list]
#
# A case is SERVICE-WHEN-HOW: SERVICE docker, ovs, vswitchd or libvirt; WHEN up, down or running;
# HOW stop or restart. `reboot` is the host reboot. The default is every case; CI runs a subset
# (test_fault_services.sh).
#
# In the middle of an operation means at a seam point (util/fault.hpp): LTB_FAULT_STOP=action:N
# stops ltb with SIGSTOP after its Nth action, the test stops (or restarts) the service, then
# lets ltb go on with SIGCONT. Stop cases pause after the plan, before the first action (at the
# first state commit), so that all the work on the service is still to come; restart cases after
# half of the operation's actions.
#
# What each case checks:
# - an operation that fails while the service is stopped says so in an error that names the
#   service, with a help line that says what to do; one that fails across a restart has an error
#   and a help line (it may be about what the restart did: a container it stopped);
# - nothing false is recorded: once the service is back after an `up` or under a running lab,
#   every object the state records as made of that service (containers, networks; bridges,
#   ports; domains) exists; a lab whose `down` failed is still listed;
# - with the service back, `ltb up` converges (every node runs, every link is up, a second `up`
#   has nothing to do) and `ltb down` leaves nothing.
# The reboot: two labs up; every lab process and device gone (domains destroyed, containers
# stopped with dockerd, the lab's DHCP server and relays killed, its host interfaces deleted);
# every service started again; then `ltb up --all` brings both labs back from the state file.
#
# It stops and starts the machine's services, so it must run alone (ctest runs the integration
# tests one at a time). Services are started again as scripts/setup.sh does, also when the test
# fails.
# shellcheck disable=SC2317 # the case functions are called by name
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
# shellcheck source=tests/fault/labs.sh
source "$(dirname "${BASH_SOURCE[0]}")/labs.sh"

only=
list=false
while (($#)); do
  case $1 in
  --cases) only=$2 && shift 2 ;;
  --list) list=true && shift ;;
  *) fail "unknown argument $1 (see the header of $0)" ;;
  esac
done

all_cases=()
for service in docker ovs vswitchd libvirt; do
  for when in up down running; do
    for how in stop restart; do
      all_cases+=("$service-$when-$how")
    done
  done
done
all_cases+=(reboot)
if $list; then
  printf '%s\n' "${all_cases[@]}"
  exit 0
fi
cases=("${all_cases[@]}")
if [[ -n $only ]]; then
  IFS=, read -r -a cases <<<"$only"
  for c in "${cases[@]}"; do
    [[ " ${all_cases[*]} " == *" $c "* ]] || fail "no case $c; there are: ${all_cases[*]}"
  done
fi

require_mixed_lab
[[ $(id -u) -eq 0 ]] || fail "this test stops and starts the machine's services: run it as root"
setup_sh="$LTB_SOURCE_DIR/scripts/setup.sh"
[[ -x $setup_sh || -f $setup_sh ]] || fail "$setup_sh is missing (LTB_SOURCE_DIR=$LTB_SOURCE_DIR)"

lab=sv-a
lab_b=sv-b
track_lab "$lab" "$lab_b"
a="$IT_TMP/a.yaml"
b="$IT_TMP/b.yaml"
# A: a VM, two containers on an OVS segment and a veth between them.
mixed_lab "$lab" 61 >"$a"
# B (the reboot's second lab): containers only, a veth and a segment.
cat >"$b" <<YAML
name: $lab_b
mgmt:
  ipv4-subnet: 172.20.62.0/24
topology:
  nodes:
    sw: {kind: ovs-bridge}
    d1: {kind: linux, image: $k_busybox, exec: ["ip addr add 10.62.0.1/24 dev eth1"]}
    d2: {kind: linux, image: $k_busybox, exec: ["ip addr add 10.62.0.2/24 dev eth1"]}
  links:
    - endpoints: ["d1:eth1", "d2:eth1"]
    - endpoints: ["d1:eth2", "sw:p1"]
YAML

# --- the services -----------------------------------------------------------------------------

has_systemd() { [[ -d /run/systemd/system ]]; }

# pid_of FILE: the pid in a pid file, if that process runs.
pid_of() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# stop_pid WHAT FILE: SIGTERM to the daemon of pid file FILE, then waits until it is gone.
stop_pid() {
  local what=$1 pid
  pid=$(pid_of "$2") || fail "$what is not running (no live pid in $2)"
  kill -TERM "$pid"
  # dockerd stops the containers first (10 s each at most, in parallel).
  wait_until 60 bash -c "! kill -0 $pid 2>/dev/null" || fail "$what (pid $pid) did not stop within 60 s"
}

stop_service() {
  local service=$1
  log "stopping $service"
  case $service in
  docker)
    if has_systemd; then
      systemctl stop docker.socket docker
    else
      stop_pid dockerd /var/run/docker.pid
    fi
    ;;
  ovs)
    if has_systemd; then
      systemctl stop openvswitch-switch
    else
      /usr/share/openvswitch/scripts/ovs-ctl stop >"$IT_TMP/ovs-ctl.out" 2>&1 ||
        fail "ovs-ctl stop failed: $(tail -3 "$IT_TMP/ovs-ctl.out")"
    fi
    ;;
  vswitchd) # ovsdb-server stays
    ovs-appctl -t ovs-vswitchd exit >/dev/null 2>&1 || fail "ovs-appctl -t ovs-vswitchd exit failed"
    wait_until 30 bash -c "! pgrep -x ovs-vswitchd >/dev/null" || fail "ovs-vswitchd did not exit"
    ;;
  libvirt)
    if has_systemd; then
      systemctl stop libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket libvirtd
    else
      stop_pid libvirtd /run/libvirtd.pid
    fi
    ;;
  esac
}

# Starts whatever does not answer, as scripts/setup.sh does on a fresh machine.
start_services() {
  log "starting the services again (scripts/setup.sh services)"
  bash "$setup_sh" services >"$IT_TMP/setup.out" 2>&1 ||
    fail "scripts/setup.sh services failed: $(tail -5 "$IT_TMP/setup.out" | tr '\n' ';')"
  # ovs-ctl start leaves a running ovsdb-server as it is and starts ovs-vswitchd.
  if ! pgrep -x ovs-vswitchd >/dev/null; then
    /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random >"$IT_TMP/ovs-ctl.out" 2>&1 || true
    wait_until 30 ovs-appctl --timeout=2 -t ovs-vswitchd version >/dev/null ||
      fail "ovs-vswitchd did not come back: $(tail -3 "$IT_TMP/ovs-ctl.out")"
  fi
}

# The services come back before lib.sh's cleanup takes the labs down, also after a failure.
services_exit() {
  local rc=$?
  set +e
  bash "$setup_sh" services >"$IT_TMP/setup.out" 2>&1 ||
    log "cleanup: scripts/setup.sh services failed: $(tail -3 "$IT_TMP/setup.out")"
  pgrep -x ovs-vswitchd >/dev/null || /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random >/dev/null 2>&1
  (exit "$rc")
  it_cleanup
}
trap services_exit EXIT

# What an error about SERVICE must name (an ERE).
declare -A names=(
  [docker]='[Dd]ocker'
  [ovs]='Open vSwitch|ovsdb-server|ovs-vswitchd|ovs-vsctl'
  [vswitchd]='Open vSwitch|ovs-vswitchd|ovs-vsctl'
  [libvirt]='libvirt'
)
# ...and what its help must tell to do (an ERE).
declare -A helps=(
  [docker]='start dockerd|dockerd'
  [ovs]='ovsdb-server|ovs-vswitchd|make setup'
  [vswitchd]='ovs-vswitchd|make setup'
  [libvirt]='libvirtd'
)

# expect_clear FILE WHAT: FILE (an ltb's stderr) has an error and a help line that says what to
# do. After a restart the error may be about what the restart did (a container it stopped) rather
# than the service.
expect_clear() {
  local file=$1 what=$2
  { grep -Eq "^ltb: error: .+" "$file" && grep -Eq "^help: .+" "$file"; } ||
    fail "$what: no error with a help line: $(tail -6 "$file" | tr '\n' ';')"
}

# expect_named SERVICE FILE WHAT: FILE (an ltb's stderr) names SERVICE and says what to do.
expect_named() {
  local service=$1 file=$2 what=$3
  grep -E '^ltb: error' "$file" | grep -Eq "${names[$service]}" ||
    fail "$what: the error does not name the service ($service): $(tail -6 "$file" | tr '\n' ';')"
  grep -E '^help:' "$file" | grep -Eq "${helps[$service]}" ||
    fail "$what: no help line says what to do about $service: $(tail -6 "$file" | tr '\n' ';')"
}

# --- checks -----------------------------------------------------------------------------------

# recorded TYPE [LAB]: "name runtime_id" of each object of TYPE that the state records for LAB as
# made (created, running, up or stopped). A record of an attempt (creating, before the call;
# failed) claims nothing, and is what lets `ltb down` find an object made by a call that ended
# unanswered.
recorded() {
  sqlite3 -readonly "$LTB_STATE" \
    "SELECT name || ' ' || runtime_id FROM objects WHERE lab = '${2:-$lab}' AND type = '$1'
       AND status IN ('created', 'running', 'up', 'stopped')" 2>/dev/null
}

# Nothing false recorded about SERVICE: each object of it that the state records exists.
assert_records_true() {
  local service=$1 name id
  case $service in
  docker)
    while read -r name id; do
      [[ -z $name ]] && continue
      docker container inspect "${id:-$name}" >/dev/null 2>&1 ||
        fail "the state records container $name ($id), which docker does not have"
    done < <(recorded container)
    while read -r name id; do
      [[ -z $name ]] && continue
      docker network inspect "${id:-$name}" >/dev/null 2>&1 ||
        fail "the state records network $name ($id), which docker does not have"
    done < <(recorded network)
    ;;
  ovs | vswitchd)
    while read -r name id; do
      [[ -z $name ]] && continue
      ovs-vsctl br-exists "$name" || fail "the state records OVS bridge $name, which OVS does not have"
    done < <(recorded bridge)
    while read -r name id; do
      [[ -z $name ]] && continue
      ovs-vsctl --timeout=5 port-to-br "$name" >/dev/null 2>&1 ||
        fail "the state records OVS port $name, which OVS does not have"
    done < <(recorded port)
    ;;
  libvirt)
    while read -r name id; do
      [[ -z $name ]] && continue
      virsh -c qemu:///system dominfo "$name" >/dev/null 2>&1 ||
        fail "the state records domain $name, which libvirt does not have"
    done < <(recorded domain)
    ;;
  esac
}

# Observed equals desired for lab LAB of FILE: every node runs (docker and virsh agree), every
# link is up, a second `up` has nothing to do.
assert_converged() {
  local l=$1 file=$2 json bad containers domain links
  json=$(ltb status "$l" --format json) || fail "ltb status $l --format json fails after convergence"
  bad=$(jq -r '.nodes[] | select(.state != "running") | "\(.name)=\(.state)"' <<<"$json")
  [[ -z $bad ]] || fail "lab $l: nodes not running after convergence: $bad"
  containers=$(jq '[.nodes[] | select(.kind != "ovs-bridge" and .kind != "vm")] | length' <<<"$json")
  [[ $(docker ps -q --filter "label=ltb.lab=$l" | wc -l) -eq $containers &&
    $(count_containers "$l") -eq $containers ]] ||
    fail "lab $l: $containers container nodes recorded, docker has: $(docker ps -a --filter "label=ltb.lab=$l" --format '{{.Names}} {{.State}}' | tr '\n' ';')"
  if grep -q 'kind: vm' "$file"; then
    domain=$(virsh -c qemu:///system domstate "ltb-$l-vm1" 2>&1 || true)
    [[ $domain == running* ]] || fail "lab $l: the domain of vm1 is not running: $domain"
  fi
  links=$(ltb inspect "$l" --format json | jq -r '.links[] | select(.status != "up") | "\(.name)=\(.status)"') ||
    fail "ltb inspect $l fails after convergence"
  [[ -z $links ]] || fail "lab $l: links not up after convergence: $links"
  ltb up "$file" >"$IT_TMP/again.out" 2>&1 || fail "lab $l: a second ltb up fails: $(tail -3 "$IT_TMP/again.out")"
  grep -q "is up to date: nothing to do" "$IT_TMP/again.out" ||
    fail "lab $l: a second ltb up was not a no-op: $(tail -8 "$IT_TMP/again.out" | tr '\n' ';')"
}

# converge_and_remove: with every service back, `ltb up` converges and `ltb down` leaves nothing.
converge_and_remove() {
  ltb up "$a" >"$IT_TMP/conv.out" 2>&1 ||
    fail "ltb up does not converge once the service is back: $(tail -8 "$IT_TMP/conv.out" | tr '\n' ';')"
  assert_converged "$lab" "$a"
  remove_lab
}

remove_lab() {
  ltb down --lab "$lab" >"$IT_TMP/down.out" 2>&1 ||
    fail "ltb down fails once the service is back: $(tail -5 "$IT_TMP/down.out" | tr '\n' ';')"
  assert_lab_gone "$lab"
}

# --- pausing ltb at a seam point --------------------------------------------------------------

# state_of PID: its state letter (R, S, T, Z...), or nothing once it is gone.
state_of() { awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null; }

# paused OP POINT WHILE: runs `ltb OP...` (OP is a quoted argument list), stopped by the seam at
# POINT (SITE:N); runs WHILE while it is stopped, then lets it go on. Sets op_rc; stderr in
# $IT_TMP/op.err.
op_rc=0
paused() {
  local op=$1 point=$2 while=$3 pid st
  # shellcheck disable=SC2086 # OP is a word list
  env LTB_FAULT_STOP="$point" "$LTB" --state "$LTB_STATE" $op >"$IT_TMP/op.out" 2>"$IT_TMP/op.err" &
  pid=$!
  track_pid "$pid"
  local deadline=$((SECONDS + 300))
  while :; do
    st=$(state_of "$pid")
    [[ $st == T ]] && break
    if [[ -z $st || $st == Z ]]; then
      op_rc=0
      wait "$pid" || op_rc=$?
      fail "ltb $op ended (exit $op_rc) before its point $point: $(tail -5 "$IT_TMP/op.err" | tr '\n' ';')"
    fi
    ((SECONDS < deadline)) || fail "ltb $op did not reach its point $point within 300 s"
    sleep 0.05
  done
  "$while"
  kill -CONT "$pid"
  op_rc=0
  wait "$pid" || op_rc=$?
  log "ltb $op, paused at $point for '$while', exited $op_rc"
  if ((op_rc != 0)); then
    # What the user saw: the closing note quotes these.
    grep -E '^(ltb: error|help):' "$IT_TMP/op.err" | head -4 | sed 's/^/    /' >&2 || true
  fi
}

# The first state commit of `up` and of `down` records the lab's claim (deploying, removing) after
# the plan and before any action: stopped there, ltb has observed the service and planned, and
# every action is still to do.
readonly k_before_actions=state-commit:1

# Each operation's count of actions, from one run (an up of A from nothing, a down of it).
up_actions=0 down_actions=0
count_actions() {
  local trace="$IT_TMP/trace"
  : >"$trace"
  LTB_FAULT_TRACE=$trace ltb up "$a" >"$IT_TMP/count.out" 2>&1 ||
    fail "ltb up $a fails: $(tail -5 "$IT_TMP/count.out" | tr '\n' ';')"
  up_actions=$(grep -c '^action ' "$trace")
  : >"$trace"
  LTB_FAULT_TRACE=$trace ltb down --lab "$lab" >"$IT_TMP/count.out" 2>&1 ||
    fail "ltb down fails: $(tail -5 "$IT_TMP/count.out" | tr '\n' ';')"
  down_actions=$(grep -c '^action ' "$trace")
  assert_lab_gone "$lab"
  ((up_actions >= 4 && down_actions >= 4)) ||
    fail "ltb up took $up_actions actions and ltb down $down_actions: too few to pause in"
  log "ltb up of $lab takes $up_actions actions, ltb down $down_actions"
}

# --- the cases --------------------------------------------------------------------------------

service= # the case's service, for the WHILE functions
stop_it() { stop_service "$service"; }
restart_it() {
  stop_service "$service"
  start_services
}

# SERVICE stopped (or restarted) while `ltb up` is paused.
case_up() {
  local how=$1
  if [[ $how == stop ]]; then
    paused "up $a" "$k_before_actions" stop_it
    ((op_rc != 0)) || fail "ltb up succeeded with $service stopped before its first action"
    expect_named "$service" "$IT_TMP/op.err" "ltb up with $service stopped"
    # While it is away, ltb status still answers or names it.
    if ! ltb status "$lab" >"$IT_TMP/status.out" 2>"$IT_TMP/status.err"; then
      expect_named "$service" "$IT_TMP/status.err" "ltb status with $service stopped"
    fi
    start_services
  else
    paused "up $a" "action:$((up_actions / 2))" restart_it
    if ((op_rc != 0)); then
      expect_clear "$IT_TMP/op.err" "ltb up with $service restarted"
    fi
  fi
  assert_records_true "$service"
  converge_and_remove
}

# SERVICE stopped (or restarted) while `ltb down` is paused.
case_down() {
  local how=$1
  ltb up "$a" >"$IT_TMP/pre.out" 2>&1 || fail "ltb up $a fails: $(tail -5 "$IT_TMP/pre.out" | tr '\n' ';')"
  if [[ $how == stop ]]; then
    paused "down --lab $lab" "$k_before_actions" stop_it
    ((op_rc != 0)) || fail "ltb down succeeded with $service stopped before its first action"
    expect_named "$service" "$IT_TMP/op.err" "ltb down with $service stopped"
    start_services
    lab_in_status "$lab" || fail "a down that failed with $service stopped no longer lists lab $lab"
  else
    paused "down --lab $lab" "action:$((down_actions / 2))" restart_it
    if ((op_rc != 0)); then
      expect_clear "$IT_TMP/op.err" "ltb down with $service restarted"
      lab_in_status "$lab" || fail "a down that failed with $service restarted no longer lists lab $lab"
    fi
  fi
  # No existence check of the records here: a removal that failed keeps its object's record,
  # which may outlive the object (ovs-vsctl's del-br commits, then times out waiting for the
  # stopped ovs-vswitchd). That errs on the safe side: the next `down` finds it gone. What must
  # hold is that the lab stays listed, and that `down` then leaves nothing.
  if lab_in_status "$lab"; then
    remove_lab
  else
    assert_lab_gone "$lab"
  fi
}

# SERVICE stopped (or restarted) under a running lab.
case_running() {
  local how=$1
  ltb up "$a" >"$IT_TMP/pre.out" 2>&1 || fail "ltb up $a fails: $(tail -5 "$IT_TMP/pre.out" | tr '\n' ';')"
  if [[ $how == stop ]]; then
    stop_service "$service"
    local rc=0
    ltb up "$a" >"$IT_TMP/op.out" 2>"$IT_TMP/op.err" || rc=$?
    ((rc != 0)) || fail "ltb up succeeded with $service stopped: $(tail -3 "$IT_TMP/op.out" | tr '\n' ';')"
    expect_named "$service" "$IT_TMP/op.err" "ltb up of a running lab with $service stopped"
    if ! ltb status "$lab" >"$IT_TMP/status.out" 2>"$IT_TMP/status.err"; then
      expect_named "$service" "$IT_TMP/status.err" "ltb status with $service stopped"
    fi
    start_services
    lab_in_status "$lab" || fail "lab $lab is no longer listed after $service was stopped"
  else
    restart_it
  fi
  assert_records_true "$service"
  converge_and_remove
}

# Lab processes and devices gone as after a power cut, then every service started again.
simulate_reboot() {
  local l hash dom pidfile pid
  log "simulated reboot: every domain destroyed, dockerd, Open vSwitch and libvirtd stopped"
  for l in "$lab" "$lab_b"; do
    for dom in $(virsh -c qemu:///system list --name | grep -E "^ltb-$l-" || true); do
      virsh -c qemu:///system destroy "$dom" >/dev/null
    done
    # The lab's DHCP server and relays: their pid files are in its directory.
    while read -r pidfile; do
      if pid=$(pid_of "$pidfile"); then kill -KILL "$pid"; fi
    done < <(find "$IT_TMP/state/labs/$l" -name '*.pid' 2>/dev/null)
  done
  for service in docker libvirt ovs; do
    stop_service "$service"
  done
  for l in "$lab" "$lab_b"; do
    hash=$(lab_hash "$l")
    while read -r dev; do
      ip link delete "$dev" 2>/dev/null || true
    done < <(ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep -E "^l[vb]$hash" || true)
  done
  while read -r ns; do
    ip netns delete "$ns"
  done < <(ip netns list | awk '{ print $1 }' | grep -E "^ltb-($lab|$lab_b)" || true)
  start_services
}

case_reboot() {
  ltb up "$a" >"$IT_TMP/pre.out" 2>&1 || fail "ltb up $a fails: $(tail -5 "$IT_TMP/pre.out" | tr '\n' ';')"
  ltb up "$b" >"$IT_TMP/pre.out" 2>&1 || fail "ltb up $b fails: $(tail -5 "$IT_TMP/pre.out" | tr '\n' ';')"
  simulate_reboot
  [[ $(docker ps -q --filter "label=ltb.lab=$lab" | wc -l) -eq 0 ]] || fail "containers still run after the simulated reboot"
  # One command brings every lab back from the state file: the topologies it recorded.
  ltb up --all >"$IT_TMP/all.out" 2>&1 ||
    fail "ltb up --all does not bring the labs back after the reboot: $(tail -8 "$IT_TMP/all.out" | tr '\n' ';')"
  { grep -q "lab $lab is up" "$IT_TMP/all.out" && grep -q "lab $lab_b is up" "$IT_TMP/all.out"; } ||
    fail "ltb up --all does not report both labs up: $(tr '\n' ';' <"$IT_TMP/all.out")"
  assert_converged "$lab" "$a"
  assert_converged "$lab_b" "$b"
  ltb down --all >"$IT_TMP/down.out" 2>&1 || fail "ltb down --all fails: $(tail -5 "$IT_TMP/down.out" | tr '\n' ';')"
  assert_lab_gone "$lab"
  assert_lab_gone "$lab_b"
}

count_actions
for c in "${cases[@]}"; do
  start=$SECONDS
  if [[ $c == reboot ]]; then
    case_reboot
  else
    IFS=- read -r service when how <<<"$c"
    "case_$when" "$how"
  fi
  log "case $c passed in $((SECONDS - start)) s"
done
log "services that go away: ${#cases[@]} cases passed"
