#!/usr/bin/env bash
# What the daemon must survive: malformed HTTP, a huge body, a slow client, 100 concurrent clients,
# and clients that disconnect in the middle of `ltb capture` and of `ltb exec`. After each, the
# daemon answers /v1/version; after a disconnect, no capture mirror is left, the daemon has no
# child left (nor an exec's command in the node), and the lab's lock is free.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
require_services "$k_busybox"

lab=ltbtest-servesurv
lab_id=${SERVE_USER}__$lab # the user's lab, as root knows it
track_lab "$lab_id"
serve_setup
serve_start

# send_raw TIMEOUT: stdin's bytes to the socket as they are, prints the answer's first line.
send_raw() {
  python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(float(sys.argv[2]))
s.sendall(sys.stdin.buffer.read())
try:
    d = s.recv(65536)
except socket.timeout:
    d = b"(no answer)"
print(d.split(b"\r\n")[0].decode(errors="replace"))
' "$SERVE_SOCK" "$1"
}

log "malformed HTTP"
for request in 'GARBAGE\r\n\r\n' 'GET / HTTP/9.9\r\n\r\n' 'GET /v1/version HTTP/1.1\r\nContent-Length: x\r\n\r\n' \
  '\x00\x01\x02\xff\r\n\r\n' 'POST /v1/commands HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'; do
  out=$(printf "$request" | send_raw 5)
  [[ $out == "HTTP/1.1 400"* ]] || fail "malformed request '$request' got: $out"
  daemon_alive
done

log "a huge body: 413 at once, before it is sent"
out=$(printf 'POST /v1/commands HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ltb-stream/1\r\nContent-Length: 999999999999\r\n\r\n' | send_raw 5)
[[ $out == "HTTP/1.1 413"* ]] || fail "a huge body got: $out"
daemon_alive
# And one really sent (300 MiB of a JSON string): refused when it passes the limit.
out=$(python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
size = 300 << 20
s.sendall(b"POST /v1/commands HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ltb-stream/1\r\nTransfer-Encoding: chunked\r\n\r\n")
chunk = b"a" * (1 << 20)
try:
    for _ in range(size >> 20):
        s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
except (BrokenPipeError, ConnectionResetError):
    pass
d = b""
try:
    d = s.recv(65536)
except ConnectionResetError:
    pass
print(d.split(b"\r\n")[0].decode())
' "$SERVE_SOCK")
[[ $out == "HTTP/1.1 413"* ]] || fail "a 300 MiB chunked body got: $out"
daemon_alive

log "a slow client: 408, and others are served meanwhile"
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"GET /v1/version HTTP/1.1\r\n")
time.sleep(30)
' "$SERVE_SOCK" &
slow=$!
track_pid "$slow"
sleep 1
daemon_alive
out=$(printf 'GET /v1/version HTTP/1.1\r\n' | send_raw 20)
[[ $out == "HTTP/1.1 408"* ]] || fail "a slow client got: $out"
kill "$slow" 2>/dev/null || true
wait "$slow" 2>/dev/null || true

log "100 concurrent clients"
python3 -c '
import socket, sys, threading
ok = []
def one():
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    s.sendall(b"GET /v1/labs HTTP/1.1\r\nHost: ltb\r\nConnection: close\r\n\r\n")
    d = b""
    while True:
        c = s.recv(65536)
        if not c: break
        d += c
    ok.append(d.startswith(b"HTTP/1.1 200"))
threads = [threading.Thread(target=one) for _ in range(100)]
for t in threads: t.start()
for t in threads: t.join()
print(sum(ok))
' "$SERVE_SOCK" >"$IT_TMP/concurrent" || fail "the concurrent clients failed"
[[ $(cat "$IT_TMP/concurrent") == 100 ]] || fail "of 100 concurrent GET /v1/labs, $(cat "$IT_TMP/concurrent") got 200"
# And 100 commands at once through the client.
for i in $(seq 1 100); do
  ultb version >"$IT_TMP/v.$i" 2>&1 &
