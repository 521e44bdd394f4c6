#!/usr/bin/env bash
# A broken topology file: `ltb validate` reports every error at once as FILE:LINE:COL with the
# source line, a caret and hints, exits 2, and `ltb up` of it exits 2 and makes nothing. A missing
# image: `ltb up` exits 1 naming the node and the image, and `ltb down` cleans up. containerlab's
# file surface: .clab.yml discovery, environment expansion (located errors, a lab deployed from
# variables) and `ltb validate --containerlab` over tests/data/containerlab.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"

bad_lab=it-validate-bad
img_lab=it-validate-noimage
track_lab "$bad_lab" "$img_lab"
missing_image=ltbtest/no-such-image:0.0
docker image inspect "$missing_image" >/dev/null 2>&1 &&
  fail "image $missing_image exists on this machine; the missing-image case needs it absent"

bad="$IT_TMP/broken.yaml"
# Line numbers matter: the checks below name them.
cat >"$bad" <<EOF
name: $bad_lab
mgmt:
  ipv4-subnet: 172.20.233.0/24
topology:
  nodes:
    a:
      kind: linux
      image: $k_busybox
      exce:
        - ip link set eth1 up
    b:
      kind: linux
      image: $k_busybox
      mgmt-ipv4: 172.20.233.300
  links:
    - endpoints: ["a:eth1", "b:eth1"]
    - endpoints: ["a:eth1", "b:eth2"]
    - endpoints: ["b:eth3", "rtr1:eth1"]
EOF

expect_rc 2 ltb validate "$bad"
err="$IT_TMP/err"
# Every error, each as FILE:LINE:COL: error: (the path as given on the command line).
declare -A want=(
  ["unknown key (line 9)"]="^$bad:9:7: error: .*exce"
  ["bad mgmt address (line 14)"]="^$bad:14:[0-9]+: error: .*172\.20\.233\.300"
  ["duplicate interface (line 17)"]="^$bad:17:[0-9]+: error: .*a:eth1"
  ["unknown node (line 18)"]="^$bad:18:[0-9]+: error: .*rtr1"
)
for what in "${!want[@]}"; do
  grep -Eq -- "${want[$what]}" "$err" || {
    cat "$err" >&2
    fail "ltb validate does not report the $what as /${want[$what]}/"
  }
done
errors=$(grep -Ec "^$bad:[0-9]+:[0-9]+: error: " "$err")
((errors >= 4)) || fail "ltb validate reported $errors errors, expected at least 4"
# The source line and a caret under the column, after each error.
grep -Eq '^ +9 \| +exce:' "$err" || fail "no source line shown for line 9: $(cat "$err")"
grep -Eq '^ +\| +\^' "$err" || fail "no caret line: $(cat "$err")"
carets=$(grep -Ec '^ +\| *\^' "$err")
((carets >= errors)) || fail "$errors errors but $carets caret lines"
# The caret of the unknown key sits under its first letter (column 7).
# The caret of the unknown key sits under its first letter.
context=$(grep -A2 -E "^$bad:9:7: error:" "$err")
line=$(sed -n 2p <<<"$context")
caret=$(sed -n 3p <<<"$context")
[[ $(awk -v s="$caret" 'BEGIN { print index(s, "^") }') -eq $(awk -v s="$line" 'BEGIN { print index(s, "exce") }') ]] ||
  fail "caret not under 'exce':"$'\n'"$line"$'\n'"$caret"
grep -q "did you mean 'exec'" "$err" || fail "no \"did you mean 'exec'\" for the typo: $(cat "$err")"
grep -q "did you mean" "$err" || fail "no 'did you mean' at all"

# A file given twice, one valid: errors of the bad one, valid line for the good one, exit 2.
good="$IT_TMP/good.yaml"
printf 'name: it-validate-good\ntopology:\n  nodes:\n    a: {kind: linux, image: %s}\n' "$k_busybox" >"$good"
expect_rc 0 ltb validate "$good"
expect_output out "valid"
expect_rc 2 ltb validate "$good" "$bad"
expect_output out "$good: valid"
expect_output err "^$bad:9:7: error:"

