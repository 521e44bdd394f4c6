#!/usr/bin/env bash
# A mixed lab: one VM (libvirt, software emulation) and two containers, a veth-style link between
# the VM and a container, and an OVS segment joining the VM and the other container. The VM
# answers on its management address and reaches both containers; an unchanged `ltb up` touches
# nothing; a VM destroyed by hand is recreated and re-wired; `ltb down` leaves no domain, overlay,
# tap, port or network.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
virsh -c qemu:///system version >/dev/null 2>&1 ||
  fail "libvirtd does not answer (virsh -c qemu:///system version); start it (scripts/setup.sh services)"
images=${LTB_IMAGES:-/var/lib/ltb/images}
[[ -f $images/ltb-vm/image.json ]] || fail "VM image ltb-vm is missing; build it with scripts/build-images.sh"

lab=it-vm-mixed
track_lab "$lab"
file="$IT_TMP/mixed.yaml"
cat >"$file" <<EOF2
name: $lab
mgmt:
  ipv4-subnet: 172.20.238.0/24
topology:
  nodes:
    vm1:
      kind: vm
      accel: qemu
      cmdline: "ltb.addr.eth1=10.238.1.1/24 ltb.addr.eth2=10.238.2.1/24"
    c1:
      kind: linux
      image: $k_busybox
      exec: ["ip addr add 10.238.1.2/24 dev eth1", "ip link set eth1 up"]
    c2:
      kind: linux
      image: $k_busybox
      exec: ["ip addr add 10.238.2.2/24 dev eth1", "ip link set eth1 up"]
    sw1:
      kind: ovs-bridge
  links:
    - endpoints: ["vm1:eth1", "c1:eth1"]
    - endpoints: ["vm1:eth2", "sw1:p1"]
    - endpoints: ["c2:eth1", "sw1:p2"]
EOF2

expect_rc 0 ltb up "$file"
state=$(virsh -c qemu:///system domstate "ltb-$lab-vm1")
[[ $state == running* ]] || fail "domain ltb-$lab-vm1 is not running ($state)"
vm_ip=$(ltb status "$lab" --format json | jq -r '.nodes[] | select(.name == "vm1") | .mgmt_ipv4')
[[ $vm_ip == 172.20.238.* ]] || fail "vm1 has no management address in status: '$vm_ip'"
log "waiting for vm1 to answer on $vm_ip"
wait_until 120 ping -c 1 -W 1 "$vm_ip" >/dev/null || fail "vm1 does not answer ping on $vm_ip"
wait_until 60 cexec "$lab" c1 ping -c 1 -W 1 10.238.1.1 >/dev/null ||
  fail "c1 cannot reach vm1 across the veth-style link"
wait_until 60 cexec "$lab" c2 ping -c 1 -W 1 10.238.2.1 >/dev/null ||
  fail "c2 cannot reach vm1 across the OVS segment"
wait_until 60 grep -q "ltb-vm ready" "$IT_TMP/state/labs/$lab/vm1/console.log" ||
  fail "the serial console log does not show the guest's ready line"

log "ltb console attaches the terminal to the serial console, and Ctrl-] detaches"
command -v tmux >/dev/null || fail "tmux is missing (scripts/setup.sh deps installs it)"
session="ltbtest-console-$$"
tmux new-session -d -s "$session" -x 120 -y 30 \
  "'$LTB' --state '$LTB_STATE' console vm1; echo console-exit=\$?; sleep 30"
pane() { tmux capture-pane -t "$session" -p; }
trap_console() { tmux kill-session -t "$session" 2>/dev/null || true; }
wait_until 10 bash -c "tmux capture-pane -t '$session' -p | grep -q 'Escape: Ctrl-]'" ||
  { trap_console; fail "ltb console did not attach"; }
tmux send-keys -t "$session" "" Enter
tmux send-keys -t "$session" 'echo console-$((6*7))' Enter
wait_until 20 bash -c "tmux capture-pane -t '$session' -p | grep -qx 'console-42'" ||
  { pane >&2; trap_console; fail "the guest did not answer on its console"; }
tmux send-keys -t "$session" C-]
wait_until 10 bash -c "tmux capture-pane -t '$session' -p | grep -q 'console-exit=0'" ||
  { pane >&2; trap_console; fail "Ctrl-] did not detach with exit status 0"; }
trap_console

