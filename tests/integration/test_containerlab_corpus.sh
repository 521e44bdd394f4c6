#!/usr/bin/env bash
# Every containerlab file of the corpus (tests/data/containerlab/*.clab.yml) deployed as it is
# but for its `name:` (issue 14, "containerlab files run unchanged"), against the outcome the
# table below expects of it:
#   deploys                    comes up; every node the file lists runs (ltb status, docker)
#   deploys-with-prerequisite  the same, once what the file needs from the host is made here
#                              (the ext-container's container, the macvlans' parent, the
#                              existing Docker network), which `ltb down` must leave
#   kernel                     needs a kernel feature: deploys where `ip link add ... type
#                              dummy` works, else ltb says "this kernel has no dummy interfaces"
#   image-unavailable          a vendor image nobody can pull here: ltb up fails naming it
#   refused                    a located error (file:line:col, the line, a caret, help)
#   needs-disk                 a VM whose qcow2 is not in the repository: a located error
# Whatever happened, `ltb down` leaves nothing of the lab (lib.sh's lab_leftovers, and any host
# interface, Docker network or container named in the file that was not there before); a
# refused file makes nothing at all. A corpus file missing from the table fails the test. The
# last line sums up what happened; the test fails naming each file whose outcome differs.
# Nothing leaves the machine: the vxlan files' remote is 127.0.0.2, ports.clab.yml publishes on
# 127.0.0.1, the macvlans' parent is a veth pair made here.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
command -v ip >/dev/null || fail "ip is missing (iproute2)"

corpus="$LTB_SOURCE_DIR/tests/data/containerlab"

declare -A expect=(
  [bridge.clab.yml]=deploys
  [cmd-shell.clab.yml]=deploys
  [container-options.clab.yml]=deploys
  [empty-nodes.clab.yml]=deploys
  [env-vars.clab.yml]=deploys
  [exec-failure.clab.yml]=deploys
  [extended-host-link.clab.yml]=deploys
  [group-defaults.clab.yml]=deploys
  [group-labels.clab.yml]=deploys
  [healthcheck.clab.yml]=deploys
  [host-kind.clab.yml]=deploys
  [host-link.clab.yml]=deploys
  [mgmt-default-subnet.clab.yml]=deploys
  [mgmt-gateway.clab.yml]=deploys
  [mgmt-net-link.clab.yml]=deploys
  [mgmt-network-bridge.clab.yml]=deploys
  [network-mode.clab.yml]=deploys
  [ports.clab.yml]=deploys
  [ports-isolated.clab.yml]=deploys
  [prefix.clab.yml]=deploys
  [vxlan-stitch.clab.yml]=deploys
  [vxlan.clab.yml]=deploys
  [wait-for.clab.yml]=deploys
  [ext-container.clab.yml]=deploys-with-prerequisite
  [macvlan.clab.yml]=deploys-with-prerequisite
  [mgmt-network-existing.clab.yml]=deploys-with-prerequisite
  [dummy.clab.yml]=kernel
  [ceos.clab.yml]=image-unavailable
  [crpd.clab.yml]=image-unavailable
  [sonic-vs.clab.yml]=image-unavailable
  [srl.clab.yml]=image-unavailable
  [unsupported-user.clab.yml]=refused
  [vr-sros-image.clab.yml]=refused
  [vr-sros.clab.yml]=needs-disk
)
# Where a located error must point: the text at its line and column.
declare -A points_at=(
  [unsupported-user.clab.yml]="user:"
  [vr-sros-image.clab.yml]="vrnetlab/nokia_sros"
  [vr-sros.clab.yml]="sros-vm.qcow2"
)
readonly k_categories=(deploys deploys-with-prerequisite kernel image-unavailable refused needs-disk)

