#!/usr/bin/env bash
# Link impairments and cables end to end, on whichever path this host takes (the kernel's netem
# where it has it; ltb's userspace relay where it does not, as on the test machines):
#   - a bad impairment in a file is an error at its file:line:col (exit 2);
#   - accuracy on a veth link: `delay: 50ms` (from the file) gives a ping RTT of 100 ms +- 5 ms;
#     `loss: 20%` on one direction over 2,000 pings lands within the binomial 99.9 % bounds;
#     `rate: 10mbit` gives an iperf3 TCP throughput within 10 %;
#   - changing only impairments (file or `ltb link set`) recreates no container, and `ltb up`
#     keeps a run-time change unless the file sets that direction;
#   - the kernel path: tbf (which this kernel has) shapes the rate with LTB_IMPAIRMENTS=kernel,
#     and a netem request on a kernel without netem fails naming the relay;
#   - `ltb link down` makes OSPF (examples/frr-ospf.yaml) drop the neighbour within its dead
#     interval, `ltb up` leaves it down, `ltb link up` brings it back.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_frr" "$k_busybox"
command -v iperf3 >/dev/null || fail "iperf3 is missing (scripts/setup.sh deps installs it)"
command -v nsenter >/dev/null || fail "nsenter is missing (util-linux)"
command -v tc >/dev/null || fail "tc is missing (iproute2)"

lab=it-imp
track_lab "$lab"
pid_of() { docker inspect --format '{{.State.Pid}}' "$(container_name "$lab" "$1")"; }
# in_node NODE CMD...: the host's CMD in the node's network namespace (iputils ping, iperf3, tc).
in_node() {
  local pid
  pid=$(pid_of "$1")
  shift
  nsenter -t "$pid" -n "$@"
}

# Does this kernel have netem? Tried in a throwaway namespace, as ltb does.
if unshare -n tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then
  netem=yes
else
  netem=no
fi
log "kernel netem: $netem"

log "a bad impairment is reported where it is written"
cat >"$IT_TMP/bad.yaml" <<'EOF'
name: bad
topology:
  nodes:
    r1: {kind: linux, image: ltb/busybox:latest}
    r2: {kind: linux, image: ltb/busybox:latest}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
      impairments: {delay: 50, loss: 2%, rate: 10mbps}
EOF
expect_rc 2 ltb validate "$IT_TMP/bad.yaml"
expect_output err "bad\.yaml:8:28: error: delay: duration '50' has no unit"
expect_output err "bad\.yaml:8:48: error: rate: rate '10mbps' has an unknown unit 'mbps'"

write_lab() { # write_lab IMPAIRMENTS-LINE: two FRR nodes (iperf3 inside) on one veth link
  cat >"$IT_TMP/lab.yaml" <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.232.0/24
topology:
  nodes:
    r1:
      kind: frr
      exec: ["ip addr add 10.77.0.1/30 dev eth1"]
    r2:
      kind: frr
      exec: ["ip addr add 10.77.0.2/30 dev eth1"]
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
$1
EOF
}

log "the kernel path: tbf shapes the rate; netem is detected"
write_lab ""
LTB_IMPAIRMENTS=kernel expect_rc 0 ltb up "$IT_TMP/lab.yaml"
LTB_IMPAIRMENTS=kernel expect_rc 0 ltb link set r1:eth1 --rate 5mbit
in_node r1 tc qdisc show dev eth1 | grep -Eq 'tbf .*rate 5Mbit' ||
  fail "no tbf of 5Mbit on r1:eth1: $(in_node r1 tc qdisc show dev eth1)"
# A stopped node's link ends are parked in another namespace, which drops their qdiscs: start
# applies them again.
LTB_IMPAIRMENTS=kernel expect_rc 0 ltb restart "$lab" --node r1
in_node r1 tc qdisc show dev eth1 | grep -Eq 'tbf .*rate 5Mbit' ||
  fail "no tbf of 5Mbit on r1:eth1 after ltb restart --node r1: $(in_node r1 tc qdisc show dev eth1)"
