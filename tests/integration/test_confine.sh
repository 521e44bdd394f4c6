#!/usr/bin/env bash
# A lab of a user who is not an admin is confined (ltb-topology(5), CONFINEMENT). A Unix user made
# here (removed afterwards), known to ltb as a plain user, deploys examples/frr-ospf.yaml as the
# daemon would run it for them (root with LTB_CALLER_UID): OSPF converges and the hosts ping
# across with the kinds' capabilities only. Then, through `ltb exec` from inside its nodes, each
# way to the host fails, and the nodes show the confinement itself (CapEff, Seccomp,
# NoNewPrivs, namespaces, mounts), since this kernel blocks some escapes anyway. An admin's lab
# may bind a host file; the same file as the user is refused with its place in the file.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_frr" "$k_busybox"
command -v useradd >/dev/null || fail "useradd is missing (package passwd)"

user=ltbconf$$
useradd --no-create-home --shell /usr/sbin/nologin "$user" || fail "cannot make Unix user $user"
uid=$(id -u "$user")
as_user() { LTB_CALLER_UID=$uid ltb "$@"; }

lab=it-confine
other=it-confine-other
example="$LTB_SOURCE_DIR/examples/frr-ospf.yaml"
# The user's lab goes down as the user, before the user goes; root's lab through track_lab.
on_cleanup "LTB_CALLER_UID=$uid $LTB --state $LTB_STATE --quiet --wait 30 down --lab $lab"
on_cleanup "userdel $user"
track_lab "$other"

expect_rc 0 ltb user add "$user" --role user

log "an admin's lab may bind a host file; the same file is refused for the user"
echo "from the host" >"$IT_TMP/motd"
cat >"$IT_TMP/bind.yaml" <<EOF
name: $other
mgmt:
  ipv4-subnet: 172.20.233.0/24
topology:
  nodes:
    x1:
      kind: linux
      image: $k_busybox
      mgmt-ipv4: 172.20.233.10
      binds:
        - $IT_TMP/motd:/etc/motd:ro
EOF
expect_rc 2 as_user up "$IT_TMP/bind.yaml"
expect_output err "bind\.yaml:10:7: error: 'binds' mounts host paths into the node: bind mounts of host paths are for admins"
expect_output err "help: put the file beside the topology file"
[[ -z $(docker ps -aq --filter "label=ltb.owner=$user") ]] || fail "the refused lab left containers"
# validate says the same before any deploy: --confined (a user's default), not for root's.
expect_rc 2 ltb validate --confined "$IT_TMP/bind.yaml"
expect_output err "bind\.yaml:10:7: error: 'binds' mounts host paths into the node"
expect_rc 0 ltb validate "$IT_TMP/bind.yaml"
expect_rc 0 ltb up "$IT_TMP/bind.yaml"
[[ $(cexec "$other" x1 cat /etc/motd) == "from the host" ]] || fail "the admin's bind mount is not in x1"
# Privileged, or (on a host whose bounding set lacks a capability, like this one) every
# capability the host has with seccomp and AppArmor lifted: as before, either way.
admin_node=$(docker inspect -f '{{.HostConfig.Privileged}} {{.HostConfig.SecurityOpt}}' "$(container_name "$other" x1)")
[[ $admin_node == "true "* || $admin_node == *seccomp=unconfined* ]] ||
  fail "an admin's container is made differently now: $admin_node"

log "the user deploys the FRR example"
grep -q '^  ipv4-subnet: 172\.20\.30\.0/24$' "$example" ||
  fail "$example no longer pins mgmt ipv4-subnet 172.20.30.0/24; update this test"
sed 's|^  ipv4-subnet: 172\.20\.30\.0/24$|  ipv4-subnet: 172.20.232.0/24|' "$example" >"$IT_TMP/frr-ospf.yaml"
cp -r "$LTB_SOURCE_DIR/examples/frr-ospf" "$IT_TMP/"
expect_rc 0 as_user up "$IT_TMP/frr-ospf.yaml" --lab "$lab"

