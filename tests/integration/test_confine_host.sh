#!/usr/bin/env bash
# The nodes of a confined lab (a non-admin's) cannot reach the host over the management network
# (ltb-topology(5), CONFINEMENT): a Unix user made here (removed afterwards) deploys a router and
# a host; from them, TCP, ICMP and HTTP to a listener on the host's address on their management
# bridge (and the host's other addresses) fail, over IPv4 and the bridge's IPv6 link-local
# address (from a namespace plugged into the bridge, as a VM's NIC is), while the host still
# pings them and `ltb ssh` / `ltb exec` work. An admin's lab reaches the same kind of listener
# (the control). A rule removed by hand is made again by `ltb up`, rules all gone by
# `ltb start`; after `ltb down`, and after a `ltb down` that had no state, no rule of the lab is
# left in iptables or ip6tables.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_frr" "$k_busybox"
for tool in useradd iptables ip6tables python3; do
  command -v "$tool" >/dev/null || fail "$tool is missing"
done

user=ltbfw$$
useradd --no-create-home --shell /usr/sbin/nologin "$user" || fail "cannot make Unix user $user"
uid=$(id -u "$user")
as_user() { LTB_CALLER_UID=$uid ltb "$@"; }

lab=it-fw
id=${user}__$lab # the lab's id on the host (owners.hpp): its rules' comment names it
admin=it-fw-admin
port=$((20000 + $$ % 20000))
on_cleanup "LTB_CALLER_UID=$uid $LTB --state $LTB_STATE --quiet --wait 30 down --lab $lab"
on_cleanup "userdel $user"
track_lab "$admin"
expect_rc 0 ltb user add "$user" --role user

# topology NAME THIRD-OCTET: a router (sshd) and a busybox host on 172.20.THIRD.0/24.
topology() {
  cat >"$IT_TMP/$1.yaml" <<EOF
name: $1
mgmt:
  ipv4-subnet: 172.20.$2.0/24
topology:
  nodes:
    r1:
      kind: frr
      mgmt-ipv4: 172.20.$2.10
    h1:
      kind: linux
      image: $k_busybox
      mgmt-ipv4: 172.20.$2.11
  links:
    - endpoints: ["h1:eth1", "r1:eth1"]
EOF
}
topology "$lab" 246
topology "$admin" 247
gw=172.20.246.1
admin_gw=172.20.247.1

# rules_of ID: the lab's rules in both families ("4 RULE" / "6 RULE" lines).
rules_of() {
  iptables -S | grep -E -- "--comment \"?ltb:$1(:[a-z]+)?\"? " | sed 's/^/4 /' || true
  ip6tables -S | grep -E -- "--comment \"?ltb:$1(:[a-z]+)?\"? " | sed 's/^/6 /' || true
}

expect_rc 0 as_user up "$IT_TMP/$lab.yaml"
expect_rc 0 ltb up "$IT_TMP/$admin.yaml"
bridge=lm$(lab_hash "$id")
admin_bridge=lm$(lab_hash "$admin")
ip -o -4 addr show dev "$bridge" | grep -q " $gw/" || fail "the user's bridge $bridge has no $gw"

log "ltb inspect says which lab is confined, and where the host refuses its traffic"
expect_rc 0 ltb inspect "$id"
expect_output out "^confined: +yes \(no privileged mode.*the host refuses its nodes' traffic on $bridge\)$"
expect_rc 0 ltb inspect "$id" --format json
jq -e --arg b "$bridge" '.confined == true and .host_firewall.interface == $b' "$IT_TMP/out" >/dev/null ||
  fail "inspect --format json: $(jq -c '{confined, host_firewall}' "$IT_TMP/out")"
expect_rc 0 ltb inspect "$admin"
expect_output out "^confined: +no \(an admin's"

log "the rules: in LTB-INPUT, reached first from INPUT, tagged with the lab's id"
rules=$(rules_of "$id")
[[ $(grep -c '^4 ' <<<"$rules") -eq 5 && $(grep -c '^6 ' <<<"$rules") -eq 7 ]] ||
  fail "the user's lab has not 5 IPv4 and 7 IPv6 rules: $rules"
hash=$(lab_hash "$id")
grep -Ev -- "^[46] -A LTB-INPUT -i ($bridge|lv$hash\\+|lb$hash\\+) " <<<"$rules" | grep . &&
  fail "a rule of the user's lab is not in LTB-INPUT for $bridge or its link interfaces"
