#!/usr/bin/env bash
# Users, roles and quotas (`ltb user`): two Unix users and a Unix group made for the test (and
# removed by the EXIT trap). As root: add, list, show, set, rm. A uid ltb does not know is refused
# with whom to ask; a user cannot manage users; a user who is not root cannot set
# LTB_CALLER_UID. Quota refusals with their figures for `up`, `start`, `reserve create` and
# `snapshot create`, driven as root with LTB_CALLER_UID=<uid> (what the daemon does for a
# request), each leaving nothing behind.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
((EUID == 0)) || fail "this test makes Unix users: run it as root"

suffix=$$
alice=ltbt-a$suffix
bob=ltbt-b$suffix
group=ltbt-g$suffix
lab1=it-users1
lab2=it-users2
# alice's lab1: its id (ltb up of a user: OWNER__NAME) is what root names it by.
lab1_id=${alice}__$lab1
track_lab "$lab1_id" # lab2 is only ever refused or a dry run

groupadd "$group"
on_cleanup "groupdel $group"
useradd -M -N -G "$group" "$alice"
on_cleanup "userdel $alice"
useradd -M -N "$bob"
on_cleanup "userdel $bob"
alice_uid=$(id -u "$alice")
bob_uid=$(id -u "$bob")
# as UID ARGS...: ltb run by root for another user, as the daemon runs a request.
as() {
  local uid=$1
  shift
  env LTB_CALLER_UID="$uid" "$LTB" --state "$LTB_STATE" "$@"
}

lab_file() {
  cat >"$IT_TMP/$1.yaml" <<EOF
name: $1
mgmt:
  ipv4-subnet: $2
topology:
  nodes:
    n1: {kind: linux, image: $k_busybox}
EOF
}
lab_file "$lab1" 172.20.212.0/24
lab_file "$lab2" 172.20.213.0/24

log "a Unix user ltb does not know is refused, and told whom to ask"
expect_rc 1 as "$alice_uid" status
expect_output err "user '$alice' is not an ltb user"
expect_output err "help: ask root to run \`ltb user add $alice\`"
expect_rc 2 ltb user add ltbt-nosuchuser
expect_output err "there is no Unix user named 'ltbt-nosuchuser'"
expect_rc 2 ltb user add --group ltbt-nosuchgroup
expect_output err "there is no Unix group named 'ltbt-nosuchgroup'"
expect_rc 2 ltb user add "$alice" --quota lab=1
expect_output err "no quota named 'lab'"
expect_output err "did you mean 'labs'"

log "root adds a user and a group; the group's member is known through it"
expect_rc 0 ltb user add "$bob" --role admin
expect_output out "user $bob \(id $bob_uid\) added as admin"
expect_rc 0 ltb user add --group "$group" --quota labs=1,nodes=3,longest=2h
expect_output out "group $group"
expect_rc 1 ltb user add "$bob"
expect_output err "is an ltb user already"
expect_rc 0 ltb user list
expect_output out "^$bob +user +$bob_uid +admin +-"
expect_output out "^$group +group +[0-9]+ +user +labs=1, nodes=3, longest=2h"
expect_rc 0 ltb user list --format json
[[ $(jq -r --arg g "$group" '.users[] | select(.name == $g) | .quotas.longest' "$IT_TMP/out") == 7200 ]] ||
  fail "user list --format json does not give the group's longest as 7200 s"
expect_rc 0 as "$alice_uid" user show
expect_output out "^role: +user \(from group $group\)"
expect_output out "^labs +0 +1 +group $group"
expect_output out "^vcpus +0 +unlimited +unlimited"
# A user who is not an admin manages nobody and sees only themself; a refused unknown names bob.
expect_rc 1 as "$alice_uid" user add "$bob"
expect_output err "only an ltb admin can add users; you \($alice\) are a user"
expect_rc 1 as "$alice_uid" user show root
expect_rc 1 as "$alice_uid" user list
expect_rc 0 ltb user rm "$bob"
expect_rc 0 ltb user add "$bob" --role admin
expect_rc 0 as "$bob_uid" user show "$alice"
expect_output out "^user: +$alice \(uid $alice_uid\)"
# Only root may speak for another uid (the binary copied where alice may run it).
bin=$(mktemp -d /tmp/ltb-users-bin.XXXXXX)
on_cleanup "rm -rf $bin"
chmod 755 "$bin"
install -m 755 "$LTB" "$bin/ltb"
expect_rc 2 setpriv --reuid="$alice_uid" --regid="$(id -g "$alice")" --clear-groups \
  env LTB_CALLER_UID=0 "$bin/ltb" --state "$bin/none.db" status
