// ltb top [LAB] [--format table|json] [--interval SECONDS] [--once]
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "service/metrics.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fmt/format.h>
#include <map>
#include <thread>

namespace ltb::cli {

namespace {

struct TopOptions {
  std::string lab;
  std::string format = "table";
  double interval = 2;
  bool once = false;
};

/// "512B", "1.5KiB", "230.4MiB", "2.1GiB": as short as `docker stats` writes them.
std::string bytes_text(double bytes) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t unit = 0;
  while (bytes >= 1024 && unit + 1 < std::size(units)) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f}{}", bytes, units[unit])
                   : fmt::format("{:.1f}{}", bytes, units[unit]);
}

double busy_seconds(const service::CpuSeconds &cpu) {
  return cpu.user + cpu.nice + cpu.system + cpu.irq + cpu.softirq + cpu.steal;
}

/// The host's line above the table: its CPU use between the snapshots and its memory in use.
std::string host_line(const service::MetricsSnapshot &before, const service::MetricsSnapshot &now) {
  const auto &a = before.host.cpu;
  const auto &b = now.host.cpu;
  const double busy = busy_seconds(b) - busy_seconds(a);
  const double all = busy + (b.idle + b.iowait) - (a.idle + a.iowait);
  const auto used = now.host.memory_total_bytes - now.host.memory_available_bytes;
  return fmt::format("host: {} CPUs, {:.1f}% busy; memory {} of {} in use\n", now.host.cpus,
                     all > 0 ? 100 * busy / all : 0.0, bytes_text(static_cast<double>(used)),
                     bytes_text(static_cast<double>(now.host.memory_total_bytes)));
}

std::pair<std::int64_t, std::int64_t> network_bytes(const service::NodeMetrics &node) {
  std::pair<std::int64_t, std::int64_t> out{0, 0};
  for (const auto &iface : node.interfaces) {
    out.first += iface.receive_bytes_total;
    out.second += iface.transmit_bytes_total;
  }
  return out;
}

/// The table of `now`, with rates over the time since `before` (CPU %: 100 is one CPU, as in
/// `docker stats`).
std::string top_table(const service::MetricsSnapshot &before, const service::MetricsSnapshot &now) {
  std::map<std::pair<std::string, std::string>, const service::NodeMetrics *> earlier;
  for (const auto &node : before.nodes) {
    earlier[{node.lab, node.node}] = &node;
  }
  const double seconds = now.time - before.time;
  std::vector<std::vector<std::string>> rows;
  for (const auto &node : now.nodes) {
    auto it = earlier.find({node.lab, node.node});
    const auto *old = it == earlier.end() ? nullptr : it->second;
    std::string cpu = "-";
    std::string net = "-";
    if (node.measured && old && old->measured && seconds > 0) {
      cpu = fmt::format(
          "{:.1f}%",
          std::max(0.0, 100 * (node.cpu_seconds_total - old->cpu_seconds_total) / seconds));
      const auto [rx, tx] = network_bytes(node);
      const auto [old_rx, old_tx] = network_bytes(*old);
      net =
          fmt::format("{}/s / {}/s",
                      bytes_text(std::max<double>(0, static_cast<double>(rx - old_rx)) / seconds),
                      bytes_text(std::max<double>(0, static_cast<double>(tx - old_tx)) / seconds));
    }
    const bool workload = node.runtime != "bridge";
    rows.push_back(
        {node.node, node.lab, node.kind, node.state, cpu,
         node.measured ? bytes_text(static_cast<double>(node.memory_working_set_bytes)) : "-", net,
         workload && node.state != "missing" ? bytes_text(static_cast<double>(node.disk_bytes))
                                             : "-"});
  }
  std::string out = host_line(before, now);
  if (rows.empty()) {
    return out + "no nodes\n";
  }
  return out +
         format_table({"NODE", "LAB", "KIND", "STATE", "CPU %", "MEM", "NET RX/TX", "DISK"}, rows);
}

/// Waits `seconds`; false when interrupted meanwhile.
bool pause(double seconds, const std::atomic<bool> &cancelled) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (cancelled.load()) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return !cancelled.load();
}

int run_top(const Globals &globals, const TopOptions &options) {
  // A reader that goes away (| head) shows as a failed write instead of SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  CliSession cli(globals);
  const std::optional<std::string> lab =
      options.lab.empty() ? std::nullopt : std::make_optional(options.lab);
  const auto &cancelled = *cli.session.cancel.watch();
  const bool json = json_format(options.format);
  auto emit = [](const std::string &text) {
    return std::fputs(text.c_str(), stdout) >= 0 && std::fflush(stdout) == 0;
  };
  auto before = service::collect_metrics(cli.session, lab);
  if (!before) {
    return report(globals, before.error());
  }
  if (json && !emit(service::metrics_json(*before).dump() + "\n")) {
    return 0;
  }
  if (json && options.once) {
    return 0;
  }
  bool first = true;
  while (pause(options.interval, cancelled)) {
    auto now = service::collect_metrics(cli.session, lab);
    if (!now) {
      return report(globals, now.error());
    }
    std::string text;
    if (json) {
      text = service::metrics_json(*now).dump() + "\n";
    } else {
      // On a terminal the table is redrawn in place; into a pipe or file, one after another.
      const char *lead = globals.stdout_tty ? "\x1b[H\x1b[2J" : (first ? "" : "\n");
      text = lead + top_table(*before, *now);
    }
    if (!emit(text) || options.once) {
      return 0;
    }
    first = false;
    before = std::move(now);
  }
  return 0;
}

} // namespace

void add_top(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<TopOptions>();
  auto *sub = app.add_subcommand(
      "top", "Show the nodes' CPU, memory, network and disk use live, like `docker stats`");
  sub->add_option("lab", options->lab, "Only this lab's nodes (default: every lab you may see)")
      ->type_name("LAB");
  add_format_option(sub, options->format);
  sub->add_option("--interval", options->interval, "Seconds between two samples (default 2)")
      ->check(CLI::Range(0.1, 3600.0))
      ->type_name("SECONDS");
  sub->add_flag("--once", options->once,
                "One table after one interval (json: one line at once), then exit");
  sub->footer(
      "The table shows each node's CPU use between two samples (100% is one CPU), its memory "
      "working set (in use minus inactive file cache), its network rates over all its "
      "interfaces and its disk use (a container's writable layer, a VM's disk layer); the line "
      "above it the host's. On a terminal it is redrawn in place until Ctrl-C. json: one "
      "object per sample, the figures as counters (the same as the daemon's GET /v1/top).\n"
      "Examples:\n  ltb top\n  ltb top lab1 --once\n  ltb top --format json --interval 5");
  registry.push_back({sub, [&globals, options] { return run_top(globals, *options); }});
}

} // namespace ltb::cli
