#!/usr/bin/env bash
# Hostile input (issue 15): a 100 MB topology file, an alias bomb, 10,000-deep nesting, invalid
# UTF-8, NUL bytes and control characters, shell metacharacters in names, paths out of the lab's
# directory (startup-config, binds, env-files, symbolic links, template archives), interface
# names at and over the kernel's limit, 4,096 nodes, duplicate MAC and management addresses,
# state files of a newer ltb or not ltb's at all. The real ltb is run on each, and checked from
# outside: a non-zero exit with an error that names the file with line:column (or the object at
# fault) and says what to do, within a time bound (a hang fails), without a crash (a signal,
# "Segmentation", "terminate called" fail), and nothing made: no container, network, OVS object,
# lab directory or record, a state file that passes `PRAGMA integrity_check`, and one that ltb
# refused keeps every byte. One small lab is deployed, with metacharacters in its interface
# names, exec command and environment, to show that none of them reaches a shell on the host.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_services "$k_busybox"
command -v python3 >/dev/null || fail "python3 is missing (scripts/setup.sh deps installs it)"

prefix=it-hostile
subnet=172.20.244
lab_dir="$IT_TMP/lab"
mkdir -p "$lab_dir"
# A payload that leaves this file behind if a shell on the host ever runs it.
pwned="$IT_TMP/pwned"
# A valid lab of one node.
small="$lab_dir/small.yaml"
printf 'name: %s-small\nmgmt:\n  ipv4-subnet: %s.0/24\ntopology:\n  nodes:\n    a: {kind: linux, image: %s}\n' \
  "$prefix" "$subnet" "$k_busybox" >"$small"

# sql FILE STATEMENT: the rows of one SQLite statement, '|'-separated (python3's sqlite3: the
# sqlite3 command is not needed). The file must exist: it is opened read-write, never created.
sql() {
  python3 - "$1" "$2" <<'PY'
import sqlite3, sys
con = sqlite3.connect("file:" + sys.argv[1] + "?mode=rw", uri=True)
rows = con.execute(sys.argv[2]).fetchall()
con.commit()
con.close()
print("\n".join("|".join(str(v) for v in row) for row in rows))
PY
}

# hostile SECONDS WANT CMD...: runs CMD (stdout to $IT_TMP/out, stderr to $IT_TMP/err) and fails
# the test on a hang (not done within SECONDS), a crash, or an exit code other than WANT. Sets
# h_ms, the wall time.
h_ms=0
hostile() {
  local limit=$1 want=$2 rc=0 start
  shift 2
  start=$(date +%s%N)
  timeout -k 5 "$limit" "$@" </dev/null >"$IT_TMP/out" 2>"$IT_TMP/err" || rc=$?
  h_ms=$((($(date +%s%N) - start) / 1000000))
  ((rc != 124)) || fail "'$*' did not finish within $limit s"
  if ((rc >= 128)) || grep -Eq 'Segmentation|terminate called|internal error|Aborted' \
    "$IT_TMP/out" "$IT_TMP/err"; then
    cat "$IT_TMP/err" >&2
    fail "'$*' crashed (exit $rc)"
  fi
  if ((rc != want)); then
    log "stdout of '$*':"
    cat "$IT_TMP/out" >&2
    log "stderr of '$*':"
    cat "$IT_TMP/err" >&2
    fail "'$*' exited $rc, expected $want"
  fi
}

# peak_kb CMD...: the peak resident memory (KiB) of CMD, whose output is dropped.
peak_kb() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL, timeout=60)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}

# h_ltb SECONDS WANT ARGS...: hostile with this test's ltb and state file.
h_ltb() {
  local limit=$1 want=$2
  shift 2
  hostile "$limit" "$want" "$LTB" --state "$LTB_STATE" "$@"
}

# expect_err ERE: the last command's stderr matches (grep -E), else the test fails showing it.
expect_err() { expect_output err "$1"; }

# expect_help: an error is followed by a help line that says what to do.
expect_help() {
  grep -q '^help: .' "$IT_TMP/err" || {
    cat "$IT_TMP/err" >&2
    fail "no help line after the error"
  }
}

