#!/usr/bin/env bash
# containerlab's bridge and host kinds, end to end (real ltb, dockerd, netlink, iptables):
#   - a bridge node whose bridge does not exist: ltb makes the Linux bridge, with the file's
#     host ends as its ports, and packets cross it between two nodes;
#   - a bridge node whose bridge exists (made here): used, its port added, and kept by down;
#   - host:IFACE: a veth whose end is in the host's namespace under that name, and which
#     carries a ping between the host's end and the node;
#   - an ext-container (a container started here, not by ltb) gets its interface and its exec
#     command, carries a ping from a node, and is never removed;
#   - a host interface that exists and that ltb did not make is refused at its place in the file
#     (file:line:col) and stays;
#   - after `ltb down` nothing ltb made is left (bridge, ports, host veth, FORWARD rules), and
#     what it did not make (the existing bridge, the interface it refused) is still there.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
command -v ip >/dev/null || fail "ip is missing (iproute2)"
command -v iptables >/dev/null || fail "iptables is missing"

lab=it-clab-links
track_lab "$lab"
# Interfaces this test makes itself (not ltb): removed at the end, whatever happens.
on_cleanup "ip link del itcl-brx 2>/dev/null || true"
on_cleanup "ip link del itcl-taken 2>/dev/null || true"
on_cleanup "docker rm -f itcl-ext >/dev/null 2>&1 || true"

ip link del itcl-brx 2>/dev/null || true
ip link add itcl-brx type bridge
ip link set itcl-brx up
docker rm -f itcl-ext >/dev/null 2>&1 || true
# NET_ADMIN: its exec command configures its interface, as a lab node's does.
docker run -d --name itcl-ext --network none --cap-add NET_ADMIN "$k_busybox" sleep 600 >/dev/null

cat >"$IT_TMP/lab.clab.yml" <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.242.0/24
topology:
  defaults:
    kind: linux
    image: $k_busybox
  nodes:
    n1:
      exec:
        - ip addr add 10.77.0.1/24 dev eth1
        - ip addr add 10.251.78.2/30 dev eth2
    n2:
      exec:
        - ip addr add 10.77.0.2/24 dev eth1
    n3:
      exec:
        - ip addr add 10.79.0.1/24 dev eth2
    itcl-ext:
      kind: ext-container
      exec:
        - ip addr add 10.79.0.2/24 dev eth1
    itcl-br:
      kind: bridge
    itcl-brx:
      kind: bridge
  links:
    - endpoints: ["n1:eth1", "itcl-br:itcl-p1"]
    - endpoints: ["n2:eth1", "itcl-br:itcl-p2"]
    - endpoints: ["n3:eth1", "itcl-brx:itcl-p3"]
    - endpoints: ["n1:eth2", "host:itcl-h1"]
    - endpoints: ["n3:eth2", "itcl-ext:eth1"]
EOF

ports_of() { ip -o link show master "$1" | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort | paste -sd ' '; }

log "up: a bridge made, a bridge found, a host veth"
expect_rc 0 ltb up "$IT_TMP/lab.clab.yml"
ip -d link show itcl-br | grep -q ' bridge ' || fail "itcl-br is not a Linux bridge: $(ip -d link show itcl-br 2>&1)"
[[ $(ports_of itcl-br) == "itcl-p1 itcl-p2" ]] || fail "ports of itcl-br: '$(ports_of itcl-br)', expected 'itcl-p1 itcl-p2'"
[[ $(ports_of itcl-brx) == "itcl-p3" ]] || fail "ports of itcl-brx: '$(ports_of itcl-brx)', expected 'itcl-p3'"
ip -d link show itcl-h1 | grep -q 'veth' || fail "itcl-h1 is not a veth in the host namespace"
ip -o link show itcl-h1 | grep -q 'master' && fail "itcl-h1 is a bridge port; it should not be"
assert_ifaces "$lab" n1:eth1 n1:eth2 n2:eth1 n3:eth1
iptables -S FORWARD | grep -q -- "-i itcl-br .*ltb:$lab:bridge:itcl-br" ||
  fail "no FORWARD rule lets itcl-br bridge: $(iptables -S FORWARD | grep itcl || true)"

log "packets cross the bridge between n1 and n2"
retry 5 cexec "$lab" n1 ping -c 2 -W 2 10.77.0.2 >/dev/null || fail "n1 cannot ping n2 across itcl-br"

log "the host's end of the host link carries a ping"
ip addr add 10.251.78.1/30 dev itcl-h1
retry 5 ping -c 2 -W 2 10.251.78.2 >/dev/null || fail "the host cannot ping n1 over itcl-h1"

log "the ext-container got its interface and its exec command"
docker exec itcl-ext ip -o addr show eth1 | grep -q '10.79.0.2/24' ||
  fail "itcl-ext has no eth1 with 10.79.0.2: $(docker exec itcl-ext ip -o addr 2>&1 | tr '\n' ';')"
retry 5 cexec "$lab" n3 ping -c 2 -W 2 10.79.0.2 >/dev/null || fail "n3 cannot ping itcl-ext"

log "a second up changes nothing"
expect_rc 0 ltb up "$IT_TMP/lab.clab.yml"
[[ $(ports_of itcl-br) == "itcl-p1 itcl-p2" ]] || fail "ports of itcl-br after a second up: '$(ports_of itcl-br)'"

log "down: what ltb made goes, what it did not make stays"
expect_rc 0 ltb down --lab "$lab"
for iface in itcl-br itcl-p1 itcl-p2 itcl-p3 itcl-h1; do
  ip link show "$iface" >/dev/null 2>&1 && fail "$iface is left after ltb down"
done
ip -d link show itcl-brx | grep -q ' bridge ' || fail "the existing bridge itcl-brx was removed"
[[ $(docker inspect -f '{{.State.Running}}' itcl-ext) == true ]] || fail "the ext-container itcl-ext is not running after ltb down"
docker exec itcl-ext ip link show eth1 >/dev/null 2>&1 && fail "itcl-ext still has eth1 after ltb down"
iptables -S FORWARD | grep -q "ltb:$lab:" && fail "FORWARD rules of $lab are left: $(iptables -S FORWARD | grep "ltb:$lab:")"
assert_lab_gone "$lab"

log "a host interface ltb did not make is refused where the file names it, and kept"
ip link add itcl-taken type veth peer name itcl-taken-p # (no dummy module on every kernel)
sed -i 's/host:itcl-h1/host:itcl-taken/' "$IT_TMP/lab.clab.yml"
expect_rc 1 ltb up "$IT_TMP/lab.clab.yml"
expect_output err "lab\.clab\.yml:31:[0-9]+: link n1-host: the host already has an interface 'itcl-taken' \(veth\), and ltb did not make it"
expect_rc 0 ltb down --lab "$lab"
ip -d link show itcl-taken | grep -q veth || fail "itcl-taken (not ltb's) was removed"
ip -d link show itcl-brx | grep -q ' bridge ' || fail "the existing bridge itcl-brx was removed"
ip link show itcl-br >/dev/null 2>&1 && fail "itcl-br is left after ltb down"
assert_lab_gone "$lab"
log "ok"
