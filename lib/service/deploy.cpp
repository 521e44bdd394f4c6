#include "service/deploy.hpp"

#include "access/lab.hpp"
#include "apply/observe.hpp"
#include "capture/records.hpp"
#include "plan/names.hpp"
#include "service/events.hpp"
#include "service/kept_files.hpp"
#include "service/owners.hpp"
#include "service/reservations.hpp"
#include "service/snapshots.hpp"
#include "service/templates.hpp"
#include "service/users.hpp"
#include "topology/kinds.hpp"
#include "topology/loader.hpp"

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <set>
#include <sstream>

namespace ltb::service {

namespace {

/// The lab's record as apply_up() writes it when it starts: from here on, admissions of other
/// labs count its demand.
Status record_claim(state::Store &store, const plan::Plan &plan, const topology::Topology &desired,
                    const std::string &owner) {
  LTB_TRY(existing, store.lab(plan.lab));
  auto lab = apply::deploying_lab(existing, plan, desired, owner);
  return store.put_lab(lab);
}

/// The images of the containers the plan makes are there before anything is made, as
/// containerlab pulls them first: an image that is missing and cannot be pulled fails the up
/// with nothing made (no network, no half-made lab). Each pull is announced.
Status ensure_images(const Session &session, const plan::Plan &plan,
                     const topology::Topology &desired, runtime::ContainerRuntime *docker) {
  // Each image once, with the nodes that use it (in the plan's order).
  std::vector<std::pair<std::string, std::vector<std::string>>> images;
  for (const auto &action : plan.actions) {
    const auto *node =
        action.kind == plan::ActionKind::create_node ? desired.find_node(action.node) : nullptr;
    if (!node || node->runtime != topology::Runtime::container || node->image.empty()) {
      continue;
    }
    auto it = std::find_if(images.begin(), images.end(),
                           [&](const auto &entry) { return entry.first == node->image; });
    if (it == images.end()) {
      images.push_back({node->image, {node->name}});
    } else {
      it->second.push_back(node->name);
    }
  }
  if (images.empty() || docker == nullptr) {
    return {};
  }
  std::vector<std::string> missing;
  for (const auto &[image, nodes] : images) {
    LTB_TRY(present, docker->image_present(image));
    if (present) {
      continue;
    }
    session.events.notice(fmt::format("pulling image {}", image));
    if (auto pulled = docker->pull_image(image, {}); !pulled) {
      missing.push_back(fmt::format("image '{}' of node{} '{}' is not available: {}", image,
                                    nodes.size() == 1 ? "" : "s", fmt::join(nodes, "', '"),
                                    pull_failure(pulled.error().message)));
    }
  }
  if (missing.empty()) {
    return {};
  }
  return fail(fmt::format("{}", fmt::join(missing, "; ")),
              fmt::format("nothing of lab '{}' was made: build the image (make images "
                          "builds ltb's own), load it (docker load) or make it "
                          "pullable, then run ltb up again",
                          plan.lab));
}

std::vector<Error> failed_errors(const apply::ApplyReport &report) {
  std::vector<Error> errors;
  for (const auto &action : report.actions) {
    if (action.result.outcome == apply::Outcome::failed) {
      errors.push_back(Error{action.result.error, action.result.help, ExitCode::failed});
    }
  }
  return errors;
}

// Mirrors left on the lab's bridges by `ltb capture` processes that were killed. Not fatal: `ltb
// down` removes the bridges anyway, and the next run tries again.
void clean_stale_captures(EventSink &events, state::Store &store, const std::string &lab) {
  if (auto cleaned = capture::clean_stale(store, lab); !cleaned) {
    events.notice("notice: " + cleaned.error().message);
  }
}

/// The management network mgmt.network names, when it exists and ltb did not make it for this
/// lab: the plan joins it (plan::ExternalNetwork).
Status find_external_network(const topology::Topology &desired, plan::Observed &observed,
                             apply::Backends &backends) {
  const auto &name = desired.mgmt.network;
  if (name.empty() || observed.networks.count(name)) {
    return {};
  }
  LTB_TRY(foreign, apply::foreign_network(backends, desired.name, name));
  if (foreign && desired.mgmt.network_loc.line == 0) {
    // ltb's own name for the lab's network (mgmt.network not written), taken by another.
    return fail(fmt::format("lab '{}': a Docker network named '{}' exists and was not created "
                            "by ltb for this lab",
                            desired.name, name),
                fmt::format("remove or rename that network (docker network rm {}), or set "
                            "mgmt.network in {} to join it",
                            name, desired.file));
  }
  observed.external_network = foreign;
  return {};
}

/// Records the event of each action as it is done (node created, recreated, removed). `plan` is
/// read when an action ends, so it must outlive the run (it may be replaced before the run).
std::function<void(const plan::Action &, const apply::TaskResult &)>
record_actions(const Session &session, state::Store &store, const plan::Plan &plan) {
  return [&session, &store, &plan](const plan::Action &action, const apply::TaskResult &result) {
    if (result.outcome != apply::Outcome::done) {
      return;
    }
    if (auto event = action_event(plan, action)) {
      record_event(session, store, std::move(*event));
    }
  };
}

constexpr int k_subnet_attempts = 8;

bool creates_network(const plan::Plan &plan) {
  return std::any_of(plan.actions.begin(), plan.actions.end(), [](const auto &action) {
    return action.kind == plan::ActionKind::create_network;
  });
}

/// Makes the management network of a plan whose subnet ltb chose, before anything else: another
/// ltb (with another state file) may have chosen the same free subnet at the same moment, and
/// then Docker refuses the second network. The next free subnet is tried then, a few times.
/// Returns the plan of what is left to do.
Result<plan::Plan> claim_subnet(EventSink &events, plan::Plan plan,
                                const topology::Topology &desired, const plan::Recorded &recorded,
                                plan::Observed observed, std::vector<std::string> used,
                                apply::Backends &backends, const apply::ApplyOptions &options) {
  for (int attempt = 1;; ++attempt) {
    if (!creates_network(plan)) {
      return plan;
    }
    auto made = apply::apply_network_first(plan, desired, backends, options);
    if (made) {
      observed.networks.insert(plan.network);
      LTB_TRY(rest, plan::plan_up(desired, recorded, observed, used));
      if (rest.subnet != plan.subnet) {
        return fail(fmt::format("lab '{}': the plan chose subnet {} after network {} was made "
                                "with {}",
                                desired.name, rest.subnet, plan.network, plan.subnet),
                    "this is a bug in ltb: run `ltb up` again, and report it");
      }
      return rest;
    }
    if (made.error().kind != ErrorKind::address_in_use || attempt == k_subnet_attempts) {
      return fail(made.error());
    }
    LTB_TRY(now_used, apply::used_subnets(backends, desired.name));
    used.insert(used.end(), now_used.begin(), now_used.end());
    used.push_back(plan.subnet);
    const auto taken = plan.subnet;
    LTB_TRY(next, plan::plan_up(desired, recorded, observed, used));
    plan = std::move(next);
    events.notice(fmt::format("notice: lab {}: subnet {} was taken meanwhile; trying {}",
                              desired.name, taken, plan.subnet));
  }
}

/// The base directory a loaded topology's relative paths resolved against.
std::string base_dir_of(const topology::Topology &desired) {
  if (desired.file.empty() || desired.file.front() != '/') {
    std::error_code ec;
    return std::filesystem::current_path(ec).string();
  }
  return std::filesystem::path(desired.file).parent_path().string();
}

/// DESIRED, loaded for a caller who may use everything, as a confined lab: its text is checked
/// again with LoadOptions::confined (an admin deploying a confined lab again), and every node is
/// marked confined.
Result<topology::Topology> confine(const topology::Topology &desired) {
  if (!desired.confined) {
    topology::LoadOptions options;
    options.lab_name = desired.name;
    options.confined = true;
    options.expand_environment = false; // desired.text is already expanded
    auto checked = topology::load_text(desired.text, desired.file, base_dir_of(desired), options);
    if (!checked) {
      auto text = topology::render(checked.error(), false);
      while (!text.empty() && text.back() == '\n') {
        text.pop_back();
      }
      return fail(fmt::format("lab '{}' is confined (it was deployed for a user who is not an "
                              "admin), and its topology uses what only admins may:\n{}",
                              desired.name, text),
                  "remove those keys from the file, or remove the lab (ltb down) and deploy it "
                  "anew as an admin",
                  ExitCode::usage);
    }
  }
  topology::Topology out = desired;
  out.confined = true;
  for (auto &node : out.nodes) {
    // The loader refused them in the file; a model made otherwise must not carry them either.
    if (!node.binds.empty()) {
      return fail(fmt::format("lab '{}' is confined, and node '{}' binds host paths", desired.name,
                              node.name),
                  "bind mounts of host paths are for admins: remove 'binds'", ExitCode::usage);
    }
    node.confined = true;
  }
  return out;
}

} // namespace

topology::LoadOptions load_options(const Session &session, topology::LoadOptions options) {
  options.confined = options.confined || !session.caller.admin;
  return options;
}

Result<bool> deploys_confined(const Session &session, state::Store &store, const std::string &lab,
                              const DeployRequest &request) {
  if (!session.caller.admin || request.confined) {
    return true;
  }
  LTB_TRY(record, store.lab(lab));
  if (record && record->confined) {
    return true;
  }
  // An admin deploying a lab for someone else (the scheduler, for a reservation's owner): the
  // owner's role decides, and an owner ltb cannot identify gets a confined lab.
  if (!request.owner.empty() && request.owner != session.caller.name) {
    auto user = system_accounts().user_by_name(request.owner);
    if (!user) {
      return true;
    }
    auto owner = identify(store, system_accounts(), user->uid);
    return !owner || !owner->admin;
  }
  return false;
}

Result<DeployOutcome> deploy_lab(const Session &session, Connection &connection,
                                 const topology::Topology &given, const DeployRequest &options) {
  const Context &context = session.context;
  const std::string owner = options.owner.empty() ? session.caller.name : options.owner;
  // The lab's id: its name for root's labs, OWNER__NAME for anyone else's (owners.hpp), so that
  // two users may each have a lab of one name while runtime names stay unique on the host.
  const std::string id = lab_id(owner, given.name);
  DeployOutcome outcome;
  outcome.lab = lab_shown(session.caller, id);
  auto backends = connection.backends();
  LTB_TRY(lock, state::LabLock::acquire(context.state_path, id, context.wait_seconds));
  // A lab of that id that someone else owns (an admin's re-`up` keeps the owner it has).
  LTB_TRY(existing_lab, connection.store->lab(id));
  if (existing_lab && !may_act(session.caller, existing_lab->owner)) {
    return fail(fmt::format("the lab name '{}' is taken on this host", given.name),
                "give your lab another name (`name:` in the file, or `ltb up --lab NAME`)");
  }
  const std::string recorded_owner =
      existing_lab && !existing_lab->owner.empty() ? existing_lab->owner : owner;
  // Confinement before anything else: a topology it refuses changes nothing. It loads the file
  // again, so under the name its owner gave it; the id comes after.
  LTB_TRY(confined, deploys_confined(session, *connection.store, id, options));
  std::optional<topology::Topology> confined_given;
  if (confined) {
    LTB_TRY(made, confine(given));
    confined_given = std::move(made);
  }
  const topology::Topology &named = confined_given ? *confined_given : given;
  topology::Topology desired = named;
  if (id != named.name) {
    desired.name = id;
    if (named.mgmt.network_loc.line == 0 && named.mgmt.network == "ltb-" + named.name) {
      desired.mgmt.network = plan::network_name(id);
    }
  }
  // Capacity first: a refused lab changes nothing. When admitted, no other lab is admitted until
  // this one's claim is recorded below.
  UpAdmission admission;
  if (options.admit) {
    LTB_TRY(admitted,
            admit_up(session, *connection.store, desired, options.until, options.dry_run));
    admission = std::move(admitted);
  } else {
    // A restored snapshot: no capacity rule, but the caller's quotas (the scheduler's caller,
    // root, has none).
    LTB_CHECK(check_deploy_quotas(session, *connection.store, desired));
  }
  clean_stale_captures(session.events, *connection.store, desired.name);
  LTB_TRY(recorded, apply::read_recorded(*connection.store, desired.name));
  bool has_bridges = false;
  for (const auto &node : desired.nodes) {
    has_bridges = has_bridges || node.runtime == topology::Runtime::ovs_bridge;
  }
  for (const auto &node : recorded.nodes) {
    has_bridges =
        has_bridges || topology::runtime_of_kind(node.kind) == topology::Runtime::ovs_bridge;
  }
  bool has_vms = false;
  for (const auto &node : desired.nodes) {
    has_vms = has_vms || node.runtime == topology::Runtime::vm;
  }
  for (const auto &node : recorded.nodes) {
    has_vms = has_vms || topology::runtime_of_kind(node.kind) == topology::Runtime::vm;
  }
  if (has_vms) {
    LTB_CHECK(connection.connect_vms(true));
    backends = connection.backends();
  }
  LTB_TRY(observed, apply::observe(desired.name, backends,
                                   {has_bridges, false, true, context.lab_dir(desired.name)}));
  LTB_CHECK(find_external_network(desired, observed, backends));
  std::vector<std::string> subnets;
  bool needs_subnet =
      desired.mgmt.ipv4_subnet.empty() && !(recorded.lab && !recorded.lab->mgmt_subnet.empty());
  if (needs_subnet) {
    LTB_TRY(used, apply::used_subnets(backends, desired.name));
    subnets = std::move(used);
  }
  // The impairment path, before planning: links wired for the other one are rewired.
  bool relay_mode = false;
  bool fell_back = false;
  if (!desired.links.empty()) {
    LTB_TRY(relay, apply::choose_relay_mode(desired.impairment_path, *backends.tc, recorded.links,
                                            fell_back));
    relay_mode = relay;
    observed.relay_mode = relay;
  }
  LTB_TRY(planned, plan::plan_up(desired, recorded, observed, subnets));
  auto plan = std::move(planned);
  outcome.subnet = plan.subnet;
  outcome.actions = plan.actions.size();
  outcome.up_to_date = plan.empty();
  if (options.dry_run) {
    for (const auto &action : plan.actions) {
      outcome.planned.push_back(plan::describe(action, plan));
    }
    return outcome;
  }
  LTB_CHECK(ensure_images(session, plan, desired, backends.docker));
  // The lab's key pair exists before nodes are made: they get its public half.
  LTB_CHECK(access::prepare_lab(context.lab_dir(desired.name), desired));
  if (options.keep_files && !desired.file.empty() && desired.file.front() == '/') {
    // Through the daemon: the request's copy goes when the command ends; the lab keeps its own,
    // which later reads of its topology (exec --label, save, start) resolve paths in.
    const auto kept = lab_files_dir(context, desired.name);
    LTB_CHECK(keep_files(std::filesystem::path(desired.file).parent_path().string(), kept));
    desired.file =
        (std::filesystem::path(kept) / std::filesystem::path(desired.file).filename()).string();
    if (plan.empty()) {
      // Nothing else to record: the record takes the lab's copy as its file all the same.
      LTB_TRY(record, connection.store->lab(desired.name));
      if (record && record->topology_file != desired.file) {
        record->topology_file = desired.file;
        LTB_CHECK(connection.store->put_lab(*record));
      }
    }
  }
  auto finish_access = [&](bool complete) {
    if (auto finished = access::finish_lab(*connection.store, context.lab_dir(desired.name),
                                           desired, recorded.nodes, complete);
        !finished) {
      session.events.notice("notice: the lab's access files: " + finished.error().message);
    }
  };
  auto record_source = [&] {
    if (auto recorded_source = connection.store->set_lab_source(desired.name, options.source);
        !recorded_source) {
      session.events.notice("notice: " + recorded_source.error().message);
    }
  };
  if (plan.empty()) {
    finish_access(true);
    record_source();
    return outcome;
  }
  if (admission.claim) {
    LTB_CHECK(record_claim(*connection.store, plan, desired, recorded_owner));
    admission.lock.reset();
  }
  for (auto &drift : drift_events(plan)) {
    record_event(session, *connection.store, std::move(drift));
  }
  apply::ApplyOptions apply_options;
  apply_options.workers = options.workers;
  apply_options.interrupted = session.cancel.watch();
  apply_options.owner = recorded_owner;
  apply_options.lab_dir = context.lab_dir(desired.name);
  apply_options.on_action = record_actions(session, *connection.store, plan);
  apply_options.vm_restores = options.vm_restores;
  if (!desired.links.empty()) {
    apply_options.relay_mode = relay_mode;
    const bool impaired = std::any_of(desired.links.begin(), desired.links.end(), [](auto &link) {
      return !link.impair_a.empty() || !link.impair_b.empty();
    });
    if (fell_back && impaired) {
      session.events.notice("notice: this kernel has no netem; link impairments go through ltb's "
                            "userspace relay (settings.impairments or LTB_IMPAIRMENTS choose)");
    }
  }
  int claimed = 0; // the network, when made ahead of the plan's other actions
  if (needs_subnet) {
    claimed = creates_network(plan) ? 1 : 0;
    LTB_TRY(rest, claim_subnet(session.events, std::move(plan), desired, recorded, observed,
                               subnets, backends, apply_options));
    plan = std::move(rest);
    outcome.subnet = plan.subnet;
  }
  std::vector<std::string> nodes;
  for (const auto &node : desired.nodes) {
    nodes.push_back(node.name);
  }
  auto progress = session.events.progress(nodes);
  auto result = apply::apply_up(plan, desired, backends, *progress, apply_options);
  progress->finish();
  finish_access(result.ok());
  record_source();
  outcome.done = result.done + claimed;
  outcome.failed = result.failed;
  outcome.skipped = result.skipped;
  outcome.interrupted = result.interrupted;
  outcome.actions = result.actions.size() + claimed;
  outcome.errors = failed_errors(result);
  // Never success while a node does not run: a removal still in progress (an `ltb down` killed
  // meanwhile) may take away what was observed before the plan. Look again.
  if (result.ok() && !result.interrupted) {
    LTB_TRY(after, apply::observe(desired.name, backends, {has_bridges, false, false, {}}));
    std::set<std::string> stopped; // by `ltb stop`, and left so
    LTB_TRY(now, connection.store->nodes(desired.name));
    for (const auto &node : now) {
      if (node.status == state::RecordStatus::stopped) {
        stopped.insert(node.name);
      }
    }
    for (auto &problem : plan::not_converged(desired, after, stopped)) {
      outcome.failed += 1;
      outcome.errors.push_back(Error{std::move(problem), {}, ExitCode::failed});
    }
  }
  if (auto now = connection.store->nodes(desired.name)) {
    for (const auto &node : *now) {
      for (const auto &failure : node.exec_errors) {
        outcome.exec_failures.push_back(fmt::format("node {}: {}", node.name, failure));
      }
    }
  }
  return outcome;
}

Result<DeployOutcome> deploy_text(const Session &session, Connection &connection,
                                  const std::string &topology_text, const std::string &lab,
                                  const std::string &file, const std::string &base_dir,
                                  const DeployRequest &options) {
  topology::Diagnostics warnings;
  // The loader takes the lab's name as its owner gave it; deploy_lab() makes the id again.
  const auto owner = options.owner.empty() ? session.caller.name : options.owner;
  const auto name = lab_shown(Caller{0, owner, true, {}}, lab);
  topology::LoadOptions load{name, &warnings};
  LTB_TRY(confined, deploys_confined(session, *connection.store, lab, options));
  load.confined = confined;
  auto loaded =
      topology::load_text(topology_text, file.empty() ? "<stored>" : file, base_dir, load);
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
                "deploy it again (ltb up FILE; a reservation: ltb reserve delete, ltb reserve "
                "create)",
                ExitCode::usage);
  }
  // The loader makes `file` absolute; a stored topology keeps the name it was given.
  loaded->file = file;
  return deploy_lab(session, connection, *loaded, options);
}

