#!/usr/bin/env bash
# ltb exec on a VM node falls back to ssh (a copy of examples/mixed-vm.yaml): the exit status
# comes through, stdout and stderr stay apart, stdin is passed on, an interactive session gets a
# TTY of the window's size, and --all runs on the VM and the containers together.
# shellcheck disable=SC2016 # single-quoted commands are for the node's shell to expand
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
command -v tmux >/dev/null || fail "tmux is missing (apt-get install tmux)"
virsh -c qemu:///system version >/dev/null 2>&1 || fail "libvirtd does not answer; start it (scripts/setup.sh services)"

lab=ltbtest-exec-vm
track_lab "$lab"
example="$LTB_SOURCE_DIR/examples/mixed-vm.yaml"
grep -q '^  ipv4-subnet: 172\.20\.32\.0/24$' "$example" ||
  fail "$example no longer pins mgmt ipv4-subnet 172.20.32.0/24; update this test"
file="$IT_TMP/mixed-vm.yaml"
sed -e 's|^  ipv4-subnet: 172\.20\.32\.0/24$|  ipv4-subnet: 172.20.142.0/24|' \
  -e 's|^name: mixed-vm$|name: '"$lab"'|' "$example" >"$file"
expect_rc 0 ltb up "$file"
bad=$(ltb status "$lab" --format json | jq -r '.nodes[] | select(.state != "running") | "\(.name)=\(.state)"')
[[ -z $bad ]] || fail "lab $lab has nodes not running: $bad"

# The guest boots under emulation: its ssh server answers some seconds after `ltb up`.
wait_until 180 ltb exec vm1 -- true ||
  fail "ltb exec vm1 -- true did not succeed within 180 s: $(ltb exec vm1 -- true 2>&1)"

log "exit status, stdout and stderr"
expect_rc 4 ltb exec vm1 -- sh -c 'echo out1; echo err1 >&2; echo out2; exit 4'
[[ $(cat "$IT_TMP/out") == $'out1\nout2' ]] || fail "stdout was '$(cat "$IT_TMP/out")'"
[[ $(cat "$IT_TMP/err") == err1 ]] || fail "stderr was '$(cat "$IT_TMP/err")'"
expect_rc 0 ltb exec vm1 --lab "$lab" -- hostname
[[ $(cat "$IT_TMP/out") == vm1 ]] || fail "hostname on vm1 printed '$(cat "$IT_TMP/out")'"
# Words with spaces and quotes reach the VM as they were given (ssh runs one shell line).
expect_rc 0 ltb exec vm1 -- printf '%s|' "a b" "it's" '$HOME' ''
[[ $(cat "$IT_TMP/out") == "a b|it's|\$HOME||" ]] || fail "arguments arrived changed: '$(cat "$IT_TMP/out")'"
# A word in brackets stays one word with its brackets (not a list): test's [ ... ] works.
expect_rc 0 ltb exec vm1 -- printf '%s|' '[ -d / ]' '[a,b]'
[[ $(cat "$IT_TMP/out") == "[ -d / ]|[a,b]|" ]] || fail "bracketed words arrived changed: '$(cat "$IT_TMP/out")'"
expect_rc 0 ltb exec vm1 -- sh -c '[ -d / ]'

log "stdin"
out=$(echo hi | ltb exec vm1 -- cat) || fail "echo hi | ltb exec vm1 -- cat failed"
[[ $out == hi ]] || fail "echo hi | ltb exec vm1 -- cat printed '$out'"
head -c 100000 /dev/urandom >"$IT_TMP/random"
ltb exec vm1 -- cat <"$IT_TMP/random" >"$IT_TMP/random.back" || fail "cat of a binary file on vm1 failed"
cmp -s "$IT_TMP/random" "$IT_TMP/random.back" || fail "binary stdin did not come back unchanged from vm1"
out=$(echo hidden | ltb exec -n vm1 -- cat) || fail "ltb exec -n vm1 -- cat failed"
[[ -z $out ]] || fail "ltb exec -n passed stdin on to vm1: '$out'"
# More input than the ssh channel's window while the command reads it all before answering.
out=$(seq 1 200000 | timeout 120 "$LTB" --state "$LTB_STATE" exec vm1 -- wc -l 2>&1) ||
  fail "seq 1 200000 | ltb exec vm1 -- wc -l failed: $out"
[[ $(tr -d ' ' <<<"$out") == 200000 ]] || fail "seq 1 200000 | ltb exec vm1 -- wc -l said '$out'"

log "--all over the VM and the containers"
expect_rc 6 ltb exec --all -- sh -c 'h=$(hostname); echo "$h says hi"; echo "$h err" >&2; case $h in vm1) exit 6;; c1) exit 2;; esac'
for node in vm1 c1 c2; do
  grep -Eqx "$node: +$node says hi" "$IT_TMP/out" || fail "--all: no prefixed line from $node: $(cat "$IT_TMP/out")"
  grep -Eqx "$node: +$node err" "$IT_TMP/err" || fail "--all: no prefixed stderr line from $node: $(cat "$IT_TMP/err")"
done
# Padded to the longest name (vm1): c1 and c2 get one more space.
grep -qx 'c1:  c1 says hi' "$IT_TMP/out" || fail "--all: prefixes are not padded: $(cat "$IT_TMP/out")"
[[ $(wc -l <"$IT_TMP/out") -eq 3 ]] || fail "--all printed more than the three lines: $(cat "$IT_TMP/out")"

log "interactive session on the VM through tmux"
sock="$IT_TMP/tmux.sock" # in the test's directory, removed with it
tmx() { tmux -S "$sock" "$@"; }
# Stops the tmux server, then lib.sh's cleanup runs with the test's status.
exec_cleanup() {
  local rc=$?
  set +e
  tmux -S "$sock" kill-server 2>/dev/null
  (exit "$rc")
  it_cleanup
}
trap exec_cleanup EXIT
pane_text() { tmx capture-pane -p -t exec -S -100; }
pane_has() { pane_text | grep -Eq "$1"; }
{
  printf 'stty -g >%q\n' "$IT_TMP/stty.before"
  printf '%q --state %q exec vm1 -- sh\n' "$LTB" "$LTB_STATE"
  printf 'echo "LTB_RC=$?"\n'
  printf 'stty -g >%q\n' "$IT_TMP/stty.after"
  printf 'exec sleep 600\n'
} >"$IT_TMP/session.sh"
tmx new-session -d -s exec -x 110 -y 35 "bash $IT_TMP/session.sh"
wait_until 30 pane_has '# *$' || fail "no shell prompt from vm1 in tmux: $(pane_text)"
tmx send-keys -t exec 'tty; stty size; echo mark-$((6*7))' Enter
wait_until 15 pane_has '^mark-42' || fail "the command typed in the session did not run: $(pane_text)"
pane_has '^/dev/pts/[0-9]+' || fail "the session on vm1 has no TTY: $(pane_text)"
pane_has '^35 110' || fail "the TTY on vm1 does not have the window's size 35x110: $(pane_text)"
tmx send-keys -t exec 'exit 9' Enter
wait_until 15 pane_has '^LTB_RC=9' || fail "the session did not end with status 9: $(pane_text)"
wait_until 5 test -s "$IT_TMP/stty.after" || fail "no terminal settings after the session"
cmp -s "$IT_TMP/stty.before" "$IT_TMP/stty.after" ||
  fail "the terminal was not restored: before $(cat "$IT_TMP/stty.before"), after $(cat "$IT_TMP/stty.after")"
tmx kill-server
