#!/usr/bin/env bash
# Crash testing: runs an ltb operation, kills it with SIGKILL at a chosen point, then checks that
# the next `ltb up` converges (observed equals desired, and a second `up` has nothing to do) and
# that `ltb down` leaves nothing of the lab on this machine.
#
#   tests/fault/fault.sh [--points N] [--seed S] [--workers K] [--scenarios a,b,...] [--list]
#
# Points come from ltb's fault seam (util/fault.hpp): a first run of each operation with
# LTB_FAULT_TRACE counts its points (after each action, after its record, before and after each
# state commit); then LTB_FAULT_KILL=SITE:N kills the operation at the Nth such point. About one
# point in five is a wall-clock kill instead: SIGKILL after a random delay within the operation's
# measured duration. The sample is drawn with the seed, so a failure names the run that repeats
# it: the scenario, the point and the seed are printed.
#
# With --workers K, K copies of this script run the sample side by side, each on a lab of its own
# (ft-lab1, ft-lab2, ...: different names, subnets and state files): dockerd serves them in
# parallel. CI runs a seeded sample of 50 points (test_fault_sample.sh); `make fault` runs 1,000 or more.
# Like the integration tests it needs LTB (the binary) and LTB_SOURCE_DIR, dockerd, Open vSwitch,
# libvirtd and the images; a missing one fails.
# shellcheck disable=SC2034 # final_X are read through ${!name}
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
# shellcheck source=tests/fault/labs.sh
source "$(dirname "${BASH_SOURCE[0]}")/labs.sh"

points=50
seed=1
only=
list=false
workers=1
worker=0      # set in the copies: which one (1..K)
sample_file=  # set in the copies: the points to run
result_file=  # set in the copies: where the counts go
while (($#)); do
  case $1 in
  --points) points=$2 && shift 2 ;;
  --seed) seed=$2 && shift 2 ;;
  --scenarios) only=$2 && shift 2 ;;
  --list) list=true && shift ;;
  --workers) workers=$2 && shift 2 ;;
  --worker) worker=$2 && shift 2 ;;
  --sample-file) sample_file=$2 && shift 2 ;;
  --result-file) result_file=$2 && shift 2 ;;
  *) fail "unknown argument $1 (see the header of $0)" ;;
  esac
done

require_mixed_lab

((workers >= 1 && workers <= 4)) || fail "--workers takes 1 to 4"
if ((worker > 0)); then
  lab=ft-lab$worker
  IT_NAME="fault-w$worker"
else
  lab=ft-lab
fi
net=$((51 + worker)) # 172.20.$net.0/24 and up
track_lab "$lab"
# Snapshots outlive ltb down: a failed run's go with the test.
on_cleanup "docker images --format '{{.Repository}}:{{.Tag}}' ltb-snapshot | { grep -F ':$lab.' || true; } | xargs -r docker rmi -f"
state_dir=$(dirname "$LTB_STATE")
a="$IT_TMP/a.yaml"
b="$IT_TMP/b.yaml"

# A: a VM, two containers and an OVS segment; c1 and c2 also share a veth.
mixed_lab "$lab" $net >"$a"
# B, an edit of A: c2 goes, c3 comes (on the segment and on a veth to c1), c1's exec changes (so
# c1 is made again).
cat >"$b" <<YAML
name: $lab
mgmt:
  ipv4-subnet: 172.20.$net.0/24
topology:
  nodes:
    sw: {kind: ovs-bridge}
    vm1: {kind: vm, accel: qemu, cmdline: "ltb.addr.eth1=10.$net.0.1/24"}
    c1: {kind: linux, image: $k_busybox, exec: ["ip addr add 10.$net.0.12/24 dev eth1"]}
    c3: {kind: linux, image: $k_busybox, exec: ["ip addr add 10.$net.0.4/24 dev eth1"]}
  links:
    - endpoints: ["vm1:eth1", "sw:p1"]
    - endpoints: ["c1:eth1", "sw:p2"]
    - endpoints: ["c3:eth1", "sw:p4"]
    - endpoints: ["c1:eth3", "c3:eth2"]
YAML

