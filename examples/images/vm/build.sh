#!/usr/bin/env bash
# ltb-vm: a VM image for direct kernel boot, made from Debian packages of this machine's apt archive.
# Writes into OUTDIR:
#   vmlinuz      the kernel of the linux-image-*-amd64 package that linux-image-amd64 depends on
#   vmlinux      the same kernel uncompressed (ELF), booted by QEMU through its PVH entry: boots in
#                half the CPU time under software emulation; image.json names it when it exists
#   initrd.img   a gzipped cpio initramfs: static busybox, the virtio modules (list in `modules`),
#                dropbear (sshd) with its libraries, and /init (see `init` for its command line)
#   image.json   what ltb needs to boot it: file names relative to OUTDIR and the base command line,
#                and its version (the kernel's release, as `uname -r` says in the guest)
# Under software emulation (TCG) it boots to its ready line in seconds.
#
#   build.sh OUTDIR      (run through scripts/build-images.sh, which caches by recipe hash)
# Environment: LTB_VM_KERNEL_PACKAGE pins the kernel package (default: linux-image-amd64's dependency).
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
busybox=/bin/busybox
readonly k_cmdline='console=ttyS0'
readonly k_multiarch=x86_64-linux-gnu

die() {
  echo "ltb-vm: $*" >&2
  exit 1
}

for tool in apt-get apt-cache dpkg-deb cpio gzip xz ldd; do
  command -v "$tool" >/dev/null || die "$tool not found; run 'scripts/setup.sh deps'"
done
# The initramfs has no libc for busybox, so the dynamically linked one (package busybox) would not run.
if ldd "$busybox" >/dev/null 2>&1; then
  die "$busybox is dynamically linked; install busybox-static"
fi

mkdir -p "$out"
work=$(mktemp -d /var/tmp/ltb-vm-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
# apt-get download fetches as user _apt: it needs to reach and write the download directory.
chmod 755 "$work"
mkdir -p "$work/debs" "$work/kernel" "$work/ssh" "$work/root"
if id _apt >/dev/null 2>&1; then
  chown _apt "$work/debs"
fi

# --- packages ---------------------------------------------------------------------------------------
kpkg=${LTB_VM_KERNEL_PACKAGE:-}
if [[ -z $kpkg ]]; then
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-/ { print $2; exit }')
  [[ -n $kpkg ]] || die "apt knows no linux-image-amd64 dependency; run 'apt-get update' and retry"
fi
ssh_packages=(dropbear-bin libtomcrypt1 libtommath1)
echo "downloading $kpkg ${ssh_packages[*]}"
(cd "$work/debs" && apt-get download -q "$kpkg" "${ssh_packages[@]}")

# Only the kernel and its modules from the ~70 MB package, not the whole tree.
kdeb=$(ls "$work"/debs/"$kpkg"_*.deb)
dpkg-deb --fsys-tarfile "$kdeb" |
  tar -x -C "$work/kernel" --wildcards './boot/vmlinuz-*' '*/lib/modules/*'
kmods=''
for d in "$work"/kernel/lib/modules/*/ "$work"/kernel/usr/lib/modules/*/; do
  if [[ -d $d/kernel ]]; then
    kmods=${d%/}
    break
  fi
done
[[ -n $kmods ]] || die "$kdeb holds no /lib/modules/<version>/kernel"
kver=$(basename "$kmods")
[[ -f $work/kernel/boot/vmlinuz-$kver ]] || die "$kdeb holds no /boot/vmlinuz-$kver"
install -m 644 "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"

# The uncompressed ELF kernel inside the bzImage. QEMU boots it through the PVH entry point
# (CONFIG_PVH): no decompression of the xz payload in the guest, which under software emulation
# costs more CPU than all the rest of the boot (13.5 s of QEMU CPU time to the ready line with
# vmlinuz, 7 s with vmlinux). The bzImage stays for boot loaders that need one.
extract_vmlinux() {
  local bz=$1 dest=$2 magic offset
  # xz, gzip, zstd: the compressions Debian has used for its kernels.
  for magic in '\xfd7zXZ\x00' '\x1f\x8b\x08' '\x28\xb5\x2f\xfd'; do
    # shellcheck disable=SC2013 # one byte offset per line, no spaces
    for offset in $(LC_ALL=C grep -aboP "$magic" "$bz" | cut -d: -f1); do
      case $magic in
      *7zXZ*) tail -c +$((offset + 1)) "$bz" | xz -dc --single-stream >"$dest" 2>/dev/null ;;
      *x1f*) tail -c +$((offset + 1)) "$bz" | gzip -dc >"$dest" 2>/dev/null ;;
      *) tail -c +$((offset + 1)) "$bz" | zstd -qdc >"$dest" 2>/dev/null ;;
      esac
      if [[ $(head -c 4 "$dest" 2>/dev/null) == $'\x7fELF' ]]; then
        return 0
      fi
    done
  done
  rm -f "$dest"
  return 1
}
kernel_file=vmlinuz
if command -v readelf >/dev/null && extract_vmlinux "$out/vmlinuz" "$work/vmlinux"; then
  # Xen note 18 (XEN_ELFNOTE_PHYS32_ENTRY) is the PVH entry point QEMU looks for.
  if readelf -n "$work/vmlinux" | grep -q 'Unknown note type: (0x00000012)'; then
    install -m 644 "$work/vmlinux" "$out/vmlinux"
    kernel_file=vmlinux
  else
    echo "the kernel has no PVH entry point; image.json names the bzImage"
  fi
  rm -f "$work/vmlinux"
