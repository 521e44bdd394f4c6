// ltb capture TARGET [--lab LAB] [-f BPF] [-c COUNT] [-w FILE] [--port NODE]
#include "capture/live.hpp"
#include "capture/mirror.hpp"
#include "capture/records.hpp"
#include "capture/target.hpp"
#include "cli/context.hpp"
#include "net/netlink.hpp"
#include "plan/names.hpp"
#include "runtime/docker/docker.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <fmt/format.h>
#include <optional>
#include <unistd.h>

namespace ltb::cli {

namespace {

struct CaptureOptions {
  std::string target;
  std::string lab;
  std::string filter;
  std::uint64_t count = 0;
  std::string write;
  std::string port;
};

std::atomic<bool> g_stop{false};

void on_stop_signal(int) {
  g_stop.store(true);
}

/// Ctrl-C, SIGTERM and SIGHUP end the capture through its cleanup; a reader that goes away shows
/// as EPIPE on the next write instead of killing ltb with SIGPIPE.
void install_capture_signals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) {
    sigaction(signal, &action, nullptr);
  }
  std::signal(SIGPIPE, SIG_IGN);
}

Result<capture::LabRecords> lab_records(state::Store &store, const std::string &lab) {
  capture::LabRecords records;
  records.lab = lab;
  LTB_TRY(nodes, store.nodes(lab));
  records.nodes = std::move(nodes);
  LTB_TRY(links, store.links(lab));
  records.links = std::move(links);
  return records;
}

/// The lab named with --lab, or the one of the caller's running labs that has the target.
Result<capture::LabRecords> choose_lab(state::Store &store, const CaptureOptions &options) {
  if (!options.lab.empty()) {
    LTB_TRY(record, store.lab(options.lab));
    if (!record) {
      return fail(unknown_lab(store, options.lab));
    }
    return lab_records(store, options.lab);
  }
  LTB_TRY(labs, store.labs());
  const auto user = current_user();
  std::vector<capture::LabRecords> mine;
  std::vector<capture::LabRecords> others; // other users' labs, and labs not running
  for (const auto &lab : labs) {
    LTB_TRY(records, lab_records(store, lab.name));
    const bool own = lab.status == "running" && (lab.owner == user || lab.owner.empty());
    (own ? mine : others).push_back(std::move(records));
  }
  auto index = capture::find_lab(mine, options.target);
  if (index) {
    return std::move(mine[*index]);
  }
  if (index.error().code != ExitCode::usage) {
    // Not in the caller's running labs; if another lab has it, say so rather than guess.
    if (auto elsewhere = capture::find_lab(others, options.target)) {
      const auto &name = others[*elsewhere].lab;
      const auto record = std::find_if(
          labs.begin(), labs.end(), [&](const state::LabRecord &lab) { return lab.name == name; });
      index.error().help = fmt::format("lab {} ({}, owned by {}) has it: pass --lab {}", name,
                                       record->status, record->owner, name);
    }
  }
  return fail(std::move(index).error());
}

/// Help for an interface that is not there: the interfaces ltb made on that node.
std::string interfaces_help(const capture::LabRecords &lab, const std::string &node) {
  std::vector<std::string> ends;
  for (const auto &link : lab.links) {
    if (link.a_node == node) {
      ends.push_back(node + ":" + link.a_iface);
    }
    if (link.b_node == node) {
      ends.push_back(node + ":" + link.b_iface);
    }
  }
  std::sort(ends.begin(), ends.end());
  std::string list;
  for (const auto &end : ends) {
    list += (list.empty() ? "" : ", ") + end;
  }
  return fmt::format("the interfaces of {}: {}{}{}:eth0 (management)", node, list,
                     list.empty() ? "" : ", ", node);
}

struct Source {
  std::optional<net::Netns> netns;
  int pid = 0;       // the container's init, while it runs the namespace is the node's
  std::string where; // for messages
};

