#!/usr/bin/env bash
# Impairments on an Open vSwitch segment's links through the userspace relay (relay mode, forced
# with LTB_IMPAIRMENTS=relay, which this machine's kernel without netem also chooses): three
# busybox nodes on one ovs-bridge, `delay: 20ms` (both directions) on h1's segment link.
#   - h1 <-> h2 RTT is 40 ms +- 5 ms; h2 <-> h3 stays unaffected (< 5 ms);
#   - `ltb link set h1:eth1 --delay 50ms` (what h1 sends) makes it 70 ms, recreating no container;
#   - `ltb link down h1:eth1` cuts h1 off the segment (h2 <-> h3 still pass), `ltb link up` brings
#     it back;
#   - `ltb up` gives the file's values back and then has nothing to do (no port rewired);
#   - `ltb restart --node h1` keeps it, still through the relay;
#   - `ltb down` leaves no host interface, OVS port or relay process of the lab.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
command -v ping >/dev/null || fail "ping is missing (apt-get install iputils-ping)"
command -v nsenter >/dev/null || fail "nsenter is missing (util-linux)"

export LTB_IMPAIRMENTS=relay
lab=it-segimp
track_lab "$lab"
cat >"$IT_TMP/lab.yaml" <<YAML
name: $lab
mgmt:
  ipv4-subnet: 172.20.240.0/24
topology:
  nodes:
    sw: {kind: ovs-bridge}
    h1: {kind: linux, image: ltb/busybox:latest, exec: ["ip addr add 10.81.0.1/24 dev eth1"]}
    h2: {kind: linux, image: ltb/busybox:latest, exec: ["ip addr add 10.81.0.2/24 dev eth1"]}
    h3: {kind: linux, image: ltb/busybox:latest, exec: ["ip addr add 10.81.0.3/24 dev eth1"]}
  links:
    - endpoints: ["h1:eth1", "sw:p1"]
      impairments: {delay: 20ms}
    - endpoints: ["h2:eth1", "sw:p2"]
    - endpoints: ["h3:eth1", "sw:p3"]
YAML
ltb up "$IT_TMP/lab.yaml"
labdir=$(dirname "$LTB_STATE")/labs/$lab

# rtt FROM TO-ADDRESS: the least RTT in ms of 15 pings ("none" when nothing came back). Not
# the median: on a loaded host (2 cores shared with builds, load 20 seen) scheduling adds tens of
# ms to most round trips, and it only ever adds; the relay's delay is the floor.
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
alive() { [[ -e /proc/$1 && $(ps -o stat= -p "$1" 2>/dev/null) != Z* ]]; }

log "the file's delay on h1's segment link, both ways"
expect_rtt h1 10.81.0.2 35 45 "h1 -> h2 through the relay (20 ms each way)"
expect_rtt h2 10.81.0.1 35 45 "h2 -> h1"
expect_rtt h2 10.81.0.3 0 5 "h2 -> h3 (not impaired)"
relay=$(cat "$labdir/relay.pid")
alive "$relay" || fail "no relay process for the lab"
via=$(ltb link list "$lab" --format json | jq -r '[.. | objects | select(has("via")) | .via] | unique | join(",")')
[[ $via == relay ]] || fail "ltb link list says the impairments go via '$via', not the relay"

log "ltb link set on the packets h1 sends, without touching the nodes"
before=$(container_ids "$lab")
ltb link set h1:eth1 --delay 50ms
expect_rtt h1 10.81.0.2 65 75 "h1 -> h2 after link set (50 + 20 ms)"
expect_rtt h3 10.81.0.2 0 5 "h3 -> h2 (not impaired)"
[[ $(container_ids "$lab") == "$before" ]] || fail "ltb link set recreated a container"

log "ltb link down cuts h1 off the segment; ltb link up brings it back"
ltb link down h1:eth1
[[ $(rtt h1 10.81.0.2) == none ]] || fail "h1 still reaches h2 with its link down"
[[ $(rtt h2 10.81.0.1) == none ]] || fail "h2 still reaches h1 with h1's link down"
expect_rtt h2 10.81.0.3 0 5 "h2 -> h3 while h1's link is down"
ltb link up h1:eth1
expect_rtt h1 10.81.0.2 65 75 "h1 -> h2 after link up"

log "back to the file's values: ltb up applies them again, and nothing is left to do"
ltb up "$IT_TMP/lab.yaml"
expect_rtt h1 10.81.0.2 35 45 "h1 -> h2 after ltb up (the file's 20 ms each way)"
out=$(ltb up "$IT_TMP/lab.yaml" --dry-run)
grep -q 'up to date: nothing to do' <<<"$out" || fail "ltb up would still change: $out"

log "a restarted node keeps its segment link, still through the relay"
ltb restart "$lab" --node h1
expect_rtt h1 10.81.0.2 35 45 "h1 -> h2 after ltb restart --node h1"
expect_rtt h2 10.81.0.3 0 5 "h2 -> h3 after h1's restart"

log "ltb down leaves no interface, port or relay of the lab"
relay=$(cat "$labdir/relay.pid")
ltb down --lab "$lab"
for ((i = 0; i < 20; i++)); do
  alive "$relay" || break
  sleep 0.1
done
alive "$relay" && fail "ltb down left the relay (pid $relay)"
[[ -z $(find "$labdir" -name 'relay*' 2>/dev/null) ]] || fail "ltb down left relay files"
assert_lab_gone "$lab"
