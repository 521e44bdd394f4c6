#!/usr/bin/env bash
# The userspace impairment relay (net/relay.hpp) on real interfaces: two network namespaces, each
# with a veth whose peer is on the host, the host ends joined by tc redirects as ltb joins a
# host-joined link. `ltb relay-set` (hidden; what `ltb link set` calls in relay mode) moves the
# link into the relay and back. Checks: traffic crosses; delay shows in ping; loss lands within
# the binomial 99.9 % bounds; a change takes effect without dropping the link; full-MTU,
# VLAN-tagged and jumbo frames cross whole; the relay never reads back what it sends (no
# duplicates, no storm); a rate holds iperf3 TCP within 10 %; back to no impairment the redirects
# return and no relay process, socket or file is left; a killed relay is seen as dead. Then a lab
# of two containers in relay mode (LTB_IMPAIRMENTS=relay) with `delay: 20ms` on its link: the
# delay shows, a killed relay is started again by the next `ltb up`, and `ltb down` leaves no
# relay process, file or host interface.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v ping >/dev/null || fail "ping is missing (apt-get install iputils-ping)"
command -v tc >/dev/null || fail "tc is missing (apt-get install iproute2)"
command -v jq >/dev/null || fail "jq is missing (apt-get install jq)"
command -v tcpdump >/dev/null || fail "tcpdump is missing (apt-get install tcpdump)"
command -v python3 >/dev/null || fail "python3 is missing (scripts/setup.sh deps installs it)"

tag=$(printf '%04x' $((RANDOM % 65536)))
NS_A=ltbtest-rl-a-$tag
NS_B=ltbtest-rl-b-$tag
HA=lrt${tag}a # host ends (15 bytes at most)
HB=lrt${tag}b
DIR=$IT_TMP/lab
KEY='a:eth1|b:eth1'
mkdir -p "$DIR"

on_cleanup "ip netns del $NS_A"
on_cleanup "ip netns del $NS_B"
on_cleanup "ip link del $HA"
on_cleanup "ip link del $HB"
on_cleanup "$LTB relay-stop --lab-dir $DIR"

ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "$HA" type veth peer name eth1 netns "$NS_A"
ip link add "$HB" type veth peer name eth1 netns "$NS_B"
ip -n "$NS_A" addr add 10.77.0.1/30 dev eth1
ip -n "$NS_B" addr add 10.77.0.2/30 dev eth1
ip -n "$NS_A" link set eth1 up
ip -n "$NS_B" link set eth1 up
ip link set "$HA" up
ip link set "$HB" up
for pair in "$HA $HB" "$HB $HA"; do
  read -r from to <<<"$pair"
  tc qdisc add dev "$from" ingress
  tc filter add dev "$from" parent ffff: protocol all u32 match u32 0 0 \
    action mirred egress redirect dev "$to"
done

# ping_median COUNT INTERVAL: the median RTT in ms of COUNT pings from A to B.
ping_median() {
  ip netns exec "$NS_A" ping -n -c "$1" -i "$2" -W 2 10.77.0.2 |
    sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | sort -n |
    awk '{ v[NR] = $1 } END { if (NR == 0) { print "none"; exit } print v[int((NR + 1) / 2)] }'
}
relay_pid() { cat "$DIR/relay.pid" 2>/dev/null; }
# alive PID: the process runs (a zombie waiting for init to reap it does not count).
alive() { [[ -e /proc/$1 && $(ps -o stat= -p "$1" 2>/dev/null) != Z* ]]; }
has_ingress() { grep -q ingress <<<"$(tc qdisc show dev "$1")"; }

log "without the relay: the redirects carry the link"
ip netns exec "$NS_A" ping -n -c 3 -i 0.2 -W 2 10.77.0.2 >/dev/null || fail "no ping over the redirects"
[[ ! -e $DIR/relay.pid ]] || fail "a relay runs before any impairment"

