#include "service/links.hpp"

#include "apply/apply.hpp"
#include "plan/plan.hpp"
#include "service/backends.hpp"
#include "service/events.hpp"
#include "service/nodes.hpp"
#include "service/owners.hpp"
#include "state/store.hpp"
#include "topology/diagnostics.hpp"
#include "topology/impairments.hpp"
#include "topology/kinds.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace ltb::service {

namespace {

/// The lab a link command works on: --lab, else the lab of NODE in NODE:IFACE, else the
/// caller's only (or only running) lab.
Result<std::string> lab_for(state::Store &store, const Caller &caller, const std::string &lab,
                            const std::string &target) {
  if (!lab.empty()) {
    LTB_TRY(record, resolve_lab(store, caller, lab));
    return record.name;
  }
  if (auto colon = target.find(':'); colon != std::string::npos && colon > 0) {
    if (auto found = lab_of_node(store, caller, target.substr(0, colon))) {
      return found;
    }
  }
  return only_lab(store, caller);
}

/// TARGET with a vendor kind's interface alias (srl1:ethernet-1/1) as its Linux name (srl1:e1-1).
std::string linux_target(const std::vector<state::NodeRecord> &nodes, const std::string &target) {
  const auto colon = target.find(':');
  if (colon == std::string::npos) {
    return target;
  }
  for (const auto &node : nodes) {
    if (node.name == target.substr(0, colon)) {
      return node.name + ":" + topology::linux_interface_name(node.kind, target.substr(colon + 1));
    }
  }
  return target;
}

/// The recorded link TARGET names (its name, or NODE:IFACE of an end); `end` is then 0 or 1 for
/// NODE:IFACE (a for 0), -1 for a name.
Result<state::LinkRecord> find_link(const std::vector<state::LinkRecord> &links,
                                    const std::string &lab, const std::string &target, int &end) {
  end = -1;
  std::vector<std::string> names;
  for (const auto &link : links) {
    if (link.name == target) {
      return link;
    }
    if (target == link.a_node + ":" + link.a_iface) {
      end = 0;
      return link;
    }
    if (target == link.b_node + ":" + link.b_iface) {
      end = 1;
      return link;
    }
    names.push_back(link.name);
    names.push_back(link.a_node + ":" + link.a_iface);
    names.push_back(link.b_node + ":" + link.b_iface);
  }
  if (links.empty()) {
    return fail(fmt::format("lab '{}' has no links", lab), "add links to its file and `ltb up`");
  }
  const auto guess = topology::did_you_mean(target, names);
  return fail(fmt::format("lab '{}' has no link or link end '{}'", lab, target),
              guess.empty() ? fmt::format("`ltb link list {}` lists its links and their ends", lab)
                            : fmt::format("did you mean '{}'?", guess));
}

LinkEndInfo end_info(const std::string &node, const std::string &iface, const std::string &applied,
                     const std::optional<std::string> &override_text, const std::string &file) {
  const auto impairments = topology::decode_impairments(applied).value_or(topology::Impairments{});
  std::string source;
  if (override_text) {
    source = "run time";
  } else if (!file.empty()) {
    source = "file";
  }
  return {node, iface, topology::describe(impairments), source};
}

LinkInfo info_of(const state::LinkRecord &link) {
  LinkInfo info;
  info.lab = link.lab;
  info.name = link.name;
  info.key = link.key;
  info.a = end_info(link.a_node, link.a_iface, link.impair_a, link.override_a, link.file_impair_a);
  info.b = end_info(link.b_node, link.b_iface, link.impair_b, link.override_b, link.file_impair_b);
  info.state = link.down ? "down" : state::to_string(link.status);
  info.via = link.impair_via;
  return info;
}

/// The recorded link as apply/ sees it: its ends as recorded, its bridge node (a segment's), and
/// its settings from the record.
Result<plan::PlannedLink> planned_of(state::Store &store, const state::LinkRecord &record) {
  plan::PlannedLink link;
  link.key = record.key;
  link.name = record.name;
  link.a = {record.a_node, record.a_iface, {}};
  link.b = {record.b_node, record.b_iface, {}};
  LTB_TRY(nodes, store.nodes(record.lab));
  for (const auto &node : nodes) {
    if ((node.name == record.a_node || node.name == record.b_node) &&
        topology::runtime_of_kind(node.kind) == topology::Runtime::ovs_bridge) {
      link.bridge_node = node.name;
    }
  }
  plan::link_settings(link, nullptr, &record);
  return link;
}

/// Applies the change of one link (CHANGE edits the planned link's settings) as one
/// set_impairment action, under the lab's lock, and returns the link as recorded after it.
Result<LinkInfo> change_link(const Session &session, apply::Backends &backends,
                             const std::string &requested_lab, const std::string &target,
                             const std::function<Status(plan::PlannedLink &, int end)> &change) {
  const Context &context = session.context;
  auto &store = *backends.store;
  LTB_TRY(lab, lab_for(store, session.caller, requested_lab, target));
  LTB_TRY(lock, state::LabLock::acquire(context.state_path, lab, context.wait_seconds));
  LTB_TRY(links, store.links(lab));
  LTB_TRY(nodes, store.nodes(lab));
  int end = -1;
  LTB_TRY(record, find_link(links, lab, linux_target(nodes, target), end));
  if (record.status != state::RecordStatus::up) {
    return fail(fmt::format("link {} of lab '{}' is not wired (its record says {})", record.name,
                            lab, state::to_string(record.status)),
                "run `ltb up` to wire it, then try again");
  }
  LTB_TRY(planned, planned_of(store, record));
  LTB_CHECK(change(planned, end));

  apply::ApplyOptions options;
  options.interrupted = session.cancel.watch();
  options.owner = session.caller.name;
  options.lab_dir = context.lab_dir(lab);
  bool fell_back = false;
  LTB_TRY(relay, apply::choose_relay_mode(topology::ImpairmentPath::automatic, *backends.tc, links,
                                          fell_back));
  options.relay_mode = relay;

  plan::Plan plan;
  plan.lab = lab;
  LTB_TRY(lab_record, store.lab(lab));
  if (lab_record) {
    plan.container_prefix = lab_record->container_prefix; // its containers' names
  }
  plan.links[planned.key] = planned;
  plan.actions.push_back({plan::ActionKind::set_impairment,
                          planned.bridge_node,
                          {planned.key},
                          planned.name,
                          plan::Reason::run_time_change,
                          {}});
  auto progress = session.events.progress({});
  auto report = apply::apply_link_settings(plan, backends, *progress, options);
  progress->finish();
  for (const auto &action : report.actions) {
    if (action.result.outcome != apply::Outcome::done) {
      return fail(action.result.error.empty() ? "interrupted" : action.result.error,
                  action.result.help);
    }
  }
  LTB_TRY(after, store.links(lab));
  for (const auto &link : after) {
    if (link.key == planned.key) {
      return info_of(link);
    }
  }
  return fail(fmt::format("link {} of lab '{}' was removed meanwhile", planned.name, lab),
              "see `ltb link list`");
}

/// Opens the backends a change of a link of LAB (resolved as change_link does) needs: Docker
/// for the containers' namespaces, libvirt only when the lab has VMs.
Result<Connection> connect_for(const Session &session, const std::string &lab,
                               const std::string &target) {
  LTB_TRY(connection, connect(session.context));
  LTB_TRY(resolved, lab_for(*connection.store, session.caller, lab, target));
  LTB_TRY(nodes, connection.store->nodes(resolved));
  const bool vms = std::any_of(nodes.begin(), nodes.end(), [](const auto &node) {
    return topology::runtime_of_kind(node.kind) == topology::Runtime::vm;
  });
  if (vms) {
    LTB_CHECK(connection.connect_vms(true));
  }
  return connection;
}

} // namespace