iso() { date -u -d "@$1" +%FT%TZ; }

# must WHAT CMD...: runs CMD (output to $IT_TMP/must.out); fails with WHAT and its output unless
# it succeeds.
must() {
  local what=$1
  shift
  "$@" >"$IT_TMP/must.out" 2>&1 || fail "$what: '$*' exited $?: $(tail -5 "$IT_TMP/must.out" | tr '\n' ';')"
}

# --- the scenarios: pre_X makes the precondition from nothing, op_X is the operation that is
# killed, final_X names the file `ltb up` converges to (converge_X, optional, does more than that
# `ltb up`), check_X (optional) checks more after it,
# after_X (optional) removes what outlives `ltb down`.

pre_up_fresh() { :; }
op_up_fresh() { ltb up "$a"; }
final_up_fresh=$a

pre_up_edit() { ltb up "$a" >/dev/null; }
op_up_edit() { ltb up "$b"; }
final_up_edit=$b

# Drift: c1's container gone, c2's segment port taken off the bridge.
pre_up_drift() {
  ltb up "$a" >/dev/null
  docker rm -f "$(container_name "$lab" c1)" >/dev/null
  local port
  port=$(ovs-vsctl --bare --columns=name find Port "external_ids:ltb-node=c2" "external_ids:ltb-lab=$lab" | head -1)
  [[ -n $port ]] && ovs-vsctl del-port "$port"
  return 0
}
op_up_drift() { ltb up "$a"; }
final_up_drift=$a

pre_down() { ltb up "$a" >/dev/null; }
op_down() { ltb down --lab "$lab"; }
final_down=$a

# After a killed stop or start the lab may be part stopped, which `ltb up` leaves as it is (see
# ltb(1)): up must succeed with every node as recorded; then stop and start finish the work. A
# link that a node made again took from a stopped peer is reported by start and wired by the
# next up.
converge_lifecycle() {
  must "ltb up does not converge after the kill" ltb up "$a"
  local bad
  bad=$(ltb status "$lab" --format json | jq -r '.nodes[] | select(.state != "running" and .state != "stopped") | "\(.name)=\(.state)"')
  [[ -z $bad ]] || fail "after the kill and ltb up, nodes are neither running nor stopped: $bad"
  must "ltb stop does not finish after the kill" ltb stop "$lab" --timeout 2
  if ! ltb start "$lab" >"$IT_TMP/must.out" 2>&1; then
    grep -q "did not survive the stop" "$IT_TMP/must.out" ||
      fail "ltb start fails after the kill: $(tail -5 "$IT_TMP/must.out" | tr '\n' ';')"
  fi
  must "ltb up does not converge after ltb start" ltb up "$a"
}

pre_stop() { ltb up "$a" >/dev/null; }
op_stop() { ltb stop "$lab" --timeout 2; }
final_stop=$a
converge_stop() { converge_lifecycle; }

pre_start() {
  ltb up "$a" >/dev/null
  ltb stop "$lab" --timeout 2 >/dev/null
}
op_start() { ltb start "$lab"; }
final_start=$a
converge_start() { converge_lifecycle; }

pre_snapshot_create() { ltb up "$a" >/dev/null; }
op_snapshot_create() { ltb snapshot create "$lab" s1; }
final_snapshot_create=$a
# The snapshot is either whole (it restores) or not listed (then a new one can be made). It
# outlives `ltb down`; after_X removes it then.
check_snapshot_create() {
  local listed
  listed=$(ltb snapshot list "$lab" --format json | jq -r '.snapshots[].name' | tr '\n' ' ')
  if [[ $listed == *s1* ]]; then
    must "snapshot s1, listed after the kill, does not restore" ltb snapshot restore "$lab" s1
  else
    must "a new snapshot s1 cannot be made after the kill" ltb snapshot create "$lab" s1
  fi
}
after_snapshot_create() { must "snapshot s1 cannot be removed after ltb down" ltb snapshot rm "$lab" s1; }