files=()
for path in "$corpus"/*.clab.yml; do
  files+=("$(basename "$path")")
done
((${#files[@]} > 0)) || fail "no corpus files in $corpus"
for file in "${files[@]}"; do
  [[ -n ${expect[$file]:-} ]] || fail "add an expectation for $file to the table of $IT_NAME.sh"
done
for file in "${!expect[@]}"; do
  [[ -e $corpus/$file ]] || fail "the table expects $file, which is not in $corpus"
done

# The files' variables take their defaults, whatever the caller's environment holds.
unset ALPINE_VERSION HOST_LINK CLAB_CORPUS_LAB CLAB_CORPUS_ROLE

# 18 files name alpine:3 and env-vars.clab.yml gets it by default; nothing can be pulled here
# (no registry). Where alpine:3 is missing, the busybox image stands in under that name for this
# test, and the tag is removed at the end, only if this test made it and it still names the
# busybox image; an alpine:3 that exists is used and never overwritten.
if ! docker image inspect alpine:3 >/dev/null 2>&1; then
  docker tag "$k_busybox" alpine:3
  busybox_id=$(docker image inspect -f '{{.Id}}' "$k_busybox")
  on_cleanup "[[ \$(docker image inspect -f '{{.Id}}' alpine:3 2>/dev/null) != $busybox_id ]] || docker rmi alpine:3 >/dev/null"
  log "alpine:3 is $k_busybox for this test (tagged here, untagged at the end)"
fi

# The corpus files under this test's lab names, with their side files (env-files), in $IT_TMP.
find "$corpus" -maxdepth 1 -type f ! -name '*.clab.yml' -exec cp {} "$IT_TMP/" \;

# dummy.clab.yml deploys where the kernel makes dummy interfaces; elsewhere ltb up fails saying so.
if ip link add "ltbcdum$$" type dummy 2>/dev/null; then
  ip link del "ltbcdum$$"
  kernel_has_dummy=yes
else
  kernel_has_dummy=no
fi
log "this kernel makes dummy interfaces: $kernel_has_dummy"

# --- prerequisites: what a file needs from the host, made here as its user would ---------------
ext_name=external-node1               # ext-container.clab.yml's node: a container of that name
export MACVLAN_PARENT=ltbcmv$$        # macvlan.clab.yml's parent (its ${MACVLAN_PARENT:=...})
users_net=clab-users                  # mgmt-network-existing.clab.yml's network, and its subnet
users_subnet=172.100.100.0/24         # (containerlab's example: docker network create ...)

prepare() {
  case $1 in
  ext-container.clab.yml)
    if docker inspect "$ext_name" >/dev/null 2>&1; then
      [[ $(docker inspect -f '{{index .Config.Labels "ltbtest.corpus"}}' "$ext_name") == yes ]] ||
        fail "a container named $ext_name exists that this test did not make; remove it first"
      docker rm -f "$ext_name" >/dev/null
    fi
    on_cleanup "docker rm -f $ext_name >/dev/null 2>&1 || true"
    # NET_ADMIN: the file's exec command configures its eth1.
    docker run -d --name "$ext_name" --label ltbtest.corpus=yes --network none --cap-add NET_ADMIN \
      "$k_busybox" sleep 3600 >/dev/null
    ;;
  macvlan.clab.yml)
    on_cleanup "ip link del $MACVLAN_PARENT 2>/dev/null || true"
    ip link add "$MACVLAN_PARENT" type veth peer name "ltbcmw$$"
    ip link set "ltbcmw$$" up
    ip link set "$MACVLAN_PARENT" up
    ;;
  mgmt-network-existing.clab.yml)
    if docker network inspect "$users_net" >/dev/null 2>&1; then
      log "Docker network $users_net exists: the lab joins it, and this test leaves it"
    else
      on_cleanup "docker network rm $users_net >/dev/null 2>&1 || true"
      docker network create --subnet "$users_subnet" --label ltbtest.corpus=yes "$users_net" >/dev/null
    fi
    ;;
  *) return 1 ;;
  esac
}

# after_up FILE LAB: what a prerequisite's file does beyond its nodes running; prints problems.
after_up() {
  case $1 in
  ext-container.clab.yml)
    docker exec "$ext_name" ip -o addr show eth1 2>&1 | grep -q '192\.168\.0\.1/24' ||
      echo "the ext-container $ext_name did not get eth1 with 192.168.0.1/24 (its exec)"
    ;;
  esac
}

# after_down FILE: what `ltb down` must leave of the prerequisites; prints problems.
after_down() {
  case $1 in
  ext-container.clab.yml)
    [[ $(docker inspect -f '{{.State.Running}}' "$ext_name" 2>&1) == true ]] ||
      echo "the ext-container $ext_name is not running after ltb down"
    docker exec "$ext_name" ip link show eth1 >/dev/null 2>&1 && echo "$ext_name still has eth1 after ltb down"
    ;;
  macvlan.clab.yml)
    ip link show "$MACVLAN_PARENT" >/dev/null 2>&1 || echo "the macvlans' parent $MACVLAN_PARENT was removed"
    ;;
  mgmt-network-existing.clab.yml)
    docker network inspect "$users_net" >/dev/null 2>&1 || echo "the existing network $users_net was removed"
    ;;
  esac
  return 0
}

# --- checks ----------------------------------------------------------------------------------

# The node names the file lists under topology.nodes (two-space indentation, as the corpus is
# written), read without ltb.
file_nodes() {
  awk '
    /^topology:/ { topo = 1; next }
    topo && /^[^ #]/ { topo = 0; nodes = 0 }
    topo && /^  nodes:/ { nodes = 1; next }
    nodes && /^  [^ #]/ { nodes = 0 }
    nodes && match($0, /^    [A-Za-z0-9_.-]+:/) { print substr($0, 5, RLENGTH - 5) }
  ' "$1"
}

# Host interfaces, Docker networks and containers by name, one a line.
host_names() {
  ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'
  docker network ls --format '{{.Name}}'
  docker ps -a --format '{{.Names}}'
}

# named_leftovers COPY BEFORE: names that are here now, were not in BEFORE (a file of
# host_names) and that the file names outside its comments.
named_leftovers() {
  local name
  sed 's/#.*//' "$1" | grep -oE '[A-Za-z0-9_.-]+' | LC_ALL=C sort -u >"$IT_TMP/tokens"
  host_names | LC_ALL=C sort -u | LC_ALL=C comm -23 - "$2" | LC_ALL=C comm -12 - "$IT_TMP/tokens" |
    while read -r name; do echo "'$name' (named in the file) is left"; done
}

