#!/usr/bin/env bash
# Snapshots of examples/frr-ospf.yaml: a loopback address added by hand on r1, a file written in
# it and FRR configuration told at its prompt (not written) are in the snapshot; after removing them and changing r2, a restore brings r1's back and
# takes r2's change away, OSPF converges and the hosts ping across. --as runs the snapshot as a
# second lab beside the original, both at once. SIGKILL during create and during restore: after
# the next ltb command the nodes run and no half snapshot is listed. `ltb down` leaves only the
# snapshot's own images; `ltb snapshot rm` frees them. Errors: a lab that does not run, a name
# that exists.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_frr" "$k_busybox"

lab=it-snap
copy=it-snapcopy
track_lab "$lab" "$copy"
example="$LTB_SOURCE_DIR/examples/frr-ospf.yaml"
file="$IT_TMP/frr-ospf.yaml"
grep -q '^  ipv4-subnet: 172\.20\.30\.0/24$' "$example" ||
  fail "$example no longer pins mgmt ipv4-subnet 172.20.30.0/24; update this test"
sed 's|^  ipv4-subnet: 172\.20\.30\.0/24$|  ipv4-subnet: 172.20.232.0/24|' "$example" >"$file"
cp -r "$LTB_SOURCE_DIR/examples/frr-ospf" "$IT_TMP/"
on_cleanup "docker images --format '{{.Repository}}:{{.Tag}}' --filter label=ltb.snapshot.lab=$lab | xargs -r docker rmi -f"

snapshot_images() { docker images -q --filter "label=ltb.snapshot.lab=$lab" --filter "label=ltb.snapshot=$1" | sort -u | wc -l; }
full_neighbours() {
  cexec "$1" "$2" vtysh -c 'show ip ospf neighbor' 2>/dev/null | grep -c ' Full/' || true
}
two_full() { [[ $(full_neighbours "$1" "$2") -eq 2 ]]; }
# converged LAB: every router has both OSPF neighbours and h1 reaches r3's loopback.
converged() {
  local router
  for router in r1 r2 r3; do
    wait_until 60 two_full "$1" "$router" ||
      fail "lab $1: $router has $(full_neighbours "$1" "$router") Full OSPF neighbours, expected 2"
  done
  retry 10 cexec "$1" h1 ping -c 2 -W 2 10.0.0.3 >/dev/null ||
    fail "lab $1: h1 cannot ping r3's loopback 10.0.0.3"
  retry 5 cexec "$1" h1 ping -c 2 -W 2 192.168.10.12 >/dev/null ||
    fail "lab $1: h1 cannot ping h2"
}
# has_config LAB NODE TEXT: the node's running FRR configuration has a line with TEXT.
has_config() { grep -q -- "$3" <<<"$(cexec "$1" "$2" vtysh -c 'show running-config' 2>/dev/null)"; }
has_address() { cexec "$1" "$2" ip -o addr show dev lo | grep -q " $3/32 "; }
# No container of the lab is paused, and every one runs.
none_paused() {
  local bad
  bad=$(docker ps -a --filter "label=ltb.lab=$1" --format '{{.Names}} {{.State}}' | grep -v ' running$' || true)
  [[ -z $bad ]] || fail "lab $1 has containers that do not run: $(tr '\n' ';' <<<"$bad")"
}

log "errors: a lab that does not run"
expect_rc 1 ltb snapshot create "$lab" s0
expect_output err "no lab named '$lab'"

expect_rc 0 ltb up "$file" --lab "$lab"
converged "$lab"

log "r1 gets a loopback address and a file by hand, then the snapshot"
cexec "$lab" r1 ip addr add 10.0.0.11/32 dev lo
cexec "$lab" r1 sh -c 'echo before > /root/snapshot-marker'
# Told to FRR at its prompt and not written: in no file, only in the daemons' running config.
cexec "$lab" r1 vtysh -c 'configure terminal' -c 'interface lo' -c 'description told-not-written' >/dev/null
retry 10 cexec "$lab" h1 ping -c 1 -W 2 10.0.0.11 >/dev/null ||
  fail "h1 cannot reach r1's new loopback 10.0.0.11 (OSPF should carry it)"
expect_rc 0 ltb snapshot create "$lab" s1
expect_output out "^snapshot s1 of lab $lab: 5 nodes, .*nodes paused [0-9]+ ms"
none_paused "$lab"
[[ $(snapshot_images s1) -eq 5 ]] || fail "expected 5 images labelled with snapshot s1, found $(snapshot_images s1)"
expect_rc 0 ltb snapshot list "$lab" --format json
jq -e '.snapshots | length == 1 and .[0].name == "s1"' "$IT_TMP/out" >/dev/null ||
  fail "ltb snapshot list does not show s1: $(cat "$IT_TMP/out")"
expect_rc 1 ltb snapshot create "$lab" s1
expect_output err "has a snapshot named 's1' already"