pre_snapshot_restore() {
  ltb up "$a" >/dev/null
  ltb snapshot create "$lab" s1 >/dev/null
  ltb link down c1:eth2 --lab "$lab" >/dev/null
  docker rm -f "$(container_name "$lab" c2)" >/dev/null
}
op_snapshot_restore() { ltb snapshot restore "$lab" s1; }
final_snapshot_restore=$a
check_snapshot_restore() { must "snapshot s1 does not restore after the kill" ltb snapshot restore "$lab" s1; }
after_snapshot_restore() { after_snapshot_create; }

pre_schedule_deploy() {
  ltb reserve create "$a" --start "$(iso "$(date +%s)")" --for 30m >/dev/null
}
op_schedule_deploy() { ltb schedule run --once; }
final_schedule_deploy=$a
check_schedule_deploy() { must "ltb schedule run --once fails after the kill" ltb schedule run --once; }
after_schedule_deploy() {
  local id
  for id in $(ltb reserve list --all --format json | jq -r '.[].id'); do
    must "ltb reserve delete $id fails" ltb reserve delete "$id" --yes
  done
}

# A capture of the segment port of c1: an OVS mirror that ltb records and removes.
pre_capture() { ltb up "$a" >/dev/null; }
op_capture() { timeout 4 "$LTB" --state "$LTB_STATE" capture sw --lab "$lab" --port c1 -c 1 -w "$IT_TMP/cap.pcap"; }
final_capture=$a
check_capture() {
  local mirrors
  mirrors=$(ovs-vsctl --bare --columns=name list Mirror | sed '/^$/d' | grep -c . || true)
  ((mirrors == 0)) || fail "$mirrors OVS mirrors are left after the kill and ltb up: $(ovs-vsctl --bare --columns=name list Mirror | tr '\n' ' ')"
}

scenarios=(up_fresh up_edit up_drift down stop start snapshot_create snapshot_restore schedule_deploy capture)
if [[ -n $only ]]; then
  IFS=, read -r -a scenarios <<<"${only//-/_}"
fi

# --- checks -----------------------------------------------------------------------------------

# What ltb's `down` must leave: nothing of the lab (lib.sh's list), no lab directory, no snapshot
# of it (the scenarios remove theirs), no reservation, no mirror.
assert_nothing_left() {
  assert_lab_gone "$lab"
  [[ -e $state_dir/labs/$lab ]] && fail "the lab directory is left: $(find "$state_dir/labs/$lab" | head -5 | tr '\n' ' ')"
  local left
  left=$(find "$state_dir/snapshots/$lab" "$state_dir/disk-layers/$lab" -mindepth 1 2>/dev/null | head -5 || true)
  [[ -z $left ]] || fail "snapshot files are left: $(tr '\n' ' ' <<<"$left")"
  left=$(docker images --format '{{.Tag}}' ltb-snapshot | grep -F "$lab." || true)
  [[ -z $left ]] || fail "snapshot images are left: $(tr '\n' ' ' <<<"$left")"
  left=$(ovs-vsctl --bare --columns=name list Mirror | sed '/^$/d')
  [[ -z $left ]] || fail "OVS mirrors are left: $(tr '\n' ' ' <<<"$left")"
  return 0
}

