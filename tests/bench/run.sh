#!/usr/bin/env bash
# ltb's deploy benchmark (`make bench`). Prints figures from one run on this machine and judges ltb
# by ratios against a floor measured in the same run (the Docker API driven directly, one thread per
# container), so a slow or busy machine moves both sides alike.
#
#   1. floor:          bench_floor creates, starts and removes 20 busybox containers on a fresh
#                      internal network (what ltb does for its management network)
#   2. docker-compose: the same 20 containers, `up -d` and `down`
#   3. ltb, 20 nodes:  a chain of 19 veth links plus an Open vSwitch segment of 5 nodes;
#                      `ltb up` / floor <= 1.1
#   4. ltb, 50 nodes:  a chain of 49 links; no-op `ltb up` < 0.1 s, `ltb status [LAB]` < 0.1 s
#   5. admission:      bench_admission admits new reservations beside 10,000 existing ones, pure
#                      and through a state file; each < 50 ms per new reservation
#   6. VMs:            4 kernel-boot VMs in linked pairs; (ltb up - virsh create of the same XML in
#                      parallel) / 4 < 0.5 s of ltb overhead per VM
#   7. ssh:            `ltb ssh NODE -- true` against `ssh -F <the lab's ssh_config> NODE true` to
#                      an FRR node, alternating, BENCH_SSH_RUNS each (default 15); ratio <= 1.2
#   8. capture:        tests/bench/bench_capture.sh: packets/s `ltb capture` writes under a UDP
#                      flood on a veth link, against tcpdump on the same interface; no drops where
#                      tcpdump has none (BENCH_CAPTURE_RATES, BENCH_CAPTURE_SECONDS)
#   9. scheduler:      tests/bench/schedule.sh: 20 reservations, one every 3 s, deployed and
#                      removed by one `ltb schedule run`; lateness (start to deploy start) median < 1 s
#  10. relay:          tests/bench/relay.sh: the userspace impairment relay's added latency (median
#                      ping RTT against a plain veth, < 0.5 ms) and its rate of 64-byte UDP packets
#                      against a plain veth (ratio >= 0.5), beside tc redirects
#  11. lifecycle:      tests/bench/lifecycle.sh: `ltb stop` / `ltb start` of 20 nodes against
#                      `docker stop` / `docker start` of 20 containers in parallel made as the
#                      nodes are (same image, on an internal network), each <= 1.2; the same
#                      without a network as a reference; restart of one node until its links
#                      carry traffic (a figure)
#  12. events:         tests/bench/events.sh: `docker kill` of a node to the "died" line of
#                      `ltb events`; median < 200 ms (BENCH_EVENTS_RUNS kills, default 7)
#  13. link set:       tests/bench/link_set.sh: `ltb link set` from its start to the new rate in
#                      the interface's qdisc, 20 times; median < 50 ms
#  14. snapshot:       tests/bench/snapshot.sh: `ltb snapshot create` of examples/frr-ospf.yaml
#                      against `docker commit` of its 5 containers in parallel (<= 1.3), its pause
#                      window (< 1 s), `ltb snapshot restore` against `docker rm -f` + `docker run`
#                      of the committed images in parallel (<= 1.3), and the snapshot's size
#                      against its images' (<= 0.1)
#  15. VM snapshot:    tests/bench/snapshot_vm.sh: `ltb snapshot create --memory` of 4 VMs against
#                      `virsh save` of the same domains in parallel (<= 1.3), and `ltb snapshot
#                      restore` against `virsh destroy` + `virsh restore` in parallel (<= 1.3)
#  16. daemon:         tests/bench/serve.sh: a user's commands through `ltb serve` against root's
#                      direct ones on the same 50-node lab: `ltb status` (overhead < 10 ms),
#                      `ltb exec NODE -- true` (<= 1.2), `ltb capture` under a flood (<= 1.2, no
#                      drops where direct has none)
#  17. web:            tests/bench/web.sh: `ltb serve --listen` with a bearer token: `GET
#                      /v1/labs/LAB` of a 50-node lab p99 < 20 ms (`GET /v1/version` the floor);
#                      100 web terminals typing at once, echo p99 < 50 ms (`docker exec` of the
#                      same shells the floor), the daemon's memory per terminal, their commands
#                      and shells gone after the grace; `GET /metrics` of 100 nodes median
#                      < 100 ms; the web UI's bundle sizes and time to interactive in headless
#                      Chromium (figures)
#
# Environment: LTB (the ltb binary; default the build directory's), LTB_BUILD_DIR (default
# build/), BENCH_RUNS (rounds whose median counts, default 3), BENCH_OUT (also write the figures
# there, tab-separated), BENCH_SUBNET (the floor's and compose's network; default the first /24
# from 172.31.250.0 down that no Docker network overlaps; ltb picks its own in 172.20.0.0/16),
# BENCH_LOGS (keep ltb's timestamped progress logs and the generated files there, for
# profiling), CI=true (a missing docker-compose is an error, not a notice: nothing may be skipped
# in CI), BENCH_DRY_ROWS (measure nothing: report the rows of that file, as BENCH_OUT writes
# them without its header, and end with their verdict; tests/bench/test_verdict.sh uses it).
# Exit status: 0 when every measurement ran and met its target; 2 when every measurement ran but
# a target was missed (every row is printed, MISS marks the misses, and the last line lists them:
# verdict.sh); 1 when something failed. Everything it creates is named ltbtest* and removed on
# exit.

