#!/usr/bin/env bash
# `ltb capture TARGET --remote URL`: a capture streamed from a daemon's network listener (`ltb
# serve --listen`) by a client that uses neither the unix socket nor a state file, as on a laptop:
# - the pcap on standard output and with -w FILE, read by tshark; the token from LTB_TOKEN and
#   from --token-file (refused when others may read it);
# - into a reader that quits (as Wireshark does): ltb ends at once, and so does the capture;
# - Ctrl-C and SIGKILL mid-stream leave no capture running in the daemon;
# - HTTPS with a self-signed certificate and --cacert; without it, the certificate is refused;
# - a bad token, another user's lab, a bad target and a bad filter: ltb's own error lines and
#   exit codes; a URL that is not http(s) is a usage error.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
require_services "$k_busybox"
((EUID == 0)) || fail "this test makes Unix users: run it as root"
for tool in openssl tshark timeout; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install $tool)"
done

serve_setup
other="ltbtc$$"
useradd -M -N -s /bin/sh "$other" || fail "useradd $other failed"
IT_CLEANUPS=("userdel $other" "${IT_CLEANUPS[@]}")
ltb user add "$other" >/dev/null || fail "ltb user add $other failed"

port=$(free_port)
serve_start --listen "127.0.0.1:$port"
base="http://127.0.0.1:$port"

lab=capremote
lab_id=${SERVE_USER}__$lab
track_lab "$lab_id"
cat >"$SERVE_HOME/lab.yaml" <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.216.0/24
topology:
  nodes:
    n1: {kind: linux, image: $k_busybox}
    n2: {kind: linux, image: $k_busybox}
  links:
    - endpoints: ["n1:eth1", "n2:eth1"]
EOF
chown "$SERVE_USER" "$SERVE_HOME/lab.yaml"
expect_rc 0 ultb up lab.yaml
ultb exec --lab "$lab" n1 -- ip addr add 10.9.1.1/24 dev eth1 >/dev/null || fail "addr n1"
ultb exec --lab "$lab" n2 -- ip addr add 10.9.1.2/24 dev eth1 >/dev/null || fail "addr n2"
# ping_start: traffic on the link, through the daemon (stopped before the daemon is).
ping_start() {
  ultb exec --lab "$lab" n1 -- ping -c 1500 -i 0.2 10.9.1.2 >/dev/null 2>&1 &
  ping_pid=$!
  track_pid "$ping_pid"
}
ping_start

token=$(ltb user token create "$SERVE_USER" --expires 1h --name laptop | head -1)
otoken=$(ltb user token create "$other" --expires 1h | head -1)
[[ $token == ltb_* && $otoken == ltb_* ]] || fail "no tokens: '$token' '$otoken'"

# rcap ARGS...: `ltb capture ARGS` as the lab's user, with TOKEN (default: theirs) in LTB_TOKEN and
# a daemon socket that does not exist: the capture must come over the network, not the socket.
rcap() {
  as_user env LTB_SOCKET="$IT_TMP/no-such.sock" LTB_TOKEN="${TOKEN-$token}" ltb capture "$@"
}
# packets FILE: how many packets tshark reads in FILE.
packets() { tshark -r "$1" 2>/dev/null | wc -l; }
# A capture command the daemon runs: a child of its fork server keeps the daemon's command line
# and is named by its comm ("ltb capture"); without a fork server, its own command line.
capture_runs() {
  local child
  for child in $(daemon_children); do
    [[ $(cat "/proc/$child/comm" 2>/dev/null) == "ltb capture" ]] && return 0
  done
  pgrep -f -- "capture -w - --la[b] $lab" >/dev/null
}
# no_capture_left WHEN: within 10 s the daemon runs no capture and the lab records none.
no_capture_left() {
  wait_until 10 bash -c "$(declare -f capture_runs daemon_children); SERVE_PID=$SERVE_PID \
    LTB_STATE=$LTB_STATE lab=$lab; ! capture_runs" ||
    fail "$1: a capture outlived its client: $(pgrep -a 'ltb capture')"
  [[ $(ltb inspect "$lab_id" --format json | jq '.captures | length') == 0 ]] ||
    fail "$1: the lab still records a capture: $(ltb inspect "$lab_id" --format json | jq -c .captures)"
}
# no_token_in FILE...: the token was printed nowhere.
no_token_in() {
  ! grep -qF -- "${token#ltb_}" "$@" || fail "the token was printed: $*"
}

