#!/usr/bin/env bash
# The access files with the real clients, as users run them: Debian's ansible on the generated
# inventory.yml of examples/frr-ospf.yaml. The FRR routers over network_cli (frr.frr, with the lab's
# key: no password, so no sshpass), the busybox hosts (no sshd) over Docker's connection, `ssh -F
# ssh_config` to every node that has sshd, and none of them touches ~/.ssh/known_hosts; `ltb down`
# leaves nothing, not even Ansible's persistent connections.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_frr" "$k_busybox"
for tool in ansible ansible-inventory ssh; do
  command -v "$tool" >/dev/null ||
    fail "$tool is missing (Debian's packages ansible and openssh-client; scripts/setup.sh deps installs them)"
done
# The Python that runs ansible (its shebang: Debian's /usr/bin/python3, not one a PATH puts first).
ansible_python=$(sed -n '1s/^#! *//p' "$(command -v ansible)" | awk '{print $1}')
"${ansible_python:-/usr/bin/python3}" -c 'import paramiko' 2>/dev/null ||
  fail "python3-paramiko is missing for ${ansible_python:-/usr/bin/python3} (network_cli needs it; scripts/setup.sh deps installs it)"

lab=it-ansible
track_lab "$lab"
example="$LTB_SOURCE_DIR/examples/frr-ospf.yaml"
file="$IT_TMP/frr-ospf.yaml"
grep -q '^  ipv4-subnet: 172\.20\.30\.0/24$' "$example" ||
  fail "$example no longer pins mgmt ipv4-subnet 172.20.30.0/24; update this test"
sed 's|^  ipv4-subnet: 172\.20\.30\.0/24$|  ipv4-subnet: 172.20.226.0/24|' "$example" >"$file"
cp -r "$LTB_SOURCE_DIR/examples/frr-ospf" "$IT_TMP/"
labdir="$IT_TMP/state/labs/$lab"
inventory=$labdir/inventory.yml

# Ansible's own files stay in this test's directory; the user's ~/.ssh/known_hosts must not change.
export ANSIBLE_LOCAL_TEMP=$IT_TMP/ansible/tmp ANSIBLE_PERSISTENT_CONTROL_PATH_DIR=$IT_TMP/ansible/pc
export ANSIBLE_SSH_CONTROL_PATH_DIR=$IT_TMP/ansible/cp ANSIBLE_NOCOLOR=1
export ANSIBLE_LOAD_CALLBACK_PLUGINS=1 ANSIBLE_STDOUT_CALLBACK=json
# An idle network_cli connection (ansible-connection) ends after this many seconds.
export ANSIBLE_PERSISTENT_CONNECT_TIMEOUT=10
known_hosts_before=$(md5sum ~/.ssh/known_hosts 2>/dev/null || echo none)
cd "$IT_TMP" # no ansible.cfg of the caller's directory

expect_rc 0 ltb up "$file" --lab "$lab"
[[ -f $inventory ]] || fail "no $inventory after ltb up"
if grep -q ansible_password "$inventory"; then
  fail "the inventory sets a password although the lab's key logs in (Ansible then needs sshpass): $(grep -n ansible_password "$inventory")"
fi

log "Ansible's reader: per-kind connections and groups"
hostvar() { ansible-inventory -i "$inventory" --host "$1" | jq -r --arg v "$2" '.[$v] // "none"'; }
for router in r1 r2 r3; do
  [[ $(hostvar "$router" ansible_connection) == ansible.netcommon.network_cli ]] ||
    fail "$router's ansible_connection is $(hostvar "$router" ansible_connection), not network_cli"
  [[ $(hostvar "$router" ansible_network_os) == frr.frr.frr ]] || fail "$router has no ansible_network_os frr.frr.frr"
done
for host in h1 h2; do
  [[ $(hostvar "$host" ansible_connection) == community.docker.docker ]] ||
    fail "$host (no sshd) is not reached through Docker: ansible_connection $(hostvar "$host" ansible_connection)"
  [[ $(hostvar "$host" ansible_host) == "$(container_name "$lab" "$host")" ]] ||
    fail "$host's ansible_host is $(hostvar "$host" ansible_host), not its container"
done
expect_rc 0 ansible-inventory -i "$inventory" --list
jq -e '(.frr.hosts | sort) == ["r1","r2","r3"] and (.linux.hosts | sort) == ["h1","h2"]' "$IT_TMP/out" >/dev/null ||
  fail "the kind groups frr and linux are not r1-r3 and h1-h2: $(jq -c 'del(._meta)' "$IT_TMP/out")"
jq -e '._meta.hostvars | has("sw1") | not' "$IT_TMP/out" >/dev/null || fail "the inventory lists the bridge sw1"

