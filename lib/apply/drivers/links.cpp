// The link drivers: veth pairs between containers, taps joined by tc redirects for VM ends, and
// ports of an OVS bridge for segments.

#include "apply/drivers/driver.hpp"
#include "plan/names.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <functional>
#include <optional>

namespace ltb::apply {

namespace {

// --- impairments and carrier -------------------------------------------------------------------

/// An interface one of a link's settings is applied to.
struct Place {
  std::string iface;
  net::Netns ns = net::Netns::host();
};
/// Where the packets leaving one end of a link are shaped (the kernel path).
using EgressOf = std::function<Result<Place>(const topology::Endpoint &from)>;
/// The interfaces whose state is the link's carrier.
using CarrierOf = std::function<Result<std::vector<Place>>()>;

/// One direction through the lab's userspace relay (apply/drivers/relay.cpp).
Status relay_set(Run &run, const plan::PlannedLink &link, const topology::Endpoint &from,
                 const topology::Impairments &want) {
  return set_relayed(run, link, from, to_net(want));
}

/// Applies LINK's impairments and carrier once it is wired. FRESH: it was (re)wired just now, so
/// nothing is applied on its interfaces yet; otherwise only what differs from the record is
/// changed. In relay mode a point-to-point link's impairments go through the relay (which
/// carries every such link of the lab). Then the link's record says what is applied, and how.
bool is_vm(const Run &run, const std::string &node) {
  return run.runtime_of(node) == topology::Runtime::vm;
}

/// A segment link whose node end is host-joined to the bridge's port: the node's host interface
/// (a VM's tap, or in relay mode a container's veth peer) and the peer of the port are joined by
/// redirects, or by the relay while impaired. A VM's segment link always is (both directions
/// then shape on host interfaces); a container's only in relay mode (on the kernel path its
/// veth peer is the port, and it shapes what it sends inside its node).
bool joined_segment(const Run &run, const plan::PlannedLink &link) {
  return !link.bridge_node.empty() && (run.options.relay_mode || is_vm(run, link.container_end()));
}

Status apply_settings(Run &run, const plan::PlannedLink &link, bool fresh, const EgressOf &egress,
                      const CarrierOf &carrier) {
  // In relay mode every link is host-joined (point to point, or joined_segment).
  const bool relay = run.options.relay_mode;
  struct Direction {
    const topology::Endpoint &from;
    const topology::Impairments &want;
    const topology::Impairments &applied;
  };
  for (const Direction &d : {Direction{link.a, link.impair_a, link.applied_a},
                             Direction{link.b, link.impair_b, link.applied_b}}) {
    if (fresh ? d.want.empty() : d.want == d.applied) {
      continue;
    }
    if (relay) {
      LTB_CHECK(relay_set(run, link, d.from, d.want));
      continue;
    }
    auto context = [&](Error e) {
      return fail(with_context(fmt::format("link {}: impairments of the packets leaving {}:{}",
                                           link.name, d.from.node, d.from.iface),
                               std::move(e)));
    };
    auto place = egress(d.from);
    if (!place) {
      return context(place.error());
    }
    if (auto set = run.b.tc->set_impairment(place->iface, place->ns.fd(), to_net(d.want)); !set) {
      return context(set.error());
    }
  }
  if (fresh ? link.down : link.down != link.was_down) {
    LTB_TRY(places, carrier());
    for (const auto &place : places) {
      if (auto set = run.b.tc->set_link_state(place.iface, place.ns.fd(), !link.down); !set) {
        return fail(with_context(
            fmt::format("link {}: set {}", link.name, link.down ? "down" : "up"), set.error()));
      }
    }
  }
  // The lab's path, segments included: the next run and `ltb link set` keep it.
  return run.b.store->put_link_state(
      plan::settings_record(run.plan.lab, link, run.options.relay_mode ? "relay" : "kernel"));
}

/// Resolves a node's end as a network namespace (a container), or fails.
Result<net::Netns> netns_of(Run &run, const std::string &node) {
  const auto runtime = run.runtime_of(node).value_or(topology::Runtime::container);
  LTB_TRY(end, node_driver(runtime == topology::Runtime::external ? runtime
                                                                  : topology::Runtime::container)
                   .endpoint(run, node));
  return run.b.host->netns_of_pid(end.pid);
}

/// The links leave the lab's relay (they are rewired or go); its record follows.
Status leave_relay(Run &run, const std::vector<std::string> &keys) {
  if (run.options.lab_dir.empty()) {
    return {};
  }
  for (const auto &key : keys) {
    LTB_CHECK(run.b.relay->forget(run.options.lab_dir, key));
  }
  return record_relay(run);
}

/// Point-to-point links are unwired the same way whatever their ends: deleting each end inside a
/// container takes its peer along (the other end of a plain veth, or the end's host interface
/// of a host-joined link); a VM's taps go with the VM (remove_vm). A relayed link leaves the
/// lab's relay.
Status unwire_p2p(Run &run, const plan::Action &action) {
  const auto &link = run.plan.links.at(action.links.front());
  LTB_CHECK(leave_relay(run, {link.key}));
  for (const auto *end : {&link.a, &link.b}) {
    if (run.runtime_of(end->node) == topology::Runtime::vm) {
      continue;
    }
    auto ns = netns_of(run, end->node);
    if (!ns) {
      continue; // gone with its container
    }
    (void)run.b.netlink->delete_link(end->iface, ns->fd()); // absent: gone with its peer
  }
  return run.b.store->delete_link(run.plan.lab, link.key);
}

class VethDriver final : public LinkDriver {
public:
  LinkType type() const override { return LinkType::veth; }