# check_running LAB COPY: every node the file lists runs, seen from outside; prints problems.
check_running() {
  local lab=$1 copy=$2 json graph node kind state want_id id containers=0 n_labelled
  json=$(ltb status "$lab" --format json 2>&1) || {
    echo "ltb status $lab --format json failed: $json"
    return
  }
  [[ $(jq -r '.status' <<<"$json") == running ]] || echo "ltb status says the lab is $(jq -r '.status' <<<"$json")"
  graph=$(ltb graph "$copy" --format json 2>/dev/null) || graph='{"nodes": []}'
  local listed
  listed=$(file_nodes "$copy")
  [[ -n $listed ]] || echo "no nodes read from the file's topology.nodes"
  for node in $listed; do
    kind=$(jq -r --arg n "$node" '.nodes[] | select(.name == $n) | .kind' <<<"$json")
    if [[ -z $kind ]]; then
      # The host runs nothing of ltb's, and ltb records no node for it.
      [[ $(jq -r --arg n "$node" '.nodes[] | select(.name == $n) | .kind' <<<"$graph") == host ]] ||
        echo "node $node is not in ltb status"
      continue
    fi
    state=$(jq -r --arg n "$node" '.nodes[] | select(.name == $n) | .state' <<<"$json")
    [[ $state == running ]] || echo "ltb status says node $node is $state"
    case $kind in
    bridge)
      ip -d link show "$node" 2>/dev/null | grep -q ' bridge ' || echo "bridge $node is not a Linux bridge on the host"
      ;;
    ovs-bridge)
      ovs-vsctl br-exists "$node" || echo "OVS bridge $node does not exist"
      ;;
    ext-container)
      [[ $(docker inspect -f '{{.State.Running}}' "$node" 2>&1) == true ]] ||
        echo "the ext-container $node is not running"
      ;;
    *)
      containers=$((containers + 1))
      want_id=$(jq -r --arg n "$node" '.nodes[] | select(.name == $n) | .runtime_id' <<<"$json")
      # By the recorded id: the container's name depends on the file's prefix.
      id=$(docker inspect -f '{{.Id}} {{.State.Status}} {{index .Config.Labels "ltb.node"}}' "$want_id" 2>&1) ||
        id="none ($id)"
      [[ $id == "$want_id running $node" ]] ||
        echo "node $node: docker has '$id' for the recorded id $want_id, not it running as node $node"
      ;;
    esac
  done
  n_labelled=$(count_containers "$lab")
  ((n_labelled == containers)) ||
    echo "$containers container nodes listed, but docker has $n_labelled containers labelled with the lab"
}