else
  echo "could not extract an ELF kernel from vmlinuz; image.json names the bzImage"
fi

for deb in "$work"/debs/*.deb; do
  [[ $deb == "$kdeb" ]] && continue
  dpkg-deb -x "$deb" "$work/ssh"
done

# --- root file system -------------------------------------------------------------------------------
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/acpi/PWRF,root,proc,sys,dev,run,tmp,var/log} \
  "$root"/usr/share/udhcpc "$root/lib/modules/$kver" "$root/lib/$k_multiarch" "$root/lib64"
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
ln -s ../run "$root/var/run"
install -m 755 "$busybox" "$root/bin/busybox"
while IFS= read -r applet; do
  [[ $applet == bin/busybox ]] && continue
  mkdir -p "$root/$(dirname "$applet")"
  ln -sf /bin/busybox "$root/$applet"
done < <("$busybox" --list-full)

install -m 755 "$here/init" "$root/init"
install -m 644 "$here/inittab" "$here/passwd" "$here/group" "$here/profile" "$root/etc/"
install -m 755 "$here/udhcpc.script" "$root/usr/share/udhcpc/default.script"
# busybox acpid names QEMU's power button event PWRF/00000080 and runs the file of that name.
install -m 755 "$here/acpi-power" "$root/etc/acpi/PWRF/00000080"
printf '/bin/sh\n/bin/ash\n' >"$root/etc/shells"
# What `ltb inspect` shows as the running version (it reads os-release over ssh).
bb_version=$(dpkg-query -W -f='${Version}' busybox-static)
bb_version=${bb_version#*:}
bb_version=${bb_version%-*}
cat >"$root/etc/os-release" <<EOF
NAME="ltb-vm"
ID=ltb-vm
VERSION_ID=$kver
PRETTY_NAME="ltb-vm (Linux $kver, BusyBox $bb_version)"
EOF
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
: >"$root/etc/resolv.conf"
# The lab login (console needs none; ssh asks for it), as lab router images commonly ship. Only
# reachable on the lab's isolated management network.
hash=$("$busybox" mkpasswd -m sha512 ltb)
printf 'root:%s:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' "$hash" >"$root/etc/shadow"
chmod 600 "$root/etc/shadow"

# --- kernel modules ---------------------------------------------------------------------------------
builtin_list=$kmods/modules.builtin
loaded=' '
: >"$root/lib/modules/$kver/ltb.order"
while read -r mod; do
  [[ -z $mod || $mod == '#'* ]] && continue
  # File names use - or _ freely (virtio-rng.ko is module virtio_rng).
  pattern=${mod//_/[-_]}
  file=$(find "$kmods/kernel" -regextype posix-extended \
    -regex ".*/${pattern}\.ko(\.xz|\.zst|\.gz)?" -print -quit)
  if [[ -z $file ]]; then
    if [[ -f $builtin_list ]] && grep -Eq "/${pattern}\.ko$" "$builtin_list"; then
      echo "module $mod is built into $kver"
      loaded+="$mod "
      continue
    fi
    die "kernel $kver has no module $mod (listed in $here/modules)"
  fi
  dest=$root/lib/modules/$kver/$mod.ko
  # busybox insmod reads plain .ko files only.
  case $file in
  *.xz) xz -dc "$file" >"$dest" ;;
  *.zst) zstd -qdc "$file" >"$dest" ;;
  *.gz) gzip -dc "$file" >"$dest" ;;
  *) cp "$file" "$dest" ;;
  esac
  if command -v modinfo >/dev/null; then
    deps=$(modinfo -F depends "$dest" | tr ',' ' ')
    for dep in $deps; do
      if [[ $loaded != *" ${dep//-/_} "* ]] &&
        ! { [[ -f $builtin_list ]] && grep -Eq "/${dep//_/[-_]}\.ko$" "$builtin_list"; }; then
        die "module $mod needs $dep first: list $dep before $mod in $here/modules"
      fi
    done
  fi
  loaded+="$mod "
  echo "$mod" >>"$root/lib/modules/$kver/ltb.order"