  /// Host interfaces with the lab's prefixes (veth host ends, taps), for `down` without state.
  Status observe(Backends &b, const std::string &lab, plan::Observed &observed) override {
    for (const auto &prefix : {plan::veth_prefix(lab), plan::bridge_prefix(lab)}) {
      LTB_TRY(links, b.netlink->list_links(prefix));
      observed.host_links.insert(observed.host_links.end(), links.begin(), links.end());
    }
    return {};
  }

  Status create(Run &run, const plan::Action &action) override {
    const auto &link = run.plan.links.at(action.links.front());
    auto context = [&](Error e) { return fail(with_context("link " + link.name, std::move(e))); };
    LTB_CHECK(run.b.store->put_link(link_record(run, link, state::RecordStatus::creating)));
    auto ns_a = netns_of(run, link.a.node);
    auto ns_b = netns_of(run, link.b.node);
    if (!ns_a || !ns_b) {
      return context(!ns_a ? ns_a.error() : ns_b.error());
    }
    if (action.why == plan::Reason::rewire) {
      // Leftovers of an interrupted run, or the link's host-joined wiring (relay mode) before;
      // errors mean there was nothing to remove.
      LTB_CHECK(leave_relay(run, {link.key}));
      (void)run.b.netlink->delete_link(plan::host_veth_name(run.plan.lab, link.key, link.a.node));
      (void)run.b.netlink->delete_link(plan::host_veth_name(run.plan.lab, link.key, link.b.node));
      (void)run.b.netlink->delete_link(link.a.iface, ns_a->fd());
      (void)run.b.netlink->delete_link(link.b.iface, ns_b->fd());
    }
    auto created = run.b.netlink->create_veth({link.a.iface, ns_a->fd(), link.a.node},
                                              {link.b.iface, ns_b->fd(), link.b.node}, link.mtu);
    if (!created) {
      return context(created.error());
    }
    LTB_CHECK(settings(run, link, true));
    return run.b.store->put_link(link_record(run, link, state::RecordStatus::up));
  }

  Status remove(Run &run, const plan::Action &action) override { return unwire_p2p(run, action); }