log "to standard output with LTB_TOKEN: 4 packets, live pcap"
expect_rc 0 rcap n1-n2 --lab "$lab" --remote "$base" -c 4
(($(packets "$IT_TMP/out") == 4)) || fail "stdout has $(packets "$IT_TMP/out") packets, not 4"
tshark -r "$IT_TMP/out" -Y icmp 2>/dev/null | grep -q ICMP || fail "the capture has no ICMP"
expect_output err "^4 packets received from $base\$"
no_token_in "$IT_TMP/err"

log "with -w FILE and --token-file (a private file's first line)"
printf '%s\nnot the token\n' "$token" >"$SERVE_HOME/token"
chown "$SERVE_USER" "$SERVE_HOME/token"
chmod 0600 "$SERVE_HOME/token"
TOKEN="" expect_rc 0 rcap n1-n2 --lab "$lab" --remote "$base/" -c 4 -f icmp --token-file token -w out.pcap
(($(packets "$SERVE_HOME/out.pcap") == 4)) || fail "out.pcap has $(packets "$SERVE_HOME/out.pcap") packets"
[[ $(stat -c %U "$SERVE_HOME/out.pcap") == "$SERVE_USER" ]] || fail "out.pcap is not the user's"
[[ ! -s $IT_TMP/out ]] || fail "-w FILE also wrote to standard output"
chmod 0644 "$SERVE_HOME/token"
expect_rc 2 rcap n1-n2 --lab "$lab" --remote "$base" -c 1 --token-file token -w out.pcap
expect_output err "^ltb: error: the token file token may be read or changed by other users \(mode 0644\)"
expect_output err "^help: chmod 600 token$"
no_token_in "$IT_TMP/err"

log "into a reader that quits, as Wireshark does: ltb ends, and so does the capture"
(
  rcap n1-n2 --lab "$lab" --remote "$base" 2>"$IT_TMP/live.err" |
    tshark -i - -c 2 -w "$IT_TMP/live.pcap" >/dev/null 2>&1
  echo "${PIPESTATUS[*]}" >"$IT_TMP/live.rc"
) &
track_pid $!
wait_until 30 test -s "$IT_TMP/live.rc" ||
  fail "the pipe into tshark -c 2 did not end: $(cat "$IT_TMP/live.err")"
[[ $(cat "$IT_TMP/live.rc") == "0 0" ]] ||
  fail "exit codes of ltb | tshark: $(cat "$IT_TMP/live.rc"): $(cat "$IT_TMP/live.err")"
(($(packets "$IT_TMP/live.pcap") == 2)) || fail "tshark kept $(packets "$IT_TMP/live.pcap") packets"
no_capture_left "a reader that quit"

log "Ctrl-C mid-stream: exit 0 at once, and no capture left"
user_bg env LTB_SOCKET="$IT_TMP/no-such.sock" LTB_TOKEN="$token" ltb capture n1-n2 --lab "$lab" \
  --remote "$base" >"$IT_TMP/cut.pcap" 2>"$IT_TMP/cut.err" &
client=$!
track_pid "$client"
wait_until 15 capture_runs || fail "the daemon runs no capture: $(cat "$IT_TMP/cut.err")"
wait_until 10 test -s "$IT_TMP/cut.pcap" || fail "no pcap came: $(cat "$IT_TMP/cut.err")"
sleep 1
kill -INT "$client"
started=$(date +%s)
rc=0
wait "$client" || rc=$?
((rc == 0)) || fail "ltb ended with $rc after Ctrl-C: $(cat "$IT_TMP/cut.err")"
(($(date +%s) - started <= 3)) || fail "ltb took $(($(date +%s) - started)) s to end after Ctrl-C"
grep -Eq '^[0-9]+ packets? received' "$IT_TMP/cut.err" || fail "no count after Ctrl-C: $(cat "$IT_TMP/cut.err")"
(($(packets "$IT_TMP/cut.pcap") >= 1)) || fail "the cut capture is unreadable"
no_capture_left "Ctrl-C"

log "the client killed outright mid-stream: no capture left"
user_bg env LTB_SOCKET="$IT_TMP/no-such.sock" LTB_TOKEN="$token" ltb capture n1-n2 --lab "$lab" \
  --remote "$base" >"$IT_TMP/killed.pcap" 2>/dev/null &
