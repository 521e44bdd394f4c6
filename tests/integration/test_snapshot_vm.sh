#!/usr/bin/env bash
# Snapshots of a lab with a VM (issue 11): `ltb snapshot create --memory` keeps the VM's disk as a
# frozen qcow2 layer (the VM goes on over a new one) and its memory; a restore in place resumes
# the same guest processes from the snapshot's instant (a counter goes on from its value, what was
# done after the snapshot is undone, on disk too) and the link to a container carries packets
# again; `--as` boots a second lab from the kept disk beside the original; a SIGKILL during create
# leaves the VM running and no half snapshot; `snapshot rm` and `ltb down` leave no layer, memory
# file or overlay behind.
# shellcheck disable=SC2016 # single-quoted commands are for the node's shell to expand
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
virsh -c qemu:///system version >/dev/null 2>&1 ||
  fail "libvirtd does not answer (virsh -c qemu:///system version); start it (scripts/setup.sh services)"
command -v qemu-img >/dev/null || fail "qemu-img is missing (apt-get install qemu-utils)"
images=${LTB_IMAGES:-/var/lib/ltb/images}
[[ -f $images/ltb-vm/image.json ]] || fail "VM image ltb-vm is missing; build it with scripts/build-images.sh"

lab=it-snapvm
copy=it-snapvm2
track_lab "$lab" "$copy"
layers="$IT_TMP/state/disk-layers"
# QEMU runs as libvirt's own user: it must reach the VM's disks in the lab folder and the base.
chmod a+x "$IT_TMP"
qemu-img create -q -f qcow2 "$IT_TMP/base.qcow2" 16M
file="$IT_TMP/lab.yaml"
cat >"$file" <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.147.0/24
topology:
  nodes:
    vm1:
      kind: vm
      accel: qemu
      # A data disk (blank) beside the image's kernel and initramfs: the guest writes to it raw.
      image: $IT_TMP/base.qcow2
      kernel: $images/ltb-vm/vmlinux
      initrd: $images/ltb-vm/initrd.img
      cmdline: "console=ttyS0 ltb.addr.eth1=10.61.1.1/24"
    c1:
      kind: linux
      image: $k_busybox
      exec:
        - ip addr add 10.61.1.2/24 dev eth1
        - ip link set eth1 up
  links:
    - endpoints: ["vm1:eth1", "c1:eth1"]
EOF
expect_rc 0 ltb up "$file"
wait_until 180 ltb exec vm1 -- true ||
  fail "ltb exec vm1 -- true did not succeed within 180 s: $(ltb exec vm1 -- true 2>&1)"

# A counter in the guest (its own session: it outlives the ssh channel), a mark on the raw disk.
expect_rc 0 ltb exec vm1 -- sh -c 'setsid sh -c "i=0; while :; do i=\$((i+1)); echo \$i >/tmp/counter; sleep 1; done" </dev/null >/dev/null 2>&1 & echo $!'
counter_pid=$(tr -d '[:space:]' <"$IT_TMP/out")
[[ $counter_pid =~ ^[0-9]+$ ]] || fail "no counter pid: '$counter_pid'"
expect_rc 0 ltb exec vm1 -- sh -c 'printf snap-disk | dd of=/dev/vda bs=512 seek=100 conv=fsync 2>/dev/null'
cexec "$lab" c1 sh -c 'echo before >/marker' || fail "cannot write c1's marker"
wait_until 30 ltb exec vm1 -- sh -c 'test "$(cat /tmp/counter)" -ge 3' || fail "the guest's counter does not count"

read_counter() { ltb exec vm1 -- cat /tmp/counter 2>/dev/null | tr -d '[:space:]'; }

