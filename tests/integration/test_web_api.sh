#!/usr/bin/env bash
# The daemon's network listener (`ltb serve --listen`), tried with curl as a browser and an API
# client would, and as another user and an attacker would:
# - every route answers 401 (JSON, WWW-Authenticate) without credentials;
# - login with a web password: the session cookie's attributes, its CSRF token (a change without
#   it is refused), logout;
# - bearer tokens: accepted, then refused once revoked or expired;
# - a buffered command with the files it names; the events stream; a capture downloaded as pcap
#   (read by tshark), and nothing left when the client goes away mid-stream;
# - another user sees none of the first user's labs, through any route;
# - security headers on every answer; the web UI's files with its fallback, nothing outside it;
# - HTTPS with a self-signed certificate (Secure cookie, HSTS); plain HTTP off loopback refused;
# - failed logins rate-limited (429 + Retry-After), even for the right password then.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
require_services "$k_busybox"
((EUID == 0)) || fail "this test makes Unix users: run it as root"
for tool in curl openssl tshark jq; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install $tool)"
done

serve_setup
other="ltbtw$$"
useradd -M -N -s /bin/sh "$other" || fail "useradd $other failed"
IT_CLEANUPS=("userdel $other" "${IT_CLEANUPS[@]}")
ltb user add "$other" >/dev/null || fail "ltb user add $other failed"

port=$(free_port)
web="$IT_TMP/web"
mkdir -p "$web/assets"
echo '<!doctype html><title>ltb</title><script src="./assets/app-1.js"></script>' >"$web/index.html"
echo 'console.log("ltb")' >"$web/assets/app-1.js"
# The precompressed copy the UI's build makes beside each text file.
echo 'console.log("ltb, from the .gz")' | gzip -9 >"$web/assets/app-1.js.gz"
ln -s /etc/passwd "$web/assets/passwd.js"
serve_start --listen "127.0.0.1:$port" --web-root "$web"
base="http://127.0.0.1:$port"

