#!/usr/bin/env bash
# A VM's link to an Open vSwitch segment, impaired in each direction separately. A VM (libvirt,
# software emulation) and two busybox containers on one ovs-bridge; the VM's NIC is a tap of
# ltb's, joined to the peer of its bridge port. On this host's default path (the relay: the
# kernel has no netem):
#   - `ltb link set vm1:eth1 --delay 30ms` (what vm1 sends into the segment) makes c1 <-> vm1's
#     RTT 30 ms more; then only `sw:p1` (what the bridge sends to vm1) 20 ms: 20 ms more; c1 <-> c2
#     stays unaffected;
#   - `ltb link down vm1:eth1` cuts vm1 off the segment (c1 <-> c2 still pass), `link up` brings
#     it back; `ltb capture vm1:eth1` and `ltb capture sw --port vm1` see vm1's pings;
# then the kernel path (LTB_IMPAIRMENTS=kernel: the lab is rewired in place, vm1 not made again):
#   - the tap and the port's peer are joined by tc redirects; a rate (tbf, which this kernel has)
#     on each direction lands on the egress of the host interface facing that direction;
#   - `ltb link down|up` cuts and restores vm1 there too;
#   - `ltb down` leaves no tap, veth, OVS port, domain or relay of the lab.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
command -v nsenter >/dev/null || fail "nsenter is missing (util-linux)"
command -v tc >/dev/null || fail "tc is missing (iproute2)"
command -v tcpdump >/dev/null || fail "tcpdump is missing (apt-get install tcpdump)"
virsh -c qemu:///system version >/dev/null 2>&1 ||
  fail "libvirtd does not answer (virsh -c qemu:///system version); start it (scripts/setup.sh services)"
images=${LTB_IMAGES:-/var/lib/ltb/images}
[[ -f $images/ltb-vm/image.json ]] || fail "VM image ltb-vm is missing; build it with scripts/build-images.sh"

unset LTB_IMPAIRMENTS # the host's own choice first: the relay here
lab=it-vmseg
track_lab "$lab"
file="$IT_TMP/lab.yaml"
cat >"$file" <<YAML
name: $lab
mgmt:
  ipv4-subnet: 172.20.239.0/24
topology:
  nodes:
    sw: {kind: ovs-bridge}
    vm1: {kind: vm, accel: qemu, cmdline: "ltb.addr.eth1=10.239.0.1/24"}
    c1: {kind: linux, image: $k_busybox, exec: ["ip addr add 10.239.0.2/24 dev eth1"]}
    c2: {kind: linux, image: $k_busybox, exec: ["ip addr add 10.239.0.3/24 dev eth1"]}
  links:
    - endpoints: ["vm1:eth1", "sw:p1"]
    - endpoints: ["c1:eth1", "sw:p2"]
    - endpoints: ["c2:eth1", "sw:p3"]