Result<Source> find_source(const capture::Target &target) {
  Source source;
  if (target.node.empty()) {
    source.where = fmt::format("host interface {}", target.iface);
    return source;
  }
  source.where = fmt::format("{}:{}", target.node, target.iface);
  LTB_TRY(docker, runtime::connect_docker());
  const auto name = plan::container_name(target.lab, target.node);
  LTB_TRY(info, docker->inspect_container(name));
  if (info.state != "running" || info.pid <= 0) {
    return fail(fmt::format("node {} of lab {} is not running (container {} is {})", target.node,
                            target.lab, name, info.state),
                fmt::format("start it again with `ltb up`; see `ltb status {}`", target.lab));
  }
  LTB_TRY(netns, net::Netns::of_pid(info.pid));
  source.netns = std::move(netns);
  source.pid = info.pid;
  return source;
}

int run_capture(const Globals &globals, const CaptureOptions &options) {
  const bool to_stdout = options.write.empty() || options.write == "-";
  if (to_stdout && globals.stdout_tty) {
    return report(globals,
                  Error{"refusing to write a binary pcap stream to the terminal",
                        fmt::format("pipe it into a reader (ltb capture {0} | wireshark -k -i -, "
                                    "or | tcpdump -n -r -), or write a file with -w FILE",
                                    options.target),
                        ExitCode::usage});
  }
  install_capture_signals();
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  auto lab = choose_lab(**store, options);
  if (!lab) {
    return report(globals, lab.error());
  }
  auto target = capture::resolve(*lab, options.target, options.port);
  if (!target) {
    return report(globals, target.error());
  }
  // Mirrors left by captures that were killed go first (they would copy traffic for nobody).
  if (auto cleaned = capture::clean_stale(**store, lab->lab); !cleaned) {
    print_notice(globals, "notice: " + cleaned.error().message);
  }

  auto source = find_source(*target);
  if (!source) {
    return report(globals, source.error());
  }
  const int pid = static_cast<int>(::getpid());
  capture::CaptureInfo info;
  info.lab = lab->lab;
  info.target = target->label;
  info.user = current_user();
  std::string iface = target->iface;
  if (target->kind == capture::TargetKind::segment) {
    info.segment = target->bridge_node;
    info.bridge = target->bridge;
    info.mirror = capture::mirror_port_name(lab->lab, target->bridge_node, pid);
    iface = info.mirror;
    source->where = fmt::format("mirror port {} of {}", info.mirror, target->label);
  }
  info.interface = target->node.empty() ? iface : target->node + ":" + iface;
  auto registration = capture::Registration::record(**store, info, capture::process_token(pid));
  if (!registration) {
    return report(globals, registration.error());
  }
  const auto vsctl = capture::real_vsctl();
  // Undoes what this run made; every path out after the record goes through it.
  auto finish = [&](int code) {
    if (!info.mirror.empty()) {
      if (auto removed = capture::remove_mirror(info.bridge, info.mirror, vsctl); !removed) {
        report(globals, removed.error());
        // The records stay: the next capture, `ltb up` or `ltb down` tries again.
        return std::max(code, static_cast<int>(ExitCode::failed));
      }
    }
    if (auto forgotten = registration->forget(); !forgotten) {
      report(globals, forgotten.error());
      return std::max(code, static_cast<int>(ExitCode::failed));
    }
    return code;
  };

  if (!info.mirror.empty()) {
    capture::MirrorSpec spec{
        info.bridge,
        info.mirror,
        target->ports,
        {{plan::k_ovs_lab, lab->lab}, {plan::k_ovs_owner, fmt::format("capture:{}", pid)}}};
    if (auto made = capture::create_mirror(spec, vsctl); !made) {
      return finish(report(globals, made.error()));
    }
    if (auto up = capture::prepare_port_interface(info.mirror); !up) {
      return finish(report(globals, up.error()));
    }
  }
  capture::LiveOptions live_options;
  live_options.iface = iface;
  live_options.netns_fd = source->netns ? source->netns->fd() : -1;
  live_options.where = source->where;
  live_options.filter = options.filter;
  bool no_device = false;
  auto live = capture::LiveCapture::open(live_options, &no_device);
  if (!live) {
    auto error = live.error();
    if (no_device && !target->node.empty()) {
      error.help = interfaces_help(*lab, target->node);
    }
    return finish(report(globals, error));
  }
  if (auto created = registration->created(); !created) {
    return finish(report(globals, created.error()));
  }
  print_notice(globals,
               fmt::format("capturing on {} in lab {}{}; Ctrl-C stops", target->label, lab->lab,
                           options.filter.empty() ? "" : ", filter '" + options.filter + "'"));

  capture::WriteOptions write_options;
  write_options.path = options.write;
  write_options.count = options.count;
  write_options.stop = &g_stop;
  if (source->pid > 0) {
    // The packet socket keeps the namespace alive after the container is gone, and a dead
    // namespace carries nothing: watch the container instead.
    write_options.source_alive = [token = capture::process_token(source->pid)] {
      return capture::process_alive(token);
    };
  }
  std::optional<capture::LiveCapture> handle(std::move(*live));
  auto written = capture::write_packets(*handle, write_options);
  handle.reset(); // closed before its mirror port goes
  if (!written) {
    return finish(report(globals, written.error()));
  }
  std::string dropped = fmt::format("{} dropped by the kernel", written->dropped);
  if (written->if_dropped > 0) {
    dropped += fmt::format(", {} by the interface", written->if_dropped);
  }
  print_notice(globals, fmt::format("{} packet{} captured ({})", written->written,
                                    written->written == 1 ? "" : "s", dropped));
  switch (written->end) {
  case capture::End::source_gone: {
    std::string what = "the interface";
    if (target->kind == capture::TargetKind::segment) {
      what = "segment " + target->bridge_node;
    } else if (!target->node.empty()) {
      what = "node " + target->node;
    }
    return finish(report(
        globals, Error{written->reason,
                       fmt::format("{} was removed or recreated (ltb down, ltb up); see `ltb "
                                   "status {}`",
                                   what, lab->lab),
                       ExitCode::failed}));
  }
  case capture::End::write_failed:
    return finish(report(globals, Error{written->reason, "", ExitCode::failed}));
  case capture::End::reader_closed:
  case capture::End::count:
  case capture::End::stopped:
    break;
  }
  return finish(0);
}

} // namespace

