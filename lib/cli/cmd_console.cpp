// ltb console NODE [--lab LAB]: the terminal on a VM's serial console.
#include "cli/context.hpp"
#include "cli/terminal.hpp"
#include "plan/names.hpp"
#include "service/nodes.hpp"
#include "topology/kinds.hpp"

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
  std::string lab = options.lab;
  if (lab.empty()) {
    auto found = service::lab_of_node(**store, caller(), options.node);
    if (!found) {
      return report(globals, found.error());
    }
    lab = *found;
  }
  auto nodes = (*store)->nodes(lab);
  if (!nodes) {
    return report(globals, nodes.error());
  }
  const state::NodeRecord *record = nullptr;
  for (const auto &node : *nodes) {
    if (node.name == options.node) {
      record = &node;
    }
  }
  if (!record) {
    return report(globals, Error{fmt::format("lab '{}' has no node '{}'", lab, options.node),
                                 "see `ltb status " + lab + "`", ExitCode::failed});
  }
  if (topology::runtime_of_kind(record->kind) != topology::Runtime::vm) {
    return report(globals,
                  Error{fmt::format("node '{}' is a {} node; only VMs have a serial console",
                                    options.node, record->kind),
                        fmt::format("for a shell in a container: docker exec -it {} sh",
                                    plan::container_name(lab, options.node)),
                        ExitCode::failed});
  }
  auto vms = runtime::connect_libvirt();
  if (!vms) {
    return report(globals, vms.error());
  }
  if (!globals.quiet) {
    fmt::print(stderr, "Connected to the console of {} (lab {}). Escape: Ctrl-]\r\n", options.node,
               lab);
  }
  Status attached;
  {
    RawTerminal raw(STDIN_FILENO);
    attached = (*vms)->console(plan::container_name(lab, options.node), STDIN_FILENO, STDOUT_FILENO,
                               '\x1d');
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