# Observed equals desired for FILE: every node runs, every link is up, a second `up` has nothing
# to do.
assert_converged() {
  local file=$1 json nodes links want_nodes want_links bad containers domain
  json=$(ltb status "$lab" --format json) || fail "ltb status $lab --format json fails after convergence"
  bad=$(jq -r '.nodes[] | select(.state != "running") | "\(.name)=\(.state)"' <<<"$json")
  [[ -z $bad ]] || fail "nodes not running after convergence: $bad"
  # From outside: one running container per container node, the VM's domain running.
  containers=$(jq '[.nodes[] | select(.kind != "ovs-bridge" and .kind != "vm")] | length' <<<"$json")
  [[ $(docker ps -q --filter "label=ltb.lab=$lab" | wc -l) -eq $containers &&
    $(count_containers "$lab") -eq $containers ]] ||
    fail "$containers container nodes recorded, docker runs: $(docker ps -a --filter "label=ltb.lab=$lab" --format '{{.Names}} {{.State}}' | tr '\n' ';')"
  domain=$(virsh -c qemu:///system domstate "ltb-$lab-vm1" 2>&1 || true)
  [[ $domain == running* ]] || fail "the domain of vm1 is not running: $domain"
  json=$(ltb inspect "$lab" --format json) || fail "ltb inspect $lab fails after convergence"
  links=$(jq -r '.links[] | select(.status != "up") | "\(.name)=\(.status)"' <<<"$json")
  [[ -z $links ]] || fail "links not up after convergence: $links"
  want_nodes=$(grep -cE '^    [a-z0-9]+: \{kind' "$file")
  want_links=$(grep -c 'endpoints:' "$file")
  nodes=$(jq '.nodes | length' <<<"$json")
  links=$(jq '.links | length' <<<"$json")
  ((nodes == want_nodes && links == want_links)) ||
    fail "after convergence ltb inspect lists $nodes nodes and $links links, the file has $want_nodes and $want_links"
  ltb up "$file" >"$IT_TMP/again.out" 2>&1 || fail "a second ltb up fails: $(tail -3 "$IT_TMP/again.out")"
  grep -q "is up to date: nothing to do" "$IT_TMP/again.out" ||
    fail "a second ltb up was not a no-op: $(tr '\n' ';' <<<"$(tail -8 "$IT_TMP/again.out")")"
}

# hook NAME: runs the scenario's optional function NAME (check_X, after_X), when it has one.
hook() { if declare -F "$1" >/dev/null; then "$1"; fi; }

# run_sample ENTRY...: runs each "SCENARIO SITE N" entry as a point, logging its survival.
run_sample() {
  local i=0 entry sc site n
  for entry in "$@"; do
    i=$((i + 1))
    read -r sc site n <<<"$entry"
    run_point "$sc" "$site" "$n"
    log "point $i/$#: $sc $site:$n survived"
    [[ -z $result_file ]] || echo "$survived $killed $finished" >"$result_file"
  done
}

# --- running a point ------------------------------------------------------------------------------

killed=0 finished=0 survived=0

# run_point SCENARIO SITE N: the precondition, the operation killed at the point (SITE `time`: N
# ms after its start), then convergence and down.
run_point() {
  local sc=$1 site=$2 n=$3 rc=0 final pid
  final="final_$sc"
  final=${!final}
  "pre_$sc" >"$IT_TMP/pre.out" 2>&1 || fail "[$sc] the precondition failed: $(tail -5 "$IT_TMP/pre.out")"
  if [[ $site == time ]]; then
    "op_$sc" >"$IT_TMP/op.out" 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((n / 1000)) $((n % 1000)))"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" || rc=$?
    # A request dockerd or libvirtd already took finishes without its client.
    sleep 0.5
  else
    LTB_FAULT_KILL="$site:$n" "op_$sc" >"$IT_TMP/op.out" 2>&1 || rc=$?
  fi
  if ((rc == 137)); then
    killed=$((killed + 1))
  elif ((rc == 0 || rc == 124)); then
    finished=$((finished + 1)) # the point was not reached this time (or the capture timed out)
  else
    fail "[$sc $site:$n] the operation failed before its kill (exit $rc): $(tail -5 "$IT_TMP/op.out")"
  fi
  if declare -F "converge_$sc" >/dev/null; then
    "converge_$sc"
  elif ! ltb up "$final" >"$IT_TMP/conv.out" 2>&1; then
    fail "[$sc $site:$n seed $seed] ltb up does not converge after the kill: $(tail -8 "$IT_TMP/conv.out" | tr '\n' ';')"
  fi
  assert_converged "$final"
  hook "check_$sc"
  if ! ltb down --lab "$lab" >"$IT_TMP/down.out" 2>&1; then
    fail "[$sc $site:$n seed $seed] ltb down fails: $(tail -5 "$IT_TMP/down.out" | tr '\n' ';')"
  fi
  hook "after_$sc"
  assert_nothing_left
  survived=$((survived + 1))
}

