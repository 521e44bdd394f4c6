#!/usr/bin/env bash
# `ltb template`: add (a version, the same content again adds nothing, a change makes the next),
# list, show, versions, rm (refused while a reservation or a lab uses the version), export and
# import into another state file (the same digest, and a hostile archive refused); then twenty
# labs from one template with `ltb up --template` (containers only: two busybox nodes and a link)
# come up side by side with distinct names and subnets, checked with docker, and `ltb down` of
# every one leaves nothing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"

prefix=ltbtest-tpl
instances=20
src="$IT_TMP/src"
mkdir -p "$src/configs" "$IT_TMP/shared"
printf 'hello from a\n' >"$src/configs/a.conf"
printf 'shared banner\n' >"$IT_TMP/shared/banner.txt"
lab_file() {
  cat >"$src/lab.yaml" <<EOF
name: $prefix
topology:
  kinds:
    linux:
      image: $k_busybox
  nodes:
    a:
      kind: linux
      startup-config: configs/a.conf
      binds:
        - ../shared/banner.txt:/etc/banner:ro
    b:
      kind: linux
$1
  links:
    - endpoints: ["a:eth1", "b:eth1"]
EOF
}

json_field() { jq -r "$1" "$IT_TMP/out"; }

# --- add, versions, list, show --------------------------------------------------------------------
lab_file ""
expect_rc 0 ltb template add "$src/lab.yaml" --name web --description "two nodes"
expect_output out '^template web@1 added: 3 files, digest [0-9a-f]{12}$'
expect_output err 'bundled from outside the topology.s directory: .*shared/banner.txt -> outside/banner.txt'
expect_rc 0 ltb template add "$src/lab.yaml" --name web
expect_output out '^template web is unchanged: version 1 has the same content \(nothing added\)$'
lab_file "      exec: [\"echo v2\"]"
expect_rc 0 ltb template add "$src/lab.yaml" --name web --description "with exec"
expect_output out '^template web@2 added'
expect_rc 0 ltb template versions web
expect_output out '^1 +[0-9a-f]{12} .* two nodes$'
expect_output out '^2 +[0-9a-f]{12} .* with exec$'
expect_rc 0 ltb template list
expect_output out '^web +2 +2 '
expect_rc 0 ltb template list --format json
[[ $(json_field '.[0].latest') == 2 && $(json_field '.[0].versions') == 2 ]] ||
  fail "template list json: $(cat "$IT_TMP/out")"
expect_rc 0 ltb template show web@1 --format json
[[ $(json_field '[.files[].path] | join(",")') == "configs/a.conf,lab.yaml,outside/banner.txt" ]] ||
  fail "template show web@1: files are $(json_field '[.files[].path] | join(",")')"
digest1=$(json_field .digest)
expect_rc 0 ltb template show web
expect_output out '^template web@2$'
expect_output out '^  description: +with exec$'

# Invalid input: every diagnostic in the file at once; unknown names and versions.
printf 'name: x\ntopology:\n  nodes:\n    n1: {kind: linx}\n    n2: {kind: linux, startup-config: nope.conf}\n' >"$IT_TMP/bad.yaml"
expect_rc 2 ltb template add "$IT_TMP/bad.yaml"
expect_output err 'bad.yaml:4:'
expect_output err 'bad.yaml:5:'
expect_rc 2 ltb template show wbe
expect_output err "no template named 'wbe'"
expect_output err "did you mean 'web'"
expect_rc 2 ltb template show web@9
expect_output err 'template web has no version 9'
expect_rc 2 ltb up --template web@x
expect_output err "invalid template version in 'web@x'"

# A version pinned by a reservation is not removed. A template that pins its management subnet
# cannot be booked more than once.
expect_rc 0 ltb reserve create --template web@1 --start +1d --for 1h --count 2
expect_output out "lab $prefix-2"
expect_rc 0 ltb reserve list --format json
[[ $(jq -r '[.[] | select(.source == "template:web@1")] | length' "$IT_TMP/out") == 2 ]] ||
  fail "the reservations do not pin web@1: $(cat "$IT_TMP/out")"
