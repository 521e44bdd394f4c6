#!/usr/bin/env bash
# A broken topology file: `ltb validate` reports every error at once as FILE:LINE:COL with the
# source line, a caret and hints, exits 2, and `ltb up` of it exits 2 and makes nothing. A missing
# image: `ltb up` exits 1 naming the node and the image, and `ltb down` cleans up.
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
[[ -z $(node_id "$img_lab" lost) ]] || fail "a container was made for node 'lost' without its image"
expect_rc 0 ltb status "$img_lab" --format json
state=$(jq -r '.nodes[] | select(.name == "lost") | .state' "$IT_TMP/out")
[[ $state != running ]] || fail "node 'lost' shows as running in ltb status"
# Still failing on a second try, and still exit 1.
expect_rc 1 ltb up "$noimg"
expect_rc 0 ltb down "$noimg"
assert_lab_gone "$img_lab"