log "delay 50 ms each way: the link moves into the relay"
ltb relay-set --lab-dir "$DIR" "$KEY" "$HA" "$HB" --delay-us 50000
pid=$(relay_pid)
[[ -n $pid ]] && alive "$pid" || fail "no relay process after relay-set"
grep -q 'relay' "/proc/$pid/cmdline" || fail "pid $pid is not the relay"
has_ingress "$HA" && fail "the redirect on $HA is still there: frames would cross twice"
has_ingress "$HB" && fail "the redirect on $HB is still there"
median=$(ping_median 20 0.05)
log "median RTT with delay 50 ms each way: $median ms"
awk -v m="$median" 'BEGIN { exit !(m >= 95 && m <= 105) }' ||
  fail "RTT $median ms, expected 100 +- 5 ms"
# Exactly one reply per request: the relay does not read back what it sends.
out=$(ip netns exec "$NS_A" ping -n -c 10 -i 0.02 -W 2 10.77.0.2)
grep -q 'DUP' <<<"$out" && fail "duplicate replies through the relay: $out"
grep -q ' 0% packet loss' <<<"$out" || fail "loss without a loss setting: $out"

log "a change at run time takes effect without dropping the link"
ip netns exec "$NS_A" ping -n -i 0.01 -c 300 -W 2 10.77.0.2 >"$IT_TMP/during.txt" &
ping_pid=$!
track_pid "$ping_pid"
sleep 1
start=$(date +%s%N)
ltb relay-set --lab-dir "$DIR" "$KEY" "$HA" "$HB" --delay-us 1000
took_ms=$((($(date +%s%N) - start) / 1000000))
wait "$ping_pid" || true
log "relay-set took $took_ms ms"
((took_ms < 500)) || fail "relay-set took $took_ms ms"
[[ $(relay_pid) == "$pid" ]] || fail "the relay was restarted by a change (pid $pid -> $(relay_pid))"
grep -q ' 0% packet loss' "$IT_TMP/during.txt" ||
  fail "frames lost across the change: $(tail -2 "$IT_TMP/during.txt")"
median=$(ping_median 20 0.02)
awk -v m="$median" 'BEGIN { exit !(m >= 1.9 && m <= 3) }' ||
  fail "RTT $median ms after the change to 1 ms each way, expected about 2 ms"

log "every kind of frame crosses: full MTU, VLAN-tagged, jumbo (too big for a slot of the ring)"
ip netns exec "$NS_A" ping -n -c 3 -i 0.05 -W 2 -s 1472 -M do 10.77.0.2 >/dev/null ||
  fail "no full-MTU frame across the relay"
# VLAN-tagged frames, written whole by a packet socket (this kernel has no 8021q module): the
# veth on the host lifts the tag off into the frame's metadata, and the relay has to put it back.
ip netns exec "$NS_B" timeout 10 tcpdump -i eth1 -c 2 -nn -e -l 'vlan 42 and ether proto 0x88b5' \
  >"$IT_TMP/vlan.txt" 2>"$IT_TMP/vlan.err" &
capture=$!
track_pid "$capture"
wait_until 5 grep -q 'listening on' "$IT_TMP/vlan.err" ||
  fail "tcpdump did not start: $(cat "$IT_TMP/vlan.err")"
ip netns exec "$NS_A" python3 -c '
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth1", 0))
head = b"\xff" * 6 + s.getsockname()[4] + b"\x81\x00\x00\x2a\x88\xb5"
for size in (46, 1500):  # the smallest frame and one of full MTU
    s.send(head + b"ltb relay vlan".ljust(size, b"."))
'
wait "$capture" 2>/dev/null || fail "tcpdump in B did not see both tagged frames: $(cat "$IT_TMP/vlan.txt")"
grep -q 'length 64: vlan 42' "$IT_TMP/vlan.txt" && grep -q 'length 1518: vlan 42' "$IT_TMP/vlan.txt" ||
  fail "the tagged frames did not cross whole: $(cat "$IT_TMP/vlan.txt")"
