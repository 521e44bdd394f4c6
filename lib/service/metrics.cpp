#include "service/metrics.hpp"

#include "event/event.hpp"
#include "plan/names.hpp"
#include "schedule/ledger.hpp"
#include "service/events.hpp"
#include "service/owners.hpp"
#include "topology/vm_image.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <set>
#include <sys/statvfs.h>
#include <unistd.h>

namespace ltb::service {

// ---------------------------------------------------------------------------------------------
// Parsers

namespace {

bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::vector<std::string_view> words_of(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && blank(line[i])) {
      ++i;
    }
    const auto start = i;
    while (i < line.size() && !blank(line[i])) {
      ++i;
    }
    if (i > start) {
      out.push_back(line.substr(start, i - start));
    }
  }
  return out;
}

template <class F> void each_line(std::string_view text, F &&on_line) {
  while (!text.empty()) {
    const auto end = text.find('\n');
    on_line(text.substr(0, end));
    if (end == std::string_view::npos) {
      break;
    }
    text.remove_prefix(end + 1);
  }
}

std::optional<std::int64_t> integer(std::string_view word) {
  std::int64_t value = 0;
  const auto *end = word.data() + word.size();
  auto [ptr, ec] = std::from_chars(word.data(), end, value);
  if (ec != std::errc() || ptr != end) {
    return std::nullopt;
  }
  return value;
}

} // namespace

std::vector<std::pair<std::string, double>> cpu_modes(const CpuSeconds &cpu) {
  return {{"user", cpu.user},       {"nice", cpu.nice},     {"system", cpu.system},
          {"idle", cpu.idle},       {"iowait", cpu.iowait}, {"irq", cpu.irq},
          {"softirq", cpu.softirq}, {"steal", cpu.steal}};
}

ProcStat parse_proc_stat(std::string_view text, long ticks_per_second) {
  ProcStat out;
  const double tick = ticks_per_second > 0 ? 1.0 / static_cast<double>(ticks_per_second) : 0.01;
  each_line(text, [&](std::string_view line) {
    if (line.substr(0, 3) != "cpu") {
      return;
    }
    const auto words = words_of(line);
    if (words.empty()) {
      return;
    }
    CpuSeconds cpu;
    double *fields[] = {&cpu.user,   &cpu.nice, &cpu.system,  &cpu.idle,
                        &cpu.iowait, &cpu.irq,  &cpu.softirq, &cpu.steal};
    for (std::size_t i = 0; i < std::size(fields) && i + 1 < words.size(); ++i) {
      *fields[i] = static_cast<double>(integer(words[i + 1]).value_or(0)) * tick;
    }
    if (words[0] == "cpu") {
      out.total = cpu;
      return;
    }
    const auto index = integer(words[0].substr(3));
    if (!index || *index < 0 || *index > 65535) {
      return;
    }
    if (out.per_cpu.size() <= static_cast<std::size_t>(*index)) {
      out.per_cpu.resize(static_cast<std::size_t>(*index) + 1);
    }
    out.per_cpu[static_cast<std::size_t>(*index)] = cpu;
  });
  return out;
}

std::map<std::string, std::int64_t> parse_meminfo(std::string_view text) {
  std::map<std::string, std::int64_t> out;
  each_line(text, [&](std::string_view line) {
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      return;
    }
    const auto words = words_of(line.substr(colon + 1));
    if (words.empty()) {
      return;
    }
    if (auto value = integer(words[0])) {
      const bool kib = words.size() > 1 && words[1] == "kB";
      out[std::string(line.substr(0, colon))] = kib ? *value * 1024 : *value;
    }
  });
  return out;
}

std::map<std::string, std::int64_t> parse_keyed(std::string_view text) {
  std::map<std::string, std::int64_t> out;
  each_line(text, [&](std::string_view line) {
    const auto words = words_of(line);
    if (words.size() != 2) {
      return;
    }
    if (auto value = integer(words[1])) {
      out[std::string(words[0])] = *value;
    }
  });
  return out;
}