Result<std::vector<LinkInfo>> list_links(const Session &session, const LinkListRequest &request) {
  LTB_TRY(store, open_store(session.context));
  LTB_TRY(lab, lab_for(*store, session.caller, request.lab, ""));
  LTB_TRY(links, store->links(lab));
  std::vector<LinkInfo> out;
  for (const auto &link : links) {
    out.push_back(info_of(link));
  }
  std::sort(out.begin(), out.end(),
            [](const LinkInfo &x, const LinkInfo &y) { return x.name < y.name; });
  return out;
}

Result<LinkInfo> set_link(const Session &session, const LinkSetRequest &request) {
  LTB_TRY(connection, connect_for(session, request.lab, request.target));
  auto backends = connection.backends();
  return set_link(session, backends, request);
}

namespace {

/// set_link() without its event.
Result<LinkInfo> change_impairments(const Session &session, apply::Backends &backends,
                                    const LinkSetRequest &request) {
  topology::Impairments given;
  for (const auto &[field, text] : request.values) {
    if (auto set = topology::set_impairment_field(given, field, text); !set) {
      return fail(fmt::format("--{} {}: {}", field, text, set.error().message), set.error().help,
                  ExitCode::usage);
    }
  }
  if (request.values.empty() && !request.reset) {
    return fail("nothing to change",
                "give --delay, --jitter, --loss, --corrupt, --duplicate, --reorder or --rate, or "
                "--reset",
                ExitCode::usage);
  }
  return change_link(
      session, backends, request.lab, request.target,
      [&](plan::PlannedLink &link, int end) -> Status {
        struct Direction {
          const topology::Endpoint &from;
          const topology::Impairments &file;
          std::optional<topology::Impairments> &override_value;
          topology::Impairments &effective;
        };
        std::vector<Direction> directions;
        if (end != 1) {
          directions.push_back({link.a, link.file_a, link.override_a, link.impair_a});
        }
        if (end != 0) {
          directions.push_back({link.b, link.file_b, link.override_b, link.impair_b});
        }
        for (auto &d : directions) {
          topology::Impairments next = request.reset ? d.file : d.override_value.value_or(d.file);
          for (const auto &[field, text] : request.values) {
            topology::copy_impairment_field(next, given, field);
          }
          for (const auto &problem : topology::check_impairments(next)) {
            return fail(fmt::format("{} on the packets leaving {}:{}", problem.message, d.from.node,
                                    d.from.iface),
                        problem.help, ExitCode::usage);
          }
          if (request.reset && request.values.empty()) {
            d.override_value.reset();
          } else {
            d.override_value = next;
          }
          d.effective = d.override_value.value_or(d.file);
        }
        return {};
      });
}

} // namespace

