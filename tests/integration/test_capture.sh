#!/usr/bin/env bash
# `ltb capture` on the FRR example: a point-to-point OSPF link to a file (-w) and to a pipe, both
# valid pcap with OSPF hellos; -c stops by itself with exactly COUNT packets; the Open vSwitch
# segment through a mirror (all ports, and --port NODE only); the mirror and its port go when the
# capture ends (Ctrl-C, SIGTERM, COUNT, the reader closing the pipe, a failed start), and when a
# killed capture left them, the next capture, `ltb up` and `ltb down` remove them; `ltb inspect`
# lists the captures that run; binary output to a terminal is refused.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_frr" "$k_busybox"
command -v tcpdump >/dev/null || fail "tcpdump is missing (apt-get install tcpdump)"
command -v tshark >/dev/null || fail "tshark is missing (apt-get install tshark)"
command -v script >/dev/null || fail "script is missing (apt-get install bsdutils)"

lab=ltbtest-cap
track_lab "$lab"
example="$LTB_SOURCE_DIR/examples/frr-ospf.yaml"
file="$IT_TMP/frr-ospf.yaml"
grep -q '^  ipv4-subnet: 172\.20\.30\.0/24$' "$example" ||
  fail "$example no longer pins mgmt ipv4-subnet 172.20.30.0/24; update this test"
sed -e 's|^  ipv4-subnet: 172\.20\.30\.0/24$|  ipv4-subnet: 172.20.43.0/24|' \
  -e "s|^name: frr-ospf\$|name: $lab|" "$example" >"$file"
cp -r "$LTB_SOURCE_DIR/examples/frr-ospf" "$IT_TMP/"

expect_rc 0 ltb up "$file"
bridge=$(ovs-vsctl --bare --columns=name find Bridge "external_ids:ltb-lab=$lab")
[[ -n $bridge ]] || fail "lab $lab has no Open vSwitch bridge after ltb up"
lab_ports=$(ovs-vsctl list-ports "$bridge" | sort | paste -sd ' ')
[[ $(wc -w <<<"$lab_ports") -eq 3 ]] || fail "bridge $bridge should have 3 ports, has: $lab_ports"

# --- helpers ------------------------------------------------------------------------------------

# Mirrors on the lab's bridge, and ports beyond the lab's own three: both empty when no capture
# runs.
mirrors() { ovs-vsctl --bare --columns=name find Mirror | sed '/^$/d' | grep -E "^lv$(lab_hash "$lab")" || true; }
extra_ports() { ovs-vsctl list-ports "$bridge" | sort | paste -sd ' ' | sed "s|^$lab_ports\$||"; }
lab_host_ifaces() { ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep -E "^lv$(lab_hash "$lab")" || true; }
# The lab's own host interfaces (bridge ports; on a kernel without netem, the host ends of every
# point-to-point link, joined through the impairment relay's redirects), as `ltb up` made them.
lab_ifaces=$(lab_host_ifaces | sort | paste -sd ' ')
host_mirror_ifaces() {
  local known=" $lab_ports $lab_ifaces "
  lab_host_ifaces | while read -r name; do [[ $known == *" $name "* ]] || echo "$name"; done
}
assert_no_mirror() {
  local m p i
  m=$(mirrors)
  p=$(extra_ports)
  i=$(host_mirror_ifaces)
  [[ -z $m && -z $p && -z $i ]] ||
    fail "$1: a capture's leftovers remain: mirrors [$m], extra ports on $bridge [$p], host interfaces [$i]"
}
has_mirror() { [[ -n $(mirrors) && -n $(extra_ports) ]]; }

# start_capture NAME ARGS...: `ltb capture ARGS` in the background, pcap on stdout through a pipe
# (a FIFO that cat copies to $IT_TMP/NAME.pcap), stderr into NAME.err; CAP is its pid, READER
# cat's. Waits until it captures.
CAP=
READER=
start_capture() {
  local name=$1
  shift
  mkfifo "$IT_TMP/$name.fifo"
  cat "$IT_TMP/$name.fifo" >"$IT_TMP/$name.pcap" &
  READER=$!
  track_pid "$READER"
  "$LTB" --state "$LTB_STATE" capture "$@" 2>"$IT_TMP/$name.err" >"$IT_TMP/$name.fifo" &
  CAP=$!
  track_pid "$CAP"
  wait_until 30 grep -q '^capturing on' "$IT_TMP/$name.err" ||
    fail "ltb capture $* did not start: $(cat "$IT_TMP/$name.err")"
}

