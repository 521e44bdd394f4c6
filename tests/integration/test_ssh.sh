#!/usr/bin/env bash
# `ltb ssh` and the access files, against a copy of the FRR example and of the mixed VM lab:
# commands with their exit status and separate stdout/stderr, an interactive session through tmux
# (window size changes, the terminal restored after exit and after SIGTERM), the lab's key
# installed in the nodes, the generated ssh_config with the system ssh, known_hosts after a node
# is recreated and with a hand-edited key, the errors (unknown node, bridge, no ssh server, node
# stopped, wrong password), a VM reached over ssh, and the files gone after `ltb down`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_frr" "$k_busybox"
command -v tmux >/dev/null || fail "tmux is missing (scripts/setup.sh deps installs it)"
command -v ssh >/dev/null || fail "the OpenSSH client is missing (apt-get install openssh-client)"

lab=ltbtest-ssh-frr
track_lab "$lab"
cp -r "$LTB_SOURCE_DIR/examples/frr-ospf" "$IT_TMP/frr-ospf"
file="$IT_TMP/frr.yaml"
sed -e "s/^name: .*/name: $lab/" -e 's|ipv4-subnet: .*|ipv4-subnet: 172.20.41.0/24|' \
  "$LTB_SOURCE_DIR/examples/frr-ospf.yaml" >"$file"
grep -q "172.20.41.0/24" "$file" || fail "could not set the subnet in the copy of the example"
labdir="$IT_TMP/state/labs/$lab"

expect_rc 0 ltb up "$file"

log "the lab's key pair and access files exist, private"
for f in id_ed25519 id_ed25519.pub logins.json ssh_config inventory.yml topology-data.json; do
  [[ -f $labdir/$f ]] || fail "$labdir/$f is missing after ltb up"
  [[ $(stat -c %a "$labdir/$f") == 600 ]] || fail "$labdir/$f has mode $(stat -c %a "$labdir/$f"), not 600"
done
pubkey=$(cat "$labdir/id_ed25519.pub")
cexec "$lab" r1 cat /root/.ssh/authorized_keys | grep -qxF "$pubkey" ||
  fail "the lab's public key is not in r1's /root/.ssh/authorized_keys"
# For root it is a bind of the lab's file (nothing is run in the container), read-write.
docker inspect --format '{{range .Mounts}}{{.Source}}>{{.Destination}}>{{.RW}} {{end}}' \
  "$(container_name "$lab" r1)" | grep -qF "$labdir/r1/authorized_keys>/root/.ssh/authorized_keys>true" ||
  fail "r1's authorized_keys is not the bind of $labdir/r1/authorized_keys: $(docker inspect \
    --format '{{json .Mounts}}' "$(container_name "$lab" r1)")"
jq -e '.nodes[] | select(.name == "r1") | .mgmt_ipv4 | startswith("172.20.41.")' \
  "$labdir/topology-data.json" >/dev/null || fail "topology-data.json has no management address for r1"
grep -q '^    r1:$' "$labdir/inventory.yml" || fail "inventory.yml lists no host r1"
grep -Eq '^Host r1 '"$lab"'-r1$' "$labdir/ssh_config" || fail "ssh_config has no Host block for r1"
if grep -q 'Host sw1' "$labdir/ssh_config"; then fail "ssh_config lists the OVS bridge sw1"; fi
ltb inspect "$lab" --format json >"$IT_TMP/inspect.json" || fail "ltb inspect --format json failed"
jq -e --arg cfg "$labdir/ssh_config" '.access.ssh_config == $cfg and
  (.nodes[] | select(.name == "r1") | .ssh.user == "root" and .ssh.port == 22 and
   (.ssh.host | startswith("172.20.41."))) and
  ([.nodes[] | select(.name == "sw1") | has("ssh")] == [false])' "$IT_TMP/inspect.json" >/dev/null ||
  fail "ltb inspect --format json does not say how to reach the nodes: $(jq -c '.access, [.nodes[] | {name, ssh}]' "$IT_TMP/inspect.json")"
