// ltb up FILE [--lab NAME] [--dry-run]
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "apply/observe.hpp"
#include "cli/context.hpp"
#include "topology/loader.hpp"

namespace ltb::cli {

namespace {

struct UpOptions {
  std::string file;
  std::string lab;
  bool dry_run = false;
  int workers = 8;
};

/// Loads a topology file, printing its diagnostics (warnings too). nullopt = invalid (exit 2).
std::optional<topology::Topology> load(const Globals &globals, const std::string &file,
                                       const std::string &lab) {
  topology::Diagnostics warnings;
  auto loaded = topology::load_file(file, {lab, &warnings});
  if (!loaded) {
    print_diagnostics(globals, loaded.error());
    return std::nullopt;
  }
  if (!warnings.items.empty() && !globals.quiet) {
    print_diagnostics(globals, warnings);
  }
  return *loaded;
}

int run_up(const Globals &globals, const UpOptions &options) {
  auto start = std::chrono::steady_clock::now();
  auto desired = load(globals, options.file, options.lab);
  if (!desired) {
    return static_cast<int>(ExitCode::usage);
  }
  auto connection = connect(globals);
  if (!connection) {
    return report(globals, connection.error());
  }
  auto backends = connection->backends();
  auto lock = state::LabLock::acquire(globals.state_path, desired->name, globals.wait_seconds);
  if (!lock) {
    return report(globals, lock.error());
  }
  auto recorded = apply::read_recorded(*connection->store, desired->name);
  if (!recorded) {
    return report(globals, recorded.error());
  }
  bool has_bridges = false;
  for (const auto &node : desired->nodes) {
    has_bridges = has_bridges || node.runtime == topology::Runtime::ovs_bridge;
  }
  for (const auto &node : recorded->nodes) {
    has_bridges = has_bridges || node.kind == "ovs-bridge";
  }
  bool has_vms = false;
  for (const auto &node : desired->nodes) {
    has_vms = has_vms || node.runtime == topology::Runtime::vm;
  }
  for (const auto &node : recorded->nodes) {
    has_vms = has_vms || node.kind == "vm";
  }
  if (has_vms) {
    if (auto connected = connection->connect_vms(true); !connected) {
      return report(globals, connected.error());
    }
    backends = connection->backends();
  }
  auto observed = apply::observe(desired->name, backends, {has_bridges, false});
  if (!observed) {
    return report(globals, observed.error());
  }
  std::vector<std::string> subnets;
  bool needs_subnet = desired->mgmt.ipv4_subnet.empty() &&
                      !(recorded->lab && !recorded->lab->mgmt_subnet.empty());
  if (needs_subnet) {
    auto used = apply::used_subnets(backends, desired->name);
    if (!used) {
      return report(globals, used.error());
    }
    subnets = *used;
  }
  auto plan = plan::plan_up(*desired, *recorded, *observed, subnets);
  if (!plan) {
    return report(globals, plan.error());
  }
  if (options.dry_run) {
    if (plan->empty()) {
      fmt::print("lab {} is up to date: nothing to do\n", desired->name);
    } else {
      fmt::print("lab {}: {} action{} (dry run, nothing changed)\n", desired->name,
                 plan->actions.size(), plan->actions.size() == 1 ? "" : "s");
      for (const auto &action : plan->actions) {
        fmt::print("  {}\n", plan::describe(action, *plan));
      }
    }
    return 0;
  }
  if (plan->empty()) {
    if (!globals.quiet) {
      fmt::print("lab {} is up to date: nothing to do\n", desired->name);
    }
    return 0;
  }
  std::vector<std::string> nodes;
  for (const auto &node : desired->nodes) {
    nodes.push_back(node.name);
  }
  auto progress = apply::make_progress(nodes, {globals.stderr_tty, globals.quiet, globals.color});
  apply::ApplyOptions apply_options;
  apply_options.workers = options.workers;
  apply_options.interrupted = install_interrupt_handler();
  apply_options.owner = current_user();
  apply_options.lab_dir = lab_dir(globals, desired->name);
  auto result = apply::apply_up(*plan, *desired, backends, *progress, apply_options);
  progress->finish();
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto &action : result.actions) {
    if (action.result.outcome == apply::Outcome::failed) {
      report(globals, Error{action.result.error, {}, ExitCode::failed});
    }
  }
  if (result.interrupted) {
    fmt::print(stderr,
               "ltb: interrupted: {} of {} actions done; what was made is recorded. Run `ltb up` "
               "to resume or `ltb down` to remove it.\n",
               result.done, result.actions.size());
    return static_cast<int>(ExitCode::interrupted);
  }
  if (!result.ok()) {
    fmt::print(stderr,
               "help: {} action{} failed and {} {} skipped; fix the cause and run `ltb up` again "
               "(only what is missing is redone), or `ltb down` to remove the lab\n",
               result.failed, result.failed == 1 ? "" : "s", result.skipped,
               result.skipped == 1 ? "was" : "were");
    return static_cast<int>(ExitCode::failed);
  }
  if (!globals.quiet) {
    fmt::print("lab {} is up: {} node{}, {} link{}, management {} ({} action{} in {:.1f}s)\n",
               desired->name, desired->nodes.size(), desired->nodes.size() == 1 ? "" : "s",
               desired->links.size(), desired->links.size() == 1 ? "" : "s", plan->subnet,
               result.done, result.done == 1 ? "" : "s", seconds);
  }
  return 0;
}

} // namespace

void add_up(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<UpOptions>();
  auto *sub = app.add_subcommand("up", "Deploy a lab, or bring it in line with its file");
  sub->add_option("file", options->file, "Topology file")->required()->type_name("FILE");
  sub->add_option("--lab", options->lab, "Lab name (overrides the file's `name`)")
      ->type_name("NAME");
  sub->add_flag("-n,--dry-run", options->dry_run, "Print the actions without performing them");
  sub->add_option("-j,--jobs", options->workers, "Actions performed in parallel (default 8)")
      ->type_name("N")
      ->check(CLI::Range(1, 64));
  sub->footer("Examples:\n  ltb up examples/frr-ospf.yaml\n  ltb up lab.yaml --dry-run\n"
              "A second `ltb up` of an unchanged file changes nothing; after an edit only the "
              "difference is applied.");
  registry.push_back({sub, [&globals, options] { return run_up(globals, *options); }});
}

} // namespace ltb::cli