# stop_capture SIGNAL NAME: signals the capture and waits for it (and its reader); fails unless
# it exits 0.
stop_capture() {
  local rc=0
  kill -"$1" "$CAP"
  wait "$CAP" || rc=$?
  wait "$READER" || true
  ((rc == 0)) || fail "ltb capture ($2) exited $rc after SIG$1: $(cat "$IT_TMP/$2.err")"
  grep -Eq '^[0-9]+ packets? captured \([0-9]+ dropped by the kernel' "$IT_TMP/$2.err" ||
    fail "ltb capture ($2) did not report its packet count: $(cat "$IT_TMP/$2.err")"
}

# count FILE [FILTER]: packets in a pcap file (that pass FILTER); fails when tcpdump cannot read it.
count() {
  local out
  local filter=()
  [[ -z ${2:-} ]] || filter=("$2")
  out=$(tcpdump -n -r "$1" "${filter[@]}" 2>"$IT_TMP/tcpdump.err") ||
    fail "tcpdump cannot read $1: $(cat "$IT_TMP/tcpdump.err")"
  if [[ -z $out ]]; then
    echo 0
  else
    wc -l <<<"$out"
  fi
}

# quiet_count FILE FILTER: as count, for polling a file still being written: 0 while unreadable.
quiet_count() { tcpdump -n -r "$1" "$2" 2>/dev/null | wc -l; }

ping_bg() { # ping_bg NODE ADDRESS: pings every 0.2 s for a minute in the background; PING is its pid
  cexec "$lab" "$1" ping -i 0.2 -c 300 "$2" >/dev/null 2>&1 &
  PING=$!
  track_pid "$PING"
}

# --- refusals and errors ------------------------------------------------------------------------

log "binary output to a terminal is refused"
rc=0
script -qec "$LTB --state $LTB_STATE capture r1-r2" /dev/null >"$IT_TMP/tty.out" 2>&1 || rc=$?
((rc == 2)) || fail "ltb capture to a terminal exited $rc, expected 2: $(cat "$IT_TMP/tty.out")"
grep -q "refusing to write a binary pcap stream to the terminal" "$IT_TMP/tty.out" ||
  fail "no refusal message on a terminal: $(cat "$IT_TMP/tty.out")"
grep -q -- "-w FILE" "$IT_TMP/tty.out" || fail "the refusal does not say to use -w FILE"

log "unknown targets get a did-you-mean"
expect_rc 1 ltb capture r1-r4 -w "$IT_TMP/x.pcap"
expect_output err "no link, interface or segment 'r1-r4'"
expect_output err "did you mean 'r1-r[23]'"
expect_rc 1 ltb capture sw2 --lab "$lab" -w "$IT_TMP/x.pcap"
expect_output err "did you mean 'sw1'"
expect_rc 2 ltb capture r1 -w "$IT_TMP/x.pcap"
expect_output err "capture one of its interfaces: r1:eth1, r1:eth2, r1:eth3"
expect_rc 1 ltb capture r1:eth7 -w "$IT_TMP/x.pcap"
expect_output err "cannot capture on r1:eth7: there is no such interface"
expect_output err "r1:eth1, r1:eth2, r1:eth3, r1:eth0"
expect_rc 2 ltb capture sw1 --port h9 -w "$IT_TMP/x.pcap"
expect_output err "did you mean 'h[12]'"
expect_rc 1 ltb capture r1-r2 --lab nosuchlab -w "$IT_TMP/x.pcap"
expect_output err "no lab named 'nosuchlab'"
# Without --lab only the caller's running labs count; another user's lab is neither taken nor
# named, not even with --lab (the other user: nobody, as the daemon would run a request of
# theirs).
expect_rc 0 ltb user add nobody
rm -f "$IT_TMP/x.pcap"
expect_rc 1 env LTB_CALLER_UID="$(id -u nobody)" "$LTB" --state "$LTB_STATE" capture r1-r2 -w "$IT_TMP/x.pcap"
expect_output err "no lab is running to capture 'r1-r2' in"
grep -q "$lab" "$IT_TMP/err" && fail "another user's lab was named: $(cat "$IT_TMP/err")"
expect_rc 1 env LTB_CALLER_UID="$(id -u nobody)" "$LTB" --state "$LTB_STATE" capture r1-r2 --lab "$lab" -w "$IT_TMP/x.pcap"
expect_output err "no lab named '$lab'"
[[ ! -s $IT_TMP/x.pcap ]] || fail "a refused capture wrote packets"

