#!/usr/bin/env bash
# containerlab's vendor kinds, end to end (real ltb, dockerd, netlink), with the stand-in image
# ltb/vendor-standin (examples/images/vendor-standin: not a vendor's image; it records what its
# node was given). For nokia_srlinux (as srl), arista_ceos (as ceos), juniper_crpd and sonic-vs:
#   - the node comes up with its kind's environment, start command (or entrypoint and, for
#     SONiC, the commands run once its links are up), sysctls and its own directories mounted
#     where the vendor's image keeps its configuration (read inside the node, by the stand-in);
#   - links written with interface aliases (ethernet-1/1, Ethernet2/1) got the Linux names inside
#     the nodes (e1-1, eth2_1), and ltb status and ltb link list show the Linux names;
#   - the kind's readiness command is the node's healthcheck, and it turns healthy;
#   - a name that fits neither form, and a vrnetlab kind given a container image, are refused
#     at their place in the file;
#   - ltb down leaves nothing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
readonly k_standin=ltb/vendor-standin:latest
require_services "$k_standin"

lab=it-vendor
track_lab "$lab"
cat >"$IT_TMP/lab.clab.yml" <<EOF
# containerlab's vendor kinds, each with the stand-in image
name: $lab
mgmt:
  ipv4-subnet: 172.20.243.0/24
topology:
  kinds:
    srl:
      image: $k_standin
  nodes:
    srl1:
      kind: srl
      env:
        EXTRA: from-the-file
    ceos1:
      kind: ceos
      image: $k_standin
    crpd1:
      kind: juniper_crpd
      image: $k_standin
    sonic1:
      kind: sonic-vs
      image: $k_standin
  links:
    - endpoints: ["srl1:ethernet-1/1", "ceos1:Ethernet1"]
    - endpoints: ["srl1:ethernet-1/2", "crpd1:eth1"]
    - endpoints: ["ceos1:Ethernet2/1", "sonic1:eth1"]
    - endpoints: ["srl1:e1-3", "sonic1:eth2"]
EOF

# record NODE FILE: what the stand-in recorded in /standin/FILE.
record() { cexec "$lab" "$1" cat "/standin/$2" 2>/dev/null; }

log "up: four vendor kinds with the stand-in image"
expect_rc 0 ltb up "$IT_TMP/lab.clab.yml"
assert_all_running "$lab"

log "each node's start program, as the kind gives it"
# SR Linux: sudo -E bash -c '...sr_linux' (the bash of sudo's, then sr_linux from sh -c).
calls=$(record srl1 calls) || fail "srl1 recorded no calls"
grep -qx "sudo|-E|bash|-c|touch /.dockerenv && /opt/srlinux/bin/sr_linux" <<<"$calls" ||
  fail "srl1 was not started with SR Linux's command: $(tr '\n' ';' <<<"$calls")"
grep -qx "sr_linux" <<<"$calls" || fail "srl1 did not run sr_linux: $(tr '\n' ';' <<<"$calls")"
# cEOS: bash -c 'exec /sbin/init systemd.setenv=...', init with the environment as words.
calls=$(record ceos1 calls) || fail "ceos1 recorded no calls"
grep -q "^init|systemd.setenv=CEOS=1|systemd.setenv=EOS_PLATFORM=ceoslab|.*|systemd.setenv=MGMT_INTF=eth0$" <<<"$calls" ||
  fail "ceos1's init did not get cEOS's systemd.setenv words: $(tr '\n' ';' <<<"$calls")"
# cRPD: the image's own command.
[[ $(record crpd1 calls) == standin ]] || fail "crpd1 did not keep the image's command: $(record crpd1 calls | tr '\n' ';')"
# SONiC: bash as the entrypoint, then supervisord and bgpd once the links were up.
sonic_started() { record sonic1 calls | grep -qx 'supervisorctl|start|bgpd'; }
wait_until 20 sonic_started || fail "sonic1 did not start bgpd: $(record sonic1 calls | tr '\n' ';')"
calls=$(record sonic1 calls)
[[ $(head -1 <<<"$calls") == bash ]] || fail "sonic1's entrypoint was not a bare bash: $(tr '\n' ';' <<<"$calls")"
grep -qx supervisord <<<"$calls" || fail "sonic1 did not run supervisord: $(tr '\n' ';' <<<"$calls")"

log "environment, sysctls and the kind's directories"
env=$(record srl1 env)
grep -qx SRLINUX=1 <<<"$env" || fail "srl1 has no SRLINUX=1: $(tr '\n' ' ' <<<"$env")"
grep -qx EXTRA=from-the-file <<<"$env" || fail "srl1 lost the file's env"
env=$(record ceos1 env)
for pair in CEOS=1 EOS_PLATFORM=ceoslab container=docker ETBA=1 SKIP_ZEROTOUCH_BARRIER_IN_SYSDBINIT=1 \
  INTFTYPE=eth MAPETH0=1 MGMT_INTF=eth0; do
  grep -qx "$pair" <<<"$env" || fail "ceos1 has no $pair: $(tr '\n' ' ' <<<"$env")"
