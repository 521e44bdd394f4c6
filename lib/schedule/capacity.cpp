#include "schedule/capacity.hpp"

#include "state/store.hpp"
#include "topology/diagnostics.hpp"
#include "topology/kinds.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <fmt/format.h>
#include <fstream>
#include <limits>
#include <sched.h>
#include <sstream>
#include <sys/statvfs.h>
#include <unistd.h>

namespace ltb::schedule {

namespace {

constexpr std::int64_t k_mib = 1LL << 20;
constexpr std::int64_t k_gib = 1LL << 30;
// A VM's cpus and memory when a recorded node has only its kind (the loader's defaults).
constexpr double k_max_ratio = 1000;
constexpr double k_max_cpus = 1e6;

using Kind = SettingInfo::Kind;

/// The first line of a file, empty when it cannot be read.
std::string first_line(const std::string &path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::optional<std::int64_t> to_int(const std::string &text) {
  if (text.empty()) {
    return std::nullopt;
  }
  std::size_t used = 0;
  try {
    const long long v = std::stoll(text, &used);
    if (used != text.size()) {
      return std::nullopt;
    }
    return v;
  } catch (const std::exception &) {
    return std::nullopt;
  }
}

std::optional<double> to_double(const std::string &text) {
  if (text.empty() || text.find_first_not_of("0123456789.") != std::string::npos ||
      std::count(text.begin(), text.end(), '.') > 1 || text.front() == '.' || text.back() == '.') {
    return std::nullopt;
  }
  return std::stod(text);
}

/// A CPU quota of the cgroup ltb runs in (v2 cpu.max or v1 cfs quota/period), when there is one.
std::optional<double> cgroup_cpus() {
  std::istringstream v2(first_line("/sys/fs/cgroup/cpu.max"));
  std::string quota;
  std::string period;
  if (v2 >> quota >> period && quota != "max") {
    auto q = to_int(quota);
    auto p = to_int(period);
    if (q && p && *q > 0 && *p > 0) {
      return static_cast<double>(*q) / static_cast<double>(*p);
    }
  }
  for (const char *dir : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
    auto q = to_int(first_line(fmt::format("{}/cpu.cfs_quota_us", dir)));
    auto p = to_int(first_line(fmt::format("{}/cpu.cfs_period_us", dir)));
    if (q && p && *q > 0 && *p > 0) {
      return static_cast<double>(*q) / static_cast<double>(*p);
    }
  }
  return std::nullopt;
}

/// A memory limit of the cgroup ltb runs in, when there is one (v1 reports "no limit" as a
/// huge number, which the caller's min() absorbs).
std::optional<std::int64_t> cgroup_memory() {
  if (auto v2 = to_int(first_line("/sys/fs/cgroup/memory.max")); v2 && *v2 > 0) {
    return v2;
  }
  if (auto v1 = to_int(first_line("/sys/fs/cgroup/memory/memory.limit_in_bytes")); v1 && *v1 > 0) {
    return v1;
  }
  return std::nullopt;
}

std::optional<std::int64_t> meminfo_total() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemTotal:") {
      return kib * 1024;
    }
  }
  return std::nullopt;
}

std::string format_number(double v) {
  // Up to two decimals, no trailing zeros: 0.5, 2, 12.25.
  std::string text = fmt::format("{:.2f}", v);
  while (text.back() == '0') {
    text.pop_back();
  }
  if (text.back() == '.') {
    text.pop_back();
  }
  return text;
}

} // namespace

Resources &Resources::operator+=(const Resources &other) {
  cpus += other.cpus;
  memory_bytes += other.memory_bytes;
  disk_bytes += other.disk_bytes;
  return *this;
}

Resources &Resources::operator-=(const Resources &other) {
  cpus -= other.cpus;
  memory_bytes -= other.memory_bytes;
  disk_bytes -= other.disk_bytes;
  return *this;
}

Resources Resources::operator*(std::int64_t factor) const {
  return {cpus * static_cast<double>(factor), memory_bytes * factor, disk_bytes * factor};
}

bool Resources::fits_in(const Resources &limit) const {
  // cpus compare in milli-vCPUs, as admission does, so that 0.1 + 0.2 fits in 0.3.
  return std::llround(cpus * 1000) <= std::llround(limit.cpus * 1000) &&
         memory_bytes <= limit.memory_bytes && disk_bytes <= limit.disk_bytes;
}

