#pragma once
// Node and link drivers: what differs per runtime (container, vm, bridge) and per kind of link
// (veth, tap+redirect, OVS port, host veth, macvlan, dummy, vxlan, vxlan-stitch) lives here, one
// implementation each, registered in one table (node_driver(), link_driver()). The runner in
// apply.cpp only dispatches, records progress and settles nodes. Files here may include
// apply/backends.hpp, event/progress.hpp, plan/, state/, runtime/, net/, topology/, access/ and
// util/; never cli/ or apply.hpp's runner.

#include "apply/backends.hpp"
#include "event/progress.hpp"
#include "plan/plan.hpp"
#include "state/store.hpp"
#include "topology/model.hpp"

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ltb::apply {

using event::Phase;
using event::Progress;

/// What a run remembers while actions run. Its mutex is a leaf: Book calls nothing outside
/// itself (it holds no store, backend or progress), so no other lock is ever taken while it is
/// held, and the state file's lock can never be waited for under it (the deadlock of e12b0fd
/// cannot come back by a misplaced call).
class Book {
public:
  explicit Book(std::map<std::string, int> pending) : m_pending(std::move(pending)) {}

  struct ContainerRef {
    std::string id;
    int pid = 0;
  };

  /// A just-made node is "running" only once its links and exec commands are done too; until
  /// then it stays "created" (and is kept to be settled later), so that a run killed in between
  /// redoes them.
  void settle(state::NodeRecord &record) {
    std::lock_guard lock(m_mutex);
    if (m_pending[record.name] > 1) {
      record.status = state::RecordStatus::created;
      m_unsettled[record.name] = record;
    } else {
      record.status = state::RecordStatus::running;
    }
  }

  /// What became of one node when an action of it ended.
  struct Ended {
    std::string node;
    bool failed_now = false; // first failure of the node: report `detail`
    std::string detail;
    bool last = false;                       // its last action ended and it has not failed
    std::optional<state::NodeRecord> settle; // record to write as "running" (then report)
  };

  /// Counts down the nodes of an action that ended. The caller writes the records and reports.
  std::vector<Ended> end(const std::vector<std::string> &nodes, bool done,
                         const std::string &detail) {
    std::lock_guard lock(m_mutex);
    std::vector<Ended> out;
    for (const auto &node : nodes) {
      Ended ended{node, false, {}, false, std::nullopt};
      if (!done && !m_failed.count(node)) {
        m_failed.insert(node);
        ended.failed_now = true;
        ended.detail = detail;
      }
      if (--m_pending[node] == 0 && !m_failed.count(node)) {
        ended.last = true;
        if (auto it = m_unsettled.find(node); it != m_unsettled.end()) {
          it->second.status = state::RecordStatus::running;
          ended.settle = it->second;
        }
      }
      out.push_back(std::move(ended));
    }
    return out;
  }

  /// Marks a node failed; false when it had failed already.
  bool mark_failed(const std::string &node) {
    std::lock_guard lock(m_mutex);
    return m_failed.insert(node).second;
  }
  bool failed(const std::string &node) const {
    std::lock_guard lock(m_mutex);
    return m_failed.count(node) > 0;
  }

  void set_container(const std::string &node, ContainerRef ref) {
    std::lock_guard lock(m_mutex);
    m_containers[node] = std::move(ref);
  }
  std::optional<ContainerRef> container(const std::string &node) const {
    std::lock_guard lock(m_mutex);
    auto it = m_containers.find(node);
    return it == m_containers.end() ? std::nullopt : std::optional(it->second);
  }
  void set_vm(const std::string &node, const std::string &uuid) {
    std::lock_guard lock(m_mutex);
    m_vms[node] = uuid;
  }
  std::optional<std::string> vm(const std::string &node) const {
    std::lock_guard lock(m_mutex);
    auto it = m_vms.find(node);
    return it == m_vms.end() ? std::nullopt : std::optional(it->second);
  }

  /// The one pull (or presence check) of an image in this run: `mine` says whether the caller
  /// must fulfil `promise`; everyone waits on the returned future (outside the lock).
  std::shared_future<Status> image(const std::string &image, std::promise<Status> &promise,
                                   bool &mine) {
    std::lock_guard lock(m_mutex);
    auto it = m_images.find(image);
    mine = it == m_images.end();
    if (mine) {
      it = m_images.emplace(image, promise.get_future().share()).first;
    }
    return it->second;
  }

private:
  mutable std::mutex m_mutex;
  std::map<std::string, int> m_pending;
  std::set<std::string> m_failed;
  std::map<std::string, state::NodeRecord> m_unsettled;
  std::map<std::string, ContainerRef> m_containers;
  std::map<std::string, std::string> m_vms; // node -> domain uuid
  std::map<std::string, std::shared_future<Status>> m_images;
};

/// Everything an action of one run may use. Choices made once per run (the VM accelerator, the
/// OVS datapath) are made before any action starts, so that no action waits on another's lock.
struct Run {
  const plan::Plan &plan;
  const topology::Topology *desired; // null for `down`
  Backends &b;
  Progress &progress;
  const ApplyOptions &options;
  Book book;
  std::optional<Result<std::string>> auto_accel = {}; // when the plan creates VMs with accel: auto
  std::atomic<net::Datapath> datapath{net::Datapath::system};
  bool probe_datapath = false; // no setting and nothing recorded: fall back when system fails

  const topology::Node *node(const std::string &name) const {
    return desired ? desired->find_node(name) : nullptr;
  }
  /// The node's runtime: from the file, else from the state file's record.
  std::optional<topology::Runtime> runtime_of(const std::string &node) const;
  /// Moves a node's progress line, unless the node has failed.
  void phase(const std::string &node, Phase phase, const std::string &detail = {});
  Result<std::int64_t> record_object(state::ObjectType type, const std::string &name,
                                     const std::string &owner, const std::string &parent = {});
  /// Forgets recorded objects of a type and name (after the runtime object is gone).
  Status forget_objects(state::ObjectType type, const std::set<std::string> &names);
  /// Forgets the recorded objects of a type that belong to `owner` (a node, a link key).
  Status forget_owned(state::ObjectType type, const std::string &owner);
  /// Writes the node's record with a new status (and runtime id, when not empty).
  Status set_node_status(const std::string &node, state::RecordStatus status,
                         const std::string &runtime_id = {});

  std::map<std::string, topology::Runtime> recorded_runtimes = {}; // filled for `down`
  std::atomic<bool> relay_recorded{false}; // one action records the lab's relay
};

/// The host interface through which a host-joined link's end `node` is joined to the other end
/// (by tc redirects, or by the relay): for a point-to-point link the end's host veth or tap; for
/// a segment link (a VM's, or a container's in relay mode), the VM's tap or the container end's
/// veth peer (plan::segment_node_veth_name) or, for the bridge end, the peer of the bridge's
/// port (plan::host_veth_name of the bridge node).
std::string joined_host(const std::string &lab, const plan::PlannedLink &link,
                        const std::string &node);

/// Whether LINK is a VM's segment link wired by an ltb before VMs' segment NICs were taps of
/// ltb's: the domain's NIC is then the bridge port itself, made by libvirt (named
/// plan::host_veth_name of the VM end), and the VM has no joined tap. Such a link is kept as it
/// is until `ltb up` makes the VM again (plan::vm_config_hash changed).
bool legacy_vm_port(Run &run, const plan::PlannedLink &link);

/// For a legacy_vm_port link of a VM that just booted (libvirt made its port again, bare): puts
/// ltb's external_ids back on the port and, on the kernel path, what the record says was shaped
/// there (the frames the bridge sends to the VM). Nothing for any other link.
Status restore_legacy_vm_port(Run &run, const plan::PlannedLink &link);

/// Sets the impairment of the frames that `from` sends on a host-joined link (point to point,
/// or a joined segment link) through the lab's relay (net/relay.hpp), which starts, or
/// stops when it serves nothing more. The relay is recorded (state::ObjectType::relay) before it
/// can start.
Status set_relayed(Run &run, const plan::PlannedLink &link, const topology::Endpoint &from,
                   const net::Impairment &impairment);

/// Makes the relay's record say what runs: its pid, or no record when it serves nothing.
Status record_relay(Run &run);

/// Where links attach to a node.
struct Endpoint {
  enum class Kind { netns, tap, bridge };
  Kind kind = Kind::netns;
  int pid = 0;            // netns: a process in the node's network namespace
  std::string runtime_id; // container id, domain uuid or bridge name (recorded on links)
};

/// How a user reaches a node (exec, console, capture), for the front ends.
struct Access {
  enum class Exec { docker, ssh, none };
  Exec exec = Exec::none;
  bool console = false; // a serial console (libvirt)
  enum class Capture { netns, host_tap, ovs_mirror };
  Capture capture = Capture::netns;
};

class NodeDriver {
public:
  virtual ~NodeDriver() = default;
  virtual topology::Runtime runtime() const = 0;
  /// The type of the runtime object recorded in state: "container", "domain", "bridge".
  virtual state::ObjectType object_type() const = 0;
  /// Adds what runs for the lab's nodes of this runtime (found by labels, metadata or
  /// external_ids, not from state) to `observed`.
  virtual Status observe(Backends &b, const std::string &lab, plan::Observed &observed) = 0;
  /// The configuration hash recorded with the node and put on its runtime object: what,
  /// changed, means recreating it.
  virtual std::string config_hash(const topology::Topology &desired,
                                  const topology::Node &node) const = 0;
  /// Records, then makes the node (action: create_node, create_vm or create_bridge).
  virtual Status create(Run &run, const plan::Action &action) = 0;
  /// Removes the node, then forgets it.
  virtual Status remove(Run &run, const plan::Action &action) = 0;
  /// Runs the node's exec commands once its links are wired (run_exec actions).
  virtual Status configure(Run &run, const plan::Action &action) = 0;
  /// `ltb stop` (stop_node): stops the node and keeps it (a container's file system, a VM's
  /// domain and disk), after keeping what would die with it (a container's namespace with its link
  /// interfaces, see container.cpp); records it stopped.
  virtual Status stop(Run &run, const plan::Action &action) = 0;
  /// `ltb start` (start_node): starts a stopped node and gives it back its links as they were;
  /// records it running.
  virtual Status start(Run &run, const plan::Action &action) = 0;
  /// Where the node's links attach, for this run.
  virtual Result<Endpoint> endpoint(Run &run, const std::string &node) = 0;
  virtual Access access() const = 0;
};

/// The runtime a node record was made with (NodeRecord::runtime); none when unknown.
std::optional<topology::Runtime> recorded_runtime(const state::NodeRecord &record);

/// The driver of a runtime; one instance each for the whole process (drivers keep no state).
NodeDriver &node_driver(topology::Runtime runtime);

/// The kinds of links ltb builds.
enum class LinkType {
  veth,         // point to point between two containers: a veth pair, one end in each
  tap_redirect, // point to point with a VM end: taps (and a veth for a container end) joined by
                // tc redirects
  ovs_port,     // a segment: the link's host end is a port of the bridge node
  host_veth,    // a container to the host or a Linux bridge: a veth whose host end is named by
                // the file (a port of the bridge node's Linux bridge)
  // containerlab's device links (device_links.cpp): one device in a container
  macvlan,      // a macvlan interface on a host interface
  dummy,        // a dummy interface
  vxlan,        // a VXLAN interface, its tunnel in the host's namespace
  vxlan_stitch, // a VXLAN interface in the host's namespace, redirected to a veth into the node
};

class LinkDriver {
public:
  virtual ~LinkDriver() = default;
  virtual LinkType type() const = 0;
  /// Adds what exists of the lab's links of this type to `observed` (when asked for).
  virtual Status observe(Backends &b, const std::string &lab, plan::Observed &observed) = 0;
  /// Records, then wires the action's links: one point-to-point link, or every link of one
  /// bridge at once (one ovs-vsctl call).
  virtual Status create(Run &run, const plan::Action &action) = 0;
  /// Unwires them, then forgets them.
  virtual Status remove(Run &run, const plan::Action &action) = 0;
  /// Applies a link's settings (impairments: delay, loss, rate) once it is wired. None exist
  /// yet; the drivers accept the empty set.
  virtual Status configure(Run &run, const plan::PlannedLink &link) = 0;
};

LinkDriver &link_driver(LinkType type);

/// The type of a link: an action with a bridge node wires a segment; otherwise by its ends.
LinkType link_type(const Run &run, const plan::Action &action);

/// The type of a planned link: by its bridge end, else by its ends' runtimes.
LinkType link_type(const Run &run, const plan::PlannedLink &link);

/// A link's record, with the runtime ids of its ends when it is up.
state::LinkRecord link_record(Run &run, const plan::PlannedLink &link, state::RecordStatus status);

Error with_context(const std::string &what, Error error);

/// A link's impairments as net/ applies them.
net::Impairment to_net(const topology::Impairments &impairments);

} // namespace ltb::apply