Result<LinkInfo> set_link(const Session &session, apply::Backends &backends,
                          const LinkSetRequest &request) {
  LTB_TRY(info, change_impairments(session, backends, request));
  event::Event e;
  e.lab = info.lab;
  e.type = event::Type::impairment;
  e.action = event::Action::changed;
  e.object = info.name;
  e.attributes = request.values;
  if (request.reset) {
    e.attributes["reset"] = "true";
  }
  // The directions changed: both for a link's name, one for NODE:IFACE (the packets leaving it).
  for (const auto *end : {&info.a, &info.b}) {
    const auto name = end->node + ":" + end->iface;
    if (request.target.find(':') == std::string::npos || request.target == name) {
      e.attributes[name] = end->impairments;
    }
  }
  record_event(session, *backends.store, std::move(e));
  return info;
}

Result<LinkInfo> set_link_state(const Session &session, const LinkStateRequest &request) {
  LTB_TRY(connection, connect_for(session, request.lab, request.target));
  auto backends = connection.backends();
  return set_link_state(session, backends, request);
}

Result<LinkInfo> set_link_state(const Session &session, apply::Backends &backends,
                                const LinkStateRequest &request) {
  LTB_TRY(info, change_link(session, backends, request.lab, request.target,
                            [&](plan::PlannedLink &link, int) -> Status {
                              link.down = !request.up;
                              return {};
                            }));
  event::Event e;
  e.lab = info.lab;
  e.type = event::Type::link;
  e.action = request.up ? event::Action::up : event::Action::down;
  e.object = info.name;
  e.attributes = {{"a", info.a.node + ":" + info.a.iface}, {"b", info.b.node + ":" + info.b.iface}};
  record_event(session, *backends.store, std::move(e));
  return info;
}

} // namespace ltb::service
