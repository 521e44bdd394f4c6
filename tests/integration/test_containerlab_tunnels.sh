#!/usr/bin/env bash
# containerlab's device links, end to end (real ltb, dockerd, netlink, tc), checked from outside:
#   - macvlan: an interface in the node with the right parent and mode, and two nodes' macvlans
#     on one parent (a veth this test makes on the host, never a real NIC) carry a ping;
#   - vxlan: a VXLAN interface in the node, its tunnel to a network namespace this test makes on
#     this machine (a veth from the host into it, a VXLAN device there with the same VNI): a
#     ping from the node reaches the address on the namespace's VXLAN device;
#   - vxlan-stitch: the same through a VXLAN interface on the host, redirected by tc to a veth
#     into the node;
#   - dummy: a dummy interface in the node where the kernel has dummy interfaces; on a kernel
#     without them (such as this project's test machines) `ltb up` fails naming what is missing
#     and leaves nothing;
#   - `ltb down` removes everything ltb made, and nothing of what the test made.
# Nothing leaves this machine: the tunnels' remote end is the namespace made here, in
# 10.251.93.0/30, reached over the test's own veth.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
command -v ip >/dev/null || fail "ip is missing (iproute2)"
command -v nsenter >/dev/null || fail "nsenter is missing (util-linux)"

lab=it-clab-tunnels
track_lab "$lab"
parent=ltbmvp$$ parent_peer=ltbmvq$$ # the macvlans' parent: a veth pair, up
uplink=ltbvh$$ remote_side=ltbvr$$    # the host's veth into the remote namespace
remote_ns=ltbvx$$
on_cleanup "ip link del $parent 2>/dev/null || true"
on_cleanup "ip link del $uplink 2>/dev/null || true"
on_cleanup "ip netns del $remote_ns 2>/dev/null || true"

ip link add "$parent" type veth peer name "$parent_peer"
ip link set "$parent_peer" up
ip link set "$parent" up
ip netns add "$remote_ns"
ip link add "$uplink" type veth peer name "$remote_side" netns "$remote_ns"
ip addr add 10.251.93.1/30 dev "$uplink"
ip link set "$uplink" up
rns() { ip netns exec "$remote_ns" "$@"; }
rns ip addr add 10.251.93.2/30 dev "$remote_side"
rns ip link set "$remote_side" up
rns ip link set lo up
# The remote tunnel ends: one per VNI, on containerlab's default port 14789.
rns ip link add vx4242 type vxlan id 4242 remote 10.251.93.1 local 10.251.93.2 dstport 14789 dev "$remote_side"
rns ip addr add 10.93.42.2/24 dev vx4242
rns ip link set vx4242 up
rns ip link add vx4343 type vxlan id 4343 remote 10.251.93.1 local 10.251.93.2 dstport 14789 dev "$remote_side"
rns ip addr add 10.93.43.2/24 dev vx4343
rns ip link set vx4343 up

cat >"$IT_TMP/lab.clab.yml" <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.243.0/24
topology:
  defaults:
    kind: linux
    image: $k_busybox
  nodes:
    m1:
      exec:
        - ip addr add 10.93.40.1/24 dev eth1
        - ip addr add 10.93.42.1/24 dev eth2
    m2:
      exec:
        - ip addr add 10.93.40.2/24 dev eth1
        - ip addr add 10.93.43.1/24 dev eth2
  links:
    - endpoints: ["m1:eth1", "macvlan:$parent"]
    - type: macvlan
      endpoint:
        node: m2
        interface: eth1
        mac: aa:c1:ab:93:00:02
      host-interface: $parent
      mode: bridge
    - type: vxlan
      endpoint:
        node: m1
        interface: eth2
      remote: 10.251.93.2
      vni: 4242
    - type: vxlan-stitch
      endpoint:
        node: m2
        interface: eth2
      remote: 10.251.93.2
      vni: 4343
      dst-port: 14789
EOF

# in_node LAB NODE CMD...: the host's CMD (iproute2) in the node's network namespace.
in_node() {
  local pid
  pid=$(docker inspect -f '{{.State.Pid}}' "$(container_name "$1" "$2")") || return 1
  shift 2
  nsenter -t "$pid" -n "$@"
}

log "validate --containerlab reports every link type supported"
expect_rc 0 ltb validate --containerlab "$IT_TMP/lab.clab.yml"
expect_output out 'link-macvlan-endpoint +yes'
expect_output out 'link-vxlan-stitch +yes'