full_neighbours() {
  cexec "$lab" "$1" vtysh -c 'show ip ospf neighbor' 2>/dev/null | grep -c ' Full/' || true
}
two_full() { [[ $(full_neighbours "$1") -eq 2 ]]; }
for router in r1 r2 r3; do
  wait_until 60 two_full "$router" || fail "$router has no 2 Full OSPF neighbours after 60 s"
done

# ansible OUT ARGS...: the ad hoc command's JSON (the json callback) in $IT_TMP/OUT.json.
run_ansible() {
  local out=$1 start
  shift
  start=$(date +%s%N)
  expect_rc 0 ansible -i "$inventory" "$@"
  cp "$IT_TMP/out" "$IT_TMP/$out.json"
  log "ansible $* took $((($(date +%s%N) - start) / 1000000)) ms"
}
# stdout_of OUT HOST: that host's stdout in the JSON of run_ansible.
stdout_of() { jq -r --arg h "$2" '.plays[0].tasks[0].hosts[$h].stdout // ""' "$IT_TMP/$1.json"; }

log "FRR over network_cli: show ip ospf neighbor, show version"
run_ansible ospf frr -m ansible.netcommon.cli_command -a 'command="show ip ospf neighbor"'
for router in r1 r2 r3; do
  [[ $(stdout_of ospf "$router" | grep -c ' Full/') -eq 2 ]] ||
    fail "$router's show ip ospf neighbor through Ansible has no 2 Full neighbours: $(stdout_of ospf "$router")"
done
run_ansible version frr -m frr.frr.frr_facts -a 'gather_subset=default'
for router in r1 r2 r3; do
  hostname=$(jq -r --arg h "$router" '.plays[0].tasks[0].hosts[$h].ansible_facts.ansible_net_hostname // ""' "$IT_TMP/version.json")
  version=$(jq -r --arg h "$router" '.plays[0].tasks[0].hosts[$h].ansible_facts.ansible_net_version // ""' "$IT_TMP/version.json")
  [[ $hostname == "$router" && -n $version ]] ||
    fail "frr_facts of $router: hostname '$hostname', version '$version': $(jq -c --arg h "$router" '.plays[0].tasks[0].hosts[$h]' "$IT_TMP/version.json")"
done

log "busybox hosts over Docker's connection"
# busybox's ip has no -br: -o (one line per address) instead.
run_ansible addr linux -m raw -a 'ip -o -4 addr show dev eth1'
stdout_of addr h1 | grep -Eq 'eth1 +inet 192\.168\.10\.11/24' || fail "h1's addresses through Ansible: $(stdout_of addr h1)"
stdout_of addr h2 | grep -Eq 'eth1 +inet 192\.168\.10\.12/24' || fail "h2's addresses through Ansible: $(stdout_of addr h2)"

log "ssh -F ssh_config to every node with sshd, and only those"
with_sshd=$(jq -r '.nodes[] | select(.connection == "ssh") | .name' "$labdir/topology-data.json" | sort | paste -sd ' ')
[[ $with_sshd == "r1 r2 r3" ]] || fail "topology-data.json says the nodes with sshd are '$with_sshd', not r1 r2 r3"
for node in $with_sshd; do
  expect_rc 0 ssh -F "$labdir/ssh_config" -o BatchMode=yes -o ConnectTimeout=10 "$node" true
done
for node in h1 h2 sw1; do
  if grep -Eq "^Host $node " "$labdir/ssh_config"; then fail "ssh_config has a Host block for $node"; fi
done
grep -q '^# Not here, having no ssh server: h1, h2 ' "$labdir/ssh_config" ||
  fail "ssh_config does not say that h1 and h2 have no ssh server: $(head -5 "$labdir/ssh_config")"

[[ $(md5sum ~/.ssh/known_hosts 2>/dev/null || echo none) == "$known_hosts_before" ]] ||
  fail "$HOME/.ssh/known_hosts changed: the lab's host keys belong in its own known_hosts"

expect_rc 0 ltb down "$file" --lab "$lab"
assert_lab_gone "$lab"
# Ansible's persistent network_cli connections: their sockets go when they end (idle timeout).
no_sockets() { [[ -z $(find "$ANSIBLE_PERSISTENT_CONTROL_PATH_DIR" -type s 2>/dev/null) ]]; }
wait_until 30 no_sockets ||
  fail "Ansible's persistent connections are still up: $(find "$ANSIBLE_PERSISTENT_CONTROL_PATH_DIR" -type s)"
log "passed in $((($(date +%s%N) - IT_START) / 1000000)) ms"