ids=$(jq -r '.[].id' "$IT_TMP/out")
expect_rc 1 ltb template rm web@1
expect_output err 'template web@1 is in use, so nothing was removed: reservation [0-9]+ \(lab ltbtest-tpl-1, pending\) pins web@1'
expect_output err 'help: remove those first \(ltb reserve delete [0-9]+'
for id in $ids; do
  expect_rc 0 ltb reserve delete "$id"
done
lab_file ""
sed -i "1a mgmt:\n  ipv4-subnet: 172.20.47.0/24" "$src/lab.yaml"
expect_rc 0 ltb template add "$src/lab.yaml" --name pinned
expect_rc 2 ltb reserve create --template pinned --start +1d --for 1h --count 2
expect_output err 'would deploy 2 labs with the same management subnet'

# --- export, import into another state file, hostile archives --------------------------------------
expect_rc 0 ltb template export web@1 -o "$IT_TMP/web.tar"
expect_output out "^template web@1 written to $IT_TMP/web.tar \\(3 files\\)$"
tar -tf "$IT_TMP/web.tar" >"$IT_TMP/listing"
[[ $(cat "$IT_TMP/listing") == $'ltb-template.json\nfiles/configs/a.conf\nfiles/lab.yaml\nfiles/outside/banner.txt' ]] ||
  fail "export: the tar holds $(tr '\n' ' ' <"$IT_TMP/listing")"
other="$IT_TMP/other/state.db"
expect_rc 0 "$LTB" --state "$other" template import "$IT_TMP/web.tar"
expect_output out '^template web@1 added: 3 files'
expect_rc 0 "$LTB" --state "$other" template show web --format json
[[ $(json_field .digest) == "$digest1" ]] || fail "import: digest $(json_field .digest), not $digest1"
[[ $(json_field .description) == "two nodes" ]] || fail "import: description lost"
expect_rc 0 "$LTB" --state "$other" template import "$IT_TMP/web.tar"
expect_output out 'is unchanged'
# A symlink and a '..' entry (made with GNU tar, as someone hostile would) are refused, and the
# store is unchanged.
mkdir -p "$IT_TMP/evil"
ln -s /etc/passwd "$IT_TMP/evil/link"
tar -cf "$IT_TMP/evil.tar" -C "$IT_TMP/evil" link
expect_rc 1 "$LTB" --state "$other" template import "$IT_TMP/evil.tar"
expect_output err "refusing entry 'link': it is a symbolic link"
tar -cf "$IT_TMP/up.tar" -C "$IT_TMP" -P "$IT_TMP/evil/../shared/banner.txt" 2>/dev/null ||
  fail "could not make a tar with '..' in a name"
expect_rc 1 "$LTB" --state "$other" template import "$IT_TMP/up.tar"
expect_output err 'refusing entry'
expect_rc 0 "$LTB" --state "$other" template versions web
[[ $(wc -l <"$IT_TMP/out") -eq 2 ]] || fail "a refused import changed the store: $(cat "$IT_TMP/out")"

# --- a reservation of a version, deployed by the scheduler from the store ---------------------------
sched="$prefix-sched"
track_lab "$sched"
expect_rc 0 ltb reserve create --template web@1 --lab "$sched" --start now --for 10m
id=$(sed -E 's/^reservation ([0-9]+):.*/\1/' "$IT_TMP/out")
expect_rc 0 ltb schedule run --once
expect_output out "reservation $id \\(lab $sched\\): deployed"
assert_all_running "$sched"
[[ $(cexec "$sched" a cat /etc/ltb/startup-config) == "hello from a" ]] ||
  fail "lab $sched: node a lacks its startup-config"
expect_rc 0 ltb inspect "$sched"
expect_output out '^source: +template:web@1$'
expect_rc 0 ltb reserve delete "$id" --yes
assert_lab_gone "$sched"

