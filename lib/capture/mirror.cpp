#include "capture/mirror.hpp"

#include "plan/names.hpp"
#include "util/hash.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <net/if.h>
#include <nlohmann/json.hpp>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace ltb::capture {

namespace {

constexpr int k_timeout_s = 10;
const char *const k_log_help = "see /var/log/openvswitch/ovs-vswitchd.log for details";

std::vector<std::string> base_argv() {
  return {"ovs-vsctl", fmt::format("--timeout={}", k_timeout_s)};
}

// Keys and values quoted, so that ':', '=' and ',' in them are not ovs-vsctl syntax.
std::vector<std::string> id_args(const std::map<std::string, std::string> &ids) {
  std::vector<std::string> args;
  for (const auto &[key, value] : ids) {
    args.push_back(fmt::format("external_ids:{}={}", nlohmann::json(key).dump(),
                               nlohmann::json(value).dump()));
  }
  return args;
}

std::string first_error_line(const std::string &text) {
  auto line = text.substr(0, text.find('\n'));
  constexpr std::string_view k_prefix = "ovs-vsctl: ";
  if (line.rfind(k_prefix, 0) == 0) {
    line.erase(0, k_prefix.size());
  }
  return line.empty() ? std::string("no details given") : line;
}

Result<util::ExecResult> checked(const VsctlRunner &vsctl, const std::vector<std::string> &argv,
                                 const std::string &what) {
  auto result = vsctl(argv);
  if (!result) {
    return fail(fmt::format("{}: {}", what, result.error().message), result.error().help);
  }
  if (result->timed_out) {
    return fail(fmt::format("{}: ovs-vsctl did not finish within {} s", what, k_timeout_s),
                "check that ovsdb-server and ovs-vswitchd are running (see README: make setup)");
  }
  return std::move(*result);
}

class Socket {
public:
  Socket() : m_fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~Socket() {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
  }
  Socket(const Socket &) = delete;
  Socket &operator=(const Socket &) = delete;
  int fd() const { return m_fd; }

private:
  int m_fd;
};

} // namespace

std::string mirror_port_name(const std::string &lab, const std::string &segment, int pid) {
  return plan::veth_prefix(lab) +
         util::sha256_hex(fmt::format("capture#{}#{}", segment, pid)).substr(0, 6);
}

std::vector<std::string> create_mirror_argv(const MirrorSpec &spec) {
  auto argv = base_argv();
  argv.insert(argv.end(), {"--", "add-port", spec.bridge, spec.name, "--", "set", "Interface",
                           spec.name, "type=internal"});
  const auto ids = id_args(spec.external_ids);
  if (!ids.empty()) {
    argv.insert(argv.end(), {"--", "set", "Port", spec.name});
    argv.insert(argv.end(), ids.begin(), ids.end());
  }
  std::string selected;
  for (std::size_t i = 0; i < spec.select_ports.size(); ++i) {
    const auto id = fmt::format("@s{}", i);
    argv.insert(argv.end(), {"--", "--id=" + id, "get", "Port", spec.select_ports[i]});
    selected += (selected.empty() ? "" : ",") + id;
  }
  argv.insert(argv.end(), {"--", "--id=@p", "get", "Port", spec.name, "--", "--id=@m", "create",
                           "Mirror", "name=" + spec.name});
  if (spec.select_ports.empty()) {
    argv.push_back("select-all=true");
  } else {
    argv.push_back("select-src-port=" + selected);
    argv.push_back("select-dst-port=" + selected);
  }
  argv.push_back("output-port=@p");
  argv.insert(argv.end(), ids.begin(), ids.end());
  argv.insert(argv.end(), {"--", "add", "Bridge", spec.bridge, "mirrors", "@m"});
  return argv;
}

std::vector<std::string> remove_mirror_argv(const std::string &bridge, const std::string &name) {
  auto argv = base_argv();
  argv.insert(argv.end(), {"--", "--id=@m", "get", "Mirror", name, "--", "remove", "Bridge", bridge,
                           "mirrors", "@m", "--", "--if-exists", "del-port", bridge, name});
  return argv;
}

std::vector<std::string> remove_port_argv(const std::string &bridge, const std::string &name) {
  auto argv = base_argv();
  argv.insert(argv.end(), {"--", "--if-exists", "del-port", bridge, name});
  return argv;
}

