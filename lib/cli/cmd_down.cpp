// ltb down [FILE | --lab NAME | --all]
#include <set>

#include <fmt/format.h>

#include "apply/observe.hpp"
#include "cli/context.hpp"
#include "plan/names.hpp"
#include "topology/loader.hpp"

namespace ltb::cli {

namespace {

struct DownOptions {
  std::string file;
  std::string lab;
  bool all = false;
};

int down_one(const Globals &globals, Connection &connection, const std::string &lab) {
  auto backends = connection.backends();
  auto lock = state::LabLock::acquire(globals.state_path, lab, globals.wait_seconds);
  if (!lock) {
    return report(globals, lock.error());
  }
  auto recorded = apply::read_recorded(*connection.store, lab);
  if (!recorded) {
    return report(globals, recorded.error());
  }
  bool bridges = false;
  for (const auto &node : recorded->nodes) {
    bridges = bridges || node.kind == "ovs-bridge";
  }
  for (const auto &object : recorded->objects) {
    bridges = bridges || object.type == "bridge";
  }
  // Without state (lost or never written) bridges are still found by their external_ids when
  // Open vSwitch answers.
  if (!bridges && connection.ovs && connection.ovs->version()) {
    bridges = true;
  }
  bool vms = false;
  for (const auto &node : recorded->nodes) {
    vms = vms || node.kind == "vm";
  }
  for (const auto &object : recorded->objects) {
    vms = vms || object.type == "domain";
  }
  // As with bridges: without a record, domains are still found by their metadata when libvirt
  // answers; with one, libvirt must answer.
  if (auto connected = connection.connect_vms(vms); !connected) {
    return report(globals, connected.error());
  }
  backends = connection.backends();
  auto observed = apply::observe(lab, backends, {bridges, true});
  if (!observed) {
    return report(globals, observed.error());
  }
  auto plan = plan::plan_down(lab, *recorded, *observed);
  if (plan.empty() && !recorded->lab) {
    if (!globals.quiet) {
      fmt::print("lab {}: nothing to remove\n", lab);
    }
    return 0;
  }
  std::set<std::string> nodes;
  for (const auto &action : plan.actions) {
    if (!action.node.empty()) {
      nodes.insert(action.node);
    }
  }
  auto progress = apply::make_progress({nodes.begin(), nodes.end()},
                                       {globals.stderr_tty, globals.quiet, globals.color});
  apply::ApplyOptions options;
  options.interrupted = install_interrupt_handler();
  options.owner = current_user();
  options.lab_dir = lab_dir(globals, lab);
  auto result = apply::apply_down(plan, backends, *progress, options);
  progress->finish();
  for (const auto &action : result.actions) {
    if (action.result.outcome == apply::Outcome::failed) {
      report(globals, Error{action.result.error, {}, ExitCode::failed});
    }
  }
  if (result.interrupted) {
    fmt::print(stderr, "ltb: interrupted; run `ltb down` again to finish removing lab {}\n", lab);
    return static_cast<int>(ExitCode::interrupted);
  }
  if (!result.ok()) {
    fmt::print(stderr, "help: lab {} is only partly removed and stays recorded; fix the cause and "
                       "run `ltb down` again\n",
               lab);
    return static_cast<int>(ExitCode::failed);
  }
  if (!globals.quiet) {
    fmt::print("lab {} is down: removed {} object{}\n", lab, result.done,
               result.done == 1 ? "" : "s");
  }
  return 0;
}

int run_down(const Globals &globals, const DownOptions &options) {
  int given = (!options.file.empty()) + (!options.lab.empty()) + (options.all ? 1 : 0);
  if (given != 1 && !(given == 2 && !options.file.empty() && !options.lab.empty())) {
    return report(globals, Error{"say which lab to remove",
                                 "pass a topology FILE, --lab NAME, or --all", ExitCode::usage});
  }
  std::string lab = options.lab;
  if (lab.empty() && !options.file.empty()) {
    auto loaded = topology::load_file(options.file);
    if (!loaded) {
      print_diagnostics(globals, loaded.error());
      return report(globals, Error{"cannot tell the lab's name from " + options.file,
                                   "fix the file, or pass --lab NAME (see `ltb status`)",
                                   ExitCode::usage});
    }
    lab = loaded->name;
  }
  auto connection = connect(globals);
  if (!connection) {
    return report(globals, connection.error());
  }
  if (!options.all) {
    return down_one(globals, *connection, lab);
  }
  std::set<std::string> labs;
  auto recorded = connection->store->labs();
  if (!recorded) {
    return report(globals, recorded.error());
  }
  for (const auto &record : *recorded) {
    labs.insert(record.name);
  }
  int code = 0;
  for (const auto &name : labs) {
    code = std::max(code, down_one(globals, *connection, name));
  }
  if (labs.empty() && !globals.quiet) {
    fmt::print("no labs to remove\n");
  }
  return code;
}

} // namespace

void add_down(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<DownOptions>();
  auto *sub = app.add_subcommand("down", "Remove a lab and everything ltb made for it");
  sub->add_option("file", options->file, "Topology file of the lab")->type_name("FILE");
  sub->add_option("--lab", options->lab, "Lab name (works without the file)")->type_name("NAME");
  sub->add_flag("--all", options->all, "Remove every lab recorded in the state file");
  sub->footer("Examples:\n  ltb down examples/frr-ospf.yaml\n  ltb down --lab frr-ospf\n"
              "Finds what to remove from the state file and from runtime labels, so it works after "
              "a crash or with the topology file gone. --all takes only the labs this state file "
              "records (other state files' labs stay); a lab left without any record is removed "
              "with --lab NAME.");
  registry.push_back({sub, [&globals, options] { return run_down(globals, *options); }});
}

} // namespace ltb::cli
