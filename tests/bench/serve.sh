#!/usr/bin/env bash
# The daemon's cost (run by tests/bench/run.sh, or alone, as root): a user who is not root runs
# ltb through `ltb serve`; root runs the same ltb directly, on the same lab, alternating.
#   - `ltb status LAB` of a 50-node lab: median through the daemon - median direct < 10 ms
#   - `ltb exec NODE -- true`: median through the daemon / direct <= 1.2
#   - `ltb capture` under a UDP flood (iperf3 in the FRR image, 64-byte payloads), both at once on
#     the same interface: packets/s direct / through the daemon <= 1.2, and no drops through the
#     daemon when the direct one has none
# Environment: LTB (the ltb binary, required), BENCH_SERVE_RUNS (rounds, default 15), BENCH_SERVE_RATE
# (offered packets/s, default 20000), BENCH_SERVE_SECONDS (default 5), BENCH_SERVE_SUBNET
# (default 172.20.183.0/24), BENCH_OUT (append the rows there). The lab is the user's (deployed
# through the daemon); root names it by its id, USER__LAB.
# Exit status: 0 when every target was met, 2 when one was missed, 1 when something failed. It
# makes a group and a user ltbb<pid>, a lab ltbtest-servebench, and removes them on exit.

set -uo pipefail
export LC_ALL=C

: "${LTB:?set LTB to the ltb binary}"
RUNS=${BENCH_SERVE_RUNS:-15} # its own: differences of a few ms need more rounds than BENCH_RUNS
RATE=${BENCH_SERVE_RATE:-20000}
SECS=${BENCH_SERVE_SECONDS:-5}
SUBNET=${BENCH_SERVE_SUBNET:-172.20.183.0/24}
LAB=ltbtest-servebench
WORK=$(mktemp -d /tmp/ltbtest-servebench.XXXXXX)
STATE=$WORK/state.db
SOCK=$WORK/run/ltb.sock
GROUP=ltbbg$$
USER_NAME=ltbb$$
LAB_ID=${USER_NAME}__$LAB
PIDS=()