const std::vector<SettingInfo> &settings() {
  static const std::vector<SettingInfo> k_settings{
      {"cpus", "vCPUs of the host before overcommit", "measured", Kind::cpus, false},
      {"memory", "memory of the host before overcommit", "measured", Kind::bytes, false},
      {"disk", "disk for labs before overcommit (space free on the state directory's file system)",
       "measured", Kind::bytes, false},
      {"cpu-overcommit", "vCPUs booked per host vCPU", "4", Kind::ratio, false},
      {"memory-overcommit", "memory booked per byte of host memory", "1", Kind::ratio, false},
      {"disk-overcommit", "disk booked per byte of host disk", "1", Kind::ratio, false},
      {"container-cpus", "demand of a container node without `cpus`", "0.5", Kind::cpus, true},
      {"container-memory", "demand of a container node without `memory`", "256MiB", Kind::bytes,
       true},
      {"vm-disk", "demand of a vm node with a base disk and no `disk-size`", "1GiB", Kind::bytes,
       true},
  };
  return k_settings;
}

std::string setting_key(const std::string &name) {
  return "config." + name;
}

Result<std::string> normalise_setting(const std::string &name, const std::string &value) {
  const SettingInfo *info = nullptr;
  std::vector<std::string> names;
  for (const auto &s : settings()) {
    names.push_back(s.name);
    if (s.name == name) {
      info = &s;
    }
  }
  if (info == nullptr) {
    auto guess = topology::did_you_mean(name, names);
    return fail(fmt::format("no setting named '{}'", name),
                guess.empty() ? "see `ltb config list` for the settings there are"
                              : fmt::format("did you mean '{}'?", guess),
                ExitCode::usage);
  }
  const std::string bound = info->zero_ok ? "0 or more" : "more than 0";
  switch (info->kind) {
  case Kind::bytes: {
    auto bytes = parse_size(value);
    if (!bytes || (*bytes == 0 && !info->zero_ok)) {
      return fail(fmt::format("invalid value '{}' for {}: expected a size, {}", value, name, bound),
                  "write bytes or a size with a unit: 512MiB, 2G, 1.5GiB, 10GB", ExitCode::usage);
    }
    return std::to_string(*bytes);
  }
  case Kind::cpus:
  case Kind::ratio: {
    const double limit = info->kind == Kind::ratio ? k_max_ratio : k_max_cpus;
    auto number = to_double(value);
    if (!number || (*number == 0 && !info->zero_ok) || *number > limit) {
      return fail(fmt::format("invalid value '{}' for {}: expected a number, {}, at most {}", value,
                              name, bound, format_number(limit)),
                  info->kind == Kind::ratio ? "for example 1 (no overcommit), 1.5 or 4"
                                            : "for example 0.5, 2 or 16",
                  ExitCode::usage);
    }
    // Shortest text that reads back the same, so that 1.125 stays 1.125.
    return fmt::format("{}", *number);
  }
  }
  return fail(fmt::format("setting '{}' has no known type", name));
}

Result<CapacityConfig> config_from(const std::map<std::string, std::string> &values) {
  CapacityConfig config;
  for (const auto &[name, raw] : values) {
    auto value = normalise_setting(name, raw);
    if (!value) {
      if (value.error().message.rfind("no setting named", 0) == 0) {
        continue; // a newer ltb's setting
      }
      return fail(fmt::format("stored setting {}: {}", name, value.error().message),
                  fmt::format("set it again with `ltb config set {} VALUE`", name));
    }
    const std::string &v = *value;
    if (name == "cpus") {
      config.cpus = std::stod(v);
    } else if (name == "memory") {
      config.memory_bytes = std::stoll(v);
    } else if (name == "disk") {
      config.disk_bytes = std::stoll(v);
    } else if (name == "cpu-overcommit") {
      config.cpu_overcommit = std::stod(v);
    } else if (name == "memory-overcommit") {
      config.memory_overcommit = std::stod(v);
    } else if (name == "disk-overcommit") {
      config.disk_overcommit = std::stod(v);
    } else if (name == "container-cpus") {
      config.defaults.container_cpus = std::stod(v);
    } else if (name == "container-memory") {
      config.defaults.container_memory_bytes = std::stoll(v);
    } else if (name == "vm-disk") {
      config.defaults.vm_disk_bytes = std::stoll(v);
    }
  }
  return config;
}

Result<CapacityConfig> load_config(state::Store &store) {
  std::map<std::string, std::string> values;
  for (const auto &s : settings()) {
    LTB_TRY(value, store.meta(setting_key(s.name)));
    if (value) {
      values[s.name] = *value;
    }
  }
  return config_from(values);
}

