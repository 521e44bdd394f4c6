// Device links: containerlab's link types macvlan, dummy, vxlan and vxlan-stitch. Each puts one
// device in the container at the link's end a; end b (`macvlan:PARENT`, `dummy:IFACE`,
// `vxlan:vniN`) is the implicit node of the type and has nothing of its own.
// - macvlan: a macvlan interface on PARENT, a host interface that must exist (as in containerlab).
// - dummy: a dummy interface.
// - vxlan: a VXLAN interface made from the host's namespace directly into the node's, so that the
//   tunnel's socket stays in the host's namespace (as containerlab's, made there and moved).
// - vxlan-stitch: the VXLAN interface in the host's namespace and a veth from the node to the
//   host, joined by tc redirects both ways (net::HostNet::redirect_pair).
// Every device is recorded (state::ObjectType::link_device, with its parameters) before it is
// made. The node's device goes with the node's namespace; the host's ones (vxlan-stitch) carry
// the lab's prefix (plan::host_veth_name), so that `ltb down` finds them even without state.

#include "apply/drivers/driver.hpp"
#include "plan/names.hpp"

#include <fmt/format.h>

namespace ltb::apply {

namespace {

using topology::LinkKind;

Result<net::Netns> node_netns(Run &run, const std::string &node) {
  LTB_TRY(end, node_driver(topology::Runtime::container).endpoint(run, node));
  return run.b.host->netns_of_pid(end.pid);
}

std::string where(const Run &run, const topology::SourceLoc &loc) {
  return fmt::format("{}:{}:{}", run.desired ? run.desired->file : std::string("<lab>"), loc.line,
                     loc.column);
}

/// The host's ends of a vxlan-stitch link: its VXLAN interface and the veth peer of the node's
/// interface.
std::string stitch_vxlan(const Run &run, const plan::PlannedLink &link) {
  return plan::host_veth_name(run.plan.lab, link.key, topology::to_string(link.kind));
}
std::string stitch_veth(const Run &run, const plan::PlannedLink &link) {
  return plan::host_veth_name(run.plan.lab, link.key, link.a.node);
}

/// Records a device of LINK before it is made: interface NAME in node PARENT ("" = the host's
/// namespace), with the link's parameters.
Result<std::int64_t> record_device(Run &run, const plan::PlannedLink &link, const std::string &name,
                                   const std::string &parent) {
  return run.b.store->add_object({0, run.plan.lab, state::ObjectType::link_device, name, link.key,
                                  "", parent, state::RecordStatus::creating, link.device_spec()});
}

/// Removes what LINK made (the node's device, and the host's of a vxlan-stitch), then forgets it.
Status unmake(Run &run, const plan::PlannedLink &link) {
  if (auto ns = node_netns(run, link.a.node)) {
    (void)run.b.netlink->delete_link(link.a.iface, ns->fd()); // gone with its container: fine
  }
  if (link.kind == LinkKind::vxlan_stitch) {
    for (const auto &name : {stitch_vxlan(run, link), stitch_veth(run, link)}) {
      if (auto deleted = run.b.netlink->delete_link(name); !deleted) {
        return fail(with_context("link " + link.name, deleted.error()));
      }
    }
  }
  return run.forget_owned(state::ObjectType::link_device, link.key);
}

/// The device's spec for net::Netlink::create_device: the node's interface, or (vxlan-stitch)
/// the host's VXLAN interface.
Result<net::DeviceSpec> device_spec(Run &run, const plan::PlannedLink &link) {
  net::DeviceSpec spec;
  spec.kind = link.kind == LinkKind::vxlan_stitch ? "vxlan" : topology::to_string(link.kind);
  spec.mtu = link.mtu;
  spec.mac = link.device.mac;
  if (link.kind == LinkKind::macvlan) {
    spec.parent = link.b.iface;
    spec.mode = link.device.mode;
    LTB_TRY(parent, run.b.netlink->link_kind(spec.parent));
    if (parent.empty()) {
      return fail(fmt::format("{}: link {}: the host has no interface '{}' for the macvlan "
                              "interface {}:{}",
                              where(run, link.b.loc), link.name, spec.parent, link.a.node,
                              link.a.iface),
                  "a macvlan's parent is an existing interface of the host: name one that "
                  "'ip link' lists");
    }
  }
  if (link.kind == LinkKind::vxlan || link.kind == LinkKind::vxlan_stitch) {
    spec.vni = link.device.vni;
    spec.remote = link.device.remote;
    spec.dst_port = link.device.dst_port;
    spec.src_port = link.device.src_port;
    spec.parent = link.device.parent;
    if (spec.parent.empty()) {
      auto route = run.b.netlink->route_interface(spec.remote);
      if (!route) {
        return fail(with_context(fmt::format("{}: link {}", where(run, link.b.loc), link.name),
                                 route.error()));
      }
      spec.parent = *route;
    }
  }
  return spec;
}

class DeviceLinkDriver final : public LinkDriver {
public:
  explicit DeviceLinkDriver(LinkType type) : m_type(type) {}
  LinkType type() const override { return m_type; }

  // The node's devices go with its namespace; a vxlan-stitch's host ends are found by the lab's
  // prefix (the veth driver lists them).
  Status observe(Backends &, const std::string &, plan::Observed &) override { return {}; }

