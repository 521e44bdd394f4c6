#!/usr/bin/env bash
# `ltb catalog` and the device details of `ltb inspect`: the catalog lists ltb/busybox and
# ltb/frr with the versions their labels carry (FRR's being the version of the frr package in the
# image) and the VM image with its image.json's, `catalog show` of a kind and of an image, an
# unknown name with a did-you-mean, JSON that parses; then a small lab (an FRR router, a busybox
# host and a VM): the catalog names it as a user of its images, and `ltb inspect` shows each
# node's image version, group and labels, FRR's running version (`show version`), the host's
# os-release name, the VM's (over ssh), "stopped" for a stopped node and "unknown" for one that
# does not answer in time.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_frr" "$k_busybox"
virsh -c qemu:///system version >/dev/null 2>&1 ||
  fail "libvirtd does not answer (virsh -c qemu:///system version); start it (scripts/setup.sh services)"
images=${LTB_IMAGES:-/var/lib/ltb/images}
vm_version=$(jq -r '.version // empty' "$images/ltb-vm/image.json" 2>/dev/null) ||
  fail "VM image ltb-vm is missing; build it with scripts/build-images.sh"
[[ -n $vm_version ]] || fail "$images/ltb-vm/image.json has no version; rebuild it with scripts/build-images.sh"

label_version() {
  docker image inspect -f '{{ index .Config.Labels "org.opencontainers.image.version" }}' "$1"
}
frr_version=$(label_version "$k_frr")
busybox_version=$(label_version "$k_busybox")
[[ -n $frr_version && -n $busybox_version ]] ||
  fail "ltb/frr or ltb/busybox has no org.opencontainers.image.version label; rebuild them (scripts/build-images.sh)"