log "an unchanged up touches nothing"
uuid=$(virsh -c qemu:///system domuuid "ltb-$lab-vm1")
ids=$(container_ids "$lab")
expect_rc 0 ltb up "$file"
expect_output out "up to date"
[[ $(virsh -c qemu:///system domuuid "ltb-$lab-vm1") == "$uuid" ]] || fail "the VM was recreated by a no-op up"
[[ $(container_ids "$lab") == "$ids" ]] || fail "containers changed on a no-op up"

log "a VM destroyed by hand is recreated and re-wired; the containers stay"
virsh -c qemu:///system destroy "ltb-$lab-vm1" >/dev/null
ltb status "$lab" >"$IT_TMP/status"
grep -E '^vm1 .* missing' "$IT_TMP/status" >/dev/null || fail "status does not show vm1 missing: $(cat "$IT_TMP/status")"
expect_rc 0 ltb up "$file"
[[ $(container_ids "$lab") == "$ids" ]] || fail "containers changed when only the VM was recreated"
wait_until 120 cexec "$lab" c1 ping -c 1 -W 1 10.238.1.1 >/dev/null ||
  fail "c1 cannot reach the recreated vm1"
wait_until 60 cexec "$lab" c2 ping -c 1 -W 1 10.238.2.1 >/dev/null ||
  fail "c2 cannot reach the recreated vm1 across the segment"

log "ltb inspect shows the VM's accelerator, vCPUs and memory"
inspect=$(ltb inspect "$lab" --format json)
[[ $(jq -r '.nodes[] | select(.name == "vm1") | "\(.vm.state) \(.vm.accel) \(.vm.vcpus) \(.vm.memory_mib)"' <<<"$inspect") == "running qemu 1 256" ]] ||
  fail "inspect does not show vm1 as running qemu 1 vCPU 256 MiB: $(jq -c '.nodes[] | select(.name == "vm1") | .vm' <<<"$inspect")"
ltb inspect "$lab" | grep -E '^vm1 +running +qemu +1 +256 MiB' >/dev/null ||
  fail "the inspect table has no VM row for vm1: $(ltb inspect "$lab")"

log "a VM lab runs a DHCP server with a reservation for vm1's recorded address"
dnsmasq_pid=$(cat "$IT_TMP/state/labs/$lab/dnsmasq.pid")
[[ -d /proc/$dnsmasq_pid ]] || fail "the lab's DHCP server (pid $dnsmasq_pid) does not run"
grep -q ",$vm_ip,vm1\$" "$IT_TMP/state/labs/$lab/dnsmasq.hosts" ||
  fail "no DHCP reservation of $vm_ip for vm1: $(cat "$IT_TMP/state/labs/$lab/dnsmasq.hosts")"

log "more memory and DHCP addressing: only vm1 is recreated; it gets its address by DHCP"
sed -i -e 's/      accel: qemu/      accel: qemu\n      memory: 384MiB/' \
  -e 's/cmdline: "ltb.addr.eth1/cmdline: "ltb.mgmt=dhcp ltb.addr.eth1/' "$file"
expect_rc 0 ltb up "$file"
[[ $(container_ids "$lab") == "$ids" ]] || fail "containers changed when only the VM changed"
[[ $(virsh -c qemu:///system domuuid "ltb-$lab-vm1") != "$uuid" ]] || fail "vm1 was not recreated"
[[ $(ltb inspect "$lab" --format json | jq -r '.nodes[] | select(.name == "vm1") | .vm.memory_mib') == 384 ]] ||
  fail "vm1 does not have 384 MiB after the edit"
[[ $(ltb status "$lab" --format json | jq -r '.nodes[] | select(.name == "vm1") | .mgmt_ipv4') == "$vm_ip" ]] ||
  fail "vm1's management address changed on recreation"
wait_until 120 grep -q "eth0 has $vm_ip/24 from DHCP" "$IT_TMP/state/labs/$lab/vm1/console.log" ||
  fail "vm1 did not get $vm_ip by DHCP: console: $(grep -a -E 'udhcpc|ltb-vm' "$IT_TMP/state/labs/$lab/vm1/console.log" | tail -5); DHCP server: $(tail -3 "$IT_TMP/state/labs/$lab/dnsmasq.log")"
wait_until 60 ping -c 1 -W 1 "$vm_ip" >/dev/null || fail "vm1 does not answer ping on $vm_ip after DHCP"
[[ $(cat "$IT_TMP/state/labs/$lab/dnsmasq.pid") == "$dnsmasq_pid" ]] ||
  fail "the DHCP server was restarted although its reservations did not change"

expect_rc 0 ltb down "$file"
[[ ! -d /proc/$dnsmasq_pid ]] || fail "ltb down left the DHCP server (pid $dnsmasq_pid) running"
assert_lab_gone "$lab"
log "PASS"
