#!/usr/bin/env bash
# A confined lab's VM (ltb-topology(5), CONFINEMENT): its management address comes by DHCP from
# ltb's dnsmasq, which the host firewall lets through (the lab's rules say so: ltb:LAB:dhcp), the
# host reaches it (ping, ltb exec over ssh), and from it the host does not answer over IPv4 or
# its bridge's IPv6 link-local address; without the rules (removed by hand: the control) it
# does, and `ltb up` puts them back. After `ltb down` no rule of the lab is left.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
for tool in useradd iptables ip6tables python3 virsh; do
  command -v "$tool" >/dev/null || fail "$tool is missing"
done
virsh -c qemu:///system version >/dev/null 2>&1 || fail "libvirtd does not answer; start it (scripts/setup.sh services)"

user=ltbfwvm$$
useradd --no-create-home --shell /usr/sbin/nologin "$user" || fail "cannot make Unix user $user"
uid=$(id -u "$user")
as_user() { LTB_CALLER_UID=$uid ltb "$@"; }
lab=it-fw-vm
id=${user}__$lab
port=$((20000 + $$ % 20000))
on_cleanup "LTB_CALLER_UID=$uid $LTB --state $LTB_STATE --quiet --wait 30 down --lab $lab"
on_cleanup "userdel $user"
expect_rc 0 ltb user add "$user" --role user

cat >"$IT_TMP/$lab.yaml" <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.249.0/24
topology:
  nodes:
    vm1:
      kind: vm
      accel: qemu
      mgmt-ipv4: 172.20.249.10
      cmdline: "ltb.mgmt=dhcp"
EOF
gw=172.20.249.1
vm_ip=172.20.249.10
rules_of() {
  iptables -S | grep -E -- "--comment \"?ltb:$1(:[a-z]+)?\"? " | sed 's/^/4 /' || true
  ip6tables -S | grep -E -- "--comment \"?ltb:$1(:[a-z]+)?\"? " | sed 's/^/6 /' || true
}

expect_rc 0 as_user up "$IT_TMP/$lab.yaml"
bridge=lm$(lab_hash "$id")
rules=$(rules_of "$id")
grep -q "^4 -A LTB-INPUT -i $bridge -p udp -m udp --dport 67 -m comment --comment \"ltb:$id:dhcp\" -j ACCEPT$" <<<"$rules" ||
  fail "the VM lab's rules do not let DHCP through: $rules"
[[ $(grep -c '^4 ' <<<"$rules") -eq 6 && $(grep -c '^6 ' <<<"$rules") -eq 7 ]] ||
  fail "the VM lab has not 6 IPv4 and 7 IPv6 rules: $rules"

log "vm1 gets its address by DHCP through the rules"
console=$IT_TMP/state/labs/$id/vm1/console.log
wait_until 180 grep -q "eth0 has $vm_ip/24 from DHCP" "$console" ||
  fail "vm1 did not get $vm_ip by DHCP: console: $(grep -a -E 'udhcpc|ltb-vm' "$console" | tail -5); DHCP server: $(tail -3 "$IT_TMP/state/labs/$id/dnsmasq.log")"
wait_until 60 ping -c 1 -W 1 "$vm_ip" || fail "the host cannot ping vm1 at $vm_ip"
wait_until 180 as_user exec --lab "$lab" -n vm1 -- true ||
  fail "ltb exec vm1 (ssh from the host) does not work: $(as_user exec --lab "$lab" -n vm1 -- true 2>&1)"

log "from vm1, the host does not answer"
python3 -m http.server --bind "$gw" "$port" --directory "$IT_TMP" >/dev/null 2>&1 &
track_pid $!
echo hello >"$IT_TMP/hello.txt"
wait_until 20 curl -fsS --max-time 2 "http://$gw:$port/hello.txt" || fail "the listener on $gw did not start"
in_vm() { as_user exec --lab "$lab" -n vm1 -- sh -c "$1"; }
must_fail() {
  if in_vm "$2" >"$IT_TMP/try.out" 2>&1; then
    fail "from vm1, $1 worked: $(head -c 300 "$IT_TMP/try.out")"
  fi
  log "from vm1, $1 fails: $(head -c 150 "$IT_TMP/try.out" | tr '\n' ' ')"
}
in_vm "ping -c 1 -W 2 $vm_ip" >/dev/null || fail "vm1 cannot ping itself (the control of its ping)"
must_fail "pinging the host at $gw" "ping -c 2 -W 1 $gw"
must_fail "TCP to the host's listener at $gw" "nc -w 3 $gw $port </dev/null"
must_fail "HTTP to the host's listener at $gw" "wget -q -O - http://$gw:$port/hello.txt"
gw6=$(ip -o -6 addr show dev "$bridge" scope link | awk '{print $4}' | cut -d/ -f1 | head -1)
v6=
if in_vm "ip -6 addr show dev eth0 | grep -q fe80" >/dev/null 2>&1; then
  v6=yes
  [[ -n $gw6 ]] || fail "the bridge $bridge has no IPv6 link-local address"
  must_fail "pinging the host's $gw6 over IPv6" "ping -6 -c 2 -W 1 $gw6%eth0"
else
  log "vm1 has no IPv6 link-local address on eth0: the IPv6 rules are checked above only"
fi

log "the control: without the lab's rules vm1 reaches the host; ltb up puts them back"
for tool in iptables ip6tables; do
  $tool -S LTB-INPUT | grep -E -- "--comment \"?ltb:$id(:dhcp)?\"? " | while read -r rule; do
    eval "$tool ${rule/-A /-D }"
  done
done
[[ -z $(rules_of "$id") ]] || fail "the test could not remove the lab's rules: $(rules_of "$id")"
retry 5 in_vm "ping -c 1 -W 2 $gw" >/dev/null || fail "without the rules, vm1 cannot ping the host either (so the checks above prove nothing)"
in_vm "wget -q -O - http://$gw:$port/hello.txt" >/dev/null ||
  fail "without the rules, vm1 cannot fetch from the host's listener either"
if [[ -n $v6 ]]; then
  retry 5 in_vm "ping -6 -c 1 -W 2 $gw6%eth0" >/dev/null ||
    fail "without the rules, vm1 cannot ping the host's $gw6 either"
fi
expect_rc 0 as_user up "$IT_TMP/$lab.yaml"
[[ $(rules_of "$id" | grep -c .) -eq 13 ]] || fail "ltb up did not put the rules back: $(rules_of "$id")"
must_fail "pinging the host at $gw with the rules back" "ping -c 2 -W 1 $gw"
[[ -z $v6 ]] || must_fail "pinging the host's $gw6 with the rules back" "ping -6 -c 2 -W 1 $gw6%eth0"

expect_rc 0 as_user down --lab "$lab"
[[ -z $(rules_of "$id") ]] || fail "ltb down left rules of the VM lab: $(rules_of "$id")"