std::vector<InterfaceMetrics> parse_net_dev(std::string_view text) {
  // "  eth0: RXbytes packets errs drop fifo frame compressed multicast TXbytes packets ..."
  std::vector<InterfaceMetrics> out;
  each_line(text, [&](std::string_view line) {
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      return;
    }
    const auto names = words_of(line.substr(0, colon));
    const auto fields = words_of(line.substr(colon + 1));
    if (names.size() != 1 || fields.size() < 9 || names[0] == "lo") {
      return;
    }
    auto rx = integer(fields[0]);
    auto tx = integer(fields[8]);
    if (rx && tx) {
      out.push_back({std::string(names[0]), *rx, *tx});
    }
  });
  std::sort(out.begin(), out.end(),
            [](const auto &a, const auto &b) { return a.interface < b.interface; });
  return out;
}

std::int64_t working_set_bytes(std::int64_t usage,
                               const std::map<std::string, std::int64_t> &stat) {
  auto it = stat.find("total_inactive_file");
  if (it == stat.end()) {
    it = stat.find("inactive_file");
  }
  const std::int64_t inactive = it == stat.end() ? 0 : it->second;
  return std::max<std::int64_t>(0, usage - inactive);
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
    case '\\':
      out += "\\\\";
      break;
    case '"':
      out += "\\\"";
      break;
    case '\n':
      out += "\\n";
      break;
    default:
      out += c;
    }
  }
  return out;
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds(std::move(upper_bounds)), buckets(bounds.size(), 0) {}

void Histogram::observe(double value) {
  ++count;
  sum += value;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    buckets[i] += value <= bounds[i];
  }
}

// ---------------------------------------------------------------------------------------------
// The host's files

namespace {

class RealMetricsHost final : public MetricsHost {
public:
  std::optional<std::string> read(const std::string &path) override {
    // One read() for what /proc and cgroup files hold (a few KiB); no iostream in a scrape's
    // hot loop.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return std::nullopt;
    }
    std::string out;
    char buf[8192];
    while (true) {
      const auto n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        ::close(fd);
        if (n < 0) {
          return std::nullopt;
        }
        return out;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
  }

  std::optional<std::pair<std::int64_t, std::int64_t>>
  filesystem(const std::string &path) override {
    struct statvfs fs {};
    if (::statvfs(path.c_str(), &fs) != 0) {
      return std::nullopt;
    }
    return std::make_pair(static_cast<std::int64_t>(fs.f_blocks) * fs.f_frsize,
                          static_cast<std::int64_t>(fs.f_bavail) * fs.f_frsize);
  }

  long clock_ticks() override { return ::sysconf(_SC_CLK_TCK); }
};

} // namespace

MetricsHost &host_metrics_files() {
  static RealMetricsHost host;
  return host;
}

// ---------------------------------------------------------------------------------------------
// Collecting

namespace {

constexpr const char *k_cgroup = "/sys/fs/cgroup";

/// Where Docker puts a container's cgroup and how to read it: cgroup v2 (one hierarchy) or v1
/// (one per controller), under the cgroupfs driver (docker/ID) or systemd's
/// (system.slice/docker-ID.scope).
class Cgroups {
public:
  explicit Cgroups(MetricsHost &host)
      : m_host(host), m_v2(host.read(std::string(k_cgroup) + "/cgroup.controllers").has_value()) {
    if (!m_v2) {
      // v1's CPU accounting is "cpuacct", or "cpu,cpuacct" where both are mounted together.
      m_cpu_root = std::string(k_cgroup) + "/cpuacct";
      if (!host.read(m_cpu_root + "/cpuacct.usage")) {
        m_cpu_root = std::string(k_cgroup) + "/cpu,cpuacct";
      }
    }
  }