[[ $(grep -c -- "-i lv$hash+ .* -j DROP$" <<<"$rules") -eq 2 && $(grep -c -- "-i lb$hash+ .* -j DROP$" <<<"$rules") -eq 2 ]] ||
  fail "the lab's link interfaces (lv$hash+, lb$hash+) are not dropped in both families: $rules"
for tool in iptables ip6tables; do
  [[ $($tool -S INPUT | grep -m1 -- '^-A INPUT') == "-A INPUT -j LTB-INPUT" ]] ||
    fail "$tool: INPUT does not jump to LTB-INPUT first: $($tool -S INPUT | tr '\n' ';')"
done
[[ -z $(rules_of "$admin") ]] || fail "the admin's lab has host firewall rules: $(rules_of "$admin")"

log "listeners on the host, on the gateway addresses only"
python3 -m http.server --bind "$gw" "$port" --directory "$IT_TMP" >/dev/null 2>&1 &
track_pid $!
python3 -m http.server --bind "$admin_gw" "$port" --directory "$IT_TMP" >/dev/null 2>&1 &
track_pid $!
echo hello >"$IT_TMP/hello.txt"
listening() { curl -fsS --max-time 2 "http://$1:$port/hello.txt" >/dev/null; }
wait_until 20 listening "$gw" || fail "the listener on $gw did not start"
wait_until 20 listening "$admin_gw" || fail "the listener on $admin_gw did not start"

in_node() { as_user exec --lab "$lab" -n "$1" -- sh -c "$2"; }
must_fail() {
  if in_node "$1" "$3" >"$IT_TMP/try.out" 2>&1; then
    fail "from $1, $2 worked: $(head -c 300 "$IT_TMP/try.out")"
  fi
  log "from $1, $2 fails: $(head -c 150 "$IT_TMP/try.out" | tr '\n' ' ')"
}

# tcp_to NODE-KIND ADDRESS: a TCP connection from a node's shell (busybox nc in h1, bash's
# /dev/tcp in the FRR router, whose image has no nc).
tcp_to() {
  case $1 in
  h1) echo "nc -w 3 $2 $port </dev/null" ;;
  r1) echo "timeout 5 bash -c 'exec 3<>/dev/tcp/$2/$port'" ;;
  esac
}

log "the admin's lab reaches its gateway's listener (the control)"
fetched() { [[ $(cexec "$admin" h1 timeout 5 wget -q -O - "http://$admin_gw:$port/hello.txt") == hello ]]; }
retry 5 fetched || fail "the admin's h1 cannot fetch from the host's listener at $admin_gw: $(cexec "$admin" h1 timeout 5 wget -O - "http://$admin_gw:$port/hello.txt" 2>&1)"
for node in h1 r1; do
  cexec "$admin" "$node" sh -c "$(tcp_to "$node" "$admin_gw")" ||
    fail "the admin's $node cannot open a TCP connection to $admin_gw:$port"
  cexec "$admin" "$node" ping -c 1 -W 2 "$admin_gw" >/dev/null || fail "the admin's $node cannot ping $admin_gw"
done

log "the user's nodes do not reach the host"
docker0=$(ip -o -4 addr show dev docker0 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)
must_fail h1 "HTTP to the host's listener at $gw" "timeout 5 wget -q -O - http://$gw:$port/hello.txt"
must_fail h1 "HTTP to the admin lab's gateway $admin_gw" "timeout 5 wget -q -O - http://$admin_gw:$port/hello.txt"
for node in h1 r1; do
  must_fail "$node" "TCP to the host's listener at $gw" "$(tcp_to "$node" "$gw")"
  must_fail "$node" "TCP to the admin lab's gateway $admin_gw" "$(tcp_to "$node" "$admin_gw")"
  must_fail "$node" "pinging the host at $gw" "ping -c 2 -W 1 $gw"
  if [[ -n $docker0 ]]; then
    must_fail "$node" "pinging the host's docker0 address $docker0" "ping -c 2 -W 1 $docker0"
  fi
done
# The refusal is the firewall's: TCP gets a reset at once, not a timeout.
start=$(date +%s)
in_node h1 "nc -w 5 $gw $port </dev/null" >/dev/null 2>&1 && fail "h1 connected to $gw:$port"
(($(date +%s) - start < 4)) || fail "h1's connection to $gw:$port was not refused at once (dropped?)"

