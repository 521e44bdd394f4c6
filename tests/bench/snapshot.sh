#!/usr/bin/env bash
# Snapshots (run by tests/bench/run.sh, or alone), of examples/frr-ospf.yaml (5 containers, an
# OVS bridge, 6 links), each router with a small change written in it:
#   - `ltb snapshot create` against the floor: `docker commit` of the lab's 5 containers, all in
#     parallel (each pauses its container while it commits). Target: ratio <= 1.3.
#   - the pause window ltb reports (first node paused to last resumed). Target: < 1 s.
#   - `ltb snapshot restore` (in place: the lab's nodes replaced by containers of the snapshot's
#     images, links and addresses as recorded) against the floor: `docker rm -f` of the 5
#     containers and `docker run` of their committed images, all in parallel, each on an
#     internal network with a fixed address as ltb's nodes are. Target: ratio <= 1.3.
#   - the snapshot's size against the sum of its images' sizes (it must hold only the changes):
#     target ratio <= 0.1.
# Medians of BENCH_RUNS rounds (default 3).
#
# Environment: LTB (required), BENCH_RUNS, BENCH_SNAPSHOT_SUBNET (default 172.20.146.0/24),
# BENCH_SNAPSHOT_FLOOR_SUBNET (default 172.20.147.0/24), BENCH_OUT (append the rows there).
# Exit status: 0 when every target was met, 2 when one was missed, 1 when something failed. The
# lab is ltbtest-snapbench, the floor's containers ltbtest-snapfloor-NODE on network
# ltbtest-snapfloor; all are removed on exit, with every image either made.

set -uo pipefail
export LC_ALL=C

: "${LTB:?set LTB to the ltb binary}"
RUNS=${BENCH_RUNS:-3}
SUBNET=${BENCH_SNAPSHOT_SUBNET:-172.20.146.0/24}
FLOOR_SUBNET=${BENCH_SNAPSHOT_FLOOR_SUBNET:-172.20.147.0/24}
LAB=ltbtest-snapbench
FLOOR=ltbtest-snapfloor
SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d /tmp/ltbtest-snapbench.XXXXXX)
export LTB_STATE=$WORK/state/state.db
NODES=(r1 r2 r3 h1 h2)

BENCH_NAME='bench snapshot'
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# shellcheck disable=SC2317 # called by lib.sh's EXIT trap
cleanup() {
  local node
  for node in "${NODES[@]}"; do
    docker rm -f "$FLOOR-$node" >/dev/null 2>&1
  done
  "$LTB" --quiet down --lab "$LAB" >/dev/null 2>&1 || say "ltb down --lab $LAB failed"
  docker network rm "$FLOOR" >/dev/null 2>&1
  # By name, not id: a later round's images sit on an earlier round's (a restored lab's containers
  # run on them), and an image with children cannot be removed by id.
  docker images --format '{{.Repository}}:{{.Tag}}' --filter "label=ltb.snapshot.lab=$LAB" |
    xargs -r docker rmi -f >/dev/null 2>&1
  docker images --format '{{.Repository}}:{{.Tag}}' "$FLOOR" | xargs -r docker rmi -f >/dev/null 2>&1
  rm -rf "$WORK"
}

ltb() { "$LTB" --quiet "$@"; }

floor_commit() { docker commit "ltb-$LAB-$1" "$FLOOR:$1-$run"; }
floor_replace() {
  local i
  for i in "${!NODES[@]}"; do
    [[ ${NODES[$i]} == "$1" ]] && break
  done
  docker rm -f "$FLOOR-$1" >/dev/null 2>&1
  docker run -d --name "$FLOOR-$1" --network "$FLOOR" --ip "${FLOOR_SUBNET%.*}.$((i + 2))" \
    --label ltbtest=snapfloor "$FLOOR:$1-$run"
}

for image in ltb/frr:latest ltb/busybox:latest; do
  docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing; run make images"