  struct Reading {
    double cpu_seconds = 0;
    std::int64_t working_set = 0;
    std::optional<std::string> first_pid;
  };

  /// The container's figures; nullopt when no cgroup of it is found (it stopped meanwhile).
  std::optional<Reading> read(const std::string &id) {
    for (const auto &relative : {"docker/" + id, "system.slice/docker-" + id + ".scope"}) {
      if (auto reading = m_v2 ? read_v2(relative) : read_v1(relative)) {
        return reading;
      }
    }
    return std::nullopt;
  }

private:
  std::optional<Reading> read_v2(const std::string &relative) {
    const auto dir = std::string(k_cgroup) + "/" + relative + "/";
    auto cpu = m_host.read(dir + "cpu.stat");
    if (!cpu) {
      return std::nullopt;
    }
    Reading out;
    const auto cpu_stat = parse_keyed(*cpu);
    if (auto usage = cpu_stat.find("usage_usec"); usage != cpu_stat.end()) {
      out.cpu_seconds = static_cast<double>(usage->second) / 1e6;
    }
    memory(out, dir + "memory.current", dir + "memory.stat");
    out.first_pid = first_pid(dir + "cgroup.procs");
    return out;
  }

  std::optional<Reading> read_v1(const std::string &relative) {
    auto cpu = m_host.read(m_cpu_root + "/" + relative + "/cpuacct.usage");
    if (!cpu) {
      return std::nullopt;
    }
    Reading out;
    const auto words = words_of(*cpu);
    if (!words.empty()) {
      out.cpu_seconds = static_cast<double>(integer(words[0]).value_or(0)) / 1e9;
    }
    const auto memory_dir = std::string(k_cgroup) + "/memory/" + relative + "/";
    memory(out, memory_dir + "memory.usage_in_bytes", memory_dir + "memory.stat");
    out.first_pid = first_pid(memory_dir + "cgroup.procs");
    if (!out.first_pid) {
      out.first_pid = first_pid(m_cpu_root + "/" + relative + "/cgroup.procs");
    }
    return out;
  }

  void memory(Reading &out, const std::string &usage_file, const std::string &stat_file) {
    auto usage = m_host.read(usage_file);
    auto stat = m_host.read(stat_file);
    if (!usage) {
      return;
    }
    const auto words = words_of(*usage);
    const auto bytes = words.empty() ? std::nullopt : integer(words[0]);
    out.working_set = working_set_bytes(
        bytes.value_or(0), stat ? parse_keyed(*stat) : std::map<std::string, std::int64_t>{});
  }

  std::optional<std::string> first_pid(const std::string &procs) {
    auto text = m_host.read(procs);
    if (!text) {
      return std::nullopt;
    }
    // Named: words_of's views point into it (a temporary here left them dangling).
    const std::string line = text->substr(0, text->find('\n'));
    const auto words = words_of(line);
    if (words.empty()) {
      return std::nullopt;
    }
    return std::string(words[0]);
  }

