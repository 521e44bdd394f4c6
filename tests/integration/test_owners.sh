#!/usr/bin/env bash
# Ownership through the daemon, tried from the outside as the other user would: two Unix users
# (made by the test) each deploy a lab named ospf-lab through `ltb serve`; neither can list,
# inspect, stop, exec, capture, snapshot, graph, save, change links of or delete the other's, by
# any name (its id OWNER__NAME, OWNER/NAME), through the CLI or hand-written requests to the
# socket (GET /v1/labs/ID, POST /v1/commands with the other's lab id); each refusal leaves the
# other's lab as it was and records nothing. root (an admin) lists and acts on both.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
require_services "$k_busybox"
((EUID == 0)) || fail "this test makes Unix users: run it as root"

lab=ospf-lab
alice=$SERVE_USER
bob=ltbtb$$
alice_id=${alice}__$lab
bob_id=${bob}__$lab
track_lab "$alice_id" "$bob_id"
serve_setup
useradd -M -d "$IT_TMP/bob" -s /bin/sh -G "$SERVE_GROUP" "$bob" || fail "useradd $bob failed"
IT_CLEANUPS=("userdel $bob" "${IT_CLEANUPS[@]}")
mkdir -p "$IT_TMP/bob"
chown "$bob" "$IT_TMP/bob"
chmod 0700 "$IT_TMP/bob"
ltb user add "$bob" >/dev/null
serve_start

# as_bob CMD...: CMD as bob, in his home, with the daemon's socket.
as_bob() {
  setpriv --reuid "$bob" --regid "$SERVE_GROUP" --init-groups \
    env -i PATH="$IT_TMP/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME="$IT_TMP/bob" USER="$bob" \
    NO_COLOR=1 LTB_SOCKET="$SERVE_SOCK" sh -c 'cd "$HOME" && exec "$@"' sh "$@"
}
bltb() { as_bob ltb "$@"; }

# A lab file in a home: two busybox nodes and a link.
write_lab() {
  cat >"$1/lab.yaml" <<EOF
name: $lab
topology:
  nodes:
    r1: {kind: linux, image: $k_busybox}
    r2: {kind: linux, image: $k_busybox}
  links:
    - endpoints: [r1:eth1, r2:eth1]
EOF
  chown "$2" "$1/lab.yaml"
  chmod 0600 "$1/lab.yaml"
}
write_lab "$SERVE_HOME" "$alice"
write_lab "$IT_TMP/bob" "$bob"

log "each user deploys a lab of the same name; runtime names differ"
expect_rc 0 ultb up lab.yaml
expect_rc 0 bltb up lab.yaml
[[ -n $(docker ps -q --filter "name=^ltb-$alice_id-r1\$") ]] || fail "alice's r1 is not ltb-$alice_id-r1"
[[ -n $(docker ps -q --filter "name=^ltb-$bob_id-r1\$") ]] || fail "bob's r1 is not ltb-$bob_id-r1"
before=$(docker ps -q --filter "label=ltb.lab=$alice_id" | sort | tr '\n' ' ')

log "each sees their own lab by its name, and nothing of the other's"
expect_rc 0 ultb status
expect_output out "^$lab +running"
grep -q "$bob" "$IT_TMP/out" && fail "alice's status shows bob's lab: $(cat "$IT_TMP/out")"
expect_rc 0 bltb status --format json
[[ $(jq -r '[.labs[].name] | join(",")' "$IT_TMP/out") == "$lab" ]] ||
  fail "bob's status lists: $(cat "$IT_TMP/out")"
expect_rc 2 bltb status --all
expect_output err "--all lists every user's labs and is for admins"
expect_rc 2 bltb status --owner "$alice"

# refused CMD...: bob's command on alice's lab, by each of its names, is refused as a missing lab.
refused() {
  local name
  for name in "$alice_id" "$alice/$lab"; do
    local args=("${@//@LAB@/$name}")
    as_bob ltb "${args[@]}" >"$IT_TMP/out" 2>"$IT_TMP/err" && fail "bob's '${args[*]}' succeeded"
    grep -Eq "no lab named|has no snapshot named|you may act on your own labs only|no file [^ ]+/$lab" "$IT_TMP/err" ||
      fail "bob's '${args[*]}': unexpected error: $(cat "$IT_TMP/err")"
    grep -q "$alice_id" "$IT_TMP/err" && [[ $name != "$alice_id" ]] &&
      fail "bob's '${args[*]}' was told alice's lab id: $(cat "$IT_TMP/err")"
  done
  return 0
}
log "bob, by every name of alice's lab: status, inspect, stop, start, exec, capture, ..."
refused status @LAB@
refused inspect @LAB@
refused stop @LAB@
refused start @LAB@
refused restart @LAB@
refused exec r1 --lab @LAB@ -- true
refused exec --all --lab @LAB@ -- true
refused capture r1-r2 --lab @LAB@ -c 1 -w cap.pcap
refused snapshot create @LAB@ s1
refused graph @LAB@
refused save @LAB@
refused link list @LAB@
refused link down r1:eth1 --lab @LAB@
# (events of a lab id bob has no lab of would wait for bob's own lab of that name to appear: his
# namespace, not alice's; OWNER/NAME of alice's is refused at once.)
expect_rc 2 as_bob timeout 10 ltb events "$alice/$lab"
expect_output err "you may act on your own labs only"
# down of alice's id is bob's own (absent) lab of that name: nothing; alice's is checked below.
expect_rc 0 bltb down --lab "$alice_id"
expect_output out "nothing to remove"
expect_rc 2 bltb down --lab "$alice/$lab"
# Without a lab: only bob's own lab is found.
expect_rc 0 bltb exec r1 -- hostname
expect_output out "$bob_id-r1|r1"
grep -q "$alice" "$IT_TMP/out" && fail "bob's exec r1 ran in alice's lab"