  Status configure(Run &run, const plan::PlannedLink &link) override {
    return settings(run, link, false);
  }

private:
  /// Each end shapes what it sends, inside its node; a cable pulled is both ends down.
  static Status settings(Run &run, const plan::PlannedLink &link, bool fresh) {
    auto in_node = [&](const topology::Endpoint &end) -> Result<Place> {
      LTB_TRY(ns, netns_of(run, end.node));
      return Place{end.iface, std::move(ns)};
    };
    return apply_settings(run, link, fresh, in_node, [&]() -> Result<std::vector<Place>> {
      std::vector<Place> places;
      for (const auto *end : {&link.a, &link.b}) {
        LTB_TRY(place, in_node(*end));
        places.push_back(std::move(place));
      }
      return places;
    });
  }
};

/// A link with a VM end, and in relay mode every point-to-point link: each end is a host
/// interface (a VM's tap, or the host end of a veth whose other end is in the container), and
/// the two are joined by tc redirects, or by the lab's relay while the link is impaired. So an
/// impairment comes and goes at run time without touching the nodes.
class TapRedirectDriver final : public LinkDriver {
public:
  LinkType type() const override { return LinkType::tap_redirect; }

  // Its host interfaces carry the lab's veth prefix: the veth driver's observe finds them.
  Status observe(Backends &, const std::string &, plan::Observed &) override { return {}; }

  Status create(Run &run, const plan::Action &action) override {
    const auto &link = run.plan.links.at(action.links.front());
    auto context = [&](Error e) { return fail(with_context("link " + link.name, std::move(e))); };
    LTB_CHECK(run.b.store->put_link(link_record(run, link, state::RecordStatus::creating)));
    auto tap_of = [&](const topology::Endpoint &end) {
      return plan::host_veth_name(run.plan.lab, link.key, end.node);
    };
    if (action.why == plan::Reason::rewire) {
      LTB_CHECK(leave_relay(run, {link.key})); // settings() puts it back when it is impaired
    }
    for (const auto *end : {&link.a, &link.b}) {
      if (is_vm(run, end->node)) {
        if (action.why == plan::Reason::rewire) {
          // Its tap stays: what the kernel path shaped there goes (settings() applies anew).
          (void)run.b.tc->set_impairment(tap_of(*end), -1, net::Impairment{});
        }
        continue; // its tap is made with the VM
      }
      auto ns = netns_of(run, end->node);
      if (!ns) {
        return context(ns.error());
      }
      auto host = tap_of(*end);
      (void)run.b.netlink->delete_link(host);
      (void)run.b.netlink->delete_link(end->iface, ns->fd());
      auto created = run.b.netlink->create_veth({end->iface, ns->fd(), end->node},
                                                {host, -1, "host"}, link.mtu);
      if (!created) {
        return context(created.error());
      }
    }
    if (auto joined = run.b.host->redirect_pair(tap_of(link.a), tap_of(link.b)); !joined) {
      return context(joined.error());
    }
    LTB_CHECK(settings(run, link, true));
    return run.b.store->put_link(link_record(run, link, state::RecordStatus::up));
  }

  Status remove(Run &run, const plan::Action &action) override { return unwire_p2p(run, action); }

  Status configure(Run &run, const plan::PlannedLink &link) override {
    return settings(run, link, false);
  }

private:
  /// Both ends are host interfaces joined by redirects: what leaves one end is redirected out of
  /// the other end's host interface, so that egress shapes it. A cable pulled is both host
  /// interfaces down (the container's end then has no carrier).
  static Status settings(Run &run, const plan::PlannedLink &link, bool fresh) {
    auto host_of = [&](const topology::Endpoint &end) {
      return plan::host_veth_name(run.plan.lab, link.key, end.node);
    };
    auto egress = [&](const topology::Endpoint &from) -> Result<Place> {
      const auto &other = &from == &link.a ? link.b : link.a;
      return Place{host_of(other)};
    };
    return apply_settings(run, link, fresh, egress, [&]() -> Result<std::vector<Place>> {
      std::vector<Place> places;
      places.push_back(Place{host_of(link.a)});
      places.push_back(Place{host_of(link.b)});
      return places;
    });
  }
};

/// Every link of one bridge, wired in one ovs-vsctl call. A container end's veth peer is the
/// bridge's port; for a VM end, and for a container end in relay mode (joined_segment), it is
/// not: the port is one end of a second veth pair, whose other end is joined to the VM's tap or
/// the container's veth peer by redirects or by the relay, as a point-to-point link's host ends
/// are. The port keeps its name either way.
class OvsPortDriver final : public LinkDriver {
public:
  LinkType type() const override { return LinkType::ovs_port; }

