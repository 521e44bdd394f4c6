// The host's own nodes: a bridge node is a Linux bridge named as the node (containerlab's kind
// bridge), and a host node is the host itself. Their links are host_veth links (host_links.cpp).
//
// containerlab expects a bridge node's bridge to exist and fails when it does not. ltb uses one
// that exists and never removes it; one that does not exist it makes, records
// (state::ObjectType::linux_bridge) and removes with the lab: the record is what says ltb made
// it.

#include "apply/drivers/driver.hpp"

#include <fmt/format.h>

namespace ltb::apply {

namespace {

/// Whether ltb recorded the Linux bridge NAME of the lab as made by it.
Result<bool> made_by_ltb(Run &run, const std::string &name) {
  LTB_TRY(objects, run.b.store->objects(run.plan.lab));
  for (const auto &object : objects) {
    if (object.type == state::ObjectType::linux_bridge && object.name == name) {
      return true;
    }
  }
  return false;
}

class LinuxBridgeDriver final : public NodeDriver {
public:
  topology::Runtime runtime() const override { return topology::Runtime::linux_bridge; }
  state::ObjectType object_type() const override { return state::ObjectType::linux_bridge; }

  /// A Linux bridge carries no label: the lab's bridge nodes are its records.
  Status observe(Backends &b, const std::string &lab, plan::Observed &observed) override {
    LTB_TRY(nodes, b.store->nodes(lab));
    for (const auto &node : nodes) {
      if (recorded_runtime(node) != topology::Runtime::linux_bridge) {
        continue;
      }
      LTB_TRY(kind, b.netlink->link_kind(node.name));
      if (kind != "bridge") {
        continue;
      }
      LTB_TRY(ports, b.netlink->bridge_ports(node.name));
      observed.linux_bridges[node.name] = {node.name, {ports.begin(), ports.end()}};
    }
    return {};
  }

  std::string config_hash(const topology::Topology &, const topology::Node &) const override {
    return {};
  }

  Status create(Run &run, const plan::Action &action) override {
    run.phase(action.node, Phase::creating);
    const auto *node = run.node(action.node);
    if (!node) {
      return fail("bridge " + action.node + " is not in the topology being applied",
                  "this is a bug in ltb's plan: run `ltb up` again, and report it");
    }
    auto &store = *run.b.store;
    const auto &name = action.node;
    state::NodeRecord record{run.plan.lab, name, node->kind, "",
                             "",           "",   name,       state::RecordStatus::creating};
    record.runtime = state::k_runtime_linux_bridge;
    LTB_TRY(kind, run.b.netlink->link_kind(name));
    if (!kind.empty() && kind != "bridge") {
      return fail(fmt::format("{}: bridge node '{}': the host has an interface '{}' that is not "
                              "a bridge (it is a {} interface)",
                              where(run, *node), name, name, kind),
                  "rename the bridge node, or remove that interface");
    }
    if (kind == "bridge") {
      // The user's bridge (or one ltb made and recorded before): used as it is.
      LTB_CHECK(allow_forwarding(run, name));
      record.status = state::RecordStatus::running;
      return store.put_node(record);
    }
    // Made by ltb before (and gone since): its record stays, and says so still.
    LTB_TRY(made_before, made_by_ltb(run, name));
    std::int64_t object_id = 0;
    LTB_CHECK(store.transaction([&]() -> Status {
      LTB_CHECK(store.put_node(record));
      if (!made_before) {
        LTB_TRY(id, run.record_object(state::ObjectType::linux_bridge, name, name));
        object_id = id;
      }
      return {};
    }));
    if (auto made = run.b.netlink->create_bridge(name); !made) {
      if (object_id != 0) {
        (void)store.delete_object(object_id);
      }
      return fail(with_context("bridge " + name, made.error()));
    }
    LTB_CHECK(allow_forwarding(run, name));
    record.status = state::RecordStatus::running;
    LTB_CHECK(store.put_node(record));
    return object_id == 0 ? Status{}
                          : store.update_object(object_id, name, state::RecordStatus::created);
  }

  Status remove(Run &run, const plan::Action &action) override {
    const auto &name = action.name;
    if (!action.node.empty()) {
      run.phase(action.node, Phase::removing);
    }
    if (run.b.firewall) {
      if (auto forgotten = run.b.firewall->forget_bridge(run.plan.lab, name); !forgotten) {
        return fail(with_context("bridge " + name, forgotten.error()));
      }
    }
    LTB_TRY(made, made_by_ltb(run, name));
    if (made) {
      LTB_TRY(kind, run.b.netlink->link_kind(name));
      if (kind == "bridge") {
        if (auto deleted = run.b.netlink->delete_link(name); !deleted) {
          return fail(with_context("bridge " + name, deleted.error()));
        }
      }
      LTB_CHECK(run.forget_objects(state::ObjectType::linux_bridge, {name}));
    }
    if (!action.node.empty()) {
      LTB_CHECK(run.b.store->delete_node(run.plan.lab, action.node));
    }
    return {};
  }

  Status start(Run &, const plan::Action &) override { return {}; }
  Status stop(Run &, const plan::Action &) override { return {}; }
  Status configure(Run &, const plan::Action &) override { return {}; }

  Result<Endpoint> endpoint(Run &, const std::string &node) override {
    return Endpoint{Endpoint::Kind::bridge, 0, node};
  }

  Access access() const override { return {Access::Exec::none, false, Access::Capture::netns}; }

private:
  /// containerlab's rules: without them, the host's FORWARD policy (Docker's DROP) drops what
  /// the bridge bridges when br_netfilter is loaded.
  static Status allow_forwarding(Run &run, const std::string &name) {
    if (!run.b.firewall) {
      return {};
    }
    if (auto allowed = run.b.firewall->allow_bridge(run.plan.lab, name); !allowed) {
      return fail(with_context("bridge " + name, allowed.error()));
    }
    return {};
  }

  static std::string where(const Run &run, const topology::Node &node) {
    return fmt::format("{}:{}:{}", run.desired ? run.desired->file : std::string("<lab>"),
                       node.loc.line, node.loc.column);
  }
};

/// The host: nothing to make, record or remove; its links' ends are in its namespace.
class HostDriver final : public NodeDriver {
public:
  topology::Runtime runtime() const override { return topology::Runtime::host; }
  state::ObjectType object_type() const override { return state::ObjectType::host_end; }
  Status observe(Backends &, const std::string &, plan::Observed &) override { return {}; }
  std::string config_hash(const topology::Topology &, const topology::Node &) const override {
    return {};
  }
  Status create(Run &, const plan::Action &) override { return {}; }
  Status remove(Run &, const plan::Action &) override { return {}; }
  Status start(Run &, const plan::Action &) override { return {}; }
  Status stop(Run &, const plan::Action &) override { return {}; }
  Status configure(Run &, const plan::Action &) override { return {}; }
  Result<Endpoint> endpoint(Run &, const std::string &node) override {
    return Endpoint{Endpoint::Kind::netns, 0, node};
  }
  Access access() const override { return {Access::Exec::none, false, Access::Capture::netns}; }
};

} // namespace

NodeDriver &linux_bridge_driver() {
  static LinuxBridgeDriver driver;
  return driver;
}

NodeDriver &host_driver() {
  static HostDriver driver;
  return driver;
}

} // namespace ltb::apply
