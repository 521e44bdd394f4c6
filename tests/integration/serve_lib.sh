# Helpers of the `ltb serve` tests (test_serve.sh, test_serve_survival.sh, the serve bench): a
# daemon on a private socket with a test group, and a Unix user made for the test (removed by the
# EXIT trap), who runs ltb through it. Source after lib.sh.
# shellcheck shell=bash

command -v setpriv >/dev/null || fail "setpriv is missing (apt-get install util-linux)"
command -v python3 >/dev/null || fail "python3 is missing (apt-get install python3)"

SERVE_GROUP="ltbt$$"
SERVE_USER="ltbtu$$"
SERVE_HOME="$IT_TMP/home"
SERVE_SOCK="$IT_TMP/run/ltb.sock"
SERVE_PID=

# The user reaches what it needs: $IT_TMP by traversal only, its home, and the ltb binary (a copy:
# the build tree may not be readable by others).
serve_setup() {
  groupadd "$SERVE_GROUP" || fail "groupadd $SERVE_GROUP failed"
  on_cleanup "groupdel $SERVE_GROUP"
  useradd -M -d "$SERVE_HOME" -s /bin/sh -G "$SERVE_GROUP" "$SERVE_USER" ||
    fail "useradd $SERVE_USER failed"
  # userdel first: the group goes after its member.
  IT_CLEANUPS=("userdel $SERVE_USER" "${IT_CLEANUPS[@]}")
  chmod 0711 "$IT_TMP"
  mkdir -p "$SERVE_HOME" "$IT_TMP/bin"
  chown "$SERVE_USER" "$SERVE_HOME"
  chmod 0700 "$SERVE_HOME"
  install -m 0755 "$LTB" "$IT_TMP/bin/ltb"
  # A user ltb knows (once `ltb user` exists: the users' table decides the role).
  if "$LTB" --help | grep -Eq "^  user( |,)"; then
    "$LTB" --state "$LTB_STATE" user add "$SERVE_USER" >/dev/null || fail "ltb user add $SERVE_USER failed"
  fi
}

# serve_start [ARGS...]: the daemon in the background, waits until it answers.
serve_start() {
  "$LTB" --state "$LTB_STATE" --socket "$SERVE_SOCK" serve --group "$SERVE_GROUP" "$@" \
    2>>"$IT_TMP/serve.log" &
  SERVE_PID=$!
  track_pid "$SERVE_PID"
  wait_until 20 raw_request GET /v1/version ||
    fail "ltb serve did not answer on $SERVE_SOCK: $(cat "$IT_TMP/serve.log")"
}

# as_user CMD...: CMD as the test's user, in its home, with the daemon's socket.
as_user() {
  setpriv --reuid "$SERVE_USER" --regid "$SERVE_GROUP" --init-groups \
    env -i PATH="$IT_TMP/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME="$SERVE_HOME" USER="$SERVE_USER" \
    NO_COLOR=1 LTB_SOCKET="$SERVE_SOCK" sh -c 'cd "$HOME" && exec "$@"' sh "$@"
}

# user_bg CMD... &: as_user for a background job: the job's subshell becomes CMD (exec), so that
# $! is ltb's pid and a signal to it reaches ltb (a background subshell ignores SIGINT).
user_bg() {
  exec setpriv --reuid "$SERVE_USER" --regid "$SERVE_GROUP" --init-groups \
    env -i PATH="$IT_TMP/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME="$SERVE_HOME" USER="$SERVE_USER" \
    NO_COLOR=1 LTB_SOCKET="$SERVE_SOCK" sh -c 'cd "$HOME" && exec "$@"' sh "$@"
}

# ultb ARGS...: ltb as the user, through the daemon.
ultb() { as_user ltb "$@"; }

# raw_request METHOD PATH [BODY]: one HTTP request on the socket (as root, or as RAW_USER when
# set: a command prefix such as as_bob); prints the answer.
raw_request() {
  ${RAW_USER:-} python3 - "$SERVE_SOCK" "$@" <<'PY'
import socket, sys
path, method, target = sys.argv[1:4]
body = sys.argv[4].encode() if len(sys.argv) > 4 else b""
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall(f"{method} {target} HTTP/1.1\r\nHost: ltb\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode(errors="replace"))
sys.exit(0 if data.startswith(b"HTTP/1.1 2") else 1)
PY
}

# daemon_alive: the daemon runs and answers /v1/version.
daemon_alive() {
  kill -0 "$SERVE_PID" 2>/dev/null || fail "the daemon died: $(tail -n 20 "$IT_TMP/serve.log")"
  raw_request GET /v1/version >/dev/null || fail "the daemon no longer answers /v1/version"
}

# The commands the daemon runs now: the children of its fork server (the child whose command
# line is the daemon's own), or its own children without one; never its scheduler.
daemon_children() {
  local child own
  own=$(tr '\0' ' ' <"/proc/$SERVE_PID/cmdline" 2>/dev/null)
  for child in $(pgrep -P "$SERVE_PID"); do
    if [[ $(tr '\0' ' ' <"/proc/$child/cmdline" 2>/dev/null) == "$own" ]]; then
      pgrep -P "$child" || true
    elif ! tr '\0' ' ' <"/proc/$child/cmdline" 2>/dev/null | grep -q -- "--state $LTB_STATE schedule run"; then
      echo "$child"
    fi
  done
}

# daemon_runs COMMAND: whether the daemon runs an `ltb COMMAND` now. A child of its fork server
# keeps the daemon's command line where ltb may not rewrite it (no CAP_SYS_RESOURCE) and is known
# by its name ("ltb capture", what ps -e shows); a child made by exec, by its command line.
daemon_runs() {
  local child
  for child in $(daemon_children); do
    [[ $(cat "/proc/$child/comm" 2>/dev/null) == "ltb $1" ]] && return 0
    tr '\0' ' ' <"/proc/$child/cmdline" 2>/dev/null | grep -q -- " $1 " && return 0
  done
  return 1
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now (for a daemon's --listen).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