# --- twenty labs from one template ----------------------------------------------------------------
labs=()
for ((i = 1; i <= instances; i++)); do
  labs+=("$prefix-$i")
done
track_lab "${labs[@]}"
started=$(date +%s)
# Four at a time: the subnet claims race, and must not clash.
for ((i = 0; i < instances; i += 4)); do
  pids=()
  for lab in "${labs[@]:i:4}"; do
    ltb --quiet up --template web@1 --lab "$lab" >"$IT_TMP/up-$lab.log" 2>&1 &
    pids+=($!)
  done
  for ((j = 0; j < ${#pids[@]}; j++)); do
    wait "${pids[j]}" || {
      cat "$IT_TMP/up-${labs[i + j]}.log" >&2
      fail "ltb up --template web@1 --lab ${labs[i + j]} failed"
    }
  done
done
log "$instances labs up in $(($(date +%s) - started)) s"

names=$(docker ps --filter "label=ltb.lab" --format '{{.Names}}' | grep -E "^ltb-$prefix-[0-9]+-[ab]$" | sort)
[[ $(wc -l <<<"$names") -eq $((2 * instances)) ]] ||
  fail "expected $((2 * instances)) running containers, docker has: $(tr '\n' ' ' <<<"$names")"
[[ $(sort -u <<<"$names" | wc -l) -eq $((2 * instances)) ]] || fail "container names clash"
subnets=()
for lab in "${labs[@]}"; do
  subnet=$(docker network inspect "ltb-$lab" --format '{{(index .IPAM.Config 0).Subnet}}') ||
    fail "lab $lab has no management network"
  subnets+=("$subnet")
  assert_all_running "$lab"
  # Each got the bundle's files, and the link.
  [[ $(cexec "$lab" a cat /etc/ltb/startup-config) == "hello from a" ]] ||
    fail "lab $lab: node a lacks its startup-config"
  [[ $(cexec "$lab" a cat /etc/banner) == "shared banner" ]] || fail "lab $lab: node a lacks the bind"
  cexec "$lab" b ip link show eth1 >/dev/null || fail "lab $lab: node b has no eth1"
done
[[ $(printf '%s\n' "${subnets[@]}" | sort -u | wc -l) -eq $instances ]] ||
  fail "management subnets clash: ${subnets[*]}"

# The lab's source, in status and inspect; one read-only bundle directory for all of them.
expect_rc 0 ltb inspect "$prefix-1"
expect_output out '^source: +template:web@1$'
expect_rc 0 ltb status --format json
[[ $(jq -r --arg p "$prefix-" '[.labs[] | select(.name | startswith($p)) | .source] | unique | join(",")' "$IT_TMP/out") == "template:web@1" ]] ||
  fail "status json: sources are not template:web@1"
bundle="$(dirname "$LTB_STATE")/template-bundles/$digest1"
[[ $(jq -r --arg p "$prefix-" '[.labs[] | select(.name | startswith($p)) | .file] | unique | join(",")' "$IT_TMP/out") == "$bundle/lab.yaml" ]] ||
  fail "the labs were not all deployed from $bundle/lab.yaml"
[[ $(stat -c %a "$bundle/lab.yaml") == 444 && $(stat -c %a "$bundle") == 555 ]] ||
  fail "the bundle directory is not read-only"

# A version a lab was deployed from is not removed.
expect_rc 1 ltb template rm web@1
expect_output err "lab $prefix-1 was deployed from web@1"

# Down, every one: nothing left.
for lab in "${labs[@]}"; do
  expect_rc 0 ltb --quiet down --lab "$lab"
done
for lab in "${labs[@]}"; do
  assert_lab_gone "$lab"
done
expect_rc 0 ltb template rm web@1
expect_output out '^template web: removed version 1$'
expect_rc 0 ltb template rm web
expect_output out '^template web: removed version 2$'
expect_rc 0 ltb template list
expect_output out '^pinned '
log "ok"