log "hand-written requests as bob: GET /v1/labs/ID and POST /v1/commands with alice's lab id"
# bob_request METHOD PATH [BODY]: one request as bob (serve_lib's raw_request); prints the
# status line and the body.
bob_request() { RAW_USER=as_bob raw_request "$@" || true; }
out=$(bob_request GET "/v1/labs/$alice_id")
[[ $out == "HTTP/1.1 404"* ]] || fail "bob's GET /v1/labs/$alice_id: $out"
[[ $out == *"no lab named"* ]] || fail "bob's GET /v1/labs/$alice_id said: $out"
out=$(bob_request GET "/v1/labs")
[[ $out == *"$alice"* ]] && fail "bob's GET /v1/labs shows alice's lab: $out"
# POST /v1/commands, upgraded, by hand: argv naming alice's lab; frames until the exit frame.
bob_command() {
  as_bob python3 - "$SERVE_SOCK" "$@" <<'PY'
import json, socket, struct, sys
path, argv = sys.argv[1], sys.argv[2:]
body = json.dumps({"argv": argv, "tty": None, "files": []}).encode()
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall(b"POST /v1/commands HTTP/1.1\r\nHost: ltb\r\nConnection: Upgrade\r\nUpgrade: ltb-stream/1\r\n"
          b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
s.sendall(struct.pack(">B3xI", 5, 0))  # stdin: none
data = b""
while b"\r\n\r\n" not in data:
    chunk = s.recv(65536)
    if not chunk:
        sys.exit(f"no answer: {data!r}")
    data += chunk
head, rest = data.split(b"\r\n\r\n", 1)
if not head.startswith(b"HTTP/1.1 101"):
    sys.stdout.write(head.decode() + "\n" + rest.decode(errors="replace"))
    sys.exit(100)
out = {1: b"", 2: b""}
while True:
    while len(rest) < 8:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("stream ended without an exit frame")
        rest += chunk
    kind, size = struct.unpack(">B3xI", rest[:8])
    while len(rest) < 8 + size:
        rest += s.recv(65536)
    payload, rest = rest[8:8 + size], rest[8 + size:]
    if kind in out:
        out[kind] += payload
    elif kind == 3:
        sys.stdout.write(out[2].decode(errors="replace"))
        sys.exit(json.loads(payload)["code"])
PY
}
for argv in "status $alice_id" "exec r1 --lab $alice_id -- true" \
  "snapshot create $alice_id s1" "stop $alice_id" "capture r1-r2 --lab $alice_id -c 1"; do
  # shellcheck disable=SC2086 # words on purpose
  if out=$(bob_command $argv); then
    fail "bob's raw '$argv' succeeded: $out"
  fi
  [[ $out == *"no lab named '$alice_id'"* ]] || fail "bob's raw '$argv' said: $out"
done
daemon_alive

log "alice's lab is as it was; nothing was recorded for bob's attempts"
after=$(docker ps -q --filter "label=ltb.lab=$alice_id" | sort | tr '\n' ' ')
[[ $after == "$before" ]] || fail "alice's containers changed: '$before' -> '$after'"
expect_rc 0 ultb status "$lab" --format json
[[ $(jq -r '[.nodes[].state] | unique | join(",")' "$IT_TMP/out") == running ]] ||
  fail "alice's lab is not all running: $(cat "$IT_TMP/out")"
expect_rc 0 ltb snapshot list --all --format json
[[ $(jq '.snapshots | length' "$IT_TMP/out") == 0 ]] || fail "a snapshot was recorded: $(cat "$IT_TMP/out")"

log "root, an admin, lists both and acts on alice's by its id"
expect_rc 0 ltb status --all
expect_output out "$alice_id"
expect_output out "$bob_id"
expect_rc 0 ltb status
grep -q "$lab" "$IT_TMP/out" && fail "root's own status lists users' labs: $(cat "$IT_TMP/out")"
expect_output err "2 labs of other users: \`ltb status --all\` lists them"
expect_rc 0 ltb status --owner "$alice" --format json
[[ $(jq -r '[.labs[].name] | join(",")' "$IT_TMP/out") == "$alice_id" ]] ||
  fail "--owner $alice lists: $(cat "$IT_TMP/out")"
expect_rc 0 ltb exec r1 --lab "$alice/$lab" -- true
out=$(raw_request GET "/v1/labs/$alice_id") || fail "root's GET /v1/labs/$alice_id failed: $out"

log "each removes their own"
expect_rc 0 ultb down --lab "$lab"
expect_rc 0 bltb down lab.yaml
assert_lab_gone "$alice_id"
assert_lab_gone "$bob_id"
