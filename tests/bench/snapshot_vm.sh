#!/usr/bin/env bash
# Snapshots of VMs with memory (run by tests/bench/run.sh, or alone): a lab of 4 kernel-boot VMs
# (the ltb-vm image, software emulation), each with a data disk, booted and idle.
#   - `ltb snapshot create --memory` (every VM suspended, its disk's layer kept and a new one
#     made, its memory and device state written, all resumed) against the floor: `virsh save` of
#     the same 4 domains in parallel (memory and device state only). Target: ratio <= 1.3.
#   - `ltb snapshot restore` in place (each running domain replaced by one made from its saved
#     state on a new disk layer over the kept one, taps and links rewired) against the floor:
#     `virsh destroy` of each running domain and `virsh restore` of its saved state, the 4 in
#     parallel (as the container bench's floor is docker rm -f + docker run). Target: ratio <= 1.3.
#     Tearing a QEMU down takes about 1.3 s here, also after kill -9: virsh save pays it in the
#     create floor, ltb (whose create leaves the VMs running) in its restore.
# Medians of BENCH_RUNS rounds (default 3).
#
# Environment: LTB (required), LTB_IMAGES (default /var/lib/ltb/images), BENCH_RUNS,
# BENCH_SNAPVM_SUBNET (default: a free one ltb picks), BENCH_OUT (append the rows there). Exit status:
# 0 when every target was met, 2 when one was missed, 1 when something failed. The lab is
# ltbtest-snapvm; it and its snapshots are removed on exit.

set -uo pipefail
export LC_ALL=C

: "${LTB:?set LTB to the ltb binary}"
RUNS=${BENCH_RUNS:-3}
SUBNET=${BENCH_SNAPVM_SUBNET:-}
IMAGES=${LTB_IMAGES:-/var/lib/ltb/images}
LAB=ltbtest-snapvm
WORK=$(mktemp -d /tmp/ltbtest-snapvm.XXXXXX)
chmod a+x "$WORK" # QEMU runs as libvirt's user: it opens the VMs' disks in the lab folder
export LTB_STATE=$WORK/state/state.db
NODES=(vm1 vm2 vm3 vm4)
VIRSH=(virsh -q -c qemu:///system)

BENCH_NAME='bench snapshot (VMs)'
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# shellcheck disable=SC2317 # called by lib.sh's EXIT trap
cleanup() {
  local name
  for name in $("$LTB" --quiet snapshot list "$LAB" --format json 2>/dev/null | jq -r '.snapshots[].name'); do
    "$LTB" --quiet snapshot rm "$LAB" "$name" >/dev/null 2>&1
  done
  "$LTB" --quiet down --lab "$LAB" >/dev/null 2>&1 || say "ltb down --lab $LAB failed"
  rm -rf "$WORK"
}

floor_save() { "${VIRSH[@]}" save "ltb-$LAB-$1" "$WORK/floor-$1.memory"; }
floor_restore() { "${VIRSH[@]}" restore "$WORK/floor-$1.memory" --running; }
floor_replace() {
  "${VIRSH[@]}" destroy "ltb-$LAB-$1" && "${VIRSH[@]}" restore "$WORK/floor-$1.memory" --running &&
    rm -f "$WORK/floor-$1.memory"
}

[[ -f $IMAGES/ltb-vm/image.json ]] || die "VM image ltb-vm is missing (scripts/build-images.sh)"
"${VIRSH[@]}" version >/dev/null 2>&1 || die "libvirtd does not answer (make services)"
command -v qemu-img >/dev/null || die "qemu-img is missing (apt-get install qemu-utils)"
mkdir -p "$WORK/state"
qemu-img create -q -f qcow2 "$WORK/data.qcow2" 64M || die "qemu-img create failed"
{
  printf 'name: %s\n' "$LAB"
  [[ -z $SUBNET ]] || printf 'mgmt:\n  ipv4-subnet: %s\n' "$SUBNET"
  printf 'topology:\n  defaults:\n    accel: qemu\n  nodes:\n'
  for node in "${NODES[@]}"; do
    printf '    %s:\n      kind: vm\n      image: %s\n      kernel: %s\n      initrd: %s\n      cmdline: console=ttyS0\n' \
      "$node" "$WORK/data.qcow2" "$IMAGES/ltb-vm/vmlinux" "$IMAGES/ltb-vm/initrd.img"
  done
  printf '  links:\n    - endpoints: ["vm1:eth1", "vm2:eth1"]\n    - endpoints: ["vm3:eth1", "vm4:eth1"]\n'
} >"$WORK/lab.yaml"
say "deploying $LAB (4 VMs with data disks)"
"$LTB" --quiet up "$WORK/lab.yaml" >"$WORK/up.log" 2>&1 || {
  cat "$WORK/up.log" >&2
  die "ltb up failed"
}
# Booted: each guest answers over ssh (ltb exec falls back to it), then idles.
for node in "${NODES[@]}"; do
  ok=0
  for _ in $(seq 1 120); do
    if "$LTB" --quiet exec "$node" -- true >/dev/null 2>&1; then
      ok=1
      break
    fi
    sleep 1
  done
  ((ok)) || die "$node did not answer within 120 s"
done

creates=() floors=() restores=() floor_restores=()
for ((run = 1; run <= RUNS; run++)); do
  timed each floor_save || die "virsh save of the lab's domains failed: $(cat "$WORK/last.log")"
  floors+=("$T")
  each floor_restore >"$WORK/last.log" 2>&1 || die "virsh restore of the saved domains failed: $(cat "$WORK/last.log")"
  timed each floor_replace || die "virsh destroy + restore of the domains failed: $(cat "$WORK/last.log")"
  floor_restores+=("$T")
  timed "$LTB" snapshot create "$LAB" "bench-$run" --memory ||
    die "ltb snapshot create --memory failed: $(cat "$WORK/last.log")"
  creates+=("$T")
  timed "$LTB" --quiet snapshot restore "$LAB" "bench-$run" ||
    die "ltb snapshot restore failed: $(cat "$WORK/last.log")"
  restores+=("$T")
  for node in "${NODES[@]}"; do
    [[ $("${VIRSH[@]}" domstate "ltb-$LAB-$node") == running ]] || die "$node does not run after the restore"
  done
  say "round $run: ltb snapshot create --memory ${creates[-1]} s, virsh save ${floors[-1]} s;" \
    "restore ${restores[-1]} s, virsh destroy + restore ${floor_restores[-1]} s"
done

CREATE=$(median "${creates[@]}")
FLOOR_CREATE=$(median "${floors[@]}")
RESTORE=$(median "${restores[@]}")
FLOOR_RESTORE=$(median "${floor_restores[@]}")
row "virsh save, 4 VMs in parallel (floor)" "$FLOOR_CREATE"
row "ltb snapshot create --memory, 4 VMs / floor" "$CREATE" "$(calc "$CREATE / $FLOOR_CREATE")" "<=1.3"
row "virsh destroy + restore, 4 in parallel (floor)" "$FLOOR_RESTORE"
row "ltb snapshot restore, 4 VMs / floor" "$RESTORE" "$(calc "$RESTORE / $FLOOR_RESTORE")" "<=1.3"

report "ltb snapshot of 4 VMs with memory"