expect_rc 0 ltb inspect "$lab"
expect_output out '^r1 +root +172\.20\.41\.[0-9]+ +22 +frr +ltb/frr:latest +key, password$'
expect_output out "ssh -F $labdir/ssh_config NODE"

log "a command: OSPF neighbours through vtysh, once OSPF has converged"
two_neighbours() { [[ $(ltb ssh r1 -- vtysh -c 'show ip ospf neighbor' | grep -c 'Full/') -eq 2 ]]; }
wait_until 90 two_neighbours ||
  fail "r1 does not show two OSPF neighbours over ltb ssh: $(ltb ssh r1 -- vtysh -c 'show ip ospf neighbor' 2>&1)"
expect_rc 0 ltb ssh r1 -- vtysh -c 'show ip ospf neighbor'
[[ $(grep -c 'Full/' "$IT_TMP/out") -eq 2 ]] || fail "expected two Full neighbours: $(cat "$IT_TMP/out")"
expect_output out '10\.0\.0\.2'
expect_output out '10\.0\.0\.3'
# --lab may be left out (the node name is unique among this user's labs); so may be given.
expect_rc 0 ltb ssh r2 --lab "$lab" -- hostname
[[ $(cat "$IT_TMP/out") == r2 ]] || fail "hostname on r2 printed '$(cat "$IT_TMP/out")'"

log "exit status, stdout and stderr apart, stdin"
expect_rc 7 ltb ssh r1 -- sh -c 'exit 7'
expect_rc 3 ltb ssh r1 -- 'echo to-out; echo to-err >&2; exit 3'
[[ $(cat "$IT_TMP/out") == to-out ]] || fail "stdout was '$(cat "$IT_TMP/out")', expected to-out only"
[[ $(cat "$IT_TMP/err") == to-err ]] || fail "stderr was '$(cat "$IT_TMP/err")', expected to-err only"
out=$(printf 'line one\nline two\n' | ltb ssh r1 -- wc -l) || fail "ltb ssh with stdin failed"
[[ $out == 2 ]] || fail "stdin did not reach the remote command (wc -l printed '$out')"
out=$(printf 'ignored\n' | ltb ssh -n r1 -- wc -l) || fail "ltb ssh -n failed"
[[ $out == 0 ]] || fail "-n still sent stdin (wc -l printed '$out')"
# Large input to commands that read all of it before answering: far more than the remote channel
# window, so ltb must wait for the window to open (it once lost the connection near 10,000 lines).
out=$(seq 1 200000 | ltb ssh r1 -- wc -l) || fail "seq 1 200000 | ltb ssh r1 -- wc -l failed: $out"
[[ $out == 200000 ]] || fail "a large stdin did not all arrive (wc -l printed '$out', expected 200000)"
head -c 20000000 /dev/urandom >"$IT_TMP/random.bin"
want=$(sha256sum <"$IT_TMP/random.bin" | cut -d' ' -f1)
out=$(ltb ssh r1 -- sha256sum <"$IT_TMP/random.bin") || fail "20 MB to ltb ssh r1 -- sha256sum failed: $out"
[[ ${out%% *} == "$want" ]] || fail "20 MB of binary input arrived changed: sha256 '${out%% *}', expected '$want'"
rm -f "$IT_TMP/random.bin"
# A command that reads nothing for longer than --timeout: the input waits for the window as long
# as it takes (it used to be cut short, and lines went missing).
out=$(seq 1 2000000 | ltb ssh --timeout 3 r1 -- 'sleep 6; wc -l') || fail "a slow reader of a large stdin failed: $out"
[[ $out == 2000000 ]] || fail "input was lost while the remote command did not read (wc -l printed '$out', expected 2000000)"
# Many arguments are words for the remote shell, quoted: spaces and quotes come through.
expect_rc 0 ltb ssh r1 -- printf '%s|' "a b" "it's" '$HOME'
[[ $(cat "$IT_TMP/out") == "a b|it's|\$HOME|" ]] || fail "arguments were not passed as words: '$(cat "$IT_TMP/out")'"

