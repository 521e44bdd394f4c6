# Shared helpers of the integration tests (tests/integration/test_*.sh). Source it first:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# ctest runs each test with LTB=<ltb binary> and LTB_SOURCE_DIR=<repo root>. Every test gets a
# fresh temporary directory and its own state file (LTB_STATE), so it never touches
# /var/lib/ltb; labs a test makes are registered with `track_lab` and the EXIT trap brings them
# down and checks that nothing of them is left, whether the test passed or failed.
# A missing service (dockerd, Open vSwitch, an image) is a failure, never a skip: CI runs everything.
# shellcheck shell=bash
set -euo pipefail

: "${LTB:?set LTB to the ltb binary (ctest does this)}"
: "${LTB_SOURCE_DIR:?set LTB_SOURCE_DIR to the repository root (ctest does this)}"
[[ -x $LTB ]] || {
  echo "LTB=$LTB is not an executable; build it first (make ltb)" >&2
  exit 1
}

IT_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
IT_TMP=$(mktemp -d "/tmp/ltb-${IT_NAME}.XXXXXX")
export LTB_STATE="$IT_TMP/state/state.db"
# Progress lines without colour or cursor tricks, whatever the terminal.
export NO_COLOR=1
# shellcheck disable=SC2034 # used by the tests that source this
readonly k_busybox=ltb/busybox:latest k_frr=ltb/frr:latest
IT_LABS=()
IT_PIDS=()
IT_START=$(date +%s%N)

log() { printf '[%s] %s: %s\n' "$(date +%H:%M:%S.%3N)" "$IT_NAME" "$*" >&2; }

fail() {
  log "FAIL: $*"
  exit 1
}

# check_later MSG: a failed check that lets the test go on (to check the rest), but fails it at
# the end. For bugs in ltb that are reported and not fixed yet.
IT_DEFERRED=()
check_later() {
  log "FAIL (test goes on): $*"
  IT_DEFERRED+=("$*")
}

# ltb with this test's state file (LTB_STATE is exported too; --state makes it explicit).
ltb() { "$LTB" --state "$LTB_STATE" "$@"; }

# Labs made by this test, brought down and checked by the EXIT trap.
track_lab() { IT_LABS+=("$@"); }

# track_lab_state STATE LAB: like track_lab, for a lab recorded in another state file.
declare -A IT_LAB_STATE=()
track_lab_state() {
  IT_LAB_STATE[$2]=$1
  IT_LABS+=("$2")
}

# on_cleanup CMD: a shell command the EXIT trap runs after the tracked labs are down (for things
# the test made outside ltb). A failing command is logged, not fatal.
IT_CLEANUPS=()
on_cleanup() { IT_CLEANUPS+=("$1"); }

# Background processes started by this test, killed (by pid) by the EXIT trap if still alive.
track_pid() { IT_PIDS+=("$@"); }

# kill_and_reap PID: SIGKILL to a background process of this shell, and wait for it (quietly).
# Returns its exit status (137 when the signal killed it).
kill_and_reap() {
  local rc=0
  {
    kill -9 "$1"
    wait "$1" || rc=$?
  } 2>/dev/null
  return "$rc"
}

# wait_until TIMEOUT CMD...: runs CMD every 0.3 s until it succeeds; 1 after TIMEOUT seconds.
wait_until() {
  local timeout=$1
  shift
  local deadline=$(($(date +%s) + timeout))
  while true; do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if (($(date +%s) >= deadline)); then
      return 1
    fi
    sleep 0.3
  done
}

# retry N CMD...: runs CMD up to N times, 1 s apart, until it succeeds (its last output is shown).
retry() {
  local tries=$1 i
  shift
  for ((i = 1; i <= tries; i++)); do
    if "$@"; then
      return 0
    fi
    ((i < tries)) && sleep 1
  done
  return 1
}

container_name() { printf 'ltb-%s-%s' "$1" "$2"; }

# runs_in LAB NODE WORDS: a process of exactly that command line runs in the node's container
# (as the host sees it: images without ps or pgrep are fine).
runs_in() {
  docker top "$(container_name "$1" "$2")" -eo pid,args | awk 'NR > 1 { $1 = ""; print substr($0, 2) }' |
    grep -qx "$3"
}

# cexec LAB NODE CMD...: runs CMD in the node's container.
cexec() {
  local lab=$1 node=$2
  shift 2
  docker exec "$(container_name "$lab" "$node")" "$@"
}

count_containers() { docker ps -aq --filter "label=ltb.lab=$1" | wc -l; }

# "node id" lines, sorted, of every container labelled with the lab (full ids).
container_ids() {
  docker ps -a --no-trunc --filter "label=ltb.lab=$1" --format '{{.Label "ltb.node"}} {{.ID}}' |
    LC_ALL=C sort
}

# id of one node's container, empty when there is none.
node_id() { container_ids "$1" | awk -v n="$2" '$1 == n { print $2 }'; }

