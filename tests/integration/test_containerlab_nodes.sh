#!/usr/bin/env bash
# containerlab's container node options (issue 14), deployed from the corpus files in
# tests/data/containerlab/ and checked from outside: `cmd: sh` stays up, a failing exec is
# reported and the lab still comes up, a node in network-mode container:X sees X's interfaces,
# network-mode none has no eth0, a healthcheck turns a node unhealthy and `ltb status` shows it
# (table and JSON), wait-for holds a node until another is healthy and an exec until another
# node exists, dns/sysctls/shm-size/cap-add/devices/env-files reach the container, and every lab
# goes down clean (the EXIT trap checks).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"

corpus="$LTB_SOURCE_DIR/tests/data/containerlab"

# The corpus files under this test's lab names (with their side files), brought up all at once:
# each lab's `ltb up` output in $IT_TMP/LAB.out and LAB.err.
cp "$corpus"/*.env "$IT_TMP/"
declare -A files=(
  [ltbtest-clab-sh]=cmd-shell.clab.yml
  [ltbtest-clab-exec]=exec-failure.clab.yml
  [ltbtest-clab-netmode]=network-mode.clab.yml
  [ltbtest-clab-health]=healthcheck.clab.yml
  [ltbtest-clab-wait]=wait-for.clab.yml
  [ltbtest-clab-opts]=container-options.clab.yml
  [ltbtest-clab-ports]=ports.clab.yml
  [ltbtest-clab-portsiso]=ports-isolated.clab.yml
  [ltbtest-clab-prefix]=prefix.clab.yml
)
declare -A ups=()
for lab in "${!files[@]}"; do
  sed -e "s|^name: .*|name: $lab|" "$corpus/${files[$lab]}" >"$IT_TMP/${files[$lab]}"
  track_lab "$lab"
  ltb up "$IT_TMP/${files[$lab]}" >"$IT_TMP/$lab.out" 2>"$IT_TMP/$lab.err" &
  ups[$lab]=$!
done
for lab in "${!ups[@]}"; do
  wait "${ups[$lab]}" || fail "ltb up of $lab (${files[$lab]}) failed: $(cat "$IT_TMP/$lab.err")"
done

state_of() { docker inspect -f '{{.State.Status}}' "$(container_name "$1" "$2")"; }

log "cmd: sh keeps running (a terminal and an open stdin, as containerlab makes containers)"
lab=ltbtest-clab-sh
[[ $(state_of "$lab" sh1) == running ]] || fail "node sh1 (cmd: sh) is $(state_of "$lab" sh1)"
[[ $(docker inspect -f '{{.Config.Tty}} {{.Config.OpenStdin}}' "$(container_name "$lab" sh1)") == "true true" ]] ||
  fail "sh1 was not made with Tty and OpenStdin"

log "a failing exec is reported, the node's next command runs and the lab comes up"
lab=ltbtest-clab-exec
grep -q "node e1: exec \`sh -c 'exit 3'\` exited with status 3" "$IT_TMP/$lab.err" ||
  fail "ltb up did not report the failing exec: $(cat "$IT_TMP/$lab.err")"
cexec "$lab" e1 test -e /tmp/after-the-failure || fail "the command after the failing one did not run"
expect_rc 0 ltb status "$lab"
grep -q "node e1: exec \`sh -c 'exit 3'\` exited with status 3" "$IT_TMP/out" ||
  fail "ltb status does not show the exec failure: $(cat "$IT_TMP/out")"
expect_rc 0 ltb status "$lab" --format json
jq -e '.nodes[] | select(.name == "e1") | .exec_errors | length == 1' "$IT_TMP/out" >/dev/null ||
  fail "ltb status --format json has no exec_errors for e1: $(cat "$IT_TMP/out")"
# settings.exec-failures: fail makes it fatal again.
sed -e "s|^name: .*|name: ltbtest-clab-exec2\nsettings:\n  exec-failures: fail|" \
  "$corpus/exec-failure.clab.yml" >"$IT_TMP/exec-fatal.clab.yml"
track_lab ltbtest-clab-exec2
expect_rc 1 ltb up "$IT_TMP/exec-fatal.clab.yml"
grep -q "exited with status 3" "$IT_TMP/err" || fail "the fatal exec failure was not reported"

log "network-mode: container:main sees main's interfaces; none has no eth0"
lab=ltbtest-clab-netmode
main_links=$(cexec "$lab" main ip -o link | awk -F': ' '{print $2}' | sort | paste -sd ' ')
side_links=$(cexec "$lab" sidecar ip -o link | awk -F': ' '{print $2}' | sort | paste -sd ' ')
[[ $main_links == *eth1* ]] || fail "main has no eth1: $main_links"
[[ $side_links == "$main_links" ]] || fail "sidecar sees '$side_links', main has '$main_links'"
[[ $(docker inspect -f '{{.HostConfig.NetworkMode}}' "$(container_name "$lab" sidecar)") == "container:"* ]] ||
  fail "sidecar is not in another container's namespace"
none_links=$(cexec "$lab" isolated ip -o link | awk -F': ' '{print $2}' | paste -sd ' ')
[[ $none_links == lo ]] || fail "the node with network-mode none has '$none_links'"

log "healthcheck: a failing one makes the node unhealthy, and ltb status says so"
lab=ltbtest-clab-health
unhealthy() {
  ltb status "$lab" --format json >"$IT_TMP/status.json" 2>/dev/null &&
    jq -e '.nodes[] | select(.name == "sick") | .health == "unhealthy"' "$IT_TMP/status.json" >/dev/null
}
wait_until 20 unhealthy || fail "node sick never turned unhealthy: $(cat "$IT_TMP/status.json")"
jq -e '.nodes[] | select(.name == "well") | .health == "healthy"' "$IT_TMP/status.json" >/dev/null ||
  fail "node well is not healthy: $(cat "$IT_TMP/status.json")"
expect_rc 0 ltb status "$lab"
grep -Eq '^sick +linux .* running \(unhealthy\)' "$IT_TMP/out" ||
  fail "the status table does not show sick unhealthy: $(cat "$IT_TMP/out")"

log "wait-for: app is made once db is healthy; late's exec waits for app; startup-delay"
lab=ltbtest-clab-wait
# db turns healthy once /tmp/ready exists, 2 s after it starts (Docker keeps only the last
# health results, so the first pass is not in its log by now).
app_created=$(docker inspect -f '{{.Created}}' "$(container_name "$lab" app)")
db_started=$(docker inspect -f '{{.State.StartedAt}}' "$(container_name "$lab" db)")
[[ $(docker inspect -f '{{.State.Health.Status}}' "$(container_name "$lab" db)") == healthy ]] ||
  fail "db is not healthy"
(($(date -d "$app_created" +%s%N) - $(date -d "$db_started" +%s%N) >= 2000000000)) ||
  fail "app was made at $app_created, less than 2 s after db started at $db_started"
cexec "$lab" late test -e /tmp/configured || fail "late's exec did not run"

log "dns, sysctls, shm-size, cap-add, devices and env-files reach the container"
lab=ltbtest-clab-opts
cexec "$lab" o1 cat /etc/resolv.conf >"$IT_TMP/resolv" || fail "no resolv.conf in o1"
# On a user-defined network Docker's embedded resolver (127.0.0.11) answers, and forwards to the
# servers given, as for containerlab's nodes.
[[ $(docker inspect -f '{{json .HostConfig.Dns}}' "$(container_name "$lab" o1)") == '["192.0.2.53"]' ]] ||
  fail "dns servers not given to Docker"
grep -q '^search lab.example' "$IT_TMP/resolv" || fail "dns search not set: $(cat "$IT_TMP/resolv")"
grep -q 'ndots:2' "$IT_TMP/resolv" || fail "dns options not set: $(cat "$IT_TMP/resolv")"
[[ $(cexec "$lab" o1 cat /proc/sys/net/ipv4/ip_forward) == 1 ]] || fail "sysctl net.ipv4.ip_forward not set"
shm_kb=$(cexec "$lab" o1 df -k /dev/shm | awk 'NR == 2 { print $2 }')
[[ $shm_kb == 98304 ]] || fail "/dev/shm is ${shm_kb} KiB, not 96 MiB"
cexec "$lab" o1 test -c /dev/net/tun || fail "device /dev/net/tun is missing in o1"
host_config=$(docker inspect -f '{{json .HostConfig.CapAdd}} {{json .HostConfig.Devices}}' "$(container_name "$lab" o1)")
[[ $host_config == *NET_ADMIN*/dev/net/tun* ]] || fail "cap-add or devices not passed: $host_config"
env_out=$(cexec "$lab" o1 env)
for want in FROM_FILE=file-value 'QUOTED=with spaces' OVERRIDDEN=from-env FROM_ENV=env-wins; do
  grep -qx "$want" <<<"$env_out" || fail "o1's environment lacks $want"
