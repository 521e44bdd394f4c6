#!/usr/bin/env bash
# The daemon on the network and the web UI (run by tests/bench/run.sh, or alone, as root), against
# a private `ltb serve --listen 127.0.0.1:PORT` with root's bearer token; the measuring is
# tests/browser/bench_web.mjs (Node, ws, puppeteer-core with Debian's chromium):
#   - `GET /v1/labs/LAB` of a 50-node lab, BENCH_WEB_REQUESTS times on one keep-alive
#     connection: p99 < 20 ms (p50 a figure; `GET /v1/version` the same way as the floor: HTTP
#     and the token's check)
#   - 100 web terminals (`GET /v1/terminal`, WebSocket; 2 on each node of the 50-node lab, a
#     busybox shell each) open at once, then all typing: a marker line every 150-450 ms after the
#     previous one's output, BENCH_WEB_MARKERS each; send to output line p99 < 50 ms (p50 a figure);
#     the daemon's memory per terminal (its RSS, and the RSS and PSS of the commands it runs for
#     them, while open less before, / 100; figures); after they close, their commands all end
#     within the 60 s grace + 15 s, and no shell of theirs is left in the nodes; the floor: the
#     same 100 shells by `docker exec` (Docker's API, a TTY each) typing the same way (figures)
#   - `GET /metrics` with 100 nodes deployed (a second 50-node lab), BENCH_WEB_SCRAPES times:
#     median < 100 ms (p99 a figure); a 404 (not in this build) is a failure, not a skip
#   - the web UI's first load: the bytes of web/dist and of the JS and CSS that index.html loads
#     (and gzipped), and time to interactive in headless Chromium (navigation start to the login
#     form's inputs present and enabled), median of BENCH_WEB_LOADS cold loads; figures
# Environment: LTB (the ltb binary, required), BENCH_WEB_PORT (default a free one from 18400),
# BENCH_WEB_SUBNETS (the two labs' management subnets, default "172.20.184.0/24 172.20.185.0/24"),
# BENCH_WEB_REQUESTS (default 300), BENCH_WEB_MARKERS (default 20), BENCH_WEB_SCRAPES (default
# 30), BENCH_WEB_LOADS (default 5), BENCH_WEB_TERMINALS (default 100, 2 a node; fewer only to
# see how the echo latency grows: the target is for 100), CHROMIUM (default /usr/bin/chromium),
# BENCH_OUT (append the rows).
# Exit status: 0 when every target was met, 2 when one was missed, 1 when something failed. It
# makes a group ltbtestwg<pid>, labs ltbtest-web1 and ltbtest-web2 (root's), and removes them on
# exit.

set -uo pipefail
export LC_ALL=C

: "${LTB:?set LTB to the ltb binary}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
REQUESTS=${BENCH_WEB_REQUESTS:-300}
MARKERS=${BENCH_WEB_MARKERS:-20}
SCRAPES=${BENCH_WEB_SCRAPES:-30}
LOADS=${BENCH_WEB_LOADS:-5}
read -r SUBNET1 SUBNET2 <<<"${BENCH_WEB_SUBNETS:-172.20.184.0/24 172.20.185.0/24}"
RUNS=1 # report's header: every figure here is over many requests, not rounds
TERMINALS=${BENCH_WEB_TERMINALS:-100}
GRACE=60
LAB1=ltbtest-web1
LAB2=ltbtest-web2
WEB_ROOT=$ROOT/web/dist
BROWSER_DIR=$ROOT/tests/browser
WORK=$(mktemp -d /tmp/ltbtest-webbench.XXXXXX)
STATE=$WORK/state.db
GROUP=ltbtestwg$$
SERVE_PID=
NODE_PID=
FAILED=()

