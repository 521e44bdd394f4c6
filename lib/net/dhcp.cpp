#include "net/dhcp.hpp"

#include "util/exec.hpp"
#include "util/ipv4.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <thread>

namespace ltb::net {

namespace fs = std::filesystem;

namespace {

constexpr const char *k_hosts = "dnsmasq.hosts";
constexpr const char *k_pid = "dnsmasq.pid";
constexpr const char *k_leases = "dnsmasq.leases";
constexpr const char *k_log = "dnsmasq.log";

std::string read_file(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Status write_file(const fs::path &path, const std::string &text) {
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) {
      return fail(fmt::format("cannot write {}: {}", tmp.string(), std::strerror(errno)),
                  "check that the state directory is writable");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    return fail(fmt::format("cannot write {}: {}", path.string(), ec.message()));
  }
  return {};
}

/// The pid in the directory's pid file when that process is a dnsmasq started for this directory
/// (its command line names the pid file); 0 otherwise. Guards against a recycled pid.
int live_pid(const std::string &dir) {
  auto text = read_file(fs::path(dir) / k_pid);
  int pid = 0;
  try {
    pid = std::stoi(text);
  } catch (...) {
    return 0;
  }
  if (pid <= 1) {
    return 0;
  }
  auto cmdline = read_file(fmt::format("/proc/{}/cmdline", pid));
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  auto pid_arg = "--pid-file=" + (fs::path(dir) / k_pid).string();
  if (cmdline.find("dnsmasq") == std::string::npos || cmdline.find(pid_arg) == std::string::npos) {
    return 0;
  }
  return pid;
}

} // namespace

DhcpServerState dhcp_server_state(const std::string &dir) {
  DhcpServerState state;
  state.pid = live_pid(dir);
  state.running = state.pid != 0;
  if (state.running) {
    state.hosts_text = read_file(fs::path(dir) / k_hosts);
  }
  return state;
}

std::vector<std::string> dnsmasq_argv(const DhcpServerSpec &spec) {
  auto subnet = util::parse_subnet(spec.subnet, false);
  std::string network = subnet ? util::format_ipv4(subnet->network) : spec.subnet;
  std::string netmask = subnet ? util::format_ipv4(subnet->mask()) : "255.255.255.0";
  fs::path dir(spec.dir);
  std::vector<std::string> argv{
      "dnsmasq",
      "--conf-file=/dev/null", // nothing from /etc/dnsmasq.conf
      "--port=0",              // no DNS
      "--interface=" + spec.interface,
      "--bind-dynamic", // only this bridge, and again after it is recreated
      "--except-interface=lo",
      "--dhcp-authoritative",
      "--dhcp-range=" + network + ",static," + netmask + ",12h",
      "--dhcp-leasefile=" + (dir / k_leases).string(),
      "--pid-file=" + (dir / k_pid).string(),
      "--log-facility=" + (dir / k_log).string(),
      "--log-dhcp",
      "--dhcp-option=option:dns-server", // none: the lab has no DNS
  };
  argv.push_back(spec.router.empty() ? "--dhcp-option=option:router"
                                     : "--dhcp-option=option:router," + spec.router);
  // The reservations go on the command line, not in a --dhcp-hostsfile: dnsmasq reads such files
  // as user nobody, who may not enter a private state directory. A change restarts the server.
  std::istringstream lines(spec.hosts_text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) {
      argv.push_back("--dhcp-host=" + line);
    }
  }
  return argv;
}

Status dhcp_server_apply(const DhcpServerSpec &spec) {
  std::error_code ec;
  fs::create_directories(spec.dir, ec);
  auto hosts_path = fs::path(spec.dir) / k_hosts;
  if (live_pid(spec.dir) != 0) {
    if (read_file(hosts_path) == spec.hosts_text) {
      return {};
    }
    LTB_CHECK(dhcp_server_stop(spec.dir));
  }
  // What the server serves, for dhcp_server_state (ltb reads it; dnsmasq does not).
  LTB_CHECK(write_file(hosts_path, spec.hosts_text));
  // dnsmasq daemonises: it returns once it listens (or with the reason it cannot).
  LTB_TRY(result, util::run(dnsmasq_argv(spec), {std::chrono::seconds(20), {}}));
  if (result.exit_code != 0) {
    auto message = result.err.empty() ? result.out : result.err;
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    return fail(
        fmt::format("cannot start the DHCP server (dnsmasq) on {}: {}", spec.interface,
                    message.empty() ? fmt::format("exit status {}", result.exit_code) : message),
        "install dnsmasq-base (make deps); VMs booting from disk need it for their "
        "management address");
  }
  return {};
}

Status dhcp_server_stop(const std::string &dir) {
  if (int pid = live_pid(dir); pid != 0) {
    if (::kill(pid, SIGTERM) != 0 && errno != ESRCH) {
      return fail(fmt::format("cannot stop the lab's DHCP server (dnsmasq, pid {}): {}", pid,
                              std::strerror(errno)));
    }
    // It is not our child (it daemonised): wait for it to go by polling its /proc entry.
    for (int i = 0; i < 100 && fs::exists(fmt::format("/proc/{}", pid)); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::error_code ec;
  for (const char *name : {k_hosts, k_pid, k_leases, k_log}) {
    fs::remove(fs::path(dir) / name, ec);
  }
  return {};
}

namespace {

class RealDhcp final : public Dhcp {
public:
  DhcpServerState state(const std::string &dir) override { return dhcp_server_state(dir); }
  Status apply(const DhcpServerSpec &spec) override { return dhcp_server_apply(spec); }
  Status stop(const std::string &dir) override { return dhcp_server_stop(dir); }
};

} // namespace

Dhcp &host_dhcp() {
  static RealDhcp real;
  return real;
}

} // namespace ltb::net
