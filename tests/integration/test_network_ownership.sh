#!/usr/bin/env bash
# ltb never removes a Docker network it did not create. A lab whose mgmt.network names a network
# that existed before it joins it (containerlab's meaning) and makes no network of its own, and
# `ltb down` of that lab removes its node and leaves the network alone. A lab recorded (by an
# older ltb) with a network that does not carry the lab's label is forgotten by `ltb down`, and the
# network stays.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
command -v python3 >/dev/null || fail "python3 is missing (scripts/setup.sh deps installs it)"

usernet=ltbtest-usernet-$$
# A subnet no lab and no benchmark uses (they take 172.20.0.0/16 and 172.31.250.0/24 downwards).
docker network create --internal --subnet 172.31.199.0/24 "$usernet" >/dev/null ||
  fail "cannot create the user's network $usernet"
on_cleanup "docker network rm $usernet"
usernet_id=$(docker network inspect "$usernet" --format '{{.Id}}')

# network_intact: the user's network is still there, the same one.
network_intact() {
  local id
  id=$(docker network inspect "$usernet" --format '{{.Id}}' 2>/dev/null) ||
    fail "$*: the user's network $usernet was removed"
  [[ $id == "$usernet_id" ]] || fail "$*: $usernet is another network now ($id, was $usernet_id)"
}

lab=it-netown
track_lab "$lab"
file="$IT_TMP/lab.yaml"
cat >"$file" <<EOF
name: $lab
mgmt:
  network: $usernet
topology:
  nodes:
    n1: {kind: linux, image: $k_busybox}
EOF

log "ltb up of a lab naming an existing network joins it and makes no network of its own"
expect_rc 0 ltb up "$file"
[[ $(count_containers "$lab") -eq 1 ]] || fail "ltb up made $(count_containers "$lab") containers, expected 1"
[[ -z $(docker network ls -q --filter "label=ltb.lab=$lab") ]] || fail "ltb up made a network"
address=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$usernet\").IPAddress}}" "$(container_name "$lab" n1)")
[[ $address == 172.31.199.* ]] || fail "n1 is not on $usernet (address '$address')"
network_intact "after ltb up"

log "ltb down of that lab removes its node and leaves the network"
expect_rc 0 ltb down --lab "$lab"
[[ $(count_containers "$lab") -eq 0 ]] || fail "ltb down left containers: $(container_ids "$lab")"
network_intact "after ltb down"

log "a lab recorded with a network that is not labelled as its own: down forgets it, keeps the network"
old=it-netown-old
track_lab "$old"
expect_rc 0 ltb status # makes the state file
# What an older ltb recorded after `up` failed on the existing network: the lab, failed, with the
# network as its management network, and the network object it recorded before trying to create it.
python3 - "$LTB_STATE" "$old" "$usernet" <<'EOF'
import sqlite3, sys
state, lab, network = sys.argv[1:]
db = sqlite3.connect(state)
db.execute("PRAGMA foreign_keys = ON")
db.execute("INSERT INTO labs (name, mgmt_network, mgmt_subnet, status) VALUES (?, ?, ?, 'failed')",
           (lab, network, "172.31.199.0/24"))
db.execute("INSERT INTO objects (lab, type, name, status) VALUES (?, 'network', ?, 'creating')",
           (lab, network))
db.commit()
EOF
lab_in_status "$old" || fail "the crafted lab $old is not listed by ltb status"
expect_rc 0 ltb down --lab "$old"
network_intact "after ltb down of $old"
! lab_in_status "$old" || fail "ltb down left lab $old recorded"

log "the same with only the lab record (no network object): down keeps the network"
python3 - "$LTB_STATE" "$old" "$usernet" <<'EOF'
import sqlite3, sys
state, lab, network = sys.argv[1:]
db = sqlite3.connect(state)
db.execute("INSERT INTO labs (name, mgmt_network, status) VALUES (?, ?, 'failed')", (lab, network))
db.commit()
EOF
expect_rc 0 ltb down --lab "$old"
network_intact "after the second ltb down of $old"
