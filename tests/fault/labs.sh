# shellcheck shell=bash disable=SC2154 # k_busybox comes from tests/integration/lib.sh
# The crash tests' lab, shared by fault.sh and services.sh (sourced; needs k_busybox from
# tests/integration/lib.sh).

# mixed_lab NAME NET: a VM, two containers and an OVS segment, c1 and c2 also sharing a veth, on
# the management network 172.20.NET.0/24 (the lab's own addresses are in 10.NET.0.0/24).
mixed_lab() {
  local name=$1 net=$2
  cat <<YAML
name: $name
mgmt:
  ipv4-subnet: 172.20.$net.0/24
topology:
  nodes:
    sw: {kind: ovs-bridge}
    vm1: {kind: vm, accel: qemu, cmdline: "ltb.addr.eth1=10.$net.0.1/24"}
    c1: {kind: linux, image: $k_busybox, exec: ["ip addr add 10.$net.0.2/24 dev eth1"]}
    c2: {kind: linux, image: $k_busybox, exec: ["ip addr add 10.$net.0.3/24 dev eth1"]}
  links:
    - endpoints: ["vm1:eth1", "sw:p1"]
    - endpoints: ["c1:eth1", "sw:p2"]
    - endpoints: ["c2:eth1", "sw:p3"]
    - endpoints: ["c1:eth2", "c2:eth2"]
YAML
}

# require_mixed_lab: what mixed_lab's nodes need (dockerd with the busybox image, Open vSwitch,
# libvirtd and the VM image); a missing one fails.
require_mixed_lab() {
  require_services "$k_busybox"
  virsh -c qemu:///system version >/dev/null 2>&1 ||
    fail "libvirtd does not answer (virsh -c qemu:///system version); start it (scripts/setup.sh services)"
  local images=${LTB_IMAGES:-/var/lib/ltb/images}
  [[ -f $images/ltb-vm/image.json ]] || fail "VM image ltb-vm is missing; build it with scripts/build-images.sh"
}