# The label is FRR's own version, from the package in the image.
package=$(docker run --rm --entrypoint dpkg-query "$k_frr" -W -f '${Version}' frr)
upstream=${package#*:}
upstream=${upstream%-*}
[[ $frr_version == "$upstream" ]] ||
  fail "ltb/frr's version label is '$frr_version' but its frr package is $package"
log "versions: ltb/frr $frr_version, ltb/busybox $busybox_version, ltb-vm $vm_version"

log "the catalog before any lab"
expect_rc 0 ltb catalog
expect_output out '^KIND +RUNTIME +IMAGE +VERSION +GROUPS +LOGIN +CPUS +MEMORY +DISK +LABS'
expect_output out "^frr +container +ltb/frr:latest +${frr_version//./\\.} "
expect_output out "^linux +container +ltb/busybox:latest +${busybox_version//./\\.} "
expect_output out '^ovs-bridge +ovs-bridge +- '
expect_output out "^vm +vm +ltb-vm +${vm_version//./\\.} "

expect_rc 0 ltb catalog show frr
expect_output out '^kind: +frr$'
expect_output out '^default image: +ltb/frr:latest$'
expect_output out "^images: +ltb/frr:latest \\(${frr_version//./\\.}\\)"
expect_output out "^version from: +vtysh -c 'show version'$"
expect_rc 0 ltb catalog show ltb/busybox
expect_output out '^image: +ltb/busybox:latest$'
expect_output out "^version: +${busybox_version//./\\.} \\(from label org\\.opencontainers\\.image\\.version\\)$"
expect_output out '^state: +present$'
expect_rc 0 ltb catalog show ltb-vm
expect_output out "^version: +${vm_version//./\\.} \\(from image\\.json\\)$"
expect_rc 1 ltb catalog show ltb/frrr
expect_output err "no kind or image named 'ltb/frrr'"
expect_output err "did you mean 'ltb/frr'\\?"

expect_rc 0 ltb catalog --format json
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$IT_TMP/out" ||
  fail "ltb catalog --format json is not JSON"
[[ $(jq -r '.images[] | select(.name == "ltb/frr:latest") | .version' "$IT_TMP/out") == "$frr_version" ]] ||
  fail "the JSON catalog does not give ltb/frr:latest version $frr_version"
[[ $(jq -r '.kinds | map(.name) | join(",")' "$IT_TMP/out") == "linux,frr,vm,ovs-bridge,bridge,host,ext-container,nokia_srlinux,arista_ceos,juniper_crpd,sonic-vs,nokia_sros,juniper_vmx,cisco_xrv9k,arista_veos" ]] ||
  fail "the JSON catalog's kinds are $(jq -c '.kinds | map(.name)' "$IT_TMP/out")"
[[ $(jq -r '.docker.reachable' "$IT_TMP/out") == true ]] || fail "the JSON catalog says Docker is not reachable"
expect_rc 0 ltb catalog show srl --format json
jq -e '.kind.name == "nokia_srlinux" and .kind.env.SRLINUX == "1" and (.kind.interfaces.aliases | length) == 2 and .kind.mounts[0].target == "/etc/opt/srlinux"' \
  "$IT_TMP/out" >/dev/null || fail "ltb catalog show srl is not the kind nokia_srlinux with its needs: $(cat "$IT_TMP/out")"
expect_rc 0 ltb catalog show vr-sros
expect_output out '^runtime: +virtual machine \(vrnetlab.s qcow2\)$'
expect_output out '^interfaces: +1/1/X'
expect_rc 0 ltb catalog show frr --format json
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["kind"]["name"] == "frr"' \
  "$IT_TMP/out" || fail "ltb catalog show frr --format json is not the kind frr as JSON"

lab=it-catalog
track_lab "$lab"
file="$IT_TMP/catalog.yaml"
cat >"$file" <<'EOF'
name: it-catalog
topology:
  groups:
    core:
      labels: {role: router}
  nodes:
    r1: {kind: frr, group: core}
    h1: {kind: linux, image: ltb/busybox:latest, labels: {site: lab}}
    v1: {kind: vm, group: core}
  links:
    - endpoints: ["r1:eth1", "h1:eth1"]
EOF
expect_rc 0 ltb up "$file"
bad=$(ltb status "$lab" --format json | jq -r '.nodes[] | select(.state != "running") | "\(.name)=\(.state)"')
[[ -z $bad ]] || fail "lab $lab has nodes not running: $bad"

log "the catalog names the lab as a user of its images"
expect_rc 0 ltb catalog
expect_output out "^frr +container +ltb/frr:latest +${frr_version//./\\.} +core +.* $lab$"
expect_output out "^linux +container +ltb/busybox:latest +${busybox_version//./\\.} +- +.* $lab$"
expect_output out "^vm +vm +ltb-vm +${vm_version//./\\.} +core +.* $lab$"

log "inspect: devices and their running versions"
# FRR's daemons may still be starting just after `ltb up`: until then vtysh reports nothing.
inspect_has_frr() {
  ltb inspect "$lab" >"$IT_TMP/inspect" 2>&1 && grep -Eq '^r1 .*FRRouting [0-9]' "$IT_TMP/inspect"
}
wait_until 60 inspect_has_frr || {
  cat "$IT_TMP/inspect" >&2
  fail "ltb inspect $lab does not show r1's FRRouting version within 60 s"
}
# The VM answers once its guest has booted and runs its ssh server.
inspect_has_vm() {
  ltb inspect "$lab" >"$IT_TMP/inspect" 2>&1 && grep -Eq '^v1 .* ltb-vm \(Linux ' "$IT_TMP/inspect"
}
wait_until 180 inspect_has_vm || {
  cat "$IT_TMP/inspect" >&2
  fail "ltb inspect $lab does not show v1's os-release name within 180 s"
}
start=$(date +%s%N)
expect_rc 0 ltb inspect "$lab"
log "ltb inspect took $((($(date +%s%N) - start) / 1000000)) ms"
expect_output out '^DEVICE +KIND +IMAGE +VERSION +GROUP +LABELS +RUNNING VERSION'
expect_output out "^r1 +frr +ltb/frr:latest +${frr_version//./\\.} +core +role=router +FRRouting ${frr_version//./\\.}$"
pretty=$(docker exec "$(container_name "$lab" h1)" sh -c '. /etc/os-release && echo "$PRETTY_NAME"')
[[ -n $pretty ]] || fail "ltb/busybox has no PRETTY_NAME in /etc/os-release"
expect_output out "^h1 +linux +ltb/busybox:latest +${busybox_version//./\\.} +- +site=lab +${pretty//[().]/.}$"
# shellcheck disable=SC2016 # expanded by the guest's shell
vm_pretty=$(ltb exec v1 -- sh -c '. /etc/os-release && echo "$PRETTY_NAME"') ||
  fail "cannot read v1's /etc/os-release through ltb exec"
expect_output out "^v1 +vm +ltb-vm +${vm_version//./\\.} +core +role=router +${vm_pretty//[().]/.}$"

expect_rc 0 ltb inspect "$lab" --format json
python3 - "$IT_TMP/out" "$frr_version" "$pretty" <<'EOF' || fail "ltb inspect --format json lacks the device details"
import json, sys
lab = json.load(open(sys.argv[1]))
nodes = {n["name"]: n["device"] for n in lab["nodes"]}
assert nodes["r1"]["image"]["version"] == sys.argv[2], nodes["r1"]
assert nodes["r1"]["running_version"] == "FRRouting " + sys.argv[2], nodes["r1"]
assert nodes["r1"]["group"] == "core" and nodes["r1"]["labels"] == {"role": "router"}, nodes["r1"]
assert nodes["h1"]["running_version"] == sys.argv[3], nodes["h1"]
EOF

log "a stopped node says so"
expect_rc 0 ltb stop "$lab" --node h1
expect_rc 0 ltb inspect "$lab"
expect_output out '^h1 +linux +ltb/busybox:latest .* stopped$'
expect_output out "^r1 .*FRRouting ${frr_version//./\\.}$"
cp "$IT_TMP/out" "$IT_TMP/inspect-stopped"

log "a node that does not answer in time is unknown, and inspect does not wait for it longer"
expect_rc 0 ltb start "$lab" --node h1
# cat blocks on a FIFO with no writer: the question never gets its answer.
expect_rc 0 ltb exec h1 -- sh -c 'rm -f /etc/os-release /usr/lib/os-release && mkfifo /etc/os-release'
expect_rc 0 ltb inspect "$lab"
expect_output out '^h1 +linux +ltb/busybox:latest .* unknown: no answer within 3 s$'
expect_output out "^r1 .*FRRouting ${frr_version//./\\.}$"

expect_rc 0 ltb down --lab "$lab"
log "ok"
