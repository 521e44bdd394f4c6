#!/usr/bin/env bash
# ltb exec against a copy of examples/frr-ospf.yaml with labels added: the command's exit status
# comes through, stdout and stderr stay apart, stdin is passed on (binary-safe, with EOF), --all
# and --label prefix every line with the node's name and return the highest status, Ctrl-C ends
# the command in the node as well (SIGINT, then SIGKILL 3 s later), an
# interactive session through tmux gets a TTY of the window's size that follows resizes and
# leaves the terminal as it was (also when ltb is killed), and the errors name what is wrong.
# shellcheck disable=SC2016 # single-quoted commands are for the node's shell to expand
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_frr" "$k_busybox"
command -v tmux >/dev/null || fail "tmux is missing (apt-get install tmux)"

lab=ltbtest-exec
track_lab "$lab"
example="$LTB_SOURCE_DIR/examples/frr-ospf.yaml"
grep -q '^  ipv4-subnet: 172\.20\.30\.0/24$' "$example" ||
  fail "$example no longer pins mgmt ipv4-subnet 172.20.30.0/24; update this test"
if ! grep -q '^    r1:$' "$example" || ! grep -q '^      image: ltb/busybox:latest$' "$example"; then
  fail "$example no longer has the node r1 or the linux kind's image line this test adds labels after"
fi

# Labels: on nodes, on an ovs-bridge node, and on the linux kind (inherited by h1 and h2).
file="$IT_TMP/frr-ospf.yaml"
sed -e 's|^  ipv4-subnet: 172\.20\.30\.0/24$|  ipv4-subnet: 172.20.42.0/24|' \
  -e 's|^name: frr-ospf$|name: '"$lab"'|' \
  -e 's|^      image: ltb/busybox:latest$|&\n      labels: {tier: edge}|' \
  -e 's|^    r1:$|&\n      labels: {role: core, site: a}|' \
  -e 's|^    r2:$|&\n      labels: {role: core}|' \
  -e 's|^    sw1:$|&\n      labels: {site: a}|' \
  "$example" >"$file"
cp -r "$LTB_SOURCE_DIR/examples/frr-ospf" "$IT_TMP/"
expect_rc 0 ltb up "$file"
assert_all_running "$lab"

log "exit status"
expect_rc 3 ltb exec r1 --lab "$lab" -- sh -c 'exit 3'
expect_rc 0 ltb exec r1 --lab "$lab" -- true
# --lab left out: r1 is in one lab of this user's.
expect_rc 42 ltb exec r1 -- sh -c 'exit 42'
expect_rc 0 ltb exec h1 -- hostname
[[ $(cat "$IT_TMP/out") == h1 ]] || fail "ltb exec h1 -- hostname printed '$(cat "$IT_TMP/out")'"
# A word in brackets stays one word with its brackets (CLI11 would read it as a list).
expect_rc 0 ltb exec h1 -- printf '%s|' '[ -d / ]' '[a,b]'
[[ $(cat "$IT_TMP/out") == "[ -d / ]|[a,b]|" ]] || fail "bracketed words arrived changed: '$(cat "$IT_TMP/out")'"

log "stdout and stderr stay apart"
expect_rc 5 ltb exec h1 -- sh -c 'echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 5'
[[ $(cat "$IT_TMP/out") == $'out1\nout2' ]] || fail "stdout was '$(cat "$IT_TMP/out")'"
[[ $(cat "$IT_TMP/err") == $'err1\nerr2' ]] || fail "stderr was '$(cat "$IT_TMP/err")'"
# A lot on both at once (frames of both streams interleave).
expect_rc 0 ltb exec r1 -- sh -c 'seq 1 20000; seq 1 20000 >&2'
[[ $(seq 1 20000) == "$(cat "$IT_TMP/out")" ]] || fail "stdout of 20000 lines came back different"
[[ $(seq 1 20000) == "$(cat "$IT_TMP/err")" ]] || fail "stderr of 20000 lines came back different"