  MetricsHost &m_host;
  bool m_v2 = false;
  std::string m_cpu_root;
};

std::string runtime_shown(const std::string &recorded) {
  return recorded == state::k_runtime_bridge || recorded == state::k_runtime_linux_bridge
             ? "bridge"
             : recorded;
}

std::string owner_of(const state::LabRecord &lab) {
  return lab.owner.empty() ? lab_id_owner(lab.name) : lab.owner;
}

HostMetrics collect_host(const Session &session, MetricsHost &host) {
  HostMetrics out;
  if (auto text = host.read("/proc/stat")) {
    auto stat = parse_proc_stat(*text, host.clock_ticks());
    out.cpu = stat.total;
    out.per_cpu = std::move(stat.per_cpu);
    out.cpus = static_cast<int>(out.per_cpu.size());
  }
  if (auto text = host.read("/proc/meminfo")) {
    const auto info = parse_meminfo(*text);
    auto value = [&](const char *key) {
      auto it = info.find(key);
      return it == info.end() ? std::int64_t{0} : it->second;
    };
    out.memory_total_bytes = value("MemTotal");
    out.memory_available_bytes = value("MemAvailable");
  }
  // The state file's directory holds the labs' directories and VMs' disk layers.
  auto state_dir = std::filesystem::path(session.context.state_path).parent_path().string();
  std::set<std::string> seen;
  const std::vector<std::string> paths{state_dir.empty() ? std::string(".") : state_dir,
                                       topology::detail::vm_images_dir().string(),
                                       "/var/lib/docker"};
  for (const auto &path : paths) {
    if (!seen.insert(path).second) {
      continue;
    }
    if (auto fs = host.filesystem(path)) {
      out.disks.push_back({path, fs->first, fs->second});
    }
  }
  return out;
}

/// What libvirt names a VM's taps, as the node's interfaces in its lab file.
std::map<std::string, std::string> vm_interface_names(const std::string &lab_id,
                                                      const std::string &node,
                                                      const std::vector<state::LinkRecord> &links) {
  std::map<std::string, std::string> out;
  for (const auto &link : links) {
    for (const auto &[end, iface] :
         {std::pair{link.a_node, link.a_iface}, std::pair{link.b_node, link.b_iface}}) {
      if (end == node) {
        out[plan::host_veth_name(lab_id, link.key, node)] = iface;
        out[plan::segment_node_veth_name(lab_id, link.key, node)] = iface;
      }
    }
  }
  return out;
}

/// A container's figures: Docker's state and size, its cgroup's CPU and memory, the network
/// bytes its first process sees.
void measure_container(NodeMetrics &m, const runtime::ContainerInfo &info, std::int64_t size,
                       Cgroups &cgroups, MetricsHost &host) {
  m.state = info.state;
  m.disk_bytes = size;
  if (info.state != "running" && info.state != "paused") {
    return;
  }
  auto reading = cgroups.read(info.id);
  if (!reading) {
    return;
  }
  m.measured = true;
  m.cpu_seconds_total = reading->cpu_seconds;
  m.memory_working_set_bytes = reading->working_set;
  if (reading->first_pid) {
    if (auto dev = host.read("/proc/" + *reading->first_pid + "/net/dev")) {
      m.interfaces = parse_net_dev(*dev);
    }
  }
}

/// A VM's figures from its bulk stats, its taps named as the lab file names its interfaces.
void measure_vm(NodeMetrics &m, const runtime::VmStats &stats,
                const std::map<std::string, std::string> &names) {
  m.state = stats.state;
  m.disk_bytes = stats.disk_allocation_bytes;
  if (stats.state == "shutoff") {
    return;
  }
  m.measured = true;
  m.cpu_seconds_total = static_cast<double>(stats.cpu_time_ns) / 1e9;
  m.memory_working_set_bytes = stats.rss_bytes;
  for (const auto &iface : stats.interfaces) {
    auto name = names.find(iface.name);
    m.interfaces.push_back(
        {name != names.end() ? name->second : iface.name, iface.rx_bytes, iface.tx_bytes});
  }
  std::sort(m.interfaces.begin(), m.interfaces.end(),
            [](const auto &a, const auto &b) { return a.interface < b.interface; });
}

/// ltb's own figures from the events of the scheduler's deploys.
void collect_schedule(state::Store &store, MetricsSnapshot &out) {
  auto reservations = store.reservations();
  if (!reservations || std::none_of(reservations->begin(), reservations->end(), [](const auto &r) {
        return r.state != schedule::k_pending && r.state != schedule::k_cancelled;
      })) {
    return; // nothing deployed by the scheduler: no need to read the events
  }
  auto events = store.events_after(0, {}, static_cast<std::size_t>(state::k_events_kept));
  if (!events) {
    return;
  }
  auto number = [](const std::map<std::string, std::string> &attributes, const char *key) {
    auto it = attributes.find(key);
    if (it == attributes.end()) {
      return std::optional<double>();
    }
    char *end = nullptr;
    const double value = std::strtod(it->second.c_str(), &end);
    return end != it->second.c_str() && std::isfinite(value) ? std::optional(value)
                                                             : std::optional<double>();
  };
  for (const auto &record : *events) {
    if (record.type != event::to_string(event::Type::reservation) ||
        record.action != event::to_string(event::Action::started)) {
      continue;
    }
    const auto attributes = event::parse_attributes(record.attributes);
    if (auto took = number(attributes, "deploy_seconds")) {
      out.deploy_duration_seconds.observe(*took);
    }
    if (auto late = number(attributes, "late_seconds")) {
      out.scheduler_lateness_seconds.observe(std::max(0.0, *late));
    }
  }
}

} // namespace

