#!/usr/bin/env bash
# `ltb reserve` and `ltb config` against a fixed capacity: create (file, template, --count), list
# (table, json), show, update, delete; refusals that name what is in the way and propose the
# earliest start that fits; bad times with clear errors; and the rule for `ltb up` of an unreserved
# lab (refused when it would leave a reservation short, --until makes it fit and records it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"

prefix=ltbtest-res
subnet=172.20.44.0/24

# lab_file PATH NAME NODES [SUBNET]: a lab of NODES busybox nodes in a chain.
lab_file() {
  local path=$1 name=$2 nodes=$3 pinned=${4:-}
  {
    printf 'name: %s\n' "$name"
    [[ -n $pinned ]] && printf 'mgmt:\n  ipv4-subnet: %s\n' "$pinned"
    printf 'topology:\n  kinds:\n    linux:\n      image: %s\n  nodes:\n' "$k_busybox"
    for ((i = 1; i <= nodes; i++)); do
      printf '    n%d:\n      kind: linux\n' "$i"
    done
    if ((nodes > 1)); then
      printf '  links:\n'
      for ((i = 1; i < nodes; i++)); do
        printf '    - endpoints: ["n%d:eth1", "n%d:eth2"]\n' "$i" $((i + 1))
      done
    fi
  } >"$path"
}

json_field() { jq -r "$1" "$IT_TMP/out"; }

# at MINUTES: an absolute local time MINUTES after a fixed base a day ahead (on the hour), so that
# windows meet exactly however long the commands take.
base=$((($(date +%s) / 3600 + 24) * 3600))
at() { date -d "@$((base + $1 * 60))" +%Y-%m-%dT%H:%M:%S; }

# --- ltb config: a fixed capacity, whatever the machine ---------------------------------------
# 3 vCPU, no overcommit, each container node 1 vCPU and 256 MiB: a 2-node lab needs 2 vCPU.
expect_rc 0 ltb config set cpus 3
expect_output out '^cpus = 3$'
expect_rc 0 ltb config set cpu-overcommit 1
expect_rc 0 ltb config set memory 4GiB
expect_rc 0 ltb config set disk 10GB
expect_rc 0 ltb config set container-cpus 1
expect_rc 0 ltb config get memory
expect_output out '^4294967296$'
expect_rc 0 ltb config list
expect_output out '^cpus +3 +set'
expect_output out '^memory-overcommit +1 +default'
expect_output out 'capacity for reservations: 3 vCPU, 4 GiB memory'
expect_rc 0 ltb config list --format json
[[ $(json_field '.capacity.cpus') == 3 ]] || fail "config list json: capacity.cpus is $(json_field '.capacity.cpus')"
[[ $(json_field '.settings[] | select(.name == "disk") | .value') == 10000000000 ]] ||
  fail "config list json: disk is not 10000000000"
expect_rc 2 ltb config set cpu-overcomit 2
expect_output err "no setting named 'cpu-overcomit'"
expect_output err "did you mean 'cpu-overcommit'"
expect_rc 2 ltb config set memory lots
expect_output err "invalid value 'lots' for memory"
expect_rc 2 ltb config set cpu-overcommit 0
# unset goes back to the measured value, set again for the rest of the test.
expect_rc 0 ltb config unset cpus
expect_rc 0 ltb config list --format json
[[ $(json_field '.settings[] | select(.name == "cpus") | .origin') == measured ]] ||
  fail "config unset cpus did not go back to the measured value"
expect_rc 0 ltb config set cpus 3

# --- reserve create, list, show ------------------------------------------------------------------
two="$IT_TMP/two.yaml"
lab_file "$two" "$prefix-a" 2
expect_rc 0 ltb reserve create "$two" --start "$(at 120)" --for 1h
expect_output out "^reservation ([0-9]+): lab $prefix-a, .* \\(1h\\), 2 vCPU, 512 MiB memory, 0 disk$"
id_a=$(sed -E 's/^reservation ([0-9]+):.*/\1/' "$IT_TMP/out")