# Fails unless nothing of LAB exists: runtime objects (assert_lab_gone), its directory, its
# record; and the state file, if there is one, is intact.
nothing_made() {
  local lab=$1
  assert_lab_gone "$lab"
  [[ ! -e $IT_TMP/state/labs/$lab ]] || fail "a lab directory was made for $lab"
  if [[ -e $LTB_STATE ]]; then
    expect_rc 1 ltb inspect "$lab"
    expect_output err "no lab named '$lab'"
    [[ $(sql "$LTB_STATE" 'PRAGMA integrity_check') == ok ]] ||
      fail "the state file fails its integrity check"
  fi
}

# refused_both FILE LAB SECONDS: `ltb validate FILE` and `ltb up FILE` exit 2 within SECONDS and
# make nothing; stderr is validate's.
refused_both() {
  local file=$1 lab=$2 limit=$3
  h_ltb "$limit" 2 up "$file"
  nothing_made "$lab"
  h_ltb "$limit" 2 validate "$file"
}

# --- size and structure --------------------------------------------------------------------------
log "a topology file of 100 MB: refused by its size, at once"
big="$IT_TMP/big.yaml"
python3 - "$big" "$prefix-big" "$k_busybox" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write(f"name: {sys.argv[2]}\ntopology:\n  nodes:\n    a:\n      kind: linux\n"
            f"      image: {sys.argv[3]}\n      labels:\n")
    line, size, i = "", 0, 0
    while size < 100 * 1024 * 1024:
        line = f"        k{i}: {'v' * 80}\n"
        f.write(line)
        size += len(line)
        i += 1
PY
refused_both "$big" "$prefix-big" 10
expect_err "^$big: error: the file is 100\\.0 MiB; ltb reads topology files of up to 4 MiB$"
expect_help
big_ms=$h_ms
big_kb=$(peak_kb "$LTB" --state "$LTB_STATE" validate "$big")
((big_ms < 3000)) || fail "refusing a 100 MB file took $big_ms ms"
((big_kb < 100 * 1024)) || fail "refusing a 100 MB file took $big_kb KiB of memory"
# Through a pipe its size is not known beforehand: read up to the limit, then refused.
# shellcheck disable=SC2016 # expanded by the inner shell
hostile 10 2 bash -c 'exec "$1" --state "$2" validate /dev/stdin <"$3"' _ "$LTB" "$LTB_STATE" "$big"
# shellcheck disable=SC2016 # expanded by the inner shell
hostile 10 2 bash -c 'cat "$3" | "$1" --state "$2" validate /dev/stdin' _ "$LTB" "$LTB_STATE" "$big"
expect_err "^/dev/stdin: error: the file is more than 4 MiB"
rm -f "$big"

log "an alias bomb and 10,000-deep nesting: located, at once"
bomb="$lab_dir/bomb.yaml"
{
  echo "name: $prefix-bomb"
  echo "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"
  for level in {1..10}; do
    printf 'x%d: &a%d [*a%d' "$level" "$level" $((level - 1))
    for _ in {1..9}; do printf ', *a%d' $((level - 1)); done
    echo "]"
  done
  echo "topology: {nodes: {r1: {kind: linux, image: $k_busybox, labels: {x: *a10}}}}"
} >"$bomb"
refused_both "$bomb" "$prefix-bomb" 10
expect_err "^$bomb:6:45: error: alias '\\*a3' makes the file's aliases expand to more than 100000 values$"
expect_help
deep="$lab_dir/deep.yaml"
printf 'name: %s-deep\ntopology: %s%s\n' "$prefix" "$(printf '[%.0s' {1..10000})" \
  "$(printf ']%.0s' {1..10000})" >"$deep"
refused_both "$deep" "$prefix-deep" 10
expect_err "^$deep:2:74: error: nesting too deep: maps and lists nest at most 64 levels$"