# True when the node's container has interface IFACE and it is up.
has_iface() {
  local out
  out=$(cexec "$1" "$2" ip -o link show "$3" 2>/dev/null) || return 1
  [[ $out == *"state UP"* || $out == *",UP"* ]]
}

assert_iface() {
  has_iface "$@" || fail "node $2 of lab $1 has no interface $3 that is up: $(cexec "$1" "$2" ip -o link 2>&1 | tr '\n' ';')"
}

# assert_ifaces LAB NODE:IFACE...: every interface exists and is up (one docker exec per node).
assert_ifaces() {
  local lab=$1 spec node iface links
  shift
  local -A by_node=()
  for spec in "$@"; do
    by_node[${spec%%:*}]+=" ${spec#*:}"
  done
  for node in "${!by_node[@]}"; do
    links=$(cexec "$lab" "$node" ip -o link 2>&1) || fail "cannot list interfaces of node $node in lab $lab: $links"
    for iface in ${by_node[$node]}; do
      grep -Eq "^[0-9]+: $iface(@[^:]*)?: <([^>]*,)?UP[,>]" <<<"$links" ||
        fail "node $node of lab $lab has no interface $iface that is up: $(tr '\n' ';' <<<"$links")"
    done
  done
}

# The hex that prefixes the lab's host interfaces ("lv"/"lb" + 6 hex of sha256(lab)).
lab_hash() { printf %s "$1" | sha256sum | cut -c1-6; }

# True when lab LAB appears in `ltb status --format json`.
lab_in_status() {
  local json
  json=$(ltb status --format json) || {
    log "ltb status --format json failed"
    return 1
  }
  jq -e --arg lab "$1" '.labs | any(.name == $lab)' <<<"$json" >/dev/null
}

