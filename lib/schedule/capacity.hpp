#pragma once
// What the host can hold and what a lab needs. Capacity = the machine's vCPUs, memory and disk
// (measured, or overridden) times overcommit ratios. The settings live in the state file's meta
// table under "config.NAME" (see `ltb config`), so every state file carries its own policy and no
// extra file must be found or parsed. A lab's demand is the sum over its nodes, with documented
// defaults for what a node leaves unset.

#include "topology/model.hpp"
#include "util/error.hpp"
#include "util/size.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ltb::state {
class Store;
}

namespace ltb::schedule {

/// An amount of host resources. cpus are vCPUs (fractions allowed); bytes are bytes.
struct Resources {
  double cpus = 0;
  std::int64_t memory_bytes = 0;
  std::int64_t disk_bytes = 0;

  Resources &operator+=(const Resources &other);
  Resources &operator-=(const Resources &other);
  Resources operator*(std::int64_t factor) const;
  /// True when every component of this is <= the same component of `limit`.
  bool fits_in(const Resources &limit) const;
  bool operator==(const Resources &other) const = default;
};

/// What the machine has, as measured (before overrides and overcommit).
struct HostFacts {
  double cpus = 0;               // CPUs this process may run on, capped by a cgroup CPU quota
  std::int64_t memory_bytes = 0; // MemTotal, capped by a cgroup memory limit
  std::int64_t disk_bytes = 0;   // space available on the file system of the state directory
};

/// The demand of a node that leaves `cpus`, `memory` or `disk-size` unset.
struct DemandDefaults {
  double container_cpus = 0.5; // nodes of kinds without a demand of their own (linux, frr)
  std::int64_t container_memory_bytes = 256LL << 20;
  std::int64_t vm_disk_bytes = 1LL << 30; // a VM with a base disk and no disk-size
  // The other kinds' demand is in the kind registry (topology/kinds.hpp).
};

/// The `ltb config` settings that shape capacity and demand.
struct CapacityConfig {
  std::optional<double> cpus;               // overrides HostFacts::cpus
  std::optional<std::int64_t> memory_bytes; // overrides HostFacts::memory_bytes
  std::optional<std::int64_t> disk_bytes;   // overrides HostFacts::disk_bytes
  double cpu_overcommit = 4.0;              // lab nodes idle most of the time
  double memory_overcommit = 1.0;
  double disk_overcommit = 1.0;
  DemandDefaults defaults;
};

/// One `ltb config` setting: its name, what it means, its default as text, and its kind of value.
struct SettingInfo {
  std::string name;
  std::string description;
  std::string default_text; // "measured" for the host facts
  enum class Kind { cpus, bytes, ratio } kind = Kind::ratio;
  bool zero_ok = false; // the demand defaults may be 0; host sizes and ratios may not
};

/// Every setting `ltb config` knows, in display order.
const std::vector<SettingInfo> &settings();

/// Checks and normalises VALUE for setting NAME: cpus and ratios as decimal numbers (> 0), sizes
/// as bytes or with a unit (512MiB, 2G, 1.5GiB, 10GB). Unknown names get a did-you-mean.
/// Returns the value as stored (a plain number: bytes, vCPUs or a ratio). Errors exit 2.
Result<std::string> normalise_setting(const std::string &name, const std::string &value);

/// Builds the configuration from stored settings (name -> value as normalise_setting returns it);
/// unknown names are ignored (a newer ltb may have written them).
Result<CapacityConfig> config_from(const std::map<std::string, std::string> &values);

/// The meta key a setting is stored under: "config.NAME".
std::string setting_key(const std::string &name);

/// Reads every setting from the state file and builds the configuration.
Result<CapacityConfig> load_config(state::Store &store);

/// Measures the machine; disk on the file system holding `state_dir`.
Result<HostFacts> measure_host(const std::string &state_dir);

/// Capacity = (override or measured) * overcommit, per resource.
Resources capacity(const HostFacts &facts, const CapacityConfig &config);

/// The demand of one node, by its kind's entry in the registry (topology/kinds.hpp, `demand`):
///   none (ovs-bridge): nothing
///   else its cpus, else the kind's, else container_cpus; the same for memory (linux, frr:
///   the defaults; vm: 1 vCPU, 256 MiB, which the loader has already set)
///   disk, for kinds that have one (vm): disk-size, else vm_disk when it boots from a base disk,
///   else 0 (kernel and initramfs only)
Resources node_demand(const topology::Node &node, const DemandDefaults &defaults);

/// The sum of node_demand over the lab's nodes.
Resources lab_demand(const topology::Topology &topology, const DemandDefaults &defaults);

/// The same for a lab known only by its recorded nodes' kinds (when its recorded topology no
/// longer loads): every node at its kind's demand (a VM with a base disk), an unknown kind as a
/// container.
Resources kinds_demand(const std::vector<std::string> &kinds, const DemandDefaults &defaults);

/// Parses a size as written in settings and topology files: bytes, or with a unit (k, KiB, KB,
/// m, MiB, MB, g, GiB, GB, t, TiB, TB; binary for the bare letters). nullopt when invalid.
inline std::optional<std::int64_t> parse_size(const std::string &text) {
  return util::parse_size(text);
}

/// "1.5 GiB", "256 MiB", "0" for tables.
std::string format_bytes(std::int64_t bytes);

/// "0.5", "2", "12.25" for tables.
std::string format_cpus(double cpus);

/// "2.5 vCPU, 1.0 GiB memory, 0 disk".
std::string format_resources(const Resources &r);

} // namespace ltb::schedule