done

log "ports: published on the host address the file names, and only there"
lab=ltbtest-clab-ports
fetch() { exec 3<>/dev/tcp/127.0.0.1/18480 && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && cat <&3; }
wait_until 10 fetch || fail "nothing answers on 127.0.0.1:18480"
[[ $(fetch) == *hello-from-web* ]] || fail "127.0.0.1:18480 did not answer with the node's page"
listening=$(ss -Hltn 'sport = :18480' | awk '{print $4}' | sort -u | paste -sd ' ')
[[ $listening == 127.0.0.1:18480 ]] || fail "port 18480 listens on '$listening', not only 127.0.0.1"

log "ports from an isolated management network: a docker-proxy per port, restarted by ltb up"
lab=ltbtest-clab-portsiso
fetch_iso() { exec 3<>/dev/tcp/127.0.0.1/18481 && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && cat <&3; }
wait_until 10 fetch_iso || fail "nothing answers on 127.0.0.1:18481"
[[ $(fetch_iso) == *hello-from-isolated-web* ]] || fail "127.0.0.1:18481 did not answer with the node's page"
# The lab's network is isolated (no NAT), and the listeners are docker-proxy processes that
# forward to the node's management address.
network=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$(container_name "$lab" web)")
[[ $(docker network inspect -f '{{.Internal}}' "$network") == true ]] || fail "network $network is not internal"
address=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$network\").IPAddress}}" "$(container_name "$lab" web)")
proxies() { pgrep -a -f "docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port 1848[12] -container-ip $address " || true; }
[[ $(proxies | wc -l) == 2 ]] || fail "expected 2 docker-proxy processes for $address, found: $(proxies)"
# They hold nothing of ltb's: no Docker connection or pipe inherited from the ltb that started them.
pids=$(proxies | awk '{print $1}' | paste -sd '|')
inherited=$(ss -xpa | grep -E "pid=($pids)," || true)
[[ -z $inherited ]] || fail "docker-proxy holds unix sockets inherited from ltb: $inherited"
listening=$(ss -Hltnp 'sport = :18481' | grep -c docker-proxy || true)
[[ $listening == 1 ]] || fail "18481 is not docker-proxy's: $(ss -Hltnp 'sport = :18481')"
ltb up --dry-run "$IT_TMP/ports-isolated.clab.yml" >"$IT_TMP/dry" 2>&1
grep -q "publish ports" "$IT_TMP/dry" && fail "a converged lab plans its ports again: $(cat "$IT_TMP/dry")"
# A proxy that dies is started again by ltb up, and only it: the node stays.
pid=$(proxies | awk '/-host-port 18481 /{print $1}')
kill "$pid"
wait_until 10 bash -c "! kill -0 $pid 2>/dev/null" || fail "docker-proxy $pid did not end"
fetch_iso >/dev/null 2>&1 && fail "18481 still answers with its proxy gone"
id_before=$(docker inspect -f '{{.Id}}' "$(container_name "$lab" web)")
ltb up --dry-run "$IT_TMP/ports-isolated.clab.yml" >"$IT_TMP/dry" 2>&1
grep -q "publish ports 127.0.0.1:18481->web:80/tcp, 127.0.0.1:18482->web:8080/tcp \[port-proxy exited\]" "$IT_TMP/dry" ||
  fail "ltb up --dry-run does not plan the dead proxy with its reason: $(cat "$IT_TMP/dry")"