YAML
ltb up "$file"
labdir=$(dirname "$LTB_STATE")/labs/$lab
domain="ltb-$lab-vm1"
uuid=$(virsh -c qemu:///system domuuid "$domain")

# The VM's segment NIC is a tap ltb made (type ethernet), not a port of the bridge.
tap=$(virsh -c qemu:///system domiflist "$domain" | awk '$2 == "ethernet" { print $1 }')
[[ $tap == lv$(lab_hash "$lab")* ]] || fail "vm1's segment NIC is no tap of ltb's: $(virsh -c qemu:///system domiflist "$domain")"
bridge=$(ovs-vsctl --bare --columns=name find Bridge "external_ids:ltb-lab=$lab")
ovs-vsctl list-ports "$bridge" | grep -qx "$tap" && fail "vm1's tap $tap is a port of $bridge"

# rtt FROM TO-ADDRESS: the least RTT in ms of 15 pings ("none" when nothing came back); the
# least, as in test_segment_impairments.sh: load only ever adds to a round trip.
rtt() {
  local pid
  pid=$(docker inspect --format '{{.State.Pid}}' "$(container_name "$lab" "$1")")
  nsenter -t "$pid" -n ping -n -c 15 -i 0.1 -W 1 "$2" | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' |
    sort -g | awk 'NR == 1 { print; found = 1 } END { if (!found) print "none" }'
}
# expect_rtt FROM TO-ADDRESS LOW HIGH WHAT
expect_rtt() {
  local least
  least=$(rtt "$1" "$2")
  log "$5: $least ms"
  awk -v m="$least" -v lo="$3" -v hi="$4" 'BEGIN { exit !(m != "none" && m >= lo && m <= hi) }' ||
    fail "$5: RTT $least ms, expected [$3, $4] ms"
}
pings() { cexec "$lab" "$1" ping -c 1 -W 1 "$2" >/dev/null; }

log "waiting for vm1 to answer on the segment"
wait_until 150 pings c1 10.239.0.1 || fail "c1 cannot reach vm1 across the segment"
base=$(rtt c1 10.239.0.1)
[[ $base != none ]] || fail "c1 -> vm1 has no RTT"
log "c1 -> vm1 unimpaired: $base ms (least of 15)"
via=$(ltb link list "$lab" --format json | jq -r '[.. | objects | select(has("via")) | .via] | unique | join(",")')
[[ $via == relay ]] || fail "ltb link list says the links go via '$via', not the relay"
# bounds BASE ADDED: the range an RTT of BASE + ADDED ms may fall in (the guest's own reply time,
# under emulation, is part of BASE and varies by a few ms).
lo() { awk -v b="$base" -v d="$1" 'BEGIN { print d - 2 }'; }
hi() { awk -v b="$base" -v d="$1" 'BEGIN { print b + d + 8 }'; }

log "relay: delay on what vm1 sends into the segment only"
before=$(container_ids "$lab")
ltb link set vm1:eth1 --delay 30ms
expect_rtt c1 10.239.0.1 "$(lo 30)" "$(hi 30)" "c1 -> vm1 with vm1 -> segment delayed 30 ms"
expect_rtt c1 10.239.0.3 0 5 "c1 -> c2 (not impaired)"
log "relay: delay on what the segment sends to vm1 only"
ltb link set vm1:eth1 --delay 0ms
ltb link set sw:p1 --delay 20ms
expect_rtt c1 10.239.0.1 "$(lo 20)" "$(hi 20)" "c1 -> vm1 with segment -> vm1 delayed 20 ms"
json=$(ltb link list "$lab" --format json)
log "ltb link list: $(jq -c . <<<"$json")"
[[ $(container_ids "$lab") == "$before" ]] || fail "ltb link set recreated a container"
[[ $(virsh -c qemu:///system domuuid "$domain") == "$uuid" ]] || fail "ltb link set made vm1 again"
alive() { [[ -e /proc/$1 && $(ps -o stat= -p "$1" 2>/dev/null) != Z* ]]; }
alive "$(cat "$labdir/relay.pid")" || fail "no relay process for the lab"

log "relay: ltb link down cuts vm1 off the segment; ltb link up brings it back"
ltb link down vm1:eth1
[[ $(rtt c1 10.239.0.1) == none ]] || fail "c1 still reaches vm1 with vm1's link down"
expect_rtt c1 10.239.0.3 0 5 "c1 -> c2 while vm1's link is down"
ltb link up vm1:eth1
expect_rtt c1 10.239.0.1 "$(lo 20)" "$(hi 20)" "c1 -> vm1 after link up"

log "capture: vm1's end of the segment link, and the segment at vm1's port"
cexec "$lab" c1 ping -c 60 -i 0.1 10.239.0.1 >/dev/null 2>&1 &
pinger=$!
track_pid "$pinger"
for target in "vm1:eth1" "sw --port vm1"; do
  # shellcheck disable=SC2086 # the target is two words for the segment
  timeout 20 "$LTB" --state "$LTB_STATE" capture $target --lab "$lab" -f icmp -c 4 \
    -w "$IT_TMP/cap.pcap" 2>"$IT_TMP/cap.err" || fail "ltb capture $target: $(cat "$IT_TMP/cap.err")"
  n=$(tcpdump -n -r "$IT_TMP/cap.pcap" 2>/dev/null | grep -c 'ICMP echo')
  ((n == 4)) || fail "ltb capture $target wrote $n ICMP echoes, not 4"
done
wait "$pinger" || true

log "kernel path: the lab is rewired in place"
ltb link set sw:p1 --delay 0ms # the kernel here has no netem: only rate (tbf) can go there
LTB_IMPAIRMENTS=kernel ltb up "$file"
[[ $(virsh -c qemu:///system domuuid "$domain") == "$uuid" ]] || fail "the switch to the kernel path made vm1 again"
[[ $(virsh -c qemu:///system domiflist "$domain" | awk '$2 == "ethernet" { print $1 }') == "$tap" ]] ||
  fail "vm1's tap changed with the switch"
[[ -e $labdir/relay.pid ]] && alive "$(cat "$labdir/relay.pid")" && fail "the relay still runs on the kernel path"
# The tap's ingress redirects to the port's peer, whose ingress redirects back to the tap.
peer=$(tc filter show dev "$tap" ingress | sed -n 's/.*Redirect to device \([^)]*\)).*/\1/p')
[[ -n $peer ]] || fail "no redirect on vm1's tap $tap: $(tc filter show dev "$tap" ingress)"
grep -q "Redirect to device $tap" <<<"$(tc filter show dev "$peer" ingress)" ||
  fail "no redirect from $peer back to $tap: $(tc filter show dev "$peer" ingress)"
port=$(ip -o link show dev "$peer" | sed -n 's/^[0-9]*: [^@]*@\([^:]*\):.*/\1/p')
ovs-vsctl list-ports "$bridge" | grep -qx "$port" || fail "$peer's veth peer '$port' is no port of $bridge"
expect_rtt c1 10.239.0.1 0 "$(hi 0)" "c1 -> vm1 through the redirects"

log "kernel path: a rate on each direction, on the egress facing it"
LTB_IMPAIRMENTS=kernel ltb link set vm1:eth1 --rate 10mbit
grep -q tbf <<<"$(tc qdisc show dev "$peer")" || fail "no tbf on $peer (vm1 -> segment): $(tc qdisc show dev "$peer")"
grep -q tbf <<<"$(tc qdisc show dev "$tap")" && fail "tbf on the tap for vm1 -> segment: $(tc qdisc show dev "$tap")"
LTB_IMPAIRMENTS=kernel ltb link set sw:p1 --rate 5mbit
grep -q 'tbf.*rate 5Mbit' <<<"$(tc qdisc show dev "$tap")" ||
  fail "no 5mbit tbf on the tap (segment -> vm1): $(tc qdisc show dev "$tap")"
grep -q 'tbf.*rate 10Mbit' <<<"$(tc qdisc show dev "$peer")" ||
  fail "the 10mbit tbf on $peer went: $(tc qdisc show dev "$peer")"
expect_rtt c1 10.239.0.1 0 "$(hi 0)" "c1 -> vm1 rate-limited both ways"

log "kernel path: ltb link down|up"
LTB_IMPAIRMENTS=kernel ltb link down vm1:eth1
[[ $(rtt c1 10.239.0.1) == none ]] || fail "c1 still reaches vm1 with vm1's link down (kernel path)"
expect_rtt c1 10.239.0.3 0 5 "c1 -> c2 while vm1's link is down"
LTB_IMPAIRMENTS=kernel ltb link up vm1:eth1
expect_rtt c1 10.239.0.1 0 "$(hi 0)" "c1 -> vm1 after link up (kernel path)"

log "ltb down leaves no tap, veth, port, domain or relay of the lab"
ltb down --lab "$lab"
ip link show dev "$tap" >/dev/null 2>&1 && fail "ltb down left vm1's tap $tap"
assert_lab_gone "$lab"
