#include "service/capture.hpp"

#include "plan/names.hpp"
#include "runtime/docker/docker.hpp"
#include "service/events.hpp"
#include "service/nodes.hpp"
#include "service/owners.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <unistd.h>

namespace ltb::service {

namespace {

Result<capture::LabRecords> lab_records(state::Store &store, const std::string &lab) {
  capture::LabRecords records;
  records.lab = lab;
  LTB_TRY(nodes, store.nodes(lab));
  records.nodes = std::move(nodes);
  LTB_TRY(links, store.links(lab));
  records.links = std::move(links);
  return records;
}

/// The lab named with --lab, or the one of the caller's running labs that has the target.
Result<capture::LabRecords> choose_lab(state::Store &store, const Caller &caller,
                                       const CaptureRequest &request) {
  if (!request.lab.empty()) {
    LTB_TRY(record, resolve_lab(store, caller, request.lab));
    return lab_records(store, record.name);
  }
  LTB_TRY(labs, store.labs());
  std::vector<capture::LabRecords> mine;
  std::vector<capture::LabRecords> others; // other users' labs, and labs not running
  for (const auto &lab : labs) {
    if (!may_act(caller, lab.owner)) {
      continue; // another user's: not even named
    }
    LTB_TRY(records, lab_records(store, lab.name));
    const bool own = lab.status == state::RecordStatus::running &&
                     (lab.owner == caller.name || lab.owner.empty());
    (own ? mine : others).push_back(std::move(records));
  }
  auto index = capture::find_lab(mine, request.target);
  if (index) {
    return std::move(mine[*index]);
  }
  if (index.error().code != ExitCode::usage) {
    // Not in the caller's running labs; if another lab has it, say so rather than guess.
    if (auto elsewhere = capture::find_lab(others, request.target)) {
      const auto &name = others[*elsewhere].lab;
      const auto record = std::find_if(
          labs.begin(), labs.end(), [&](const state::LabRecord &lab) { return lab.name == name; });
      index.error().help = fmt::format("lab {} ({}, owned by {}) has it: pass --lab {}", name,
                                       state::to_string(record->status), record->owner, name);
    }
  }
  return fail(std::move(index).error());
}

/// Help for an interface that is not there: the interfaces ltb made on that node.
std::string interfaces_help(const capture::LabRecords &lab, const std::string &node) {
  std::vector<std::string> ends;
  for (const auto &link : lab.links) {
    if (link.a_node == node) {
      ends.push_back(node + ":" + link.a_iface);
    }
    if (link.b_node == node) {
      ends.push_back(node + ":" + link.b_iface);
    }
  }
  std::sort(ends.begin(), ends.end());
  std::string list;
  for (const auto &end : ends) {
    list += (list.empty() ? "" : ", ") + end;
  }
  return fmt::format("the interfaces of {}: {}{}{}:eth0 (management)", node, list,
                     list.empty() ? "" : ", ", node);
}

} // namespace

tl::expected<std::unique_ptr<Capture>, CaptureFailure>
Capture::start(const Session &session, state::Store &store, const CaptureRequest &request) {
  auto failed = [](Error error) { return tl::unexpected(CaptureFailure{std::move(error), {}}); };
  auto lab = choose_lab(store, session.caller, request);
  if (!lab) {
    return failed(lab.error());
  }
  auto target = capture::resolve(*lab, request.target, request.port);
  if (!target) {
    return failed(target.error());
  }
  // Mirrors left by captures that were killed go first (they would copy traffic for nobody).
  if (auto cleaned = capture::clean_stale(store, lab->lab); !cleaned) {
    session.events.notice("notice: " + cleaned.error().message);
  }

  std::unique_ptr<Capture> run(new Capture());
  run->m_session = &session;
  run->m_store = &store;
  run->m_target = *target;
  std::string where;
  if (target->node.empty()) {
    where = fmt::format("host interface {}", target->iface);
  } else {
    where = fmt::format("{}:{}", target->node, target->iface);
    auto docker = runtime::connect_docker();
    if (!docker) {
      return failed(docker.error());
    }
    auto lab_record = store.lab(target->lab);
    const auto name = plan::container_name(
        target->lab, target->node,
        lab_record && *lab_record ? (*lab_record)->container_prefix : std::nullopt);
    auto info = (*docker)->inspect_container(name);
    if (!info) {
      return failed(info.error());
    }
    if (info->state != "running" || info->pid <= 0) {
      return failed(
          Error{fmt::format("node {} of lab {} is not running (container {} is {})", target->node,
                            target->lab, name, info->state),
                fmt::format("start it again with `ltb up`; see `ltb status {}`", target->lab),
                ExitCode::failed});
    }
    auto netns = net::Netns::of_pid(info->pid);
    if (!netns) {
      return failed(netns.error());
    }
    run->m_netns = std::move(*netns);
    run->m_pid = info->pid;
  }
  const int pid = static_cast<int>(::getpid());
  auto &info = run->m_info;
  info.lab = lab->lab;
  info.target = target->label;
  info.user = session.caller.name;
  std::string iface = target->iface;
  if (target->kind == capture::TargetKind::segment) {
    info.segment = target->bridge_node;
    info.bridge = target->bridge;
    info.mirror = capture::mirror_port_name(lab->lab, target->bridge_node, pid);
    iface = info.mirror;
    where = fmt::format("mirror port {} of {}", info.mirror, target->label);
  }
  info.interface = target->node.empty() ? iface : target->node + ":" + iface;
  auto registration = capture::Registration::record(store, info, capture::process_token(pid));
  if (!registration) {
    return failed(registration.error());
  }
  run->m_registration.emplace(std::move(*registration));
  run->m_vsctl = capture::real_vsctl();
  // From here on, a failure undoes what was made.
  auto undo = [&run](Error error) {
    return tl::unexpected(CaptureFailure{std::move(error), run->stop()});
  };
  if (!info.mirror.empty()) {
    capture::MirrorSpec spec{
        info.bridge,
        info.mirror,
        target->ports,
        {{plan::k_ovs_lab, lab->lab}, {plan::k_ovs_owner, fmt::format("capture:{}", pid)}}};
    if (auto made = capture::create_mirror(spec, run->m_vsctl); !made) {
      return undo(made.error());
    }
    if (auto up = capture::prepare_port_interface(info.mirror); !up) {
      return undo(up.error());
    }
  }
  capture::LiveOptions live_options;
  live_options.iface = iface;
  live_options.netns_fd = run->m_netns ? run->m_netns->fd() : -1;
  live_options.where = where;
  live_options.filter = request.filter;
  bool no_device = false;
  auto live = capture::LiveCapture::open(live_options, &no_device);
  if (!live) {
    auto error = live.error();
    if (no_device && !target->node.empty()) {
      error.help = interfaces_help(*lab, target->node);
    }
    return undo(error);
  }
  run->m_live.emplace(std::move(*live));
  if (auto created = run->m_registration->created(); !created) {
    run->m_live.reset();
    return undo(created.error());
  }
  record_event(session, store, run->capture_event(event::Action::started));
  run->m_announced = true;
  session.events.notice(
      fmt::format("capturing on {} in lab {}{}; Ctrl-C stops", target->label, lab->lab,
                  request.filter.empty() ? "" : ", filter '" + request.filter + "'"));
  return run;
}

Result<capture::WriteResult> Capture::write(const std::string &path, std::uint64_t count) {
  capture::WriteOptions options;
  options.path = path;
  options.count = count;
  options.stop = m_session->cancel.watch();
  if (m_pid > 0) {
    // The packet socket keeps the namespace alive after the container is gone, and a dead
    // namespace carries nothing: watch the container instead.
    options.source_alive = [token = capture::process_token(m_pid)] {
      return capture::process_alive(token);
    };
  }
  auto written = capture::write_packets(*m_live, options);
  m_live.reset(); // closed before its mirror port goes
  return written;
}

std::optional<Error> Capture::stop() {
  if (m_stopped) {
    return std::nullopt;
  }
  m_stopped = true;
  m_live.reset();
  if (m_announced) {
    record_event(*m_session, *m_store, capture_event(event::Action::stopped));
  }
  if (!m_info.mirror.empty()) {
    if (auto removed = capture::remove_mirror(m_info.bridge, m_info.mirror, m_vsctl); !removed) {
      // The records stay: the next capture, `ltb up` or `ltb down` tries again.
      return removed.error();
    }
  }
  if (m_registration) {
    if (auto forgotten = m_registration->forget(); !forgotten) {
      return forgotten.error();
    }
  }
  return std::nullopt;
}

event::Event Capture::capture_event(event::Action action) const {
  event::Event event;
  event.lab = m_target.lab;
  event.type = event::Type::capture;
  event.action = action;
  event.object = m_target.label;
  event.attributes["interface"] = m_info.interface;
  event.attributes["pid"] = std::to_string(::getpid());
  event.attributes["user"] = m_info.user;
  return event;
}

Capture::~Capture() {
  (void)stop();
}

} // namespace ltb::service