log "up: two macvlans, a vxlan and a vxlan-stitch"
expect_rc 0 ltb up "$IT_TMP/lab.clab.yml"
assert_ifaces "$lab" m1:eth1 m1:eth2 m2:eth1 m2:eth2
parent_index=$(cat "/sys/class/net/$parent/ifindex")
for node in m1 m2; do
  details=$(in_node "$lab" "$node" ip -d link show eth1) || fail "cannot read $node's eth1"
  [[ $details == *"eth1@if$parent_index:"* ]] || fail "$node's eth1 is not on $parent (ifindex $parent_index): $details"
  [[ $details == *"macvlan mode bridge"* ]] || fail "$node's eth1 is not a macvlan in mode bridge: $details"
done
in_node "$lab" m2 ip link show eth1 | grep -q 'aa:c1:ab:93:00:02' || fail "m2's eth1 has not the file's MAC"
details=$(in_node "$lab" m1 ip -d link show eth2)
# (its "dev" is the host's $uplink, by the route to the remote: an index of another namespace)
[[ $details == *"vxlan id 4242 remote 10.251.93.2 "* && $details == *"dstport 14789"* ]] ||
  fail "m1's eth2 is not the vxlan of the file (id 4242, remote 10.251.93.2, port 14789): $details"
in_node "$lab" m2 ip -d link show eth2 | grep -q 'veth' || fail "m2's eth2 (vxlan-stitch) is not a veth"
hash=$(lab_hash "$lab")
stitched=$(ip -d -o link show type vxlan | grep "vxlan id 4343 remote 10.251.93.2" | awk -F': ' '{ print $2 }')
[[ $stitched == lv$hash* ]] || fail "no VXLAN interface of the lab with id 4343 on the host: '$stitched'"
tc filter show dev "$stitched" ingress | grep -qi 'redirect' || fail "the host's $stitched is not redirected to the node's veth"

log "the two macvlans on $parent carry a ping"
retry 5 cexec "$lab" m1 ping -c 2 -W 2 10.93.40.2 >/dev/null || fail "m1 cannot ping m2 over their macvlans"

log "the vxlan and the vxlan-stitch reach the remote namespace"
retry 5 cexec "$lab" m1 ping -c 2 -W 2 10.93.42.2 >/dev/null || fail "m1 cannot ping 10.93.42.2 over its vxlan"
retry 5 cexec "$lab" m2 ping -c 2 -W 2 10.93.43.2 >/dev/null || fail "m2 cannot ping 10.93.43.2 over its vxlan-stitch"

log "status, link list and graph show the links"
expect_rc 0 ltb status "$lab"
expect_output out 'm1 .*running'
expect_rc 0 ltb link list "$lab"
expect_output out 'm1:eth2 -> vxlan:vni4242 +up'
expect_output out "m2:eth1 -> macvlan:$parent +up"
expect_output out 'm2:eth2 -> vxlan-stitch:vni4343 +up'
expect_rc 0 ltb graph "$lab" --format json
jq -e '.links | map(.type) | sort == ["macvlan", "macvlan", "vxlan", "vxlan-stitch"]' "$IT_TMP/out" >/dev/null ||
  fail "ltb graph does not show the link types: $(jq -c '.links' "$IT_TMP/out" 2>&1)"
log "a second up changes nothing"
expect_rc 0 ltb up --dry-run "$IT_TMP/lab.clab.yml"
expect_output out 'nothing to do|up to date|no changes'

log "down: what ltb made goes, the parent and the test's namespace stay"
expect_rc 0 ltb down --lab "$lab"
assert_lab_gone "$lab"
ip -d -o link show type vxlan | grep -q 'vxlan id 4343' && fail "the vxlan-stitch's tunnel is left on the host"
ip link show "$parent" >/dev/null 2>&1 || fail "the macvlans' parent $parent was removed"
ip link show "$uplink" >/dev/null 2>&1 || fail "the test's $uplink was removed"

log "dummy: an interface in the node, where the kernel has dummy interfaces"
cat >"$IT_TMP/dummy.clab.yml" <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.243.0/24
topology:
  nodes:
    d1: {kind: linux, image: $k_busybox}
  links:
    - type: dummy
      endpoint: {node: d1, interface: dum0}
EOF
if ip link add "ltbdp$$" type dummy 2>/dev/null; then
  ip link del "ltbdp$$"
  expect_rc 0 ltb up "$IT_TMP/dummy.clab.yml"
  in_node "$lab" d1 ip -d link show dum0 | grep -q 'dummy' || fail "d1 has no dummy interface dum0"
else
  log "this kernel has no dummy interfaces: ltb up must say so and leave nothing"
  expect_rc 1 ltb up "$IT_TMP/dummy.clab.yml"
  expect_output err 'cannot create dummy interface d1:dum0: this kernel has no dummy interfaces'
fi
expect_rc 0 ltb down --lab "$lab"
assert_lab_gone "$lab"
log "ok"