# Counts the points of each scenario's operation (one traced, unkilled run each) and its duration.
declare -A duration_ms=()
all_points=()
count_points() {
  local sc trace start line
  for sc in "${scenarios[@]}"; do
    declare -F "op_$sc" >/dev/null || fail "no scenario $sc; there are: up_fresh up_edit up_drift down stop start snapshot_create snapshot_restore schedule_deploy capture"
    trace="$IT_TMP/trace.$sc"
    : >"$trace"
    "pre_$sc" >"$IT_TMP/pre.out" 2>&1 || fail "[$sc] the precondition failed: $(tail -5 "$IT_TMP/pre.out")"
    start=$(date +%s%N)
    LTB_FAULT_TRACE=$trace "op_$sc" >"$IT_TMP/op.out" 2>&1 || {
      local rc=$?
      ((rc == 124)) || fail "[$sc] the operation fails unkilled (exit $rc): $(tail -5 "$IT_TMP/op.out")"
    }
    duration_ms[$sc]=$((($(date +%s%N) - start) / 1000000))
    local final="final_$sc"
    ltb up "${!final}" >/dev/null 2>&1 || fail "[$sc] ltb up ${!final} fails after the traced run"
    hook "check_$sc"
    ltb down --lab "$lab" >/dev/null 2>&1 || fail "[$sc] ltb down fails after the traced run"
    hook "after_$sc"
    assert_nothing_left
    while read -r line; do
      all_points+=("$sc $line")
    done <"$trace"
    log "$sc: $(wc -l <"$trace") points ($(awk '{ print $1 }' "$trace" | sort | uniq -c | awk '{ printf "%s %s, ", $2, $1 }')in ${duration_ms[$sc]} ms)"
  done
}

if [[ -n $sample_file ]]; then
  # A copy: run the points it was given.
  mapfile -t sample <"$sample_file"
  run_sample "${sample[@]}"
  exit 0
fi

count_points
((${#all_points[@]} > 0)) || fail "the operations reached no fault point: is LTB_FAULT_TRACE honoured?"

# The sample: four in five from the counted points (without repeats while there are enough),
# the rest wall-clock kills; all drawn with the seed.
RANDOM=$seed
sample=()
mapfile -t shuffled < <(printf '%s\n' "${all_points[@]}" | shuf --random-source=<(openssl enc -aes-256-ctr -pass "pass:$seed" -nosalt -pbkdf2 </dev/zero 2>/dev/null))
timed=$((points / 5))
counted=$((points - timed))
for ((i = 0; i < counted; ++i)); do
  sample+=("${shuffled[i % ${#shuffled[@]}]}")
done
for ((i = 0; i < timed; ++i)); do
  sc=${scenarios[RANDOM % ${#scenarios[@]}]}
  delay=$(((RANDOM * 32768 + RANDOM) % (duration_ms[$sc] + 1)))
  sample+=("$sc time $delay")
done
if $list; then
  printf '%s\n' "${sample[@]}"
  exit 0
fi

log "running ${#sample[@]} points (seed $seed, $workers worker(s)) over ${#scenarios[@]} scenarios, ${#all_points[@]} points counted"
if ((workers == 1)); then
  run_sample "${sample[@]}"
else
  pids=()
  for ((w = 1; w <= workers; ++w)); do
    for ((i = w - 1; i < ${#sample[@]}; i += workers)); do
      echo "${sample[i]}"
    done >"$IT_TMP/sample.$w"
    echo "0 0 0" >"$IT_TMP/result.$w"
    bash "${BASH_SOURCE[0]}" --worker "$w" --seed "$seed" --scenarios "$(IFS=, && echo "${scenarios[*]}")" \
      --sample-file "$IT_TMP/sample.$w" --result-file "$IT_TMP/result.$w" &
    pids+=($!)
    track_pid "$!"
  done
  failed=0
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=$((failed + 1))
  done
  for ((w = 1; w <= workers; ++w)); do
    read -r s k f <"$IT_TMP/result.$w"
    survived=$((survived + s)) killed=$((killed + k)) finished=$((finished + f))
  done
  ((failed == 0)) || fail "$failed of $workers workers failed (see their FAIL lines above); $survived/${#sample[@]} points survived before that (seed $seed)"
fi
log "fault points survived: $survived/${#sample[@]} ($killed killed at the point, $finished finished before it; seed $seed)"