done <"$here/modules"

# --- dropbear (sshd) and the libraries it needs -----------------------------------------------------
sshlibs=$work/ssh/usr/lib/$k_multiarch
install -m 755 "$work/ssh/usr/sbin/dropbear" "$root/usr/sbin/dropbear"
install -m 755 "$work/ssh/usr/bin/dropbearkey" "$root/usr/bin/dropbearkey"
for bin in "$root/usr/sbin/dropbear" "$root/usr/bin/dropbearkey"; do
  # The libraries as this machine resolves them (same Debian release as the packages), libtom*
  # from the downloaded packages.
  LD_LIBRARY_PATH=$sshlibs ldd "$bin" | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }'
done | sort -u | while read -r lib; do
  case $lib in
  */ld-linux*) install -m 755 -D "$lib" "$root/lib64/$(basename "$lib")" ;;
  *) install -m 644 "$(readlink -f "$lib")" "$root/lib/$k_multiarch/$(basename "$lib")" ;;
  esac
done
if LD_LIBRARY_PATH=$sshlibs ldd "$root/usr/sbin/dropbear" | grep -q 'not found'; then
  die "dropbear needs a library that was not found: $(LD_LIBRARY_PATH=$sshlibs ldd "$root/usr/sbin/dropbear")"
fi
# The guest's dynamic loader must find every library inside the initramfs alone.
chroot "$root" /usr/bin/dropbearkey -h >/dev/null 2>&1 || [[ $? -eq 1 ]] ||
  die "dropbearkey does not run inside the image root (missing library?)"

# --- initramfs and description ----------------------------------------------------------------------
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
  cpio --null --create --format=newc --owner=0:0 --quiet) | gzip -9 -n >"$out/initrd.img"

kpkg_version=$(dpkg-deb -f "$kdeb" Version)
cat >"$out/image.json" <<EOF
{
  "format": "ltb-vm-kernel-boot/1",
  "version": "$kver",
  "kernel": "$kernel_file",
  "kernel_bzimage": "vmlinuz",
  "initrd": "initrd.img",
  "cmdline": "$k_cmdline",
  "paths_relative_to": "the directory of this file",
  "kernel_version": "$kver",
  "kernel_package": "$kpkg $kpkg_version",
  "console": "ttyS0",
  "ready_line": "ltb-vm ready: eth0 ",
  "nics": "virtio; NIC 0 is eth0 (management), data NICs eth1, eth2, ... in the order of the domain's interfaces",
  "cmdline_parameters": {
    "ltb.mgmt": "ADDR/PREFIX or dhcp: eth0's address",
    "ltb.gw": "GW: default route (only when given)",
    "ltb.hostname": "NAME: host name",
    "ltb.addr.ethN": "ADDR/PREFIX: an address on data NIC ethN (IPv4 or IPv6, repeatable)",
    "ltb.forward": "1: IPv4 and IPv6 forwarding on",
    "ltb.sshkey": "BASE64 of an authorized_keys file for root"
  },
  "ssh": { "port": 22, "user": "root", "password": "ltb", "server": "dropbear" },
  "shutdown": "ACPI power button (virsh shutdown) powers off"
}
EOF
echo "kernel $kver ($kpkg $kpkg_version): $kernel_file $(stat -c %s "$out/$kernel_file") bytes," \
  "initrd.img $(stat -c %s "$out/initrd.img") bytes"