log "a bad filter is named, and a segment capture that fails to start leaves nothing"
expect_rc 2 ltb capture r1-r2 -f 'proto ospf and' -w "$IT_TMP/x.pcap"
expect_output err "invalid capture filter 'proto ospf and'"
expect_rc 2 ltb capture sw1 -f 'icmp or' -w "$IT_TMP/x.pcap"
expect_output err "invalid capture filter 'icmp or'"
expect_rc 1 ltb capture sw1 -w "$IT_TMP/no/such/dir/x.pcap"
expect_output err "cannot write $IT_TMP/no/such/dir/x.pcap: No such file or directory"
assert_no_mirror "after a failed segment capture"
expect_rc 0 ltb inspect "$lab" --format json
[[ $(jq '.captures | length' "$IT_TMP/out") -eq 0 ]] ||
  fail "inspect lists captures although none runs: $(jq -c .captures "$IT_TMP/out")"

# --- a point-to-point link -----------------------------------------------------------------------

log "r1-r2 with -w FILE and to a pipe at once: OSPF hellos in both"
"$LTB" --state "$LTB_STATE" capture r1-r2 -w "$IT_TMP/file.pcap" 2>"$IT_TMP/file.err" &
file_cap=$!
track_pid "$file_cap"
start_capture pipe r1-r2 --lab "$lab"
wait_until 30 grep -q '^capturing on' "$IT_TMP/file.err" ||
  fail "ltb capture -w did not start: $(cat "$IT_TMP/file.err")"
grep -q "^capturing on r1:eth1 (link r1-r2) in lab $lab" "$IT_TMP/pipe.err" ||
  fail "unexpected notice: $(cat "$IT_TMP/pipe.err")"

expect_rc 0 ltb inspect "$lab" --format json
jq -e --argjson pid "$CAP" '.captures | any(.pid == $pid and .interface == "r1:eth1")' \
  "$IT_TMP/out" >/dev/null || fail "inspect does not list the capture $CAP: $(jq -c .captures "$IT_TMP/out")"
[[ $(jq '.captures | length' "$IT_TMP/out") -eq 2 ]] || fail "inspect should list 2 captures: $(jq -c .captures "$IT_TMP/out")"
expect_rc 0 ltb inspect "$lab"
expect_output out "r1:eth1 \(link r1-r2\) +r1:eth1 +$CAP "

sleep 4 # hellos every second from each side
stop_capture INT pipe
kill -TERM "$file_cap"
rc=0
wait "$file_cap" || rc=$?
((rc == 0)) || fail "ltb capture -w exited $rc after SIGTERM: $(cat "$IT_TMP/file.err")"
for name in file pipe; do
  pcap="$IT_TMP/$name.pcap"
  hellos=$(tshark -r "$pcap" -Y 'ospf.msg == 1' -T fields -e frame.number 2>/dev/null | wc -l)
  ((hellos >= 4)) || fail "$name capture: $hellos OSPF hellos in 4 s, expected at least 4 (tshark: $(tshark -r "$pcap" 2>&1 | head -3))"
  ospf=$(count "$pcap" 'proto ospf')
  ((ospf >= hellos)) || fail "$name capture: tcpdump finds $ospf OSPF packets, tshark $hellos hellos"
  reported=$(grep -Eo '^[0-9]+ packets? captured' "$IT_TMP/$name.err" | grep -Eo '^[0-9]+')
  all=$(count "$pcap")
  ((reported == all)) || fail "$name capture reported $reported packets but the file holds $all"
done
expect_rc 0 ltb inspect "$lab" --format json
[[ $(jq '.captures | length' "$IT_TMP/out") -eq 0 ]] || fail "inspect still lists captures after they ended"

log "-c 5 stops by itself with exactly 5 packets, read live by tcpdump from the pipe"
rc=0
timeout 60 "$LTB" --state "$LTB_STATE" capture r1:eth2 -c 5 -f 'proto ospf' 2>"$IT_TMP/c5.err" |
  tcpdump -n -r - >"$IT_TMP/c5.txt" 2>/dev/null || rc=$?