# located_error COPY ERR TOKEN: ERR's first error is at a place of COPY: "FILE:LINE:COL: error:",
# then that line of the file, a caret under COL, a help: line; the text there starts with
# TOKEN (when given). Prints problems.
located_error() {
  local copy=$1 err=$2 token=$3 first line col src
  first=$(grep -m1 ': error: ' "$err" || true)
  if ! [[ $first =~ ^(.*):([0-9]+):([0-9]+):\ error:\ .+ ]]; then
    echo "the error is not located (FILE:LINE:COL: error: ...): $(head -1 "$err")"
    return
  fi
  line=${BASH_REMATCH[2]} col=${BASH_REMATCH[3]}
  [[ ${BASH_REMATCH[1]} == "$copy" || ${BASH_REMATCH[1]} == "$(basename "$copy")" ]] ||
    echo "the error names ${BASH_REMATCH[1]}, not $copy"
  src=$(sed -n "${line}p" "$copy")
  grep -qxF -- "$(printf '%5d | %s' "$line" "$src")" "$err" || echo "the error does not quote line $line: '$src'"
  grep -qxE -- " +\| {$col}\^" "$err" || echo "no caret under column $col"
  grep -q '^help: ' "$err" || echo "no help: line"
  [[ -z $token || ${src:col-1} == "$token"* ]] || echo "the error points at '${src:col-1}', not at '$token'"
}

# The outcome of a failed `ltb up` of COPY (exit RC, stderr in ERR).
failed_outcome() {
  local copy=$1 rc=$2 err=$3
  if grep -q 'this kernel has no dummy interfaces' "$err"; then
    echo no-dummy-interfaces
  elif ((rc == 2)) && grep -Eq "^[^ ]+:[0-9]+:[0-9]+: error: base disk '[^']+' of node '[^']+' does not exist" "$err"; then
    echo needs-disk
  elif ((rc == 2)) && grep -Eq '^[^ ]+:[0-9]+:[0-9]+: error: ' "$err"; then
    echo refused
  elif grep -Eq "image '[^']+' (of nodes? '.*' )?is not available" "$err"; then
    echo image-unavailable
  else
    echo "failed (exit $rc)"
  fi
}

# --- one file --------------------------------------------------------------------------------
declare -A got=() problems=() seconds=() lab_of=()

# run_file FILE N: deploys FILE as lab ltbtest-corpus-N, checks it, brings it down; records what
# happened in got[FILE] and problems[FILE].
run_file() {
  local file=$1 lab=ltbtest-corpus-$2 copy=$IT_TMP/$1 rc=0 out err t0 msg
  local -a bad=()
  t0=$(date +%s%N)
  lab_of[$file]=$lab
  out=$IT_TMP/$lab.out err=$IT_TMP/$lab.err
  sed "s|^name: .*|name: $lab|" "$corpus/$file" >"$copy"
  grep -qx "name: $lab" "$copy" || bad+=("the file has no top-level 'name:' line to give this test's lab name")
  host_names | LC_ALL=C sort -u >"$IT_TMP/$lab.before"
  track_lab "$lab"
  ltb up "$copy" >"$out" 2>"$err" || rc=$?
  if ((rc == 0)); then
    got[$file]=deployed
    while IFS= read -r msg; do bad+=("$msg"); done < <(check_running "$lab" "$copy"; after_up "$file" "$lab")
  else
    got[$file]=$(failed_outcome "$copy" "$rc" "$err")
    case ${got[$file]} in
    refused | needs-disk)
      while IFS= read -r msg; do bad+=("$msg"); done < <(located_error "$copy" "$err" "${points_at[$file]:-}")
      # Refused before anything is made: nothing to bring down.
      while IFS= read -r msg; do bad+=("refused, yet made: $msg"); done < <(lab_leftovers "$lab")
      ;;
    image-unavailable)
      local image
      image=$(grep -oE -m1 "image '[^']+' (of nodes? '.*' )?is not available" "$err" | cut -d"'" -f2)
      grep -qF -- "$image" "$copy" || bad+=("the missing image '$image' is not one the file names")
      docker image inspect "$image" >/dev/null 2>&1 && bad+=("image '$image' is here, yet ltb says it is not available")
      ;;
    esac
  fi
  if ! ltb --quiet down --lab "$lab" >"$IT_TMP/$lab.down" 2>&1; then
    bad+=("ltb down --lab $lab failed: $(cat "$IT_TMP/$lab.down")")
  fi
  while IFS= read -r msg; do bad+=("after ltb down: $msg"); done < <(lab_leftovers "$lab"; named_leftovers "$copy" "$IT_TMP/$lab.before"; after_down "$file")
  problems[$file]=$(printf '%s\n' "${bad[@]}")
  problems[$file]=${problems[$file]%$'\n'}
  seconds[$file]=$((($(date +%s%N) - t0) / 1000000))
  log "$file: ${got[$file]} in $((seconds[$file] / 1000)).$(printf %03d $((seconds[$file] % 1000))) s${problems[$file]:+, problems: ${#bad[@]}}"
}