log "one-line errors, exit status 255"
expect_rc 255 ltb ssh rr1 --lab "$lab" -- true
expect_output err "lab '$lab' has no node 'rr1'"
expect_output err "did you mean 'r1'\?"
expect_rc 255 ltb ssh rr1 -- true
expect_output err "no node named 'rr1' in any of your labs"
expect_rc 255 ltb ssh sw1 -- true
expect_output err "is an Open vSwitch bridge"
expect_rc 255 ltb ssh h1 -- true # busybox image: no ssh server, known from its kind and labels
expect_output err "node 'h1' of lab '$lab' runs no ssh server \(kind linux, image ltb/busybox:latest\)"
expect_output err "ltb exec h1 -- sh"
[[ $(wc -l <"$IT_TMP/err") -eq 2 ]] || fail "the error is not one line and a help line: $(cat "$IT_TMP/err")"

log "the generated ssh_config works with the system ssh, non-interactively"
expect_rc 0 ssh -F "$labdir/ssh_config" -o BatchMode=yes r1 true
expect_rc 0 ssh -F "$labdir/ssh_config" -o BatchMode=yes "$lab-r3" hostname
[[ $(cat "$IT_TMP/out") == r3 ]] || fail "ssh -F to $lab-r3 reached '$(cat "$IT_TMP/out")'"
[[ ! -s $IT_TMP/err ]] || fail "ssh -F printed on stderr: $(cat "$IT_TMP/err")"

log "an interactive session through tmux: a PTY, window size changes, exit restores the terminal"
session="ltbtest-ssh-$$"
kill_tmux() { tmux kill-session -t "$session" 2>/dev/null || true; }
pane() { tmux capture-pane -t "$session" -p; }
pane_has() { tmux capture-pane -t "$session" -p | grep -Eq "$1"; }
tmux new-session -d -s "$session" -x 120 -y 30 \
  "'$LTB' --state '$LTB_STATE' ssh r1; echo ssh-exit=\$?; stty -a | grep -Eo '(^| )-?icanon'; sleep 60"
wait_until 15 pane_has 'root@r1' || { pane >&2; kill_tmux; fail "no shell prompt from r1"; }
tmux send-keys -t "$session" 'echo inter-$((6*7)); tty; stty size' Enter
wait_until 10 pane_has '^inter-42$' || { pane >&2; kill_tmux; fail "the interactive shell did not run the command"; }
pane_has '^/dev/pts/' || { pane >&2; kill_tmux; fail "the session has no PTY"; }
pane_has '^30 120$' || { pane >&2; kill_tmux; fail "the PTY does not have the window's size (30 120)"; }
tmux resize-window -t "$session" -x 100 -y 40
# The new size reaches the PTY asynchronously: ask until it answers with it.
resized() {
  tmux send-keys -t "$session" 'stty size' Enter
  pane_has '^40 100$'
}
wait_until 10 resized || { pane >&2; kill_tmux; fail "the window size change did not reach the PTY"; }
tmux send-keys -t "$session" 'exit 5' Enter
wait_until 10 pane_has 'ssh-exit=5' || { pane >&2; kill_tmux; fail "the shell's exit status 5 did not come through"; }
wait_until 5 pane_has '^ ?icanon' || { pane >&2; kill_tmux; fail "the terminal is still raw after ltb ssh exited"; }
kill_tmux

log "SIGTERM during an interactive session restores the terminal"
tmux new-session -d -s "$session" -x 120 -y 30 \
  "'$LTB' --state '$LTB_STATE' ssh r1; echo ssh-exit=\$?; stty -a | grep -Eo '(^| )-?icanon'; sleep 60"
wait_until 15 pane_has 'root@r1' || { pane >&2; kill_tmux; fail "no shell prompt from r1 (second session)"; }
shell_pid=$(tmux display-message -t "$session" -p '#{pane_pid}')
ltb_pid=$(pgrep -P "$shell_pid" -x ltb || true)
[[ -n $ltb_pid ]] || { pane >&2; kill_tmux; fail "cannot find the ltb process of the tmux session"; }
kill -TERM "$ltb_pid"
wait_until 10 pane_has 'ssh-exit=143' || { pane >&2; kill_tmux; fail "ltb did not die of SIGTERM"; }
wait_until 5 pane_has '^ ?icanon' || { pane >&2; kill_tmux; fail "the terminal is still raw after SIGTERM"; }
kill_tmux

