#pragma once
// What happened to labs: recording ltb's own actions in the state file (every process that acts:
// ltb up, down, stop, capture, the scheduler) and following them together with Docker's, libvirt's
// and netlink's events for `ltb events` (and, later, a server's event stream).

#include "event/event.hpp"
#include "net/link_events.hpp"
#include "plan/plan.hpp"
#include "runtime/docker/docker.hpp"
#include "runtime/libvirt/libvirt.hpp"
#include "service/service.hpp"
#include "state/store.hpp"
#include "util/error.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ltb::service {

/// Records one of ltb's own actions so that every `ltb events` sees it. Fills in the time (when
/// 0) and the "source" attribute ("ltb", when not set). The state file keeps the newest
/// state::k_events_kept events.
Status record_event(state::Store &store, event::Event event);

/// The same, for a use case whose outcome must not depend on it: a failure to record becomes a
/// notice on the session's sink.
void record_event(const Session &session, state::Store &store, event::Event event);

/// The state file's row as an Event; nullopt for a type or action this ltb does not know (a
/// newer ltb wrote it).
std::optional<event::Event> event_of(const state::EventRecord &record);
state::EventRecord record_of(const event::Event &event);

/// The event of a plan's action that was done: a node created (new), recreated (with why) or
/// removed. A removal followed by the same node's creation in the plan is no event of its own
/// (the creation says "recreated"). nullopt for every other action.
std::optional<event::Event> action_event(const plan::Plan &plan, const plan::Action &action);

/// Drift that `ltb up` found and is about to repair: one "drift seen" per node whose container,
/// domain or bridge is missing, replaced or not running.
std::vector<event::Event> drift_events(const plan::Plan &plan);

/// Docker's container events as ltb's: start -> node started, die -> node died (exit_code), stop
/// -> node stopped; the rest (create, destroy, exec_*) is no event of its own (ltb records created
/// and removed itself). Docker reports a stop (`docker stop`, `ltb stop`) as kill (SIGTERM or the
/// image's stop signal), maybe kill (SIGKILL, after the grace period), die, then stop, the stop
/// up to some 100 ms after the die on a busy host; `docker kill` as kill (SIGKILL) and die, with
/// no stop. So a die after a kill with another signal than SIGKILL is held until the stop comes
/// (then one "stopped") or for k_hold_ns (then "died"); any other die is a death at once.
/// Events of containers without ltb's labels are dropped.
class ContainerEventMapper {
public:
  static constexpr std::int64_t k_hold_ns = 2'000'000'000;
  /// A stop signal older than this when the container dies was not what ended it.
  static constexpr std::int64_t k_stopping_ns = 300'000'000'000;
  /// The events ready after `e` arrived at `now_ns`.
  std::vector<event::Event> feed(const runtime::ContainerEvent &e, std::int64_t now_ns);
  /// The held events whose time is up at `now_ns`.
  std::vector<event::Event> due(std::int64_t now_ns);
  bool holding() const { return !m_held.empty(); }

private:
  struct Held {
    std::string id;
    std::int64_t until = 0;
    event::Event event;
  };
  std::vector<Held> m_held;
  std::map<std::string, std::int64_t> m_stopping; // container id -> when a stop signal was sent
};

/// libvirt's lifecycle event of an ltb VM as ltb's node event (source libvirt, attributes domain
/// and detail): started -> started; stopped by a shutdown, a save, a migration or a destroy (an
/// admin's or ltb's deliberate power-off) -> stopped; stopped as crashed or failed (QEMU died)
/// and crashed -> died. nullopt for the rest (a shutdown begun, suspended, resumed, defined,
/// undefined: the stop that follows says it) and for a domain without ltb's lab and node.
std::optional<event::Event> vm_event(const runtime::VmEvent &e);

/// A lab's link interface as netlink reports it: the link and the end (node, interface).
struct LinkEnd {
  std::string lab;
  std::string link; // the link's name as `ltb link list` shows it
  std::string node;
  std::string iface;
  bool operator==(const LinkEnd &) const = default;
};

