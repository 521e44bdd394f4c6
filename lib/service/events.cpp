#include "service/events.hpp"

#include "plan/names.hpp"
#include "service/backends.hpp"
#include "service/owners.hpp"
#include "service/status.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <fmt/format.h>
#include <mutex>
#include <set>
#include <thread>

namespace ltb::service {

state::EventRecord record_of(const event::Event &event) {
  state::EventRecord record;
  record.time_ns = event.time_ns;
  record.lab = event.lab;
  record.type = event::to_string(event.type);
  record.action = event::to_string(event.action);
  record.object = event.object;
  record.attributes = event::attributes_json(event.attributes);
  return record;
}

std::optional<event::Event> event_of(const state::EventRecord &record) {
  auto type = event::parse_type(record.type);
  auto action = event::parse_action(record.action);
  if (!type || !action) {
    return std::nullopt;
  }
  event::Event event;
  event.time_ns = record.time_ns;
  event.lab = record.lab;
  event.type = *type;
  event.action = *action;
  event.object = record.object;
  event.attributes = event::parse_attributes(record.attributes);
  return event;
}

namespace {

bool creates_node(plan::ActionKind kind) {
  return kind == plan::ActionKind::create_node || kind == plan::ActionKind::create_vm ||
         kind == plan::ActionKind::create_bridge;
}

bool removes_node(plan::ActionKind kind) {
  return kind == plan::ActionKind::remove_node || kind == plan::ActionKind::remove_vm ||
         kind == plan::ActionKind::remove_bridge;
}

bool is_drift(const plan::Why &why) {
  return why == plan::Reason::missing || why == plan::Reason::replaced ||
         why == plan::Reason::not_running;
}

event::Event node_event(const plan::Plan &plan, const plan::Action &action, event::Action what) {
  event::Event event;
  event.lab = plan.lab;
  event.type = event::Type::node;
  event.action = what;
  event.object = action.node;
  event.attributes["reason"] = plan::to_string(action.why);
  return event;
}

} // namespace

std::optional<event::Event> action_event(const plan::Plan &plan, const plan::Action &action) {
  if (action.node.empty()) {
    return std::nullopt;
  }
  if (creates_node(action.kind)) {
    return node_event(plan, action,
                      action.why == plan::Reason::new_object ? event::Action::created
                                                             : event::Action::recreated);
  }
  if (removes_node(action.kind)) {
    for (const auto &other : plan.actions) {
      if (creates_node(other.kind) && other.node == action.node) {
        return std::nullopt;
      }
    }
    return node_event(plan, action, event::Action::removed);
  }
  return std::nullopt;
}

std::vector<event::Event> drift_events(const plan::Plan &plan) {
  std::vector<event::Event> out;
  for (const auto &action : plan.actions) {
    if ((creates_node(action.kind) || removes_node(action.kind)) && !action.node.empty() &&
        is_drift(action.why)) {
      auto seen = node_event(plan, action, event::Action::seen);
      seen.type = event::Type::drift;
      // A recreation plans a removal and a creation with the same reason: one event per node.
      const bool again = std::any_of(
          out.begin(), out.end(), [&](const event::Event &e) { return e.object == seen.object; });
      if (!again) {
        out.push_back(std::move(seen));
      }
    }
  }
  return out;
}

Status record_event(state::Store &store, event::Event event) {
  if (event.time_ns == 0) {
    event.time_ns = event::now_ns();
  }
  event.attributes.try_emplace("source", event::k_source_ltb);
  LTB_TRY(id, store.add_event(record_of(event)));
  (void)id;
  return {};
}

void record_event(const Session &session, state::Store &store, event::Event event) {
  if (auto recorded = record_event(store, std::move(event)); !recorded) {
    session.events.notice("notice: " + recorded.error().message);
  }
}

namespace {

/// A node's event from a runtime's, its lab and node from ltb's labels; nullopt without them.
std::optional<event::Event> node_event(const std::map<std::string, std::string> &labels,
                                       std::int64_t time_ns, event::Action action,
                                       const char *source) {
  auto lab = labels.find(plan::k_label_lab);
  auto node = labels.find(plan::k_label_node);
  if (lab == labels.end() || node == labels.end()) {
    return std::nullopt;
  }
  event::Event out;
  out.time_ns = time_ns;
  out.lab = lab->second;
  out.type = event::Type::node;
  out.action = action;
  out.object = node->second;
  out.attributes["source"] = source;
  return out;
}

/// The node event of a container's, with its lab and node from ltb's labels; nullopt without.
std::optional<event::Event> container_event(const runtime::ContainerEvent &e,
                                            event::Action action) {
  auto made = node_event(e.attributes, e.time_ns, action, event::k_source_docker);
  if (!made) {
    return std::nullopt;
  }
  auto &out = *made;
  if (auto name = e.attributes.find("name"); name != e.attributes.end()) {
    out.attributes["container"] = name->second;
  }
  if (auto code = e.attributes.find("exitCode"); code != e.attributes.end()) {
    out.attributes["exit_code"] = code->second;
  }
  return out;
}

} // namespace

namespace {

bool is_sigkill(const runtime::ContainerEvent &e) {
  auto signal = e.attributes.find("signal");
  return signal != e.attributes.end() &&
         (signal->second == "9" || signal->second == "SIGKILL" || signal->second == "KILL");
}

} // namespace

std::vector<event::Event> ContainerEventMapper::feed(const runtime::ContainerEvent &e,
                                                     std::int64_t now_ns) {
  std::vector<event::Event> out = due(now_ns);
  if (e.action == "start" || e.action == "restart") {
    m_stopping.erase(e.id);
    if (auto started = container_event(e, event::Action::started)) {
      out.push_back(std::move(*started));
    }
  } else if (e.action == "kill") {
    // The SIGKILL that ends a grace period keeps the stop signal's mark.
    if (!is_sigkill(e)) {
      m_stopping[e.id] = now_ns;
    }
  } else if (e.action == "die") {
    auto stopping = m_stopping.find(e.id);
    const bool stop_in_progress =
        stopping != m_stopping.end() && now_ns - stopping->second <= k_stopping_ns;
    if (stopping != m_stopping.end()) {
      m_stopping.erase(stopping);
    }
    if (auto died = container_event(e, event::Action::died)) {
      if (stop_in_progress) {
        m_held.push_back({e.id, now_ns + k_hold_ns, std::move(*died)});
      } else {
        out.push_back(std::move(*died));
      }
    }
  } else if (e.action == "stop") {
    m_stopping.erase(e.id);
    auto held =
        std::find_if(m_held.begin(), m_held.end(), [&](const Held &h) { return h.id == e.id; });
    if (held != m_held.end()) {
      auto stopped = std::move(held->event);
      m_held.erase(held);
      stopped.action = event::Action::stopped;
      out.push_back(std::move(stopped));
    } else if (auto stopped = container_event(e, event::Action::stopped)) {
      out.push_back(std::move(*stopped));
    }
  } else if (e.action == "destroy") {
    m_stopping.erase(e.id);
  }
  return out;
}

std::vector<event::Event> ContainerEventMapper::due(std::int64_t now_ns) {
  std::vector<event::Event> out;
  for (auto it = m_held.begin(); it != m_held.end();) {
    if (it->until <= now_ns) {
      out.push_back(std::move(it->event));
      it = m_held.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::optional<event::Event> vm_event(const runtime::VmEvent &e) {
  event::Action action = event::Action::started;
  if (e.event == "started") {
    action = event::Action::started;
  } else if (e.event == "stopped") {
    action = e.detail == "crashed" || e.detail == "failed" ? event::Action::died
                                                           : event::Action::stopped;
  } else if (e.event == "crashed") {
    action = event::Action::died;
  } else {
    return std::nullopt;
  }
  auto made = node_event(e.metadata, e.time_ns, action, event::k_source_libvirt);
  if (!made) {
    return std::nullopt;
  }
  auto &out = *made;
  out.attributes["domain"] = e.name;
  if (!e.detail.empty()) {
    out.attributes["detail"] = e.detail;
  }
  return out;
}

namespace {
/// The host's namespace as a LinkWatch key ("LAB/NODE" are the nodes').
constexpr const char *k_host_netns = "host";

/// `lab`, or every recorded lab's name when it is "".
Result<std::vector<std::string>> lab_names(state::Store &store, const std::string &lab) {
  if (!lab.empty()) {
    return std::vector<std::string>{lab};
  }
  LTB_TRY(all, store.labs());
  std::vector<std::string> labs;
  for (const auto &record : all) {
    labs.push_back(record.name);
  }
  return labs;
}
} // namespace

Result<LinkWatch> link_watch(state::Store &store, runtime::ContainerRuntime &containers,
                             const std::string &lab) {
  LTB_TRY(labs, lab_names(store, lab));
  LinkWatch watch;
  bool host = false;
  for (const auto &name : labs) {
    LTB_TRY(nodes, store.nodes(name));
    std::map<std::string, std::string> keys; // node -> namespace key, for running containers
    std::set<std::string> vms;
    std::set<std::string> bridges;
    for (const auto &node : nodes) {
      if (node.runtime == state::k_runtime_vm) {
        vms.insert(node.name);
        continue;
      }
      if (node.runtime == state::k_runtime_bridge) {
        bridges.insert(node.name);
        continue;
      }
      if (node.runtime != state::k_runtime_container) {
        continue;
      }
      auto info = containers.inspect_container(
          node.runtime_id.empty() ? plan::container_name(name, node.name) : node.runtime_id);
      if (!info || info->state != "running" || info->pid <= 0) {
        continue; // gone or stopped: nothing to watch until it starts
      }
      const auto key = name + "/" + node.name;
      keys[node.name] = key;
      watch.namespaces.push_back({key, info->pid});
    }
    LTB_TRY(links, store.links(name));
    for (const auto &link : links) {
      for (const auto &[node, iface] :
           {std::pair{link.a_node, link.a_iface}, std::pair{link.b_node, link.b_iface}}) {
        if (auto key = keys.find(node); key != keys.end()) {
          watch.ends[{key->second, iface}] = {name, link.name, node, iface};
        } else if (vms.count(node)) {
          // A VM's NIC is a tap in the host's namespace, with carrier while QEMU holds it; on a
          // segment its own (joined to the port), or the port itself where an older ltb wired it.
          const LinkEnd end{name, link.name, node, iface};
          watch.ends[{k_host_netns, plan::host_veth_name(name, link.key, node)}] = end;
          if (bridges.count(node == link.a_node ? link.b_node : link.a_node)) {
            watch.ends[{k_host_netns, plan::segment_node_veth_name(name, link.key, node)}] = end;
          }
          host = true;
        }
      }
    }
  }
  if (host) {
    watch.namespaces.push_back({k_host_netns, 0});
  }
  return watch;
}

void LinkEventMapper::set_ends(std::map<std::pair<std::string, std::string>, LinkEnd> ends) {
  for (auto it = m_carrier.begin(); it != m_carrier.end();) {
    auto end = ends.find(it->first);
    auto old = m_ends.find(it->first);
    const bool same = end != ends.end() && old != m_ends.end() && end->second == old->second;
    it = same ? std::next(it) : m_carrier.erase(it);
  }
  m_ends = std::move(ends);
}

bool LinkEventMapper::link_up(const LinkEnd &end) const {
  for (const auto &[where, other] : m_ends) {
    if (other.lab == end.lab && other.link == end.link) {
      auto carrier = m_carrier.find(where);
      if (carrier != m_carrier.end() && !carrier->second) {
        return false;
      }
    }
  }
  return true;
}

std::optional<event::Event> LinkEventMapper::feed(const net::CarrierReport &report,
                                                  std::int64_t now_ns) {
  const std::pair where{report.netns, report.ifname};
  auto end = m_ends.find(where);
  if (end == m_ends.end()) {
    return std::nullopt;
  }
  const std::pair link{end->second.lab, end->second.link};
  auto seen = m_carrier.find(where);
  const bool first = seen == m_carrier.end();
  if (!first && seen->second == report.carrier) {
    return std::nullopt; // another flag changed
  }
  m_carrier[where] = report.carrier;
  const bool up = link_up(end->second);
  auto shown = m_up.find(link);
  if (first || shown == m_up.end()) {
    m_up[link] = up; // the first word of an end is its state then, not a change
    return std::nullopt;
  }
  if (shown->second == up) {
    return std::nullopt; // the other end went down too, or one end of a down link came back
  }
  shown->second = up;
  event::Event out;
  out.time_ns = now_ns;
  out.lab = end->second.lab;
  out.type = event::Type::link;
  out.action = up ? event::Action::up : event::Action::down;
  out.object = end->second.link;
  out.attributes = {{"node", end->second.node},
                    {"iface", end->second.iface},
                    {"source", event::k_source_netlink}};
  return out;
}

bool Deduplicator::pass(const event::Event &e, std::int64_t now_ns) {
  for (auto it = m_seen.begin(); it != m_seen.end();) {
    it = now_ns - it->second.at > k_window_ns ? m_seen.erase(it) : std::next(it);
  }
  auto source = e.attributes.count("source") ? e.attributes.at("source") : std::string();
  auto key = fmt::format("{}\n{}\n{}\n{}", e.lab, event::to_string(e.type),
                         event::to_string(e.action), e.object);
  auto seen = m_seen.find(key);
  if (seen != m_seen.end() && seen->second.source != source) {
    return false;
  }
  m_seen[key] = {now_ns, source};
  return true;
}

Result<std::vector<event::Event>> initial_events(const Session &session, state::Store &store,
                                                 const std::string &lab) {
  LTB_TRY(labs, lab_names(store, lab));
  std::vector<event::Event> out;
  for (const auto &name : labs) {
    LTB_TRY(record, store.lab(name));
    if (!record || !may_act(session.caller, record->owner)) {
      continue;
    }
    LTB_TRY(status, status_lab(session, name));
    const auto now = event::now_ns();
    for (const auto &node : status.nodes) {
      event::Event e;
      e.time_ns = now;
      e.lab = name;
      e.type = event::Type::node;
      e.action = node.state == "running" ? event::Action::started : event::Action::stopped;
      e.object = node.record.name;
      e.attributes = {
          {"state", node.state}, {"kind", node.record.kind}, {"source", event::k_source_state}};
      out.push_back(std::move(e));
    }
    LTB_TRY(links, store.links(name));
    for (const auto &link : links) {
      event::Event e;
      e.time_ns = now;
      e.lab = name;
      e.type = event::Type::link;
      e.action = link.status == state::RecordStatus::up ? event::Action::up : event::Action::down;
      e.object = link.name;
      e.attributes = {{"state", state::to_string(link.status)},
                      {"a", link.a_node + ":" + link.a_iface},
                      {"b", link.b_node + ":" + link.b_iface},
                      {"source", event::k_source_state}};
      out.push_back(std::move(e));
    }
  }
  return out;
}

namespace {

/// What the sources' threads hand to the follow loop.
class Inbox {
public:
  void push(runtime::ContainerEvent e) {
    {
      std::lock_guard lock(m_mutex);
      m_containers.push_back(std::move(e));
    }
    m_changed.notify_one();
  }
  /// An event mapped by its source's thread already.
  void push(event::Event e) {
    {
      std::lock_guard lock(m_mutex);
      m_events.push_back(std::move(e));
    }
    m_changed.notify_one();
  }
  /// Waits up to `timeout` for something, then takes everything there is.
  std::pair<std::deque<runtime::ContainerEvent>, std::deque<event::Event>>
  take(std::chrono::milliseconds timeout) {
    std::unique_lock lock(m_mutex);
    m_changed.wait_for(lock, timeout, [&] { return !m_containers.empty() || !m_events.empty(); });
    std::pair<std::deque<runtime::ContainerEvent>, std::deque<event::Event>> out;
    out.first.swap(m_containers);
    out.second.swap(m_events);
    return out;
  }

private:
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::deque<runtime::ContainerEvent> m_containers;
  std::deque<event::Event> m_events;
};

/// A source that is watched on a thread of its own: `watch(stop, listening)` runs until stopped;
/// when it returns early (the source broke), a notice says so and it runs again a second later.
class SourceThread {
public:
  using Watch =
      std::function<Status(const std::atomic<bool> &stop, const std::function<void()> &listening)>;
  SourceThread(const Session &session, std::string what, Watch watch)
      : m_thread([this, &session, what = std::move(what), watch = std::move(watch)] {
          auto listening = [this] {
            {
              std::lock_guard lock(m_mutex);
              m_listening = true;
            }
            m_changed.notify_all();
          };
          while (!m_stop.load()) {
            auto watched = watch(m_stop, listening);
            if (m_stop.load()) {
              break;
            }
            session.events.notice(
                fmt::format("notice: {}: {}; trying again in a second", what,
                            watched ? std::string("the stream ended") : watched.error().message));
            listening(); // nobody waits for a broken source
            for (int i = 0; i < 10 && !m_stop.load(); ++i) {
              std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
          }
        }) {}
  SourceThread(const SourceThread &) = delete;
  SourceThread &operator=(const SourceThread &) = delete;
  ~SourceThread() {
    m_stop.store(true);
    m_thread.join();
  }
  /// Waits (up to `timeout`) until the source listens.
  void wait_listening(std::chrono::milliseconds timeout) {
    std::unique_lock lock(m_mutex);
    m_changed.wait_for(lock, timeout, [&] { return m_listening; });
  }

private:
  std::atomic<bool> m_stop{false};
  std::mutex m_mutex;
  std::condition_variable m_changed;
  bool m_listening = false;
  std::thread m_thread; // last: starts after the members it uses
};

/// The namespaces and ends the netlink thread is to watch, handed over by the follow loop.
class LinkWatchSlot {
public:
  void offer(LinkWatch watch) {
    std::lock_guard lock(m_mutex);
    if (!m_pending && watch == m_offered) {
      return;
    }
    m_offered = watch;
    m_pending = std::move(watch);
  }
  std::optional<LinkWatch> take() {
    std::lock_guard lock(m_mutex);
    auto out = std::move(m_pending);
    m_pending.reset();
    return out;
  }

private:
  std::mutex m_mutex;
  LinkWatch m_offered;
  std::optional<LinkWatch> m_pending;
};

bool recorded_lab(state::Store &store, const std::string &lab) {
  auto record = store.lab(lab);
  return record && *record;
}

/// Labs whose containers ltb itself is changing (`ltb up` recreating, `ltb down` removing): a
/// container's death there is ltb's doing, reported by its own events.
bool changed_by_ltb(state::Store &store, const std::string &lab) {
  auto record = store.lab(lab);
  if (!record || !*record) {
    return false;
  }
  const auto status = (*record)->status;
  return status == state::RecordStatus::deploying || status == state::RecordStatus::removing;
}

} // namespace

Status follow_events(const Session &session, const FollowRequest &request, FollowSources &sources,
                     const std::function<bool(const event::Event &)> &emit_all,
                     const std::function<void()> &ready) {
  if (!sources.store) {
    return fail("cannot follow events without the state file", "this is a bug in ltb");
  }
  auto &store = *sources.store;
  const auto *cancelled = session.cancel.watch();
  // Only events of labs the caller may see, by the names the caller sees. A lab's owner is read
  // when one of its events first comes (labs are made while this runs); its id tells it when the
  // lab is gone already.
  std::map<std::string, bool> may_see;
  auto owned = [&](const event::Event &e) {
    if (session.caller.admin) {
      return true;
    }
    auto known = may_see.find(e.lab);
    if (known == may_see.end()) {
      std::string owner = lab_id_owner(e.lab);
      if (auto lab = store.lab(e.lab); lab && *lab) {
        owner = (*lab)->owner;
      }
      known = may_see.emplace(e.lab, may_act(session.caller, owner)).first;
    }
    return known->second;
  };
  const std::function<bool(const event::Event &)> emit = [&](const event::Event &e) {
    if (!owned(e)) {
      return true;
    }
    auto shown = e;
    shown.lab = lab_shown(session.caller, e.lab);
    return emit_all(shown);
  };
  // Everything from this instant on is followed; the initial state is read after it, so that a
  // change in between shows twice at worst, never not at all.
  LTB_TRY(last_id, store.last_event_id());
  const auto start_ns = event::now_ns();
  Inbox inbox;
  std::optional<SourceThread> docker;
  if (sources.docker) {
    // Docker delivers the events of containers that change at once slightly out of time order
    // (two starts 0.2 ms apart came newest first), so none is dropped for being older than the
    // last one. Connected again after a break (dockerd restarted), it replays from a second
    // before the newest event seen, and skips what it delivered already.
    docker.emplace(
        session, "Docker's events",
        [&sources, &inbox,
         labels = std::map<std::string, std::string>{{plan::k_label_lab, request.lab}},
         start = start_ns, newest = start_ns,
         seen = std::set<std::pair<std::int64_t, std::string>>()](
            const std::atomic<bool> &stop, const std::function<void()> &) mutable {
          constexpr std::int64_t k_replay_ns = 1'000'000'000;
          return sources.docker->watch(
              labels, std::max(start, newest - k_replay_ns),
              [&](const runtime::ContainerEvent &e) {
                if (e.time_ns < start || !seen.insert({e.time_ns, e.id + e.action}).second) {
                  return;
                }
                newest = std::max(newest, e.time_ns);
                while (!seen.empty() && seen.begin()->first < newest - 2 * k_replay_ns) {
                  seen.erase(seen.begin());
                }
                inbox.push(e);
              },
              stop);
        });
  }
  std::optional<SourceThread> libvirt;
  if (sources.libvirt) {
    std::map<std::string, std::string> metadata{{plan::k_label_lab, request.lab}};
    libvirt.emplace(session, "libvirt's domain events",
                    [&sources, &inbox, metadata](const std::atomic<bool> &stop,
                                                 const std::function<void()> &listening) {
                      return sources.libvirt->watch(
                          metadata,
                          [&inbox](const runtime::VmEvent &e) {
                            if (auto mapped = vm_event(e)) {
                              inbox.push(std::move(*mapped));
                            }
                          },
                          stop, listening);
                    });
    libvirt->wait_listening(std::chrono::seconds(5));
  }
  std::optional<LinkWatchSlot> link_slot;
  std::optional<SourceThread> netlink;
  auto rewatched = std::chrono::steady_clock::now();
  auto rewatch = [&] {
    rewatched = std::chrono::steady_clock::now();
    auto watch = link_watch(store, *sources.containers, request.lab);
    if (!watch) {
      session.events.notice("notice: links' carrier: " + watch.error().message);
      return;
    }
    link_slot->offer(std::move(*watch));
  };
  if (sources.netlink && sources.containers) {
    link_slot.emplace();
    rewatch();
    netlink.emplace(
        session, "netlink's link notifications",
        [&sources, &inbox, &link_slot](const std::atomic<bool> &stop,
                                       const std::function<void()> &listening) -> Status {
          LinkEventMapper mapper;
          LinkWatch watching;
          while (!stop.load()) {
            if (auto next = link_slot->take()) {
              watching = std::move(*next);
            }
            mapper.set_ends(watching.ends);
            // New ends in the same namespaces need no new sockets; new namespaces do.
            auto again = [&] {
              auto next = link_slot->take();
              if (!next) {
                return false;
              }
              const bool renew = next->namespaces != watching.namespaces;
              watching = std::move(*next);
              mapper.set_ends(watching.ends);
              return renew;
            };
            LTB_CHECK(sources.netlink->watch(
                watching.namespaces,
                [&](const net::CarrierReport &report) {
                  if (auto e = mapper.feed(report, event::now_ns())) {
                    inbox.push(std::move(*e));
                  }
                },
                [](const std::string &, const std::string &) {
                  // Its process ended since: the node's next start watches it again.
                },
                stop, again, listening));
          }
          return {};
        });
    netlink->wait_listening(std::chrono::seconds(5));
  }
  Deduplicator dedup;
  bool open = true;
  auto send = [&](const event::Event &e) {
    if (open && dedup.pass(e, event::now_ns())) {
      open = emit(e);
    }
  };
  if (request.initial_state) {
    LTB_TRY(initial, initial_events(session, store, request.lab));
    for (const auto &e : initial) {
      send(e);
    }
  }
  if (ready) {
    ready();
  }
  ContainerEventMapper mapper;
  const auto poll = std::chrono::milliseconds(std::max(1, request.poll_ms));
  while (open && !cancelled->load()) {
    // Held "die"s are due within the hold: wait no longer than that when holding one.
    auto wait = mapper.holding() ? std::min(poll, std::chrono::milliseconds(10)) : poll;
    std::vector<event::Event> batch;
    auto [containers, mapped] = inbox.take(wait);
    for (auto &container : containers) {
      for (auto &e : mapper.feed(container, event::now_ns())) {
        batch.push_back(std::move(e));
      }
    }
    for (auto &e : mapped) {
      batch.push_back(std::move(e));
    }
    for (auto &e : mapper.due(event::now_ns())) {
      batch.push_back(std::move(e));
    }
    bool nodes_changed = false;
    for (auto &e : batch) {
      nodes_changed = nodes_changed ||
                      (e.type == event::Type::node &&
                       (e.action == event::Action::started || e.action == event::Action::created ||
                        e.action == event::Action::recreated));
      // A container's death or a link's loss of carrier while ltb deploys or removes the lab
      // is ltb's doing.
      const bool netlink_link = e.type == event::Type::link;
      if ((e.action == event::Action::died || netlink_link) && changed_by_ltb(store, e.lab)) {
        continue;
      }
      // Every lab is every lab of this state file: the runtimes also report the labs of other
      // state files (other users, tests) that carry ltb's labels.
      if (request.lab.empty() && !recorded_lab(store, e.lab)) {
        continue;
      }
      send(e);
    }
    auto rows = store.events_after(last_id, request.lab);
    if (!rows) {
      session.events.notice("notice: " + rows.error().message);
      continue;
    }
    for (const auto &row : *rows) {
      last_id = row.id;
      if (auto e = event_of(row)) {
        nodes_changed =
            nodes_changed || e->type == event::Type::node || e->type == event::Type::link;
        send(*e);
      }
    }
    if (link_slot && (nodes_changed || std::chrono::steady_clock::now() - rewatched >=
                                           std::chrono::milliseconds(sources.rewatch_ms))) {
      rewatch();
    }
  }
  return {};
}

Status follow_events(const Session &session, const FollowRequest &given,
                     const std::function<bool(const event::Event &)> &emit,
                     const std::function<void()> &ready) {
  LTB_TRY(store, open_store(session.context));
  auto request = given;
  if (!request.lab.empty()) {
    LTB_TRY(id, resolve_lab_id(*store, session.caller, request.lab));
    request.lab = id;
    LTB_TRY(lab, store->lab(request.lab));
    if (!lab) {
      session.events.notice(fmt::format("notice: no lab named '{}' yet; its events show from when "
                                        "it is deployed",
                                        given.lab));
    }
  }
  FollowSources sources;
  sources.store = store.get();
  auto docker = runtime::connect_docker_events();
  if (docker) {
    sources.docker = docker->get();
  } else {
    session.events.notice("notice: Docker does not answer, so containers starting, stopping and "
                          "dying do not show: " +
                          docker.error().message);
  }
  // Link carrier needs the nodes' namespaces, so Docker's inspect as well.
  auto link_events = net::make_link_events();
  auto containers = runtime::connect_docker();
  if (containers) {
    sources.netlink = link_events.get();
    sources.containers = containers->get();
  }
  auto libvirt = runtime::connect_libvirt_events();
  if (libvirt) {
    sources.libvirt = libvirt->get();
  } else {
    session.events.notice("notice: libvirt does not answer, so VMs starting, stopping and dying "
                          "do not show: " +
                          libvirt.error().message);
  }
  return follow_events(session, request, sources, emit, ready);
}

} // namespace ltb::service