if [[ $netem == no ]]; then
  LTB_IMPAIRMENTS=kernel expect_rc 1 ltb link set r1:eth1 --delay 5ms
  expect_output err "the kernel has no netem qdisc"
  expect_output err "LTB_IMPAIRMENTS=relay"
else
  LTB_IMPAIRMENTS=kernel expect_rc 0 ltb link set r1:eth1 --delay 5ms
  grep -q 'netem' <<<"$(in_node r1 tc qdisc show dev eth1)" || fail "no netem on r1:eth1"
fi
expect_rc 0 ltb down --lab "$lab"

log "link down: OSPF drops the neighbour within its dead interval (4 s); link up brings it back"
ospf=it-imp-ospf
track_lab "$ospf"
sed 's|^  ipv4-subnet: 172\.20\.30\.0/24$|  ipv4-subnet: 172.20.233.0/24|' \
  "$LTB_SOURCE_DIR/examples/frr-ospf.yaml" >"$IT_TMP/frr-ospf.yaml"
cp -r "$LTB_SOURCE_DIR/examples/frr-ospf" "$IT_TMP/"
expect_rc 0 ltb up "$IT_TMP/frr-ospf.yaml" --lab "$ospf"
full() { docker exec "ltb-$ospf-$1" vtysh -c 'show ip ospf neighbor' 2>/dev/null | grep -c ' Full/' || true; }
has_full() { [[ $(full "$1") -eq $2 ]]; }
wait_until 60 has_full r1 2 || fail "r1 has no 2 Full neighbours: $(docker exec "ltb-$ospf-r1" vtysh -c 'show ip ospf neighbor' 2>&1)"
start=$(date +%s%N)
expect_rc 0 ltb link down r1-r2 --lab "$ospf"
wait_until 6 has_full r1 1 || fail "r1 still has $(full r1) Full neighbours 6 s after ltb link down"
took=$((($(date +%s%N) - start) / 1000000))
log "r1 dropped r2 after $took ms"
((took <= 4500)) || fail "r1 dropped r2 after $took ms, beyond the dead interval (4 s)"
docker exec "ltb-$ospf-r1" ip link show eth1 | grep -Eq 'NO-CARRIER|state DOWN' ||
  fail "r1:eth1 still has carrier: $(docker exec "ltb-$ospf-r1" ip link show eth1)"
docker exec "ltb-$ospf-r2" ip link show eth1 | grep -Eq 'NO-CARRIER|state DOWN' ||
  fail "r2:eth1 still has carrier: $(docker exec "ltb-$ospf-r2" ip link show eth1)"
expect_rc 0 ltb link list "$ospf" --format json
jq -e '.links[] | select(.name == "r1-r2") | .state == "down"' "$IT_TMP/out" >/dev/null ||
  fail "ltb link list does not show r1-r2 down: $(cat "$IT_TMP/out")"
expect_rc 0 ltb up "$IT_TMP/frr-ospf.yaml" --lab "$ospf"
expect_output out "up to date"
has_full r1 1 || fail "ltb up brought r1-r2 back up"
expect_rc 0 ltb link up r1-r2 --lab "$ospf"
wait_until 30 has_full r1 2 || fail "r1 has $(full r1) Full neighbours 30 s after ltb link up"
expect_rc 0 ltb down --lab "$ospf"

log "on this host's own path (auto): accuracy"
log "delay: 50ms in the file gives an RTT of 100 ms +- 5 ms"
write_lab "      impairments: {delay: 50ms}"
expect_rc 0 ltb up "$IT_TMP/lab.yaml"
ids=$(container_ids "$lab")
retry 5 in_node r1 ping -c 1 -W 2 10.77.0.2 >/dev/null || fail "r1 cannot ping r2 over the link"
rtt=$(in_node r1 ping -q -c 20 -i 0.1 10.77.0.2 | awk -F'/' '/^rtt|^round-trip/ { print $5 }')
log "RTT avg $rtt ms"
awk -v r="$rtt" 'BEGIN { exit !(r >= 95 && r <= 105) }' || fail "RTT $rtt ms is not 100 +- 5 ms"
expect_rc 0 ltb link list "$lab" --format json
jq -e '.links[0] | .a.impairments == "delay 50ms" and .a.source == "file" and .b.impairments == "delay 50ms" and .state == "up"' "$IT_TMP/out" >/dev/null ||
  fail "ltb link list does not show the file's delay on both directions: $(cat "$IT_TMP/out")"