Result<MetricsSnapshot> collect_metrics(const Session &session, Connection &connection,
                                        MetricsHost &host, const std::optional<std::string> &lab) {
  MetricsSnapshot out;
  out.deploy_duration_seconds = Histogram({1, 2, 5, 10, 30, 60, 120, 300, 600, 1800});
  out.scheduler_lateness_seconds = Histogram({1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600});
  out.time =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto &store = *connection.store;
  std::vector<state::LabRecord> labs;
  if (lab) {
    LTB_TRY(record, resolve_lab(store, session.caller, *lab));
    labs.push_back(std::move(record));
  } else {
    LTB_TRY(all, store.labs());
    for (auto &record : all) {
      if (may_act(session.caller, owner_of(record))) {
        labs.push_back(std::move(record));
      }
    }
  }
  std::sort(labs.begin(), labs.end(), [&](const auto &a, const auto &b) {
    return lab_shown(session.caller, a.name) < lab_shown(session.caller, b.name);
  });
  std::map<std::string, std::vector<state::NodeRecord>> nodes;
  bool containers = false;
  bool vms = false;
  for (const auto &record : labs) {
    LTB_TRY(recorded, store.nodes(record.name));
    for (const auto &node : recorded) {
      containers = containers || node.runtime == state::k_runtime_container;
      vms = vms || node.runtime == state::k_runtime_vm;
    }
    nodes[record.name] = std::move(recorded);
  }

  // Containers: Docker's list (state and writable layer's size) in one request, then cgroups.
  std::map<std::pair<std::string, std::string>, std::pair<runtime::ContainerInfo, std::int64_t>>
      by_node;
  if (containers && connection.docker) {
    LTB_TRY(listed, connection.docker->list_containers_sized({}));
    for (auto &[info, size] : listed) {
      auto lab_label = info.labels.find(plan::k_label_lab);
      auto node_label = info.labels.find(plan::k_label_node);
      if (lab_label != info.labels.end() && node_label != info.labels.end()) {
        by_node[{lab_label->second, node_label->second}] = {std::move(info), size};
      }
    }
  }
  // VMs: libvirt's bulk stats, one call; without libvirt they show as missing.
  std::map<std::string, runtime::VmStats> domains;
  if (vms) {
    if (!connection.vms) {
      (void)connection.connect_vms(false);
    }
    if (connection.vms) {
      if (auto stats = connection.vms->domain_stats()) {
        for (auto &domain : *stats) {
          domains[domain.name] = std::move(domain);
        }
      }
    }
  }

  Cgroups cgroups(host);
  for (const auto &record : labs) {
    const auto shown = lab_shown(session.caller, record.name);
    const auto owner = owner_of(record);
    std::optional<std::vector<state::LinkRecord>> links;
    for (const auto &node : nodes[record.name]) {
      NodeMetrics m;
      m.lab = shown;
      m.node = node.name;
      m.kind = node.kind;
      m.owner = owner;
      m.runtime = runtime_shown(node.runtime);
      const bool stopped = node.status == state::RecordStatus::stopped;
      m.state = stopped ? "stopped" : "missing";
      if (node.runtime == state::k_runtime_container) {
        if (auto it = by_node.find({record.name, node.name}); it != by_node.end()) {
          measure_container(m, it->second.first, it->second.second, cgroups, host);
        }
      } else if (node.runtime == state::k_runtime_vm) {
        if (auto it = domains.find(plan::container_name(record.name, node.name));
            it != domains.end()) {
          if (!links) {
            LTB_TRY(recorded, store.links(record.name));
            links = std::move(recorded);
          }
          measure_vm(m, it->second, vm_interface_names(record.name, node.name, *links));
        }
      } else {
        m.state = state::to_string(node.status);
      }
      out.nodes.push_back(std::move(m));
    }
  }

  // Capacity held now, as admission counts it (schedule/ledger.hpp).
  std::map<std::string, schedule::Resources> held;
  if (!labs.empty()) {
    LTB_TRY(config, schedule::load_config(store));
    const auto now = static_cast<schedule::Instant>(out.time);
    LTB_TRY(bookings, schedule::current_bookings(store, now, config.defaults));
    for (const auto &booking : bookings) {
      if (booking.start <= now && now < booking.end) {
        held[booking.lab] += booking.demand;
      }
    }
  }
  for (const auto &record : labs) {
    LabMetrics m;
    m.lab = lab_shown(session.caller, record.name);
    m.owner = owner_of(record);
    m.nodes = static_cast<int>(nodes[record.name].size());
    if (auto it = held.find(record.name); it != held.end()) {
      m.reserved_cpus = it->second.cpus;
      m.reserved_memory_bytes = it->second.memory_bytes;
    }
    out.labs.push_back(std::move(m));
  }
  out.host = collect_host(session, host);
  collect_schedule(store, out);
  return out;
}