((rc == 0)) || fail "ltb capture -c 5 | tcpdump -r - exited $rc: $(cat "$IT_TMP/c5.err")"
[[ $(wc -l <"$IT_TMP/c5.txt") -eq 5 ]] || fail "-c 5 gave $(wc -l <"$IT_TMP/c5.txt") packets: $(cat "$IT_TMP/c5.txt")"
[[ $(grep -c OSPF "$IT_TMP/c5.txt") -eq 5 ]] || fail "-f 'proto ospf' let other packets through: $(cat "$IT_TMP/c5.txt")"
grep -q "^5 packets captured" "$IT_TMP/c5.err" || fail "-c 5 reported: $(cat "$IT_TMP/c5.err")"

# --- the segment ---------------------------------------------------------------------------------

log "segment sw1 through a mirror: ICMP between h1 and h2"
retry 10 cexec "$lab" h1 ping -c 1 -W 2 192.168.10.12 >/dev/null || fail "h1 cannot ping h2"
ping_bg h1 192.168.10.12
start_capture seg sw1
has_mirror || fail "no mirror on $bridge while capturing sw1: mirrors [$(mirrors)], ports [$(extra_ports)]"
[[ $(ovs-vsctl get Mirror "$(mirrors)" select_all) == true ]] || fail "the mirror does not select all"
expect_rc 0 ltb inspect "$lab" --format json
jq -e --argjson pid "$CAP" --arg m "$(mirrors)" '.captures | any(.pid == $pid and .mirror == $m)' \
  "$IT_TMP/out" >/dev/null || fail "inspect does not list the segment capture with its mirror: $(jq -c .captures "$IT_TMP/out")"
# seg_enough: the capture holds 5 or more echo requests h1->h2 and as many replies (ping_bg sends
# one every 0.2 s); the file is flushed after every batch of packets.
seg_enough() {
  (($(quiet_count "$IT_TMP/seg.pcap" 'icmp[icmptype] == icmp-echo and src 192.168.10.11 and dst 192.168.10.12') >= 5 &&
    $(quiet_count "$IT_TMP/seg.pcap" 'icmp[icmptype] == icmp-echoreply and src 192.168.10.12 and dst 192.168.10.11') >= 5))
}
wait_until 15 seg_enough || true # the counts below say what is missing
stop_capture INT seg
assert_no_mirror "after Ctrl-C"
requests=$(count "$IT_TMP/seg.pcap" 'icmp[icmptype] == icmp-echo and src 192.168.10.11 and dst 192.168.10.12')
replies=$(count "$IT_TMP/seg.pcap" 'icmp[icmptype] == icmp-echoreply and src 192.168.10.12 and dst 192.168.10.11')
((requests >= 5 && replies >= 5)) ||
  fail "segment capture: $requests echo requests h1->h2 and $replies replies in 15 s, expected 5 or more each"

log "--port h1 mirrors only h1's port"
ping_bg r1 192.168.10.12 # r1 <-> h2 does not cross h1's port
start_capture port sw1 --port h1 -f icmp
[[ $(ovs-vsctl get Mirror "$(mirrors)" select_all) == false ]] || fail "--port h1 made a select-all mirror"
[[ $(ovs-vsctl get Mirror "$(mirrors)" select_src_port | tr -cd ',' | wc -c) -eq 0 ]] ||
  fail "--port h1 selects more than one port: $(ovs-vsctl get Mirror "$(mirrors)" select_src_port)"
grep -q "^capturing on segment sw1 (ports of h1)" "$IT_TMP/port.err" ||
  fail "unexpected notice: $(cat "$IT_TMP/port.err")"
port_enough() { (($(quiet_count "$IT_TMP/port.pcap" 'icmp and host 192.168.10.11') >= 10)); }
wait_until 15 port_enough || true # the counts below say what is missing
stop_capture TERM port
assert_no_mirror "after SIGTERM"
h1=$(count "$IT_TMP/port.pcap" 'icmp and host 192.168.10.11')
r1=$(count "$IT_TMP/port.pcap" 'icmp and host 192.168.10.1')
((h1 >= 10)) || fail "--port h1: $h1 ICMP packets of h1 in 15 s, expected 10 or more"
((r1 == 0)) || fail "--port h1: $r1 ICMP packets of r1 <-> h2, which do not cross h1's port"