BENCH_NAME='bench web'
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# shellcheck disable=SC2317 # called by lib.sh's EXIT trap
cleanup() {
  if (($1 != 0)) && [[ -d $WORK ]]; then
    mkdir -p /tmp/ltbtest-webbench-logs && cp "$WORK"/*.log /tmp/ltbtest-webbench-logs/ 2>/dev/null
    say "logs kept in /tmp/ltbtest-webbench-logs"
  fi
  if [[ -n $NODE_PID ]]; then
    kill "$NODE_PID" 2>/dev/null
    wait "$NODE_PID" 2>/dev/null
  fi
  if [[ -n $SERVE_PID ]]; then
    kill "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
  fi
  local lab
  for lab in "$LAB1" "$LAB2"; do
    if [[ -f $STATE ]] && "$LTB" --state "$STATE" --quiet status "$lab" >/dev/null 2>&1; then
      "$LTB" --state "$STATE" --quiet down --lab "$lab" >"$WORK/down.log" 2>&1 ||
        say "ltb down --lab $lab failed: $(tail -3 "$WORK/down.log")"
    fi
  done
  getent group "$GROUP" >/dev/null && groupdel "$GROUP"
  rm -rf "$WORK"
}

(($(id -u) == 0)) || die "run it as root (it makes a group and runs the daemon)"
command -v jq >/dev/null || die "jq is missing (apt-get install jq)"
command -v node >/dev/null || die "node is missing"
[[ -d $BROWSER_DIR/node_modules/ws && -d $BROWSER_DIR/node_modules/puppeteer-core ]] ||
  die "tests/browser has no node_modules (ws, puppeteer-core): make web (or npm ci there)"
[[ -x ${CHROMIUM:-/usr/bin/chromium} ]] || die "no chromium (apt-get install chromium)"
[[ -f $WEB_ROOT/index.html ]] || die "no $WEB_ROOT/index.html: make web"
docker image inspect ltb/busybox:latest >/dev/null 2>&1 || die "image ltb/busybox:latest is missing; run make images"

# A free port on 127.0.0.1.
PORT=${BENCH_WEB_PORT:-}
if [[ -z $PORT ]]; then
  for p in $(seq 18400 18499); do
    if [[ -z $(ss -Hltn "sport = :$p") ]]; then
      PORT=$p
      break
    fi
  done
  [[ -n $PORT ]] || die "no free port in 18400-18499"
fi
URL=http://127.0.0.1:$PORT

# lab NAME SUBNET: a 50-node busybox lab without links.
lab() {
  printf 'name: %s\nmgmt:\n  ipv4-subnet: %s\ntopology:\n  nodes:\n' "$1" "$2"
  for i in $(seq 1 50); do
    printf '    h%s:\n      kind: linux\n      image: ltb/busybox:latest\n' "$i"
  done
}
lab "$LAB1" "$SUBNET1" >"$WORK/lab1.yaml"
lab "$LAB2" "$SUBNET2" >"$WORK/lab2.yaml"

# A copy: a rebuild of $LTB during the run must not take the binary away from it.
install -m 0755 "$LTB" "$WORK/ltb" || die "cannot copy $LTB"
LTB=$WORK/ltb
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
groupadd "$GROUP" || die "groupadd failed"
"$LTB" --state "$STATE" --socket "$WORK/run/ltb.sock" serve --group "$GROUP" --listen "127.0.0.1:$PORT" \
  --web-root "$WEB_ROOT" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
TOKEN=$("$LTB" --state "$STATE" user token create root --expires 1h 2>"$WORK/token.log" | head -1)
[[ $TOKEN == ltb_* ]] || die "ltb user token create failed: $(cat "$WORK/token.log")"
for _ in $(seq 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/v1/version") == 200 ]] && break
  kill -0 "$SERVE_PID" 2>/dev/null || die "the daemon ended: $(cat "$WORK/serve.log")"
  sleep 0.1
done
[[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/v1/version") == 200 ]] ||
  die "the daemon does not answer on $URL: $(cat "$WORK/serve.log")"

say "deploying $LAB1 (50 nodes)"
timed "$LTB" --state "$STATE" --quiet up "$WORK/lab1.yaml" || die "ltb up $LAB1 failed: $(tail -5 "$WORK/last.log")"

# bench MODE LOG VAR=VALUE...: runs bench_web.mjs MODE with the variables; its JSON in $J.
J=
bench() {
  local mode=$1 log=$2
  shift 2
  (cd "$BROWSER_DIR" && exec env LTB_BENCH_URL="$URL" LTB_BENCH_TOKEN="$TOKEN" "$@" node bench_web.mjs "$mode") \
    >"$WORK/$log.json" 2>"$WORK/$log.log" &
  NODE_PID=$!
  wait "$NODE_PID" || {
    NODE_PID=
    die "bench_web.mjs $mode failed: $(tail -15 "$WORK/$log.log")"
  }
  NODE_PID=
  J=$(cat "$WORK/$log.json")
}
jv() { jq -r "$1" <<<"$J"; }
# target_row NAME VALUE LIMIT UNIT: VALUE < LIMIT passes.
target_row() {
  local pass
  pass=$(awk -v v="$2" -v l="$3" 'BEGIN { print (v < l ? "PASS" : "MISS") }')
  ROWS+=("$1	$2	(target < $3 $4)	$pass")
}

# --- 1. API GET ----------------------------------------------------------------------------------

say "GET /v1/version and /v1/labs/$LAB1, $REQUESTS each on a keep-alive connection"
bench api api-version LTB_BENCH_PATH=/v1/version LTB_BENCH_COUNT="$REQUESTS"
row "GET /v1/version: p50 (ms)" "$(jv .p50)"
row "GET /v1/version: p99 (ms)" "$(jv .p99)"
bench api api-lab LTB_BENCH_PATH="/v1/labs/$LAB1" LTB_BENCH_COUNT="$REQUESTS"
[[ $(jq '.nodes | length' < <(curl -s -H "Authorization: Bearer $TOKEN" "$URL/v1/labs/$LAB1")) == 50 ]] ||
  die "GET /v1/labs/$LAB1 does not list 50 nodes"
say "GET /v1/labs/$LAB1 answers $(jv .bytes) bytes"
row "GET /v1/labs/LAB, 50 nodes: p50 (ms)" "$(jv .p50)"
target_row "GET /v1/labs/LAB, 50 nodes: p99 (ms)" "$(jv .p99)" 20 ms

# --- 3. /metrics of 100 nodes (before the terminals: none of them in grace then) -----------------

say "deploying $LAB2 (50 more nodes)"
timed "$LTB" --state "$STATE" --quiet up "$WORK/lab2.yaml" || die "ltb up $LAB2 failed: $(tail -5 "$WORK/last.log")"
# metrics_code: /metrics's HTTP status.
metrics_code() { curl -s -o "$WORK/metrics.txt" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/metrics"; }
code=$(metrics_code)
if [[ $code == 200 ]]; then
  say "GET /metrics $SCRAPES times, 100 nodes"
  bench api metrics LTB_BENCH_PATH=/metrics LTB_BENCH_COUNT="$SCRAPES" LTB_BENCH_WARMUP=2
  say "GET /metrics answers $(jv .bytes) bytes"
  row "GET /metrics, 100 nodes: p99 (ms)" "$(jv .p99)"
  target_row "GET /metrics, 100 nodes: median (ms)" "$(jv .p50)" 100 ms
  # The scrape covers both labs' 100 nodes, running.
  nodes_seen=$(grep -Ec "^ltb_node_running\{lab=\"($LAB1|$LAB2)\",.*\} 1$" "$WORK/metrics.txt")
  if ((nodes_seen != 100)); then
    FAILED+=("GET /metrics shows $nodes_seen of the 100 nodes running")
    say "GET /metrics shows $nodes_seen of the 100 nodes running: $(grep -m3 '^ltb_node_running' "$WORK/metrics.txt")"
  fi
else
  say "GET /metrics answers HTTP $code: not in this build of the daemon"
  ROWS+=("GET /metrics, 100 nodes: median (ms)	HTTP $code	(target < 100 ms)	FAIL")
  FAILED+=("GET /metrics answers HTTP $code")
fi

# --- 2. 100 web terminals ------------------------------------------------------------------------

mapfile -t NODES < <(jq -r '.nodes[].name' < <(curl -s -H "Authorization: Bearer $TOKEN" "$URL/v1/labs/$LAB1"))
say "$TERMINALS terminals on the ${#NODES[@]} nodes of $LAB1, $MARKERS lines each"
bench terminals terminals LTB_BENCH_LAB="$LAB1" LTB_BENCH_NODES="${NODES[*]}" LTB_BENCH_TERMINALS="$TERMINALS" \
  LTB_BENCH_MARKERS="$MARKERS" LTB_BENCH_DAEMON_PID="$SERVE_PID"
closed_at=$EPOCHREALTIME
[[ $(jv .sessions) == "$TERMINALS" ]] || die "$TERMINALS terminals had $(jv .sessions) distinct sessions"
row "terminals: $TERMINALS opened, all answering (s)" "$(jv .ready_s)"
say "typed $(jv .echo.n) lines, $(jv .lines_per_s) a second in all; echo max $(jv .echo.max) ms"
row "terminals: echo p50 (ms)" "$(jv .echo.p50)"
target_row "terminals: echo p99 (ms)" "$(jv .echo.p99)" 50 ms
per() { jq -r "((.open.$1 - .before.$1) / $TERMINALS * 10 | round) / 10" <<<"$J"; }
row "terminals: daemon RSS per terminal (KiB)" "$(per daemon_rss_kib)"
row "terminals: commands' RSS per terminal (KiB)" "$(per children_rss_kib)"
row "terminals: commands' PSS per terminal (KiB)" "$(per children_pss_kib)"
say "memory before: $(jq -c .before <<<"$J"); while open: $(jq -c .open <<<"$J")"

# --- 4. the web UI's first load (while the closed terminals wait out their grace) ----------------

say "web UI: sizes, and $LOADS cold loads in headless Chromium"
size() { stat -c %s "$@" | awk '{ s += $1 } END { print s + 0 }'; }
gzsize() { cat "$@" | gzip -9 | wc -c; }
mapfile -t assets < <(grep -Eo '(src|href)="[^"]+\.(js|css)"' "$WEB_ROOT/index.html" | sed -E 's/^[a-z]+="\.?\/?//; s/"$//')
((${#assets[@]} > 0)) || die "index.html loads no JS or CSS"
paths=()
for a in "${assets[@]}"; do
  [[ -f $WEB_ROOT/$a ]] || die "index.html loads $a, which web/dist lacks"
  paths+=("$WEB_ROOT/$a")
done
mapfile -t all_files < <(find "$WEB_ROOT" -type f ! -name "*.gz")
row "web UI: web/dist, ${#all_files[@]} files (B)" "$(size "${all_files[@]}")"
row "web UI: web/dist, gzipped (B)" "$(for f in "${all_files[@]}"; do gzsize "$f"; done | awk '{ s += $1 } END { print s }')"
row "web UI: index.html + its ${#assets[@]} JS/CSS (B)" "$(size "$WEB_ROOT/index.html" "${paths[@]}")"
row "web UI: index.html + its JS/CSS, gzipped (B)" "$(for f in "$WEB_ROOT/index.html" "${paths[@]}"; do gzsize "$f"; done | awk '{ s += $1 } END { print s }')"
bench load load LTB_BENCH_LOADS="$LOADS"
row "web UI: first load, $(jv .requests) requests, on the wire (B)" "$(jv .transferred_bytes)"
row "web UI: login form ready, median of $LOADS (ms)" "$(jv .ready.p50)"
row "web UI: load event, median (ms)" "$(jv .load_event.p50)"

# --- 2b. the floor: the same 100 shells by docker exec, without ltb (during the grace) -----------

mapfile -t CONTAINERS < <(docker ps --filter "label=ltb.lab=$LAB1" --format '{{.Names}}' | sort)
((${#CONTAINERS[@]} == 50)) || die "$LAB1 has ${#CONTAINERS[@]} containers, not 50"
say "the floor: $TERMINALS shells by docker exec (Docker's API, a TTY each) on the same nodes"
bench terminals floor LTB_BENCH_VIA=docker LTB_BENCH_LAB=- LTB_BENCH_NODES="${CONTAINERS[*]}" \
  LTB_BENCH_TERMINALS="$TERMINALS" LTB_BENCH_MARKERS="$MARKERS"
say "floor: typed $(jv .echo.n) lines, $(jv .lines_per_s) a second in all; echo max $(jv .echo.max) ms"
row "floor, docker exec: echo p50 (ms)" "$(jv .echo.p50)"
row "floor, docker exec: echo p99 (ms)" "$(jv .echo.p99)"

# --- 2c. the closed terminals' commands end after the grace, and their shells in the nodes --------

# daemon_children: the commands the daemon runs (the children of its fork server: the child
# whose command line is the daemon's own; or its own children without one); as
# tests/integration/serve_lib.sh's.
daemon_children() {
  local child own
  own=$(tr '\0' ' ' <"/proc/$SERVE_PID/cmdline" 2>/dev/null)
  for child in $(pgrep -P "$SERVE_PID"); do
    if [[ $(tr '\0' ' ' <"/proc/$child/cmdline" 2>/dev/null) == "$own" ]]; then
      pgrep -P "$child" || true
    else
      echo "$child"
    fi
  done
}
say "waiting for the closed terminals' commands to end (grace ${GRACE} s)"
limit=$((GRACE + 15))
left=0
while :; do
  left=$(daemon_children | wc -l)
  waited=$(calc "$EPOCHREALTIME - $closed_at")
  ((left == 0)) && break
  awk -v w="$waited" -v l="$limit" 'BEGIN { exit !(w > l) }' && break
  sleep 0.5
done
if ((left == 0)); then
  row "terminals: closed, commands all ended (s)" "$waited" "$waited" "<=$limit"
  ROWS[-1]=${ROWS[-1]/"(target <=$limit)"/"(target grace $GRACE + 15 s)"}
else
  ROWS+=("terminals: closed, commands all ended (s)	$left left at $waited	(target grace $GRACE + 15 s)	MISS")
fi

# The shells the terminals ran in the nodes (the floor's typed exit): `sh -l` in lab 1's containers.
shells=0
for c in "${CONTAINERS[@]}"; do
  n=$(docker top "$c" -o pid,args 2>/dev/null | grep -c ' sh -l$')
  shells=$((shells + n))
done
if ((shells == 0)); then
  ROWS+=("terminals: closed, shells left in the nodes	0	(target 0)	PASS")
else
  ROWS+=("terminals: closed, shells left in the nodes	$shells	(target 0)	MISS")
fi

say "load average after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the figures are this machine's under that load)"
report "ltb serve --listen: the API, web terminals, /metrics and the web UI"
rc=$?
if ((${#FAILED[@]} > 0)); then
  say "failed: $(printf '%s; ' "${FAILED[@]}")"
  exit 1
fi
exit $rc