log "r1's loopback and file go, r2 changes; restore in place"
cexec "$lab" r1 ip addr del 10.0.0.11/32 dev lo
cexec "$lab" r1 rm /root/snapshot-marker
cexec "$lab" r2 ip addr add 10.0.0.22/32 dev lo
cexec "$lab" r2 sh -c 'echo after > /root/r2-change'
cexec "$lab" r1 vtysh -c 'configure terminal' -c 'interface lo' -c 'no description' >/dev/null
cexec "$lab" r2 vtysh -c 'configure terminal' -c 'interface lo' -c 'description after-snapshot' >/dev/null
expect_rc 0 ltb snapshot restore "$lab" s1
expect_output out "lab $lab runs snapshot s1 of lab $lab"
assert_all_running "$lab"
has_address "$lab" r1 10.0.0.11 || fail "r1's loopback address 10.0.0.11 is not back after the restore"
[[ $(cexec "$lab" r1 cat /root/snapshot-marker) == before ]] || fail "r1's file is not back after the restore"
# FRR reads its configuration a moment after the container starts: wait for r1's to be loaded.
wait_until 30 has_config "$lab" r1 'description told-not-written' ||
  fail "r1's running FRR configuration (told at the prompt, not written) is not back after the restore"
wait_until 30 has_config "$lab" r2 'description to r1 eth1' || fail "r2's FRR configuration is not loaded"
has_config "$lab" r2 'description after-snapshot' &&
  fail "r2's FRR configuration made after the snapshot is still there"
has_address "$lab" r2 10.0.0.22 && fail "r2's address 10.0.0.22 (made after the snapshot) is still there"
cexec "$lab" r2 test -e /root/r2-change && fail "r2's file (made after the snapshot) is still there"
converged "$lab"
retry 10 cexec "$lab" h1 ping -c 1 -W 2 10.0.0.11 >/dev/null ||
  fail "h1 cannot reach r1's restored loopback 10.0.0.11"

log "restore --as: a second lab beside the original"
expect_rc 0 ltb snapshot restore "$lab" s1 --as "$copy"
assert_all_running "$copy"
assert_all_running "$lab"
converged "$copy"
converged "$lab"
has_address "$copy" r1 10.0.0.11 || fail "the copy's r1 has no loopback 10.0.0.11"
[[ $(ltb status "$copy" --format json | jq -r '.subnet // .mgmt_subnet // empty') != 172.20.232.0/24 ]] ||
  fail "the copy runs on the original's management subnet"
expect_rc 0 ltb --quiet down --lab "$copy"
assert_lab_gone "$copy"

log "SIGKILL during create: the next command resumes the nodes and lists no half snapshot"
"$LTB" --state "$LTB_STATE" snapshot create "$lab" killed >"$IT_TMP/killed.out" 2>&1 &
pid=$!
track_pid "$pid"
# Kill once a node is paused (the window is short: poll fast, give up after 10 s and kill anyway).
paused=0
for ((i = 0; i < 400; i++)); do
  paused=$(docker ps --filter "label=ltb.lab=$lab" --filter status=paused -q | wc -l)
  ((paused > 0)) && break
  sleep 0.025
done
kill_and_reap "$pid" || true
log "killed the create with $paused nodes seen paused"
expect_rc 0 ltb snapshot list "$lab" --format json
jq -e '[.snapshots[].name] == ["s1"]' "$IT_TMP/out" >/dev/null ||
  fail "after a killed create, ltb snapshot list shows: $(cat "$IT_TMP/out")"
none_paused "$lab"
[[ $(snapshot_images killed) -eq 0 ]] || fail "the killed snapshot left $(snapshot_images killed) images"

log "SIGKILL during restore: the next command finishes it"
"$LTB" --state "$LTB_STATE" snapshot restore "$lab" s1 >"$IT_TMP/killed-restore.out" 2>&1 &
pid=$!
track_pid "$pid"
sleep 2
kill_and_reap "$pid" || true
expect_rc 0 ltb status "$lab"
assert_all_running "$lab"
none_paused "$lab"
converged "$lab"
expect_rc 0 ltb snapshot list "$lab" --format json
jq -e '[.snapshots[].name] == ["s1"]' "$IT_TMP/out" >/dev/null ||
  fail "after a killed restore, ltb snapshot list shows: $(cat "$IT_TMP/out")"

log "rm is refused while a lab runs on the snapshot; ltb down leaves only the snapshot's images"
expect_rc 1 ltb snapshot rm "$lab" s1
expect_output err "is in use"
expect_rc 0 ltb --quiet down --lab "$lab"
assert_lab_gone "$lab"
[[ $(snapshot_images s1) -eq 5 ]] || fail "ltb down took the snapshot's images: $(snapshot_images s1) left of 5"
expect_rc 0 ltb snapshot list "$lab" --format json
jq -e '.snapshots | length == 1' "$IT_TMP/out" >/dev/null || fail "the snapshot did not outlive ltb down"
expect_rc 0 ltb snapshot rm "$lab" s1
[[ $(snapshot_images s1) -eq 0 ]] || fail "ltb snapshot rm left $(snapshot_images s1) images"
[[ ! -e $IT_TMP/state/snapshots/$lab/s1 ]] || fail "ltb snapshot rm left $IT_TMP/state/snapshots/$lab/s1"
expect_rc 0 ltb snapshot list --format json
jq -e '.snapshots | length == 0' "$IT_TMP/out" >/dev/null || fail "snapshots left: $(cat "$IT_TMP/out")"
