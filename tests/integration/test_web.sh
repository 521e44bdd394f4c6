#!/usr/bin/env bash
# The web UI in a real browser: a private `ltb serve --listen 127.0.0.1:PORT --web-root web/dist`,
# two Unix users made for the test with web passwords (and an admin for the users page), and
# tests/browser/scenario.mjs driving Debian's headless Chromium with puppeteer-core: log in; upload
# examples/frr-ospf.yaml with its router configs as a template; deploy it; open the terminal on r1
# and run `vtysh -c 'show ip ospf neighbor'` until it shows Full (UTF-8 echo, a read-only watcher
# through the share link, a reload that reattaches); set 50 ms delay on r1-r2 and see it in the
# drawing; stop and start the lab; book a reservation that is admitted, one that is refused with a
# proposed start, and book at that start; download a capture of r1-r2 and read it with tshark;
# log in as the second user and see none of the first user's labs or templates; remove the lab.
# Screenshots of each page go to build/test-artifacts/web/ (not committed). Needs chromium, node and npm, tshark, the built bundle (make web) and the browser
# test's node modules (make web installs them too).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
require_services "$k_frr" "$k_busybox"
((EUID == 0)) || fail "this test makes Unix users: run it as root"

k_web_dist=${LTB_WEB_ROOT:-$LTB_SOURCE_DIR/web/dist}
k_browser_dir=$LTB_SOURCE_DIR/tests/browser
k_chromium=${CHROMIUM:-/usr/bin/chromium}
# Screenshots and the pcap: the build tree's test-artifacts (LTB is <build>/ltb), as test_graph's.
artifacts=${LTB_ARTIFACTS:-$(dirname "$LTB")/test-artifacts}/web

[[ -x $k_chromium ]] || fail "$k_chromium is missing (apt-get install chromium; scripts/setup.sh deps installs it)"
command -v node >/dev/null || fail "node is missing (apt-get install nodejs npm)"
command -v tshark >/dev/null || fail "tshark is missing (apt-get install tshark)"
[[ -f $k_web_dist/index.html ]] || fail "no web bundle in $k_web_dist; build it: make web"
[[ -d $k_browser_dir/node_modules/puppeteer-core ]] ||
  fail "puppeteer-core is not installed in $k_browser_dir; run: make web (or npm ci there)"
"$LTB" serve --help | grep -q -- '--listen' || fail "this ltb has no 'serve --listen'"

lab=webospf
template=web-ospf
serve_setup
user1=$SERVE_USER
# The labs of a user are known to root (and the runtimes) as OWNER__NAME.
track_lab "${user1}__$lab"

user2=ltbtw2$$
admin=ltbtwa$$
for u in "$user2" "$admin"; do
  useradd -M -N -G "$SERVE_GROUP" -s /bin/sh "$u" || fail "useradd $u failed"
  # Before the group goes (the EXIT trap runs cleanups in order; serve_setup's userdel is first).
  IT_CLEANUPS=("userdel $u" "${IT_CLEANUPS[@]}")
done
ltb user add "$user2" >/dev/null || fail "ltb user add $user2 failed"
ltb user add "$admin" --role admin >/dev/null || fail "ltb user add $admin failed"
pass1="pw1-$RANDOM$RANDOM"
pass2="pw2-$RANDOM$RANDOM"
pass_admin="pwa-$RANDOM$RANDOM"
ltb user passwd "$user1" --stdin <<<"$pass1" >/dev/null || fail "ltb user passwd $user1 failed"
ltb user passwd "$user2" --stdin <<<"$pass2" >/dev/null || fail "ltb user passwd $user2 failed"
ltb user passwd "$admin" --stdin <<<"$pass_admin" >/dev/null || fail "ltb user passwd $admin failed"

# The reservation steps count on a capacity of 8 vCPU (2 CPUs x 4): set it, whatever this host has.
ltb config set cpus 2 >/dev/null
ltb config set cpu-overcommit 4 >/dev/null
ltb config set memory 16GiB >/dev/null

# The files the browser uploads: the example with its own management subnet (another lab on this
# machine may use the pinned one), its router configs beside it, and the smallest lab.
example=$LTB_SOURCE_DIR/examples/frr-ospf.yaml
files=$IT_TMP/upload
mkdir -p "$files"
grep -q '^  ipv4-subnet: 172\.20\.30\.0/24$' "$example" ||
  fail "$example no longer pins mgmt ipv4-subnet 172.20.30.0/24; update this test"
sed 's|^  ipv4-subnet: 172\.20\.30\.0/24$|  ipv4-subnet: 172.20.232.0/24|' "$example" >"$files/frr-ospf.yaml"
cp -r "$LTB_SOURCE_DIR/examples/frr-ospf" "$files/"
cp "$LTB_SOURCE_DIR/examples/two-hosts.yaml" "$files/"
chmod -R a+rX "$files"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
serve_start --listen "127.0.0.1:$port" --web-root "$k_web_dist"
wait_until 20 curl -sf -o /dev/null "http://127.0.0.1:$port/" ||
  fail "ltb serve does not answer on 127.0.0.1:$port: $(tail -n 20 "$IT_TMP/serve.log")"

rm -rf "$artifacts"
mkdir -p "$artifacts"
log "browser scenario against http://127.0.0.1:$port/ (screenshots: $artifacts)"
rc=0
(cd "$k_browser_dir" && LTB_WEB_URL="http://127.0.0.1:$port/" \
  LTB_WEB_USER1="$user1" LTB_WEB_PASS1="$pass1" LTB_WEB_USER2="$user2" LTB_WEB_PASS2="$pass2" \
  LTB_WEB_ADMIN="$admin" LTB_WEB_ADMIN_PASS="$pass_admin" LTB_WEB_FILES="$files" \
  LTB_WEB_LAB="$lab" LTB_WEB_TEMPLATE="$template" LTB_WEB_ARTIFACTS="$artifacts" \
  CHROMIUM="$k_chromium" timeout 900 node scenario.mjs) || rc=$?
((rc == 0)) || fail "the browser scenario failed (exit $rc); screenshots in $artifacts; the lab's status now: $(ltb status "${user1}__$lab" 2>&1 | tail -n 20); daemon log: $(tail -n 30 "$IT_TMP/serve.log")"
daemon_alive