log "stdin"
out=$(echo hi | ltb exec h1 -- cat) || fail "echo hi | ltb exec h1 -- cat failed"
[[ $out == hi ]] || fail "echo hi | ltb exec h1 -- cat printed '$out'"
head -c 300000 /dev/urandom >"$IT_TMP/random"
ltb exec h1 -- cat <"$IT_TMP/random" >"$IT_TMP/random.back" || fail "cat of a binary file through ltb exec failed"
cmp "$IT_TMP/random" "$IT_TMP/random.back" || fail "binary stdin did not come back unchanged through cat"
out=$(seq 1 100000 | ltb exec r1 -- wc -l) || fail "seq | ltb exec r1 -- wc -l failed"
[[ $(tr -d ' ' <<<"$out") == 100000 ]] || fail "wc -l of 100000 piped lines said '$out'"
# A command that writes a lot and never reads its stdin, while ltb still has stdin to send.
out=$(timeout 60 "$LTB" --state "$LTB_STATE" exec r1 -- sh -c 'head -c 5000000 /dev/zero | wc -c' \
  < <(head -c 20000000 /dev/zero)) ||
  fail "a command that ignores its stdin while writing blocked or failed (rc $?)"
[[ $(tr -d ' ' <<<"$out") == 5000000 ]] || fail "wc -c said '$out', expected 5000000"
# -n: no stdin at all, even when there is some.
out=$(echo hidden | ltb exec -n h1 -- cat) || fail "ltb exec -n h1 -- cat failed"
[[ -z $out ]] || fail "ltb exec -n passed stdin on: '$out'"
# stdin that is closed
expect_rc 0 ltb exec h1 -- sh -c 'cat; echo done' <&-
[[ $(cat "$IT_TMP/out") == "done" ]] || fail "with stdin closed, the command printed '$(cat "$IT_TMP/out")'"

log "interrupted: the command in the node ends too (Docker alone would leave it running)"
# ltb in the background, its pid known ($! of a subshell that execs it).
(exec "$LTB" --state "$LTB_STATE" exec h1 -- sleep 4242 </dev/null >/dev/null 2>"$IT_TMP/int.err") &
pid=$!
wait_until 10 runs_in "$lab" h1 "sleep 4242" ||
  fail "sleep 4242 did not start in h1"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
((rc == 130)) || fail "ltb exec interrupted ended with $rc, not 130: $(cat "$IT_TMP/int.err")"
runs_in "$lab" h1 "sleep 4242" &&
  fail "the interrupted command still runs in h1"
# One that ignores SIGINT gets SIGKILL 3 s later; every node's with --all.
(exec "$LTB" --state "$LTB_STATE" exec --all -- sh -c 'trap "" INT; sleep 4243; :' </dev/null \
  >/dev/null 2>"$IT_TMP/int.err") &
pid=$!
wait_until 10 runs_in "$lab" r2 "sleep 4243" ||
  fail "sleep 4243 did not start in r2"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
((rc == 137)) || fail "ltb exec --all of a command ignoring SIGINT ended with $rc, not 137: $(cat "$IT_TMP/int.err")"
for node in r1 r2 r3 h1 h2; do
  runs_in "$lab" "$node" "sleep 4243" &&
    fail "the interrupted command still runs in $node"
done