set -uo pipefail
export LC_ALL=C # EPOCHREALTIME and awk must agree on the decimal point

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${LTB_BUILD_DIR:-$ROOT/build}
RUNS=${BENCH_RUNS:-3}
SUBNET=${BENCH_SUBNET:-}
IMAGE=ltb/busybox:latest
N=20
N_BIG=50
FLOOR_PREFIX=ltbtest-floor$$ # unique: dockerd can leave a network behind (see free_subnet)
COMPOSE_PROJECT=ltbtestbench
LAB20=ltbtest-bench20
LAB50=ltbtest-bench50
LABVM=ltbtest-benchvm
LABSSH=ltbtest-benchssh
SSH_RUNS=${BENCH_SSH_RUNS:-15}
N_VM=4
QUICK_RUNS=5

WORK=$(mktemp -d /tmp/ltbtest-bench.XXXXXX)
export LTB_STATE=$WORK/state.db
FLOOR=$BUILD_DIR/tests/bench/bench_floor
ADMISSION=$BUILD_DIR/tests/bench/bench_admission
COMPOSE_FILE=$WORK/docker-compose.yml

ROWS=()   # "measurement<TAB>seconds<TAB>ratio/target<TAB>result"
ERRORS=0

BENCH_NAME='bench'
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- cleanup -------------------------------------------------------------------------------------