  // Ports are observed with their bridges (the bridge driver), their peers by the lab's prefix.
  Status observe(Backends &, const std::string &, plan::Observed &) override { return {}; }

  Status create(Run &run, const plan::Action &action) override {
    const auto &lab = run.plan.lab;
    auto &store = *run.b.store;
    auto bridge = plan::bridge_name(lab, action.node);
    if (action.why == plan::Reason::rewire) {
      // Ports of an earlier wiring go first: removing a port after its new veth exists would take
      // the new interface down with it. A link relayed before leaves the relay (settings() puts
      // it back when it is impaired).
      std::vector<std::string> stale;
      for (const auto &key : action.links) {
        stale.push_back(host_of(run, run.plan.links.at(key)));
      }
      (void)run.b.ovs->del_ports(bridge, stale);
      LTB_CHECK(leave_relay(run, action.links));
    }
    std::vector<net::OvsPort> ports;
    std::vector<std::string> errors;
    std::vector<const plan::PlannedLink *> wired;
    std::map<std::string, std::int64_t> objects;
    for (const auto &key : action.links) {
      const auto &link = run.plan.links.at(key);
      const auto &end = link.a.node == action.node ? link.b : link.a;
      const bool joined = joined_segment(run, link);
      auto host = host_of(run, link);
      std::vector<std::string> names{host};
      if (joined) {
        if (!is_vm(run, end.node)) {
          names.push_back(joined_host(lab, link, end.node)); // a VM's tap is the VM's
        }
        names.push_back(joined_host(lab, link, action.node));
      }
      auto creating = link_record(run, link, state::RecordStatus::creating);
      LTB_CHECK(store.transaction([&]() -> Status {
        LTB_CHECK(store.put_link(creating));
        for (const auto &name : names) {
          LTB_TRY(id, run.record_object(state::ObjectType::veth, name, key, bridge));
          objects[name] = id;
        }
        return {};
      }));
      std::optional<net::Netns> ns;
      if (!is_vm(run, end.node)) {
        auto found = netns_of(run, end.node);
        if (!found) {
          errors.push_back(fmt::format("link {}: {}", link.name, found.error().message));
          continue;
        }
        ns = std::move(*found);
      }
      if (action.why == plan::Reason::rewire) {
        // Whichever way it was wired before (kernel or relay mode), nothing of it stays but a
        // VM's tap (its NIC, made with the VM): what the kernel path shaped on it goes.
        for (const auto &name : all_hosts(run, link)) {
          (void)run.b.netlink->delete_link(name);
        }
        if (ns) {
          (void)run.b.netlink->delete_link(end.iface, ns->fd());
        } else {
          (void)run.b.tc->set_impairment(joined_host(lab, link, end.node), -1, net::Impairment{});
        }
      }
      auto created = joined ? wire_joined(run, link, end, ns ? ns->fd() : -1, action.node)
                            : run.b.netlink->create_veth({end.iface, ns->fd(), end.node},
                                                         {host, -1, action.node}, link.mtu);
      if (!created) {
        errors.push_back(fmt::format("link {}: {}", link.name, created.error().message));
        continue;
      }
      ports.push_back({host, {{plan::k_ovs_lab, lab}, {plan::k_ovs_owner, key}}});
      wired.push_back(&link);
    }
    if (!ports.empty()) {
      if (auto added = run.b.ovs->add_ports(bridge, ports); !added) {
        return fail(with_context("bridge " + action.node, added.error()));
      }
    }
    std::vector<state::LinkRecord> records;
    for (const auto *link : wired) {
      LTB_CHECK(settings(run, *link, true));
      records.push_back(link_record(run, *link, state::RecordStatus::up));
    }
    LTB_CHECK(store.transaction([&]() -> Status {
      for (std::size_t i = 0; i < wired.size(); ++i) {
        LTB_CHECK(store.put_link(records[i]));
        for (const auto &name : all_hosts(run, *wired[i])) {
          if (auto it = objects.find(name); it != objects.end()) {
            LTB_CHECK(store.update_object(it->second, name, state::RecordStatus::created));
          }
        }
      }
      return {};
    }));
    if (!errors.empty()) {
      std::string message = errors.front();
      for (std::size_t i = 1; i < errors.size(); ++i) {
        message += "; " + errors[i];
      }
      return fail(message);
    }
    return {};
  }