log "IPv6: the host's link-local address on each bridge, from a namespace plugged into it"
# Docker gives containers on a network without IPv6 none at all (disable_ipv6), but a VM's NIC on
# the bridge has it: a veth into a namespace of the test's, plugged into one bridge and then the
# other, stands for one (as libvirt plugs a VM's tap).
[[ $(cexec "$admin" h1 cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6 2>/dev/null || echo 1) == 1 ]] ||
  log "note: the nodes' containers have IPv6 here"
ns=ltbfw6$$
host_end=fw6h$$
ip netns add "$ns" || fail "cannot make namespace $ns"
ip link add "$host_end" type veth peer name fw6n netns "$ns" || fail "cannot make veth $host_end"
on_cleanup "ip link del $host_end"
on_cleanup "ip netns del $ns"
ip -n "$ns" link set lo up
ip -n "$ns" link set fw6n up
link_local() { ip -o -6 addr show dev "$1" scope link | grep -v tentative | awk '{print $4}' | cut -d/ -f1 | head -1; }
# plug BRIDGE: the veth on BRIDGE, once both link-local addresses are usable; prints the host's.
plug() {
  ip link set "$host_end" nomaster
  ip link set "$host_end" master "$1" up || fail "cannot plug $host_end into $1"
  ready() { [[ -n $(link_local "$1") && -z $(ip -n "$ns" -o -6 addr show dev fw6n tentative) ]]; }
  wait_until 20 ready "$1" || fail "no usable IPv6 link-local address on $1 and in $ns"
  link_local "$1"
}
in_ns() { ip netns exec "$ns" "$@"; }
v6_listen() {
  python3 -m http.server --bind "$1%$2" "$port" --directory "$IT_TMP" >/dev/null 2>&1 &
  track_pid $!
  wait_until 20 curl -fsS --max-time 2 -g "http://[$1%25$2]:$port/hello.txt" ||
    fail "the listener on [$1%$2] did not start"
}
admin_gw6=$(plug "$admin_bridge")
v6_listen "$admin_gw6" "$admin_bridge"
retry 5 in_ns ping -6 -c 1 -W 2 "$admin_gw6%fw6n" >/dev/null ||
  fail "from a namespace on the admin's bridge, the host's $admin_gw6 does not answer pings (the control)"
in_ns curl -fsS --max-time 3 -g "http://[$admin_gw6%25fw6n]:$port/hello.txt" >/dev/null ||
  fail "from a namespace on the admin's bridge, HTTP to [$admin_gw6] fails (the control)"
gw6=$(plug "$bridge")
v6_listen "$gw6" "$bridge"
in_ns ping -6 -c 2 -W 1 "$gw6%fw6n" >"$IT_TMP/try.out" 2>&1 &&
  fail "from the user's bridge, the host's $gw6 answers pings: $(cat "$IT_TMP/try.out")"
in_ns curl -fsS --max-time 3 -g "http://[$gw6%25fw6n]:$port/hello.txt" >"$IT_TMP/try.out" 2>&1 &&
  fail "from the user's bridge, HTTP to the host's [$gw6] works"
grep -Eq "refused|reset|Couldn.t connect" "$IT_TMP/try.out" ||
  fail "HTTP to [$gw6] from the user's bridge failed otherwise than refused: $(cat "$IT_TMP/try.out")"
log "from the user's bridge, IPv6 to the host's $gw6 fails: $(head -c 150 "$IT_TMP/try.out")"
ip link set "$host_end" nomaster

log "the host still reaches the user's nodes: ping, ltb ssh, ltb exec"
ping -c 1 -W 2 172.20.246.11 >/dev/null || fail "the host cannot ping the user's h1"
retry 10 as_user ssh --lab "$lab" r1 -- true || fail "ltb ssh to the user's r1 fails"
[[ $(as_user exec --lab "$lab" -n h1 -- echo ok) == ok ]] || fail "ltb exec in the user's h1 fails"

log "nor over a data link whose host end is a plain interface (the impairment relay's)"
# h1 routes to the host's gateway address over eth1, with its management address as the
# source: the host's answers would come back over the management bridge. An impaired link goes
# through ltb's relay on a kernel without netem (this one): its host ends are then plain host
# interfaces, which answer ARP for the host's addresses.
expect_rc 0 as_user link set --lab "$lab" h1:eth1 --delay 1ms
plain_end=
for end in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^lv$hash" || true); do
  [[ -n $(tc filter show dev "$end" ingress 2>/dev/null) ]] || plain_end=$end