# The stored text is what deploys: editing the file afterwards changes nothing.
sed -i 's/^name: .*/name: edited/' "$two"
expect_rc 0 ltb reserve show "$id_a"
expect_output out "^  lab: +$prefix-a$"
expect_output out "^  state: +pending \\(starts in 1d"
expect_output out "^  name: $prefix-a$"
expect_output out "^  demand: +2 vCPU, 512 MiB memory, 0 disk$"
expect_rc 0 ltb reserve show "$id_a" --format json
[[ $(json_field '.topology' | head -1) == "name: $prefix-a" ]] || fail "show json: stored topology changed"
lab_file "$two" "$prefix-a" 2

# 2 x 2 vCPU at the same time do not fit in 3: refused, with the conflict, the peak and the
# earliest start that fits (the end of reservation a).
expect_rc 1 ltb reserve create "$two" --lab "$prefix-b" --start "$(at 150)" --for 1h
expect_output err "cannot reserve lab $prefix-b .*: the host's capacity would be exceeded"
expect_output err "peak demand 4 of 3 vCPU"
expect_output err "reservation $id_a \\(lab $prefix-a\\)"
expect_output err "earliest start at which the whole window fits is .*: pass --start "
proposal=$(sed -nE 's/.*pass --start ([^ ]+)$/\1/p' "$IT_TMP/err")
expect_rc 0 ltb reserve show "$id_a" --format json
end_a=$(json_field '.end')
[[ $(date -u -d "$proposal" +%s) == $(date -u -d "$end_a" +%s) &&
  $(date -u -d "$end_a" +%s) == $((base + 180 * 60)) ]] ||
  fail "proposed start $proposal is not the end of reservation $id_a ($end_a)"
# The proposal fits as it is; back-to-back windows do not overlap.
expect_rc 0 ltb reserve create "$two" --lab "$prefix-b" --start "$proposal" --for 1h
id_b=$(sed -E 's/^reservation ([0-9]+):.*/\1/' "$IT_TMP/out")

# --count: NAME-1 ... NAME-N, admitted together (1-node lab: 1 vCPU each).
one="$IT_TMP/one.yaml"
lab_file "$one" "$prefix-c" 1
expect_rc 1 ltb reserve create "$one" --start "$(at 120)" --for 30m --count 2
expect_output err "cannot reserve 2 labs $prefix-c-1 ... $prefix-c-2"
# Three right before a: back-to-back windows do not overlap.
expect_rc 0 ltb reserve create "$one" --start "$(at 60)" --end "$(at 120)" --count 3
[[ $(grep -c "^reservation [0-9]*: lab $prefix-c-[123], " "$IT_TMP/out") == 3 ]] ||
  fail "--count 3 did not make three reservations: $(cat "$IT_TMP/out")"
# A pinned management subnet cannot be shared by several instances.
pinned="$IT_TMP/pinned.yaml"
lab_file "$pinned" "$prefix-p" 1 "$subnet"
expect_rc 2 ltb reserve create "$pinned" --start +5h --for 1h --count 2
expect_output err "same management subnet"
# The same lab name twice at once is refused.
expect_rc 1 ltb reserve create "$two" --start "$(at 135)" --for 10m
expect_output err "lab $prefix-a is already reserved .* \\(reservation $id_a\\)"

expect_rc 0 ltb reserve list
expect_output out '^ID +LAB +OWNER +START +END +STATE +NOTE$'
expect_output out "^$id_a +$prefix-a +[a-z0-9_-]+ +[0-9-]+ [0-9:]+ +[0-9-]+ [0-9:]+ +pending +starts in"
expect_rc 0 ltb reserve list --format json
[[ $(json_field 'length') == 5 ]] || fail "reserve list json has $(json_field 'length') entries, not 5 (a, b, c-1..3)"
[[ $(json_field "[.[] | select(.lab | startswith(\"$prefix-c-\"))] | length") == 3 ]] ||
  fail "reserve list json lacks the --count instances"
[[ $(json_field ".[] | select(.id == $id_a) | .state") == pending ]] || fail "json state"
[[ $(json_field ".[] | select(.id == $id_a) | .demand.cpus") == 2 ]] || fail "json demand"