done
wait_until 120 bash -c "! pgrep -u $SERVE_USER -x ltb >/dev/null" || fail "100 ltb version through the daemon did not end"
for i in $(seq 1 100); do
  grep -q "^ltb " "$IT_TMP/v.$i" || fail "ltb version $i of 100 concurrent printed: $(cat "$IT_TMP/v.$i")"
done
daemon_alive

log "a lab with a segment to capture on"
file="$SERVE_HOME/lab.yaml"
cat >"$file" <<LAB
name: $lab
mgmt:
  ipv4-subnet: 172.20.182.0/24
topology:
  nodes:
    sw:
      kind: ovs-bridge
    a:
      kind: linux
      image: $k_busybox
      exec:
        - ip addr add 10.233.82.1/24 dev eth1
        - ip link set eth1 up
    b:
      kind: linux
      image: $k_busybox
      exec:
        - ip addr add 10.233.82.2/24 dev eth1
        - ip link set eth1 up
  links:
    - endpoints: ["a:eth1", "sw:a"]
    - endpoints: ["b:eth1", "sw:b"]
LAB
chown "$SERVE_USER" "$file"
expect_rc 0 ultb up lab.yaml
# Open vSwitch mirrors on this host (a segment capture adds one and removes it when it ends).
mirror_count() { ovs-vsctl --bare --columns=_uuid list Mirror | sed '/^$/d' | wc -l; }
base_mirrors=$(mirror_count)
mirrors() { (($(mirror_count) > base_mirrors)) && echo "$(mirror_count) mirrors (was $base_mirrors)"; true; }
has_mirror() { [[ -n $(mirrors) ]]; }
no_mirror() { [[ -z $(mirrors) ]]; }
has_children() { [[ -n $(daemon_children) ]]; }
no_children() { [[ -z $(daemon_children) ]]; }

log "a client killed in the middle of a capture"
user_bg ltb capture sw >"$IT_TMP/cap.pcap" 2>"$IT_TMP/cap.err" &
client=$!
track_pid "$client"
wait_until 30 has_mirror || fail "the capture through the daemon made no mirror: $(cat "$IT_TMP/cap.err")"
kill_and_reap "$client" || true
wait_until 30 no_mirror || fail "the capture's mirror is left after its client died: $(mirrors)"
wait_until 30 no_children || fail "the daemon's capture child is left: $(daemon_children)"
expect_rc 0 ultb --wait 0 up lab.yaml # the user's lab: its lock is free
daemon_alive

log "a client killed in the middle of an exec"
user_bg ltb exec a -- sleep 4245 >/dev/null 2>&1 &
client=$!
track_pid "$client"
wait_until 30 has_children || fail "the exec through the daemon did not start"
wait_until 10 runs_in "$lab_id" a "sleep 4245" || fail "sleep 4245 did not start in a"
kill_and_reap "$client" || true
wait_until 30 no_children || fail "the daemon's exec child is left: $(daemon_children)"
# The daemon interrupted the command, which stopped the one in the node (Docker would not).
runs_in "$lab_id" a "sleep 4245" && fail "the exec's command still runs in a after its client died"
expect_rc 0 ultb --wait 0 up lab.yaml # the user's lab: its lock is free
daemon_alive

log "Ctrl-C of a client: the command is interrupted and its exit code comes back"
user_bg ltb capture sw -w caps/x.pcap >"$IT_TMP/cap2.out" 2>"$IT_TMP/cap2.err" &
client=$!
track_pid "$client"
wait_until 30 has_mirror || fail "the second capture made no mirror: $(cat "$IT_TMP/cap2.err")"
kill -INT "$client"
rc=0
wait "$client" || rc=$?
((rc == 0 || rc == 130)) || fail "ltb capture after Ctrl-C exited $rc: $(cat "$IT_TMP/cap2.err")"
test -s "$SERVE_HOME/caps/x.pcap" || fail "the interrupted capture's file did not come back"
wait_until 30 no_mirror || fail "the interrupted capture's mirror is left"

expect_rc 0 ultb down --lab "$lab"
assert_lab_gone "$lab_id"
daemon_alive
log "ok"
