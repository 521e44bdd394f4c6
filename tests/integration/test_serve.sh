#!/usr/bin/env bash
# `ltb serve` and its transparent client: a Unix user (made by the test) in the daemon's group runs
# ltb without root, through the socket. The lab file only that user can read deploys (the client
# sent it), status prints what root's prints, exec's exit code and streams come through, capture
# gives pcap bytes (to stdout, and to a -w file the client writes as the user), events stream,
# down removes everything; a file argument naming /etc/shadow is refused by the daemon's side even
# in a hand-made request; a missing daemon and a user outside the group get messages that say what
# to do.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
require_services "$k_busybox"

lab=ltbtest-serve
# The user's lab: root (and the runtimes) know it by its id, OWNER__NAME; the user by its name.
lab_id=${SERVE_USER}__$lab
track_lab "$lab_id"
serve_setup

log "a daemon that is not there"
expect_rc 1 ultb status
expect_output err "cannot reach the ltb daemon at $SERVE_SOCK"
expect_output err "ask an admin to start it"

serve_start --schedule
log "socket: mode 0660, group $SERVE_GROUP"
[[ $(stat -c '%a %G' "$SERVE_SOCK") == "660 $SERVE_GROUP" ]] ||
  fail "socket is $(stat -c '%a %U:%G' "$SERVE_SOCK")"

log "a user outside the group"
expect_rc 1 setpriv --reuid "$SERVE_USER" --regid nogroup --clear-groups \
  env -i PATH=/usr/bin:/bin LTB_SOCKET="$SERVE_SOCK" "$IT_TMP/bin/ltb" status
expect_output err "not in group ltb"
expect_output err "usermod -aG ltb"

