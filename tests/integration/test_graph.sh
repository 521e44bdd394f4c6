#!/usr/bin/env bash
# `ltb graph`: a lab file before it is deployed (no live state), then the running lab by name in
# every format: dot that Graphviz renders, Mermaid, JSON with live states, and one self-contained
# HTML page that headless Chromium renders (its screenshot is kept as build/test-artifacts/graph.png
# and its DOM holds every node). A node stopped with `ltb stop` (and a container stopped behind
# ltb's back) shows, with its links down. Bad input: a file
# with errors (located diagnostics), an unknown lab (did-you-mean).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"

lab=it-graph
track_lab "$lab"
file="$IT_TMP/graph.yaml"
cat >"$file" <<'EOF'
name: it-graph
topology:
  kinds:
    linux:
      image: ltb/busybox:latest
  nodes:
    r1: {kind: linux}
    r2: {kind: linux}
    h1: {kind: linux}
    sw: {kind: ovs-bridge}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r1:eth2", "r2:eth2"]
      name: backup
    - endpoints: ["r1:eth3", "sw:p1"]
      name: lan
    - endpoints: ["h1:eth1", "sw:p2"]
EOF
nodes=(r1 r2 h1 sw)

# Where the screenshot is kept: the build tree's test-artifacts (LTB is <build>/ltb).
artifacts=${LTB_ARTIFACTS:-$(dirname "$LTB")/test-artifacts}
mkdir -p "$artifacts"
artifacts=$(cd "$artifacts" && pwd) # absolute, for the file:// URL

log "the file, not deployed: no live state"
expect_rc 0 ltb graph "$file" --format json
jq -e '.live == false and (.nodes | length) == 4 and (.links | length) == 4 and all(.nodes[]; .state == null)' "$IT_TMP/out" >/dev/null ||
  fail "graph of the undeployed file: $(cat "$IT_TMP/out")"
jq -e '.links[] | select(.name == "lan") | .type == "segment" and .endpoints[0].interface == "eth3" and .endpoints[1].interface == "p1"' "$IT_TMP/out" >/dev/null ||
  fail "link lan is not a segment r1:eth3 - sw:p1: $(jq -c .links "$IT_TMP/out")"

expect_rc 0 ltb up "$file" --lab "$lab"
assert_all_running "$lab"

log "the running lab by name: json"
expect_rc 0 ltb graph "$lab" --format json
cp "$IT_TMP/out" "$IT_TMP/graph.json"
jq -e '.live == true and .source == "state"' "$IT_TMP/graph.json" >/dev/null || fail "graph of $lab is not live: $(cat "$IT_TMP/graph.json")"
bad=$(jq -r '.nodes[] | select(.state != "running") | "\(.name)=\(.state)"' "$IT_TMP/graph.json")
[[ -z $bad ]] || fail "nodes not running in the graph: $bad"
bad=$(jq -r '.links[] | select(.state != "up") | "\(.name)=\(.state)"' "$IT_TMP/graph.json")
[[ -z $bad ]] || fail "links not up in the graph: $bad"
for node in r1 r2 h1; do
  want=$(ltb inspect "$lab" --format json | jq -r --arg n "$node" '.nodes[] | select(.name == $n) | .mgmt_ipv4')
  got=$(jq -r --arg n "$node" '.nodes[] | select(.name == $n) | .mgmt_ipv4' "$IT_TMP/graph.json")
  [[ -n $want && $got == "$want" ]] || fail "node $node: management address '$got' in the graph, '$want' in inspect"
done
# The file argument of a deployed lab shows the live state too.
expect_rc 0 ltb graph "$file" --lab "$lab" --format json
jq -e '.live == true and all(.nodes[]; .state == "running")' "$IT_TMP/out" >/dev/null ||
  fail "graph of the deployed file is not live: $(cat "$IT_TMP/out")"

log "dot, checked by Graphviz"
expect_rc 0 ltb graph "$lab" -o "$IT_TMP/graph.dot"
grep -q '^graph "it-graph" {' "$IT_TMP/graph.dot" || fail "-o graph.dot did not write dot: $(head -3 "$IT_TMP/graph.dot")"
if command -v dot >/dev/null; then
  dot -Tsvg "$IT_TMP/graph.dot" >"$IT_TMP/graph.svg" 2>"$IT_TMP/dot.err" ||
    fail "Graphviz rejects the dot output: $(cat "$IT_TMP/dot.err")"
  [[ ! -s $IT_TMP/dot.err ]] || fail "Graphviz warns about the dot output: $(cat "$IT_TMP/dot.err")"
  for node in "${nodes[@]}"; do
    grep -q "<title>$node</title>" "$IT_TMP/graph.svg" || fail "Graphviz's SVG has no node $node"
  done
elif [[ ${CI:-} == true ]]; then
  fail "Graphviz's dot is missing (CI=true); install the graphviz package"
else
  log "NOT TESTED: Graphviz accepting the dot output (dot is missing; with CI=true this fails)"
fi

log "mermaid"
expect_rc 0 ltb graph "$lab" --format mermaid
expect_output out '^flowchart LR$'
for node in "${nodes[@]}"; do
  expect_output out "\[\"?$node<br/>|\(\[\"$node<br/>"
done
expect_output out '"eth3 - p1"'

