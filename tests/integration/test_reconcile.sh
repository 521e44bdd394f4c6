#!/usr/bin/env bash
# `ltb up` applies only the difference between the file and what runs: unchanged file, an added
# link, a removed node, a changed node, a container removed by hand, and --dry-run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"

lab=it-reconcile
track_lab "$lab"
file="$IT_TMP/lab.yaml"

# write_topology [with-ac] [without-d] [b-env]: the lab's file in one of its variants.
write_topology() {
  local with_ac=0 without_d=0 b_env=0 opt
  for opt in "$@"; do
    case $opt in
    with-ac) with_ac=1 ;;
    without-d) without_d=1 ;;
    b-env) b_env=1 ;;
    *) fail "write_topology: unknown variant $opt" ;;
    esac
  done
  {
    cat <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.232.0/24
topology:
  kinds:
    linux:
      image: $k_busybox
  nodes:
    a:
      kind: linux
      exec:
        - ip addr add 10.232.1.1/30 dev eth1
    b:
      kind: linux
      exec:
        - ip addr add 10.232.1.2/30 dev eth1
EOF
    ((b_env)) && printf '      env:\n        FOO: "1"\n'
    cat <<EOF
    c:
      kind: linux
    sw:
      kind: ovs-bridge
EOF
    ((without_d)) || printf '    d:\n      kind: linux\n'
    cat <<EOF
  links:
    - endpoints: ["a:eth1", "b:eth1"]
    - endpoints: ["b:eth2", "c:eth1"]
    - endpoints: ["c:eth2", "sw:p1"]
EOF
    ((without_d)) || printf '    - endpoints: ["d:eth1", "sw:p2"]\n'
    ((with_ac)) && printf '    - endpoints: ["a:eth2", "c:eth3"]\n'
    return 0
  } >"$file"
}

# The lab's OVS ports, sorted, as "port owner" lines.
lab_ports() {
  ovs-vsctl --bare --columns=name,external_ids find Port "external_ids:ltb-lab=$lab" |
    sed '/^$/d' | paste -d ' ' - - | LC_ALL=C sort
}

# changed_nodes BEFORE AFTER: nodes whose container id differs, or that appear/disappear.
changed_nodes() {
  diff <(echo "$1") <(echo "$2") | awk '/^[<>]/ { print $2 }' | sort -u | paste -sd ' '
}

write_topology
expect_rc 0 ltb up "$file"
expect_output out "lab $lab is up: 5 nodes, 4 links"
assert_all_running "$lab"
assert_ifaces "$lab" a:eth1 b:eth1 b:eth2 c:eth1 c:eth2 d:eth1
[[ $(lab_ports | wc -l) -eq 2 ]] || fail "expected 2 OVS ports, got: $(lab_ports)"
retry 3 cexec "$lab" a ping -c 3 -W 2 10.232.1.2 >/dev/null || fail "a cannot ping b after up"
ids=$(container_ids "$lab")

log "(a) an unchanged file changes nothing"
expect_rc 0 ltb up "$file"
expect_output out "up to date"
[[ $(container_ids "$lab") == "$ids" ]] || fail "(a) unchanged up changed containers: $(changed_nodes "$ids" "$(container_ids "$lab")")"

log "(f) --dry-run prints the actions and changes nothing"
write_topology with-ac
ports=$(lab_ports)
expect_rc 0 ltb up "$file" --dry-run
expect_output out "1 action .*dry run"
expect_output out "wire link a-c \[new\]"
[[ $(container_ids "$lab") == "$ids" ]] || fail "(f) --dry-run changed containers"
[[ $(lab_ports) == "$ports" ]] || fail "(f) --dry-run changed OVS ports"
has_iface "$lab" a eth2 && fail "(f) --dry-run created a:eth2"
expect_rc 0 ltb inspect "$lab" --format json
[[ $(jq '.links | length' "$IT_TMP/out") -eq 4 ]] || fail "(f) --dry-run recorded a link"
write_topology without-d b-env
expect_rc 0 ltb up "$file" --dry-run
expect_output out "remove node d"
expect_output out "create node b .*configuration changed"
[[ $(container_ids "$lab") == "$ids" ]] || fail "(f) --dry-run changed containers"
write_topology
expect_rc 0 ltb up "$file" --dry-run
expect_output out "up to date"