# shellcheck disable=SC2317 # called by lib.sh's EXIT trap
cleanup() {
  if [[ -n ${BENCH_DRY_ROWS:-} ]]; then
    rm -rf "$WORK"
    return
  fi
  say "cleaning up"
  if [[ -x $FLOOR ]]; then
    "$FLOOR" remove "$FLOOR_PREFIX" "$N" >/dev/null 2>&1
  fi
  if [[ -f $COMPOSE_FILE ]] && command -v docker-compose >/dev/null; then
    docker-compose -f "$COMPOSE_FILE" -p "$COMPOSE_PROJECT" down -v --timeout 1 >/dev/null 2>&1
  fi
  for lab in "$LAB20" "$LAB50" "$LABVM" "$LABSSH"; do
    if [[ -n ${LTB_BIN:-} && -x $LTB_BIN ]]; then
      "$LTB_BIN" --quiet down --lab "$lab" >/dev/null 2>&1
    fi
    # Whatever ltb could not remove: by its labels and external_ids.
    local ids bridges
    mapfile -t ids < <(docker ps -aq --filter "label=ltb.lab=$lab" 2>/dev/null)
    ((${#ids[@]} == 0)) || docker rm -f "${ids[@]}" >/dev/null 2>&1
    mapfile -t ids < <(docker network ls -q --filter "label=ltb.lab=$lab" 2>/dev/null)
    ((${#ids[@]} == 0)) || docker network rm "${ids[@]}" >/dev/null 2>&1
    mapfile -t bridges < <(ovs-vsctl --bare --columns=name find bridge \
      "external_ids:ltb-lab=$lab" 2>/dev/null)
    for br in "${bridges[@]}"; do
      ovs-vsctl --if-exists del-br "$br" >/dev/null 2>&1
    done
  done
  rm -rf "$WORK"
}

# --- helpers -------------------------------------------------------------------------------------

# calc EXPR: floating-point arithmetic.
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }

# median V...: the middle value (the lower middle of an even count).

# timed LOG CMD...: runs CMD with stdout and stderr to LOG; sets T to its wall time in seconds.
T=0
timed() {
  local log=$1
  shift
  local start=$EPOCHREALTIME
  "$@" >"$log" 2>&1
  local rc=$?
  T=$(calc "$EPOCHREALTIME - $start")
  return $rc
}

# row NAME SECONDS [RATIO TARGET]: a table row; with a ratio, PASS when RATIO < or <= TARGET
# ("<=1.1", "<0.1").
row() {
  local name=$1 seconds=$2 ratio=${3:-} target=${4:-}
  if [[ -z $target ]]; then
    ROWS+=("$name	$seconds	${ratio:--}	-")
    return
  fi
  local op=${target%%[0-9]*} limit=${target##*[<=]}
  local pass
  pass=$(awk -v v="$ratio" -v l="$limit" -v op="$op" \
    'BEGIN { print ((op == "<=" ? v <= l : v < l) ? "PASS" : "MISS") }')
  ROWS+=("$name	$seconds	$ratio (target $target)	$pass")
}

# ltb_timed LOG ARGS...: `timed` ltb; fails the benchmark, showing the log, when ltb fails.
ltb_timed() {
  local log=$1
  shift
  if ! timed "$log" "$LTB_BIN" "$@"; then
    sed 's/^/  | /' "$log" >&2
    die "ltb $* failed (log above)"
  fi
}

# report: prints the table of every row (and BENCH_OUT, BENCH_LOGS), then exits: 1 when a check
# failed, else verdict.sh's status (2 when a target was missed).
floor_up=() floor_down=() compose_up=() compose_down=() ltb_up=() ltb_down=()
report() {
  {
    printf '\nltb benchmark, %s, %s cores, docker %s; medians of %s rounds (quick ones: %s)\n\n' \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nproc)" \
      "$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')" "$RUNS" "$QUICK_RUNS"
    printf '%-40s %9s  %-26s %s\n' MEASUREMENT SECONDS RATIO/TARGET RESULT
    for line in "${ROWS[@]}"; do
      IFS=$'\t' read -r name seconds ratio result <<<"$line"
      printf '%-40s %9s  %-26s %s\n' "$name" "$seconds" "$ratio" "$result"
    done
    printf '\nratios divide medians; per round: floor create %s; compose up %s; ltb up %s\n' \
      "${floor_up[*]:--}" "${compose_up[*]:--}" "${ltb_up[*]:--}"
  }
  if [[ -n ${BENCH_LOGS:-} ]]; then
    if ! mkdir -p "$BENCH_LOGS" || ! cp "$WORK"/*.log "$WORK"/*.y*ml "$BENCH_LOGS"/; then
      die "cannot copy the logs to $BENCH_LOGS"
    fi
    say "ltb's progress logs and the generated files are in $BENCH_LOGS"
  fi
  if [[ -n ${BENCH_OUT:-} ]]; then
    {
      printf 'measurement\tseconds\tratio_target\tresult\n'
      printf '%s\n' "${ROWS[@]}"
    } >"$BENCH_OUT" || die "cannot write $BENCH_OUT"
    say "figures written to $BENCH_OUT"
  fi
  if ((ERRORS > 0)); then
    die "$ERRORS check(s) failed (see above)"
  fi
  local verdict=0
  printf '%s\n' "${ROWS[@]}" | bash "$ROOT/tests/bench/verdict.sh" bench || verdict=$?
  exit "$verdict"
}

if [[ -n ${BENCH_DRY_ROWS:-} ]]; then
  mapfile -t ROWS <"$BENCH_DRY_ROWS" || die "cannot read $BENCH_DRY_ROWS"
  report
fi

# --- preconditions -------------------------------------------------------------------------------

docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
  die "dockerd does not answer on /var/run/docker.sock; run \`make services\`"
ovs-vsctl show >/dev/null 2>&1 || die "Open vSwitch does not answer; run \`make services\`"
docker image inspect "$IMAGE" >/dev/null 2>&1 ||
  die "image $IMAGE is missing; run \`make images\` (or bash scripts/build-images.sh)"

if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
  say "configuring $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$WORK/cmake.log" 2>&1 ||
    { cat "$WORK/cmake.log" >&2; die "cmake could not configure $BUILD_DIR"; }
fi
say "building ltb, bench_floor and bench_admission in $BUILD_DIR"
cmake --build "$BUILD_DIR" --target ltb bench_floor bench_admission -- -j2 >"$WORK/build.log" 2>&1 ||
  { tail -30 "$WORK/build.log" >&2; die "the build failed"; }
LTB_BIN=${LTB:-$BUILD_DIR/ltb}
[[ -x $LTB_BIN ]] || die "no ltb binary at $LTB_BIN"
say "ltb: $LTB_BIN ($("$LTB_BIN" --version 2>/dev/null)); state $LTB_STATE"

COMPOSE_OK=1
if ! command -v docker-compose >/dev/null; then
  COMPOSE_OK=0
  say "docker-compose is missing; install it (Debian's 1.29): apt-get install docker-compose"
  if [[ ${CI:-} == true ]]; then
    die "docker-compose is required in CI (nothing may be skipped)"
  fi
fi

# Leftovers of an interrupted earlier run would make the first measurement lie.
for lab in "$LAB20" "$LAB50"; do
  if [[ -n $(docker ps -aq --filter "label=ltb.lab=$lab") ]]; then
    say "removing lab $lab, left from an earlier run"
    "$LTB_BIN" --quiet down --lab "$lab" >&2 ||
      die "could not remove lab $lab; try: ltb down --lab $lab"
  fi
done

# free_subnet: the first 172.31.X.0/24 (X from 250 down) that overlaps no Docker network. Not a
# fixed one: dockerd 20.10 has been seen to keep a removed container's endpoint, after which its
# network cannot be removed until dockerd restarts ("has active endpoints"), holding the subnet.
free_subnet() {
  local ids used
  mapfile -t ids < <(docker network ls -q)
  used=$(docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' "${ids[@]}" |
    tr ' ' '\n' | grep -E '^[0-9.]+/[0-9]+$')
  awk -v used="$used" '
    function ip(a, p) { split(a, p, "."); return ((p[1] * 256 + p[2]) * 256 + p[3]) * 256 + p[4] }
    BEGIN {
      n = split(used, list, "\n")
      for (x = 250; x >= 16; x--) {
        lo = ip("172.31." x ".0"); hi = lo + 255; free = 1
        for (i = 1; i <= n; i++) {
          split(list[i], c, "/"); size = 2 ^ (32 - c[2]); start = int(ip(c[1]) / size) * size
          if (start <= hi && start + size - 1 >= lo) { free = 0; break }
        }
        if (free) { print "172.31." x ".0/24"; exit }
      }
      exit 1
    }'
}
if [[ -z $SUBNET ]]; then
  SUBNET=$(free_subnet) || die "no free 172.31.X.0/24 for the floor's network; set BENCH_SUBNET"
fi

# --- topology files ------------------------------------------------------------------------------

# chain_lab NAME COUNT BRIDGED...: nodes n1..nCOUNT linked n_i:eth1 <-> n_{i+1}:eth2; the nodes
# named in BRIDGED also join an ovs-bridge node sw on eth3.
chain_lab() {
  local name=$1 count=$2
  shift 2
  local bridged=("$@")
  printf '# Generated by tests/bench/run.sh.\nname: %s\n\ntopology:\n  nodes:\n' "$name"
  for ((i = 1; i <= count; i++)); do
    printf '    n%d:\n      kind: linux\n      image: %s\n' "$i" "$IMAGE"
  done
  if ((${#bridged[@]} > 0)); then
    printf '    sw:\n      kind: ovs-bridge\n'
  fi
  printf '  links:\n'
  for ((i = 1; i < count; i++)); do
    printf '    - endpoints: ["n%d:eth1", "n%d:eth2"]\n' "$i" $((i + 1))
  done
  local port=1
  for node in "${bridged[@]}"; do
    printf '    - endpoints: ["%s:eth3", "sw:p%d"]\n' "$node" "$port"
    port=$((port + 1))
  done
}

chain_lab "$LAB20" "$N" n4 n8 n12 n16 n20 >"$WORK/lab20.yaml"
chain_lab "$LAB50" "$N_BIG" >"$WORK/lab50.yaml"

# Privileges as ltb asks for them (runtime/docker/docker_json.cpp): privileged when this process
# holds every capability, else the capabilities it holds and no confinement (in a container
# without all capabilities `privileged: true` fails with "unable to apply caps").
compose_privileges() {
  local bounding last bit
  bounding=$((16#$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)))
  last=$(cat /proc/sys/kernel/cap_last_cap)
  local full=1
  for ((bit = 0; bit <= last; bit++)); do
    (((bounding >> bit) & 1)) || full=0
  done
  if ((full)); then
    printf '    privileged: true\n'
    return
  fi
  local names=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
    LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE
    SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME
    SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG
    WAKE_ALARM BLOCK_SUSPEND AUDIT_READ)
  printf '    cap_add:\n'
  for ((bit = 0; bit < ${#names[@]} && bit <= last; bit++)); do
    if (((bounding >> bit) & 1)); then
      printf '      - %s\n' "${names[bit]}"
    fi
  done
  printf '    security_opt:\n      - seccomp:unconfined\n      - apparmor:unconfined\n'
  printf '      - label:disable\n'
}
privileges=$(compose_privileges)
gateway=$(awk -F'[./]' '{ printf "%s.%s.%s.%d", $1, $2, $3, $4 + 1 }' <<<"$SUBNET")
{
  printf '# Generated by tests/bench/run.sh.\nversion: "2.4"\nservices:\n'
  for ((i = 1; i <= N; i++)); do
    ip=$(awk -F'[./]' -v i="$i" '{ printf "%s.%s.%s.%d", $1, $2, $3, $4 + 1 + i }' <<<"$SUBNET")
    printf '  n%d:\n    image: %s\n    hostname: n%d\n%s\n' "$i" "$IMAGE" "$i" "$privileges"
    printf '    networks:\n      mgmt:\n        ipv4_address: %s\n' "$ip"
  done
  printf 'networks:\n  mgmt:\n    internal: true\n    ipam:\n      config:\n'
  printf '        - subnet: %s\n          gateway: %s\n' "$SUBNET" "$gateway"
} >"$COMPOSE_FILE"

# --- 1-3. floor, docker-compose, ltb (20 nodes) --------------------------------------------------

# check_lab LAB NODES PORTS: the lab ltb reported up really runs (a broken deploy measures nothing).
check_lab() {
  local lab=$1 nodes=$2 ports=$3 running bridge got=0
  running=$(docker ps -q --filter "label=ltb.lab=$lab" --filter status=running | wc -l)
  ((running == nodes)) || die "lab $lab: $running of $nodes containers run after ltb up"
  if ((ports > 0)); then
    bridge=$(ovs-vsctl --bare --columns=name find bridge "external_ids:ltb-lab=$lab")
    [[ -n $bridge ]] && got=$(ovs-vsctl list-ports "$bridge" | wc -l)
    ((got == ports)) || die "lab $lab: its Open vSwitch bridge has $got of $ports ports after up"
  fi
}

# The three run in turn within each round, so that a change in the machine's load (it may be
# shared) touches all of them alike.
say "$RUNS rounds of: floor (API, $N containers), docker-compose ($N), ltb ($LAB20: $N nodes," \
  "$((N - 1)) veth links, an OVS segment of 5)"
for ((r = 1; r <= RUNS; r++)); do
  out=$("$FLOOR" create "$N" "$IMAGE" "$FLOOR_PREFIX" "$SUBNET") || die "bench_floor create failed"
  floor_up+=("$out")
  out=$("$FLOOR" remove "$FLOOR_PREFIX" "$N") || die "bench_floor remove failed"
  floor_down+=("$out")
  compose=""
  if ((COMPOSE_OK)); then
    timed "$WORK/compose-up.log" docker-compose -f "$COMPOSE_FILE" -p "$COMPOSE_PROJECT" up -d ||
      { cat "$WORK/compose-up.log" >&2; die "docker-compose up failed"; }
    compose_up+=("$T")
    timed "$WORK/compose-down.log" docker-compose -f "$COMPOSE_FILE" -p "$COMPOSE_PROJECT" \
      down -v --timeout 1 ||
      { cat "$WORK/compose-down.log" >&2; die "docker-compose down failed"; }
    compose_down+=("$T")
    compose=", compose up ${compose_up[-1]} down ${compose_down[-1]}"
  fi
  ltb_timed "$WORK/lab20-up-$r.log" up "$WORK/lab20.yaml"
  ltb_up+=("$T")
  check_lab "$LAB20" "$N" 5
  ltb_timed "$WORK/lab20-down-$r.log" down --lab "$LAB20"
  ltb_down+=("$T")
  say "  round $r: floor create ${floor_up[-1]} remove ${floor_down[-1]}$compose," \
    "ltb up ${ltb_up[-1]} down ${ltb_down[-1]} (seconds)"
done
FLOOR_UP=$(median "${floor_up[@]}")
FLOOR_DOWN=$(median "${floor_down[@]}")
row "floor: create+start $N (API)" "$FLOOR_UP"
row "floor: remove $N (API)" "$FLOOR_DOWN"
COMPOSE_UP=""
if ((COMPOSE_OK)); then
  COMPOSE_UP=$(median "${compose_up[@]}")
  row "docker-compose up -d ($N)" "$COMPOSE_UP"
  row "docker-compose down ($N)" "$(median "${compose_down[@]}")"
else
  row "docker-compose up -d ($N)" "missing" "apt-get install docker-compose"
fi
LTB_UP=$(median "${ltb_up[@]}")
LTB_DOWN=$(median "${ltb_down[@]}")
row "ltb up ($N nodes, 24 links) / floor" "$LTB_UP" "$(calc "$LTB_UP / $FLOOR_UP")" "<=1.1"
if [[ -n $COMPOSE_UP ]]; then
  row "ltb up / docker-compose up" "$LTB_UP" "$(calc "$LTB_UP / $COMPOSE_UP")"
fi
row "ltb down ($N nodes) / floor remove" "$LTB_DOWN" "$(calc "$LTB_DOWN / $FLOOR_DOWN")"

# --- 4. ltb, 50 nodes ----------------------------------------------------------------------------

say "ltb: $LAB50 ($N_BIG nodes, $((N_BIG - 1)) links): up, then $QUICK_RUNS x no-op up / status"
ltb_timed "$WORK/lab50-up.log" up "$WORK/lab50.yaml"
row "ltb up ($N_BIG nodes, $((N_BIG - 1)) links)" "$T"
check_lab "$LAB50" "$N_BIG" 0
noop=() status_all=() status_lab=()
for ((r = 1; r <= QUICK_RUNS; r++)); do
  ltb_timed "$WORK/lab50-noop.log" up "$WORK/lab50.yaml"
  if ! grep -q 'nothing to do' "$WORK/lab50-noop.log"; then
    ERRORS=$((ERRORS + 1))
    say "a second ltb up was not a no-op: $(head -3 "$WORK/lab50-noop.log")"
  fi
  noop+=("$T")
  ltb_timed "$WORK/status.log" status
  status_all+=("$T")
  ltb_timed "$WORK/status-lab.log" status "$LAB50"
  status_lab+=("$T")
done
NOOP=$(median "${noop[@]}")
row "ltb up, no change ($N_BIG nodes)" "$NOOP" "$NOOP" "<0.1"
v=$(median "${status_all[@]}")
row "ltb status" "$v" "$v" "<0.1"
v=$(median "${status_lab[@]}")
row "ltb status LAB ($N_BIG nodes)" "$v" "$v" "<0.1"
ltb_timed "$WORK/lab50-down.log" down --lab "$LAB50"
row "ltb down ($N_BIG nodes)" "$T"

# --- 5. admission with 10,000 reservations ------------------------------------------------------

say "admission: new reservations beside 10,000 existing ones (pure, and through a state file)"
"$ADMISSION" 10000 200 >"$WORK/admission.log" 2>&1 ||
  { cat "$WORK/admission.log" >&2; die "bench_admission failed"; }
grep -v '_ms=' "$WORK/admission.log" | sed 's/^/  | /' >&2
pure_ms=$(sed -nE 's/^pure_ms=([0-9.]+) .*/\1/p' "$WORK/admission.log")
state_ms=$(sed -nE 's/.* state_ms=([0-9.]+)$/\1/p' "$WORK/admission.log")
[[ -n $pure_ms && -n $state_ms ]] || die "bench_admission printed no figures"
row "admission, 10k reservations (pure) / 50 ms" "$(calc "$pure_ms / 1000")" \
  "$(calc "$pure_ms / 50")" "<1"
row "admission, 10k (state file) / 50 ms" "$(calc "$state_ms / 1000")" \
  "$(calc "$state_ms / 50")" "<1"

# --- 6. VMs: ltb's overhead per VM against virsh create of the same domain XML -------------------

# A lab of N_VM kernel-boot VMs (the ltb-vm image, software emulation) in pairs joined by
# point-to-point links. ltb's time is `ltb up` (network, DHCP server, overlays, taps, domains,
# redirects) until it returns, when every domain runs; the floor is `virsh create` of the very
# domain XML ltb made, all at once in parallel, with the taps and the network already there. The
# difference per VM is ltb's own overhead (guest boot excluded on both sides: a domain counts as
# started when libvirt says it runs).
say "VMs: $LABVM ($N_VM VMs in $((N_VM / 2)) linked pairs): ltb up vs virsh create of the same XML"
IMAGES=${LTB_IMAGES:-/var/lib/ltb/images}
[[ -f $IMAGES/ltb-vm/image.json ]] || die "VM image ltb-vm is missing (scripts/build-images.sh)"
virsh -c qemu:///system version >/dev/null 2>&1 || die "libvirtd does not answer (make services)"
{
  printf 'name: %s\ntopology:\n  defaults:\n    accel: qemu\n  nodes:\n' "$LABVM"
  for ((i = 1; i <= N_VM; i++)); do
    printf '    vm%d:\n      kind: vm\n' "$i"
  done
  printf '  links:\n'
  for ((i = 1; i < N_VM; i += 2)); do
    printf '    - endpoints: ["vm%d:eth1", "vm%d:eth1"]\n' "$i" "$((i + 1))"
  done
} >"$WORK/labvm.yaml"
vm_ltb=() vm_floor=()
for ((r = 1; r <= RUNS; r++)); do
  ltb_timed "$WORK/labvm-up-$r.log" up "$WORK/labvm.yaml"
  vm_ltb+=("$T")
  for ((i = 1; i <= N_VM; i++)); do
    dom=ltb-$LABVM-vm$i
    [[ $(virsh -c qemu:///system domstate "$dom" 2>/dev/null) == running* ]] ||
      die "ltb up returned but $dom is not running"
    virsh -c qemu:///system dumpxml "$dom" >"$WORK/vm$i.xml" || die "cannot dump $dom's XML"
    virsh -c qemu:///system destroy "$dom" >/dev/null || die "cannot destroy $dom"
  done
  start=$EPOCHREALTIME
  pids=()
  for ((i = 1; i <= N_VM; i++)); do
    virsh -c qemu:///system create "$WORK/vm$i.xml" >"$WORK/virsh-$i.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || { cat "$WORK"/virsh-*.log >&2; die "virsh create failed"; }
  done
  vm_floor+=("$(calc "$EPOCHREALTIME - $start")")
  ltb_timed "$WORK/labvm-down-$r.log" down --lab "$LABVM"
  say "  round $r: ltb up ${vm_ltb[-1]}, virsh create x$N_VM in parallel ${vm_floor[-1]} (seconds)"
done
VM_LTB=$(median "${vm_ltb[@]}")
VM_FLOOR=$(median "${vm_floor[@]}")
row "floor: virsh create $N_VM VMs (parallel)" "$VM_FLOOR"
row "ltb up ($N_VM VMs)" "$VM_LTB"
row "ltb overhead per VM (s)" "$(calc "($VM_LTB - $VM_FLOOR) / $N_VM")" \
  "$(calc "($VM_LTB - $VM_FLOOR) / $N_VM")" "<0.5"
row "ltb up ($N_VM VMs) / floor" "$VM_LTB" "$(calc "$VM_LTB / $VM_FLOOR")"

# --- 7. ltb ssh against OpenSSH ------------------------------------------------------------------

# One FRR node (sshd, the lab's key installed by ltb up). Both clients log in with the lab's key and
# check the host key against the lab's known_hosts; both start a process per login. They alternate,
# so that a change in the machine's load touches both alike.
say "ssh: $LABSSH (one FRR node): $SSH_RUNS x \`ltb ssh n1 -- true\` and \`ssh -F ssh_config n1 true\`"
docker image inspect ltb/frr:latest >/dev/null 2>&1 ||
  die "image ltb/frr:latest is missing; run \`make images\`"
command -v ssh >/dev/null || die "the OpenSSH client is missing (apt-get install openssh-client)"
printf 'name: %s\ntopology:\n  nodes:\n    n1:\n      kind: frr\n' "$LABSSH" >"$WORK/labssh.yaml"
ltb_timed "$WORK/labssh-up.log" up "$WORK/labssh.yaml"
SSH_CONFIG=$(dirname "$LTB_STATE")/labs/$LABSSH/ssh_config
[[ -f $SSH_CONFIG ]] || die "ltb up wrote no $SSH_CONFIG"
ready=0
for ((i = 0; i < 60; i++)); do
  if "$LTB_BIN" ssh n1 -- true >"$WORK/ssh-ready.log" 2>&1; then
    ready=1
    break
  fi
  sleep 0.5
done
((ready)) || { cat "$WORK/ssh-ready.log" >&2; die "n1 does not answer ltb ssh"; }
# Both record the host key before the clock starts (OpenSSH adds it to known_hosts: accept-new).
ssh -F "$SSH_CONFIG" -o BatchMode=yes n1 true >"$WORK/ssh-warm.log" 2>&1 ||
  { cat "$WORK/ssh-warm.log" >&2; die "ssh -F $SSH_CONFIG n1 true failed"; }
ssh_ltb=() ssh_openssh=()
for ((r = 1; r <= SSH_RUNS; r++)); do
  ltb_timed "$WORK/ssh-ltb.log" ssh n1 -- true
  ssh_ltb+=("$T")
  timed "$WORK/ssh-openssh.log" ssh -F "$SSH_CONFIG" -o BatchMode=yes n1 true ||
    { cat "$WORK/ssh-openssh.log" >&2; die "ssh -F $SSH_CONFIG n1 true failed"; }
  ssh_openssh+=("$T")
done
SSH_LTB=$(median "${ssh_ltb[@]}")
SSH_OPENSSH=$(median "${ssh_openssh[@]}")
row "ssh -F ssh_config NODE true" "$SSH_OPENSSH"
row "ltb ssh NODE -- true / ssh -F" "$SSH_LTB" "$(calc "$SSH_LTB / $SSH_OPENSSH")" "<=1.2"
ltb_timed "$WORK/labssh-down.log" down --lab "$LABSSH"

# bench_script NAME SCRIPT WHAT: runs tests/bench/SCRIPT (log in $WORK/NAME.log); its rows join
# the table. Exit status 2 is a measurement with a missed target (the rows say which; counted in
# the verdict); any other failure stops the run with the script's log.
bench_script() {
  local name=$1 script=$2 what=$3 rc=0 rows
  say "$what ($script)"
  LTB=$LTB_BIN BENCH_RUNS=$RUNS BENCH_OUT=$WORK/$name.rows bash "$ROOT/tests/bench/$script" \
    >"$WORK/$name.log" 2>&1 || rc=$?
  if ((rc != 0 && rc != 2)); then
    sed 's/^/  | /' "$WORK/$name.log" >&2
    die "the $name benchmark failed (log above)"
  fi
  mapfile -t rows <"$WORK/$name.rows"
  ROWS+=("${rows[@]}")
}

# --- 8. ltb capture against tcpdump under a flood ----------------------------------------------

bench_script capture bench_capture.sh "ltb capture: packets/s under a UDP flood on a veth link, against tcpdump"

# --- 9. the scheduler's lateness ---------------------------------------------------------------

bench_script schedule schedule.sh "ltb schedule: lateness (event time to deploy start) over 20 reservations"

# --- 10. the impairment relay's cost -----------------------------------------------------------

bench_script relay relay.sh "ltb relay: added latency and packet rate against a plain veth"

# --- 11. ltb stop / start / restart ------------------------------------------------------------

bench_script lifecycle lifecycle.sh "ltb stop/start of 20 nodes against docker stop/start in parallel; restart of one"

# --- 12. ltb events: delay of a container's death ----------------------------------------------

bench_script events events.sh "ltb events: docker kill to the 'died' line"

# --- 13. ltb link set latency ------------------------------------------------------------------

bench_script link_set link_set.sh "ltb link set: command start to the change visible on the link"

# --- 14. ltb snapshot create / restore -----------------------------------------------------------

bench_script snapshot snapshot.sh "ltb snapshot: create and restore of frr-ospf against docker commit / rm + run"

# --- 15. ltb snapshot of VMs with memory ---------------------------------------------------------

bench_script snapshot_vm snapshot_vm.sh "ltb snapshot --memory: create and restore of 4 VMs against virsh save / restore"

# --- 16. ltb serve: through the daemon against direct -------------------------------------------

bench_script serve serve.sh "ltb serve: a user's status, exec and capture through the daemon against root's direct ones"

# --- 17. ltb serve --listen: the API, web terminals, /metrics, the web UI -----------------------

bench_script web web.sh "ltb serve --listen: API latency, 100 web terminals, /metrics, the web UI's first load"

# --- report --------------------------------------------------------------------------------------

report