# What FILE's outcome must be here.
wanted() {
  case ${expect[$1]} in
  deploys | deploys-with-prerequisite) echo deployed ;;
  kernel) [[ $kernel_has_dummy == yes ]] && echo deployed || echo no-dummy-interfaces ;;
  *) echo "${expect[$1]}" ;;
  esac
}

# The prerequisites first, all of them: a conflict (a container of that name that is not this
# test's) fails the test before anything is deployed.
for file in "${files[@]}"; do
  if [[ ${expect[$file]} == deploys-with-prerequisite ]]; then
    prepare "$file" || fail "$file expects a prerequisite, but prepare() of $IT_NAME.sh does not make one"
  fi
done

# One file after another: about 2 min on a 2-core machine, so not worth batches, which would
# have to keep apart the files that name the same host interface (host-kind and mgmt-net-link:
# n1-eth1) and mgmt-default-subnet (172.20.20.0/24, which labs choosing their subnet at the same
# time could take first).
log "deploying ${#files[@]} corpus files, one after another"
n=0
for file in "${files[@]}"; do
  n=$((n + 1))
  run_file "$file" "$n"
done
IT_LABS=()

# --- summary ---------------------------------------------------------------------------------
declare -A total=() matched=()
runnable=0 runnable_deployed=0 mismatches=0
for file in "${files[@]}"; do
  category=${expect[$file]}
  total[$category]=$((${total[$category]:-0} + 1))
  if [[ ${got[$file]} == "$(wanted "$file")" && -z ${problems[$file]} ]]; then
    matched[$category]=$((${matched[$category]:-0} + 1))
  else
    mismatches=$((mismatches + 1))
    log "MISMATCH $file: expected $(wanted "$file") (${expect[$file]}), got ${got[$file]}${problems[$file]:+, with problems:}"
    if [[ -n ${problems[$file]} ]]; then
      while IFS= read -r msg; do printf '    %s\n' "$msg"; done <<<"${problems[$file]}" >&2
    fi
    log "  ltb up's stderr:"
    sed 's/^/    /' "$IT_TMP/${lab_of[$file]}.err" >&2
  fi
  case $category in
  deploys | deploys-with-prerequisite | kernel)
    runnable=$((runnable + 1))
    [[ ${got[$file]} == deployed && -z ${problems[$file]} ]] && runnable_deployed=$((runnable_deployed + 1))
    ;;
  esac
done
declare -A label=(
  [deploys]="deployed unchanged"
  [deploys-with-prerequisite]="with prerequisite"
  [kernel]="kernel feature as expected (dummy interfaces: $kernel_has_dummy)"
  [image-unavailable]="vendor image unavailable, failed naming it"
  [refused]="refused at their place"
  [needs-disk]="needing a VM disk, refused"
)
parts=()
for category in "${k_categories[@]}"; do
  ((${total[$category]:-0} > 0)) || continue
  parts+=("${label[$category]} ${matched[$category]:-0}/${total[$category]}")
done
summary="corpus: ${#files[@]} files; $(printf '%s, ' "${parts[@]}")"
summary="${summary%, }; runnable here that deployed: $runnable_deployed/$runnable"
log "$summary"
((mismatches == 0)) || fail "$mismatches of ${#files[@]} corpus files did not do what the table expects (see MISMATCH above)"