[[ $(grep -c "node web" "$IT_TMP/dry") == 0 ]] || fail "a dead proxy makes the node again: $(cat "$IT_TMP/dry")"
ltb up "$IT_TMP/ports-isolated.clab.yml" >"$IT_TMP/up2" 2>&1 || fail "ltb up again failed: $(cat "$IT_TMP/up2")"
[[ $(docker inspect -f '{{.Id}}' "$(container_name "$lab" web)") == "$id_before" ]] ||
  fail "restarting a proxy made the node again"
[[ $(fetch_iso) == *hello-from-isolated-web* ]] || fail "18481 did not answer after ltb up"
[[ $(proxies | wc -l) == 2 ]] || fail "expected 2 proxies after ltb up, found: $(proxies)"
# A host port another program holds: ltb up fails with the reason, and its lab goes down clean.
python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",18483)); s.listen(); time.sleep(60)' &
holder=$!
on_cleanup "kill $holder"
wait_until 5 bash -c "ss -Hltn 'sport = :18483' | grep -q 18483" || fail "the test's listener did not start"
sed -e "s|^name: .*|name: ltbtest-clab-portsbusy|" -e "s|18481|18483|; s|18482|18484|" \
  "$corpus/ports-isolated.clab.yml" >"$IT_TMP/ports-busy.clab.yml"
