#!/usr/bin/env bash
# Snapshot export and import: a small busybox lab with a file written in a container, snapshot,
# export, then the snapshot and the lab removed (and its topology file and a folder it binds
# gone), as on another host: a second state file imports the archive (under the lab's own name and
# once more with --lab), and restores bring the file back; a bind source missing on this host is a
# clear error at restore. An archive with a member ../x is refused with nothing recorded, a
# snapshot that exists is refused with a pointer to --lab, and `ltb snapshot rm` of the imports
# frees their images (checked with docker from outside). VM disk layers: qcow2 files made by hand
# with qemu-img are imported under new names and pointed at each other and at the base image;
# a base image missing here is refused. SIGKILL during an import: the next command lists nothing
# of it and leaves none of its images.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
command -v python3 >/dev/null || fail "python3 is missing (it writes the tampered archive)"
command -v qemu-img >/dev/null || fail "qemu-img is missing (scripts/setup.sh installs qemu-utils)"

lab=it-xfer
other=it-xferb
tampered=it-xferc
beside=it-xferd
host2="$IT_TMP/host2/state.db"
ltb2() { "$LTB" --state "$host2" "$@"; }
# Brought down through the second state file; ltb down finds a lab's containers by their labels
# also where that file does not record them.
track_lab_state "$host2" "$lab"
track_lab_state "$host2" "$other"
track_lab_state "$host2" "$beside"
for l in "$lab" "$other" "$tampered"; do
  on_cleanup "docker images -q --filter label=ltb.snapshot.lab=$l | sort -u | xargs -r docker rmi -f"
done
snapshot_images() { docker images -q --filter "label=ltb.snapshot.lab=$1" | sort -u | wc -l; }

mkdir -p "$IT_TMP/lab/shared"
echo from-the-host >"$IT_TMP/lab/shared/note"
cat >"$IT_TMP/lab/lab.yaml" <<EOF
name: $lab
topology:
  nodes:
    a: {kind: linux, image: $k_busybox}
    b:
      kind: linux
      image: $k_busybox
      binds: [shared:/shared]
  links:
    - endpoints: [a:eth1, b:eth1]
EOF

log "a file written in a container, snapshot, export"
expect_rc 0 ltb up "$IT_TMP/lab/lab.yaml"
cexec "$lab" a sh -c 'echo kept-by-the-snapshot > /root/marker'
expect_rc 0 ltb snapshot create "$lab" s1
expect_rc 0 ltb snapshot export "$lab" s1 -o "$IT_TMP/s1.tar"
expect_output out "^snapshot s1 of lab $lab exported to $IT_TMP/s1.tar \(2 artifacts, "
tar -tf "$IT_TMP/s1.tar" >"$IT_TMP/members"
grep -qx manifest.json "$IT_TMP/members" || fail "the archive has no manifest.json: $(tr '\n' ' ' <"$IT_TMP/members")"
[[ $(grep -c '^images/.*\.tar$' "$IT_TMP/members") -eq 2 ]] ||
  fail "the archive should hold the 2 images: $(tr '\n' ' ' <"$IT_TMP/members")"
tar -xOf "$IT_TMP/s1.tar" manifest.json >"$IT_TMP/manifest.json"
jq -e --arg lab "$lab" '.format == 1 and .snapshot.lab == $lab and .snapshot.name == "s1" and
  (.artifacts | length == 2) and all(.artifacts[]; .type == "image" and (.image_id | startswith("sha256:")))' \
  "$IT_TMP/manifest.json" >/dev/null || fail "unexpected manifest: $(cat "$IT_TMP/manifest.json")"
mapfile -t image_ids < <(jq -r '.artifacts[].image_id' "$IT_TMP/manifest.json")
expect_rc 1 ltb snapshot export "$lab" nope -o "$IT_TMP/nope.tar"
expect_output err "lab '$lab' has no snapshot named 'nope'"
[[ ! -e $IT_TMP/nope.tar ]] || fail "a refused export left $IT_TMP/nope.tar"

log "the snapshot, the lab, its file and the folder it binds go: as on a host that never had them"
expect_rc 0 ltb --quiet down --lab "$lab"
expect_rc 0 ltb snapshot rm "$lab" s1
[[ $(snapshot_images "$lab") -eq 0 ]] || fail "ltb snapshot rm left $(snapshot_images "$lab") images"
for id in "${image_ids[@]}"; do
  ! docker image inspect "$id" >/dev/null 2>&1 || fail "image $id is still there after ltb snapshot rm"
done
rm -rf "$IT_TMP/lab"

log "import on the second 'host', under the lab's own name"
expect_rc 0 ltb2 snapshot import "$IT_TMP/s1.tar"
expect_output out "^snapshot s1 of lab $lab imported \(2 artifacts, .*ltb snapshot restore $lab s1"
[[ $(snapshot_images "$lab") -eq 2 ]] || fail "expected 2 images labelled for $lab, found $(snapshot_images "$lab")"
expect_rc 0 ltb2 snapshot list --format json
jq -e --arg lab "$lab" '[.snapshots[] | "\(.lab)/\(.name)"] == ["\($lab)/s1"]' "$IT_TMP/out" >/dev/null ||
  fail "ltb snapshot list after the import: $(cat "$IT_TMP/out")"