void add_capture(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<CaptureOptions>();
  auto *sub = app.add_subcommand(
      "capture", "Capture packets on a link, an interface or a segment, as a pcap stream");
  sub->add_option("target", options->target,
                  "A link (r1-r2), NODE:IFACE (r1:eth1), or a segment (an ovs-bridge node)")
      ->required()
      ->type_name("TARGET");
  sub->add_option("--lab", options->lab,
                  "Lab of the target (needed when several of your running labs have it)")
      ->type_name("LAB");
  sub->add_option("-f,--filter", options->filter, "Capture only what this filter passes")
      ->type_name("BPF");
  sub->add_option("-c,--count", options->count, "Stop after COUNT packets")
      ->type_name("COUNT")
      ->check(CLI::PositiveNumber);
  sub->add_option("-w,--write", options->write,
                  "Write the pcap to FILE instead of standard output ('-': standard output)")
      ->type_name("FILE");
  sub->add_option("--port", options->port,
                  "Segment only: mirror just this node's port (both directions)")
      ->type_name("NODE");
  sub->footer(
      "Examples:\n  ltb capture r1-r2 | wireshark -k -i -\n"
      "  ltb capture r1:eth1 -f 'proto ospf' -c 10 -w hello.pcap\n"
      "  ltb capture sw1 --port h1 | tcpdump -n -r -\n"
      "A segment is captured through an Open vSwitch mirror made for the capture and removed when "
      "it ends (Ctrl-C, COUNT reached, the reader closing the pipe). Messages go to standard "
      "error; standard output carries only pcap, and never to a terminal.");
  registry.push_back({sub, [&globals, options] { return run_capture(globals, *options); }});
}

} // namespace ltb::cli