log "known_hosts: a hand-edited key is refused"
kh="$labdir/known_hosts"
r1_ip=$(jq -r '.nodes[] | select(.name == "r1") | .mgmt_ipv4' "$labdir/topology-data.json")
grep -q "^$r1_ip ssh-ed25519 .* ltb-node=r1 ltb-runtime-id=$(node_id "$lab" r1)\$" "$kh" ||
  fail "known_hosts has no line for r1 with its container id: $(cat "$kh")"
cp "$kh" "$IT_TMP/known_hosts.good"
ssh-keygen -q -t ed25519 -N '' -f "$IT_TMP/otherkey"
other=$(awk '{ print $2 }' "$IT_TMP/otherkey.pub")
sed -i "s|^\($r1_ip ssh-ed25519 \)[^ ]*|\1$other|" "$kh"
expect_rc 255 ltb ssh r1 -- true
expect_output err "the host key of node 'r1' \($r1_ip\) has changed, but ltb has not recreated the node: not connecting"
expect_output err "$kh line [0-9]+ records SHA256:"
cp "$IT_TMP/known_hosts.good" "$kh"
expect_rc 0 ltb ssh r1 -- true

log "a wrong password with the key removed: authentication fails and says what was tried"
sed -i '/^    r1:$/a\      password: wrong-password' "$file"
expect_rc 0 ltb up "$file" # no node changes: a login is not part of a node's configuration
expect_rc 0 ltb ssh r1 -- true # the key still works
cexec "$lab" r1 sh -c ': >/root/.ssh/authorized_keys'
expect_rc 255 ltb ssh r1 -- true
expect_output err "authentication failed for root@r1 \($r1_ip\): tried publickey with the lab's key, password; the node accepts publickey,password"
sed -i '/^      password: wrong-password$/d' "$file"
expect_rc 0 ltb up "$file"
expect_rc 0 ltb ssh r1 -- true # the image's password again

log "a recreated node: ltb ssh and ssh -F accept its new key"
r2_ip=$(jq -r '.nodes[] | select(.name == "r2") | .mgmt_ipv4' "$labdir/topology-data.json")
expect_rc 0 ltb ssh r2 -- true
old_r2=$(node_id "$lab" r2)
old_line=$(grep "^$r2_ip " "$kh") || fail "known_hosts has no line for r2"
sed -i '/^    r2:$/a\      labels: {rebuilt: "yes"}' "$file"
expect_rc 0 ltb up "$file"
new_r2=$(node_id "$lab" r2)
[[ -n $new_r2 && $new_r2 != "$old_r2" ]] || fail "r2 was not recreated by the config change"
if grep -qF "$old_line" "$kh"; then fail "known_hosts still has the old key of r2 after ltb up"; fi
# The new container starts its ssh server a moment after ltb up returns.
wait_until 20 ssh -F "$labdir/ssh_config" -o BatchMode=yes r2 true ||
  fail "ssh -F to the recreated r2 fails: $(ssh -F "$labdir/ssh_config" -o BatchMode=yes r2 true 2>&1)"
expect_rc 0 ssh -F "$labdir/ssh_config" -o BatchMode=yes r2 hostname
[[ $(cat "$IT_TMP/out") == r2 ]] || fail "ssh -F reached '$(cat "$IT_TMP/out")' after r2 was recreated"
expect_rc 0 ltb ssh r2 -- true
grep -q "^$r2_ip ssh-ed25519 .* ltb-node=r2 ltb-runtime-id=$new_r2\$" "$kh" ||
  fail "known_hosts does not record r2's new key with its new container id: $(cat "$kh")"
cexec "$lab" r2 cat /root/.ssh/authorized_keys | grep -qxF "$pubkey" ||
  fail "the recreated r2 did not get the lab's key"