  Status remove(Run &run, const plan::Action &action) override {
    auto bridge = plan::bridge_name(run.plan.lab, action.node);
    std::vector<std::string> ports;
    std::set<std::string> hosts;
    for (const auto &key : action.links) {
      const auto &link = run.plan.links.at(key);
      ports.push_back(host_of(run, link));
      for (const auto &name : all_hosts(run, link)) {
        hosts.insert(name);
      }
    }
    LTB_CHECK(leave_relay(run, action.links));
    if (run.b.ovs) {
      if (auto deleted = run.b.ovs->del_ports(bridge, ports); !deleted) {
        // Fine when the bridge is gone already; otherwise its ports stay recorded, so that the
        // next run removes them.
        auto bridges = run.b.ovs->bridges({{plan::k_ovs_lab, run.plan.lab}});
        if (!bridges || std::any_of(bridges->begin(), bridges->end(),
                                    [&](const auto &found) { return found.name == bridge; })) {
          return fail(with_context("bridge " + action.node, deleted.error()));
        }
      }
    }
    for (const auto &host : hosts) {
      if (auto deleted = run.b.netlink->delete_link(host); !deleted) {
        return fail(with_context("bridge " + action.node, deleted.error()));
      }
    }
    LTB_CHECK(run.forget_objects(state::ObjectType::veth, hosts));
    for (const auto &key : action.links) {
      LTB_CHECK(run.b.store->delete_link(run.plan.lab, key));
    }
    return {};
  }

  Status configure(Run &run, const plan::PlannedLink &link) override {
    return settings(run, link, false);
  }

private:
  /// A plain segment link (a container's, on the kernel path): the container end shapes what it
  /// sends inside its node, the port what the bridge sends to it; a cable pulled is the port
  /// down (the node's end then has no carrier). A joined one is impaired as a point-to-point
  /// link's host ends are (in the relay, or on the egress of the joined interface the frames
  /// leave by: the port's peer for what the node sends, the node's tap or veth peer for what the
  /// bridge sends), and pulled as they are: both joined interfaces down.
  static Status settings(Run &run, const plan::PlannedLink &link, bool fresh) {
    const auto &lab = run.plan.lab;
    const std::string port = host_of(run, link);
    if (joined_segment(run, link)) {
      LTB_CHECK(refuse_vm_port(run, link));
      auto egress = [&](const topology::Endpoint &from) -> Result<Place> {
        const auto &other = &from == &link.a ? link.b : link.a;
        return Place{joined_host(lab, link, other.node)};
      };
      return apply_settings(run, link, fresh, egress, [&]() -> Result<std::vector<Place>> {
        std::vector<Place> places;
        places.push_back(Place{joined_host(lab, link, link.container_end())});
        places.push_back(Place{joined_host(lab, link, link.bridge_node)});
        return places;
      });
    }
    auto egress = [&](const topology::Endpoint &from) -> Result<Place> {
      if (from.node == link.bridge_node) {
        return Place{port};
      }
      LTB_TRY(ns, netns_of(run, from.node));
      return Place{from.iface, std::move(ns)};
    };
    return apply_settings(run, link, fresh, egress, [&]() -> Result<std::vector<Place>> {
      std::vector<Place> places;
      places.push_back(Place{port});
      return places;
    });
  }