# --template NAME: a plain-file template, <state dir>/templates/NAME.yaml, is imported into the
# template store on first use (version 1), and the reservation pins that version.
mkdir -p "$(dirname "$LTB_STATE")/templates"
lab_file "$(dirname "$LTB_STATE")/templates/class.yaml" "$prefix-t" 1
expect_rc 0 ltb reserve create --template class --start "$(at 360)" --for 1h
expect_output out "lab $prefix-t, "
expect_output err 'imported the plain-file template .*class.yaml into the template store as class@1'
id_t=$(sed -E 's/^reservation ([0-9]+):.*/\1/' "$IT_TMP/out")
expect_rc 0 ltb reserve show "$id_t"
expect_output out '^  source: +template:class@1$'
expect_rc 2 ltb reserve create --template clas --start +6h --for 1h
expect_output err "no template named 'clas'"
expect_output err "did you mean 'class'"

# --- bad input -------------------------------------------------------------------------------
expect_rc 2 ltb reserve create "$two" --start tomorrow --for 1h
expect_output err "invalid time 'tomorrow'"
expect_output err 'help: write an ISO 8601 time'
expect_rc 2 ltb reserve create "$two" --start 2030-02-30T09:00 --for 1h
expect_output err "invalid time '2030-02-30T09:00': 2030-02 has no day 30"
expect_rc 2 ltb reserve create "$two" --start +1h --for 0m
expect_output err "invalid duration '0m'"
expect_rc 2 ltb reserve create "$two" --start +1h --for 1x
expect_output err "invalid duration '1x': unknown unit 'x'"
expect_rc 2 ltb reserve create "$two" --start +2h --end +1h
expect_output err 'would end .* before it starts'
expect_rc 2 ltb reserve create "$two" --start 2020-01-01T09:00 --for 1h
expect_output err 'would end in the past'
expect_rc 2 ltb reserve create "$two" --start +1h --end +2h --for 1h
expect_output err 'one of them'
expect_rc 2 ltb reserve create "$two" --template class --start +1h --for 1h
expect_rc 2 ltb reserve create "$IT_TMP/missing.yaml" --start +1h --for 1h
expect_output err 'does not exist'
printf 'name: %s-bad\ntopology:\n  nodes:\n    x: {kind: linx}\n' "$prefix" >"$IT_TMP/bad.yaml"
expect_rc 2 ltb reserve create "$IT_TMP/bad.yaml" --start +1h --for 1h
expect_output err 'bad.yaml:4'
expect_rc 1 ltb reserve show 99999
expect_output err 'no reservation 99999'

# --- update --------------------------------------------------------------------------------------
# Growing b back over a's window is refused; moving it later is fine; so is a new length.
expect_rc 1 ltb reserve update "$id_b" --start "$(at 150)"
expect_output err "cannot move reservation $id_b \\(lab $prefix-b\\)"
expect_output err "reservation $id_a \\(lab $prefix-a\\)"
expect_rc 0 ltb reserve update "$id_b" --start "$(at 480)" --for 2h
expect_output out "^reservation $id_b: lab $prefix-b, .* \\(2h\\), pending$"
expect_rc 2 ltb reserve update "$id_b" --start soon
expect_output err "invalid time 'soon'"
expect_rc 2 ltb reserve update "$id_b"
expect_output err 'nothing to change'

# --- delete a pending one ------------------------------------------------------------------------
expect_rc 0 ltb reserve delete "$id_b"
expect_output out "reservation $id_b \\(lab $prefix-b\\) is cancelled"
expect_rc 0 ltb reserve delete "$id_b"
expect_output out 'already: nothing to do'
expect_rc 0 ltb reserve list --format json
[[ $(json_field "[.[] | select(.id == $id_b)] | length") == 0 ]] || fail "a cancelled one is listed without --all"
expect_rc 0 ltb reserve list --all --format json
[[ $(json_field ".[] | select(.id == $id_b) | .state") == cancelled ]] || fail "--all lacks the cancelled one"
expect_rc 1 ltb reserve update "$id_b" --for 1h
expect_output err 'is cancelled: it cannot change'
# Clear them all; the next part books its own, close to now.
for id in $(ltb reserve list --format json | jq -r '.[].id'); do
  expect_rc 0 ltb reserve delete "$id"
done
expect_rc 0 ltb reserve list
expect_output out '^no pending or active reservations'
# e: 2 vCPU from +2h to +3h.
expect_rc 0 ltb reserve create "$two" --lab "$prefix-e" --start +2h --for 1h
id_a=$(sed -E 's/^reservation ([0-9]+):.*/\1/' "$IT_TMP/out")

