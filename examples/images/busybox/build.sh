#!/usr/bin/env bash
# ltb/busybox: a few-MB image for plain lab hosts. The statically linked busybox from Debian's
# busybox-static, one symlink per applet (sh, ip, ping, ...), and a minimal /etc with an
# os-release. Its version label is busybox's, from the package.
set -euo pipefail
out=$1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
busybox=/bin/busybox

# The image has no libc, so a dynamically linked busybox (package busybox) would not run in it.
if ! dpkg-query -W -f='${db:Status-Abbrev}' busybox-static 2>/dev/null | grep -q '^ii'; then
  echo "busybox: package busybox-static is not installed (scripts/setup.sh deps installs it)" >&2
  exit 1
fi
if ldd "$busybox" >/dev/null 2>&1; then
  echo "busybox: $busybox is dynamically linked; install busybox-static" >&2
  exit 1
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,proc,sys,dev,run,var/run,tmp}
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
install -m 755 "$busybox" "$root/bin/busybox"
while IFS= read -r applet; do
  [[ $applet == bin/busybox ]] && continue
  mkdir -p "$root/$(dirname "$applet")"
  ln -sf /bin/busybox "$root/$applet"
done < <("$busybox" --list-full)
install -m 644 "$here/passwd" "$here/group" "$root/etc/"
# 1:1.35.0-4+b3 -> 1.35.0: busybox's own version, as `busybox --help` names it.
package_version=$(dpkg-query -W -f='${Version}' busybox-static)
version=${package_version#*:}
version=${version%-*}
cat >"$root/etc/os-release" <<EOF
NAME="ltb busybox"
ID=ltb-busybox
VERSION_ID=$version
PRETTY_NAME="ltb busybox (BusyBox $version)"
EOF
if [[ -n ${LTB_LABELS_FILE:-} ]]; then
  printf 'org.opencontainers.image.version=%s\nltb.package=busybox-static %s\n' "$version" \
    "$package_version" >>"$LTB_LABELS_FILE"
fi
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$out" .
