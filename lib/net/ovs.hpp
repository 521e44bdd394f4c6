#pragma once
// Open vSwitch through ovs-vsctl, batched: one invocation per bridge per step. Objects ltb makes
// carry external_ids ltb-lab=<lab> (and ltb-owner=<node or link key>) so that they are found again
// without state. Depends on util/ (exec.hpp) only.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace ltb::net {

enum class Datapath { system, netdev };

struct OvsPort {
  std::string name;
  std::map<std::string, std::string> external_ids;
};

struct OvsBridge {
  std::string name;
  std::string datapath_type; // "system", "netdev" or "" (= system)
  std::map<std::string, std::string> external_ids;
  std::vector<std::string> ports; // port names, the bridge's own internal port excluded
  // external_ids of those ports (kept on the Port record), by port name
  std::map<std::string, std::map<std::string, std::string>> port_external_ids;
};

/// Part of add_bridge's error message when Datapath::system failed for want of the kernel
/// datapath (no openvswitch module): callers look for it to fall back to Datapath::netdev.
inline constexpr const char *k_no_kernel_datapath = "no kernel datapath";

class Ovs {
public:
  virtual ~Ovs() = default;
  virtual Result<std::string> version() = 0;
  /// Creates the bridge (may-exist) with the datapath and ids, and brings its internal port up.
  /// With Datapath::system failing for want of a kernel datapath, the error says so (the caller
  /// decides whether to fall back).
  virtual Status add_bridge(const std::string &name, Datapath datapath,
                            const std::map<std::string, std::string> &external_ids) = 0;
  virtual Status del_bridge(const std::string &name) = 0; // if-exists
  /// One ovs-vsctl call adding all ports (may-exist) with their ids.
  virtual Status add_ports(const std::string &bridge, const std::vector<OvsPort> &ports) = 0;
  /// One ovs-vsctl call removing all ports (if-exists).
  virtual Status del_ports(const std::string &bridge, const std::vector<std::string> &ports) = 0;
  /// Bridges whose external_ids carry every given pair (empty = all bridges), with their ports.
  virtual Result<std::vector<OvsBridge>> bridges(const std::map<std::string, std::string> &external_ids) = 0;
};

std::unique_ptr<Ovs> make_ovs();

} // namespace ltb::net