# --- ltb up of an unreserved lab ----------------------------------------------------------------
# u (2 vCPU) running from now on would leave e (2 vCPU from +2h, capacity 3) short: refused, with
# the reservation named and an --until that fits proposed.
up_lab=$prefix-u
up_file="$IT_TMP/up.yaml"
lab_file "$up_file" "$up_lab" 2 "$subnet"
track_lab "$up_lab"
expect_rc 1 ltb up "$up_file"
expect_output err "lab $up_lab cannot start without a reservation: it would leave reservation $id_a \\(lab $prefix-e, from .*\\) short"
expect_output err 'peak demand 4 of 3 vCPU'
expect_output err 'help: deploy it until the reservation starts: --until '
[[ $(count_containers "$up_lab") == 0 ]] || fail "a refused ltb up created containers"
expect_rc 1 ltb up "$up_file" --dry-run
# A lab small enough to fit beside the reservation may run open-ended (1 + 2 <= 3).
lab_file "$IT_TMP/small.yaml" "$prefix-s" 1
expect_rc 0 ltb up "$IT_TMP/small.yaml" --dry-run
# --until before the reservation starts: it fits, deploys, and is recorded as an active
# reservation that `ltb schedule` ends.
expect_rc 0 ltb up "$up_file" --until +1h
expect_output err "lab $up_lab is reserved until .* \\(reservation [0-9]+\\)"
id_u=$(sed -nE 's/.*\(reservation ([0-9]+)\).*/\1/p' "$IT_TMP/err" | head -1)
assert_all_running "$up_lab"
expect_rc 0 ltb reserve list --format json
[[ $(json_field ".[] | select(.id == $id_u) | .state") == active ]] || fail "up --until: reservation not active"
[[ $(json_field ".[] | select(.id == $id_u) | .lab") == "$up_lab" ]] || fail "up --until: wrong lab"
expect_rc 0 ltb reserve list
expect_output out "^$id_u +$up_lab .* active +(59m|1h) left$"
# A reserved lab is not checked again; extending it over e's window is (and is refused).
expect_rc 0 ltb up "$up_file"
expect_output out 'up to date'
expect_rc 1 ltb up "$up_file" --until +3h
expect_output err "cannot keep lab $up_lab until .* \\(reservation $id_u\\)"
expect_rc 0 ltb up "$up_file" --until +90m
expect_output err "reservation $id_u of lab $up_lab now ends"
# While u runs until +90m, a 2 vCPU reservation at +1h does not fit.
expect_rc 1 ltb reserve create "$two" --lab "$prefix-d" --start +1h --for 20m
expect_output err "reservation $id_u \\(lab $up_lab\\)"
# An active reservation keeps its start; extending it works when capacity permits.
expect_rc 2 ltb reserve update "$id_u" --start +10m
expect_output err "is active since .*: its start cannot move"
expect_rc 0 ltb reserve update "$id_u" --end +100m
# Deleting an active one removes its lab: confirmation required when stdin is not a terminal.
expect_rc 2 ltb reserve delete "$id_u" </dev/null
expect_output err "reservation $id_u is active: deleting it removes lab $up_lab now"
expect_output err 'pass --yes'
assert_all_running "$up_lab"
expect_rc 0 ltb reserve delete "$id_u" --yes
expect_output out "reservation $id_u is cancelled and lab $up_lab is removed"
assert_lab_gone "$up_lab"
expect_rc 0 ltb reserve show "$id_u" --format json
[[ $(json_field '.state') == cancelled ]] || fail "deleted active reservation is $(json_field '.state')"

# `ltb down` of a lab under a reservation ends the reservation early (its capacity is free).
expect_rc 0 ltb up "$up_file" --until +30m
expect_output err "lab $up_lab is reserved until .* \\(reservation [0-9]+\\)"
id_e=$(sed -nE 's/.*\(reservation ([0-9]+)\).*/\1/p' "$IT_TMP/err" | head -1)
expect_rc 0 ltb down "$up_file"
expect_output err "reservation $id_e of lab $up_lab ended early"
assert_lab_gone "$up_lab"
expect_rc 0 ltb reserve show "$id_e" --format json
[[ $(json_field '.state') == ended ]] || fail "a reservation whose lab went down is $(json_field '.state')"

log "all reserve checks passed"