log "(b) an added link is the only change"
write_topology with-ac
expect_rc 0 ltb up "$file"
expect_output out "lab $lab is up: 5 nodes, 5 links"
expect_output out "\(1 action in"
[[ $(container_ids "$lab") == "$ids" ]] || fail "(b) adding a link changed containers: $(changed_nodes "$ids" "$(container_ids "$lab")")"
assert_ifaces "$lab" a:eth2 c:eth3
expect_rc 0 ltb inspect "$lab" --format json
jq -e '.links | any(.name == "a-c")' "$IT_TMP/out" >/dev/null || fail "(b) inspect shows no link a-c"
expect_rc 0 ltb up "$file"
expect_output out "up to date"

log "(c) a removed node goes, with its link and its OVS port"
write_topology with-ac without-d
d_id=$(node_id "$lab" d)
[[ -n $d_id ]] || fail "(c) node d has no container before its removal"
expect_rc 0 ltb up "$file"
docker inspect "$d_id" >/dev/null 2>&1 && fail "(c) d's container $d_id still exists"
expected=$(grep -v '^d ' <<<"$ids")
[[ $(container_ids "$lab") == "$expected" ]] || fail "(c) removing d changed other containers: $(changed_nodes "$expected" "$(container_ids "$lab")")"
ports=$(lab_ports)
[[ $(wc -l <<<"$ports") -eq 1 && $ports == *c:eth2* ]] || fail "(c) expected only c's OVS port left, got: $ports"
expect_rc 0 ltb status "$lab" --format json
jq -e '.nodes | any(.name == "d") | not' "$IT_TMP/out" >/dev/null || fail "(c) status still lists d"
expect_rc 0 ltb inspect "$lab" --format json
[[ $(jq '.links | length' "$IT_TMP/out") -eq 4 ]] || fail "(c) inspect does not show 4 links: $(jq -c '.links' "$IT_TMP/out")"
ids=$expected
expect_rc 0 ltb up "$file"
expect_output out "up to date"

log "(d) a changed node is recreated alone and rewired"
write_topology with-ac without-d b-env
expect_rc 0 ltb up "$file"
after=$(container_ids "$lab")
[[ $(changed_nodes "$ids" "$after") == b ]] || fail "(d) changing b changed: '$(changed_nodes "$ids" "$after")' (expected b only)"
assert_all_running "$lab"
# shellcheck disable=SC2016 # expanded in the container
cexec "$lab" b sh -c 'test "$FOO" = 1' || fail "(d) b's new container has no FOO=1"
assert_ifaces "$lab" b:eth1 b:eth2 a:eth1 c:eth1
if ! retry 2 cexec "$lab" a ping -c 3 -W 2 10.232.1.2 >/dev/null; then
  a_addr=$(cexec "$lab" a ip -o addr show eth1 | tr '\n' ';')
  b_addr=$(cexec "$lab" b ip -o addr show eth1 | tr '\n' ';')
  check_later "(d) a cannot ping b after b was recreated (a eth1: '$a_addr', b eth1: '$b_addr')"
  # Known bug: a's new end of the link lost the address a's exec gave the old one. Put it back
  # to check that the link itself works.
  if [[ $a_addr != *10.232.1.1/30* ]]; then
    cexec "$lab" a ip addr add 10.232.1.1/30 dev eth1
    retry 2 cexec "$lab" a ping -c 3 -W 2 10.232.1.2 >/dev/null ||
      fail "(d) a cannot ping b over the rewired link even with a's address put back by hand"
  fi
fi
ids=$after
expect_rc 0 ltb up "$file"
expect_output out "up to date"

log "(e) a container removed by hand shows as missing and is recreated alone"
docker rm -f "$(container_name "$lab" c)" >/dev/null
expect_rc 0 ltb status "$lab" --format json
state=$(jq -r '.nodes[] | select(.name == "c") | .state' "$IT_TMP/out")
[[ -n $state && $state != running ]] || fail "(e) c was removed by hand but ltb status says '$state'"
expect_rc 0 ltb up "$file" --dry-run
expect_output out "create node c .*container missing"
expect_rc 0 ltb up "$file"
after=$(container_ids "$lab")
[[ $(changed_nodes "$ids" "$after") == c ]] || fail "(e) recreating c changed: '$(changed_nodes "$ids" "$after")' (expected c only)"
assert_all_running "$lab"
assert_ifaces "$lab" c:eth1 c:eth2 c:eth3 b:eth2 a:eth2
ports=$(lab_ports)
[[ $(wc -l <<<"$ports") -eq 1 && $ports == *c:eth2* ]] || fail "(e) expected c's OVS port again, got: $ports"
expect_rc 0 ltb up "$file"
expect_output out "up to date"

expect_rc 0 ltb down "$file"
assert_lab_gone "$lab"
