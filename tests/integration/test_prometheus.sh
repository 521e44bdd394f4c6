#!/usr/bin/env bash
# A real Prometheus server (Debian's) scrapes `ltb serve --listen`'s GET /metrics with a user's
# bearer token while a CPU load runs in one node of that user's lab; its HTTP API then answers
# the node's CPU rate (near one CPU; the idle node's near zero) and working set. Also: promtool
# accepts the exposition; /metrics answers 401 without a token; a user's scrape has only their
# own labs' nodes, an admin's every lab's; the daemon's request-duration histogram is there.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
require_services "$k_busybox"
((EUID == 0)) || fail "this test makes a Unix user: run it as root"
for tool in prometheus promtool curl jq; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install prometheus curl jq)"
done

serve_setup
port=$(free_port)
serve_start --listen "127.0.0.1:$port"
base="http://127.0.0.1:$port"

lab=prom
lab_id=${SERVE_USER}__$lab
track_lab "$lab_id"
root_lab=ltbtest-prom-root
track_lab "$root_lab"
cat >"$SERVE_HOME/lab.yaml" <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.216.0/24
topology:
  nodes:
    busy: {kind: linux, image: $k_busybox}
    idle: {kind: linux, image: $k_busybox}
  links:
    - endpoints: ["busy:eth1", "idle:eth1"]
EOF
chown "$SERVE_USER" "$SERVE_HOME/lab.yaml"
expect_rc 0 ultb up lab.yaml
cat >"$IT_TMP/root.yaml" <<EOF
name: $root_lab
mgmt:
  ipv4-subnet: 172.20.217.0/24
topology:
  nodes:
    other: {kind: linux, image: $k_busybox}
EOF
expect_rc 0 ltb up "$IT_TMP/root.yaml"

log "GET /metrics: 401 without a token; promtool accepts it; a user sees only their nodes"
[[ $(curl -sS -o /dev/null -w '%{http_code}' "$base/metrics") == 401 ]] || fail "/metrics answered without a token"
token=$(ltb user token create "$SERVE_USER" --expires 1h --name prometheus | head -1)
printf '%s\n' "$token" >"$IT_TMP/token"
chmod 0600 "$IT_TMP/token"
curl -sS -f -H "Authorization: Bearer $token" "$base/metrics" >"$IT_TMP/metrics" || fail "GET /metrics failed"
# promtool's linter also flags node_exporter's own names (node_memory_MemAvailable_bytes), which
# ltb keeps so that dashboards made for node_exporter work: those lines only are let through.
promtool check metrics <"$IT_TMP/metrics" >"$IT_TMP/promtool.out" 2>&1 || true
if grep -v "^node_memory_Mem[A-Za-z]*_bytes metric names should be written in 'snake_case'" \
  "$IT_TMP/promtool.out" | grep -q .; then
  fail "promtool rejects the exposition: $(head -20 "$IT_TMP/promtool.out")"
fi
grep -q "^ltb_node_cpu_seconds_total{lab=\"$lab\",node=\"busy\",kind=\"linux\",owner=\"$SERVE_USER\"}" "$IT_TMP/metrics" ||
  fail "no CPU counter of the user's node: $(grep ltb_node_cpu "$IT_TMP/metrics" | head -5)"
! grep -q "node=\"other\"" "$IT_TMP/metrics" || fail "the user's scrape shows root's node"
grep -q '^node_memory_MemAvailable_bytes ' "$IT_TMP/metrics" || fail "no host memory"
grep -q '^ltb_api_request_duration_seconds_bucket{route="/metrics"' "$IT_TMP/metrics" ||
  grep -q '^ltb_api_request_duration_seconds_count' "$IT_TMP/metrics" || fail "no request-duration histogram"
admin=$(ltb user token create root --expires 1h | head -1)
curl -sS -f -H "Authorization: Bearer $admin" "$base/metrics" >"$IT_TMP/admin.metrics" || fail "the admin's scrape failed"
grep -q "node=\"other\"" "$IT_TMP/admin.metrics" || fail "an admin's scrape misses root's node"
curl -sS -f -H "Authorization: Bearer $token" "$base/v1/top?lab=$lab" >"$IT_TMP/top.json" || fail "GET /v1/top failed"
jq -e '.nodes | map(.node) | sort == ["busy", "idle"]' "$IT_TMP/top.json" >/dev/null ||
  fail "GET /v1/top?lab: $(head -c 400 "$IT_TMP/top.json")"
[[ $(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/v1/top?lab=$root_lab") == 404 ]] ||
  fail "a user's /v1/top of root's lab is not 404"

log "Prometheus scrapes the daemon every second while the node runs a CPU load"
prom_port=$(free_port)
cat >"$IT_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ltb
    metrics_path: /metrics
    authorization:
      credentials_file: $IT_TMP/token
    static_configs:
      - targets: ["127.0.0.1:$port"]
EOF
prometheus --config.file="$IT_TMP/prometheus.yml" --storage.tsdb.path="$IT_TMP/prom" \
  --web.listen-address="127.0.0.1:$prom_port" >"$IT_TMP/prometheus.log" 2>&1 &
prom_pid=$!
track_pid "$prom_pid"
wait_until 30 curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null ||
  fail "prometheus did not start: $(tail -5 "$IT_TMP/prometheus.log")"
ultb exec --lab "$lab" busy -- sh -c 'while :; do :; done' >/dev/null 2>&1 &
load_pid=$!
track_pid "$load_pid"
query() {
  curl -sS -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
    jq -r '.data.result[0].value[1] // "none"'
}
rate_busy=none
for _ in $(seq 1 40); do
  sleep 1
  rate_busy=$(query "rate(ltb_node_cpu_seconds_total{lab=\"$lab\",node=\"busy\"}[5s])")
  [[ $rate_busy != none ]] && awk -v r="$rate_busy" 'BEGIN { exit !(r > 0.5) }' && break
done
awk -v r="$rate_busy" 'BEGIN { exit !(r > 0.5) }' 2>/dev/null ||
  fail "Prometheus' CPU rate of the busy node is $rate_busy, not near one CPU: $(curl -sS "http://127.0.0.1:$prom_port/api/v1/targets" | head -c 600)"
rate_idle=$(query "rate(ltb_node_cpu_seconds_total{lab=\"$lab\",node=\"idle\"}[5s])")
awk -v r="$rate_idle" 'BEGIN { exit !(r < 0.2) }' || fail "the idle node's CPU rate is $rate_idle"
memory=$(query "ltb_node_memory_working_set_bytes{lab=\"$lab\",node=\"busy\"}")
awk -v m="$memory" 'BEGIN { exit !(m > 0) }' || fail "the busy node's working set is $memory"
up=$(query 'up{job="ltb"}')
[[ $up == 1 ]] || fail "the scrape target is not up: $up"
log "busy: $rate_busy CPU seconds per second, working set $memory bytes; idle: $rate_idle"
kill "$load_pid" 2>/dev/null || true
wait "$load_pid" 2>/dev/null || true

log "down"
expect_rc 0 ultb down --lab "$lab"
expect_rc 0 ltb down --lab "$root_lab"
assert_lab_gone "$lab_id"
log "ok"
