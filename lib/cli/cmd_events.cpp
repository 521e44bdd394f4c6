// ltb events [LAB] [--format plain|json] [--initial-state]
#include "cli/context.hpp"
#include "event/event.hpp"
#include "service/events.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fmt/format.h>

namespace ltb::cli {

namespace {

struct EventsOptions {
  std::string lab;
  std::string format = "plain";
  bool initial_state = false;
};

int run_events(const Globals &globals, const EventsOptions &options) {
  // A reader that goes away (| head) shows as EPIPE on the next write instead of SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  PrintSink sink(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), sink};
  const bool json = options.format == "json";
  auto emit = [json](const event::Event &e) {
    const auto line = (json ? event::format_json(e) : event::format_plain(e)) + "\n";
    // Every line as it happens, also into a pipe or a file; a closed reader ends the stream.
    return std::fputs(line.c_str(), stdout) >= 0 && std::fflush(stdout) == 0;
  };
  auto ready = [&] {
    print_notice(globals, fmt::format("following events of {}; Ctrl-C ends",
                                      options.lab.empty() ? "every lab" : "lab " + options.lab));
  };
  auto followed =
      service::follow_events(session, {options.lab, options.initial_state, 25}, emit, ready);
  if (!followed) {
    return report(globals, followed.error());
  }
  return 0;
}

} // namespace

void add_events(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<EventsOptions>();
  auto *sub = app.add_subcommand("events", "Follow what happens to labs, one line per event");
  sub->add_option("lab", options->lab, "Only this lab's events (default: every lab)")
      ->type_name("LAB");
  sub->add_option("--format", options->format, "Output format (json: one object per line)")
      ->check(CLI::IsMember({"plain", "json"}))
      ->type_name("plain|json");
  sub->add_flag("--initial-state", options->initial_state,
                "First one line per existing node and link with its state now");
  sub->footer(
      "Each line: time (UTC), lab, type, action, object, attributes. Events: node created, "
      "started, stopped, died, recreated, removed; link up, down; impairment changed; capture "
      "started, stopped; reservation started, ended; drift seen. They come from Docker's event "
      "stream, libvirt's domain events and what every ltb process records in the state file. "
      "Runs until Ctrl-C.\n"
      "Examples:\n  ltb events lab1\n  ltb events --format json | jq 'select(.action == "
      "\"died\")'");
  registry.push_back({sub, [&globals, options] { return run_events(globals, *options); }});
}

} // namespace ltb::cli