  /// A VM's segment link wired by an older ltb (legacy_vm_port): its NIC is the bridge port, so
  /// there is no host interface to shape what the VM sends, nor to relay.
  static Status refuse_vm_port(Run &run, const plan::PlannedLink &link) {
    if (!legacy_vm_port(run, link)) {
      return {};
    }
    return fail(fmt::format("link {}: VM {}'s NIC is the bridge port itself (wired by an older "
                            "ltb), so its impairments and carrier cannot be set",
                            link.name, link.container_end()),
                fmt::format("run `ltb up` on the lab file: VM {} is made again with its NIC on a "
                            "tap of ltb's, joined to the port",
                            link.container_end()));
  }

  /// The node's veth to its own peer (a VM's tap is there already, made with the VM), and the
  /// port to the peer joined with it.
  static Status wire_joined(Run &run, const plan::PlannedLink &link, const topology::Endpoint &end,
                            int netns_fd, const std::string &bridge_node) {
    const auto &lab = run.plan.lab;
    const auto node_side = joined_host(lab, link, end.node);
    const auto bridge_side = joined_host(lab, link, bridge_node);
    if (!is_vm(run, end.node)) {
      LTB_CHECK(run.b.netlink->create_veth({end.iface, netns_fd, end.node}, {node_side, -1, "host"},
                                           link.mtu));
    }
    LTB_CHECK(run.b.netlink->create_veth({host_of(run, link), -1, bridge_node},
                                         {bridge_side, -1, "host"}, link.mtu));
    return run.b.host->redirect_pair(node_side, bridge_side);
  }

  /// The port's name, in either mode.
  static std::string host_of(const Run &run, const plan::PlannedLink &link) {
    return plan::host_veth_name(run.plan.lab, link.key, link.container_end());
  }