log "ltb version through the daemon"
expect_rc 0 ultb version
expect_output out "^ltb "
out=$(raw_request GET /v1/whoami) || fail "GET /v1/whoami failed: $out"
[[ $out == *'"name":"root"'* ]] || fail "whoami as root said: $out"
out=$(as_user python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: ltb\r\nConnection: close\r\n\r\n")
d = b""
while True:
    c = s.recv(4096)
    if not c: break
    d += c
print(d.decode())
' "$SERVE_SOCK") || fail "GET /v1/whoami as the user failed"
[[ $out == *"\"name\":\"$SERVE_USER\""* && $out == *'"admin":false'* ]] ||
  fail "whoami as $SERVE_USER said: $out"

log "up from a file only the user can read"
cat >"$IT_TMP/lab.yaml" <<LAB
name: $lab
mgmt:
  ipv4-subnet: 172.20.181.0/24
topology:
  nodes:
    a:
      kind: linux
      image: $k_busybox
      labels: {side: left}
      startup-config: configs/a.conf
      exec:
        - ip addr add 10.233.81.1/30 dev eth1
        - ip link set eth1 up
    b:
      kind: linux
      image: $k_busybox
      exec:
        - ip addr add 10.233.81.2/30 dev eth1
        - ip link set eth1 up
  links:
    - endpoints: ["a:eth1", "b:eth1"]
LAB
mkdir -p "$SERVE_HOME/lab/configs"
mv "$IT_TMP/lab.yaml" "$SERVE_HOME/lab/lab.yaml"
echo "config of a, v1" >"$SERVE_HOME/lab/configs/a.conf"
chown -R "$SERVE_USER" "$SERVE_HOME/lab"
chmod 0700 "$SERVE_HOME/lab"
chmod 0600 "$SERVE_HOME/lab/lab.yaml"
expect_rc 0 ultb up lab/lab.yaml
assert_all_running "$lab_id"
log "the lab keeps its own copy of the files its topology references (the request's copy goes)"
expect_rc 0 ultb exec a -- cat /etc/ltb/startup-config
expect_output out "^config of a, v1$"
expect_rc 0 ltb inspect "$lab_id" --format json
kept=$(jq -r .file "$IT_TMP/out")
[[ $kept == "$IT_TMP/state/labs/$lab_id/.files/lab.yaml" ]] || fail "the lab's recorded file is $kept"
[[ $(cat "$IT_TMP/state/labs/$lab_id/.files/configs/a.conf") == "config of a, v1" ]] ||
  fail "the lab's copy of configs/a.conf: $(cat "$IT_TMP/state/labs/$lab_id/.files/configs/a.conf" 2>&1)"
compgen -G "$(dirname "$SERVE_SOCK")/req-*" >/dev/null && fail "request directories were left: $(ls -d "$(dirname "$SERVE_SOCK")"/req-*)"
# Re-reads of the recorded topology (exec --label selects by the file's labels) find its files.
expect_rc 0 ultb exec --label side=left -- hostname
expect_output out "^a: "
grep -q "no longer loads" "$IT_TMP/err" && fail "exec --label could not load the lab's topology: $(cat "$IT_TMP/err")"
log "save: the user's lab as a file the user can load again (its own name, its files)"
expect_rc 0 ultb save "$lab" -o saved
[[ $(cat "$SERVE_HOME/saved/a/a.conf") == "config of a, v1" ]] || fail "saved a.conf: $(cat "$SERVE_HOME/saved/a/a.conf" 2>&1)"
grep -q "^name: $lab\$" "$SERVE_HOME/saved/topology.yaml" || fail "the saved topology's name: $(grep name: "$SERVE_HOME/saved/topology.yaml")"
expect_rc 0 ultb validate saved/topology.yaml

log "credentials: a web password and API tokens, set by the user through the daemon"
echo "a phrase of the user" | ultb user passwd --stdin >/dev/null 2>&1 || fail "ltb user passwd --stdin as the user failed"
hash=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT hash FROM web_passwords WHERE name = ?", (sys.argv[2],)).fetchone()[0])' "$LTB_STATE" "$SERVE_USER")
[[ $hash == '$y$'* ]] || fail "the web password is not kept as a yescrypt hash: $hash"
expect_rc 2 ultb user passwd root --stdin <<<"a phrase of the user"
expect_output err "you may set only your own web password"
expect_rc 2 ultb user passwd </dev/null # no terminal and no --stdin
expect_output err "no terminal to ask the password on"
expect_rc 0 ultb user token create --expires 1h --name it
token=$(head -1 "$IT_TMP/out")
[[ $token =~ ^ltb_([0-9a-f]{16})_[0-9a-f]{64}$ ]] || fail "not a token: $token"
tid=${BASH_REMATCH[1]}
python3 -c 'import sqlite3, sys; sys.exit(any(sys.argv[2] in str(r) for r in sqlite3.connect(sys.argv[1]).execute("SELECT * FROM api_tokens")))' \
  "$LTB_STATE" "${token#ltb_*_}" || fail "the token's secret is in the state file"
expect_rc 0 ultb user token list
expect_output out "^$tid +$SERVE_USER +it "
expect_rc 0 ltb user token list "$SERVE_USER"
expect_output out "^$tid "
expect_rc 2 ultb user token list root
expect_output err "root's tokens are theirs to see"
expect_rc 0 ultb user token rm "$tid"
expect_rc 2 ultb user token rm "$tid"
expect_output err "no token $tid"

log "status: what root sees"
expect_rc 0 ultb status "$lab"
cp "$IT_TMP/out" "$IT_TMP/status.user"
expect_rc 0 ltb status "$lab_id"
# The same but for the name each sees the lab by.
sed "1s/^lab $lab_id /lab $lab /" "$IT_TMP/out" | diff - "$IT_TMP/status.user" >&2 ||
  fail "ltb status $lab differs between the user and root"
expect_rc 0 ultb status "$lab" --format json
jq 'del(.now)' "$IT_TMP/out" >"$IT_TMP/status.user.json"
expect_rc 0 ltb status "$lab_id" --format json
jq --arg lab "$lab" 'del(.now) | .lab = $lab' "$IT_TMP/out" | diff - "$IT_TMP/status.user.json" >&2 ||
  fail "ltb status $lab --format json differs between the user and root"
expect_rc 0 ultb status --format json
jq -e --arg lab "$lab" '.labs | any(.name == $lab)' "$IT_TMP/out" >/dev/null ||
  fail "ltb status --format json through the daemon lists no $lab: $(cat "$IT_TMP/out")"
expect_rc 0 ultb status
# FILE: the user's own path of the file (the daemon deployed its copy).
expect_output out "^$lab +running +2/2 +0 .* $SERVE_HOME/lab/lab.yaml +-$"
expect_rc 0 ultb inspect "$lab"
expect_output out "^file: +$SERVE_HOME/lab/lab.yaml \(sent to the ltb daemon\)$"
log "status: the daemon answers it from its API (GET /v1/labs), no command run for it"
grep -q "ltb status" "$IT_TMP/serve.log" && fail "ltb status ran as a command: $(grep "ltb status" "$IT_TMP/serve.log")"
log "status: refusals as a direct run's (message, help, exit code)"
expect_rc 1 ultb status ltbtest-no-such-lab
cp "$IT_TMP/err" "$IT_TMP/status.err.user"
expect_rc 1 ltb status ltbtest-no-such-lab
diff "$IT_TMP/err" "$IT_TMP/status.err.user" >&2 || fail "status of a missing lab: the user's error differs"
expect_rc 2 ultb status --owner root
expect_output err "error: --owner root: you may list your own only"
expect_rc 1 ultb status "no/such lab" # a name no route carries: the daemon runs the command
expect_output err "no lab named 'no/such lab'"
out=$(raw_request GET "/v1/labs/$lab_id") || fail "GET /v1/labs/$lab_id failed: $out"
[[ $out == *'"nodes"'* ]] || fail "GET /v1/labs/$lab_id: $out"
out=$(raw_request GET /v1/labs/ltbtest-no-such-lab) && fail "GET of a missing lab succeeded: $out"
[[ $out == "HTTP/1.1 404"* ]] || fail "GET of a missing lab: $out"

log "exec: exit code, stdout and stderr apart, stdin"
expect_rc 3 ultb exec a -- sh -c 'exit 3'
expect_rc 5 ultb exec a -- sh -c 'echo out1; echo err1 >&2; exit 5'
[[ $(cat "$IT_TMP/out") == out1 && $(cat "$IT_TMP/err") == err1 ]] ||
  fail "exec streams: out '$(cat "$IT_TMP/out")' err '$(cat "$IT_TMP/err")'"
head -c 200000 /dev/urandom >"$IT_TMP/random"
ultb exec a -- cat <"$IT_TMP/random" >"$IT_TMP/random.back" || fail "binary stdin through the daemon failed"
cmp "$IT_TMP/random" "$IT_TMP/random.back" || fail "binary stdin did not come back unchanged"
# A reader slower than the command: the daemon waits for it (its socket buffer fills).
got=$(ultb exec a -- head -c 20000000 /dev/zero | (sleep 3; wc -c)) || fail "a large output through the daemon failed"
((got == 20000000)) || fail "a large output to a slow reader came back as $got bytes of 20000000"
log "exec interrupted (Ctrl-C): the command in the node ends too, status 130"
user_bg ltb exec a -- sleep 4244 </dev/null >/dev/null 2>"$IT_TMP/int.err" &
pid=$!
track_pid "$pid"
wait_until 10 runs_in "$lab_id" a "sleep 4244" || fail "sleep 4244 did not start in a"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
((rc == 130)) || fail "ltb exec interrupted through the daemon ended with $rc, not 130: $(cat "$IT_TMP/int.err")"
runs_in "$lab_id" a "sleep 4244" && fail "the interrupted command still runs in a"

log "capture: pcap bytes to stdout, and -w FILE written by the client as the user"
user_bg ltb exec a -- ping -c 600 -i 0.1 10.233.81.2 >/dev/null 2>&1 &
pinger=$!
track_pid "$pinger"
ultb capture a:eth1 -c 4 >"$IT_TMP/cap.pcap" 2>"$IT_TMP/cap.err" ||
  fail "ltb capture through the daemon failed: $(cat "$IT_TMP/cap.err")"
pcap_magic() { od -An -tx1 -N4 "$1" | tr -d ' '; }
is_pcap() { [[ $(pcap_magic "$1") =~ ^(d4c3b2a1|a1b2c3d4|4d3cb2a1|a1b23c4d)$ ]]; }
is_pcap "$IT_TMP/cap.pcap" || fail "capture's stdout is not pcap (magic $(pcap_magic "$IT_TMP/cap.pcap"))"
(($(stat -c %s "$IT_TMP/cap.pcap") > 24 + 4 * 16)) || fail "capture's stdout has no 4 packets"
expect_rc 0 ultb capture a:eth1 -c 3 -w caps/x.pcap
[[ $(stat -c %U "$SERVE_HOME/caps/x.pcap" 2>&1) == "$SERVE_USER" ]] ||
  fail "the capture file is not written as the user: $(stat -c %U "$SERVE_HOME/caps/x.pcap" 2>&1)"
is_pcap "$SERVE_HOME/caps/x.pcap" || fail "capture -w wrote no pcap"
kill -INT "$pinger" 2>/dev/null || true
rc=0
wait "$pinger" 2>/dev/null || rc=$?
# ping in the node got the SIGINT and ended as after a Ctrl-C (its summary, status 0: it had
# replies), not by the SIGKILL after the grace period (137).
((rc == 0)) || fail "ltb exec ping interrupted through the daemon exited $rc, not ping's 0"
runs_in "$lab_id" a "ping -c 600 -i 0.1 10.233.81.2" && fail "the interrupted ping still runs in a"

log "events stream"
user_bg ltb events "$lab" >"$IT_TMP/events.out" 2>"$IT_TMP/events.err" &
events=$!
track_pid "$events"
wait_until 20 grep -q "following events" "$IT_TMP/events.err" ||
  fail "ltb events through the daemon did not start: $(cat "$IT_TMP/events.err")"
expect_rc 0 ultb restart "$lab" --node b
wait_until 20 grep -q "node started b" "$IT_TMP/events.out" ||
  fail "ltb events through the daemon showed no restart: $(cat "$IT_TMP/events.out")"
kill -INT "$events" 2>/dev/null || true
wait "$events" 2>/dev/null || true

log "the daemon's scheduler deploys the user's reservation on time, as the user's lab"
rlab=ltbtest-serve-rsv
track_lab "${SERVE_USER}__$rlab"
cat >"$SERVE_HOME/rsv.yaml" <<LAB
name: $rlab
mgmt:
  ipv4-subnet: 172.20.182.0/24
topology:
  nodes:
    x:
      kind: linux
      image: $k_busybox
      startup-config: x.conf
LAB
echo "config of x" >"$SERVE_HOME/x.conf"
chown "$SERVE_USER" "$SERVE_HOME/rsv.yaml" "$SERVE_HOME/x.conf"
expect_rc 0 ultb reserve create rsv.yaml --start "$(date -u -d @$(($(date +%s) + 3)) +%Y-%m-%dT%H:%M:%SZ)" --for 10m
rid=$(sed -nE 's/^reservation ([0-9]+):.*/\1/p' "$IT_TMP/out" | head -1)
[[ -n $rid ]] || fail "no reservation id in: $(cat "$IT_TMP/out")"
# The reservation deploys the files as they were sent: the daemon never reads the user's path.
echo "changed afterwards" >"$SERVE_HOME/x.conf"
wait_until 60 docker inspect -f '{{.State.Running}}' "ltb-${SERVE_USER}__$rlab-x" ||
  fail "the daemon's scheduler did not deploy reservation $rid: $(tail -20 "$IT_TMP/serve.log")"
expect_rc 0 ultb exec x --lab "$rlab" -- cat /etc/ltb/startup-config
expect_output out "^config of x$"
expect_rc 0 ltb inspect "${SERVE_USER}__$rlab" --format json
[[ $(jq -r .file "$IT_TMP/out") == "$IT_TMP/state/reservation-files/"*/rsv.yaml ]] ||
  fail "the reservation's lab records $(jq -r .file "$IT_TMP/out") as its file, not the reservation's copy"
expect_rc 0 ultb status "$rlab"
expect_rc 0 ultb reserve delete "$rid" --yes # removes its lab
assert_lab_gone "${SERVE_USER}__$rlab"
if grep -q "the scheduler ended" "$IT_TMP/serve.log"; then
  fail "the daemon's scheduler kept ending: $(grep -c "the scheduler ended" "$IT_TMP/serve.log") times"
fi

log "a bad topology: the same diagnostics through the daemon as directly, naming the user's path"
mkdir -p "$SERVE_HOME/bad/configs"
printf 'name: bad\ntopology:\n  nodes:\n    a:\n      kind: nope\n' >"$SERVE_HOME/bad/lab.yaml"
chown -R "$SERVE_USER" "$SERVE_HOME/bad"
expect_rc 2 ultb validate bad/lab.yaml
remote_err=$(cat "$IT_TMP/err")
(cd "$SERVE_HOME" && ltb validate bad/lab.yaml) >/dev/null 2>"$IT_TMP/direct.err" && fail "validate of a bad file passed"
[[ $remote_err == "$(cat "$IT_TMP/direct.err")" ]] ||
  fail "diagnostics differ through the daemon: '$remote_err' against '$(cat "$IT_TMP/direct.err")'"
[[ $remote_err == "bad/lab.yaml:5:13: error: unknown kind 'nope'"* ]] || fail "diagnostics: $remote_err"
# A user's validate checks the file as the user's lab would deploy: confined.
printf 'name: binds\ntopology:\n  nodes:\n    a:\n      kind: linux\n      image: ltb/busybox:latest\n      binds: ["/etc:/x"]\n' >"$SERVE_HOME/bad/binds.yaml"
chown "$SERVE_USER" "$SERVE_HOME/bad/binds.yaml"
expect_rc 2 ultb validate bad/binds.yaml
expect_output err "bad/binds\.yaml:7:7: error: 'binds' mounts host paths into the node"
expect_rc 0 ltb validate "$SERVE_HOME/bad/binds.yaml"

log "file arguments the daemon will not open"
# The client cannot read /etc/shadow itself; a hand-made request naming it is refused inside.
expect_rc 1 ultb up /etc/shadow
expect_output err "/etc/shadow"
out=$(as_user python3 -c '
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
body = json.dumps({"argv": ["up", "/etc/shadow"], "tty": None, "files": []}).encode()
s.sendall(b"POST /v1/commands HTTP/1.1\r\nHost: ltb\r\nConnection: Upgrade\r\nUpgrade: ltb-stream/1\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
data = b""
while True:
    c = s.recv(65536)
    if not c: break
    data += c
head, _, rest = data.partition(b"\r\n\r\n")
assert head.startswith(b"HTTP/1.1 101"), head
err, code = b"", None
while len(rest) >= 8:
    stream, size = rest[0], struct.unpack(">I", rest[4:8])[0]
    payload, rest = rest[8:8 + size], rest[8 + size:]
    if stream == 2: err += payload
    if stream == 3: code = json.loads(payload)["code"]
print(code, err.decode())
' "$SERVE_SOCK") || fail "the hand-made request failed: $out"
[[ $out == "2 "*"/etc/shadow: through the ltb daemon"* ]] || fail "a request naming /etc/shadow was not refused: $out"
# Without an upgrade a command runs to its end and answers its whole output in JSON (the web
# UI's form), as the user, with the same refusals.
out=$(RAW_USER=as_user raw_request POST /v1/commands '{"argv":["status","--format","json"]}') ||
  fail "a buffered command failed: $out"
body=$(sed -n '/^\r\{0,1\}$/,$p' <<<"$out" | tail -n +2)
jq -e '.exit == 0 and (.stdout | fromjson | .labs | map(.name) | index("'"$lab"'") != null)' \
  <<<"$body" >/dev/null || fail "the buffered status did not list the user's lab: $out"
out=$(RAW_USER=as_user raw_request POST /v1/commands '{"argv":["up","/etc/shadow"]}') ||
  fail "a buffered command failed: $out"
body=$(sed -n '/^\r\{0,1\}$/,$p' <<<"$out" | tail -n +2)
jq -e '.exit == 2 and (.stderr | contains("/etc/shadow"))' <<<"$body" >/dev/null ||
  fail "a buffered request naming /etc/shadow was not refused: $out"
out=$(raw_request POST /v1/commands '{"argv":["status"],"tty":{"rows":24,"cols":80}}') &&
  fail "a buffered command with a terminal ran: $out"
[[ $out == "HTTP/1.1 400"* ]] || fail "a buffered command with a terminal: $out"

log "down"
expect_rc 0 ultb down --lab "$lab"
assert_lab_gone "$lab_id"
[[ -z $(find "$(dirname "$SERVE_SOCK")" -name 'req-*') ]] || fail "request directories were left behind"
[[ -z $(daemon_children) ]] || fail "the daemon has children left: $(daemon_children)"
daemon_alive

log "serve install: units that systemd-analyze verifies"
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (apt-get install systemd)"
expect_rc 0 ltb serve --group "$SERVE_GROUP" install --systemd --root "$IT_TMP/units"
units=$IT_TMP/units/etc/systemd/system
grep -qx "ListenStream=/run/ltb/ltb.sock" "$units/ltb.socket" || fail "ltb.socket: $(cat "$units/ltb.socket")"
grep -qx "SocketGroup=$SERVE_GROUP" "$units/ltb.socket" || fail "ltb.socket's group: $(cat "$units/ltb.socket")"
grep -q "^ExecStart=.* --state $LTB_STATE serve --schedule --group $SERVE_GROUP\$" "$units/ltb.service" ||
  fail "ltb.service: $(cat "$units/ltb.service")"
systemd-analyze verify "$units/ltb.socket" "$units/ltb.service" >"$IT_TMP/verify.out" 2>&1 ||
  fail "systemd-analyze verify: $(cat "$IT_TMP/verify.out")"

log "socket activation: the daemon serves on the socket systemd hands it"
command -v systemd-socket-activate >/dev/null || fail "systemd-socket-activate is missing (apt-get install systemd)"
act_sock=$IT_TMP/run/act.sock
systemd-socket-activate -l "$act_sock" "$LTB" --state "$LTB_STATE" --socket "$act_sock" serve \
  --group "$SERVE_GROUP" 2>"$IT_TMP/act.log" &
act_pid=$!
track_pid "$act_pid"
wait_until 10 test -S "$act_sock" || fail "systemd-socket-activate made no socket: $(cat "$IT_TMP/act.log")"
# As ltb.socket's SocketGroup and SocketMode would have it.
chgrp "$SERVE_GROUP" "$act_sock" && chmod 0660 "$act_sock"
as_user env LTB_SOCKET="$act_sock" ltb status >"$IT_TMP/act.out" 2>&1 ||
  fail "ltb status through the activated daemon failed: $(cat "$IT_TMP/act.out") $(cat "$IT_TMP/act.log")"
grep -q "serving on $act_sock (from systemd)" "$IT_TMP/act.log" || fail "the daemon did not take systemd's socket: $(cat "$IT_TMP/act.log")"
kill "$act_pid"
wait "$act_pid" 2>/dev/null
grep -q "stopped" "$IT_TMP/act.log" || fail "the activated daemon did not stop cleanly: $(cat "$IT_TMP/act.log")"

log "a daemon killed outright leaves no scheduler and none of its commands behind"
pgrep -f -- "--state $LTB_STATE schedule run" >/dev/null || fail "the daemon runs no scheduler (--schedule)"
# A stream that waits for an event (none comes) and its fork server: they end with the daemon.
user_bg ltb events >/dev/null 2>&1 &
track_pid $!
wait_until 10 daemon_runs events || fail "the daemon runs no 'ltb events' for the user's stream"
left=$(daemon_children | paste -sd ' ')
left+=" $(pgrep -P "$SERVE_PID" | paste -sd ' ')"
kill_and_reap "$SERVE_PID" || true
wait_until 10 eval '! pgrep -f -- "--state $LTB_STATE schedule run"' ||
  fail "the scheduler outlived its daemon: $(pgrep -af -- "--state $LTB_STATE schedule run")"
alive() { local pid; for pid in $left; do kill -0 "$pid" 2>/dev/null && return 0; done; return 1; }
wait_until 10 eval '! alive' ||
  fail "processes of the daemon outlived it: $(for pid in $left; do ps -o pid=,args= -p "$pid"; done)"
log "ok"