expect_rc 1 ltb2 snapshot import "$IT_TMP/s1.tar"
expect_output err "lab '$lab' has a snapshot named 's1' already"
expect_output err "--lab NEWLAB"

log "a restore needs what the lab binds from the host"
expect_rc 1 ltb2 snapshot restore "$lab" s1
expect_output err "node 'b' binds $IT_TMP/lab/shared from the host, which does not exist here"
[[ $(count_containers "$lab") -eq 0 ]] || fail "a refused restore left containers of $lab"
mkdir -p "$IT_TMP/lab/shared"
expect_rc 0 ltb2 snapshot restore "$lab" s1
LTB_STATE=$host2 assert_all_running "$lab"
[[ $(cexec "$lab" a cat /root/marker) == kept-by-the-snapshot ]] || fail "the file is not back after the restore of the import"

log "import once more with --lab, and restore it (the first one down: it pins the same subnet)"
expect_rc 0 ltb2 snapshot import "$IT_TMP/s1.tar" --lab "$other"
expect_output out "^snapshot s1 of lab $other imported \(taken of lab $lab\)"
[[ $(snapshot_images "$other") -eq 2 ]] || fail "expected 2 images labelled for $other, found $(snapshot_images "$other")"
expect_rc 0 ltb2 --quiet down --lab "$lab"
expect_rc 0 ltb2 snapshot restore "$other" s1
LTB_STATE=$host2 assert_all_running "$other"
[[ $(cexec "$other" a cat /root/marker) == kept-by-the-snapshot ]] || fail "the file is not back in lab $other"
expect_rc 0 ltb2 snapshot restore "$lab" s1 --as "$beside"
LTB_STATE=$host2 assert_all_running "$beside"
[[ $(cexec "$beside" a cat /root/marker) == kept-by-the-snapshot ]] || fail "the file is not back in lab $beside (--as)"
expect_rc 0 ltb2 --quiet down --lab "$beside"

log "a tampered archive (a member ../x) is refused, nothing recorded"
python3 - "$IT_TMP/s1.tar" "$IT_TMP/tampered.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1]) as src, tarfile.open(sys.argv[2], "w") as out:
    for member in src.getmembers():
        out.addfile(member, src.extractfile(member))
    info = tarfile.TarInfo("../x")
    info.size = 7
    out.addfile(info, io.BytesIO(b"escaped"))
EOF
expect_rc 1 ltb2 snapshot import "$IT_TMP/tampered.tar" --lab "$tampered"
expect_output err "refusing entry '../x'"
[[ ! -e $IT_TMP/x && ! -e $IT_TMP/host2/x && ! -e $IT_TMP/host2/snapshots/x ]] || fail "the tampered archive wrote x"
expect_rc 0 ltb2 snapshot list --format json
jq -e --arg lab "$tampered" 'all(.snapshots[]; .lab != $lab)' "$IT_TMP/out" >/dev/null ||
  fail "the tampered archive is listed: $(cat "$IT_TMP/out")"
[[ $(snapshot_images "$tampered") -eq 0 ]] || fail "the tampered archive left images"
[[ ! -e $IT_TMP/host2/snapshots/$tampered ]] || fail "the tampered archive left $IT_TMP/host2/snapshots/$tampered"

log "ltb snapshot rm of the imports frees their images"
expect_rc 0 ltb2 --quiet down --lab "$other"
expect_rc 0 ltb2 snapshot rm "$lab" s1
expect_rc 0 ltb2 snapshot rm "$other" s1
[[ $(snapshot_images "$lab") -eq 0 && $(snapshot_images "$other") -eq 0 ]] ||
  fail "images left after ltb snapshot rm: $(docker images --filter "label=ltb.snapshot.lab=$lab" --filter "label=ltb.snapshot.lab=$other")"
for id in "${image_ids[@]}"; do
  ! docker image inspect "$id" >/dev/null 2>&1 || fail "the loaded image $id is still there after ltb snapshot rm"
done
[[ -z $(docker ps -aq --filter name=ltb-import-) ]] || fail "containers of the import's relabelling are left"

log "SIGKILL during an import: the next command lists nothing of it and leaves nothing"
killed=it-xferk
on_cleanup "docker images -q --filter label=ltb.snapshot.lab=$killed | sort -u | xargs -r docker rmi -f"
for attempt in 1 2 3; do
  "$LTB" --state "$host2" snapshot import "$IT_TMP/s1.tar" --lab "$killed" >"$IT_TMP/killed.out" 2>&1 &
  pid=$!
  track_pid "$pid"
  # Killed as soon as it has recorded the snapshot and begun to take the archive apart.
  for ((i = 0; i < 200000; i++)); do
    [[ -e $IT_TMP/host2/snapshots/$killed/s1 ]] && break
  done
  rc=0
  kill_and_reap "$pid" || rc=$?
  ((rc == 137)) && break
  log "attempt $attempt: the import ended (status $rc) before it was killed; again"
  expect_rc 0 ltb2 snapshot rm "$killed" s1