  /// Every host interface the link may have, wired in kernel or in relay mode, but a VM's tap
  /// (the VM's NIC: it goes with the VM).
  static std::vector<std::string> all_hosts(const Run &run, const plan::PlannedLink &link) {
    const auto &lab = run.plan.lab;
    std::vector<std::string> hosts{host_of(run, link), joined_host(lab, link, link.bridge_node)};
    if (!is_vm(run, link.container_end())) {
      hosts.push_back(joined_host(lab, link, link.container_end()));
    }
    return hosts;
  }
};

} // namespace

net::Impairment to_net(const topology::Impairments &i) {
  net::Impairment out;
  out.delay_us = i.delay_us;
  out.jitter_us = i.jitter_us;
  out.loss_pct = i.loss_pct;
  out.corrupt_pct = i.corrupt_pct;
  out.duplicate_pct = i.duplicate_pct;
  out.reorder_pct = i.reorder_pct;
  out.rate_bps = i.rate_bps;
  return out;
}

bool legacy_vm_port(Run &run, const plan::PlannedLink &link) {
  if (link.bridge_node.empty() || !is_vm(run, link.container_end())) {
    return false;
  }
  auto tap = run.b.netlink->link_exists(joined_host(run.plan.lab, link, link.container_end()), -1);
  return tap && !*tap;
}

Status restore_legacy_vm_port(Run &run, const plan::PlannedLink &link) {
  if (!legacy_vm_port(run, link)) {
    return {};
  }
  const auto &lab = run.plan.lab;
  const auto port = plan::host_veth_name(lab, link.key, link.container_end());
  const std::vector<net::OvsPort> ports{
      {port, {{plan::k_ovs_lab, lab}, {plan::k_ovs_owner, link.key}}}};
  if (auto added = run.b.ovs->add_ports(plan::bridge_name(lab, link.bridge_node), ports); !added) {
    return fail(with_context("link " + link.name, added.error()));
  }
  const auto &toward_vm = link.a.node == link.bridge_node ? link.applied_a : link.applied_b;
  if (run.options.relay_mode || toward_vm.empty()) {
    return {};
  }
  if (auto set = run.b.tc->set_impairment(port, -1, to_net(toward_vm)); !set) {
    return fail(with_context("link " + link.name, set.error()));
  }
  return {};
}

LinkDriver &host_veth_driver();
LinkDriver &device_link_driver(LinkType type);

namespace {

/// The driver type of a device link (topology::LinkKind other than veth).
std::optional<LinkType> device_type(const plan::PlannedLink &link) {
  switch (link.kind) {
  case topology::LinkKind::macvlan:
    return LinkType::macvlan;
  case topology::LinkKind::dummy:
    return LinkType::dummy;
  case topology::LinkKind::vxlan:
    return LinkType::vxlan;
  case topology::LinkKind::vxlan_stitch:
    return LinkType::vxlan_stitch;
  case topology::LinkKind::veth:
    break;
  }
  return std::nullopt;
}

} // namespace

LinkDriver &link_driver(LinkType type) {
  static VethDriver veth;
  static TapRedirectDriver tap_redirect;
  static OvsPortDriver ovs_port;
  switch (type) {
  case LinkType::macvlan:
  case LinkType::dummy:
  case LinkType::vxlan:
  case LinkType::vxlan_stitch:
    return device_link_driver(type);
  case LinkType::host_veth:
    return host_veth_driver();
  case LinkType::veth:
    return veth;
  case LinkType::tap_redirect:
    return tap_redirect;
  case LinkType::ovs_port:
    break;
  }
  return ovs_port;
}

LinkType link_type(const Run &run, const plan::Action &action) {
  if (!action.node.empty()) {
    return LinkType::ovs_port;
  }
  const auto &link = run.plan.links.at(action.links.front());
  if (auto device = device_type(link)) {
    return *device;
  }
  if (!link.host_node.empty()) {
    return LinkType::host_veth;
  }
  return run.options.relay_mode || is_vm(run, link.a.node) || is_vm(run, link.b.node)
             ? LinkType::tap_redirect
             : LinkType::veth;
}

LinkType link_type(const Run &run, const plan::PlannedLink &link) {
  if (!link.bridge_node.empty()) {
    return LinkType::ovs_port;
  }
  if (auto device = device_type(link)) {
    return *device;
  }
  if (!link.host_node.empty()) {
    return LinkType::host_veth;
  }
  return is_vm(run, link.a.node) || is_vm(run, link.b.node) ? LinkType::tap_redirect
                                                            : LinkType::veth;
}

state::LinkRecord link_record(Run &run, const plan::PlannedLink &link, state::RecordStatus status) {
  auto id_of = [&](const std::string &node) -> std::string {
    if (status != state::RecordStatus::up) {
      return {};
    }
    auto runtime = run.runtime_of(node);
    if (!runtime) {
      return {};
    }
    auto end = node_driver(*runtime).endpoint(run, node);
    return end ? end->runtime_id : std::string();
  };
  state::LinkRecord record; // its impairments and carrier are put_link_state()'s
  record.lab = run.plan.lab;
  record.key = link.key;
  record.name = link.name;
  record.a_node = link.a.node;
  record.a_iface = link.a.iface;
  record.b_node = link.b.node;
  record.b_iface = link.b.iface;
  record.a_runtime_id = id_of(link.a.node);
  record.b_runtime_id = id_of(link.b.node);
  record.status = status;
  return record;
}

} // namespace ltb::apply
