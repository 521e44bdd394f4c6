#!/usr/bin/env bash
# Prepares a Debian 12 machine (as root) to build, run and test ltb. Every step is idempotent: it
# checks first and only does what is missing, so a second run takes seconds.
#
#   scripts/setup.sh deps      install the Debian packages ltb needs (apt-get update only if any is missing)
#   scripts/setup.sh services  start dockerd, Open vSwitch and libvirtd unless they already answer
#   scripts/setup.sh build     configure, build and install ltb (PREFIX, default /usr/local), then web
#   scripts/setup.sh web       build the web UI (npm ci, vite) into web/dist, install it to
#                              PREFIX/share/ltb/web; npm ci of the browser tests (tests/browser)
#   scripts/setup.sh images    build the example images (scripts/build-images.sh)
#   scripts/setup.sh daemon    make the group ltb and start the daemon (ltb serve) unless it answers
#                              with the installed binary: through systemd's units where systemd
#                              runs, else by hand (pid in /run/ltb/serve.pid, log /var/log/ltb-serve.log);
#                              it also serves the API and the web UI on LTB_LISTEN
#                              (default 127.0.0.1:8080; empty: the unix socket only)
#   scripts/setup.sh all       all of the above, in that order
#
# Environment: LTB_BUILD_DIR (default <repo>/build), PREFIX (default /usr/local), LTB_LISTEN.
set -euo pipefail

k_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly k_root
readonly k_build_dir="${LTB_BUILD_DIR:-$k_root/build}"
readonly k_prefix="${PREFIX:-/usr/local}"
readonly k_docker_sock=/var/run/docker.sock
readonly k_docker_log=/var/log/dockerd.log
readonly k_ovs_ctl=/usr/share/openvswitch/scripts/ovs-ctl
readonly k_libvirt_uri=qemu:///system
readonly k_libvirtd_log=/var/log/libvirt/libvirtd.log

readonly k_packages=(
  build-essential cmake pkg-config ccache clang-format
  libcli11-dev libyaml-cpp-dev libsqlitecpp-dev libsqlite3-dev libfmt-dev libssh-dev doctest-dev
  libcurl4-openssl-dev nlohmann-json3-dev libnl-3-dev libnl-route-3-dev libvalijson-dev
  libexpected-dev libvirt-dev libpcap-dev libssl-dev libcrypt-dev libboost-dev libboost-filesystem-dev scdoc
  libarchive-dev libxml2-dev
  docker.io openvswitch-switch mmdebstrap busybox-static
  libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils
  iproute2 tcpdump iputils-ping cpio e2fsprogs tmux jq curl python3 ca-certificates docker-compose zsh fish
  dnsmasq-base tshark iperf3 openssh-client systemd iptables
  graphviz chromium prometheus openssl
  # make sanitize, make fuzz, make tsan: clang, its sanitizer runtimes and libFuzzer
  # (libclang-rt-14-dev), llvm-symbolizer for the reports' stacks (llvm-14).
  clang-14 libclang-rt-14-dev llvm-14
  # The access files' test runs Ansible as users do: the frr.frr, ansible.netcommon and
  # community.docker collections come with ansible; network_cli goes through paramiko.
  ansible python3-paramiko
)
# Installed when the archive has them; their absence does not fail the setup.
readonly k_optional_packages=()

log() { printf '[%s] setup: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

now_ms() { date +%s%3N; }
elapsed() { # since a now_ms value, as "1.234 s"
  local ms=$(($(now_ms) - $1))
  printf '%d.%03d s' $((ms / 1000)) $((ms % 1000))
}

# Runs one named step with start/end lines and its duration.
step() {
  local name=$1
  shift
  local start
  start=$(now_ms)
  log "== $name"
  "$@"
  log "== $name done in $(elapsed "$start")"
}

require_root() {
  if [[ $(id -u) -ne 0 ]]; then
    die "this step needs root (packages, services, /usr/local); run it with sudo"
  fi
}

has_systemd() { [[ -d /run/systemd/system ]] && [[ "$(cat /proc/1/comm 2>/dev/null)" == systemd ]]; }

# --- deps -------------------------------------------------------------------------------------------

# Prints the given packages that are not fully installed ("ii"), one per line.
missing_packages() {
  local installed
  # One dpkg-query call for all names: unknown names are simply absent from its output.
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null |
    awk '$2 == "ii" { print $1 }' || true)
  local p
  for p in "$@"; do
    if ! grep -Fqx -- "$p" <<<"$installed"; then
      echo "$p"
    fi
  done
}

available_in_archive() {
  local candidate
  candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
  [[ -n $candidate && $candidate != "(none)" ]]
}