log "ltb up of the broken file makes nothing"
expect_rc 2 ltb up "$bad"
expect_output err "^$bad:9:7: error:"
[[ $(count_containers "$bad_lab") -eq 0 ]] || fail "ltb up of a broken file created containers"
[[ -z $(docker network ls -q --filter "label=ltb.lab=$bad_lab") ]] || fail "ltb up of a broken file created a network"
[[ ! -e $LTB_STATE ]] || ! lab_in_status "$bad_lab" || fail "ltb up of a broken file recorded the lab"
assert_lab_gone "$bad_lab"
expect_rc 2 ltb up "$bad" --dry-run
[[ ! -e $LTB_STATE ]] || ! lab_in_status "$bad_lab" || fail "ltb up --dry-run of a broken file recorded the lab"

log "a missing image fails ltb up with exit 1, naming node and image"
noimg="$IT_TMP/noimage.yaml"
cat >"$noimg" <<EOF
name: $img_lab
mgmt:
  ipv4-subnet: 172.20.233.0/24
topology:
  nodes:
    good:
      kind: linux
      image: $k_busybox
    lost:
      kind: linux
      image: $missing_image
  links:
    - endpoints: ["good:eth1", "lost:eth1"]
EOF
expect_rc 0 ltb validate "$noimg"
expect_rc 1 ltb up "$noimg"
grep -E "error: .*lost.*$missing_image|error: .*$missing_image.*lost" "$IT_TMP/err" >/dev/null || {
  cat "$IT_TMP/err" >&2
  fail "the error does not name node 'lost' and image $missing_image"
}
grep -q "^help: " "$IT_TMP/err" || fail "no help line after the error: $(cat "$IT_TMP/err")"
grep -q "nothing of lab '$img_lab' was made" "$IT_TMP/err" || fail "the help does not say nothing was made: $(cat "$IT_TMP/err")"
# Images come first (as containerlab pulls first): nothing of the lab is made, not even the node
# whose image is there, nor its network, nor its record.
[[ -z $(node_id "$img_lab" lost) ]] || fail "a container was made for node 'lost' without its image"
[[ -z $(node_id "$img_lab" good) ]] || fail "node 'good' was made though the lab cannot come up"
assert_lab_gone "$img_lab"
expect_rc 1 ltb status "$img_lab" --format json
expect_output err "no lab named '$img_lab'"
# Still failing on a second try, and still exit 1; down has nothing to remove.
expect_rc 1 ltb up "$noimg"
expect_rc 0 ltb down "$noimg"
assert_lab_gone "$img_lab"

# --- containerlab's file surface -------------------------------------------------------------
corpus="$LTB_SOURCE_DIR/tests/data/containerlab"
[[ -d $corpus ]] || fail "no corpus at $corpus"

# Discovery: with no FILE, the one *.clab.yml of the current directory; several or none is an
# error that names them.
one="$IT_TMP/one" two="$IT_TMP/two" none="$IT_TMP/none"
mkdir -p "$one" "$two" "$none"
cp "$corpus/empty-nodes.clab.yml" "$one/"
cp "$corpus/empty-nodes.clab.yml" "$two/a.clab.yml"
cp "$corpus/group-labels.clab.yml" "$two/b.clab.yaml"
cd "$one"
expect_rc 0 ltb validate
expect_output out '^empty-nodes\.clab\.yml: valid: lab corpus-empty-nodes, 3 nodes'
cd "$two"
expect_rc 2 ltb validate
expect_output err 'a\.clab\.yml, b\.clab\.yaml'
expect_rc 2 ltb up
expect_output err 'a\.clab\.yml, b\.clab\.yaml'
cd "$none"
expect_rc 2 ltb up
expect_output err 'none named \*\.clab\.yml'
cd "$IT_TMP"
expect_rc 2 ltb up "$two"
expect_output err 'a\.clab\.yml, b\.clab\.yaml'

