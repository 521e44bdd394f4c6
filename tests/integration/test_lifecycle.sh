#!/usr/bin/env bash
# ltb stop / start / restart: a chain of three containers and a VM. Restarting one container
# touches nothing else (container ids and link ifindexes of the others stay) and its links carry
# traffic again with the addresses and routes set inside it; a stopped lab keeps its containers
# (exited) and its VM (shut off), `ltb status` shows it stopped, `ltb up` leaves it so; started
# again, every link carries traffic; `ltb down` of a stopped lab leaves nothing (no container,
# domain, kept network namespace or host interface).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
virsh -c qemu:///system version >/dev/null 2>&1 ||
  fail "libvirtd does not answer (virsh -c qemu:///system version); start it (scripts/setup.sh services)"
images=${LTB_IMAGES:-/var/lib/ltb/images}
[[ -f $images/ltb-vm/image.json ]] || fail "VM image ltb-vm is missing; build it with scripts/build-images.sh"

lab=it-lifecycle
track_lab "$lab"
file="$IT_TMP/lifecycle.yaml"
cat >"$file" <<EOF2
name: $lab
mgmt:
  ipv4-subnet: 172.20.237.0/24
topology:
  nodes:
    r1:
      kind: linux
      image: $k_busybox
      exec: ["ip addr add 10.237.1.1/24 dev eth1", "ip addr add 10.237.3.2/24 dev eth2",
             "ip route add 10.237.9.0/24 via 10.237.1.2"]
    r2:
      kind: linux
      image: $k_busybox
      exec: ["ip addr add 10.237.1.2/24 dev eth1", "ip addr add 10.237.2.2/24 dev eth2",
             "ip route add 10.237.8.0/24 via 10.237.2.3"]
    r3:
      kind: linux
      image: $k_busybox
      exec: ["ip addr add 10.237.2.3/24 dev eth1"]
    vm1:
      kind: vm
      accel: qemu
      cmdline: "ltb.addr.eth1=10.237.3.1/24"
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r2:eth2", "r3:eth1"]
    - endpoints: ["vm1:eth1", "r1:eth2"]
EOF2