Result<DeployOutcome> redeploy_recorded(const Session &session, Connection &connection,
                                        const state::LabRecord &lab, DeployRequest request) {
  const auto shown = lab_shown(session.caller, lab.name);
  if (lab.topology_text.empty()) {
    return fail(
        fmt::format("lab {} has no recorded topology to bring back", shown),
        fmt::format("deploy it from its file (ltb up FILE), or remove it (ltb down --lab {})",
                    shown));
  }
  request.owner = lab.owner;
  request.source = lab.source;
  std::string file = lab.topology_file;
  std::string base_dir;
  if (!file.empty() && file.front() == '/') {
    base_dir = std::filesystem::path(file).parent_path().string();
  }
  if (auto ref = parse_template_source(lab.source)) {
    // The pinned version's files, written out again if they were cleaned away meanwhile.
    LTB_TRY(materialized, materialize_template(session, *connection.store, *ref));
    file = materialized.file;
    base_dir = materialized.dir;
  }
  return deploy_text(session, connection, lab.topology_text, lab.name, file, base_dir, request);
}

Result<RemoveOutcome> remove_lab(const Session &session, Connection &connection,
                                 const std::string &named) {
  const Context &context = session.context;
  // The caller's lab of that name (an admin's: any); one that only runtime labels know of is
  // looked for under the caller's own id, never under another user's.
  LTB_TRY(lab, resolve_lab_id(*connection.store, session.caller, named));
  RemoveOutcome outcome;
  outcome.lab = lab_shown(session.caller, lab);
  auto backends = connection.backends();
  LTB_TRY(lock, state::LabLock::acquire(context.state_path, lab, context.wait_seconds));
  clean_stale_captures(session.events, *connection.store, lab);
  LTB_TRY(recorded, apply::read_recorded(*connection.store, lab));
  bool bridges = false;
  for (const auto &node : recorded.nodes) {
    bridges = bridges || topology::runtime_of_kind(node.kind) == topology::Runtime::ovs_bridge;
  }
  for (const auto &object : recorded.objects) {
    bridges = bridges || object.type == state::ObjectType::bridge;
  }
  // Without state (lost or never written) bridges are still found by their external_ids when
  // Open vSwitch answers.
  if (!bridges && connection.ovs && connection.ovs->version()) {
    bridges = true;
  }
  bool vms = false;
  for (const auto &node : recorded.nodes) {
    vms = vms || topology::runtime_of_kind(node.kind) == topology::Runtime::vm;
  }
  for (const auto &object : recorded.objects) {
    vms = vms || object.type == state::ObjectType::domain;
  }
  // As with bridges: without a record, domains are still found by their metadata when libvirt
  // answers; with one, libvirt must answer.
  LTB_CHECK(connection.connect_vms(vms));
  backends = connection.backends();
  LTB_TRY(observed, apply::observe(lab, backends, {bridges, true, true, context.lab_dir(lab)}));
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
  auto progress = session.events.progress({nodes.begin(), nodes.end()});
  apply::ApplyOptions options;
  options.interrupted = session.cancel.watch();
  options.owner = session.caller.name;
  options.lab_dir = context.lab_dir(lab);
  options.on_action = record_actions(session, *connection.store, plan);
  auto result = apply::apply_down(plan, backends, *progress, options);
  progress->finish();
  outcome.done = result.done;
  outcome.failed = result.failed;
  outcome.skipped = result.skipped;
  outcome.interrupted = result.interrupted;
  outcome.errors = failed_errors(result);
  if (outcome.failed == 0 && !outcome.interrupted) {
    // A restore of a snapshot into this lab that a killed ltb left is not finished any more.
    if (auto forgotten = forget_restore(*connection.store, lab); !forgotten) {
      session.events.notice("notice: " + forgotten.error().message);
    }
  }
  if (vms && outcome.failed == 0 && !outcome.interrupted) {
    // The VMs' disks are gone: so are the snapshot layers they alone built on.
    if (auto collected = collect_disk_layers(context, backends); !collected) {
      session.events.notice("notice: " + collected.error().message);
    }
  }
  return outcome;
}

std::string failure_summary(const std::vector<Error> &errors, bool interrupted) {
  if (errors.empty()) {
    return interrupted ? "interrupted" : "actions were skipped";
  }
  if (errors.size() == 1) {
    return errors.front().message;
  }
  return fmt::format("{} (and {} more failed action{})", errors.front().message, errors.size() - 1,
                     errors.size() == 2 ? "" : "s");
}

std::string pull_failure(const std::string &message) {
  if (message.find("dial tcp") != std::string::npos ||
      message.find("i/o timeout") != std::string::npos) {
    const auto last = message.rfind(": ");
    return fmt::format("its registry cannot be reached from this host ({})",
                       last == std::string::npos ? message : message.substr(last + 2));
  }
  return message;
}

} // namespace ltb::service