log "a restarted node's link keeps its delay"
expect_rc 0 ltb restart "$lab" --node r2
ids=$(container_ids "$lab")
retry 10 in_node r1 ping -c 1 -W 2 10.77.0.2 >/dev/null || fail "r1 cannot ping r2 after ltb restart --node r2"
rtt=$(in_node r1 ping -q -c 10 -i 0.1 10.77.0.2 | awk -F'/' '/^rtt|^round-trip/ { print $5 }')
log "RTT avg $rtt ms after the restart"
awk -v r="$rtt" 'BEGIN { exit !(r >= 95 && r <= 105) }' || fail "RTT $rtt ms after ltb restart --node r2 is not 100 +- 5 ms"

log "loss: 20% on the packets leaving r1:eth1, 2,000 pings"
expect_rc 0 ltb link set r1:eth1 --delay 0 --loss 20%
expect_rc 0 ltb link set r2:eth1 --delay 0
[[ $(container_ids "$lab") == "$ids" ]] || fail "ltb link set recreated containers"
received=$(in_node r1 ping -q -c 2000 -i 0.005 -W 1 10.77.0.2 | awk '/packets transmitted/ { print $4 }')
# Binomial(2000, 0.8) received: mean 1600, sd 17.9; the 99.9 % two-sided bounds are +- 3.29 sd.
bounds=$(awk 'BEGIN { m = 2000 * 0.8; s = sqrt(2000 * 0.8 * 0.2); printf "%d %d", m - 3.29 * s, m + 3.29 * s + 0.999 }')
read -r low high <<<"$bounds"
log "received $received of 2000 (bounds $low..$high)"
((received >= low && received <= high)) || fail "$received of 2000 pings came back with 20% loss; expected $low..$high"

log "rate: 10mbit gives an iperf3 TCP throughput within 10 %"
expect_rc 0 ltb link set r1-r2 --reset --loss 0 --delay 0 --rate 10mbit
in_node r2 iperf3 -s -1 -B 10.77.0.2 >"$IT_TMP/iperf-server.log" 2>&1 &
track_pid $!
sleep 0.5
in_node r1 iperf3 -c 10.77.0.2 -t 6 -O 1 -J >"$IT_TMP/iperf.json" || fail "iperf3 failed: $(tail -5 "$IT_TMP/iperf.json")"
bps=$(jq '.end.sum_received.bits_per_second' "$IT_TMP/iperf.json")
log "iperf3 TCP: $bps bit/s"
awk -v b="$bps" 'BEGIN { exit !(b >= 9e6 && b <= 11e6) }' || fail "throughput $bps bit/s is not 10 Mbit/s +- 10 %"

log "ltb up keeps a run-time change unless the file sets that direction"
expect_rc 0 ltb up "$IT_TMP/lab.yaml"
expect_rc 0 ltb link list "$lab" --format json
# The file sets delay 50ms on both directions: the file wins, the run-time rate goes.
jq -e '.links[0] | .a.impairments == "delay 50ms" and .a.source == "file"' "$IT_TMP/out" >/dev/null ||
  fail "the file's impairments did not win at ltb up: $(cat "$IT_TMP/out")"
write_lab "      impairments: {}"
expect_rc 0 ltb up "$IT_TMP/lab.yaml"
expect_rc 0 ltb link set r1-r2 --delay 10ms
write_lab ""
expect_rc 0 ltb up "$IT_TMP/lab.yaml"
expect_rc 0 ltb link list "$lab" --format json
jq -e '.links[0] | .a.impairments == "delay 10ms" and .a.source == "run time"' "$IT_TMP/out" >/dev/null ||
  fail "ltb up dropped a run-time change the file does not override: $(cat "$IT_TMP/out")"
[[ $(container_ids "$lab") == "$ids" ]] || fail "changing impairments recreated containers"
expect_rc 0 ltb link set r1-r2 --reset

expect_rc 0 ltb down --lab "$lab"