VsctlRunner real_vsctl() {
  return [](const std::vector<std::string> &argv) {
    util::ExecOptions options;
    // ovs-vsctl enforces --timeout itself; this only catches it hanging anyway.
    options.timeout = std::chrono::seconds(k_timeout_s + 5);
    return util::run(argv, options);
  };
}

Status create_mirror(const MirrorSpec &spec, const VsctlRunner &vsctl) {
  const auto what =
      fmt::format("cannot mirror Open vSwitch bridge '{}' to port '{}'", spec.bridge, spec.name);
  LTB_TRY(result, checked(vsctl, create_mirror_argv(spec), what));
  if (result.exit_code != 0) {
    const bool unreachable = result.err.find("database connection failed") != std::string::npos;
    return fail(fmt::format("{}: {}", what, first_error_line(result.err)),
                unreachable ? "start Open vSwitch (see README: make setup)"
                            : "check the bridge with `ovs-vsctl show`; " + std::string(k_log_help));
  }
  // ovs-vsctl exits 0 when ovs-vswitchd could not make the interface; it says so on stderr.
  if (result.err.find("Error detected while setting up") != std::string::npos) {
    (void)remove_mirror(spec.bridge, spec.name, vsctl);
    return fail(fmt::format("{}: {}", what, first_error_line(result.err)), k_log_help);
  }
  return {};
}

Status remove_mirror(const std::string &bridge, const std::string &name, const VsctlRunner &vsctl) {
  const auto what =
      fmt::format("cannot remove capture mirror '{}' from Open vSwitch bridge '{}'", name, bridge);
  LTB_TRY(result, checked(vsctl, remove_mirror_argv(bridge, name), what));
  if (result.exit_code == -1) {
    // A signal ended ovs-vsctl (a second Ctrl-C reaches the whole process group): once more,
    // since leaving the mirror would keep copying the bridge's traffic.
    LTB_TRY(again, checked(vsctl, remove_mirror_argv(bridge, name), what));
    result = std::move(again);
  }
  if (result.exit_code == 0) {
    return {};
  }
  // The mirror (or the whole bridge, which takes its mirrors along) is gone already; the port
  // may still be there.
  if (result.err.find("no row") == std::string::npos) {
    return fail(fmt::format("{}: {}", what, first_error_line(result.err)),
                fmt::format("remove it by hand: ovs-vsctl -- --id=@m get Mirror {0} -- remove "
                            "Bridge {1} mirrors @m -- --if-exists del-port {1} {0}",
                            name, bridge));
  }
  LTB_TRY(port, checked(vsctl, remove_port_argv(bridge, name), what));
  if (port.exit_code != 0) {
    return fail(
        fmt::format("{}: {}", what, first_error_line(port.err)),
        fmt::format("remove it by hand: ovs-vsctl --if-exists del-port {} {}", bridge, name));
  }
  return {};
}

Status prepare_port_interface(const std::string &name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('/') != std::string::npos) {
    return fail(fmt::format("'{}' is not a valid interface name", name));
  }
  Socket socket;
  if (socket.fd() < 0) {
    return fail(fmt::format("cannot bring up mirror port {}: {}", name, std::strerror(errno)));
  }
  ifreq request{};
  std::memcpy(request.ifr_name, name.c_str(), name.size() + 1);
  // ovs-vsctl returns once ovs-vswitchd has configured the port, so the interface should be
  // there; allow a moment anyway.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (::ioctl(socket.fd(), SIOCGIFFLAGS, &request) != 0) {
    if (errno != ENODEV || std::chrono::steady_clock::now() > deadline) {
      return fail(fmt::format("cannot bring up mirror port {}: {}", name, std::strerror(errno)),
                  k_log_help);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Best effort: without IPv6 in the kernel there is nothing to switch off.
  std::ofstream(fmt::format("/proc/sys/net/ipv6/conf/{}/disable_ipv6", name)) << "1\n";
  request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
  if (::ioctl(socket.fd(), SIOCSIFFLAGS, &request) != 0) {
    return fail(fmt::format("cannot bring up mirror port {}: {}", name, std::strerror(errno)),
                k_log_help);
  }
  return {};
}

} // namespace ltb::capture