ip link set "$HA" mtu 9000
ip link set "$HB" mtu 9000
ip -n "$NS_A" link set eth1 mtu 9000
ip -n "$NS_B" link set eth1 mtu 9000
ip netns exec "$NS_A" ping -n -c 3 -i 0.05 -W 2 -s 8000 -M do 10.77.0.2 >/dev/null ||
  fail "no jumbo frame across the relay"
ip -n "$NS_A" link set eth1 mtu 1500
ip -n "$NS_B" link set eth1 mtu 1500
ip link set "$HA" mtu 1500
ip link set "$HB" mtu 1500

log "loss 20 % of what A sends, over 2000 pings: within the binomial 99.9 % bounds"
ltb relay-set --lab-dir "$DIR" "$KEY" "$HA" "$HB" --direction a --loss 20
ltb relay-set --lab-dir "$DIR" "$KEY" "$HA" "$HB" --direction b
[[ $(relay_pid) == "$pid" ]] || fail "the relay stopped while it still had an impaired direction"
received=$(ip netns exec "$NS_A" ping -n -q -c 2000 -i 0.002 -W 1 10.77.0.2 |
  sed -n 's/.* \([0-9]*\) received.*/\1/p')
lost=$((2000 - received))
log "lost $lost of 2000"
# n = 2000, p = 0.2: mean 400, sd 17.9; 99.9 % two-sided: +- 3.29 sd = +- 58.9
((lost >= 342 && lost <= 458)) || fail "lost $lost of 2000, outside [342, 458]"

log "rate 10 Mbit/s each way: iperf3 TCP within 10 %"
command -v iperf3 >/dev/null || fail "iperf3 is missing (apt-get install iperf3)"
ltb relay-set --lab-dir "$DIR" "$KEY" "$HA" "$HB" --direction both --rate-bps 10000000
ip netns exec "$NS_B" iperf3 -s -1 -B 10.77.0.2 >/dev/null 2>&1 &
server=$!
track_pid "$server"
wait_until 5 ip netns exec "$NS_B" sh -c 'ss -ltn | grep -q ":5201"' || fail "iperf3 did not listen"
mbps=$(ip netns exec "$NS_A" iperf3 -c 10.77.0.2 -t 4 -O 1 -J |
  jq '.end.sum_received.bits_per_second / 1e6 * 100 | round / 100')
wait "$server" 2>/dev/null || true
log "iperf3 TCP through rate 10 Mbit/s: $mbps Mbit/s"
awk -v r="$mbps" 'BEGIN { exit !(r >= 9 && r <= 11) }' || fail "$mbps Mbit/s, expected 10 +- 10 %"

log "back to no impairment: the redirects return, the relay stops, its files go"
ltb relay-set --lab-dir "$DIR" "$KEY" "$HA" "$HB" --direction both
has_ingress "$HA" && has_ingress "$HB" || fail "the redirects did not come back"
for ((i = 0; i < 20 && ${pid:-0} > 0; i++)); do
  alive "$pid" || break
  sleep 0.1
done
alive "$pid" && fail "relay pid $pid still runs with nothing to serve"
leftover=$(find "$DIR" -name 'relay*')
[[ -z $leftover ]] || fail "relay files left: $leftover"
median=$(ping_median 10 0.05)
awk -v m="$median" 'BEGIN { exit !(m < 1) }' || fail "RTT $median ms over the redirects again"

log "a killed relay is seen as dead, and its links are still known"
ltb relay-set --lab-dir "$DIR" "$KEY" "$HA" "$HB" --delay-us 20000 # both ways
pid=$(relay_pid)
kill -9 "$pid"
for ((i = 0; i < 20; i++)); do
  alive "$pid" || break
  sleep 0.1
