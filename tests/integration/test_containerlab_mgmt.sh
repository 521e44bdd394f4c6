#!/usr/bin/env bash
# containerlab's management network settings, end to end (real ltb and dockerd):
#   - mgmt.network naming a Docker network that exists (made here, unique name and subnet):
#     the nodes join it (the file's mgmt-ipv4 for one, Docker's address for the other), reach
#     each other over it, `ltb status` shows both addresses, and `ltb down` removes the
#     containers and leaves the network as it was; a mgmt-ipv4 outside its subnet is refused
#     at its place in the file (exit 2) and nothing is made;
#   - mgmt.network: bridge (Docker's default network, corpus file mgmt-network-bridge): the
#     nodes join it with Docker's addresses, and `ltb down` leaves it;
#   - dual stack (mgmt.ipv6-subnet, mgmt-ipv6): each node has its IPv6 address on eth0, they
#     ping each other over IPv6, status, inspect and topology-data.json show it, down is clean.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
command -v jq >/dev/null || fail "jq is missing"

corpus="$LTB_SOURCE_DIR/tests/data/containerlab"
net=itmg-users-$$
subnet=10.213.77.0/24
join_lab=it-mgmt-join
bridge_lab=it-mgmt-bridge
dual_lab=it-mgmt-dual
track_lab "$join_lab" "$bridge_lab" "$dual_lab"
on_cleanup "docker network rm $net >/dev/null 2>&1 || true"

docker network rm "$net" >/dev/null 2>&1 || true
docker network create --subnet "$subnet" "$net" >/dev/null
net_id=$(docker network inspect -f '{{.Id}}' "$net")

# The corpus file of a user network, under this test's names.
sed -e "s/^name: .*/name: $join_lab/" -e "s/network: clab-users/network: $net/" \
  -e "s/172\.100\.100\.11/10.213.77.11/" -e "s#ltb/busybox:latest#$k_busybox#" \
  "$corpus/mgmt-network-existing.clab.yml" >"$IT_TMP/join.clab.yml"
grep -q "network: $net" "$IT_TMP/join.clab.yml" || fail "the corpus file did not take the test's network"

log "a lab joins a network that exists"
expect_rc 0 ltb up "$IT_TMP/join.clab.yml"
assert_all_running "$join_lab"
addr_on() { docker inspect -f "{{(index .NetworkSettings.Networks \"$3\").IPAddress}}" "$(container_name "$1" "$2")"; }
[[ $(addr_on "$join_lab" n1 "$net") == 10.213.77.11 ]] || fail "n1 is not at 10.213.77.11 on $net"
n2_addr=$(addr_on "$join_lab" n2 "$net")
[[ $n2_addr == 10.213.77.* ]] || fail "n2 has no address on $net: '$n2_addr'"
expect_rc 0 ltb status "$join_lab" --format json
[[ $(jq -r '.mgmt_network' "$IT_TMP/out") == "$net" ]] || fail "status does not name $net: $(cat "$IT_TMP/out")"
[[ $(jq -r '.mgmt_subnet' "$IT_TMP/out") == "$subnet" ]] || fail "status does not show $subnet"
[[ $(jq -r '.nodes[] | select(.name == "n2") | .mgmt_ipv4' "$IT_TMP/out") == "$n2_addr" ]] ||
  fail "status does not show n2's address $n2_addr: $(cat "$IT_TMP/out")"
retry 5 cexec "$join_lab" n1 ping -c 1 -W 2 "$n2_addr" >/dev/null || fail "n1 cannot ping n2 on $net"
log "a second up changes nothing"
join_n2=$(node_id "$join_lab" n2)
expect_rc 0 ltb up "$IT_TMP/join.clab.yml"
[[ $(node_id "$join_lab" n2) == "$join_n2" ]] || fail "a second up made n2 again"
log "down removes the containers and leaves the network"
expect_rc 0 ltb down --lab "$join_lab"
[[ $(docker network inspect -f '{{.Id}}' "$net" 2>/dev/null) == "$net_id" ]] || fail "network $net was removed or replaced"
assert_lab_gone "$join_lab"

log "a fixed address outside the existing network's subnet: located error, nothing made"
sed -i 's/10\.213\.77\.11/10.213.78.11/' "$IT_TMP/join.clab.yml"
expect_rc 2 ltb up "$IT_TMP/join.clab.yml"
expect_output err "join\.clab\.yml:[0-9]+:[0-9]+: mgmt-ipv4 10\.213\.78\.11 of node 'n1' is not a host address of 10\.213\.77\.0/24"
[[ $(count_containers "$join_lab") -eq 0 ]] || fail "containers were made for a refused lab"
ltb down --lab "$join_lab" >/dev/null 2>&1 || true
assert_lab_gone "$join_lab"