# --- bytes YAML does not allow --------------------------------------------------------------------
log "invalid UTF-8, NUL bytes and control characters: located"
utf="$lab_dir/utf8.yaml"
printf 'name: %s-utf8\ntopology:\n  nodes:\n    a: {kind: linux, image: "ltb/busy\xff\xfebox"}\n' \
  "$prefix" >"$utf"
refused_both "$utf" "$prefix-utf8" 10
expect_err "^$utf:4:38: error: invalid UTF-8 \\(byte 0xFF\\)$"
expect_help
nul="$lab_dir/nul.yaml"
printf 'name: %s-nul\ntopology:\n  nodes:\n    a: {kind: linux, image: %s}\n\0\n' "$prefix" \
  "$k_busybox" >"$nul"
refused_both "$nul" "$prefix-nul" 10
expect_err "^$nul:5:1: error: a NUL byte: a topology file is text$"
# The NUL itself is never printed.
if tr -d '\n' <"$IT_TMP/err" | grep -qaP '\x00'; then
  fail "the error message holds a NUL byte"
fi
escaped="$lab_dir/escaped-nul.yaml"
printf 'name: %s-nul2\ntopology:\n  nodes:\n    a: {kind: linux, image: "%s\\0:x"}\n' "$prefix" \
  "$k_busybox" >"$escaped"
refused_both "$escaped" "$prefix-nul2" 10
expect_err "^$escaped:4:29: error: a NUL character \\('\\\\0'\\) in a value$"
control="$lab_dir/control.yaml"
printf 'name: %s-ctl\ntopology:\n  nodes:\n    a: {kind: linux, image: %s, labels: {x: "\033]0;owned\007"}}\n' \
  "$prefix" "$k_busybox" >"$control"
refused_both "$control" "$prefix-ctl" 10
expect_err "^$control:4:[0-9]+: error: control character U\\+001B$"
if grep -q $'\033' "$IT_TMP/err"; then
  fail "an escape character of the file reached the terminal"
fi

# --- names with shell metacharacters --------------------------------------------------------------
log "shell metacharacters in the lab, node, interface and image names and env keys: located"
meta="$lab_dir/meta.yaml"
cat >"$meta" <<EOF
name: "$prefix;touch $pwned"
topology:
  nodes:
    "a\$(touch $pwned)": {kind: linux, image: $k_busybox}
    "b\`touch $pwned\`": {kind: linux, image: $k_busybox}
    "c d": {kind: linux, image: $k_busybox}
    "e\\nf": {kind: linux, image: $k_busybox}
    g: {kind: linux, image: "$k_busybox;touch $pwned"}
    h: {kind: linux, image: "$k_busybox \$(touch $pwned)", env: {"PATH=/tmp:\$(touch $pwned)": x}}
  links:
    - endpoints: ["g:eth1 ;touch", "h:eth1"]
EOF
h_ltb 10 2 validate "$meta"
declare -A want=(
  ["lab name"]="^$meta:1:7: error: malformed lab name '$prefix;touch "
  ["node name with \$()"]="^$meta:4:5: error: malformed node name 'a\\\$\\(touch "
  ["node name with backticks"]="^$meta:5:5: error: malformed node name 'b\`touch "
  ["node name with a space"]="^$meta:6:5: error: malformed node name 'c d'"
  ["node name with a newline"]="^$meta:7:5: error: malformed node name 'e"
  ["image with ;"]="^$meta:8:29: error: image '$k_busybox;touch .*' of node 'g' is not an image reference Docker takes"
  ["image with \$()"]="^$meta:9:29: error: image '$k_busybox \\\$\\(touch .*' of node 'h' is not an image reference"
  ["env name with ="]="^$meta:9:[0-9]+: error: malformed environment variable name 'PATH=/tmp:"
  ["interface with a space"]="^$meta:11:22: error: interface name 'eth1 ;touch' contains whitespace"
)
for what in "${!want[@]}"; do
  grep -Eq -- "${want[$what]}" "$IT_TMP/err" || {
    cat "$IT_TMP/err" >&2
    fail "ltb validate does not report the $what as /${want[$what]}/"
  }