expect_output err "only root \(the ltb daemon\) may act for another user"

log "up: a second lab is over the group's labs quota, and nothing of it is made"
expect_rc 0 as "$alice_uid" up "$IT_TMP/$lab1.yaml"
expect_rc 1 as "$alice_uid" up "$IT_TMP/$lab2.yaml"
expect_output err "cannot deploy lab $lab2: labs over the labs quota: it needs 1, your other labs hold 1 \($lab1\), and the labs quota \(from group $group\) is 1"
expect_output err "help: .*remove one of your labs: $lab1"
[[ -z $(docker ps -aq --filter "name=ltb-$lab2-") ]] || fail "a refused up made containers"
lab_in_status "$lab2" && fail "a refused up left lab $lab2 in the state file"
# Root is an admin: no quota of the group applies.
expect_rc 0 as 0 up "$IT_TMP/$lab2.yaml" --dry-run

log "reserve create: longer than the longest quota, with the length that fits"
expect_rc 1 as "$alice_uid" reserve create "$IT_TMP/$lab2.yaml" --start +1d --for 3h
expect_output err "cannot reserve lab $lab2 .*: it is longer than the longest quota: it lasts 3h, and the longest quota \(from group $group\) is 2h"
expect_output err "help: ask for a reservation of at most 2h \(--for 2h\)"
expect_rc 1 as "$alice_uid" reserve create "$IT_TMP/$lab2.yaml" --start +1d --for 1h
expect_output err "labs over the labs quota: it needs 1, your other labs hold 1 \($lab1\)"
expect_rc 0 ltb reserve list --all --format json
[[ $(jq 'length' "$IT_TMP/out") == 0 ]] || fail "a refused reservation was recorded"

log "start: a stopped lab that would go over vcpus is refused"
expect_rc 0 as "$alice_uid" stop "$lab1"
expect_rc 0 ltb user set --group "$group" --quota vcpus=0.25
expect_rc 1 as "$alice_uid" start "$lab1"
expect_output err "cannot start lab $lab1: vcpus over the vcpus quota: it needs 0.5, you hold none now, and the vcpus quota \(from group $group\) is 0.25"
expect_rc 0 ltb user set --group "$group" --quota vcpus=
expect_rc 0 as "$alice_uid" start "$lab1"

log "snapshot create: over the snapshot-disk quota, refused before anything is paused"
expect_rc 0 ltb exec n1 --lab "$lab1_id" -- dd if=/dev/zero of=/filler bs=1024 count=200
expect_rc 0 ltb user add "$alice" --quota snapshot-disk=100KiB
expect_rc 1 as "$alice_uid" snapshot create "$lab1" s1
expect_output err "cannot snapshot lab '$lab1': over the snapshot-disk quota: it needs about [0-9.]+ KiB, your snapshots hold 0, and the snapshot-disk quota \(your own\) is 100 KiB"
expect_rc 0 ltb snapshot list --format json
[[ $(jq '.snapshots | length' "$IT_TMP/out") == 0 ]] || fail "a refused snapshot was recorded"
[[ $(docker inspect -f '{{.State.Status}}' "ltb-$lab1_id-n1") == running ]] || fail "n1 is not running"

log "show: usage against each quota, with its source"
expect_rc 0 as "$alice_uid" user show --format json
jq -e '.quotas[] | select(.name == "labs") | .usage == 1 and .limit == 1' "$IT_TMP/out" >/dev/null ||
  fail "user show: labs is not 1 of 1"
jq -e '.quotas[] | select(.name == "snapshot-disk") | .source == "user"' "$IT_TMP/out" >/dev/null ||
  fail "user show: snapshot-disk is not from the user"

log "rm: refused while the user owns a lab, unless --force"
expect_rc 1 ltb user rm "$alice"
expect_output err "user '$alice' still owns labs $lab1_id"
expect_rc 0 as "$alice_uid" down --lab "$lab1"
expect_rc 0 ltb user rm "$alice"
expect_rc 0 ltb user rm --group "$group"
expect_rc 1 as "$alice_uid" status
expect_output err "help: ask an ltb admin \($bob\) to run \`ltb user add $alice\`"
