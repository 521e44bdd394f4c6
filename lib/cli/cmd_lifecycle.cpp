// ltb stop [LAB] [--node N ...], ltb start [LAB] [--node N ...], ltb restart [LAB] [--node N ...]
#include "cli/context.hpp"
#include "service/lifecycle.hpp"

#include <fmt/format.h>

namespace ltb::cli {

namespace {

struct LifecycleOptions {
  std::string lab;
  std::vector<std::string> nodes;
  int timeout = -1;
};

std::string join(const std::vector<std::string> &words) {
  std::string out;
  for (const auto &word : words) {
    out += (out.empty() ? "" : ", ") + word;
  }
  return out;
}

int run_lifecycle(const Globals &globals, service::LifecycleAction action,
                  const LifecycleOptions &options) {
  auto connection = connect(globals);
  if (!connection) {
    return report(globals, connection.error());
  }
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  service::LifecycleRequest request;
  request.lab = options.lab;
  request.nodes = options.nodes;
  request.timeout_seconds = options.timeout;
  auto outcome = service::change_lab(session, *connection, action, request);
  if (!outcome) {
    return report(globals, outcome.error());
  }
  for (const auto &error : outcome->errors) {
    report(globals, error);
  }
  if (outcome->interrupted) {
    fmt::print(stderr, "ltb: interrupted; run the command again to finish\n");
    return static_cast<int>(ExitCode::interrupted);
  }
  if (!outcome->ok()) {
    return static_cast<int>(ExitCode::failed);
  }
  if (globals.quiet) {
    return 0;
  }
  const auto &lab = outcome->lab;
  if (outcome->nothing()) {
    fmt::print("lab {}: nothing to do (already {})\n", lab,
               action == service::LifecycleAction::stop ? "stopped" : "running");
    return 0;
  }
  if (!outcome->stopped.empty() && action == service::LifecycleAction::stop) {
    fmt::print("lab {}: stopped {}\n", lab, join(outcome->stopped));
  } else if (!outcome->started.empty() && action == service::LifecycleAction::start) {
    fmt::print("lab {}: started {}\n", lab, join(outcome->started));
  } else {
    fmt::print("lab {}: restarted {}\n", lab,
               join(outcome->started.empty() ? outcome->stopped : outcome->started));
  }
  return 0;
}

void add_one(CLI::App &app, Globals &globals, Registry &registry, const char *name,
             service::LifecycleAction action, const char *description, const char *footer) {
  auto options = std::make_shared<LifecycleOptions>();
  auto *sub = app.add_subcommand(name, description);
  sub->add_option("lab", options->lab, "Lab name (default: your only lab)")->type_name("LAB");
  sub->add_option("--node", options->nodes, "Only this node (repeat for more)")->type_name("NODE");
  if (action != service::LifecycleAction::start) {
    sub->add_option("--timeout", options->timeout,
                    "Seconds a node gets to stop by itself before it is killed (default: "
                    "Docker's 10 for containers, 30 for VMs)")
        ->type_name("SECONDS")
        ->check(CLI::NonNegativeNumber);
  }
  sub->footer(footer);
  registry.push_back(
      {sub, [&globals, options, action] { return run_lifecycle(globals, action, *options); }});
}

} // namespace

void add_lifecycle(CLI::App &app, Globals &globals, Registry &registry) {
  add_one(app, globals, registry, "stop", service::LifecycleAction::stop,
          "Stop a lab's nodes, keeping them (and their links) for `ltb start`",
          "Examples:\n  ltb stop frr-ospf\n  ltb stop frr-ospf --node r2\n"
          "A stopped container keeps its file system, a stopped VM (shut down through ACPI) its "
          "disk. Links survive: a container's link interfaces wait in its kept network "
          "namespace (ip netns ltb-LAB-NODE) with their addresses and routes recorded. `ltb up` "
          "leaves stopped nodes stopped; `ltb down` removes them.");
  add_one(app, globals, registry, "start", service::LifecycleAction::start,
          "Start a lab's stopped nodes again, with their links as they were",
          "Examples:\n  ltb start frr-ospf\n  ltb start frr-ospf --node r2\n"
          "Each link comes back with its interface name, MAC, the addresses and routes set in "
          "the node and its settings; the peers are not touched. A reserved lab starts only "
          "within its reservation's window; a lab without one only when its CPUs and memory "
          "leave no reservation short.");
  add_one(app, globals, registry, "restart", service::LifecycleAction::restart,
          "Stop, then start, a lab's nodes (only those; nothing else is touched)",
          "Examples:\n  ltb restart frr-ospf --node r1");
}

} // namespace ltb::cli