track_lab ltbtest-clab-portsbusy
expect_rc 1 ltb up "$IT_TMP/ports-busy.clab.yml"
grep -q "cannot publish host port 18483/tcp on 127.0.0.1: .*address already in use" "$IT_TMP/err" ||
  fail "a taken host port was not reported: $(cat "$IT_TMP/err")"
kill "$holder"

log "prefix: containerlab's container names, and a changed prefix renames the containers"
lab=ltbtest-clab-prefix
for node in n1 n2; do
  [[ $(docker inspect -f '{{.State.Status}} {{index .Config.Labels "ltb.node"}}' "clab-$lab-$node") == "running $node" ]] ||
    fail "no running container clab-$lab-$node for node $node: $(docker ps -a --filter "label=ltb.lab=$lab" --format '{{.Names}}')"
done
[[ -z $(docker ps -aq --filter "name=^ltb-$lab-") ]] || fail "containers of $lab under ltb's names too"
ltb exec n1 --lab "$lab" -- ip link show eth1 >/dev/null || fail "ltb exec n1 found no eth1 under the prefix"
ltb inspect "$lab" --format json | jq -e '.nodes[] | select(.name == "n1") | .runtime_name == "clab-'"$lab"'-n1"' >/dev/null ||
  fail "ltb inspect does not show the prefixed name: $(ltb inspect "$lab" --format json | jq -c '.nodes[0]')"
sed -e "s|^name: .*|name: $lab|" -e 's|^prefix: clab|prefix: __lab-name|' "$corpus/prefix.clab.yml" >"$IT_TMP/prefix2.clab.yml"
ltb up "$IT_TMP/prefix2.clab.yml" >"$IT_TMP/prefix2.out" 2>&1 || fail "ltb up with a new prefix failed: $(cat "$IT_TMP/prefix2.out")"
grep -q "container name changed: clab-$lab-n1 -> $lab-n1" "$IT_TMP/prefix2.out" ||
  log "(ltb up did not say why it made n1 again: $(cat "$IT_TMP/prefix2.out"))"
[[ $(docker inspect -f '{{.State.Status}}' "$lab-n1") == running ]] || fail "no running $lab-n1 after the prefix changed"
[[ -z $(docker ps -aq --filter "name=^clab-$lab-") ]] || fail "the old clab-$lab-* containers stayed"
for node in n1 n2; do
  ltb exec "$node" --lab "$lab" -- ip link show eth1 | grep -q LOWER_UP || fail "$node's eth1 is not wired after the rename"
done

log "all down"
declare -A downs=()
for lab in "${IT_LABS[@]}"; do
  ltb --quiet down --lab "$lab" >"$IT_TMP/$lab.down" 2>&1 &
  downs[$lab]=$!
done
for lab in "${!downs[@]}"; do
  wait "${downs[$lab]}" || fail "ltb down --lab $lab failed: $(cat "$IT_TMP/$lab.down")"
  assert_lab_gone "$lab"
done
IT_LABS=()
left=$(pgrep -a -f "docker-proxy .*-host-port 1848[0-4] " || true)
[[ -z $left ]] || fail "docker-proxy processes outlived their labs: $left"