done
sed "s|^  ipv4-subnet: 172\.20\.30\.0/24$|  ipv4-subnet: $SUBNET|" "$SOURCE/examples/frr-ospf.yaml" >"$WORK/lab.yaml"
cp -r "$SOURCE/examples/frr-ospf" "$WORK/"
say "deploying examples/frr-ospf.yaml as $LAB"
ltb up "$WORK/lab.yaml" --lab "$LAB" >"$WORK/up.log" 2>&1 || {
  cat "$WORK/up.log" >&2
  die "ltb up failed"
}
docker network create --internal --subnet "$FLOOR_SUBNET" "$FLOOR" >/dev/null ||
  die "docker network create $FLOOR ($FLOOR_SUBNET) failed; set BENCH_SNAPSHOT_FLOOR_SUBNET"
for node in "${NODES[@]}"; do
  docker exec "ltb-$LAB-$node" sh -c 'head -c 1048576 /dev/urandom > /root/bench-change' ||
    die "cannot write a change into $node"
done

creates=() floors=() pauses=() restores=() floor_restores=() sizes=() image_sums=()
for ((run = 1; run <= RUNS; run++)); do
  timed each floor_commit || die "docker commit of the lab's containers failed: $(cat "$WORK/last.log")"
  floors+=("$T")
  timed "$LTB" snapshot create "$LAB" "bench-$run" || die "ltb snapshot create failed: $(cat "$WORK/last.log")"
  creates+=("$T")
  pause=$(sed -n 's/.*nodes paused \([0-9]*\) ms.*/\1/p' "$WORK/last.log")
  [[ -n $pause ]] || die "ltb snapshot create did not report its pause: $(cat "$WORK/last.log")"
  pauses+=("$(calc "$pause / 1000")")
  size=$("$LTB" snapshot list "$LAB" --format json | jq --arg n "bench-$run" '.snapshots[] | select(.name == $n) | .size_bytes')
  sum=0
  for id in $(docker images -q --filter "label=ltb.snapshot.lab=$LAB" --filter "label=ltb.snapshot=bench-$run"); do
    sum=$((sum + $(docker image inspect -f '{{.Size}}' "$id")))
  done
  sizes+=("$size")
  image_sums+=("$sum")

  timed each floor_replace || die "the floor's docker rm + run failed: $(cat "$WORK/last.log")"
  floor_restores+=("$T")
  timed ltb snapshot restore "$LAB" "bench-$run" || die "ltb snapshot restore failed: $(cat "$WORK/last.log")"
  restores+=("$T")
  say "round $run: ltb snapshot create ${creates[-1]} s (paused ${pauses[-1]} s), docker commit ${floors[-1]} s;" \
    "restore ${restores[-1]} s, docker rm + run ${floor_restores[-1]} s; size $size of $sum bytes"
done

CREATE=$(median "${creates[@]}")
FLOOR_CREATE=$(median "${floors[@]}")
PAUSE=$(median "${pauses[@]}")
RESTORE=$(median "${restores[@]}")
FLOOR_RESTORE=$(median "${floor_restores[@]}")
SIZE=$(median "${sizes[@]}")
SUM=$(median "${image_sums[@]}")
row "docker commit, 5 in parallel (floor)" "$FLOOR_CREATE"
row "ltb snapshot create / floor" "$CREATE" "$(calc "$CREATE / $FLOOR_CREATE")" "<=1.3"
row "pause window (s)" "$PAUSE" "$PAUSE" "<=1.0"
row "docker rm + run of 5 images (floor)" "$FLOOR_RESTORE"
row "ltb snapshot restore / floor" "$RESTORE" "$(calc "$RESTORE / $FLOOR_RESTORE")" "<=1.3"
row "snapshot size / its images' size (bytes)" "$SIZE" "$(calc "$SIZE / $SUM")" "<=0.1"

report "ltb snapshot of examples/frr-ospf.yaml"
