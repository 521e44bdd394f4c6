// Host links (containerlab's `host:IFACE` ends and bridge nodes' ends): a veth whose one end is
// the container's interface and whose other end is made in the host's namespace under the name
// the file gives, a port of the bridge node's Linux bridge when the end is a bridge node's.
//
// The host end is recorded (state::ObjectType::host_end) before it is made, and ltb removes only
// what it recorded: a host interface of that name that exists and is not recorded as the link's
// is the user's, and the link fails with where the file names it.

#include "apply/drivers/driver.hpp"

#include <fmt/format.h>

namespace ltb::apply {

namespace {

/// The runtime of a host link's node end: a container of the lab's, or an ext-container.
topology::Runtime node_runtime(const Run &run, const std::string &node) {
  return run.runtime_of(node) == topology::Runtime::external ? topology::Runtime::external
                                                             : topology::Runtime::container;
}

class HostVethDriver final : public LinkDriver {
public:
  LinkType type() const override { return LinkType::host_veth; }

  // Their host ends are recorded; a container's removal takes them along.
  Status observe(Backends &, const std::string &, plan::Observed &) override { return {}; }

  Status create(Run &run, const plan::Action &action) override {
    const auto &link = run.plan.links.at(action.links.front());
    auto context = [&](Error e) { return fail(with_context("link " + link.name, std::move(e))); };
    auto &store = *run.b.store;
    const auto &host = link.host_end();
    const auto &node_end = link.host_node == link.a.node ? link.b : link.a;
    LTB_CHECK(store.put_link(link_record(run, link, state::RecordStatus::creating)));
    LTB_TRY(end, node_driver(node_runtime(run, node_end.node)).endpoint(run, node_end.node));
    auto ns = run.b.host->netns_of_pid(end.pid);
    if (!ns) {
      return context(ns.error());
    }
    LTB_TRY(ours, recorded_end(run, link.key, host.iface));
    if (action.why == plan::Reason::rewire) {
      (void)run.b.netlink->delete_link(node_end.iface, ns->fd()); // its peer goes with it
    }
    LTB_TRY(existing, run.b.netlink->link_kind(host.iface));
    if (!existing.empty() && ours && existing == "veth") {
      LTB_CHECK(run.b.netlink->delete_link(host.iface)); // left by an interrupted run
    } else if (!existing.empty()) {
      return fail(fmt::format("{}: link {}: the host already has an interface '{}' ({}), and "
                              "ltb did not make it",
                              where(run, host), link.name, host.iface, existing),
                  fmt::format("give the link's end on {} another name in the lab file, or "
                              "remove that interface ('ip link del {}') if it is not needed",
                              link.host_node, host.iface));
    }
    std::int64_t object_id = 0;
    if (!ours) {
      LTB_TRY(id, run.record_object(state::ObjectType::host_end, host.iface, link.key,
                                    link.host_bridge));
      object_id = id;
    }
    auto created = run.b.netlink->create_veth({node_end.iface, ns->fd(), node_end.node},
                                              {host.iface, -1, link.host_node}, link.mtu);
    if (!created) {
      return context(created.error());
    }
    if (!link.host_bridge.empty()) {
      if (auto attached = run.b.netlink->set_master(host.iface, link.host_bridge); !attached) {
        return context(attached.error());
      }
    }
    if (object_id != 0) {
      LTB_CHECK(store.update_object(object_id, host.iface, state::RecordStatus::created));
    }
    LTB_CHECK(settings(run, link, true));
    return store.put_link(link_record(run, link, state::RecordStatus::up));
  }

  /// Deleting the container's end takes the host end along; a host end left (its container
  /// gone first, or never made) goes while it is still a veth ltb recorded.
  Status remove(Run &run, const plan::Action &action) override {
    const auto &link = run.plan.links.at(action.links.front());
    const auto &host = link.host_end();
    const auto &node_end = link.host_node == link.a.node ? link.b : link.a;
    if (auto end = node_driver(node_runtime(run, node_end.node)).endpoint(run, node_end.node)) {
      if (auto ns = run.b.host->netns_of_pid(end->pid)) {
        (void)run.b.netlink->delete_link(node_end.iface, ns->fd());
      }
    }
    LTB_TRY(ours, recorded_end(run, link.key, host.iface));
    if (ours) {
      if (auto kind = run.b.netlink->link_kind(host.iface); kind && *kind == "veth") {
        LTB_CHECK(run.b.netlink->delete_link(host.iface));
      }
      LTB_CHECK(run.forget_owned(state::ObjectType::host_end, link.key));
    }
    return run.b.store->delete_link(run.plan.lab, link.key);
  }

  Status configure(Run &run, const plan::PlannedLink &link) override {
    return settings(run, link, false);
  }

private:
  /// Whether the host end IFACE of link KEY is recorded as ltb's.
  static Result<bool> recorded_end(Run &run, const std::string &key, const std::string &iface) {
    LTB_TRY(objects, run.b.store->objects(run.plan.lab));
    for (const auto &object : objects) {
      if (object.type == state::ObjectType::host_end && object.owner == key &&
          object.name == iface) {
        return true;
      }
    }
    return false;
  }

  static std::string where(const Run &run, const topology::Endpoint &end) {
    return fmt::format("{}:{}:{}", run.desired ? run.desired->file : std::string("<lab>"),
                       end.loc.line, end.loc.column);
  }

  /// Each end shapes what it sends: the container's end inside its node, the host end on the
  /// host; a cable pulled is both ends down. The lab's relay carries no host link: impairments
  /// on one need the kernel's netem.
  static Status settings(Run &run, const plan::PlannedLink &link, bool fresh) {
    const auto &node_end = link.host_node == link.a.node ? link.b : link.a;
    auto ns_of = [&](const topology::Endpoint &end) -> Result<net::Netns> {
      if (end.node == link.host_node) {
        return net::Netns::host();
      }
      LTB_TRY(found, node_driver(node_runtime(run, node_end.node)).endpoint(run, node_end.node));
      return run.b.host->netns_of_pid(found.pid);
    };
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
      if (run.options.relay_mode) {
        return fail(fmt::format("link {}: impairments on a link to {} need the kernel's netem, "
                                "and this run uses ltb's relay",
                                link.name, link.host_node),
                    "remove the link's impairments, or run on a host whose kernel has netem "
                    "(settings.impairments: kernel)");
      }
      LTB_TRY(ns, ns_of(d.from));
      if (auto set = run.b.tc->set_impairment(d.from.iface, ns.fd(), to_net(d.want)); !set) {
        return fail(with_context(fmt::format("link {}: impairments of the packets leaving {}:{}",
                                             link.name, d.from.node, d.from.iface),
                                 set.error()));
      }
    }
    if (fresh ? link.down : link.down != link.was_down) {
      for (const auto *end : {&link.a, &link.b}) {
        LTB_TRY(ns, ns_of(*end));
        if (auto set = run.b.tc->set_link_state(end->iface, ns.fd(), !link.down); !set) {
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

LinkDriver &host_veth_driver() {
  static HostVethDriver driver;
  return driver;
}

} // namespace ltb::apply