Result<MetricsSnapshot> collect_metrics(const Session &session,
                                        const std::optional<std::string> &lab) {
  LTB_TRY(connection, connect(session.context));
  return collect_metrics(session, connection, host_metrics_files(), lab);
}

// ---------------------------------------------------------------------------------------------
// Rendering

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

/// One metric family of the text format: its HELP and TYPE once, then its samples.
class Family {
public:
  Family(std::string name, std::string type, std::string help)
      : m_name(std::move(name)), m_type(std::move(type)), m_help(std::move(help)) {}

  void sample(const Labels &labels, double value, const std::string &suffix = {}) {
    m_samples += m_name + suffix;
    if (!labels.empty()) {
      m_samples += '{';
      for (std::size_t i = 0; i < labels.size(); ++i) {
        m_samples += fmt::format("{}{}=\"{}\"", i ? "," : "", labels[i].first,
                                 escape_label_value(labels[i].second));
      }
      m_samples += '}';
    }
    m_samples += ' ' + number(value) + '\n';
  }

  void histogram(const Labels &labels, const Histogram &h) {
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
      auto with_le = labels;
      with_le.emplace_back("le", number(h.bounds[i]));
      sample(with_le, static_cast<double>(h.buckets[i]), "_bucket");
    }
    auto with_le = labels;
    with_le.emplace_back("le", "+Inf");
    sample(with_le, static_cast<double>(h.count), "_bucket");
    sample(labels, h.sum, "_sum");
    sample(labels, static_cast<double>(h.count), "_count");
  }

  void write(std::string &out) const {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", m_name, m_help, m_name, m_type);
    out += m_samples;
  }

private:
  static std::string number(double value) {
    if (std::isnan(value)) {
      return "NaN";
    }
    if (std::isinf(value)) {
      return value > 0 ? "+Inf" : "-Inf";
    }
    if (value == std::floor(value) && std::fabs(value) < 1e15) {
      return fmt::format("{}", static_cast<std::int64_t>(value));
    }
    return fmt::format("{}", value);
  }

  std::string m_name;
  std::string m_type;
  std::string m_help;
  std::string m_samples;
};

