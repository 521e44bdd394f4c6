#pragma once
// Resource usage as figures: the host's (CPU seconds, memory, disk of ltb's directories), each
// node's of the labs a caller may see (CPU seconds, working set, network bytes, disk), each lab's
// reserved capacity, and ltb's own (deploy durations and the scheduler's lateness, from the state
// file's events). One snapshot per call; `ltb top`, `GET /metrics` (Prometheus text) and
// `GET /v1/top` (JSON) render it. Containers are read from their cgroups and /proc, not from
// Docker's per-container stats (one request each, far too slow for a scrape of 100 nodes); VMs from
// libvirt's bulk domain stats, one call for all.

#include "service/backends.hpp"
#include "service/service.hpp"

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ltb::service {

/// Seconds a CPU (or all of them) spent in each mode since boot (/proc/stat).
struct CpuSeconds {
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  bool operator==(const CpuSeconds &) const = default;
};

/// The modes of CpuSeconds by name, in /proc/stat's order.
std::vector<std::pair<std::string, double>> cpu_modes(const CpuSeconds &cpu);

struct DiskSpace {
  std::string path;
  std::int64_t size_bytes = 0;
  std::int64_t available_bytes = 0; // to unprivileged users (statvfs f_bavail)
};

struct HostMetrics {
  int cpus = 0;
  CpuSeconds cpu;                  // all CPUs together
  std::vector<CpuSeconds> per_cpu; // by CPU number
  std::int64_t memory_total_bytes = 0;
  std::int64_t memory_available_bytes = 0;
  std::vector<DiskSpace> disks; // the state file's directory, Docker's and the VM images'
};

struct InterfaceMetrics {
  std::string interface;
  std::int64_t receive_bytes_total = 0;
  std::int64_t transmit_bytes_total = 0;
  bool operator==(const InterfaceMetrics &) const = default;
};

struct NodeMetrics {
  std::string lab; // as the caller sees it (owners.hpp's lab_shown())
  std::string node;
  std::string kind;
  std::string owner;
  std::string runtime; // "container", "vm" or "bridge"
  std::string state;   // the runtime's ("running", "exited", "paused", ...), else "missing"
                       // or the recorded status (bridges, stopped nodes)
  /// The figures below were read (a running container or VM); else they are 0.
  bool measured = false;
  double cpu_seconds_total = 0;
  std::int64_t memory_working_set_bytes = 0;
  std::int64_t disk_bytes = 0; // a container's writable layer, a VM's disk layer
  std::vector<InterfaceMetrics> interfaces;
};

struct LabMetrics {
  std::string lab; // as the caller sees it
  std::string owner;
  int nodes = 0;
  /// The capacity the lab holds now: its active reservation's demand, or for a lab without one
  /// what its recorded topology asks (as admission counts it).
  double reserved_cpus = 0;
  std::int64_t reserved_memory_bytes = 0;
};

/// Observations in cumulative buckets (Prometheus' histogram).
struct Histogram {
  std::vector<double> bounds;        // upper bounds, ascending; +Inf is implied
  std::vector<std::int64_t> buckets; // observations <= each bound (cumulative)
  std::int64_t count = 0;
  double sum = 0;
  explicit Histogram(std::vector<double> upper_bounds = {});
  void observe(double value);
};

struct MetricsSnapshot {
  double time = 0; // unix seconds
  HostMetrics host;
  std::vector<NodeMetrics> nodes; // by lab, then node
  std::vector<LabMetrics> labs;   // by lab
  /// The scheduler's deploys of reservations that the state file's events still keep (the
  /// newest state::k_events_kept events): how long each took, and how late each began after its
  /// reservation's start.
  Histogram deploy_duration_seconds;
  Histogram scheduler_lateness_seconds;
};

/// The files metrics read (/proc, /sys/fs/cgroup) and the file systems they measure, behind a
/// seam for unit tests.
class MetricsHost {
public:
  virtual ~MetricsHost() = default;
  /// The whole file; nullopt when it cannot be read (not there, gone meanwhile).
  virtual std::optional<std::string> read(const std::string &path) = 0;
  /// Size and available bytes of the file system holding `path`; nullopt when it does not exist.
  virtual std::optional<std::pair<std::int64_t, std::int64_t>>
  filesystem(const std::string &path) = 0;
  /// /proc/stat's unit (USER_HZ).
  virtual long clock_ticks() = 0;
};

/// The machine's own.
MetricsHost &host_metrics_files();

/// One snapshot of what `session`'s caller may see: every lab they may act on (an admin: every
/// lab), or only `lab` (resolved as owners.hpp's resolve_lab() does: another user's lab is "no lab
/// named X").
Result<MetricsSnapshot> collect_metrics(const Session &session,
                                        const std::optional<std::string> &lab);

/// The same over given backends and files (tests: fakes). `connection.vms` is connected on demand
/// when a lab has VMs (kept as it is when set).
Result<MetricsSnapshot> collect_metrics(const Session &session, Connection &connection,
                                        MetricsHost &host, const std::optional<std::string> &lab);

/// The Prometheus text exposition format 0.0.4 (`GET /metrics`): HELP and TYPE once per family,
/// labels lab, node, kind, owner, interface, path, cpu, mode.
std::string prometheus_text(const MetricsSnapshot &snapshot);

/// Histogram families of other figures in the same text format (the daemon's request durations):
/// NAME with HELP, one series per label set.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;
std::string prometheus_histograms(const std::string &name, const std::string &help,
                                  const std::vector<std::pair<MetricLabels, Histogram>> &series);

/// `ltb top --format json` and `GET /v1/top`: {"time", "host", "nodes", "labs"}.
nlohmann::json metrics_json(const MetricsSnapshot &snapshot);

// The parsers, pure (unit-tested on fixture text).

/// /proc/stat's "cpu" and "cpuN" lines in seconds (`ticks_per_second`: USER_HZ).
struct ProcStat {
  CpuSeconds total;
  std::vector<CpuSeconds> per_cpu;
};
ProcStat parse_proc_stat(std::string_view text, long ticks_per_second);

/// /proc/meminfo as bytes by key ("MemTotal", "MemAvailable", ...; kB values times 1024).
std::map<std::string, std::int64_t> parse_meminfo(std::string_view text);

/// "key value" lines (cgroup's cpu.stat and memory.stat); lines of another form are skipped.
std::map<std::string, std::int64_t> parse_keyed(std::string_view text);

/// /proc/PID/net/dev: bytes per interface, as the namespace names them, without "lo".
std::vector<InterfaceMetrics> parse_net_dev(std::string_view text);

/// cAdvisor's working set: memory in use minus the inactive file cache (what the kernel would
/// reclaim first), never below 0. `stat`: memory.stat; cgroup v2 names the cache inactive_file,
/// v1 total_inactive_file (the hierarchy's).
std::int64_t working_set_bytes(std::int64_t usage, const std::map<std::string, std::int64_t> &stat);

/// A label value as the text format writes it: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view value);

} // namespace ltb::service