log "create --memory"
before=$(read_counter)
expect_rc 0 ltb snapshot create "$lab" s1 --memory
expect_output out "^snapshot s1 of lab $lab: 2 nodes, .*nodes paused [0-9]+ ms"
[[ $(virsh -c qemu:///system domstate "ltb-$lab-vm1") == running ]] || fail "vm1 does not run after the snapshot"
active=$(virsh -c qemu:///system domblklist "ltb-$lab-vm1" | awk '$1 == "vda" { print $2 }')
[[ $active == "$IT_TMP/state/labs/$lab/vm1/disk-"*.qcow2 ]] ||
  fail "vm1 does not write to a new layer after the snapshot: its disk is '$active'"
kept=$(find "$layers/$lab" -name 'vm1.*.qcow2')
[[ -n $kept ]] || fail "no kept disk layer under $layers/$lab"
qemu-img info -U "$active" | grep -qx "backing file: $kept" ||
  fail "the new layer does not build on the kept one: $(qemu-img info -U "$active" | grep backing)"
qemu-img info -U "$kept" | grep -qx "backing file: $IT_TMP/base.qcow2" ||
  fail "the kept layer does not build on the image: $(qemu-img info -U "$kept" | grep backing)"
[[ -s $IT_TMP/state/snapshots/$lab/s1/vm1.memory ]] || fail "no memory state in the snapshot"
expect_rc 0 ltb snapshot list "$lab" --format json
jq -e '.snapshots[] | select(.name == "s1") | .memory == true' "$IT_TMP/out" >/dev/null ||
  fail "snapshot list does not show s1 with memory: $(cat "$IT_TMP/out")"

log "change everything after the snapshot"
wait_until 30 ltb exec vm1 -- sh -c "[ \"\$(cat /tmp/counter)\" -ge $((before + 4)) ]" || fail "the counter stopped"
expect_rc 0 ltb exec vm1 -- sh -c "touch /tmp/after; kill $counter_pid; printf gone-disk | dd of=/dev/vda bs=512 seek=100 conv=fsync 2>/dev/null"
killed_at=$(read_counter)
cexec "$lab" c1 rm /marker || fail "cannot remove c1's marker"

log "restore in place: the guest resumes from the snapshot's instant"
expect_rc 0 ltb snapshot restore "$lab" s1
wait_until 60 ltb exec vm1 -- true || fail "vm1 does not answer after the restore"
expect_rc 0 ltb exec vm1 -- sh -c "kill -0 $counter_pid && echo alive; ls /tmp; dd if=/dev/vda bs=512 skip=100 count=1 2>/dev/null | head -c 9"
grep -qx alive "$IT_TMP/out" || fail "the counter process $counter_pid does not run after the restore: $(cat "$IT_TMP/out")"
grep -qx after "$IT_TMP/out" && fail "/tmp/after, made after the snapshot, is back: the memory was not restored"
grep -q snap-disk "$IT_TMP/out" || fail "the disk does not hold what it held at the snapshot: $(cat "$IT_TMP/out")"
first=$(read_counter)
((first >= before)) || fail "the counter restarted: $first after the restore, $before before the snapshot"
wait_until 30 ltb exec vm1 -- sh -c "[ \"\$(cat /tmp/counter)\" -gt $first ]" ||
  fail "the counter does not go on after the restore (stays at $first; killed at $killed_at)"
cexec "$lab" c1 cat /marker >/dev/null 2>&1 || fail "c1's marker is not back"
wait_until 30 cexec "$lab" c1 ping -c 1 -W 1 10.61.1.1 || fail "c1 cannot reach vm1 over their link after the restore"

log "restore as a second lab beside the original: booted from the kept disk"
expect_rc 0 ltb snapshot restore "$lab" s1 --as "$copy"
expect_output err "boot from the snapshot's disks"
wait_until 180 ltb exec vm1 --lab "$copy" -- true || fail "vm1 of $copy does not answer"
expect_rc 0 ltb exec vm1 --lab "$copy" -- sh -c 'dd if=/dev/vda bs=512 skip=100 count=1 2>/dev/null | head -c 9'
grep -q snap-disk "$IT_TMP/out" || fail "vm1 of $copy does not have the snapshot's disk: $(cat "$IT_TMP/out")"
[[ $(virsh -c qemu:///system domstate "ltb-$lab-vm1") == running ]] || fail "the original's vm1 stopped"
expect_rc 0 ltb down --lab "$copy"
assert_lab_gone "$copy"

log "SIGKILL during create: the VM runs again and no half snapshot is listed"
"$LTB" --state "$LTB_STATE" snapshot create "$lab" killed --memory >"$IT_TMP/killed.out" 2>&1 &
pid=$!
track_pid "$pid"
for _ in $(seq 1 400); do
  [[ $(virsh -c qemu:///system domstate "ltb-$lab-vm1" 2>/dev/null) == paused ]] && break
  sleep 0.025
done
kill_and_reap "$pid" || true
expect_rc 0 ltb snapshot list "$lab"
grep -q killed "$IT_TMP/out" && fail "a half snapshot is listed: $(cat "$IT_TMP/out")"
[[ $(virsh -c qemu:///system domstate "ltb-$lab-vm1") == running ]] || fail "vm1 is left $(virsh -c qemu:///system domstate "ltb-$lab-vm1")"
[[ -e $IT_TMP/state/snapshots/$lab/killed ]] && fail "the killed snapshot's folder is left"
expect_rc 0 ltb exec vm1 -- true

log "the snapshot outlives ltb down; rm then frees every layer and memory file"
expect_rc 0 ltb down --lab "$lab"
assert_lab_gone "$lab"
[[ -f $kept && -s $IT_TMP/state/snapshots/$lab/s1/vm1.memory ]] ||
  fail "ltb down took the snapshot's disk layer or memory with it: $(find "$layers" "$IT_TMP/state/snapshots" -type f)"
left=$(find "$layers" -type f 2>/dev/null | grep -vxF "$kept" || true)
[[ -z $left ]] || fail "layers nothing needs are left after ltb down: $left"
expect_rc 0 ltb snapshot rm "$lab" s1
[[ -e $IT_TMP/state/snapshots/$lab/s1 ]] && fail "snapshot s1's folder is left after rm"
left=$(find "$layers" -type f 2>/dev/null)
[[ -z $left ]] || fail "disk layers are left after rm and down: $left"
log "ok"