# The user's containers, by the node's name (their runtime names are ltb's business).
container_of() {
  docker ps -q --filter "label=ltb.owner=$user" --filter "label=ltb.node=$1" | head -1
}
for node in r1 r2 r3 h1 h2; do
  id=$(container_of "$node")
  [[ -n $id ]] || fail "no running container of the user's node $node"
  got=$(docker inspect -f '{{.HostConfig.Privileged}} {{.HostConfig.CapDrop}} {{index .HostConfig.SecurityOpt 0}} net={{.HostConfig.NetworkMode}} pid={{.HostConfig.PidMode}} ipc={{.HostConfig.IpcMode}} uts={{.HostConfig.UTSMode}} cgroup={{.HostConfig.CgroupnsMode}} devices={{len .HostConfig.Devices}} pids={{.HostConfig.PidsLimit}} binds={{join .HostConfig.Binds ","}}' "$id")
  [[ $got == "false [ALL] no-new-privileges net=ltb-"*" pid= ipc=private uts= cgroup=private devices=0 pids=4096 binds="* ]] ||
    fail "node $node is not confined: $got"
  # FRR (SYS_ADMIN) gets ltb's seccomp profile, a host Docker's default one (no option).
  security=$(docker inspect -f '{{len .HostConfig.SecurityOpt}} {{range .HostConfig.SecurityOpt}}{{printf "%.8s " .}}{{end}}' "$id")
  case $node in
  r*) [[ $security == "2 no-new-p seccomp= " ]] || fail "router $node has security options $security" ;;
  h*) [[ $security == "1 no-new-p " ]] || fail "host $node has security options $security" ;;
  esac
  binds=${got##*binds=}
  for bind in ${binds//,/ }; do
    [[ $bind == "$IT_TMP/state/labs/"* ]] || fail "node $node binds $bind, which is not ltb's own"
  done
done

full_neighbours() {
  as_user exec --lab "$lab" "$1" -- vtysh -c 'show ip ospf neighbor' 2>/dev/null | grep -c ' Full/' || true
}
two_full() { [[ $(full_neighbours "$1") -eq 2 ]]; }
wait_until 60 two_full r1 ||
  fail "r1 has no 2 Full OSPF neighbours after 60 s: $(as_user exec --lab "$lab" r1 -- vtysh -c 'show ip ospf neighbor' 2>&1)"
for router in r2 r3; do
  wait_until 10 two_full "$router" || fail "$router has $(full_neighbours "$router") Full OSPF neighbours, expected 2"
done
retry 5 as_user exec --lab "$lab" h1 -- ping -c 3 -W 2 192.168.10.12 >/dev/null ||
  fail "h1 cannot ping h2 across the Open vSwitch segment"
retry 10 as_user exec --lab "$lab" h1 -- ping -c 3 -W 2 10.0.0.3 >/dev/null ||
  fail "h1 cannot ping r3's loopback 10.0.0.3 across the routers"

# in_node NODE SCRIPT: runs sh -c SCRIPT in the user's node through `ltb exec`, as the user.
in_node() { as_user exec --lab "$lab" -n "$1" -- sh -c "$2"; }
# must_fail NODE WHAT SCRIPT: the escape SCRIPT must fail in NODE.
must_fail() {
  if in_node "$1" "$3" >"$IT_TMP/escape.out" 2>&1; then
    fail "from $1, $2 worked: $(cat "$IT_TMP/escape.out")"
  fi
  log "from $1, $2 fails: $(head -c 200 "$IT_TMP/escape.out" | tr '\n' ' ')"
}

log "the confinement itself, as the nodes see it"
# Capability bits: CHOWN 0, DAC_OVERRIDE 1, KILL 5, SETGID 6, SETUID 7, NET_BIND_SERVICE 10,
# NET_ADMIN 12, NET_RAW 13, SYS_CHROOT 18, SYS_ADMIN 21.
declare -A want_caps=([r1]=00000000002434e3 [h1]=0000000000003000)
for node in r1 h1; do
  status=$(in_node "$node" 'cat /proc/self/status')
  grep -q "^CapEff:[[:space:]]*${want_caps[$node]}\$" <<<"$status" ||
    fail "$node: CapEff is not ${want_caps[$node]}: $(grep ^Cap <<<"$status" | tr '\n' ' ')"
  grep -q "^CapBnd:[[:space:]]*${want_caps[$node]}\$" <<<"$status" ||
    fail "$node: CapBnd is not ${want_caps[$node]}: $(grep ^CapBnd <<<"$status")"
  grep -q '^Seccomp:[[:space:]]*2$' <<<"$status" || fail "$node: no seccomp filter: $(grep ^Seccomp <<<"$status")"
  grep -q '^NoNewPrivs:[[:space:]]*1$' <<<"$status" || fail "$node: NoNewPrivs is not set"
  for ns in mnt pid net ipc uts cgroup; do
    mine=$(in_node "$node" "readlink /proc/self/ns/$ns")
    [[ -n $mine && $mine != "$(readlink /proc/1/ns/$ns)" ]] ||
      fail "$node shares the host's $ns namespace ($mine)"
  done
  # Every bind mount comes from Docker's own files or ltb's lab directory (in this test's state
  # directory), or is one of the /proc paths Docker masks: the root of each mount within its file
  # system is /, or under one of them (/tmp and /var/lib/docker are on the root file system here).
  # /dev/console is the node's terminal (containers have one, as containerlab makes them): a pty
  # of the node's own devpts, the file system of its /dev/pts.
  mountinfo=$(in_node "$node" 'cat /proc/self/mountinfo')
  own_pts=$(awk '$5 == "/dev/pts" { print $3 }' <<<"$mountinfo")
  [[ -n $own_pts ]] || fail "$node has no /dev/pts of its own"
  while read -r _ _ device root point _; do
    case $root:$point in
    /:* | *:/proc/* | /var/lib/docker/containers/*:/etc/* | "$IT_TMP/state/labs/"*) ;;
    /[0-9]*:/dev/console) [[ $device == "$own_pts" ]] || fail "$node's console is not a pty of its own devpts" ;;
    *) fail "$node mounts $root of the host at $point" ;;
    esac
  done <<<"$mountinfo"
done

log "escapes, from inside the nodes"
host_dev=$(findmnt -no SOURCE / | head -1)
# The host's own interfaces (the node has none of these names: its ip link finds no such device).
host_ifaces=$(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^(docker0|br-|ovs-system)' || true)
[[ -n $host_ifaces ]] || fail "the host has no docker0, br-* or ovs-system interface to try"
echo marker >"$IT_TMP/host-marker"
for node in r1 h1; do
  must_fail "$node" "mounting the host's disk ($host_dev)" "mkdir -p /tmp/m && mount $host_dev /tmp/m"
  must_fail "$node" "making the disk's device node" "mknod /tmp/disk b 8 0"
  must_fail "$node" "mounting anything (tmpfs)" "mkdir -p /tmp/t && mount -t tmpfs none /tmp/t"
  must_fail "$node" "mounting a cgroup hierarchy" "mkdir -p /tmp/c && mount -t cgroup -o memory cgroup /tmp/c"
  must_fail "$node" "a new user namespace" "unshare -U true"
  must_fail "$node" "writing /proc/sysrq-trigger" "echo h >/proc/sysrq-trigger"
  must_fail "$node" "writing a sysctl" "echo 1 >/proc/sys/kernel/panic_on_oops"
  must_fail "$node" "reaching /proc/1/root of the host" "cat /proc/1/root$IT_TMP/host-marker"
  must_fail "$node" "opening the Docker socket" "test -e /var/run/docker.sock || test -e /run/docker.sock"
  for iface in $host_ifaces; do
    must_fail "$node" "ip link on the host's $iface" "ip link set $iface down"
  done
done
# busybox has insmod: it reads the file and calls init_module, which needs CAP_SYS_MODULE.
in_node h1 'head -c 4096 /dev/zero >/tmp/x.ko; insmod /tmp/x.ko' >"$IT_TMP/escape.out" 2>&1 &&
  fail "h1 loaded a kernel module: $(cat "$IT_TMP/escape.out")"
grep -qi 'not permitted' "$IT_TMP/escape.out" ||
  fail "h1's insmod did not fail for want of permission: $(cat "$IT_TMP/escape.out")"

log "another lab's management network is out of reach"
in_node r1 "ping -c 1 -W 2 192.168.10.11" >/dev/null || fail "r1 cannot ping h1 (the control)"
for node in r1 h1; do
  must_fail "$node" "pinging a node of another lab (172.20.233.10)" "ping -c 2 -W 1 172.20.233.10"
done
# The host reaches both (so the address is right).
ping -c 1 -W 2 172.20.233.10 >/dev/null || fail "the host cannot ping x1 at 172.20.233.10"

expect_rc 0 as_user down --lab "$lab"
[[ -z $(docker ps -aq --filter "label=ltb.owner=$user") ]] || fail "the user's lab left containers"
