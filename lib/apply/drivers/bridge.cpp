// The bridge driver: an ovs-bridge node is an Open vSwitch bridge; its links are its ports.

#include "apply/drivers/driver.hpp"
#include "plan/names.hpp"

#include <fmt/format.h>

namespace ltb::apply {

namespace {

class BridgeDriver final : public NodeDriver {
public:
  topology::Runtime runtime() const override { return topology::Runtime::ovs_bridge; }
  state::ObjectType object_type() const override { return state::ObjectType::bridge; }

  Status observe(Backends &b, const std::string &lab, plan::Observed &observed) override {
    if (!b.ovs) {
      return fail("Open vSwitch is needed for this lab's bridges");
    }
    LTB_TRY(bridges, b.ovs->bridges({{plan::k_ovs_lab, lab}}));
    for (const auto &bridge : bridges) {
      auto owner = bridge.external_ids.find(plan::k_ovs_owner);
      if (owner == bridge.external_ids.end()) {
        continue;
      }
      plan::ObservedBridge observed_bridge{bridge.name, {bridge.ports.begin(), bridge.ports.end()}};
      observed.bridges[owner->second] = std::move(observed_bridge);
    }
    return {};
  }

  std::string config_hash(const topology::Topology &, const topology::Node &) const override {
    return {}; // a bridge has nothing that, changed, recreates it
  }

  Status create(Run &run, const plan::Action &action) override {
    run.phase(action.node, Phase::creating);
    if (!run.b.ovs) {
      return fail("Open vSwitch is needed for bridge " + action.node);
    }
    auto path = run.datapath.load();
    auto &store = *run.b.store;
    const auto *node = run.node(action.node);
    if (!node) {
      return fail("bridge " + action.node + " is not in the topology being applied",
                  "this is a bug in ltb's plan: run `ltb up` again, and report it");
    }
    state::NodeRecord record{run.plan.lab, action.node, node->kind,  "",
                             "",           "",          action.name, state::RecordStatus::creating};
    record.runtime = state::k_runtime_bridge;
    std::int64_t object_id = 0;
    LTB_CHECK(store.transaction([&]() -> Status {
      LTB_CHECK(store.put_node(record));
      LTB_TRY(id, run.record_object(state::ObjectType::bridge, action.name, action.node));
      object_id = id;
      return {};
    }));
    std::map<std::string, std::string> ids{{plan::k_ovs_lab, run.plan.lab},
                                           {plan::k_ovs_owner, action.node}};
    if (action.why != plan::Reason::new_object) {
      // A bridge half-made by a killed run (for example on a datapath that does not work here)
      // would satisfy --may-exist without working: start from nothing.
      if (auto removed = run.b.ovs->del_bridge(action.name); !removed) {
        return fail(with_context("bridge " + action.node, removed.error()));
      }
    }
    auto added = run.b.ovs->add_bridge(action.name, path, ids);
    if (!added && path == net::Datapath::system && run.probe_datapath &&
        added.error().message.find(net::k_no_kernel_datapath) != std::string::npos) {
      // No kernel datapath on this host (no openvswitch module): the userspace one works.
      if (run.datapath.exchange(net::Datapath::netdev) == net::Datapath::system) {
        run.progress.notice(
            "notice: Open vSwitch has no kernel datapath here; using the userspace "
            "datapath (netdev). Set settings.ovs-datapath or LTB_OVS_DATAPATH to choose.");
        LTB_CHECK(store.set_meta("ovs.datapath", "netdev"));
      }
      path = net::Datapath::netdev;
      added = run.b.ovs->add_bridge(action.name, path, ids);
    } else if (added && run.probe_datapath) {
      LTB_CHECK(
          store.set_meta("ovs.datapath", path == net::Datapath::system ? "system" : "netdev"));
    }
    if (!added) {
      return fail(with_context("bridge " + action.node + " (" + action.name + ")", added.error()));
    }
    record.status = state::RecordStatus::running;
    LTB_CHECK(store.put_node(record));
    return store.update_object(object_id, action.name, state::RecordStatus::created);
  }

  Status remove(Run &run, const plan::Action &action) override {
    if (!action.node.empty()) {
      run.phase(action.node, Phase::removing);
    }
    if (!run.b.ovs) {
      return fail("Open vSwitch is needed to remove bridge " + action.name);
    }
    // Looked at before del-br, which changes nothing when it fails: the state stays true.
    LTB_TRY(tap, has_tap(run, action));
    if (auto removed = run.b.ovs->del_bridge(action.name); !removed) {
      return fail(
          with_context("bridge " + action.node + " (" + action.name + ")", removed.error()));
    }
    if (tap) {
      LTB_CHECK(remove_orphan_tap(run, action));
    }
    if (!action.node.empty()) {
      LTB_CHECK(run.b.store->delete_node(run.plan.lab, action.node));
    }
    return run.forget_objects(state::ObjectType::bridge, {action.name});
  }

  /// The userspace datapath's device of a bridge is a tap named as the bridge. ovs-vswitchd
  /// removes it with the bridge; but when the bridge left the database while ovs-vswitchd was not
  /// running (stopped or restarting during an `ltb down`), the tap stays, and a new ovs-vswitchd
  /// knows nothing of it.
  static Result<bool> has_tap(Run &run, const plan::Action &action) {
    if (!run.b.netlink) {
      return false;
    }
    auto kind = run.b.netlink->link_kind(action.name);
    if (!kind) {
      return fail(with_context("bridge " + action.node + " (" + action.name + ")", kind.error()));
    }
    return *kind == "tun";
  }

  /// After del-br: the tap if it is still there. Should this fail, the bridge stays recorded and
  /// the next `ltb down` tries again (del-br of a missing bridge is a no-op).
  static Status remove_orphan_tap(Run &run, const plan::Action &action) {
    const auto context =
        "bridge " + action.node + " (" + action.name + "): the device ovs-vswitchd left behind";
    auto kind = run.b.netlink->link_kind(action.name);
    if (!kind) {
      return fail(with_context(context, kind.error()));
    }
    if (*kind != "tun") {
      return {};
    }
    if (auto deleted = run.b.netlink->delete_link(action.name); !deleted) {
      return fail(with_context(context, deleted.error()));
    }
    return {};
  }

  // A bridge forwards as long as it exists: nothing to start or stop.
  // A bridge holds no process: it stays as it is while its nodes stop and start.
  Status start(Run &, const plan::Action &) override { return {}; }
  Status stop(Run &, const plan::Action &) override { return {}; }

  Result<Endpoint> endpoint(Run &run, const std::string &node) override {
    return Endpoint{Endpoint::Kind::bridge, 0, plan::bridge_name(run.plan.lab, node)};
  }

  Status configure(Run &, const plan::Action &) override { return {}; }

  Access access() const override {
    return {Access::Exec::none, false, Access::Capture::ovs_mirror};
  }
};

} // namespace

NodeDriver &bridge_driver() {
  static BridgeDriver driver;
  return driver;
}

} // namespace ltb::apply
