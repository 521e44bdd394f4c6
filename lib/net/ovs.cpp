#include "net/ovs.hpp"

#include "net/link_up.hpp"
#include "net/ovs_cmd.hpp"
#include "util/exec.hpp"

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <sys/stat.h>

namespace ltb::net {
namespace {

using namespace ovs;

const char *const k_log_help = "see /var/log/openvswitch/ovs-vswitchd.log for details";

// ovs-vsctl prefixes every line with "ovs-vsctl: "; keep the first line, which says what failed.
std::string first_error_line(const std::string &stderr_text) {
  auto line = stderr_text.substr(0, stderr_text.find('\n'));
  constexpr std::string_view k_prefix = "ovs-vsctl: ";
  if (line.rfind(k_prefix, 0) == 0) {
    line.erase(0, k_prefix.size());
  }
  return line.empty() ? std::string("no details given") : line;
}

bool kernel_module_loaded() {
  struct stat info {};
  return ::stat("/sys/module/openvswitch", &info) == 0;
}

class RealOvs final : public Ovs {
public:
  Result<std::string> version() override {
    LTB_TRY(result, vsctl({"ovs-vsctl", "--version"}, "cannot read the Open vSwitch version"));
    return result.out.substr(0, result.out.find('\n'));
  }

  Status add_bridge(const std::string &name, Datapath datapath,
                    const std::map<std::string, std::string> &external_ids) override {
    const char *datapath_name = datapath == Datapath::netdev ? "netdev" : "system";
    const auto what = fmt::format("cannot create Open vSwitch bridge '{}'", name);
    LTB_TRY(result, vsctl(add_bridge_argv(name, datapath, external_ids), what));

    // ovs-vsctl exits 0 when ovs-vswitchd could not open the datapath; the database then holds a
    // bridge that does nothing. Remove it so that nothing half-made is left.
    const auto failed = setup_errors(result.err);
    if (std::find(failed.begin(), failed.end(), name) != failed.end()) {
      (void)del_bridge(name);
      if (datapath == Datapath::system && !kernel_module_loaded()) {
        return fail(
            fmt::format("{}: {} (the openvswitch kernel module is not loaded)", what,
                        k_no_kernel_datapath),
            "use the userspace datapath (netdev), or load the module: modprobe openvswitch");
      }
      return fail(fmt::format("{} with the {} datapath: {}", what, datapath_name,
                              first_error_line(result.err)),
                  k_log_help);
    }

    // The bridge's internal port is created down; up, the host can reach the segment through it.
    auto up = set_link_up(name);
    if (!up) {
      return fail(fmt::format("{}: {}", what, up.error().message), up.error().help);
    }
    return {};
  }

  Status del_bridge(const std::string &name) override {
    LTB_TRY(result, vsctl(del_bridge_argv(name),
                          fmt::format("cannot delete Open vSwitch bridge '{}'", name)));
    return {};
  }

  Status add_ports(const std::string &bridge, const std::vector<OvsPort> &ports) override {
    if (ports.empty()) {
      return {};
    }
    const auto what = fmt::format("cannot add ports to Open vSwitch bridge '{}'", bridge);
    LTB_TRY(result, vsctl(add_ports_argv(bridge, ports), what));
    const auto failed = setup_errors(result.err);
    if (!failed.empty()) {
      return fail(fmt::format("{}: {}", what, first_error_line(result.err)),
                  "check that the interface exists on the host (ip link); " +
                      std::string(k_log_help));
    }
    return {};
  }

  Status del_ports(const std::string &bridge, const std::vector<std::string> &ports) override {
    if (ports.empty()) {
      return {};
    }
    LTB_TRY(result,
            vsctl(del_ports_argv(bridge, ports),
                  fmt::format("cannot remove ports from Open vSwitch bridge '{}'", bridge)));
    return {};
  }

  Result<std::vector<OvsBridge>>
  bridges(const std::map<std::string, std::string> &external_ids) override {
    const std::string what = "cannot list Open vSwitch bridges";
    LTB_TRY(result, vsctl(bridges_argv(external_ids), what));
    auto parsed = parse_bridges(result.out);
    if (!parsed) {
      return fail(fmt::format("{}: {}", what, parsed.error().message), parsed.error().help);
    }
    if (!parsed->empty()) {
      LTB_CHECK(switch_answers());
    }
    return std::move(*parsed);
  }

private:
  /// Bridges in the database forward only while ovs-vswitchd runs: with it stopped, ovsdb-server
  /// still lists them and every change waits for it until ovs-vsctl's timeout.
  static Status switch_answers() {
    util::ExecOptions options;
    options.timeout = std::chrono::seconds(k_timeout_s);
    auto result =
        util::run({"ovs-appctl", "--timeout=5", "-t", "ovs-vswitchd", "version"}, options);
    if (result && !result->timed_out && result->exit_code == 0) {
      return {};
    }
    return fail("Open vSwitch's ovs-vswitchd does not answer: its bridges are in the database but "
                "nothing forwards on them",
                "start it (see README: make setup; on a systemd host: systemctl start "
                "openvswitch-switch), then run the command again");
  }

  static Result<util::ExecResult> vsctl(const std::vector<std::string> &argv,
                                        const std::string &what) {
    util::ExecOptions options;
    // ovs-vsctl enforces --timeout itself; this only catches it hanging anyway.
    options.timeout = std::chrono::seconds(k_timeout_s + 5);
    auto result = util::run(argv, options);
    if (!result) {
      return fail(fmt::format("{}: {}", what, result.error().message), result.error().help);
    }
    // ovs-vsctl's own --timeout ends it with SIGALRM ("terminating with signal 14 (Alarm
    // clock)"): typically a change that ovsdb-server took but ovs-vswitchd, stopped or stuck,
    // never applied.
    const bool alarm = result->err.find("signal 14") != std::string::npos ||
                       result->err.find("timeout expired") != std::string::npos;
    if (result->timed_out || alarm || (result->exit_code == -1 && result->err.empty())) {
      return fail(fmt::format("{}: Open vSwitch did not answer within {} s (ovs-vsctl timed out)",
                              what, k_timeout_s),
                  "check that ovsdb-server and ovs-vswitchd are running (see README: make "
                  "setup), then run the command again");
    }
    if (result->exit_code != 0) {
      const auto reason = first_error_line(result->err);
      const bool unreachable = result->err.find("database connection failed") != std::string::npos;
      return fail(fmt::format("{}: {}", what, reason),
                  unreachable ? "start Open vSwitch (see README: make setup)" : k_log_help);
    }
    return std::move(*result);
  }
};

} // namespace

std::unique_ptr<Ovs> make_ovs() {
  return std::make_unique<RealOvs>();
}

} // namespace ltb::net