Labels node_labels(const NodeMetrics &node) {
  return {{"lab", node.lab}, {"node", node.node}, {"kind", node.kind}, {"owner", node.owner}};
}

} // namespace

std::string prometheus_histograms(const std::string &name, const std::string &help,
                                  const std::vector<std::pair<MetricLabels, Histogram>> &series) {
  Family family(name, "histogram", help);
  for (const auto &[labels, histogram] : series) {
    family.histogram(labels, histogram);
  }
  std::string out;
  family.write(out);
  return out;
}

std::string prometheus_text(const MetricsSnapshot &snapshot) {
  const auto &host = snapshot.host;
  Family cpu("node_cpu_seconds_total", "counter", "Seconds the host's CPUs spent in each mode.");
  for (std::size_t i = 0; i < host.per_cpu.size(); ++i) {
    for (const auto &[mode, seconds] : cpu_modes(host.per_cpu[i])) {
      cpu.sample({{"cpu", std::to_string(i)}, {"mode", mode}}, seconds);
    }
  }
  Family cpus("node_cpus", "gauge", "The host's number of CPUs.");
  cpus.sample({}, host.cpus);
  Family mem_total("node_memory_MemTotal_bytes", "gauge", "The host's memory.");
  mem_total.sample({}, static_cast<double>(host.memory_total_bytes));
  Family mem_available("node_memory_MemAvailable_bytes", "gauge",
                       "The host's memory available for new work without swapping.");
  mem_available.sample({}, static_cast<double>(host.memory_available_bytes));
  Family fs_size("node_filesystem_size_bytes", "gauge",
                 "Size of the file system holding each of ltb's directories.");
  Family fs_avail("node_filesystem_avail_bytes", "gauge",
                  "Bytes available to users on the file system holding each of ltb's directories.");
  for (const auto &disk : host.disks) {
    fs_size.sample({{"path", disk.path}}, static_cast<double>(disk.size_bytes));
    fs_avail.sample({{"path", disk.path}}, static_cast<double>(disk.available_bytes));
  }

  Family running("ltb_node_running", "gauge",
                 "1 when the node's container or VM runs, else 0 (bridges: 1 when recorded so).");
  Family node_cpu("ltb_node_cpu_seconds_total", "counter", "CPU seconds the node used.");
  Family node_mem("ltb_node_memory_working_set_bytes", "gauge",
                  "The node's memory in use minus inactive file cache (a VM: its QEMU's resident "
                  "memory).");
  Family rx("ltb_node_network_receive_bytes_total", "counter",
            "Bytes the node received on each interface.");
  Family tx("ltb_node_network_transmit_bytes_total", "counter",
            "Bytes the node sent on each interface.");
  Family disk("ltb_node_disk_usage_bytes", "gauge",
              "Bytes the node wrote on top of its image (a VM: its disk layer's allocation).");
  for (const auto &node : snapshot.nodes) {
    const auto labels = node_labels(node);
    running.sample(labels, node.state == "running" ? 1 : 0);
    if (node.runtime != "bridge" && node.state != "missing") {
      disk.sample(labels, static_cast<double>(node.disk_bytes));
    }
    if (!node.measured) {
      continue;
    }
    node_cpu.sample(labels, node.cpu_seconds_total);
    node_mem.sample(labels, static_cast<double>(node.memory_working_set_bytes));
    for (const auto &iface : node.interfaces) {
      auto with_iface = labels;
      with_iface.emplace_back("interface", iface.interface);
      rx.sample(with_iface, static_cast<double>(iface.receive_bytes_total));
      tx.sample(with_iface, static_cast<double>(iface.transmit_bytes_total));
    }
  }

  Family labs("ltb_labs", "gauge", "Labs per owner.");
  Family nodes("ltb_nodes", "gauge", "Nodes per lab.");
  Family reserved_cpus("ltb_reserved_cpus", "gauge",
                       "vCPUs the lab holds now (its reservation's, else its topology's demand).");
  Family reserved_memory("ltb_reserved_memory_bytes", "gauge",
                         "Memory the lab holds now (its reservation's, else its topology's "
                         "demand).");
  std::map<std::string, int> per_owner;
  for (const auto &lab : snapshot.labs) {
    ++per_owner[lab.owner];
    const Labels labels{{"lab", lab.lab}, {"owner", lab.owner}};
    nodes.sample(labels, lab.nodes);
    reserved_cpus.sample(labels, lab.reserved_cpus);
    reserved_memory.sample(labels, static_cast<double>(lab.reserved_memory_bytes));
  }
  for (const auto &[owner, count] : per_owner) {
    labs.sample({{"owner", owner}}, count);
  }

  Family deploys("ltb_deploy_duration_seconds", "histogram",
                 "How long the scheduler's deploys of reservations took (the events the state "
                 "file keeps).");
  deploys.histogram({}, snapshot.deploy_duration_seconds);
  Family lateness("ltb_scheduler_lateness_seconds", "histogram",
                  "How long after its reservation's start each of the scheduler's deploys began "
                  "(the events the state file keeps).");
  lateness.histogram({}, snapshot.scheduler_lateness_seconds);

  std::string out;
  for (const auto *family : {&cpu, &cpus, &mem_total, &mem_available, &fs_size, &fs_avail, &running,
                             &node_cpu, &node_mem, &rx, &tx, &disk, &labs, &nodes, &reserved_cpus,
                             &reserved_memory, &deploys, &lateness}) {
    family->write(out);
  }
  return out;
}