/// What to watch for link carrier: the namespaces (each running container node's, keyed
/// "LAB/NODE", and the host's, keyed "host", for VMs' taps) and the link ends in them, by
/// (namespace key, interface name).
struct LinkWatch {
  std::vector<net::WatchedNetns> namespaces;
  std::map<std::pair<std::string, std::string>, LinkEnd> ends;
  bool operator==(const LinkWatch &) const = default;
};

/// The LinkWatch of `lab` ("" = every lab of the state file): the ends of every link whose node
/// is a running container, found by Docker's inspect of the node's container, or a VM (its tap).
Result<LinkWatch> link_watch(state::Store &store, runtime::ContainerRuntime &containers,
                             const std::string &lab);

/// Netlink's carrier reports as ltb's link events (source netlink, attributes node and iface:
/// the end whose carrier changed). A link is up while every end reported has carrier. The first
/// report of an end is its state then (no event); after that only a change of the link's state
/// is an event: a report that repeats the carrier (another flag changed) or the second end of a
/// link going down too is none.
class LinkEventMapper {
public:
  /// The ends to map from now on; what was seen of an end that stays is kept.
  void set_ends(std::map<std::pair<std::string, std::string>, LinkEnd> ends);
  std::optional<event::Event> feed(const net::CarrierReport &report, std::int64_t now_ns);

private:
  bool link_up(const LinkEnd &end) const;
  std::map<std::pair<std::string, std::string>, LinkEnd> m_ends;
  std::map<std::pair<std::string, std::string>, bool> m_carrier; // per end, as last reported
  std::map<std::pair<std::string, std::string>, bool> m_up;      // (lab, link) -> as last shown
};

/// Drops the second report of one thing from two sources (Docker's "stopped" and ltb's record of
/// `ltb stop`): the same lab, type, action and object within k_window_ns from another source.
class Deduplicator {
public:
  static constexpr std::int64_t k_window_ns = 2'000'000'000;
  /// False when `e` repeats an event passed at most k_window_ns before `now_ns`.
  bool pass(const event::Event &e, std::int64_t now_ns);

private:
  struct Seen {
    std::int64_t at = 0;
    std::string source;
  };
  std::map<std::string, Seen> m_seen;
};

/// One line per node and link of `lab` ("" = every lab) with its state now: node started
/// (state=running) or stopped (state=exited, missing, ...), link up or down; source "state".
Result<std::vector<event::Event>> initial_events(const Session &session, state::Store &store,
                                                 const std::string &lab);

struct FollowRequest {
  std::string lab; // "" = every lab of the state file (not another state file's, though the
                   // runtimes report those too)
  bool initial_state = false;
  int poll_ms = 25; // how often the state file is looked at for ltb's own events
};

/// Where followed events come from. The store is required (ltb's own events, and labs being
/// changed by ltb, whose containers' deaths are ltb's doing and not shown); the rest is optional.
struct FollowSources {
  state::Store *store = nullptr;
  runtime::ContainerEvents *docker = nullptr;
  runtime::VmEvents *libvirt = nullptr;
  /// Netlink's link notifications, with Docker's inspect to find the nodes' namespaces; both or
  /// neither.
  net::LinkEvents *netlink = nullptr;
  runtime::ContainerRuntime *containers = nullptr;
  /// How often the namespaces to watch are looked up again besides a node's start (ms).
  int rewatch_ms = 5000;
};

/// Streams events to `emit` as they happen, until the session's cancel token is set or `emit`
/// returns false: ltb's own (recorded by any process from the start on), Docker's, libvirt's,
/// netlink's (link carrier). With
/// request.initial_state the current state comes first. `ready` is called once every source
/// listens. Fails only when it cannot start; a source that breaks later is retried with a notice.
Status follow_events(const Session &session, const FollowRequest &request, FollowSources &sources,
                     const std::function<bool(const event::Event &)> &emit,
                     const std::function<void()> &ready = {});

/// follow_events() over the real sources: the session's state file, Docker and libvirt (when one
/// does not answer, a notice says what does not show, and the others' events still do).
Status follow_events(const Session &session, const FollowRequest &request,
                     const std::function<bool(const event::Event &)> &emit,
                     const std::function<void()> &ready = {});

} // namespace ltb::service