done
# relay-set on another direction starts a new relay on everything relay.conf holds.
ltb relay-set --lab-dir "$DIR" "$KEY" "$HA" "$HB" --direction b --delay-us 60000
new=$(relay_pid)
[[ -n $new && $new != "$pid" ]] || fail "no new relay after the old one was killed"
median=$(ping_median 10 0.1)
# 20 + 60: A's direction came back from relay.conf (40 or 120 would mean it did not).
awk -v m="$median" 'BEGIN { exit !(m >= 75 && m <= 95) }' ||
  fail "RTT $median ms, expected 20 + 60 ms from what relay.conf kept"

log "an interface that goes away (its node's namespace went): logged once, and the relay idles"
ip link del "$HB"
wait_until 5 grep -q "$HB: " "$DIR/relay.log" || fail "the relay did not log that $HB went away"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
before=$(cpu_ticks "$new")
sleep 2
used=$(($(cpu_ticks "$new") - before))
# A socket's pending error that nobody clears makes epoll report it forever: a busy loop.
((used < 50)) || fail "the relay used $used ticks of CPU in 2 s with nothing to relay"
ltb relay-stop --lab-dir "$DIR"
alive "$new" && fail "relay-stop left pid $new"
[[ -z $(find "$DIR" -name 'relay*') ]] || fail "relay-stop left files"

log "a lab in relay mode: the relay is started, supervised and removed with the lab"
require_services "$k_busybox"
lab=it-relay-$tag
track_lab "$lab"
cat >"$IT_TMP/lab.yaml" <<YAML
name: $lab
mgmt:
  ipv4-subnet: 172.20.239.0/24
topology:
  nodes:
    r1: {kind: linux, image: ltb/busybox:latest, exec: ["ip addr add 10.79.0.1/30 dev eth1"]}
    r2: {kind: linux, image: ltb/busybox:latest, exec: ["ip addr add 10.79.0.2/30 dev eth1"]}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
      impairments: {delay: 20ms}
YAML
LTB_IMPAIRMENTS=relay ltb up "$IT_TMP/lab.yaml"
labdir=$(dirname "$LTB_STATE")/labs/$lab
lab_rtt() {
  local pid
  pid=$(docker inspect --format '{{.State.Pid}}' "$(container_name "$lab" r1)")
  nsenter -t "$pid" -n ping -n -c 5 -i 0.2 -W 2 10.79.0.2 | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | sort -g |
    awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "none") }'
}
median=$(lab_rtt)
log "lab RTT with delay 20 ms (r1 -> r2 and back): $median ms"
awk -v m="$median" 'BEGIN { exit !(m >= 38 && m <= 46) }' || fail "lab RTT $median ms, expected 40"
pid=$(cat "$labdir/relay.pid")
alive "$pid" || fail "no relay process for the lab"
ltb status "$lab" >/dev/null
kill -9 "$pid"
for ((i = 0; i < 20; i++)); do
  alive "$pid" || break
  sleep 0.1
done
LTB_IMPAIRMENTS=relay ltb up "$IT_TMP/lab.yaml" >"$IT_TMP/up-again.txt" 2>&1 ||
  fail "ltb up after the relay died: $(cat "$IT_TMP/up-again.txt")"
new=$(cat "$labdir/relay.pid")
[[ $new != "$pid" ]] && alive "$new" || fail "ltb up did not start the dead relay again"
median=$(lab_rtt)
awk -v m="$median" 'BEGIN { exit !(m >= 38 && m <= 46) }' || fail "RTT $median ms after the restart"
ltb down --lab "$lab"
alive "$new" && fail "ltb down left the relay (pid $new)"
[[ -z $(find "$labdir" -name 'relay*' 2>/dev/null) ]] || fail "ltb down left relay files"
[[ -z $(ip -o link show | grep "lv$(lab_hash "$lab")") ]] || fail "ltb down left host interfaces"
log "ok"