done
h_ltb 10 2 up "$meta"
h_ltb 10 2 up "$small" --lab "$prefix\$(touch $pwned)"
expect_err "lab name"
[[ ! -e $pwned ]] || fail "a shell ran a name of the file: $pwned exists"
leftover=$(docker ps -a --format '{{.Names}}' | grep -F -- "$prefix;" || true)
[[ -z $leftover ]] || fail "containers were made for the file with metacharacters: $leftover"

# --- paths out of the lab's directory -------------------------------------------------------------
log "startup-config, env-files, binds and symbolic links out of the lab directory"
ln -s /etc/shadow "$lab_dir/shadow-link.cfg"
mkdir -p "$lab_dir/sub"
ln -s /etc "$lab_dir/sub/etc"
paths="$lab_dir/paths.yaml"
cat >"$paths" <<EOF
name: $prefix-paths
topology:
  nodes:
    a: {kind: linux, image: $k_busybox, startup-config: ../../../../../../../../etc/shadow}
    b: {kind: linux, image: $k_busybox, startup-config: shadow-link.cfg}
    c: {kind: linux, image: $k_busybox, startup-config: sub/etc/shadow}
    d: {kind: linux, image: $k_busybox, binds: ["/etc:/x"]}
    e: {kind: linux, image: $k_busybox, env-files: [/etc/shadow]}
    f: {kind: linux, image: $k_busybox, env-files: [/dev/zero]}
EOF
# A confined lab (a user's, through the daemon) refuses each, located (ltb-topology(5),
# CONFINEMENT); --confined checks as one.
h_ltb 10 2 validate --confined "$paths"
for spec in "4:startup-config '[./]*etc/shadow' leaves the topology file's directory" \
  "5:startup-config 'shadow-link.cfg' leads out of the topology file's directory \\(a symbolic link\\)" \
  "6:startup-config 'sub/etc/shadow' leads out of the topology file's directory" \
  "7:'binds' mounts host paths into the node: bind mounts of host paths are for admins" \
  "8:env-file '/etc/shadow' is a host path" \
  "9:env-file '/dev/zero' is a host path"; do
  expect_err "^$paths:${spec%%:*}:[0-9]+: error: ${spec#*:}"
done
expect_help
# An admin's (root's) lab may use host paths, as the manual says, but not a device that never
# ends: /dev/zero as an env-file is refused at its place instead of read until memory runs out.
h_ltb 10 2 validate "$paths"
expect_err "^$paths:9:[0-9]+: error: env-file '/dev/zero' is not a regular file$"
[[ $(grep -c ': error: ' "$IT_TMP/err") -eq 1 ]] || fail "root's lab: more than the one error: $(cat "$IT_TMP/err")"
nothing_made "$prefix-paths"

log "template archives that reach out of themselves"
secret="$IT_TMP/host-secret.txt"
echo "secret of the importing host $$" >"$secret"
archives="$IT_TMP/archives"
mkdir -p "$archives"
python3 - "$archives" "$secret" "$k_busybox" <<'PY'
import hashlib, io, json, os, sys, tarfile
out, secret, image = sys.argv[1:4]
climb = "../" * 12 + secret.lstrip("/")

def archive(name, topology, extra=(), entries=()):
    files = {"lab.yaml": topology.encode()}
    manifest = {"format": 1, "name": "evil", "topology": "lab.yaml",
                "files": [{"path": p, "sha256": hashlib.sha256(c).hexdigest(), "mode": 420}
                          for p, c in files.items()] + list(extra)}
    with tarfile.open(os.path.join(out, name), "w", format=tarfile.PAX_FORMAT) as tar:
        def add(info, data=b""):
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add(tarfile.TarInfo("ltb-template.json"), json.dumps(manifest).encode())
        for path, content in files.items():
            add(tarfile.TarInfo("files/" + path), content)
        for info in entries:
            tar.addfile(info)

