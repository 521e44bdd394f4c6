#!/usr/bin/env bash
# The shipped example examples/frr-ospf.yaml, end to end: three FRR routers reach OSPF Full
# adjacency, h1 pings h2 across the Open vSwitch segment and r3's loopback across the routers; a
# second `ltb up` changes nothing; status and inspect describe the lab; `ltb down` removes it all.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_frr" "$k_busybox"

lab=it-frr
track_lab "$lab"
example="$LTB_SOURCE_DIR/examples/frr-ospf.yaml"
[[ -f $example ]] || fail "missing $example"

# The example pins its management subnet; another lab on this machine may be using it. The copy
# differs only in that subnet, and its router configs sit beside it as in examples/.
file="$IT_TMP/frr-ospf.yaml"
grep -q '^  ipv4-subnet: 172\.20\.30\.0/24$' "$example" ||
  fail "$example no longer pins mgmt ipv4-subnet 172.20.30.0/24; update this test"
sed 's|^  ipv4-subnet: 172\.20\.30\.0/24$|  ipv4-subnet: 172.20.231.0/24|' "$example" >"$file"
cp -r "$LTB_SOURCE_DIR/examples/frr-ospf" "$IT_TMP/"

expect_rc 0 ltb validate "$file"
expect_rc 0 ltb up "$file" --lab "$lab"
expect_output out "lab $lab is up: 6 nodes, 6 links, management 172.20.231.0/24"
assert_all_running "$lab"
[[ $(count_containers "$lab") -eq 5 ]] || fail "expected 5 containers (r1-r3, h1, h2), found $(count_containers "$lab")"
ids=$(container_ids "$lab")

full_neighbours() {
  cexec "$lab" "$1" vtysh -c 'show ip ospf neighbor' 2>/dev/null | grep -c ' Full/' || true
}
two_full() { [[ $(full_neighbours "$1") -eq 2 ]]; }
wait_until 60 two_full r1 ||
  fail "r1 has no 2 Full OSPF neighbours after 60 s: $(cexec "$lab" r1 vtysh -c 'show ip ospf neighbor' 2>&1)"
for router in r2 r3; do
  wait_until 10 two_full "$router" ||
    fail "$router has $(full_neighbours "$router") Full OSPF neighbours, expected 2: $(cexec "$lab" "$router" vtysh -c 'show ip ospf neighbor' 2>&1)"
done

# Once adjacencies are Full, routes follow within an SPF run; a few tries cover that.
retry 5 cexec "$lab" h1 ping -c 3 -W 2 192.168.10.12 >/dev/null ||
  fail "h1 cannot ping h2 (192.168.10.12) across the Open vSwitch segment"
retry 10 cexec "$lab" h1 ping -c 3 -W 2 10.0.0.3 >/dev/null ||
  fail "h1 cannot ping r3's loopback 10.0.0.3: $(cexec "$lab" r1 vtysh -c 'show ip route' 2>&1)"

log "a second ltb up changes nothing"
expect_rc 0 ltb up "$file" --lab "$lab"
expect_output out "up to date"
[[ $(container_ids "$lab") == "$ids" ]] || fail "the second ltb up changed containers"

expect_rc 0 ltb status "$lab" --format json
[[ $(jq -r '.lab' "$IT_TMP/out") == "$lab" ]] || fail "status json names another lab"
[[ $(jq '.nodes | length' "$IT_TMP/out") -eq 6 ]] || fail "status json does not list 6 nodes"
bad=$(jq -r '.nodes[] | select(.state != "running") | "\(.name)=\(.state)"' "$IT_TMP/out")
[[ -z $bad ]] || fail "nodes not running in ltb status: $bad"
expect_rc 0 ltb status --format json
jq -e --arg l "$lab" '.labs[] | select(.name == $l) | .status == "running" and .containers == 5 and .containers_running == 5 and .bridges == 1' "$IT_TMP/out" >/dev/null ||
  fail "ltb status --format json does not show $lab running with 5/5 containers and 1 bridge: $(cat "$IT_TMP/out")"

expect_rc 0 ltb inspect "$lab" --format json
[[ $(jq '.links | length' "$IT_TMP/out") -eq 6 ]] || fail "inspect does not list 6 links: $(jq -c .links "$IT_TMP/out")"
unnamed=$(jq '[.links[] | select((.name // "") == "")] | length' "$IT_TMP/out")
[[ $unnamed -eq 0 ]] || fail "$unnamed links have no name in inspect"
jq -e '.links | any(.name == "r1-lan" and .type == "segment")' "$IT_TMP/out" >/dev/null ||
  fail "inspect has no segment link named r1-lan: $(jq -c .links "$IT_TMP/out")"
[[ $(jq -r '.mgmt.ipv4_subnet' "$IT_TMP/out") == 172.20.231.0/24 ]] || fail "inspect shows another management subnet"
[[ $(jq '[.links[] | select(.status != "up")] | length' "$IT_TMP/out") -eq 0 ]] || fail "inspect shows links not up"
# Table forms too, as people read them.
expect_rc 0 ltb status "$lab"
expect_output out "^r1 +frr +$k_frr +running"
expect_rc 0 ltb inspect "$lab"
expect_output out "r1-lan +segment +r1:eth3 +sw1:p1"

expect_rc 0 ltb down "$file" --lab "$lab"
expect_output out "lab $lab is down"
assert_lab_gone "$lab"