# Prints what is left of lab LAB on this machine, one line per object; nothing when it is gone.
lab_leftovers() {
  local lab=$1 hash out
  hash=$(lab_hash "$lab")
  out=$(docker ps -aq --filter "label=ltb.lab=$lab") && [[ -n $out ]] &&
    echo "containers: $(docker ps -a --filter "label=ltb.lab=$lab" --format '{{.Names}}' | tr '\n' ' ')"
  out=$(docker network ls -q --filter "label=ltb.lab=$lab") && [[ -n $out ]] &&
    echo "networks: $(docker network ls --filter "label=ltb.lab=$lab" --format '{{.Name}}' | tr '\n' ' ')"
  out=$(docker network ls -q --filter "name=^ltb-$lab\$") && [[ -n $out ]] &&
    echo "network named ltb-$lab"
  local table
  for table in Bridge Port Interface; do
    out=$(ovs-vsctl --bare --columns=name find "$table" "external_ids:ltb-lab=$lab" | sed '/^$/d')
    [[ -n $out ]] && echo "OVS ${table}s: $(tr '\n' ' ' <<<"$out")"
  done
  # A port whose host veth vanished keeps its Interface row, named after the veth.
  out=$(ovs-vsctl --bare --columns=name list Interface | grep -E "^l[vb]$hash" || true)
  [[ -n $out ]] && echo "OVS interfaces named like the lab's: $(tr '\n' ' ' <<<"$out")"
  out=$(ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' |
    grep -E "^l[vb]$hash" || true)
  [[ -n $out ]] && echo "host interfaces: $(tr '\n' ' ' <<<"$out")"
  if command -v virsh >/dev/null; then
    out=$(virsh -c qemu:///system list --all --name 2>/dev/null | grep -E "^ltb-$lab-" || true)
    [[ -n $out ]] && echo "libvirt domains: $(tr '\n' ' ' <<<"$out")"
  elif [[ ${CI:-} == true ]]; then
    echo "virsh is missing, so libvirt domains were not checked (CI=true: a failure)"
  else
    log "NOT CHECKED: libvirt domains of lab $lab (virsh is missing; with CI=true this fails)"
  fi
  out=$(find "$IT_TMP/state/labs/$lab" -name '*.qcow2' 2>/dev/null || true)
  [[ -n $out ]] && echo "overlay disks: $(tr '\n' ' ' <<<"$out")"
  # The VMs' DHCP server (dnsmasq) runs with the lab directory's pid file on its command line.
  out=$(pgrep -f -- "--pid-file=$IT_TMP/state/labs/$lab/dnsmasq.pid" || true)
  [[ -n $out ]] && echo "DHCP server (dnsmasq) pids: $(tr '\n' ' ' <<<"$out")"
  # A confined lab's host firewall rules carry the comment ltb:LAB (net/host_firewall.hpp).
  out=$({ iptables -S 2>/dev/null || true; ip6tables -S 2>/dev/null || true; } |
    grep -E -- "--comment \"?ltb:$lab(:[a-z]+)?\"? " || true)
  [[ -n $out ]] && echo "host firewall rules: $(tr '\n' ';' <<<"$out")"
  if [[ -e $LTB_STATE ]] && lab_in_status "$lab"; then
    echo "still listed by ltb status"
  fi
  return 0
}

# Fails unless nothing of lab LAB remains: containers, networks, OVS bridges/ports/interfaces,
# host veths and bridges with the lab's prefixes, domains, overlays, the DHCP server, the lab in
# `ltb status`.
assert_lab_gone() {
  local left
  left=$(lab_leftovers "$1")
  [[ -z $left ]] || fail "lab $1 is not gone: $(tr '\n' ';' <<<"$left")"
}

# Fails unless every recorded node of LAB is running (status json) and each container node has
# exactly one container.
assert_all_running() {
  local lab=$1 json bad
  json=$(ltb status "$lab" --format json) || fail "ltb status $lab --format json failed"
  bad=$(jq -r '.nodes[] | select(.state != "running") | "\(.name)=\(.state)"' <<<"$json")
  [[ -z $bad ]] || fail "lab $lab has nodes not running: $bad"
  local containers nodes
  containers=$(jq '[.nodes[] | select(.kind != "ovs-bridge")] | length' <<<"$json")
  nodes=$(container_ids "$lab" | awk '{ print $1 }' | sort -u | wc -l)
  [[ $(count_containers "$lab") -eq $containers && $nodes -eq $containers ]] ||
    fail "lab $lab: $containers container nodes recorded, but docker has $(count_containers "$lab") containers for $nodes nodes: $(container_ids "$lab" | tr '\n' ';')"
}

# Fails unless dockerd, Open vSwitch and the images the test needs are there.
require_services() {
  docker info >/dev/null 2>&1 ||
    fail "dockerd does not answer; start it (scripts/setup.sh services)"
  ovs-vsctl --timeout=5 show >/dev/null 2>&1 ||
    fail "Open vSwitch does not answer (ovs-vsctl show); start it (scripts/setup.sh services)"
  command -v jq >/dev/null || fail "jq is missing (scripts/setup.sh deps installs it)"
  local image
  for image in "$@"; do
    docker image inspect "$image" >/dev/null 2>&1 ||
      fail "image $image is missing; build it with scripts/build-images.sh"
  done
}

# Runs from the EXIT trap: kills what the test left running, brings every tracked lab down and
# checks it is gone. A failure here fails the test even if its checks passed.
it_cleanup() {
  local rc=$?
  set +e
  # Only pids still in this shell's job table: a reaped pid may belong to someone else by now.
  local pid running
  running=" $(jobs -p | paste -sd ' ') "
  for pid in "${IT_PIDS[@]}"; do
    if [[ $running == *" $pid "* ]]; then
      kill -9 "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
    fi
  done
  local lab left
  for lab in "${IT_LABS[@]}"; do
    # --wait: a killed ltb's lock is gone with it, but give a slow one time to let go.
    if ! "$LTB" --state "${IT_LAB_STATE[$lab]:-$LTB_STATE}" --quiet --wait 30 down --lab "$lab" \
      >"$IT_TMP/down.out" 2>&1; then
      log "cleanup: ltb down --lab $lab failed: $(cat "$IT_TMP/down.out")"
      rc=1
    fi
    left=$(lab_leftovers "$lab")
    if [[ -n $left ]]; then
      log "cleanup: lab $lab is not gone after ltb down: $(tr '\n' ';' <<<"$left")"
      rc=1
    fi
  done
  local cmd
  for cmd in "${IT_CLEANUPS[@]}"; do
    eval "$cmd" >"$IT_TMP/cleanup.out" 2>&1 || log "cleanup: '$cmd' failed: $(cat "$IT_TMP/cleanup.out")"
  done
  if ((${#IT_DEFERRED[@]} > 0)); then
    local msg
    for msg in "${IT_DEFERRED[@]}"; do
      log "failed check: $msg"
    done
    ((rc != 0)) || rc=1
  fi
  local ms=$((($(date +%s%N) - IT_START) / 1000000))
  if ((rc == 0)); then
    rm -rf "$IT_TMP"
    log "PASS in $((ms / 1000)).$(printf %03d $((ms % 1000))) s"
  else
    log "FAILED (exit $rc) after $((ms / 1000)).$(printf %03d $((ms % 1000))) s; files kept in $IT_TMP"
  fi
  exit "$rc"
}
trap it_cleanup EXIT
trap 'exit 130' INT TERM

# expect_rc WANT CMD...: runs CMD, output to $IT_TMP/out and $IT_TMP/err; fails unless it exits WANT.
expect_rc() {
  local want=$1 rc=0
  shift
  "$@" >"$IT_TMP/out" 2>"$IT_TMP/err" || rc=$?
  if ((rc != want)); then
    log "stdout of '$*':"
    cat "$IT_TMP/out" >&2
    log "stderr of '$*':"
    cat "$IT_TMP/err" >&2
    fail "'$*' exited $rc, expected $want"
  fi
}

# Fails unless the last expect_rc's stdout (out) or stderr (err) matches the ERE.
expect_output() {
  local which=$1 pattern=$2
  grep -Eq -- "$pattern" "$IT_TMP/$which" || {
    cat "$IT_TMP/$which" >&2
    fail "$which of the last command does not match /$pattern/"
  }
}