ifindex() { cexec "$lab" "$1" cat "/sys/class/net/$2/ifindex"; }
pings() { cexec "$lab" "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; }
node_states() { ltb status "$lab" --format json | jq -r '.nodes[] | "\(.name)=\(.state)"' | sort | paste -sd ' '; }

expect_rc 0 ltb up "$file"
wait_until 30 pings r1 10.237.1.2 || fail "r1 cannot reach r2 after up"
wait_until 30 pings r3 10.237.2.2 || fail "r3 cannot reach r2 after up"
wait_until 150 pings r1 10.237.3.1 || fail "r1 cannot reach vm1 after up"

log "restart of r2 touches nothing else, and its links carry traffic again"
ids=$(container_ids "$lab")
r1_if=$(ifindex r1 eth1)
r3_if=$(ifindex r3 eth1)
r2_mac=$(cexec "$lab" r2 cat /sys/class/net/eth1/address)
uuid=$(virsh -c qemu:///system domuuid "ltb-$lab-vm1")
start=$(date +%s%N)
expect_rc 0 ltb restart "$lab" --node r2 --timeout 5
expect_output out "restarted r2"
wait_until 30 pings r1 10.237.1.2 || fail "r1 cannot reach r2 across eth1 after r2's restart"
wait_until 30 pings r3 10.237.2.2 || fail "r3 cannot reach r2 across eth2 after r2's restart"
log "r2's links carried traffic again $((($(date +%s%N) - start) / 1000000)) ms after the restart began"
[[ $(container_ids "$lab") == "$ids" ]] || fail "container ids changed on a restart of r2: $(container_ids "$lab" | tr '\n' ';')"
[[ $(ifindex r1 eth1) == "$r1_if" ]] || fail "r1's eth1 changed (ifindex $r1_if -> $(ifindex r1 eth1))"
[[ $(ifindex r3 eth1) == "$r3_if" ]] || fail "r3's eth1 changed (ifindex $r3_if -> $(ifindex r3 eth1))"
[[ $(cexec "$lab" r2 cat /sys/class/net/eth1/address) == "$r2_mac" ]] || fail "r2's eth1 has another MAC"
cexec "$lab" r2 ip -o addr show eth2 | grep -q "10.237.2.2/24" || fail "r2's eth2 lost its address"
cexec "$lab" r2 ip route | grep -q "10.237.8.0/24 via 10.237.2.3 dev eth2" ||
  fail "r2's route through eth2 is gone: $(cexec "$lab" r2 ip route | tr '\n' ';')"
[[ $(virsh -c qemu:///system domuuid "ltb-$lab-vm1") == "$uuid" ]] || fail "vm1 was touched by r2's restart"
[[ $(node_states) == "r1=running r2=running r3=running vm1=running" ]] || fail "status after restart: $(node_states)"

log "stop of the whole lab keeps the containers and the VM"
expect_rc 0 ltb stop "$lab" --timeout 10
[[ $(docker ps -q --filter "label=ltb.lab=$lab" | wc -l) -eq 0 ]] || fail "containers still run after ltb stop"
[[ $(count_containers "$lab") -eq 3 ]] || fail "ltb stop removed containers: $(container_ids "$lab" | tr '\n' ';')"
[[ $(virsh -c qemu:///system domstate "ltb-$lab-vm1") == "shut off" ]] ||
  fail "vm1 is not shut off: $(virsh -c qemu:///system domstate "ltb-$lab-vm1")"
# Each container's network namespace is kept under its name, its link interfaces in it as they
# were (addresses included); nothing was moved into a lab-wide parking namespace.
for node in r1 r2 r3; do
  [[ -e /run/netns/ltb-$lab-$node ]] || fail "no kept network namespace ltb-$lab-$node"
done
ip -n "ltb-$lab-r2" -o addr show eth2 | grep -q "10.237.2.2/24" ||
  fail "r2's eth2 is not kept with its address: $(ip -n "ltb-$lab-r2" -o addr 2>&1 | tr '\n' ';')"
[[ ! -e /run/netns/ltb-park-$lab ]] || fail "ltb stop made a parking namespace ltb-park-$lab"
[[ $(node_states) == "r1=stopped r2=stopped r3=stopped vm1=stopped" ]] || fail "status after stop: $(node_states)"
ltb status | grep -E "^$lab +.*stopped" >/dev/null || fail "the lab is not listed stopped: $(ltb status)"
expect_rc 0 ltb up "$file"
expect_output out "up to date"
[[ $(docker ps -q --filter "label=ltb.lab=$lab" | wc -l) -eq 0 ]] || fail "ltb up started stopped containers"
[[ $(container_ids "$lab") == "$ids" ]] || fail "ltb up of a stopped lab changed its containers"
expect_rc 0 ltb stop "$lab"
expect_output out "nothing to do"

log "start brings every link back"
expect_rc 0 ltb start "$lab"
[[ $(container_ids "$lab") == "$ids" ]] || fail "ltb start made new containers"
[[ $(virsh -c qemu:///system domuuid "ltb-$lab-vm1") == "$uuid" ]] || fail "vm1 is another domain after start"
wait_until 30 pings r1 10.237.1.2 || fail "r1 cannot reach r2 after start"
wait_until 30 pings r3 10.237.2.2 || fail "r3 cannot reach r2 after start"
cexec "$lab" r1 ip route | grep -q "10.237.9.0/24 via 10.237.1.2 dev eth1" ||
  fail "r1's route through eth1 is gone after start: $(cexec "$lab" r1 ip route | tr '\n' ';')"
wait_until 150 pings r1 10.237.3.1 || fail "r1 cannot reach vm1 after start"
[[ $(node_states) == "r1=running r2=running r3=running vm1=running" ]] || fail "status after start: $(node_states)"
for node in r1 r2 r3; do
  [[ ! -e /run/netns/ltb-$lab-$node ]] || fail "ltb start left the kept namespace ltb-$lab-$node"
done
expect_rc 0 ltb up "$file"
expect_output out "up to date"

log "down of a stopped lab leaves nothing"
expect_rc 0 ltb stop "$lab" --node r1 --node vm1 --timeout 5
[[ $(node_states) == "r1=stopped r2=running r3=running vm1=stopped" ]] || fail "status after a partial stop: $(node_states)"
[[ -e /run/netns/ltb-$lab-r1 ]] || fail "no kept network namespace ltb-$lab-r1 after stop --node r1"
expect_rc 0 ltb down --lab "$lab"
assert_lab_gone "$lab"
[[ ! -e /run/netns/ltb-$lab-r1 ]] || fail "ltb down left the kept namespace ltb-$lab-r1"
log "PASS"