log "html in headless Chromium"
html="$artifacts/graph.html"
png="$artifacts/graph.png"
rm -f "$png"
expect_rc 0 ltb graph "$lab" -o "$html"
grep -Eq '(src|href)=|<link|@import|url\(|https://' "$html" && fail "the html fetches something: $(grep -Eo '(src|href)=[^ >]*|<link[^>]*|@import[^;]*|url\([^)]*\)|https://[^ "]*' "$html" | head -3)"
chromium=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $chromium ]]; then
  [[ ${CI:-} == true ]] && fail "Chromium is missing (CI=true); install Debian's chromium package"
  log "NOT TESTED: rendering the html in a browser (chromium is missing; with CI=true this fails)"
else
  # --no-sandbox: the tests run as root. No network is needed: the page is one file.
  browser=("$chromium" --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars
    --user-data-dir="$IT_TMP/chromium")
  timeout 120 "${browser[@]}" --window-size=1200,900 --screenshot="$png" "file://$html" \
    >"$IT_TMP/chromium.out" 2>&1 || fail "chromium --screenshot failed: $(tail -5 "$IT_TMP/chromium.out")"
  [[ -s $png ]] || fail "chromium wrote no screenshot: $(tail -5 "$IT_TMP/chromium.out")"
  [[ $(head -c 8 "$png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "$png is not a PNG"
  # IHDR: width and height, big-endian, at bytes 16..23.
  width=$((16#$(od -An -tx1 -j16 -N4 "$png" | tr -d ' \n')))
  height=$((16#$(od -An -tx1 -j20 -N4 "$png" | tr -d ' \n')))
  size=$(stat -c %s "$png")
  [[ $width -eq 1200 && $height -eq 900 ]] || fail "screenshot is ${width}x$height, expected 1200x900"
  # A blank page compresses to a few kB; a drawn lab with labels is well above that.
  ((size > 15000)) || fail "screenshot is only $size bytes: the page looks blank"
  timeout 120 "${browser[@]}" --dump-dom "file://$html" >"$IT_TMP/dom.html" 2>"$IT_TMP/chromium.err" ||
    fail "chromium --dump-dom failed: $(tail -5 "$IT_TMP/chromium.err")"
  for node in "${nodes[@]}"; do
    grep -q "data-node=\"$node\"" "$IT_TMP/dom.html" || fail "the rendered DOM has no node $node"
  done
  for iface in '>eth3</text>' '>p1</text>' '>backup</text>' '>running</text>'; do
    grep -qF "$iface" "$IT_TMP/dom.html" || fail "the rendered DOM has no label $iface"
  done
  log "screenshot: $png (${width}x$height, $size bytes)"
fi

log "a node stopped with ltb stop shows stopped, and its links down"
expect_rc 0 ltb stop "$lab" --node r2
expect_rc 0 ltb graph "$lab" --format json
jq -e '.nodes[] | select(.name == "r2") | .state == "stopped"' "$IT_TMP/out" >/dev/null ||
  fail "r2 is not stopped in the graph after ltb stop: $(jq -c .nodes "$IT_TMP/out")"
jq -e '[.links[] | select(.name == "backup")][0].state == "down"' "$IT_TMP/out" >/dev/null ||
  fail "r2's link backup is not down in the graph: $(jq -c .links "$IT_TMP/out")"
expect_rc 0 ltb graph "$lab" --format mermaid
expect_output out 'n[0-9]+\["r2<br/>linux<br/>[0-9.]+<br/>stopped"\]:::stopped'
expect_rc 0 ltb start "$lab" --node r2
expect_rc 0 ltb graph "$lab" --format json
jq -e 'all(.nodes[]; .state == "running") and all(.links[]; .state == "up")' "$IT_TMP/out" >/dev/null ||
  fail "not all running and up after ltb start: $(cat "$IT_TMP/out")"

log "a container stopped behind ltb's back shows, and its links are down"
docker stop -t 1 "$(container_name "$lab" h1)" >/dev/null
expect_rc 0 ltb graph "$lab" --format json
state=$(jq -r '.nodes[] | select(.name == "h1") | .state' "$IT_TMP/out")
[[ $state != running && -n $state ]] || fail "h1 is '$state' in the graph after docker stop"
jq -e '.links[] | select(.endpoints[0].node == "h1" or .endpoints[1].node == "h1") | .state == "down"' "$IT_TMP/out" >/dev/null ||
  fail "h1's link is not down in the graph: $(jq -c .links "$IT_TMP/out")"
jq -e '.links[] | select(.name == "backup") | .state == "up"' "$IT_TMP/out" >/dev/null ||
  fail "link backup should still be up: $(jq -c .links "$IT_TMP/out")"
expect_rc 0 ltb graph "$lab" --format mermaid
expect_output out 'n[0-9]+\["h1<br/>linux<br/>[0-9.]+<br/>[a-z]+"\]:::problem'
expect_output out 'n[0-9]+ -\.-\|'

log "bad input"
printf 'name: broken\ntopology:\n  nodes:\n    r1: {kind: linx}\n' >"$IT_TMP/broken.yaml"
expect_rc 2 ltb graph "$IT_TMP/broken.yaml"
expect_output err "broken.yaml:4:[0-9]+: error: .*linx"
expect_output err "did you mean 'linux'"
expect_rc 1 ltb graph it-graf
expect_output err "no lab named 'it-graf'"
expect_output err "did you mean 'it-graph'"
expect_rc 2 ltb graph "$IT_TMP/nothing.yaml"
expect_output err "no file"
expect_rc 2 ltb graph "$lab" --format svg

expect_rc 0 ltb down --lab "$lab"
assert_lab_gone "$lab"