log "--all: every node, every line prefixed, the highest status"
expect_rc 5 ltb exec --all --lab "$lab" -- sh -c 'h=$(hostname); i=0; while [ $i -lt 500 ]; do echo "$h $i"; i=$((i+1)); done; printf "$h last"; echo "$h oops" >&2; case $h in r2) exit 5;; h1) exit 2;; esac'
nodes=$(awk -F: '{ print $1 }' "$IT_TMP/out" | sort -u | paste -sd ' ')
[[ $nodes == "h1 h2 r1 r2 r3" ]] || fail "--all ran on '$nodes', expected h1 h2 r1 r2 r3"
# Every line whole: the name in the prefix is the name the node printed.
bad=$(grep -Ev '^(r[123]|h[12]): ([a-z0-9]+) ([0-9]+|last)$' "$IT_TMP/out" | head -3 || true)
[[ -z $bad ]] || fail "--all printed lines that are not 'NODE: NODE N': $bad"
bad=$(awk '{ n = $1; sub(/:$/, "", n); if (n != $2) print }' "$IT_TMP/out" | head -3)
[[ -z $bad ]] || fail "--all mixed lines of different nodes: $bad"
for node in r1 r2 r3 h1 h2; do
  [[ $(grep -c "^$node: $node [0-9]*$" "$IT_TMP/out") -eq 500 ]] || fail "--all: node $node does not have its 500 lines"
  grep -qx "$node: $node last" "$IT_TMP/out" || fail "--all: the last line of $node (no newline) is missing"
  grep -qx "$node: $node oops" "$IT_TMP/err" || fail "--all: the stderr line of $node is not on stderr: $(cat "$IT_TMP/err")"
done
! grep -q oops "$IT_TMP/out" || fail "--all: stderr lines came out on stdout"
grep -q "sw1" "$IT_TMP/err" || fail "--all did not say it skipped the bridge node sw1: $(cat "$IT_TMP/err")"
expect_rc 0 ltb exec --all -- true

log "--label"
labelled() { awk -F: '{ print $1 }' "$IT_TMP/out" | sort -u | paste -sd ' '; }
expect_rc 0 ltb exec --label role=core -- hostname
[[ $(labelled) == "r1 r2" ]] || fail "--label role=core ran on '$(labelled)'"
grep -qx 'r1: r1' "$IT_TMP/out" || fail "--label output is not prefixed: $(cat "$IT_TMP/out")"
expect_rc 0 ltb exec --label tier=edge -- hostname
[[ $(labelled) == "h1 h2" ]] || fail "--label tier=edge (inherited from the kind) ran on '$(labelled)'"
expect_rc 0 ltb exec --label role=core --label site=a -- hostname
[[ $(labelled) == "r1" ]] || fail "--label role=core --label site=a ran on '$(labelled)'"
expect_rc 0 ltb exec --label site=a -- hostname
[[ $(labelled) == "r1" ]] || fail "--label site=a ran on '$(labelled)'"
expect_output err "sw1"
expect_rc 1 ltb exec --label role=nothing -- hostname
expect_output err "no node of lab '$lab' has the label role=nothing"
expect_rc 2 ltb exec --label role -- hostname
expect_output err "KEY=VALUE"
expect_rc 2 ltb exec --all --label role=core -- hostname

log "errors"
expect_rc 1 ltb exec r9 -- true
expect_output err "no node named 'r9'"
expect_output err "did you mean 'r[123]'"
expect_rc 1 ltb exec rr1 --lab "$lab" -- true
expect_output err "lab '$lab' has no node 'rr1'"
expect_output err "did you mean 'r1'"
expect_rc 1 ltb exec r1 --lab "${lab}x" -- true
expect_output err "no lab named '${lab}x'"
expect_output err "did you mean '$lab'"
expect_rc 1 ltb exec sw1 -- true
expect_output err "Open vSwitch bridge"
expect_rc 2 ltb exec r1
expect_output err "no command"
# As with docker exec: Docker's runtime says why in the stream, the status is 126.
expect_rc 126 ltb exec r1 -- /no/such/command
grep -q 'no such file or directory' "$IT_TMP/out" "$IT_TMP/err" || fail "a missing command gave no message"