# The corpus files of the file surface validate; the one with an unsupported key is an error at
# its place.
for file in env-vars empty-nodes group-defaults group-labels mgmt-gateway; do
  expect_rc 0 ltb validate "$corpus/$file.clab.yml"
done
expect_rc 2 ltb validate "$corpus/unsupported-user.clab.yml"
expect_output err "unsupported-user\.clab\.yml:10:7: error: 'user' is a containerlab key ltb does not support"

# Expansion: located errors in the file as written, even after a long value on the same line.
expanded="$IT_TMP/expanded.clab.yml"
cat >"$expanded" <<'YAML'
name: it-validate-env
topology:
  nodes:
    a: {kind: linux, image: "${IT_IMAGE}", mtu: 1500}
    b:
      kind: linux
      image: busybox:${IT_TAG:=latest
YAML
IT_IMAGE=registry.invalid/a/very/long/name/of/an/image:1.0 expect_rc 2 ltb validate "$expanded"
expect_output err "expanded\.clab\.yml:4:44: error: unknown key 'mtu' in node 'a'"
expect_output err "expanded\.clab\.yml:7:22: error: '\\$\\{' is not closed on its line"
grep -qF 'image: "${IT_IMAGE}", mtu' "$IT_TMP/err" || fail "the source line shown is not the file's"

# A lab deployed from variables: the containers get the values, and the lab goes down from the
# recorded (expanded) text with the variables gone.
env_lab=it-validate-clab-env
track_lab "$env_lab"
env_dir="$IT_TMP/envlab"
mkdir -p "$env_dir"
cat >"$env_dir/lab.clab.yml" <<YAML
name: \${IT_LAB:=none}
topology:
  defaults:
    kind: linux
    image: \${IT_IMAGE}
  nodes:
    n1:
      env:
        UPLINK: \${IT_UPLINK:=ens3}
        SECRET: pa\$\$word
    n2:
  links:
    - endpoints: ["n1:eth1", "n2:eth1"]
YAML
cd "$env_dir"
IT_LAB=$env_lab IT_IMAGE=$k_busybox expect_rc 0 ltb up
cd "$IT_TMP"
id=$(node_id "$env_lab" n1)
[[ -n $id ]] || fail "no container for node n1 of $env_lab"
envs=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$id")
grep -qx 'UPLINK=ens3' <<<"$envs" || fail "UPLINK is not ens3 in n1: $envs"
grep -qx 'SECRET=pa$word' <<<"$envs" || fail "SECRET is not pa\$word in n1: $envs"
expect_rc 0 ltb status "$env_lab"
expect_rc 0 ltb down --lab "$env_lab"
assert_lab_gone "$env_lab"

# ltb validate --containerlab: the features a file uses, as a table and as JSON.
expect_rc 0 ltb validate --containerlab "$corpus/env-vars.clab.yml"
expect_output out '^env-vars +yes +.*env-vars\.clab\.yml:4:7 '
expect_output out 'all supported by ltb'
expect_rc 1 ltb validate --containerlab "$corpus/unsupported-user.clab.yml"
expect_output out '^user +no +.*unsupported-user\.clab\.yml:10:7'
expect_rc 1 ltb validate --containerlab --format json "$corpus/unsupported-user.clab.yml" \
  "$corpus/empty-nodes.clab.yml"
[[ $(jq -r '.[0].all_supported' "$IT_TMP/out") == false ]] || fail "user is not reported unsupported"
[[ $(jq -r '.[0].features[] | select(.feature == "user") | .places[0].line' "$IT_TMP/out") == 10 ]] ||
  fail "the place of 'user' is not line 10: $(cat "$IT_TMP/out")"
[[ $(jq -r '.[1].features[] | select(.feature == "empty-node") | .places | length' "$IT_TMP/out") == 3 ]] ||
  fail "three empty nodes are not reported: $(cat "$IT_TMP/out")"
cd "$one"
expect_rc 0 ltb validate --containerlab --format json
[[ $(jq -r '.[0].file' "$IT_TMP/out") == empty-nodes.clab.yml ]] || fail "not the discovered file"
cd "$IT_TMP"