done
via_link="ip link set eth1 up && ip route add $gw/32 dev eth1 src 172.20.246.11 && nc -w 3 $gw $port </dev/null; rc=\$?; ip route del $gw/32 dev eth1; exit \$rc"
if [[ -n $plain_end ]]; then
  must_fail h1 "TCP to the host's $gw over the data link (host end $plain_end)" "$via_link"
  # The control: without the rule that drops what comes in on the lab's link interfaces.
  dropping=$(iptables -S LTB-INPUT | grep -E -- "-i lv$hash\+ .*--comment \"?ltb:$id\"? ")
  eval "iptables ${dropping/-A /-D }" || fail "cannot remove the rule '$dropping' by hand"
  in_node h1 "$via_link" >"$IT_TMP/try.out" 2>&1 ||
    fail "without the lab's link rule, h1 does not reach the host over the data link either (so the check above proves nothing): $(cat "$IT_TMP/try.out")"
  expect_rc 0 as_user up "$IT_TMP/$lab.yaml"
  must_fail h1 "TCP to the host's $gw over the data link with the rules back" "$via_link"
else
  log "the link's host ends are redirected or absent here (netem): no way to the host over it"
fi

log "a rule removed by hand is made again by ltb up"
last=$(iptables -S LTB-INPUT | grep -E -- "-i $bridge .*--comment \"?ltb:$id\"? .*icmp-admin-prohibited")
eval "iptables ${last/-A /-D }" || fail "cannot remove the rule '$last' by hand"
in_node h1 "ping -c 1 -W 1 $gw" >/dev/null 2>&1 || fail "the test's rule removal did not open the way (so the check below proves nothing)"
expect_rc 0 as_user up --dry-run "$IT_TMP/$lab.yaml"
expect_output out "close the host to the nodes on $bridge \\[firewall missing \\(removed outside ltb\\)\\]"
[[ $(grep -c . "$IT_TMP/out") -le 2 ]] || fail "ltb up --dry-run plans more than the rules: $(cat "$IT_TMP/out")"
expect_rc 0 as_user up "$IT_TMP/$lab.yaml"
[[ $(rules_of "$id" | grep -c '^4 ') -eq 5 ]] || fail "the rules were not made again: $(rules_of "$id")"
must_fail h1 "pinging the host at $gw once the rules are back" "ping -c 2 -W 1 $gw"

log "ltb start makes them again before the nodes run (a reboot empties the tables)"
expect_rc 0 as_user stop "$lab"
for tool in iptables ip6tables; do
  $tool -S LTB-INPUT | grep -E -- "--comment \"?ltb:$id\"? " | while read -r rule; do
    eval "$tool ${rule/-A /-D }"
  done
done
[[ -z $(rules_of "$id") ]] || fail "the test could not remove the lab's rules: $(rules_of "$id")"
expect_rc 0 as_user start "$lab"
rules=$(rules_of "$id")
[[ $(grep -c '^4 ' <<<"$rules") -eq 5 && $(grep -c '^6 ' <<<"$rules") -eq 7 ]] ||
  fail "ltb start did not make the rules again: $rules"
must_fail h1 "pinging the host at $gw after ltb start" "ping -c 2 -W 1 $gw"

log "ltb down removes them"
expect_rc 0 as_user down --lab "$lab"
[[ -z $(rules_of "$id") ]] || fail "ltb down left rules of the user's lab: $(rules_of "$id")"

log "ltb down without state finds them by their comment"
expect_rc 0 ltb down --lab "$admin"
expect_rc 0 as_user up "$IT_TMP/$lab.yaml"
[[ -n $(rules_of "$id") ]] || fail "the user's lab has no rules after a second up"
rm -f "$LTB_STATE" "$LTB_STATE-wal" "$LTB_STATE-shm"
expect_rc 0 ltb down --lab "$id"
[[ -z $(rules_of "$id") ]] || fail "ltb down without state left rules: $(rules_of "$id")"
[[ -z $(docker ps -aq --filter "label=ltb.lab=$id") ]] || fail "ltb down without state left containers"
