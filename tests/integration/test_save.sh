#!/usr/bin/env bash
# `ltb save`: the OSPF cost of r1 in examples/frr-ospf.yaml is changed by hand (vtysh), `ltb save`
# collects the routers' running configurations and a lab file that starts from them, `ltb down`
# removes the lab, and `ltb up` of the saved file brings it back with the changed cost. Also: one
# node with --node, a linux node's startup-config file (h1), the notes for nodes with nothing to
# save, and bad input (unknown lab, node).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_frr" "$k_busybox"

lab=it-save
track_lab "$lab"
example="$LTB_SOURCE_DIR/examples/frr-ospf.yaml"
# The example pins its management subnet; the copy takes another one, its configs beside it.
mkdir -p "$IT_TMP/lab"
file="$IT_TMP/lab/frr-ospf.yaml"
grep -q '^  ipv4-subnet: 172\.20\.30\.0/24$' "$example" ||
  fail "$example no longer pins mgmt ipv4-subnet 172.20.30.0/24; update this test"
sed 's|^  ipv4-subnet: 172\.20\.30\.0/24$|  ipv4-subnet: 172.20.232.0/24|' "$example" >"$file"
cp -r "$LTB_SOURCE_DIR/examples/frr-ospf" "$IT_TMP/lab/"
# h1 gets a startup-config file too: a linux node's is saved as the node has it.
sed -i 's|^    h1:$|    h1:\n      startup-config: h1.conf|' "$file"
printf 'h1 settings %s\n' "$RANDOM" >"$IT_TMP/lab/h1.conf"
grep -q '^      startup-config: h1.conf$' "$file" || fail "could not give h1 a startup-config in $file"

expect_rc 0 ltb up "$file" --lab "$lab"
assert_all_running "$lab"

# ospfd itself, not only vtysh: zebra answers first, and a change of an OSPF setting before
# ospfd runs fails with "ospfd is not running".
ospfd_ready() { cexec "$lab" "$1" vtysh -c 'show ip ospf' 2>/dev/null | grep -q 'OSPF Routing Process'; }
wait_until 60 ospfd_ready r1 || fail "ospfd does not answer in r1 after 60 s"

cost() { # the OSPF cost of r1's eth1 as FRR reports it
  cexec "$lab" r1 vtysh -c 'show ip ospf interface eth1' 2>/dev/null | sed -n 's/.*Cost: \([0-9]*\).*/\1/p'
}
grep -q 'ip ospf cost 77' "$IT_TMP/lab/frr-ospf/r1.conf" && fail "r1.conf already sets cost 77; pick another"

log "OSPF cost of r1 eth1 changed by hand to 77"
cexec "$lab" r1 vtysh -c 'configure terminal' -c 'interface eth1' -c 'ip ospf cost 77' >/dev/null
has_cost() { [[ $(cost) == "$1" ]]; }
wait_until 10 has_cost 77 || fail "r1 eth1 has OSPF cost '$(cost)' after setting 77 by hand"

saved="$IT_TMP/saved"
expect_rc 0 ltb save "$lab" -o "$saved"
cat "$IT_TMP/out" "$IT_TMP/err" >&2
expect_output out "^r1 +$saved/r1/frr.conf +vtysh -c 'show running-config'"
expect_output out "^skipped sw1: an Open vSwitch bridge"
expect_output out "^h1 +$saved/h1/h1.conf +cat /etc/ltb/startup-config"
expect_output out "^skipped h2: it has no startup-config"
expect_output out "4 nodes saved in $saved"
cmp -s "$saved/h1/h1.conf" "$IT_TMP/lab/h1.conf" || fail "h1's saved startup-config differs from the node's: $(cat "$saved/h1/h1.conf")"
for router in r1 r2 r3; do
  [[ -s $saved/$router/frr.conf ]] || fail "no $saved/$router/frr.conf"
  grep -q "^router ospf" "$saved/$router/frr.conf" || fail "$router's saved config has no 'router ospf': $(cat "$saved/$router/frr.conf")"
  grep -q "Building configuration" "$saved/$router/frr.conf" && fail "$router's saved config keeps vtysh's banner"