node = "name: evil\ntopology:\n  nodes:\n    a:\n      kind: linux\n      image: " + image + "\n"
archive("absolute-ref.tar", node + "      startup-config: " + secret + "\n")
archive("dotdot-ref.tar", node + "      startup-config: " + climb + "\n")
archive("bind-ref.tar", node + "      binds: [\"" + climb + ":/etc/x\"]\n")
link = tarfile.TarInfo("files/link.cfg"); link.type = tarfile.SYMTYPE; link.linkname = secret
archive("symlink.tar", node, entries=[link])
hard = tarfile.TarInfo("files/hard.cfg"); hard.type = tarfile.LNKTYPE; hard.linkname = secret
archive("hardlink.tar", node, entries=[hard])
absolute = tarfile.TarInfo(secret); absolute.size = 0
archive("absolute-entry.tar", node, entries=[absolute])
up = tarfile.TarInfo("files/../../x"); up.size = 0
archive("dotdot-entry.tar", node, entries=[up])
archive("manifest-dotdot.tar", node, extra=[{"path": "../x", "sha256": "0" * 64}])
PY
declare -A archive_error=(
  [absolute-ref]="node a: startup-config $secret is outside the archive"
  [dotdot-ref]="node a: startup-config $secret is outside the archive"
  [bind-ref]="node a: bind source $secret is outside the archive"
  [symlink]="refusing entry 'files/link.cfg': it is a symbolic link"
  [hardlink]="refusing entry 'files/hard.cfg'"
  [absolute-entry]="refusing entry '$secret'"
  [dotdot-entry]="refusing entry 'files/../../x'"
  [manifest-dotdot]="files/\\.\\./x is listed but not in the archive"
)
for name in "${!archive_error[@]}"; do
  hostile 20 "$([[ $name == *-ref || $name == manifest-* ]] && echo 2 || echo 1)" \
    "$LTB" --state "$LTB_STATE" template import "$archives/$name.tar" --name "hostile-$name"
  expect_err "${archive_error[$name]}"
  expect_help
done
expect_rc 0 ltb template list
grep -q hostile "$IT_TMP/out" && fail "a refused archive was stored: $(cat "$IT_TMP/out")"
# Nothing of the host's file went into the state file.
if grep -qaF "secret of the importing host $$" "$LTB_STATE" "$LTB_STATE-wal" 2>/dev/null; then
  fail "the importing host's file was copied into the state file"
fi

# --- interface names, duplicates, 4,096 nodes -----------------------------------------------------
log "interface names of 15 and 16 bytes; the loopback"
names="$lab_dir/ifnames.yaml"
cat >"$names" <<EOF
name: $prefix-ifn
mgmt:
  ipv4-subnet: $subnet.0/24
topology:
  nodes:
    a: {kind: linux, image: $k_busybox}
    b: {kind: linux, image: $k_busybox}
  links:
    - endpoints: ["a:abcdefghijklmno", "b:eth1"]
EOF
h_ltb 10 0 validate "$names"
echo '    - endpoints: ["a:abcdefghijklmnop", "b:eth2"]' >>"$names"
echo '    - endpoints: ["a:eth3", "host:lo"]' >>"$names"
refused_both "$names" "$prefix-ifn" 10
expect_err "^$names:10:22: error: interface name 'abcdefghijklmnop' is 16 bytes long; Linux allows at most 15$"
expect_err "^$names:11:35: error: interface name 'lo' is taken: it is the loopback interface"
expect_help

log "duplicate management addresses and MAC addresses: located, with where the first one is"
dups="$lab_dir/dups.yaml"
cat >"$dups" <<EOF
name: $prefix-dups
mgmt:
  ipv4-subnet: $subnet.0/24
  ipv6-subnet: 3fff:172:20:244::/64
topology:
  nodes:
    a: {kind: linux, image: $k_busybox, mgmt-ipv4: $subnet.5, mgmt-ipv6: "3fff:172:20:244::5"}
    b: {kind: linux, image: $k_busybox, mgmt-ipv4: $subnet.5, mgmt-ipv6: "3fff:172:20:244:0::5"}
  links:
    - type: dummy
      endpoint: {node: a, interface: d1, mac: "aa:c1:ab:00:00:01"}
    - type: dummy
      endpoint: {node: b, interface: d1, mac: "AA:C1:AB:00:00:01"}
    - type: dummy
      endpoint: {node: b, interface: d2, mac: "01:00:5e:00:00:01"}