log "interactive session through tmux"
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
# session.sh records the terminal settings, runs `ltb exec r1 -- sh` in the foreground (its pid
# in ltb.pid), prints its exit status and records the settings again.
{
  printf 'stty -g >%q\n' "$IT_TMP/stty.before"
  printf 'sh -c %q _ %q %q --state %q exec r1 -- sh\n' 'echo $$ >"$1"; shift; exec "$@"' \
    "$IT_TMP/ltb.pid" "$LTB" "$LTB_STATE"
  printf 'echo "LTB_RC=$?"\n'
  printf 'stty -g >%q\n' "$IT_TMP/stty.after"
  printf 'exec sleep 600\n'
} >"$IT_TMP/session.sh"
tmx new-session -d -s exec -x 120 -y 40 "bash $IT_TMP/session.sh"
wait_until 20 pane_has '# *$' || fail "no shell prompt from r1 in tmux: $(pane_text)"
tmx send-keys -t exec 'tty; stty size; echo mark-$((6*7))' Enter
wait_until 10 pane_has '^mark-42' || fail "the command typed in the session did not run: $(pane_text)"
pane_has '^/dev/pts/[0-9]+' || fail "the session has no TTY: $(pane_text)"
# The terminal is runc's (the container's own process spec), handed to ltb exec, with no Docker
# exec relaying it: the node's shell is ltb's child (its subreaper), not a containerd shim's.
direct_shell() { pgrep -P "$(cat "$IT_TMP/ltb.pid")" -x sh; }
wait_until 5 direct_shell ||
  fail "the node's shell is not ltb exec's child (a Docker exec?): $(ps -o pid,ppid,args --ppid "$(cat "$IT_TMP/ltb.pid")")"
pane_has '^40 120' || fail "the TTY does not have the window's size 40x120: $(pane_text)"
tmx resize-window -t exec -x 100 -y 30
# The new size reaches the TTY asynchronously: ask until it answers with it.
resized() {
  tmx send-keys -t exec 'stty size' Enter
  pane_has '^30 100'
}
wait_until 10 resized || fail "the window size change did not reach the TTY (want 30 100): $(pane_text)"
tmx send-keys -t exec 'exit 7' Enter
wait_until 10 pane_has '^LTB_RC=7' || fail "the session did not end with status 7: $(pane_text)"
wait_until 5 test -s "$IT_TMP/stty.after" || fail "no terminal settings after the session"
cmp -s "$IT_TMP/stty.before" "$IT_TMP/stty.after" ||
  fail "the terminal was not restored: before $(cat "$IT_TMP/stty.before"), after $(cat "$IT_TMP/stty.after")"
tmx kill-session -t exec

log "the terminal is restored when ltb is killed in raw mode, and the node's shell ends"
rm -f "$IT_TMP/stty.before" "$IT_TMP/stty.after" "$IT_TMP/ltb.pid"
tmx new-session -d -s exec -x 100 -y 30 "bash $IT_TMP/session.sh"
wait_until 20 pane_has '# *$' || fail "no shell prompt from r1 in tmux: $(pane_text)"
pid=$(cat "$IT_TMP/ltb.pid")
# It must really have put the terminal in raw mode, or the check below proves nothing.
[[ $(stty -g <"$(tmx display -p -t exec '#{pane_tty}')") != "$(cat "$IT_TMP/stty.before")" ]] ||
  fail "ltb exec did not put the terminal in raw mode"
kill -TERM "$pid"
# The shell in the node gets SIGHUP (its terminal went away) and ends: its status, 128 + 1.
wait_until 10 pane_has 'LTB_RC=129$' || fail "ltb exec did not end on SIGTERM with 129 (the shell's SIGHUP): $(pane_text)"
wait_until 5 test -s "$IT_TMP/stty.after" || fail "no terminal settings after the session"
cmp -s "$IT_TMP/stty.before" "$IT_TMP/stty.after" ||
  fail "the terminal was not restored after SIGTERM: before $(cat "$IT_TMP/stty.before"), after $(cat "$IT_TMP/stty.after")"
tmx kill-server

log "a node whose container is stopped"
docker stop -t 1 "$(container_name "$lab" h2)" >/dev/null
expect_rc 1 ltb exec h2 -- true
expect_output err "not running"
expect_rc 1 ltb exec --all -- true
expect_output err "not running"