# A node recreated while ltb ssh did not see it: the runtime id in known_hosts tells.
grep -v "^$r2_ip " "$kh" >"$kh.tmp" && cat "$kh.tmp" >"$kh" && rm "$kh.tmp"
printf '%s\n' "$old_line" >>"$kh"
expect_rc 0 ltb ssh r2 -- true
grep -q "ltb-runtime-id=$new_r2\$" "$kh" || fail "ltb ssh did not replace r2's key from before the recreation"

log "a stopped node is reported as not running"
docker stop -t 1 "$(container_name "$lab" r3)" >/dev/null
expect_rc 255 ltb ssh r3 -- true
expect_output err "node 'r3' of lab '$lab' is not running: its container ltb-$lab-r3 is exited"
expect_rc 0 ltb up "$file"
wait_until 20 ltb ssh r3 -- true || fail "r3 does not answer ltb ssh after ltb up restored it"

# --- a VM ---------------------------------------------------------------------------------------
virsh -c qemu:///system version >/dev/null 2>&1 ||
  fail "libvirtd does not answer (virsh -c qemu:///system version); start it (scripts/setup.sh services)"
images=${LTB_IMAGES:-/var/lib/ltb/images}
[[ -f $images/ltb-vm/image.json ]] || fail "VM image ltb-vm is missing; build it with scripts/build-images.sh"
vmlab=ltbtest-ssh-vm
track_lab "$vmlab"
vmfile="$IT_TMP/mixed.yaml"
sed -e "s/^name: .*/name: $vmlab/" -e 's|ipv4-subnet: .*|ipv4-subnet: 172.20.141.0/24|' \
  -e 's/accel: auto/accel: qemu/' "$LTB_SOURCE_DIR/examples/mixed-vm.yaml" >"$vmfile"
grep -q "172.20.141.0/24" "$vmfile" || fail "could not set the subnet in the copy of mixed-vm.yaml"
vmdir="$IT_TMP/state/labs/$vmlab"
expect_rc 0 ltb up "$vmfile"
log "waiting for vm1's ssh server (software emulation: 10 to 20 s)"
wait_until 120 ltb ssh vm1 --lab "$vmlab" --timeout 3 -- true ||
  fail "ltb ssh to vm1 did not work: $(ltb ssh vm1 --lab "$vmlab" -- true 2>&1; tail -5 "$vmdir/vm1/console.log")"
expect_rc 0 ltb ssh vm1 --lab "$vmlab" -- 'hostname; cat /root/.ssh/authorized_keys'
[[ $(head -1 "$IT_TMP/out") == vm1 ]] || fail "hostname on vm1 printed '$(head -1 "$IT_TMP/out")'"
grep -qxF "$(cat "$vmdir/id_ed25519.pub")" "$IT_TMP/out" ||
  fail "vm1 did not get the lab's key through its kernel command line"
expect_rc 4 ltb ssh vm1 --lab "$vmlab" -- 'exit 4'
expect_rc 0 ssh -F "$vmdir/ssh_config" -o BatchMode=yes vm1 true
# A VM makes a new host key at every boot; the one it printed on its console vouches for it.
vm_ip=$(jq -r '.nodes[] | select(.name == "vm1") | .mgmt_ipv4' "$vmdir/topology-data.json")
sed -i "s|^\($vm_ip ssh-ed25519 \)[^ ]*|\1$other|" "$vmdir/known_hosts"
expect_rc 0 ltb ssh vm1 --lab "$vmlab" -- true
if grep -q "$other" "$vmdir/known_hosts"; then fail "the vouched key did not replace the edited one"; fi

log "ltb down removes the access files and keys"
expect_rc 0 ltb down --lab "$vmlab"
[[ ! -e $vmdir/id_ed25519 && ! -e $vmdir/ssh_config ]] || fail "files of $vmlab remain: $(ls -A "$vmdir")"
expect_rc 0 ltb down "$file"
[[ ! -e $labdir ]] || fail "the lab directory remains after ltb down: $(ls -A "$labdir")"
assert_lab_gone "$lab"
assert_lab_gone "$vmlab"
log "PASS"