client=$!
track_pid "$client"
wait_until 15 capture_runs || fail "the daemon runs no capture"
kill_and_reap "$client" || true
no_capture_left "SIGKILL"

log "refusals: ltb's own error lines and exit codes, nothing on standard output"
TOKEN="ltb_0123456789abcdef_$(printf '0%.0s' {1..64})" expect_rc 1 rcap n1-n2 --lab "$lab" --remote "$base" -c 1
expect_output err "^ltb: error: the ltb daemon at $base did not accept the API token \(HTTP 401\)"
expect_output err "^help: set LTB_TOKEN or give --token-file FILE"
[[ ! -s $IT_TMP/out ]] || fail "a refusal wrote to standard output"
TOKEN="" expect_rc 2 rcap n1-n2 --lab "$lab" --remote "$base" -c 1
expect_output err "^ltb: error: no API token: LTB_TOKEN is not set"
# Another user's token: the first user's lab is not theirs to capture.
TOKEN=$otoken expect_rc 1 rcap n1-n2 --lab "$lab_id" --remote "$base" -c 1
expect_output err "^ltb: error: .*$lab"
[[ $(grep -c 'ltb: error:' "$IT_TMP/err") == 1 ]] || fail "the error is not one line: $(cat "$IT_TMP/err")"
TOKEN=$otoken expect_rc 1 rcap n1-n2 --lab "$lab" --remote "$base" -c 1
[[ ! -s $IT_TMP/out ]] || fail "another user got packets"
expect_rc 1 rcap n1-n9 --lab "$lab" --remote "$base" -c 1
expect_output err "^ltb: error: .*n1-n9"
expect_output err "^help: "
expect_rc 2 rcap n1-n2 --lab "$lab" --remote "$base" -c 1 -f 'tcpp port 80'
expect_output err "^ltb: error: .*tcpp"
expect_rc 2 rcap n1-n2 --lab "$lab" --remote "ftp://127.0.0.1:$port" -c 1
expect_output err "^ltb: error: --remote ftp://127.0.0.1:$port: not an http:// or https:// URL"
expect_rc 2 rcap n1-n2 --lab "$lab" --token-file token -c 1
expect_output err "requires --remote"
expect_rc 1 rcap n1-n2 --lab "$lab" --remote "http://127.0.0.1:$(free_port)" -c 1
expect_output err "^ltb: error: cannot connect to http://127.0.0.1:"
! grep -q '^warning: plain http' "$IT_TMP/err" || fail "a warning for plain HTTP on loopback"
no_token_in "$IT_TMP"/*.err "$IT_TMP/err"

log "HTTPS with a self-signed certificate: --cacert, and refused without it"
kill -TERM "$ping_pid"
wait "$ping_pid" 2>/dev/null || true
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$IT_TMP/key.pem" -out "$IT_TMP/cert.pem" \
  >/dev/null 2>&1 || fail "openssl could not make a certificate"
cp "$IT_TMP/cert.pem" "$SERVE_HOME/cert.pem"
chmod 0644 "$SERVE_HOME/cert.pem"
tport=$(free_port)
serve_start --listen "127.0.0.1:$tport" --tls-cert "$IT_TMP/cert.pem" --tls-key "$IT_TMP/key.pem"
tbase="https://127.0.0.1:$tport"
ping_start
expect_rc 0 rcap n1-n2 --lab "$lab" --remote "$tbase" --cacert cert.pem -c 4
(($(packets "$IT_TMP/out") == 4)) || fail "HTTPS: $(packets "$IT_TMP/out") packets, not 4"
expect_rc 1 rcap n1-n2 --lab "$lab" --remote "$tbase" -c 1
expect_output err "^ltb: error: the certificate of $tbase is not trusted"
expect_output err "^help: .*--cacert FILE"
expect_rc 1 rcap n1-n2 --lab "$lab" --remote "http://127.0.0.1:$tport" -c 1
expect_output err "^help: .*use https://"
no_token_in "$IT_TMP/err"
daemon_alive
no_capture_left "HTTPS"

log "down"
expect_rc 0 ultb down --lab "$lab"
assert_lab_gone "$lab_id"
log "ok"