log "-c on a segment removes the mirror when COUNT is reached"
expect_rc 0 timeout 60 "$LTB" --state "$LTB_STATE" capture sw1 -c 3 -f icmp -w "$IT_TMP/seg3.pcap"
[[ $(count "$IT_TMP/seg3.pcap" icmp) -eq 3 ]] || fail "-c 3 on sw1 wrote $(count "$IT_TMP/seg3.pcap" icmp) packets"
assert_no_mirror "after -c 3"

log "the reader closing the pipe ends the capture, with traffic and without"
rc=0
timeout 60 "$LTB" --state "$LTB_STATE" capture sw1 2>"$IT_TMP/head.err" | head -c 100 >/dev/null ||
  rc=$?
((rc == 0)) || fail "ltb capture sw1 | head -c 100 exited $rc: $(cat "$IT_TMP/head.err")"
assert_no_mirror "after head closed the pipe"
# Nothing passes the filter: the capture notices the closed pipe without a packet to write.
start=$(date +%s%N)
rc=0
timeout 60 "$LTB" --state "$LTB_STATE" capture sw1 -f 'udp port 9' 2>"$IT_TMP/idle.err" |
  head -c 10 >/dev/null || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
((rc == 0)) || fail "an idle ltb capture sw1 | head -c 10 exited $rc: $(cat "$IT_TMP/idle.err")"
((ms < 10000)) || fail "an idle capture took $ms ms to notice its reader was gone"
assert_no_mirror "after an idle capture's reader closed the pipe"

# --- captures that die -----------------------------------------------------------------------------

# kill9_capture NAME: a segment capture killed with SIGKILL, its mirror left behind.
kill9_capture() {
  start_capture "$1" sw1
  has_mirror || fail "no mirror while capturing ($1)"
  kill_and_reap "$CAP" || true
  wait "$READER" || true
  has_mirror || fail "the mirror went with kill -9 ($1)? nothing left to test"
  expect_rc 0 ltb inspect "$lab" --format json
  ! jq -e --argjson pid "$CAP" '.captures | any(.pid == $pid)' "$IT_TMP/out" \
    >/dev/null || fail "inspect lists a capture whose process is dead: $(jq -c .captures "$IT_TMP/out")"
}

log "a killed capture's mirror is removed by the next capture"
kill9_capture dead1
dead=$(mirrors)
expect_rc 0 timeout 60 "$LTB" --state "$LTB_STATE" capture r1-r2 -c 1 -w "$IT_TMP/next.pcap"
[[ -z $(mirrors) ]] || fail "the next capture left the dead capture's mirror $dead"
assert_no_mirror "after the next capture"

log "... by ltb up"
kill9_capture dead2
expect_rc 0 ltb up "$file"
expect_output out "up to date"
assert_no_mirror "after ltb up"

log "captures end when their node or segment goes; ltb down removes a killed capture's leftovers"
start_capture live r1-r2
live=$CAP
live_reader=$READER
start_capture live_segment sw1
live_segment=$CAP
live_segment_reader=$READER
kill9_capture dead3
expect_rc 0 ltb down "$file"
assert_lab_gone "$lab"
gone() { [[ ! -e /proc/$1 ]] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
wait_until 15 gone "$live" || fail "a capture on r1-r2 still runs 15 s after ltb down removed r1"
wait_until 15 gone "$live_segment" || fail "a capture on sw1 still runs 15 s after ltb down removed it"
for name in live live_segment; do
  rc=0
  wait "${!name}" || rc=$?
  reader=${name}_reader
  wait "${!reader}" || true
  ((rc == 1)) || fail "a capture ($name) whose target went away exited $rc, expected 1: $(cat "$IT_TMP/$name.err")"
done
grep -Eq "^ltb: error: (r1:eth1 went away|capture on r1:eth1 failed)" "$IT_TMP/live.err" || fail "no message about r1 going: $(cat "$IT_TMP/live.err")"
grep -q "^ltb: error: capture on mirror port lv[0-9a-f]* of segment sw1 failed" "$IT_TMP/live_segment.err" ||
  fail "no message about the segment going: $(cat "$IT_TMP/live_segment.err")"
assert_lab_gone "$lab"
