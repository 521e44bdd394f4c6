#!/usr/bin/env bash
# ltb/frr: Debian minbase with FRR (zebra, ospfd, ospf6d, bgpd, isisd enabled), sshd and the usual
# network tools, built by mmdebstrap from this machine's apt sources (LTB_APT_SOURCES, set by
# scripts/build-images.sh). PID 1 is ltb-frr-start.
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