Result<HostFacts> measure_host(const std::string &state_dir) {
  HostFacts facts;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    facts.cpus = CPU_COUNT(&set);
  }
  if (facts.cpus <= 0) {
    facts.cpus = static_cast<double>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  }
  if (auto quota = cgroup_cpus()) {
    facts.cpus = std::min(facts.cpus, *quota);
  }
  auto memory = meminfo_total();
  if (!memory) {
    return fail("cannot read the host's memory size from /proc/meminfo",
                "mount /proc, or set it with `ltb config set memory SIZE`");
  }
  facts.memory_bytes = *memory;
  if (auto limit = cgroup_memory()) {
    facts.memory_bytes = std::min(facts.memory_bytes, *limit);
  }
  // The state directory may not exist yet: measure the nearest directory that does.
  std::string dir = state_dir.empty() ? "." : state_dir;
  struct statvfs vfs {};
  while (::statvfs(dir.c_str(), &vfs) != 0) {
    const auto slash = dir.find_last_of('/');
    if (dir == "/" || slash == std::string::npos) {
      return fail(fmt::format("cannot measure the free space for {}", state_dir),
                  "set it with `ltb config set disk SIZE`");
    }
    dir = slash == 0 ? "/" : dir.substr(0, slash);
  }
  facts.disk_bytes =
      static_cast<std::int64_t>(vfs.f_bavail) * static_cast<std::int64_t>(vfs.f_frsize);
  return facts;
}

Resources capacity(const HostFacts &facts, const CapacityConfig &config) {
  Resources r;
  r.cpus = config.cpus.value_or(facts.cpus) * config.cpu_overcommit;
  r.memory_bytes = static_cast<std::int64_t>(
      std::floor(static_cast<long double>(config.memory_bytes.value_or(facts.memory_bytes)) *
                 config.memory_overcommit));
  r.disk_bytes = static_cast<std::int64_t>(
      std::floor(static_cast<long double>(config.disk_bytes.value_or(facts.disk_bytes)) *
                 config.disk_overcommit));
  return r;
}

namespace {

/// A node's demand from its kind's registry entry; CPUS and MEMORY are the node's own (0 = unset)
/// and DISK_BYTES its disk-size; HAS_BASE_DISK says whether it boots from one.
Resources kind_demand(std::string_view kind_name, double cpus, std::int64_t memory,
                      std::int64_t disk_bytes, bool has_base_disk, const DemandDefaults &defaults) {
  const topology::Kind *kind = topology::find_kind(kind_name);
  // A kind this ltb does not know (recorded by another version) counts as a container.
  const topology::KindDemand demand = kind ? kind->demand : topology::KindDemand{};
  if (demand.none) {
    return {};
  }
  Resources r;
  r.cpus = cpus > 0 ? cpus : demand.cpus > 0 ? demand.cpus : defaults.container_cpus;
  r.memory_bytes = memory > 0                ? memory
                   : demand.memory_bytes > 0 ? demand.memory_bytes
                                             : defaults.container_memory_bytes;
  if (demand.disk) {
    r.disk_bytes = disk_bytes > 0 ? disk_bytes : has_base_disk ? defaults.vm_disk_bytes : 0;
  }
  return r;
}

} // namespace

Resources node_demand(const topology::Node &node, const DemandDefaults &defaults) {
  // For a VM, `image` is its base disk (empty when it boots a kernel only).
  return kind_demand(node.kind, node.cpus, node.memory_bytes, node.disk_size_bytes,
                     !node.image.empty(), defaults);
}

Resources lab_demand(const topology::Topology &topology, const DemandDefaults &defaults) {
  Resources total;
  for (const auto &node : topology.nodes) {
    total += node_demand(node, defaults);
  }
  return total;
}

Resources kinds_demand(const std::vector<std::string> &kinds, const DemandDefaults &defaults) {
  Resources total;
  for (const auto &kind : kinds) {
    total += kind_demand(kind, 0, 0, 0, true, defaults);
  }
  return total;
}

std::string format_bytes(std::int64_t bytes) {
  if (bytes == 0) {
    return "0";
  }
  const std::int64_t magnitude = bytes < 0 ? -bytes : bytes;
  if (magnitude >= k_gib) {
    return fmt::format("{} GiB", format_number(static_cast<double>(bytes) / k_gib));
  }
  if (magnitude >= k_mib) {
    return fmt::format("{} MiB", format_number(static_cast<double>(bytes) / k_mib));
  }
  if (magnitude >= 1024) {
    return fmt::format("{} KiB", format_number(static_cast<double>(bytes) / 1024));
  }
  return fmt::format("{} B", bytes);
}

std::string format_cpus(double cpus) {
  return format_number(cpus);
}

std::string format_resources(const Resources &r) {
  return fmt::format("{} vCPU, {} memory, {} disk", format_cpus(r.cpus),
                     format_bytes(r.memory_bytes), format_bytes(r.disk_bytes));
}

} // namespace ltb::schedule
