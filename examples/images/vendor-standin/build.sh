#!/usr/bin/env bash
# ltb/vendor-standin: NOT a vendor's image. No vendor image can be pulled where ltb is tested, so
# the vendor kinds (nokia_srlinux, arista_ceos, juniper_crpd, sonic-vs) are tested with this
# stand-in, which records what the node was given: every start program it is asked to run
# (/standin/calls), its environment, mounts, sysctls and, each second, its interface names
# (/standin/{env,mounts,sysctls,interfaces}). It has the programs the kinds' start commands,
# exec and readiness checks name (sudo, bash, /sbin/init, sr_linux, supervisord, supervisorctl,
# Cli, cli), each a script that records its call. tests/integration/test_vendor_kinds.sh reads
# the records. Built like ltb/busybox: Debian's static busybox and symlinks.
set -euo pipefail
out=$1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
busybox=/bin/busybox
if ldd "$busybox" >/dev/null 2>&1; then
  echo "vendor-standin: $busybox is dynamically linked; install busybox-static" >&2
  exit 1
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/lib/standin,etc,root,proc,sys,dev,run,tmp,standin}
mkdir -p "$root"/opt/srlinux/bin
chmod 1777 "$root/tmp"
install -m 755 "$busybox" "$root/bin/busybox"
while IFS= read -r applet; do
  [[ $applet == bin/busybox || $applet == bin/bash || $applet == sbin/init ]] && continue
  mkdir -p "$root/$(dirname "$applet")"
  ln -sf /bin/busybox "$root/$applet"
done < <("$busybox" --list-full)
install -m 755 "$here/standin" "$root/usr/lib/standin/standin"
for program in usr/bin/sudo bin/bash sbin/init opt/srlinux/bin/sr_linux usr/bin/supervisord \
  usr/bin/supervisorctl usr/bin/Cli usr/bin/cli; do
  rm -f "${root:?}/$program"
  ln -s /usr/lib/standin/standin "$root/$program"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
cat >"$root/etc/os-release" <<'OS'
NAME="ltb vendor stand-in"
ID=ltb-vendor-standin
PRETTY_NAME="ltb vendor stand-in (records what it was given)"
OS
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$out" .