# req ARGS...: curl with the answer's head in $IT_TMP/head and its body in $IT_TMP/body; prints
# the status code.
req() {
  curl -sS -o "$IT_TMP/body" -D "$IT_TMP/head" -w '%{http_code}' "$@"
}
# header NAME: the value of a header of the last answer.
header() { grep -i "^$1:" "$IT_TMP/head" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
expect_status() {
  local want=$1
  shift
  local got
  got=$(req "$@") || fail "curl $* failed"
  [[ $got == "$want" ]] || fail "curl $*: $got, not $want: $(cat "$IT_TMP/body")"
}

lab=webapi
lab_id=${SERVE_USER}__$lab
track_lab "$lab_id"
cat >"$SERVE_HOME/lab.yaml" <<EOF
name: $lab
mgmt:
  ipv4-subnet: 172.20.215.0/24
topology:
  nodes:
    n1: {kind: linux, image: $k_busybox}
    n2: {kind: linux, image: $k_busybox}
  links:
    - endpoints: ["n1:eth1", "n2:eth1"]
EOF
chown "$SERVE_USER" "$SERVE_HOME/lab.yaml"
expect_rc 0 ultb up lab.yaml

log "without credentials every route is refused with 401"
for route in "GET /v1/version" "GET /v1/whoami" "GET /v1/labs" "GET /v1/labs/$lab" \
  "POST /v1/commands" "POST /v1/logout" "GET /v1/events/stream" "GET /v1/capture?target=n1-n2" \
  "GET /v1/terminal"; do
  expect_status 401 -X "${route% *}" "$base${route#* }"
  jq -e '.error and .help' "$IT_TMP/body" >/dev/null || fail "$route: no JSON error: $(cat "$IT_TMP/body")"
  [[ $(header WWW-Authenticate) == Bearer* ]] || fail "$route: no WWW-Authenticate"
  [[ $(header X-Content-Type-Options) == nosniff ]] || fail "$route: no security headers"
  [[ $(header X-Frame-Options) == DENY ]] || fail "$route: no X-Frame-Options"
done
expect_status 401 -H "Authorization: Bearer ltb_0123456789abcdef_$(printf '0%.0s' {1..64})" "$base/v1/labs"
expect_status 401 -H "Cookie: ltb_session=made-up" "$base/v1/labs"
# The unix socket's streamed commands are not for the network.
expect_status 401 -X POST -H 'Connection: Upgrade' -H 'Upgrade: ltb-stream/1' "$base/v1/commands"

log "login: a wrong password and an unknown user get the same answer"
printf 'a long web phrase\n' | ltb user passwd "$SERVE_USER" --stdin >/dev/null || fail "ltb user passwd failed"
printf 'the other phrase\n' | ltb user passwd "$other" --stdin >/dev/null || fail "ltb user passwd failed"
expect_status 401 -X POST -d "{\"user\":\"$SERVE_USER\",\"password\":\"wrong phrase\"}" "$base/v1/login"
first=$(jq -r .error "$IT_TMP/body")
expect_status 401 -X POST -d '{"user":"nosuchuser","password":"wrong phrase"}' "$base/v1/login"
[[ $(jq -r .error "$IT_TMP/body") == "$first" ]] || fail "an unknown user is told apart: $(cat "$IT_TMP/body")"
expect_status 400 -X POST -d 'not json' "$base/v1/login"
expect_status 400 -X POST -d '{"user": 1}' "$base/v1/login"

log "login: the session cookie is HttpOnly and SameSite=Strict; whoami repeats the CSRF token"
expect_status 200 -X POST -d "{\"user\":\"$SERVE_USER\",\"password\":\"a long web phrase\"}" "$base/v1/login"
cookie=$(header Set-Cookie)
[[ $cookie == ltb_session=*"; Path=/;"*"HttpOnly; SameSite=Strict"* ]] || fail "session cookie: $cookie"
[[ $cookie != *Secure* ]] || fail "a plain-HTTP cookie is marked Secure: $cookie"
session=${cookie%%;*}
csrf=$(jq -r .csrf_token "$IT_TMP/body")
[[ $(jq -r .user "$IT_TMP/body") == "$SERVE_USER" && ${#csrf} == 64 ]] || fail "login answer: $(cat "$IT_TMP/body")"
expect_status 200 -H "Cookie: $session" "$base/v1/whoami"
[[ $(jq -r .csrf_token "$IT_TMP/body") == "$csrf" && $(jq -r .name "$IT_TMP/body") == "$SERVE_USER" ]] ||
  fail "whoami: $(cat "$IT_TMP/body")"
[[ $(header Cache-Control) == no-store ]] || fail "the API's answers may be cached"
expect_status 200 -H "Cookie: $session" "$base/v1/labs"
jq -e --arg lab "$lab" '.labs | map(.name) | index($lab) != null' "$IT_TMP/body" >/dev/null ||
  fail "the user's lab is not listed: $(cat "$IT_TMP/body")"
expect_status 200 -H "Cookie: $session" "$base/v1/labs/$lab"

log "a change with the cookie needs the CSRF token"
expect_status 403 -X POST -H "Cookie: $session" -d '{"argv":["status"]}' "$base/v1/commands"
expect_output_file() { grep -q -- "$2" "$1" || fail "$1 has no '$2': $(cat "$1")"; }
expect_output_file "$IT_TMP/body" "X-CSRF-Token"
expect_status 403 -X POST -H "Cookie: $session" -H "X-CSRF-Token: ${csrf/a/b}0" -d '{"argv":["status"]}' "$base/v1/commands"
expect_status 200 -X POST -H "Cookie: $session" -H "X-CSRF-Token: $csrf" \
  -d '{"argv":["status","--format","json"]}' "$base/v1/commands"
jq -e --arg lab "$lab" '.exit == 0 and (.stdout | fromjson | .labs | map(.name) | index($lab) != null)' \
  "$IT_TMP/body" >/dev/null || fail "buffered status: $(cat "$IT_TMP/body")"
# A command with a file: the daemon writes it under the request's directory, never opens a path.
b64=$(base64 -w0 "$SERVE_HOME/lab.yaml")
expect_status 200 -X POST -H "Cookie: $session" -H "X-CSRF-Token: $csrf" \
  -d "{\"argv\":[\"validate\",\"lab.yaml\"],\"files\":[{\"index\":1,\"direction\":\"in\",\"main\":\"lab.yaml\",\"entries\":[{\"path\":\"lab.yaml\",\"mode\":420,\"data\":\"$b64\"}]}]}" \
  "$base/v1/commands"
jq -e '.exit == 0' "$IT_TMP/body" >/dev/null || fail "buffered validate with a file: $(cat "$IT_TMP/body")"
expect_status 200 -X POST -H "Cookie: $session" -H "X-CSRF-Token: $csrf" \
  -d '{"argv":["validate","/etc/shadow"]}' "$base/v1/commands"
jq -e '.exit == 2 and (.stderr | contains("/etc/shadow"))' "$IT_TMP/body" >/dev/null ||
  fail "a path on the host was not refused: $(cat "$IT_TMP/body")"
expect_status 400 -X POST -H "Cookie: $session" -H "X-CSRF-Token: $csrf" -d '{"argv":"status"}' "$base/v1/commands"
jq -e '.error | contains("argv")' "$IT_TMP/body" >/dev/null || fail "malformed command: $(cat "$IT_TMP/body")"
expect_status 403 -X POST -H "Cookie: $session" -H "X-CSRF-Token: $csrf" -d '{"argv":["serve"]}' "$base/v1/commands"

log "bearer tokens: accepted, then refused once revoked or expired"
token=$(ltb user token create "$SERVE_USER" --expires 1h --name web | head -1)
tid=$(sed -E 's/^ltb_([0-9a-f]{16})_.*/\1/' <<<"$token")
expect_status 200 -H "Authorization: Bearer $token" "$base/v1/labs/$lab"
# No CSRF token is asked of a bearer: a browser never sends one by itself.
expect_status 200 -X POST -H "Authorization: Bearer $token" -d '{"argv":["status"]}' "$base/v1/commands"
expect_rc 0 ltb user token rm "$tid"
expect_status 401 -H "Authorization: Bearer $token" "$base/v1/labs/$lab"
short=$(ltb user token create "$SERVE_USER" --expires 1s | head -1)
sleep 2
expect_status 401 -H "Authorization: Bearer $short" "$base/v1/labs"

log "the events stream"
curl -sS -N --max-time 4 -H "Cookie: $session" "$base/v1/events/stream?lab=$lab&initial=true" \
  >"$IT_TMP/events" 2>/dev/null || true
grep -q '^data: {' "$IT_TMP/events" || fail "no events: $(head -c 500 "$IT_TMP/events")"
sed -n 's/^data: //p' "$IT_TMP/events" | head -1 | jq -e --arg lab "$lab" '.lab == $lab' >/dev/null ||
  fail "an event of another lab: $(head -3 "$IT_TMP/events")"
expect_status 400 -H "Cookie: $session" "$base/v1/events/stream?bogus=1"
# A page of another site cannot open the stream with the user's cookie.
expect_status 403 -H "Cookie: $session" -H "Origin: http://evil.example" "$base/v1/events/stream"

log "a capture downloaded as a pcap, and none left when the client goes"
ultb exec --lab "$lab" n1 -- ip addr add 10.9.0.1/24 dev eth1 >/dev/null || fail "addr n1"
ultb exec --lab "$lab" n2 -- ip addr add 10.9.0.2/24 dev eth1 >/dev/null || fail "addr n2"
ultb exec --lab "$lab" n1 -- ping -c 30 -i 0.2 10.9.0.2 >/dev/null 2>&1 &
ping_pid=$!
track_pid "$ping_pid"
expect_status 200 --max-time 30 -H "Cookie: $session" "$base/v1/capture?lab=$lab&target=n1-n2&count=4"
[[ $(header Content-Type) == application/vnd.tcpdump.pcap ]] || fail "capture type: $(header Content-Type)"
[[ $(header Content-Disposition) == *"filename=\"$lab-n1-n2.pcap\""* ]] || fail "capture name"
packets=$(tshark -r "$IT_TMP/body" 2>/dev/null | wc -l)
((packets == 4)) || fail "the capture has $packets packets, not 4"
tshark -r "$IT_TMP/body" -Y icmp 2>/dev/null | grep -q ICMP || fail "the capture has no ICMP"
# A download the browser drops: the capture it started must end with it.
curl -sS -N -o "$IT_TMP/cut.pcap" -H "Cookie: $session" "$base/v1/capture?lab=$lab&target=n1-n2" \
  2>/dev/null &
cut_pid=$!
track_pid "$cut_pid"
wait_until 10 daemon_runs capture || fail "no capture seen while one ran: the check below would prove nothing"
kill "$cut_pid"
wait "$cut_pid" 2>/dev/null || true
wait_until 10 eval '! daemon_runs capture' || fail "a capture outlived its client"
expect_status 422 -H "Cookie: $session" "$base/v1/capture?lab=$lab&target=n1-n9"
jq -e '.error | contains("n9")' "$IT_TMP/body" >/dev/null || fail "capture error: $(cat "$IT_TMP/body")"
expect_status 400 -H "Cookie: $session" "$base/v1/capture?lab=$lab"
wait "$ping_pid" 2>/dev/null || true

log "another user sees none of the first user's labs"
expect_status 200 -X POST -d "{\"user\":\"$other\",\"password\":\"the other phrase\"}" "$base/v1/login"
ocookie=$(header Set-Cookie)
osession=${ocookie%%;*}
ocsrf=$(jq -r .csrf_token "$IT_TMP/body")
expect_status 200 -H "Cookie: $osession" "$base/v1/labs"
jq -e '.labs | length == 0' "$IT_TMP/body" >/dev/null || fail "the other user sees labs: $(cat "$IT_TMP/body")"
expect_status 404 -H "Cookie: $osession" "$base/v1/labs/$lab"
expect_status 404 -H "Cookie: $osession" "$base/v1/labs/$lab_id"
expect_status 200 -X POST -H "Cookie: $osession" -H "X-CSRF-Token: $ocsrf" \
  -d "{\"argv\":[\"stop\",\"$lab_id\"]}" "$base/v1/commands"
jq -e '.exit != 0' "$IT_TMP/body" >/dev/null || fail "the other user stopped the lab: $(cat "$IT_TMP/body")"
expect_status 422 -H "Cookie: $osession" "$base/v1/capture?lab=$lab_id&target=n1-n2&count=1"
curl -sS -N --max-time 3 -H "Cookie: $osession" "$base/v1/events/stream?lab=$lab_id" >"$IT_TMP/oevents" 2>/dev/null || true
! grep -q '^data: {' "$IT_TMP/oevents" || fail "the other user got the lab's events: $(head -3 "$IT_TMP/oevents")"
# The first user's session and CSRF token are not the other's.
expect_status 403 -X POST -H "Cookie: $osession" -H "X-CSRF-Token: $csrf" -d '{"argv":["status"]}' "$base/v1/commands"
[[ $(ltb status "$lab_id" --format json | jq -r '.nodes[0].state') == running ]] || fail "the lab was touched"

log "the web terminal: owner, watcher, another user, another site, flow control, the end"
command -v node >/dev/null || fail "node is missing (the web UI's set-up installs it)"
[[ -d $LTB_SOURCE_DIR/tests/browser/node_modules/ws ]] ||
  fail "tests/browser's modules are missing: run scripts/setup.sh web"
node "$LTB_SOURCE_DIR/tests/browser/terminal_api.mjs" "$base" "$session" "$osession" "$lab" n1 ||
  fail "the web terminal's checks failed"
wait_until 10 eval '! daemon_runs exec' || fail "a terminal's command outlived its session"

log "the web UI's files: its pages, its fallback, nothing outside"
expect_status 200 "$base/"
[[ $(header Content-Type) == text/html* ]] || fail "index type"
[[ $(header Content-Security-Policy) == *"script-src 'self'"* ]] || fail "page CSP: $(header Content-Security-Policy)"
expect_status 200 "$base/labs/$lab"
grep -q '<title>ltb</title>' "$IT_TMP/body" || fail "the UI's routes do not fall back to index.html"
expect_status 200 "$base/assets/app-1.js"
[[ $(header Cache-Control) == *immutable* ]] || fail "assets are not cached"
[[ -z $(header Content-Encoding) ]] || fail "gzip sent to a client that did not ask for it"
grep -q '^console.log("ltb")$' "$IT_TMP/body" || fail "the plain asset: $(head -c 100 "$IT_TMP/body")"
expect_status 200 -H 'Accept-Encoding: gzip, br' "$base/assets/app-1.js"
[[ $(header Content-Encoding) == gzip ]] || fail "the .gz was not sent to a client taking gzip"
[[ $(header Vary) == *Accept-Encoding* ]] || fail "no Vary: Accept-Encoding"
[[ $(gzip -dc "$IT_TMP/body") == 'console.log("ltb, from the .gz")' ]] || fail "not the .gz's content"
expect_status 200 -H 'Accept-Encoding: gzip;q=0' "$base/assets/app-1.js"
[[ -z $(header Content-Encoding) ]] || fail "gzip sent although q=0 refused it"
expect_status 404 "$base/assets/missing.js"
expect_status 404 "$base/assets/passwd.js" # a symlink out of the root
expect_status 404 --path-as-is "$base/../../etc/passwd"
expect_status 404 --path-as-is "$base/assets/%2e%2e/%2e%2e/etc/passwd"
expect_status 404 "$base/v1/nothing"

log "logout ends the session"
expect_status 403 -X POST -H "Cookie: $session" "$base/v1/logout"
expect_status 200 -X POST -H "Cookie: $session" -H "X-CSRF-Token: $csrf" "$base/v1/logout"
[[ $(header Set-Cookie) == *"Max-Age=0"* ]] || fail "logout does not clear the cookie"
expect_status 401 -H "Cookie: $session" "$base/v1/labs"

log "failed logins are rate-limited, then even the right password waits"
for i in 1 2 3 4 5; do
  expect_status 401 -X POST -d "{\"user\":\"$other\",\"password\":\"guess $i\"}" "$base/v1/login"
done
expect_status 429 -X POST -d "{\"user\":\"$other\",\"password\":\"guess 6\"}" "$base/v1/login"
retry=$(header Retry-After)
((retry > 0 && retry <= 300)) || fail "Retry-After: $retry"
expect_status 429 -X POST -d "{\"user\":\"$other\",\"password\":\"the other phrase\"}" "$base/v1/login"
# Another name from the same address is not blocked by one user's failures.
expect_status 200 -X POST -d "{\"user\":\"$SERVE_USER\",\"password\":\"a long web phrase\"}" "$base/v1/login"
grep -q "failed login as $other" "$IT_TMP/serve.log" || fail "failed logins are not logged"

log "listener options that would be unsafe or wrong are refused before serving"
stop_daemon() {
  kill -TERM "$SERVE_PID"
  wait "$SERVE_PID" 2>/dev/null || true
}
stop_daemon
expect_rc 2 ltb --socket "$IT_TMP/run2/ltb.sock" serve --group "$SERVE_GROUP" --listen "0.0.0.0:$port"
expect_output err "without TLS would send passwords"
expect_output err "help: give --tls-cert FILE --tls-key FILE"
expect_rc 2 ltb --socket "$IT_TMP/run2/ltb.sock" serve --group "$SERVE_GROUP" --listen "localhost:$port"
expect_output err "is not an IP address"
expect_rc 2 ltb --socket "$IT_TMP/run2/ltb.sock" serve --group "$SERVE_GROUP" --tls-cert /dev/null --tls-key /dev/null
expect_output err "are for the network listener"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$IT_TMP/key.pem" -out "$IT_TMP/cert.pem" \
  >/dev/null 2>&1 || fail "openssl could not make a certificate"
expect_rc 2 ltb --socket "$IT_TMP/run2/ltb.sock" serve --group "$SERVE_GROUP" --listen "127.0.0.1:$port" \
  --tls-cert "$IT_TMP/key.pem" --tls-key "$IT_TMP/key.pem"
expect_output err "tls-cert $IT_TMP/key.pem"

log "HTTPS with a self-signed certificate: Secure cookie, HSTS"
tport=$(free_port)
serve_start --listen "127.0.0.1:$tport" --tls-cert "$IT_TMP/cert.pem" --tls-key "$IT_TMP/key.pem"
tbase="https://127.0.0.1:$tport"
expect_status 401 --cacert "$IT_TMP/cert.pem" "$tbase/v1/labs"
expect_status 200 --cacert "$IT_TMP/cert.pem" -X POST \
  -d "{\"user\":\"$SERVE_USER\",\"password\":\"a long web phrase\"}" "$tbase/v1/login"
[[ $(header Set-Cookie) == *"; Secure"* ]] || fail "an HTTPS cookie is not Secure: $(header Set-Cookie)"
[[ $(header Strict-Transport-Security) == max-age=* ]] || fail "no HSTS under TLS"
tsession=$(header Set-Cookie)
tsession=${tsession%%;*}
expect_status 200 --cacert "$IT_TMP/cert.pem" -H "Cookie: $tsession" "$tbase/v1/labs/$lab"
# Sessions live in the daemon: the plain daemon's are gone with it.
expect_status 401 --cacert "$IT_TMP/cert.pem" -H "Cookie: $osession" "$tbase/v1/labs"
# Plain HTTP to the TLS port gets no answer, and the daemon carries on.
curl -sS --max-time 5 "http://127.0.0.1:$tport/v1/labs" >/dev/null 2>&1 && fail "plain HTTP answered on the TLS port"
expect_status 200 --cacert "$IT_TMP/cert.pem" -H "Cookie: $tsession" "$tbase/v1/labs"
daemon_alive

log "down"
expect_rc 0 ultb down --lab "$lab"
assert_lab_gone "$lab_id"
[[ -z $(find "$(dirname "$SERVE_SOCK")" -name 'req-*') ]] || fail "request directories were left behind"
log "ok"
