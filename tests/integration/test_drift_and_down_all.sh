#!/usr/bin/env bash
# Drift seen by `ltb status` and repaired by `ltb up` (a stopped container, a bridge deleted by
# hand); `ltb down --all` removes two labs at once; `ltb down` of an unknown lab is a no-op;
# `ltb down NAME` removes a lab by its name.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"

lab1=it-drift-one
lab2=it-drift-two
track_lab "$lab1" "$lab2"

# `ltb down --all` removes the labs of its own state file only: labs of other state files on
# this machine must survive it.
foreign_labs() {
  {
    docker ps -a --format '{{.Label "ltb.lab"}}'
    docker network ls --format '{{.Label "ltb.lab"}}'
  } | sed '/^$/d' | { grep -vxF -e "$lab1" -e "$lab2" || true; } | sort -u | paste -sd ' '
}

cat >"$IT_TMP/one.yaml" <<EOF
name: $lab1
mgmt:
  ipv4-subnet: 172.20.236.0/24
topology:
  nodes:
    a: {kind: linux, image: $k_busybox}
    b: {kind: linux, image: $k_busybox}
    sw: {kind: ovs-bridge}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
    - endpoints: ["a:eth2", "sw:p1"]
    - endpoints: ["b:eth2", "sw:p2"]
EOF
cat >"$IT_TMP/two.yaml" <<EOF
name: $lab2
mgmt:
  ipv4-subnet: 172.20.237.0/24
topology:
  nodes:
    x: {kind: linux, image: $k_busybox}
    y: {kind: linux, image: $k_busybox}
  links:
    - endpoints: ["x:eth1", "y:eth1"]
EOF

expect_rc 0 ltb up "$IT_TMP/one.yaml"
expect_rc 0 ltb up "$IT_TMP/two.yaml"
assert_all_running "$lab1"
assert_all_running "$lab2"

# --- drift: a container stopped by hand.
ids_before=$(container_ids "$lab1")
docker stop -t 1 "$(container_name "$lab1" b)" >/dev/null
expect_rc 0 ltb status "$lab1" --format json
state=$(jq -r '.nodes[] | select(.name == "b") | .state' "$IT_TMP/out")
[[ $state != running ]] || fail "node b was stopped by hand but ltb status says '$state'"
expect_rc 0 ltb status "$lab1"
expect_output out 'not as recorded'
expect_rc 0 ltb status --format json
[[ $(jq -r --arg l "$lab1" '.labs[] | select(.name == $l) | .status' "$IT_TMP/out") == degraded ]] ||
  fail "lab $lab1 with a stopped node is not 'degraded' in ltb status: $(cat "$IT_TMP/out")"
expect_rc 0 ltb up "$IT_TMP/one.yaml"
assert_all_running "$lab1"
[[ $(node_id "$lab1" a) == $(awk '$1 == "a" { print $2 }' <<<"$ids_before") ]] ||
  fail "repairing node b changed node a's container"
assert_ifaces "$lab1" b:eth1 b:eth2 a:eth1

# --- drift: the segment's bridge deleted by hand.
bridge=$(ovs-vsctl --bare --columns=name find Bridge "external_ids:ltb-lab=$lab1")
[[ -n $bridge ]] || fail "lab $lab1 has no OVS bridge labelled external_ids:ltb-lab=$lab1"
ovs-vsctl del-br "$bridge"
expect_rc 0 ltb status "$lab1" --format json
state=$(jq -r '.nodes[] | select(.name == "sw") | .state' "$IT_TMP/out")
[[ $state == missing ]] || fail "bridge sw was deleted by hand but ltb status says '$state'"
ids_before=$(container_ids "$lab1")
expect_rc 0 ltb up "$IT_TMP/one.yaml"
assert_all_running "$lab1"
[[ $(container_ids "$lab1") == "$ids_before" ]] || fail "recreating bridge sw changed containers"
ports=$(ovs-vsctl list-ports "$bridge" | wc -l)
[[ $ports -eq 2 ]] || fail "bridge $bridge has $ports ports after ltb up, expected 2"
cexec "$lab1" a ip addr add 10.236.0.1/24 dev eth2
cexec "$lab1" b ip addr add 10.236.0.2/24 dev eth2
retry 3 cexec "$lab1" a ping -c 3 -W 2 10.236.0.2 >/dev/null ||
  fail "a cannot ping b across the recreated bridge"

# --- down --all removes both labs, and no lab of another state file.
others=$(foreign_labs)
expect_rc 0 ltb down --all
[[ $(foreign_labs) == "$others" ]] || fail "down --all touched other state files' labs: before '$others', after '$(foreign_labs)'"
expect_output out "lab $lab1 is down"
expect_output out "lab $lab2 is down"
assert_lab_gone "$lab1"
assert_lab_gone "$lab2"
expect_rc 0 ltb status --format json
[[ $(jq '.labs | length' "$IT_TMP/out") -eq 0 ]] || fail "labs left after down --all: $(cat "$IT_TMP/out")"

# --- nothing left to do.
expect_rc 0 ltb down --all
expect_output out 'no labs to remove'
expect_rc 0 ltb down --lab it-drift-never-existed
expect_output out 'nothing to remove'
expect_rc 0 ltb down "$IT_TMP/two.yaml"
expect_output out 'nothing to remove'

# --- `ltb down NAME`: a lab's name where no file of that name exists; a mistyped file name
# (a path, or .yml/.yaml) stays an error about the file.
expect_rc 0 ltb up "$IT_TMP/two.yaml"
[[ ! -e $lab2 ]] || fail "a file named $lab2 exists in $(pwd): this check needs none"
expect_rc 0 ltb down "$lab2"
expect_output out "lab $lab2 is down"
assert_lab_gone "$lab2"
expect_rc 2 ltb down "$lab2.yaml"
expect_output err "cannot read the topology file"