log "a lab on Docker's default network bridge"
sed -e "s/^name: .*/name: $bridge_lab/" -e "s#ltb/busybox:latest#$k_busybox#" \
  "$corpus/mgmt-network-bridge.clab.yml" >"$IT_TMP/bridge.clab.yml"
bridge_id=$(docker network inspect -f '{{.Id}}' bridge)
bridge_subnet=$(docker network inspect -f '{{(index .IPAM.Config 0).Subnet}}' bridge)
expect_rc 0 ltb up "$IT_TMP/bridge.clab.yml"
assert_all_running "$bridge_lab"
b1=$(addr_on "$bridge_lab" n1 bridge) b2=$(addr_on "$bridge_lab" n2 bridge)
[[ -n $b1 && -n $b2 ]] || fail "the nodes have no address on bridge: '$b1' '$b2'"
expect_rc 0 ltb status "$bridge_lab" --format json
[[ $(jq -r '.mgmt_subnet' "$IT_TMP/out") == "$bridge_subnet" ]] || fail "status does not show bridge's subnet $bridge_subnet"
[[ $(jq -r '.nodes[] | select(.name == "n1") | .mgmt_ipv4' "$IT_TMP/out") == "$b1" ]] || fail "status does not show n1's address $b1"
retry 5 cexec "$bridge_lab" n1 ping -c 1 -W 2 "$b2" >/dev/null || fail "n1 cannot ping n2 on bridge"
expect_rc 0 ltb down --lab "$bridge_lab"
[[ $(docker network inspect -f '{{.Id}}' bridge) == "$bridge_id" ]] || fail "Docker's bridge network changed"
assert_lab_gone "$bridge_lab"

log "dual stack: IPv6 addresses on the management network"
cat >"$IT_TMP/dual.clab.yml" <<YAML
name: $dual_lab
mgmt:
  ipv4-subnet: 172.31.234.0/24
  ipv6-subnet: fd00:ab:234::/64
topology:
  defaults:
    kind: linux
    image: $k_busybox
    cmd: sleep 3600
  nodes:
    n1:
      mgmt-ipv6: fd00:ab:234::11
    n2:
YAML
expect_rc 0 ltb up "$IT_TMP/dual.clab.yml"
assert_all_running "$dual_lab"
cexec "$dual_lab" n1 ip -6 -o addr show eth0 | grep -q 'fd00:ab:234::11/64' ||
  fail "n1 has no fd00:ab:234::11 on eth0: $(cexec "$dual_lab" n1 ip -6 -o addr show eth0 | tr '\n' ';')"
expect_rc 0 ltb status "$dual_lab" --format json
v6_2=$(jq -r '.nodes[] | select(.name == "n2") | .mgmt_ipv6' "$IT_TMP/out")
[[ $v6_2 == fd00:ab:234::* ]] || fail "status shows no IPv6 address of n2: $(cat "$IT_TMP/out")"
[[ $(jq -r '.nodes[] | select(.name == "n1") | .mgmt_ipv6' "$IT_TMP/out") == fd00:ab:234::11 ]] ||
  fail "status does not show n1's fd00:ab:234::11"
cexec "$dual_lab" n2 ip -6 -o addr show eth0 | grep -qF "$v6_2/64" || fail "n2 does not have $v6_2 on eth0"
retry 5 cexec "$dual_lab" n2 ping -6 -c 1 -W 2 fd00:ab:234::11 >/dev/null || fail "n2 cannot ping n1 over IPv6"
retry 5 cexec "$dual_lab" n1 ping -6 -c 1 -W 2 "$v6_2" >/dev/null || fail "n1 cannot ping n2 over IPv6"
expect_rc 0 ltb status "$dual_lab"
expect_output out 'MGMT-IPV6'
expect_output out 'fd00:ab:234::11'
expect_rc 0 ltb inspect "$dual_lab"
expect_output out 'fd00:ab:234::11'
jq -e '.nodes[] | select(.name == "n1") | .mgmt_ipv6 == "fd00:ab:234::11"' \
  "$IT_TMP/state/labs/$dual_lab/topology-data.json" >/dev/null ||
  fail "topology-data.json does not give n1's IPv6 address"
dual_n2=$(node_id "$dual_lab" n2)
expect_rc 0 ltb up "$IT_TMP/dual.clab.yml"
[[ $(node_id "$dual_lab" n2) == "$dual_n2" ]] || fail "a second up made n2 of the dual-stack lab again"
expect_rc 0 ltb down --lab "$dual_lab"
assert_lab_gone "$dual_lab"
log "ok"