BENCH_NAME='bench serve'
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# shellcheck disable=SC2317 # called by lib.sh's EXIT trap
cleanup() {
  local pid
  if (($1 != 0)) && [[ -d $WORK ]]; then
    mkdir -p /tmp/ltbtest-servebench-logs && cp "$WORK"/*.log "$WORK"/*.err /tmp/ltbtest-servebench-logs/ 2>/dev/null
    say "logs kept in /tmp/ltbtest-servebench-logs"
  fi
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [[ -f $STATE ]]; then
    "$LTB" --state "$STATE" --quiet down --lab "$LAB_ID" >"$WORK/down.log" 2>&1 ||
      say "ltb down --lab $LAB_ID failed: $(tail -3 "$WORK/down.log")"
  fi
  userdel "$USER_NAME" 2>/dev/null
  groupdel "$GROUP" 2>/dev/null
  rm -rf "$WORK"
}

(($(id -u) == 0)) || die "run it as root (it makes a user and runs the daemon)"
command -v jq >/dev/null || die "jq is missing (apt-get install jq)"
docker image inspect ltb/frr:latest >/dev/null 2>&1 || die "image ltb/frr:latest is missing; run make images"

groupadd "$GROUP" || die "groupadd failed"
useradd -M -d "$WORK/home" -s /bin/sh -G "$GROUP" "$USER_NAME" || die "useradd failed"
chmod 0711 "$WORK"
mkdir -p "$WORK/home" "$WORK/bin"
chown "$USER_NAME" "$WORK/home"
install -m 0755 "$LTB" "$WORK/bin/ltb"
if "$LTB" --help | grep -Eq "^  user( |,)"; then
  "$LTB" --state "$STATE" user add "$USER_NAME" >/dev/null || die "ltb user add failed"
fi
# direct ARGS...: ltb as root, through the same launcher as remote (a subshell, setpriv, env), so
# that the launcher's cost falls on both sides.
direct() {
  (cd "$WORK/home" && exec setpriv --reuid 0 --regid 0 --clear-groups \
    env -i PATH="$WORK/bin:/usr/bin:/bin" HOME="$WORK/home" "$LTB" --state "$STATE" "$@")
}
# remote ARGS...: ltb as the user, in its home, through the daemon; the subshell becomes ltb
# (exec), so that in the background $! is ltb's pid and a signal reaches it.
remote() {
  (cd "$WORK/home" && exec setpriv --reuid "$USER_NAME" --regid "$GROUP" --init-groups \
    env -i PATH="$WORK/bin:/usr/bin:/bin" HOME="$WORK/home" LTB_SOCKET="$SOCK" ltb "$@")
}

{
  printf 'name: %s\nmgmt:\n  ipv4-subnet: %s\ntopology:\n  nodes:\n' "$LAB" "$SUBNET"
  printf '    a:\n      kind: frr\n      exec:\n        - ip addr add 10.233.83.1/30 dev eth1\n'
  printf '    b:\n      kind: frr\n      exec:\n        - ip addr add 10.233.83.2/30 dev eth1\n'
  for i in $(seq 1 48); do
    printf '    h%s:\n      kind: linux\n      image: ltb/busybox:latest\n' "$i"
  done
  printf '  links:\n    - endpoints: ["a:eth1", "b:eth1"]\n'
} >"$WORK/home/lab.yaml"
chown "$USER_NAME" "$WORK/home/lab.yaml"
# Not through `direct`: a function in the background is a subshell, and its pid is not ltb's.
"$LTB" --state "$STATE" serve --socket "$SOCK" --group "$GROUP" 2>"$WORK/serve.log" &
PIDS+=($!)
for _ in $(seq 100); do
  remote version >/dev/null 2>&1 && break
  sleep 0.1
done
remote version >/dev/null 2>&1 || die "the daemon does not answer: $(cat "$WORK/serve.log")"
say "deploying 50 nodes as the user, through the daemon"
remote --quiet up lab.yaml >"$WORK/up.log" 2>&1 || die "ltb up failed: $(tail -5 "$WORK/up.log")"

# pair NAME TARGET CMD...: CMD directly (as root, the word LAB standing for the lab's id) and
# through the daemon (as the user, LAB standing for its name), alternating, RUNS each; rows of
# both medians and the overhead (TARGET "<10ms") or the ratio (TARGET "<=1.2").
pair() {
  local name=$1 target=$2 i d=() r=() args_d=() args_r=() word
  shift 2
  for word in "$@"; do
    args_d+=("${word/#LAB/$LAB_ID}")
    args_r+=("${word/#LAB/$LAB}")
  done
  for ((i = 0; i < RUNS; i++)); do
    timed direct "${args_d[@]}" || die "direct ltb ${args_d[*]} failed: $(tail -3 "$WORK/last.log")"
    d+=("$T")
    timed remote "${args_r[@]}" || die "ltb ${args_r[*]} through the daemon failed: $(tail -3 "$WORK/last.log")"
    r+=("$T")
  done
  local md mr
  md=$(median "${d[@]}")
  mr=$(median "${r[@]}")
  row "$name, direct (s)" "$md"
  if [[ $target == "<10ms" ]]; then
    local over
    over=$(calc "($mr - $md) * 1000")
    row "$name, through the daemon (s)" "$mr" "$over" "<=10"
    ROWS[-1]=${ROWS[-1]/"$over (target <=10)"/"+$over ms (target < 10 ms)"}
  else
    row "$name, through the daemon (s)" "$mr" "$(calc "$mr / $md")" "$target"
  fi
}

pair "ltb status LAB (50 nodes)" "<10ms" status LAB
pair "ltb exec NODE -- true" "<=1.2" exec a --lab LAB -- true

say "capture: $RATE pps for $SECS s, direct and through the daemon at once"
docker exec -d "ltb-$LAB_ID-b" iperf3 -s >/dev/null || die "cannot start iperf3 -s"
sleep 1
"$LTB" --state "$STATE" capture b:eth1 --lab "$LAB_ID" -w "$WORK/direct.pcap" 2>"$WORK/direct.err" &
cd_pid=$!
PIDS+=("$cd_pid")
# Inline, not through remote(): the background subshell must become ltb for Ctrl-C to reach it.
(cd "$WORK/home" && exec setpriv --reuid "$USER_NAME" --regid "$GROUP" --init-groups \
  env -i PATH="$WORK/bin:/usr/bin:/bin" HOME="$WORK/home" LTB_SOCKET="$SOCK" \
  ltb capture b:eth1 --lab "$LAB" -w cap.pcap) 2>"$WORK/remote.err" &
cr_pid=$!
PIDS+=("$cr_pid")
for _ in $(seq 100); do
  grep -q '^capturing on' "$WORK/direct.err" && grep -q '^capturing on' "$WORK/remote.err" && break
  sleep 0.1
done
grep -q '^capturing on' "$WORK/remote.err" || die "the capture through the daemon did not start: $(cat "$WORK/remote.err")"
docker exec "ltb-$LAB_ID-a" iperf3 -c 10.233.83.2 -u -l 64 -b $((RATE * 64 * 8)) -t "$SECS" --json \
  >"$WORK/iperf.json" 2>&1 || die "iperf3 failed: $(tail -5 "$WORK/iperf.json")"
sleep 1
kill -INT "$cd_pid" "$cr_pid"
wait "$cd_pid" || die "direct capture failed: $(cat "$WORK/direct.err")"
wait "$cr_pid" || die "capture through the daemon failed: $(cat "$WORK/remote.err")"
field() { grep -Eo "^[0-9]+ packets? captured" "$1" | head -1 | grep -Eo '^[0-9]+' || echo 0; }
dropped() { grep -Eo '\(([0-9]+) dropped by the kernel' "$1" | grep -Eo '[0-9]+' || echo 0; }
nd=$(field "$WORK/direct.err")
nr=$(field "$WORK/remote.err")
dd=$(dropped "$WORK/direct.err")
dr=$(dropped "$WORK/remote.err")
[[ -s $WORK/home/cap.pcap ]] || die "the capture through the daemon wrote no file"
((nr > 0)) || die "the capture through the daemon captured nothing"
row "capture $RATE pps, direct (pkt/s)" "$(calc "$nd / $SECS")"
row "capture $RATE pps, through the daemon (pkt/s)" "$(calc "$nr / $SECS")" "$(calc "$nd / $nr")" "<=1.2"
result=PASS
((dd == 0 && dr > 0)) && result=MISS
ROWS+=("capture $RATE pps, drops direct / daemon	$dd / $dr	(target: 0 when direct 0)	$result")

report "ltb serve: through the daemon against direct"