nlohmann::json metrics_json(const MetricsSnapshot &snapshot) {
  const auto &host = snapshot.host;
  nlohmann::json cpu = nlohmann::json::object();
  for (const auto &[mode, seconds] : cpu_modes(host.cpu)) {
    cpu[mode] = seconds;
  }
  nlohmann::json disks = nlohmann::json::array();
  for (const auto &disk : host.disks) {
    disks.push_back({{"path", disk.path},
                     {"size_bytes", disk.size_bytes},
                     {"available_bytes", disk.available_bytes}});
  }
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto &node : snapshot.nodes) {
    nlohmann::json interfaces = nlohmann::json::array();
    for (const auto &iface : node.interfaces) {
      interfaces.push_back({{"interface", iface.interface},
                            {"receive_bytes_total", iface.receive_bytes_total},
                            {"transmit_bytes_total", iface.transmit_bytes_total}});
    }
    nodes.push_back({{"lab", node.lab},
                     {"node", node.node},
                     {"kind", node.kind},
                     {"owner", node.owner},
                     {"runtime", node.runtime},
                     {"state", node.state},
                     {"cpu_seconds_total", node.cpu_seconds_total},
                     {"memory_working_set_bytes", node.memory_working_set_bytes},
                     {"disk_bytes", node.disk_bytes},
                     {"interfaces", interfaces}});
  }
  nlohmann::json labs = nlohmann::json::array();
  for (const auto &lab : snapshot.labs) {
    labs.push_back({{"lab", lab.lab},
                    {"owner", lab.owner},
                    {"nodes", lab.nodes},
                    {"reserved_cpus", lab.reserved_cpus},
                    {"reserved_memory_bytes", lab.reserved_memory_bytes}});
  }
  return {{"time", snapshot.time},
          {"host",
           {{"cpus", host.cpus},
            {"cpu_seconds_total", cpu},
            {"memory_total_bytes", host.memory_total_bytes},
            {"memory_available_bytes", host.memory_available_bytes},
            {"disks", disks}}},
          {"nodes", nodes},
          {"labs", labs}};
}

} // namespace ltb::service