do_deps() {
  require_root
  local missing optional_missing
  mapfile -t missing < <(missing_packages "${k_packages[@]}")
  mapfile -t optional_missing < <(missing_packages "${k_optional_packages[@]}")
  if [[ ${#missing[@]} -eq 0 && ${#optional_missing[@]} -eq 0 ]]; then
    log "all $((${#k_packages[@]} + ${#k_optional_packages[@]})) packages already installed"
    return 0
  fi
  log "missing: ${missing[*]} ${optional_missing[*]}"
  log "apt-get update"
  apt-get update -q
  local p
  for p in "${optional_missing[@]}"; do
    if available_in_archive "$p"; then
      missing+=("$p")
    else
      log "warning: optional package '$p' is not in the configured archive; skipping it"
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    return 0
  fi
  # Keep package scripts from starting daemons (docker.io, openvswitch-switch) through init scripts
  # here: the services step starts them itself, the same way on every machine, with known logs.
  local policy=/usr/sbin/policy-rc.d
  local own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  if [[ $own_policy -eq 1 ]]; then
    rm -f "$policy"
    trap - EXIT
  fi
  mapfile -t missing < <(missing_packages "${k_packages[@]}")
  if [[ ${#missing[@]} -ne 0 ]]; then
    die "still not installed after apt-get install: ${missing[*]}"
  fi
}

# --- services ---------------------------------------------------------------------------------------

docker_answers() {
  [[ -S $k_docker_sock ]] &&
    curl -sf --max-time 2 --unix-socket "$k_docker_sock" http://localhost/_ping >/dev/null 2>&1
}

ovs_answers() {
  ovs-vsctl --timeout=2 show >/dev/null 2>&1 &&
    ovs-appctl --timeout=2 -t ovs-vswitchd version >/dev/null 2>&1
}

# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.5 s.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$(($(date +%s) + seconds))
  until "$@"; do
    if [[ $(date +%s) -ge $deadline ]]; then
      return 1
    fi
    sleep 0.5
  done
  log "$what answers"
}

start_docker() {
  if docker_answers; then
    log "dockerd already answers on $k_docker_sock"
    return 0
  fi
  command -v dockerd >/dev/null || die "dockerd not found; run 'scripts/setup.sh deps' first"
  if has_systemd; then
    log "starting docker with systemctl"
    systemctl start docker
  else
    log "starting dockerd (log: $k_docker_log)"
    # New session, stdio away from our pipes: dockerd must outlive make and must not keep the
    # caller's output open (a CI runner waits for that to close).
    setsid -f dockerd </dev/null >>"$k_docker_log" 2>&1
  fi
  if ! wait_for 60 dockerd docker_answers; then
    tail -n 30 "$k_docker_log" >&2 || true
    die "dockerd did not answer GET /_ping on $k_docker_sock within 60 s; see $k_docker_log"
  fi
}

start_ovs() {
  if ovs_answers; then
    log "Open vSwitch already answers"
    return 0
  fi
  command -v ovs-vsctl >/dev/null || die "ovs-vsctl not found; run 'scripts/setup.sh deps' first"
  if has_systemd; then
    log "starting openvswitch-switch with systemctl"
    systemctl start openvswitch-switch
  else
    log "starting Open vSwitch with ovs-ctl"
    local out
    out=$(mktemp)
    # Its exit status is not trusted either way (it complains about ulimit and the kernel module
    # even when the userspace daemons come up); readiness is judged by ovs_answers below.
    setsid "$k_ovs_ctl" start --system-id=random </dev/null >"$out" 2>&1 || true
    sed 's/^/  ovs-ctl: /' "$out" >&2
    rm -f "$out"
  fi
  if ! wait_for 30 "Open vSwitch" ovs_answers; then
    tail -n 20 /var/log/openvswitch/ovs-vswitchd.log /var/log/openvswitch/ovsdb-server.log >&2 || true
    die "Open vSwitch did not answer (ovs-vsctl show, ovs-appctl version) within 30 s"
  fi
}

# `virsh version` makes libvirtd probe QEMU the first time (tens of seconds on a loaded machine), so
# one try may take long; later calls answer from libvirt's capabilities cache in milliseconds.
libvirt_answers() {
  timeout 60 virsh -c "$k_libvirt_uri" version >/dev/null 2>&1
}

# pgrep -x matches the exact process name, so only a running daemon of that name counts.
daemon_running() { pgrep -x "$1" >/dev/null 2>&1; }

# Without udev, /dev/kvm stays root:root 0600. libvirt then finds at every call that KVM "is not
# available now" for its qemu user although it was when it probed QEMU as root, throws away its
# capabilities cache and probes QEMU again: 4-10 s per virsh call and per domain start. udev on a
# normal Debian host gives /dev/kvm to group kvm, mode 0660; do the same here. Software emulation
# (domain type 'qemu') does not use /dev/kvm either way.
fix_kvm_permissions() {
  if [[ -c /dev/kvm ]] && getent group kvm >/dev/null &&
    [[ $(stat -c '%G %a' /dev/kvm) != "kvm 660" ]]; then
    log "giving /dev/kvm to group kvm, mode 0660 (what udev does on a Debian host)"
    chgrp kvm /dev/kvm
    chmod 660 /dev/kvm
  fi
}

start_libvirt() {
  command -v virsh >/dev/null || die "virsh not found; run 'scripts/setup.sh deps' first"
  if ! has_systemd; then
    fix_kvm_permissions
  fi
  if libvirt_answers; then
    log "libvirtd already answers on $k_libvirt_uri"
    return 0
  fi
  command -v libvirtd >/dev/null || die "libvirtd not found; run 'scripts/setup.sh deps' first"
  if has_systemd; then
    log "starting libvirtd with systemctl"
    systemctl start virtlogd libvirtd
  else
    mkdir -p "$(dirname "$k_libvirtd_log")"
    # libvirtd hands each domain's console and QEMU log to virtlogd; without it domains do not start.
    if ! daemon_running virtlogd; then
      log "starting virtlogd"
      setsid virtlogd -d </dev/null >>"$k_libvirtd_log" 2>&1
    fi
    if ! daemon_running libvirtd; then
      log "starting libvirtd (log: $k_libvirtd_log)"
      # Same reasons as dockerd: its own session, none of our pipes held open.
      setsid libvirtd -d </dev/null >>"$k_libvirtd_log" 2>&1
    fi
  fi
  if ! wait_for 180 libvirtd libvirt_answers; then
    tail -n 20 "$k_libvirtd_log" >&2 || true
    die "libvirtd did not answer 'virsh -c $k_libvirt_uri version' within 180 s; see $k_libvirtd_log"
  fi
}

do_services() {
  require_root
  start_docker
  start_ovs
  start_libvirt
}

# --- build ------------------------------------------------------------------------------------------

do_build() {
  log "configure ($k_build_dir)"
  cmake -S "$k_root" -B "$k_build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_INSTALL_PREFIX="$k_prefix" >/dev/null
  log "build with $(nproc) jobs"
  cmake --build "$k_build_dir" -j"$(nproc)"
  log "install to $k_prefix"
  local installed
  installed=$(cmake --install "$k_build_dir" --prefix "$k_prefix")
  grep -v -e '-- Up-to-date:' -e '-- Install configuration:' <<<"$installed" >&2 || true
  [[ -x $k_prefix/bin/ltb ]] || die "$k_prefix/bin/ltb was not installed"
  log "installed $k_prefix/bin/ltb ($("$k_prefix/bin/ltb" --version 2>/dev/null || echo 'version unknown'))"
  step web do_web
}

# --- web --------------------------------------------------------------------------------------------

readonly k_web_dir=$k_root/web
readonly k_web_install=$k_prefix/share/ltb/web
readonly k_browser_tests_dir=$k_root/tests/browser

# npm_ci DIR: installs DIR's locked node modules unless they are there for this lockfile.
npm_ci() {
  local dir=$1
  if [[ -f $dir/node_modules/.package-lock.json && ! $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
    log "node modules of ${dir#"$k_root"/} up to date"
    return 0
  fi
  log "npm ci in ${dir#"$k_root"/}"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in $dir failed"
}

# The bundle is rebuilt when a source, the lockfile or the build configuration is newer than it.
web_bundle_stale() {
  local stamp=$k_web_dir/dist/index.html
  [[ -f $stamp ]] || return 0
  [[ -n $(find "$k_web_dir/src" "$k_web_dir/index.html" "$k_web_dir/package-lock.json" \
    "$k_web_dir/vite.config.ts" "$k_web_dir/tsconfig.json" -newer "$stamp" -print -quit) ]]
}

do_web() {
  # Debian 12's Node.js 18 and npm build the UI (its tools are kept to what Node 18 runs); a newer
  # Node.js already there is used as it is.
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    require_root
    log "installing Debian's nodejs and npm (the web UI is built with them)"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm ||
      die "apt-get install nodejs npm failed"
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  ((major >= 18)) || die "Node.js $(node --version 2>/dev/null) is too old to build the web UI: 18 or later"
  npm_ci "$k_web_dir"
  if web_bundle_stale; then
    log "build the web UI (tsc, vite)"
    (cd "$k_web_dir" && npm run --silent build) || die "the web UI did not build (cd web && npm run build)"
  else
    log "web UI bundle up to date"
  fi
  log "web UI: $(du -sh "$k_web_dir/dist" | cut -f1) in web/dist; install to $k_web_install"
  rm -rf "$k_web_install.new"
  mkdir -p "$(dirname "$k_web_install")"
  cp -r "$k_web_dir/dist" "$k_web_install.new"
  rm -rf "$k_web_install"
  mv "$k_web_install.new" "$k_web_install"
  npm_ci "$k_browser_tests_dir"
}

# --- images -----------------------------------------------------------------------------------------

do_images() {
  require_root
  "$k_root/scripts/build-images.sh"
}

# --- daemon -----------------------------------------------------------------------------------------

readonly k_socket=/run/ltb/ltb.sock
readonly k_serve_pid=/run/ltb/serve.pid
readonly k_serve_log=/var/log/ltb-serve.log
# The web UI and the API on TCP: loopback, where plain HTTP is allowed (a TLS listener on another
# address needs a certificate: ltb(1), serve).
readonly k_listen="${LTB_LISTEN-127.0.0.1:8080}"
k_serve_args=(serve --schedule)
if [[ -n $k_listen ]]; then
  k_serve_args+=(--listen "$k_listen")
fi
readonly k_serve_args

daemon_answers() {
  [[ -S $k_socket ]] &&
    curl -sf --max-time 2 --unix-socket "$k_socket" http://ltb/v1/version >/dev/null 2>&1
}

# The pid of the daemon this script started, when it still runs (and is ltb).
started_daemon() {
  local pid
  pid=$(cat "$k_serve_pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == ltb ]] || return 1
  echo "$pid"
}

do_daemon() {
  require_root
  local ltb=$k_prefix/bin/ltb
  [[ -x $ltb ]] || die "$ltb is not installed; run: scripts/setup.sh build"
  if ! getent group ltb >/dev/null; then
    groupadd --system ltb
    log "made the group ltb: its members use ltb through the daemon (usermod -aG ltb USER)"
  fi
  if has_systemd; then
    "$ltb" "${k_serve_args[@]}" install --systemd >/dev/null
    systemctl daemon-reload
    systemctl enable --quiet ltb.socket ltb.service
    # A daemon still running a binary that the build replaced is restarted.
    local main
    main=$(systemctl show -p MainPID --value ltb.service 2>/dev/null || echo 0)
    if [[ $main != 0 && $(readlink "/proc/$main/exe" 2>/dev/null) == *" (deleted)" ]]; then
      systemctl restart ltb.service
    else
      systemctl start ltb.socket ltb.service
    fi
  else
    local pid
    if pid=$(started_daemon); then
      if [[ $(readlink "/proc/$pid/exe" 2>/dev/null) != *" (deleted)" ]] && daemon_answers &&
        [[ $(tr '\0' ' ' <"/proc/$pid/cmdline") == *"${k_serve_args[*]} " ]]; then
        log "ltb serve answers on $k_socket (pid $pid)${k_listen:+ and on http://$k_listen/}"
        return 0
      fi
      log "restarting ltb serve (pid $pid): its binary was replaced, its options changed, or it does not answer"
      kill "$pid"
      local i
      for i in $(seq 100); do
        [[ -d /proc/$pid ]] || break
        sleep 0.1
      done
    elif daemon_answers; then
      log "a daemon this script did not start answers on $k_socket; leaving it"
      return 0
    fi
    mkdir -p "$(dirname "$k_socket")"
    # Its own session: it outlives this script and the terminal.
    setsid "$ltb" "${k_serve_args[@]}" >>"$k_serve_log" 2>&1 </dev/null &
    echo $! >"$k_serve_pid"
  fi
  wait_for 20 "ltb serve ($k_socket)" daemon_answers ||
    die "ltb serve does not answer on $k_socket; see $k_serve_log (or journalctl -u ltb)"
  if [[ -n $k_listen ]]; then
    log "the web UI: http://$k_listen/ (log in with a web password: ltb user passwd NAME)"
  fi
}

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
  if [[ $# -eq 0 ]]; then
    usage >&2
    exit 2
  fi
  local start
  start=$(now_ms)
  local cmd
  for cmd in "$@"; do
    case $cmd in
    deps) step deps do_deps ;;
    services) step services do_services ;;
    build) step build do_build ;;
    web) step web do_web ;;
    images) step images do_images ;;
    daemon) step daemon do_daemon ;;
    all)
      step deps do_deps
      step services do_services
      step build do_build
      step images do_images
      step daemon do_daemon
      ;;
    -h | --help | help)
      usage
      exit 0
      ;;
    *)
      log "unknown step '$cmd'"
      usage >&2
      exit 2
      ;;
    esac
  done
  log "finished '$*' in $(elapsed "$start")"
}

main "$@"
