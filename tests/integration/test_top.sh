#!/usr/bin/env bash
# `ltb top`: with a CPU load running in one node of a busybox lab, two samples of
# `ltb top --once --format json` show that node's CPU seconds rising (and not the idle node's as
# much), a working set above zero and its interfaces' bytes; `ltb top --once` prints one table
# with the node's CPU % near one CPU, and no cursor movement into a pipe; `ltb top LAB` shows only
# that lab. Then a user runs `ltb top` through the daemon and sees their own lab only, by its
# plain name.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"

lab=ltbtest-top
track_lab "$lab"
file="$IT_TMP/lab.yaml"
cat >"$file" <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.191.0/24
topology:
  kinds:
    linux:
      image: $k_busybox
  nodes:
    busy:
      kind: linux
      exec:
        - ip addr add 10.233.9.1/30 dev eth1
    idle:
      kind: linux
      exec:
        - ip addr add 10.233.9.2/30 dev eth1
  links:
    - endpoints: ["busy:eth1", "idle:eth1"]
EOF
expect_rc 0 ltb up "$file"

# The load: a busy loop, detached, that ends with the container.
docker exec -d "$(container_name "$lab" busy)" sh -c 'while :; do :; done' ||
  fail "cannot start the load in node busy"
cexec "$lab" idle ping -c 3 -i 0.2 10.233.9.1 >/dev/null || fail "idle cannot reach busy over eth1"

# node_figure FILE NODE JQ-PATH: the node's figure in a JSON line of ltb top.
node_figure() { jq -er --arg n "$2" ".nodes[] | select(.lab == \"$lab\" and .node == \$n) | $3" "$1"; }

expect_rc 0 ltb top --once --format json
cp "$IT_TMP/out" "$IT_TMP/first.json"
(($(wc -l <"$IT_TMP/first.json") == 1)) || fail "ltb top --once --format json printed more than one line"
sleep 2
expect_rc 0 ltb top --once --format json "$lab"
cp "$IT_TMP/out" "$IT_TMP/second.json"

jq -e '.host.cpus > 0 and .host.memory_total_bytes > 0 and (.host.disks | length) > 0 and
  (.host.cpu_seconds_total | keys | length) == 8 and (.time | type) == "number"' \
  "$IT_TMP/second.json" >/dev/null || fail "host figures missing: $(cat "$IT_TMP/second.json")"
busy1=$(node_figure "$IT_TMP/first.json" busy .cpu_seconds_total) || fail "no node busy in: $(cat "$IT_TMP/first.json")"
busy2=$(node_figure "$IT_TMP/second.json" busy .cpu_seconds_total) || fail "no node busy in: $(cat "$IT_TMP/second.json")"
idle1=$(node_figure "$IT_TMP/first.json" idle .cpu_seconds_total)
idle2=$(node_figure "$IT_TMP/second.json" idle .cpu_seconds_total)
log "busy: ${busy1}s -> ${busy2}s; idle: ${idle1}s -> ${idle2}s"
# About 2 s apart on 2 cores with other work about: the loop gets at least a quarter of a CPU.
awk -v a="$busy1" -v b="$busy2" 'BEGIN { exit !(b - a > 0.5) }' ||
  fail "node busy's CPU seconds did not rise with its load: $busy1 -> $busy2"
awk -v a="$busy1" -v b="$busy2" -v c="$idle1" -v d="$idle2" 'BEGIN { exit !(b - a > 5 * (d - c)) }' ||
  fail "node idle used about as much CPU as busy: $idle1 -> $idle2 against $busy1 -> $busy2"
mem=$(node_figure "$IT_TMP/second.json" busy .memory_working_set_bytes)
((mem > 0)) || fail "node busy's working set is $mem"
[[ $(node_figure "$IT_TMP/second.json" busy .state) == running ]] || fail "node busy is not running in ltb top"
[[ $(node_figure "$IT_TMP/second.json" busy .runtime) == container ]] || fail "node busy is no container in ltb top"
rx=$(node_figure "$IT_TMP/second.json" idle '.interfaces[] | select(.interface == "eth1") | .receive_bytes_total') ||
  fail "node idle has no eth1 in ltb top: $(cat "$IT_TMP/second.json")"
((rx > 0)) || fail "node idle's eth1 received $rx bytes after a ping"
jq -e --arg l "$lab" '[.labs[] | select(.lab == $l and .nodes == 2 and .reserved_cpus > 0)] | length == 1' \
  "$IT_TMP/second.json" >/dev/null || fail "lab $lab is not in .labs: $(cat "$IT_TMP/second.json")"
jq -e --arg l "$lab" '[.nodes[] | select(.lab != $l)] | length == 0' "$IT_TMP/second.json" >/dev/null ||
  fail "ltb top $lab shows nodes of other labs"

# The table: one after one interval, no cursor movement into a pipe.
expect_rc 0 ltb top --once --interval 1 "$lab"
expect_output out '^host: [0-9]+ CPUs'
expect_output out '^NODE +LAB +KIND +STATE +CPU % +MEM +NET RX/TX +DISK'
expect_output out "^busy +$lab +linux +running +[0-9.]+% +[0-9.]+[KMG]?i?B"
pct=$(awk '$1 == "busy" { sub("%", "", $5); print $5 }' "$IT_TMP/out")
awk -v p="$pct" 'BEGIN { exit !(p > 25) }' || fail "node busy's CPU % is $pct with a busy loop: $(cat "$IT_TMP/out")"
if grep -q $'\x1b' "$IT_TMP/out"; then
  fail "ltb top wrote escape sequences into a pipe"
fi
expect_rc 2 ltb top --interval 0
expect_rc 1 ltb top no-such-lab --once
expect_output err "no lab named 'no-such-lab'"

# Through the daemon, as a user: their own lab only, by the name they gave it.
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
serve_setup
serve_start
ulab=ltbtest-topu
track_lab "$SERVE_USER"__"$ulab"
cat >"$SERVE_HOME/lab.yaml" <<EOF
name: $ulab
mgmt:
  ipv4-subnet: 172.20.192.0/24
topology:
  kinds:
    linux:
      image: $k_busybox
  nodes:
    u1:
      kind: linux
EOF
chown "$SERVE_USER" "$SERVE_HOME/lab.yaml"
expect_rc 0 ultb up lab.yaml
expect_rc 0 ultb top --once --format json
jq -e --arg l "$ulab" --arg o "$SERVE_USER" '[.nodes[] | select(.lab == $l and .node == "u1" and .owner == $o
  and .memory_working_set_bytes > 0)] | length == 1' "$IT_TMP/out" >/dev/null ||
  fail "the user's ltb top does not show their node u1: $(cat "$IT_TMP/out")"
jq -e --arg l "$ulab" '([.nodes[] | select(.lab != $l)] | length) == 0 and
  ([.labs[] | select(.lab != $l)] | length) == 0' "$IT_TMP/out" >/dev/null ||
  fail "the user's ltb top shows another user's nodes: $(cat "$IT_TMP/out")"
expect_rc 0 ultb top --once --interval 0.5 "$ulab"
expect_output out "^u1 +$ulab +linux +running"
expect_rc 1 ultb top "$lab" --once
expect_output err "no lab named '$lab'"
expect_rc 0 ultb down lab.yaml
expect_rc 0 ltb down "$file"