EOF
refused_both "$dups" "$prefix-dups" 10
expect_err "^$dups:8:[0-9]+: error: mgmt-ipv4 $subnet\\.5 of node 'b' is already used by node 'a'$"
expect_err "^$dups:8:[0-9]+: error: mgmt-ipv6 3fff:172:20:244:0::5 of node 'b' is already used by node 'a'$"
expect_err "^$dups:13:[0-9]+: error: MAC address AA:C1:AB:00:00:01 of b:d1 is already used by a:d1$"
expect_err "^$dups:11:[0-9]+: note: a:d1 has it here$"
expect_err "^$dups:15:[0-9]+: error: MAC address 01:00:5e:00:00:01 of b:d2 is a multicast address"
expect_help

log "4,096 nodes: validated and planned quickly; refused before anything is made when the subnet is too small"
many="$lab_dir/many.yaml"
{
  printf 'name: %s-4096\nmgmt:\n  ipv4-subnet: 172.21.32.0/19\ntopology:\n' "$prefix"
  printf '  defaults: {kind: linux, image: %s}\n  nodes:\n' "$k_busybox"
  for ((i = 0; i < 4096; i++)); do printf '    n%d: {}\n' "$i"; done
  printf '  links:\n'
  for ((i = 0; i < 4096; i += 2)); do
    printf '    - endpoints: ["n%d:eth1", "n%d:eth1"]\n' "$i" $((i + 1))
  done
} >"$many"
h_ltb 20 0 validate "$many"
expect_output out "valid: lab $prefix-4096, 4096 nodes, 2048 links"
many_validate_ms=$h_ms
((many_validate_ms < 5000)) || fail "validating 4,096 nodes took $many_validate_ms ms"
h_ltb 30 0 up --dry-run "$many"
expect_output out "^lab $prefix-4096: [0-9]+ actions \\(dry run, nothing changed\\)"
many_plan_ms=$h_ms
nothing_made "$prefix-4096"
# In a /24 they do not fit: an error at the subnet, with the size that fits.
sed -i "s|172.21.32.0/19|$subnet.0/24|" "$many"
h_ltb 20 2 validate "$many"
expect_err "^$many:3:16: error: 4096 nodes need an address on the management network, but $subnet\\.0/24 has room for 253$"
expect_err "^help: use a larger mgmt.ipv4-subnet: a /19 holds 8189 nodes$"
# Without a subnet the lab gets a free /24 when it is deployed: refused as a whole, before
# anything is made.
sed -i '/^mgmt:/,/ipv4-subnet/d' "$many"
h_ltb 60 1 up "$many"
expect_err "management subnet .* has no free address left for node"
expect_help
nothing_made "$prefix-4096"

# --- state files that are not this ltb's ----------------------------------------------------------
log "a state file of a newer ltb: every command refuses it, and it keeps every byte"
[[ -e $LTB_STATE ]] || fail "no state file was made by the commands above"
newer="$IT_TMP/newer/state.db"
mkdir -p "$(dirname "$newer")"
sql "$LTB_STATE" "VACUUM INTO '$newer'" >/dev/null
# In rollback-journal mode, as a newer ltb might leave it: even a switch to WAL would write it.
sql "$newer" 'PRAGMA journal_mode = DELETE' >/dev/null
sql "$newer" 'PRAGMA user_version = 999' >/dev/null
before=$(sha256sum <"$newer")
for command in "status" "inspect $prefix-small" "up $small" "up --dry-run $small" \
  "down --lab $prefix-small" "stop $prefix-small" "config list" "template list" "user list" \
  "reserve list" "snapshot list" "link list $prefix-small" "catalog"; do
  # shellcheck disable=SC2086 # the command's words
  hostile 20 1 "$LTB" --state "$newer" $command
  expect_err "state file $newer was written by a newer ltb \\(schema 999, this ltb knows [0-9]+\\); upgrade ltb"
  expect_help
  [[ $(sha256sum <"$newer") == "$before" ]] || fail "ltb $command changed the newer state file"
  [[ ! -s $newer-wal ]] || fail "ltb $command wrote a WAL beside the newer state file"