done
record crpd1 env | grep -q '^CEOS=' && fail "crpd1 got cEOS's environment"
grep -qx 'net/ipv4/ip_forward=0' <<<"$(record srl1 sysctls)" ||
  fail "srl1's ip_forward is not 0: $(record srl1 sysctls | tr '\n' ' ')"
mounted() { record "$1" mounts | awk '{ print $2 }' | grep -qx "$2"; }
mounted srl1 /etc/opt/srlinux || fail "srl1 has nothing mounted at /etc/opt/srlinux"
mounted ceos1 /mnt/flash || fail "ceos1 has nothing mounted at /mnt/flash"
mounted crpd1 /config || fail "crpd1 has nothing mounted at /config"
mounted crpd1 /var/log || fail "crpd1 has nothing mounted at /var/log"
# The node's directory is on the host, under the lab directory: what SR Linux wrote there is.
[[ -s $IT_TMP/state/labs/$lab/srl1/config/devices/app_ephemeral.mgmt_server.ready_for_config ]] ||
  fail "srl1's configuration directory is not the lab directory's srl1/config: $(find "$IT_TMP/state/labs/$lab" 2>&1 | head -20 | tr '\n' ' ')"

log "aliases became Linux names, inside the nodes and in ltb's output"
ifaces_are() { [[ $(record "$1" interfaces | paste -sd ' ') == "$2" ]]; }
want_ifaces() {
  wait_until 10 ifaces_are "$1" "$2" ||
    fail "$1's interfaces: '$(record "$1" interfaces | paste -sd ' ')', expected '$2'"
}
want_ifaces srl1 "e1-1 e1-2 e1-3 eth0 lo"
want_ifaces ceos1 "eth0 eth1 eth2_1 lo"
want_ifaces crpd1 "eth0 eth1 lo"
want_ifaces sonic1 "eth0 eth1 eth2 lo"
expect_rc 0 ltb link list "$lab" --format json
jq -e '[.. | strings | select(test("ethernet-|Ethernet"))] | length == 0' "$IT_TMP/out" >/dev/null ||
  fail "ltb link list shows an alias: $(cat "$IT_TMP/out")"
grep -q 'e1-1' "$IT_TMP/out" || fail "ltb link list does not show srl1's e1-1: $(cat "$IT_TMP/out")"
grep -q 'eth2_1' "$IT_TMP/out" || fail "ltb link list does not show ceos1's eth2_1: $(cat "$IT_TMP/out")"

log "the kinds' readiness commands turn the nodes healthy"
healthy() {
  [[ $(ltb status "$lab" --format json | jq -r --arg n "$1" '.nodes[] | select(.name == $n) | .health // empty') == healthy ]]
}
for node in srl1 ceos1 crpd1 sonic1; do
  wait_until 20 healthy "$node" ||
    fail "$node is not healthy: $(ltb status "$lab" --format json | jq -c --arg n "$node" '.nodes[] | select(.name == $n)')"
done

log "down leaves nothing"
expect_rc 0 ltb down --lab "$lab"
assert_lab_gone "$lab"
[[ -e $IT_TMP/state/labs/$lab/srl1 ]] && fail "the lab directory of srl1 is left: $(find "$IT_TMP/state/labs/$lab")"

log "refused at their place: a name of neither form, a vrnetlab kind with a container image"
cat >"$IT_TMP/bad.clab.yml" <<EOF
name: it-vendor-bad
topology:
  nodes:
    srl1: {kind: nokia_srlinux, image: $k_standin}
    sr1: {kind: vr-sros, image: vrnetlab/nokia_sros:23.10.R1}
  links:
    - endpoints: ["srl1:eth1", "sr1:1/1/1"]
EOF
expect_rc 2 ltb validate "$IT_TMP/bad.clab.yml"
expect_output err "bad\.clab\.yml:5:33: error: node 'sr1' of kind nokia_sros names the container image 'vrnetlab/nokia_sros:23\.10\.R1': ltb runs vrnetlab kinds as VMs from a qcow2 disk"
expect_output err "bad\.clab\.yml:7:25: error: 'eth1' is not an interface name of kind nokia_srlinux"

log "ltb validate --containerlab reports the corpus's vendor kinds as supported"
corpus="$LTB_SOURCE_DIR/tests/data/containerlab"
expect_rc 0 ltb validate --containerlab "$corpus/srl.clab.yml" "$corpus/ceos.clab.yml" "$corpus/crpd.clab.yml" \
  "$corpus/sonic-vs.clab.yml"
expect_output out '^kind-vendor +yes +'
expect_rc 0 ltb validate --containerlab "$corpus/vr-sros.clab.yml"
expect_output out '^kind-vrnetlab +yes +'
log "ok"