done
grep -q '^ *ip ospf cost 77' "$saved/r1/frr.conf" || fail "the saved r1 config lacks the cost: $(cat "$saved/r1/frr.conf")"
expect_output out "^r1 .*[+] vtysh -c 'write memory'"
grep -q "write memory.*failed" "$IT_TMP/err" && fail "ltb save: $(cat "$IT_TMP/err")"

log "FRR's write memory went to r1's own copy of its startup-config: a restart keeps the cost, the lab file's config is unchanged"
grep -q 'ip ospf cost 77' "$IT_TMP/lab/frr-ospf/r1.conf" && fail "write memory changed the lab file's r1.conf"
expect_rc 0 ltb restart "$lab" --node r1
wait_until 30 has_cost 77 || fail "r1 eth1 has OSPF cost '$(cost)' after ltb restart --node r1, not the saved 77"
[[ -s $saved/topology.yaml ]] || fail "no $saved/topology.yaml"
grep -q '^# Three FRR routers' "$saved/topology.yaml" || fail "the saved lab file lost the example's comments"
expect_rc 0 ltb validate "$saved/topology.yaml"
expect_output out "valid: lab $lab, 6 nodes, 6 links"

log "--node r1 saves r1 alone; r2 keeps its original config (absolute path)"
expect_rc 0 ltb save "$lab" --node r1 -o "$IT_TMP/one"
[[ -s $IT_TMP/one/r1/frr.conf && ! -e $IT_TMP/one/r2 ]] || fail "--node r1 saved: $(find "$IT_TMP/one" -type f | tr '\n' ' ')"
grep -q "startup-config: \"$IT_TMP/lab/frr-ospf/r2.conf\"" "$IT_TMP/one/topology.yaml" ||
  fail "r2's startup-config is not the absolute original: $(grep -n startup-config "$IT_TMP/one/topology.yaml")"
expect_rc 0 ltb validate "$IT_TMP/one/topology.yaml"

log "bad input"
expect_rc 1 ltb save it-sav -o "$IT_TMP/bad"
expect_output err "no lab named 'it-sav'"
expect_output err "did you mean 'it-save'"
expect_rc 1 ltb save "$lab" --node r9 -o "$IT_TMP/bad"
expect_output err "lab '$lab' has no node 'r9'"
expect_rc 1 ltb save "$lab" --node sw1 -o "$IT_TMP/bad"
expect_output err "node 'sw1' was not saved: an Open vSwitch bridge"

log "down, then up from the saved file: the cost is back"
expect_rc 0 ltb down --lab "$lab"
assert_lab_gone "$lab"
expect_rc 0 ltb up "$saved/topology.yaml"
assert_all_running "$lab"
wait_until 60 ospfd_ready r1 || fail "ospfd does not answer in r1 after 60 s (saved lab)"
wait_until 30 has_cost 77 || fail "r1 eth1 has OSPF cost '$(cost)' after up from the saved file, expected 77"
[[ $(cexec "$lab" h1 cat /etc/ltb/startup-config) == "$(cat "$IT_TMP/lab/h1.conf")" ]] ||
  fail "h1's startup-config after up from the saved file: $(cexec "$lab" h1 cat /etc/ltb/startup-config 2>&1)"
# And the routers still form their adjacencies with the saved configs.
full_neighbours() { cexec "$lab" r1 vtysh -c 'show ip ospf neighbor' 2>/dev/null | grep -c ' Full/' || true; }
two_full() { [[ $(full_neighbours) -eq 2 ]]; }
wait_until 60 two_full || fail "r1 has $(full_neighbours) Full OSPF neighbours with the saved configs, expected 2"

expect_rc 0 ltb down --lab "$lab"
assert_lab_gone "$lab"
