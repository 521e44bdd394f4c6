#include "cli/deploy.hpp"

#include "access/lab.hpp"
#include "apply/observe.hpp"
#include "capture/records.hpp"
#include "topology/loader.hpp"

#include <fmt/format.h>
#include <set>
#include <sstream>

namespace ltb::cli {

namespace {

std::string owner_or_current(const std::string &owner) {
  return owner.empty() ? current_user() : owner;
}

std::vector<std::string> failed_errors(const apply::ApplyReport &report) {
  std::vector<std::string> errors;
  for (const auto &action : report.actions) {
    if (action.result.outcome == apply::Outcome::failed) {
      errors.push_back(action.result.error);
    }
  }
  return errors;
}

/// Progress for callers that report outcomes themselves: only notices get through.
class NoticesOnly : public apply::Progress {
public:
  void node(const std::string &, apply::Phase, const std::string &) override {}
  void notice(const std::string &line) override { fmt::print(stderr, "{}\n", line); }
  void finish() override {}
};

std::unique_ptr<apply::Progress>
make_progress(const Globals &globals, const std::vector<std::string> &nodes, bool progress) {
  if (!progress) {
    return std::make_unique<NoticesOnly>();
  }
  return apply::make_progress(nodes, {globals.stderr_tty, globals.quiet, globals.color});
}

// Mirrors left on the lab's bridges by `ltb capture` processes that were killed. Not fatal: `ltb
// down` removes the bridges anyway, and the next run tries again.
void clean_stale_captures(const Globals &globals, state::Store &store, const std::string &lab) {
  if (auto cleaned = capture::clean_stale(store, lab); !cleaned) {
    print_notice(globals, "notice: " + cleaned.error().message);
  }
}

} // namespace

Result<DeployOutcome> deploy_lab(const Globals &globals, Connection &connection,
                                 const topology::Topology &desired, const DeployOptions &options) {
  DeployOutcome outcome;
  outcome.lab = desired.name;
  auto backends = connection.backends();
  LTB_TRY(lock, state::LabLock::acquire(globals.state_path, desired.name, globals.wait_seconds));
  clean_stale_captures(globals, *connection.store, desired.name);
  LTB_TRY(recorded, apply::read_recorded(*connection.store, desired.name));
  bool has_bridges = false;
  for (const auto &node : desired.nodes) {
    has_bridges = has_bridges || node.runtime == topology::Runtime::ovs_bridge;
  }
  for (const auto &node : recorded.nodes) {
    has_bridges = has_bridges || node.kind == "ovs-bridge";
  }
  bool has_vms = false;
  for (const auto &node : desired.nodes) {
    has_vms = has_vms || node.runtime == topology::Runtime::vm;
  }
  for (const auto &node : recorded.nodes) {
    has_vms = has_vms || node.kind == "vm";
  }
  if (has_vms) {
    LTB_CHECK(connection.connect_vms(true));
    backends = connection.backends();
  }
  LTB_TRY(observed, apply::observe(desired.name, backends,
                                   {has_bridges, false, true, lab_dir(globals, desired.name)}));
  std::vector<std::string> subnets;
  bool needs_subnet =
      desired.mgmt.ipv4_subnet.empty() && !(recorded.lab && !recorded.lab->mgmt_subnet.empty());
  if (needs_subnet) {
    LTB_TRY(used, apply::used_subnets(backends, desired.name));
    subnets = std::move(used);
  }
  LTB_TRY(plan, plan::plan_up(desired, recorded, observed, subnets));
  outcome.subnet = plan.subnet;
  outcome.actions = plan.actions.size();
  outcome.up_to_date = plan.empty();
  if (options.dry_run) {
    for (const auto &action : plan.actions) {
      outcome.planned.push_back(plan::describe(action, plan));
    }
    return outcome;
  }
  // The lab's key pair exists before nodes are made: they get its public half.
  LTB_CHECK(access::prepare_lab(lab_dir(globals, desired.name), desired));
  auto finish_access = [&](bool complete) {
    if (auto finished = access::finish_lab(*connection.store, lab_dir(globals, desired.name),
                                           desired, recorded.nodes, complete);
        !finished) {
      print_notice(globals, "notice: the lab's access files: " + finished.error().message);
    }
  };
  if (plan.empty()) {
    finish_access(true);
    return outcome;
  }
  std::vector<std::string> nodes;
  for (const auto &node : desired.nodes) {
    nodes.push_back(node.name);
  }
  auto progress = make_progress(globals, nodes, options.progress);
  apply::ApplyOptions apply_options;
  apply_options.workers = options.workers;
  apply_options.interrupted = install_interrupt_handler();
  apply_options.owner = owner_or_current(options.owner);
  apply_options.lab_dir = lab_dir(globals, desired.name);
  auto result = apply::apply_up(plan, desired, backends, *progress, apply_options);
  progress->finish();
  finish_access(result.ok());
  outcome.done = result.done;
  outcome.failed = result.failed;
  outcome.skipped = result.skipped;
  outcome.interrupted = result.interrupted;
  outcome.actions = result.actions.size();
  outcome.errors = failed_errors(result);
  return outcome;
}

Result<DeployOutcome> deploy_text(const Globals &globals, Connection &connection,
                                  const std::string &topology_text, const std::string &lab,
                                  const std::string &file, const std::string &base_dir,
                                  const DeployOptions &options) {
  topology::Diagnostics warnings;
  auto loaded = topology::load_text(topology_text, file.empty() ? "<stored>" : file, base_dir,
                                    {lab, &warnings});
  if (!loaded) {
    // One line (it becomes a reservation's reason and a log line): the errors, without the
    // quoted source and carets.
    std::string text;
    std::istringstream rendered(topology::render(loaded.error(), false));
    for (std::string line; std::getline(rendered, line);) {
      if (line.find("error:") != std::string::npos) {
        text += (text.empty() ? "" : "; ") + line;
      }
    }
    return fail(fmt::format("the stored topology of lab '{}' is invalid: {}", lab, text),
                "a newer ltb may check more than the one that stored it: fix the file, then "
                "book again (ltb reserve delete, ltb reserve create)",
                ExitCode::usage);
  }
  // The loader makes `file` absolute; a stored topology keeps the name it was given.
  loaded->file = file;
  return deploy_lab(globals, connection, *loaded, options);
}

Result<RemoveOutcome> remove_lab(const Globals &globals, Connection &connection,
                                 const std::string &lab, bool show_progress) {
  RemoveOutcome outcome;
  outcome.lab = lab;
  auto backends = connection.backends();
  LTB_TRY(lock, state::LabLock::acquire(globals.state_path, lab, globals.wait_seconds));
  clean_stale_captures(globals, *connection.store, lab);
  LTB_TRY(recorded, apply::read_recorded(*connection.store, lab));
  bool bridges = false;
  for (const auto &node : recorded.nodes) {
    bridges = bridges || node.kind == "ovs-bridge";
  }
  for (const auto &object : recorded.objects) {
    bridges = bridges || object.type == "bridge";
  }
  // Without state (lost or never written) bridges are still found by their external_ids when
  // Open vSwitch answers.
  if (!bridges && connection.ovs && connection.ovs->version()) {
    bridges = true;
  }
  bool vms = false;
  for (const auto &node : recorded.nodes) {
    vms = vms || node.kind == "vm";
  }
  for (const auto &object : recorded.objects) {
    vms = vms || object.type == "domain";
  }
  // As with bridges: without a record, domains are still found by their metadata when libvirt
  // answers; with one, libvirt must answer.
  LTB_CHECK(connection.connect_vms(vms));
  backends = connection.backends();
  LTB_TRY(observed, apply::observe(lab, backends, {bridges, true, true, lab_dir(globals, lab)}));
  auto plan = plan::plan_down(lab, recorded, observed);
  if (plan.empty() && !recorded.lab) {
    outcome.nothing = true;
    return outcome;
  }
  std::set<std::string> nodes;
  for (const auto &action : plan.actions) {
    if (!action.node.empty()) {
      nodes.insert(action.node);
    }
  }
  auto progress = make_progress(globals, {nodes.begin(), nodes.end()}, show_progress);
  apply::ApplyOptions options;
  options.interrupted = install_interrupt_handler();
  options.owner = current_user();
  options.lab_dir = lab_dir(globals, lab);
  auto result = apply::apply_down(plan, backends, *progress, options);
  progress->finish();
  outcome.done = result.done;
  outcome.failed = result.failed;
  outcome.skipped = result.skipped;
  outcome.interrupted = result.interrupted;
  outcome.errors = failed_errors(result);
  return outcome;
}

std::string failure_summary(const std::vector<std::string> &errors, bool interrupted) {
  if (errors.empty()) {
    return interrupted ? "interrupted" : "actions were skipped";
  }
  if (errors.size() == 1) {
    return errors.front();
  }
  return fmt::format("{} (and {} more failed action{})", errors.front(), errors.size() - 1,
                     errors.size() == 2 ? "" : "s");
}

} // namespace ltb::cli
