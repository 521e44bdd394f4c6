// ltb capture TARGET [--lab LAB] [-f BPF] [-c COUNT] [-w FILE] [--port NODE]
//   [--remote URL [--token-file FILE] [--cacert FILE]]
#include "cli/context.hpp"
#include "cli/remote_capture.hpp"
#include "service/capture.hpp"

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
  std::string remote; // a daemon's base URL: the capture comes from its network listener
  std::string token_file;
  std::string cacert;
};

void on_hangup(int) {
  interrupt_token().cancel();
}

/// Ctrl-C, SIGTERM and SIGHUP end the capture through its cleanup; a reader that goes away shows
/// as EPIPE on the next write instead of killing ltb with SIGPIPE.
void install_capture_signals() {
  (void)interrupt_token().watch(); // SIGINT, SIGTERM
  struct sigaction action {};
  action.sa_handler = on_hangup;
  sigemptyset(&action.sa_mask);
  sigaction(SIGHUP, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
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
  if (!options.remote.empty()) {
    return run_remote_capture(
        globals, {options.remote,
                  options.token_file,
                  options.cacert,
                  options.write,
                  {options.target, options.lab, options.filter, options.count, options.port}});
  }
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto started = service::Capture::start(
      session, **store, {options.target, options.lab, options.filter, options.port});
  if (!started) {
    int code = report(globals, started.error().error);
    if (started.error().cleanup) {
      code = std::max(code, report(globals, *started.error().cleanup));
    }
    return code;
  }
  auto &run = **started;
  // Undoes what the capture made; every path out goes through it.
  auto finish = [&](int code) {
    if (auto undone = run.stop()) {
      report(globals, *undone);
      return std::max(code, static_cast<int>(ExitCode::failed));
    }
    return code;
  };
  auto written = run.write(options.write, options.count);
  if (!written) {
    return finish(report(globals, written.error()));
  }
  std::string dropped = fmt::format("{} dropped by the kernel", written->dropped);
  if (written->if_dropped > 0) {
    dropped += fmt::format(", {} by the interface", written->if_dropped);
  }
  print_notice(globals, fmt::format("{} packet{} captured ({})", written->written,
                                    written->written == 1 ? "" : "s", dropped));
  const auto &target = run.target();
  switch (written->end) {
  case capture::End::source_gone: {
    std::string what = "the interface";
    if (target.kind == capture::TargetKind::segment) {
      what = "segment " + target.bridge_node;
    } else if (!target.node.empty()) {
      what = "node " + target.node;
    }
    return finish(report(
        globals, Error{written->reason,
                       fmt::format("{} was removed or recreated (ltb down, ltb up); see `ltb "
                                   "status {}`",
                                   what, run.lab()),
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
  auto *remote =
      sub->add_option("--remote", options->remote,
                      "Capture through the ltb daemon at URL (ltb serve --listen), e.g. "
                      "https://labhost:8443; the API token from $LTB_TOKEN or --token-file")
          ->type_name("URL");
  sub->add_option("--token-file", options->token_file,
                  "With --remote: the API token is this file's first line (mode 600)")
      ->type_name("PATH")
      ->needs(remote);
  sub->add_option("--cacert", options->cacert,
                  "With --remote: trust this certificate (a daemon's self-signed one) for HTTPS")
      ->type_name("PATH")
      ->needs(remote);
  sub->footer(
      "Examples:\n  ltb capture r1-r2 | wireshark -k -i -\n"
      "  ltb capture r1:eth1 -f 'proto ospf' -c 10 -w hello.pcap\n"
      "  ltb capture sw1 --port h1 | tcpdump -n -r -\n"
      "  LTB_TOKEN=... ltb capture r1-r2 --remote https://labhost:8443 | wireshark -k -i -\n"
      "A segment is captured through an Open vSwitch mirror made for the capture and removed when "
      "it ends (Ctrl-C, COUNT reached, the reader closing the pipe). Messages go to standard "
      "error; standard output carries only pcap, and never to a terminal.");
  registry.push_back({sub, [&globals, options] { return run_capture(globals, *options); }});
}

} // namespace ltb::cli