done
((rc == 137)) || fail "the import always ended before it could be killed: $(cat "$IT_TMP/killed.out")"
expect_rc 0 ltb2 snapshot list --format json
jq -e --arg lab "$killed" 'all(.snapshots[]; .lab != $lab)' "$IT_TMP/out" >/dev/null ||
  fail "a killed import is listed: $(cat "$IT_TMP/out")"
[[ $(snapshot_images "$killed") -eq 0 ]] || fail "a killed import left $(snapshot_images "$killed") images"
[[ ! -e $IT_TMP/host2/snapshots/$killed/s1 ]] || fail "a killed import left its folder"
[[ -z $(docker ps -aq --filter name=ltb-import-) ]] || fail "a killed import left its relabelling container"

log "VM disk layers made by hand: renamed, chained, pointed at the base image"
vm="$IT_TMP/vm"
mkdir -p "$vm/old"
qemu-img create -q -f qcow2 "$vm/base.qcow2" 16M
qemu-img create -q -f qcow2 -b "$vm/base.qcow2" -F qcow2 "$vm/old/older.qcow2"
qemu-img create -q -f qcow2 -b "$vm/old/older.qcow2" -F qcow2 "$vm/old/top.qcow2"
echo saved-memory >"$vm/old/vm1.memory"
# write_vm_archive OUT BASE: the archive another host would export of a VM snapshot.
write_vm_archive() {
  python3 - "$vm" "$1" "$2" <<'EOF'
import io, json, sys, tarfile
vm, out, base = sys.argv[1:]
manifest = {"format": 1, "snapshot": {
    "lab": "it-xvm", "name": "v1", "created_at": 1, "memory": True,
    "topology_file": "/elsewhere/vm.yaml", "topology_text": "name: it-xvm\n",
    "state": {"lab": "it-xvm", "nodes": [{"name": "vm1", "runtime": "vm", "image": base}]},
    "size_bytes": 1},
  "artifacts": [
    {"node": "vm1", "type": "disk", "ref": vm + "/old/top.qcow2", "member": "disks/0-vm1.qcow2"},
    {"node": "vm1", "type": "disk", "ref": vm + "/old/older.qcow2", "member": "disks/1-vm1.qcow2"},
    {"node": "vm1", "type": "memory", "ref": vm + "/old/vm1.memory", "member": "memory/2-vm1.memory"}]}
with tarfile.open(out, "w") as tar:
    data = json.dumps(manifest).encode()
    info = tarfile.TarInfo("manifest.json")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
    for artifact in manifest["artifacts"]:
        tar.add(artifact["ref"], artifact["member"])
EOF
}
write_vm_archive "$IT_TMP/vm-missing.tar" "$vm/no-such-base.qcow2"
expect_rc 1 ltb2 snapshot import "$IT_TMP/vm-missing.tar"
expect_output err "VM node 'vm1' builds on the base image $vm/no-such-base.qcow2, which does not exist on this host"
write_vm_archive "$IT_TMP/vm.tar" "$vm/base.qcow2"
rm -rf "$vm/old" # the exporting host's layers: nothing here may point at them
expect_rc 0 ltb2 snapshot import "$IT_TMP/vm.tar"
expect_output out "^snapshot v1 of lab it-xvm imported \(3 artifacts"
top=$(ls "$IT_TMP"/host2/disk-layers/it-xvm/v1-vm1-0-*.qcow2)
older=$(ls "$IT_TMP"/host2/disk-layers/it-xvm/v1-vm1-1-*.qcow2)
qemu-img info --backing-chain --output=json "$top" >"$IT_TMP/chain.json" ||
  fail "qemu-img cannot follow the imported layer's chain: $(cat "$IT_TMP/chain.json")"
jq -e --arg top "$top" --arg older "$older" --arg base "$vm/base.qcow2" \
  '[.[].filename] == [$top, $older, $base] and .[0]["backing-filename-format"] == "qcow2"' \
  "$IT_TMP/chain.json" >/dev/null || fail "the imported layers' chain is wrong: $(cat "$IT_TMP/chain.json")"
[[ $(cat "$IT_TMP/host2/snapshots/it-xvm/v1/vm1.memory") == saved-memory ]] ||
  fail "the memory file is not in the snapshot's folder"
expect_rc 0 ltb2 snapshot rm it-xvm v1
[[ ! -e $IT_TMP/host2/snapshots/it-xvm/v1 ]] || fail "ltb snapshot rm left the memory file"
