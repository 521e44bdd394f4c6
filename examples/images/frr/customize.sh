#!/usr/bin/env bash
# mmdebstrap customize hook for ltb/frr; $1 is the new root file system (we run outside it, as root).
set -euo pipefail
root=$1

chmod 755 "$root/usr/local/sbin/ltb-frr-start"
chmod 644 "$root/etc/ssh/sshd_config.d/ltb.conf"

# Daemons the lab examples use; zebra, staticd and watchfrr always run.
for daemon in bgpd ospfd ospf6d isisd; do
  sed -i -E "s/^${daemon}=no/${daemon}=yes/" "$root/etc/frr/daemons"
  grep -qx "${daemon}=yes" "$root/etc/frr/daemons" || {
    echo "frr: could not enable $daemon in /etc/frr/daemons" >&2
    exit 1
  }
done

# One frr.conf for all daemons: that is where ltb puts a node's startup-config.
if ! grep -qx 'service integrated-vtysh-config' "$root/etc/frr/vtysh.conf" 2>/dev/null; then
  sed -i '/integrated-vtysh-config/d' "$root/etc/frr/vtysh.conf" 2>/dev/null || true
  echo 'service integrated-vtysh-config' >>"$root/etc/frr/vtysh.conf"
fi

mkdir -p "$root/run/sshd"
# Host keys are made per node at start (ltb-frr-start), not baked into the image.
rm -f "$root"/etc/ssh/ssh_host_*
# A lab login on the isolated management network, as lab router images commonly ship.
echo 'root:ltb' | chroot "$root" chpasswd

rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/var/log/apt/* "$root"/var/log/dpkg.log
