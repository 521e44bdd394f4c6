// ltb console NODE [--lab LAB]: the terminal on a VM's serial console.
#include "cli/context.hpp"
#include "cli/terminal.hpp"
#include "service/nodes.hpp"

#include <csignal>
#include <fmt/format.h>
#include <termios.h>
#include <unistd.h>

namespace ltb::cli {

namespace {

struct ConsoleOptions {
  std::string node;
  std::string lab;
};

int run_console(const Globals &globals, const ConsoleOptions &options) {
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto console = service::Console::open(session, **store, options.node, options.lab);
  if (!console) {
    return report(globals, console.error());
  }
  if (!globals.quiet) {
    fmt::print(stderr, "Connected to the console of {} (lab {}). Escape: Ctrl-]\r\n", options.node,
               console->lab());
  }
  Status attached;
  {
    RawTerminal raw(STDIN_FILENO);
    attached = console->attach(STDIN_FILENO, STDOUT_FILENO, '\x1d');
  }
  if (!attached) {
    return report(globals, attached.error());
  }
  if (!globals.quiet) {
    fmt::print(stderr, "\nDisconnected from {}.\n", options.node);
  }
  return 0;
}

} // namespace

void add_console(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<ConsoleOptions>();
  auto *sub = app.add_subcommand("console", "Attach the terminal to a VM's serial console");
  sub->add_option("node", options->node, "VM node")->required()->type_name("NODE");
  sub->add_option("--lab", options->lab, "Lab of the node (needed when several labs have it)")
      ->type_name("LAB");
  sub->footer("Example:\n  ltb console vm1 --lab mixed-vm\n"
              "Ctrl-] detaches; the terminal is restored on every exit.");
  registry.push_back({sub, [&globals, options] { return run_console(globals, *options); }});
}

} // namespace ltb::cli