  Status create(Run &run, const plan::Action &action) override {
    const auto &link = run.plan.links.at(action.links.front());
    auto context = [&](Error e) { return fail(with_context("link " + link.name, std::move(e))); };
    auto &store = *run.b.store;
    LTB_CHECK(store.put_link(link_record(run, link, state::RecordStatus::creating)));
    auto ns = node_netns(run, link.a.node);
    if (!ns) {
      return context(ns.error());
    }
    if (action.why == plan::Reason::rewire) {
      LTB_CHECK(unmake(run, link)); // made with other parameters, or left by a killed run
    }
    LTB_TRY(spec, device_spec(run, link));
    const bool stitch = link.kind == LinkKind::vxlan_stitch;
    std::vector<std::int64_t> recorded;
    for (const auto &[name, parent] :
         stitch ? std::vector<std::pair<std::string, std::string>>{{stitch_vxlan(run, link), ""},
                                                                   {stitch_veth(run, link), ""},
                                                                   {link.a.iface, link.a.node}}
                : std::vector<std::pair<std::string, std::string>>{{link.a.iface, link.a.node}}) {
      LTB_TRY(id, record_device(run, link, name, parent));
      recorded.push_back(id);
    }
    if (!stitch) {
      spec.end = {link.a.iface, ns->fd(), link.a.node};
      if (auto made = run.b.netlink->create_device(spec); !made) {
        return context(made.error());
      }
    } else {
      LTB_CHECK(make_stitch(run, link, spec, *ns));
    }
    for (auto id : recorded) {
      LTB_CHECK(store.update_object(id, "", state::RecordStatus::created));
    }
    LTB_CHECK(settings(run, link, true));
    return store.put_link(link_record(run, link, state::RecordStatus::up));
  }

  Status remove(Run &run, const plan::Action &action) override {
    const auto &link = run.plan.links.at(action.links.front());
    LTB_CHECK(unmake(run, link));
    return run.b.store->delete_link(run.plan.lab, link.key);
  }

  Status configure(Run &run, const plan::PlannedLink &link) override {
    return settings(run, link, false);
  }

private:
  LinkType m_type;

  /// The host's VXLAN interface, the veth from the node to the host, and the redirects that join
  /// the two.
  static Status make_stitch(Run &run, const plan::PlannedLink &link, net::DeviceSpec spec,
                            const net::Netns &ns) {
    auto context = [&](Error e) { return fail(with_context("link " + link.name, std::move(e))); };
    const auto vxlan = stitch_vxlan(run, link);
    const auto veth = stitch_veth(run, link);
    spec.end = {vxlan, -1, "host"};
    spec.mac.clear(); // the node's interface's
    if (auto made = run.b.netlink->create_device(spec); !made) {
      return context(made.error());
    }
    if (auto made = run.b.netlink->create_veth({link.a.iface, ns.fd(), link.a.node},
                                               {veth, -1, "host"}, link.mtu);
        !made) {
      return context(made.error());
    }
    if (!link.device.mac.empty()) {
      net::LinkSnapshot mac;
      mac.name = link.a.iface;
      mac.mac = link.device.mac;
      mac.up = true;
      if (auto set = run.b.netlink->restore_link(mac, ns.fd()); !set) {
        return context(set.error());
      }
    }
    if (auto joined = run.b.host->redirect_pair(vxlan, veth); !joined) {
      return context(joined.error());
    }
    return {};
  }

  /// The node's end shapes what it sends and carries the link's carrier; nothing shapes what the
  /// link brings in (a macvlan's parent and a tunnel's remote are not the lab's). The lab's
  /// relay carries no device link: impairments on one need the kernel's netem.
  static Status settings(Run &run, const plan::PlannedLink &link, bool fresh) {
    const char *type = topology::to_string(link.kind);
    if (fresh ? !link.impair_b.empty() : link.impair_b != link.applied_b) {
      return fail(fmt::format("link {}: a link of type {} shapes only the packets that {}:{} "
                              "sends",
                              link.name, type, link.a.node, link.a.iface),
                  fmt::format("set the impairments of the direction from {}:{}", link.a.node,
                              link.a.iface));
    }
    const bool shape = fresh ? !link.impair_a.empty() : link.impair_a != link.applied_a;
    const bool carrier = fresh ? link.down : link.down != link.was_down;
    if (shape && run.options.relay_mode) {
      return fail(fmt::format("link {}: impairments on a link of type {} need the kernel's "
                              "netem, and this run uses ltb's relay",
                              link.name, type),
                  "remove the link's impairments, or run on a host whose kernel has netem "
                  "(settings.impairments: kernel)");
    }
    if (shape || carrier) {
      LTB_TRY(ns, node_netns(run, link.a.node));
      if (shape) {
        if (auto set = run.b.tc->set_impairment(link.a.iface, ns.fd(), to_net(link.impair_a));
            !set) {
          return fail(with_context(fmt::format("link {}: impairments of the packets leaving {}:{}",
                                               link.name, link.a.node, link.a.iface),
                                   set.error()));
        }
      }
      if (carrier) {
        if (auto set = run.b.tc->set_link_state(link.a.iface, ns.fd(), !link.down); !set) {
          return fail(with_context(
              fmt::format("link {}: set {}", link.name, link.down ? "down" : "up"), set.error()));
        }
      }
    }
    return run.b.store->put_link_state(
        plan::settings_record(run.plan.lab, link, run.options.relay_mode ? "relay" : "kernel"));
  }
};

} // namespace

LinkDriver &device_link_driver(LinkType type) {
  static DeviceLinkDriver macvlan(LinkType::macvlan);
  static DeviceLinkDriver dummy(LinkType::dummy);
  static DeviceLinkDriver vxlan(LinkType::vxlan);
  static DeviceLinkDriver vxlan_stitch(LinkType::vxlan_stitch);
  switch (type) {
  case LinkType::macvlan:
    return macvlan;
  case LinkType::dummy:
    return dummy;
  case LinkType::vxlan:
    return vxlan;
  default:
    break;
  }
  return vxlan_stitch;
}

} // namespace ltb::apply