done
nothing_made "$prefix-small"

log "files that are not an ltb state file: named, refused, kept as they are"
odd="$IT_TMP/odd"
mkdir -p "$odd"
head -c 8192 /dev/urandom >"$odd/random.db"
printf 'this is a text file, not a database\n' >"$odd/text.db"
: >"$odd/empty.db"
sql "$LTB_STATE" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
head -c 10000 "$LTB_STATE" >"$odd/truncated.db"
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("CREATE TABLE moz_places (url TEXT)"); c.commit()' \
  "$odd/other.sqlite"
declare -A odd_error=(
  [random.db]="cannot open it: file is not a database"
  [text.db]="cannot open it: file is not a database"
  [empty.db]="is empty, so it is not an ltb state file"
  [truncated.db]="cannot open it: database disk image is malformed"
  [other.sqlite]="is not ltb's: it is an SQLite database with other tables \\(moz_places\\)"
)
for name in "${!odd_error[@]}"; do
  file="$odd/$name"
  before=$(sha256sum <"$file")
  for command in "status" "up $small" "config list"; do
    # shellcheck disable=SC2086 # the command's words
    hostile 20 1 "$LTB" --state "$file" $command
    expect_err "state file $file:? ${odd_error[$name]}"
    expect_help
    [[ $(sha256sum <"$file") == "$before" ]] || fail "ltb $command changed $name"
  done
done
nothing_made "$prefix-small"

# --- one small lab: metacharacters that are data, not commands ------------------------------------
log "a lab whose interface names, exec command and environment hold shell metacharacters"
data_lab=$prefix-data
track_lab "$data_lab"
marker="/tmp/ltb-hostile-exec-$$"
on_cleanup "rm -f '$marker'"
data="$lab_dir/data.yaml"
cat >"$data" <<EOF
name: $data_lab
mgmt:
  ipv4-subnet: $subnet.0/24
topology:
  nodes:
    a:
      kind: linux
      image: $k_busybox
      env: {"A;B": "x \$(id) \`id\`"}
      exec: ["echo \$((6 * 7)) >$marker"]
    b: {kind: linux, image: $k_busybox}
  links:
    - endpoints: ["a:;id>lhq", "b:\$(id>lhq)"]
EOF
# From the test's directory: a shell that ran an interface name would write lhq there.
cd "$IT_TMP"
h_ltb 120 0 up "$data"
[[ ! -e $marker ]] || fail "the exec command ran on the host: $marker exists"
[[ ! -e $IT_TMP/lhq ]] || fail "an interface name ran in a shell on the host"
[[ $(cexec "$data_lab" a cat "$marker") == 42 ]] || fail "the exec command did not run in node a"
cexec "$data_lab" a ip -o link show ";id>lhq" >/dev/null ||
  fail "node a has no interface named as the file says: $(cexec "$data_lab" a ip -o link)"
cexec "$data_lab" b ip -o link show "\$(id>lhq)" >/dev/null ||
  fail "node b has no interface named '\$(id>lhq)': $(cexec "$data_lab" b ip -o link)"
envs=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$(container_name "$data_lab" a)")
# shellcheck disable=SC2016 # the text as written, not expanded
grep -qxF 'A;B=x $(id) `id`' <<<"$envs" || fail "the environment is not as written: $envs"
expect_rc 0 ltb down --lab "$data_lab"
assert_lab_gone "$data_lab"
[[ ! -e $IT_TMP/lhq && ! -e $pwned ]] || fail "a shell on the host ran a name of the file"

log "figures: 100 MB file refused in $big_ms ms with $((big_kb / 1024)) MiB; 4,096 nodes validated in $many_validate_ms ms, planned in $many_plan_ms ms"
