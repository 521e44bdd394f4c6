#!/usr/bin/env bash
# ltb/frr: Debian minbase with FRR (zebra, ospfd, ospf6d, bgpd, isisd enabled), sshd and the usual
# network tools, built by mmdebstrap from this machine's apt sources (LTB_APT_SOURCES, set by
# scripts/build-images.sh). PID 1 is ltb-frr-start. Its version label is FRR's, from the package
# that went in.
set -euo pipefail
out=$1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${LTB_APT_SOURCES:?run this through scripts/build-images.sh}"
: "${LTB_SUITE:=bookworm}"
mapfile -t sources <<<"$LTB_APT_SOURCES"

# Only what a lab router needs; no recommends, no docs, no man pages, no translations.
packages=frr,iproute2,iputils-ping,openssh-server,tcpdump,procps,iperf3

# Merged /usr set up by mmdebstrap's own hook: otherwise bookworm pulls in usrmerge and with it perl
# (about 50 MB).
hooks=()
if [[ -d /usr/share/mmdebstrap/hooks/merged-usr ]]; then
  hooks=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
fi

mmdebstrap --quiet "${hooks[@]}" --variant=minbase --include="$packages" --format=tar \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --customize-hook="upload '$here/ltb-frr-start' /usr/local/sbin/ltb-frr-start" \
  --customize-hook="upload '$here/sshd_config' /etc/ssh/sshd_config.d/ltb.conf" \
  --customize-hook="bash '$here/customize.sh' \"\$1\"" \
  "$LTB_SUITE" "$out" "${sources[@]}"

# The version is FRR's own (8.4.4 of Debian's 8.4.4-1.1~deb12u1), as `show version` reports it;
# the package's full version goes in a label of its own.
dpkg_status=$(tar -xOf "$out" --wildcards --no-anchored 'var/lib/dpkg/status') || {
  echo "frr: $out has no var/lib/dpkg/status" >&2
  exit 1
}
frr_version=$(awk '/^Package: /{ p = ($2 == "frr") } p && /^Version: /{ print $2; exit }' \
  <<<"$dpkg_status")
[[ -n $frr_version ]] || {
  echo "frr: package frr is not in the image's dpkg status" >&2
  exit 1
}
echo "frr $frr_version"
upstream=${frr_version#*:}
upstream=${upstream%-*}
if [[ -n ${LTB_LABELS_FILE:-} ]]; then
  printf 'org.opencontainers.image.version=%s\nltb.package=frr %s\n' "$upstream" "$frr_version" \
    >>"$LTB_LABELS_FILE"
fi
