// The ext-container driver (containerlab's kind ext-container): a running container that ltb
// did not make, named as the node. ltb records it, links it into the lab and runs its exec
// commands in it; it never makes, starts, stops or removes it. Its links' interfaces go with
// the lab's containers they join (a veth goes whole), or with their host ends.

#include "apply/drivers/driver.hpp"

#include <fmt/format.h>

namespace ltb::apply {

namespace {

class ExternalDriver final : public NodeDriver {
public:
  topology::Runtime runtime() const override { return topology::Runtime::external; }
  state::ObjectType object_type() const override { return state::ObjectType::container; }

  /// The containers of the recorded ext-container nodes, by their names (they carry no label of
  /// ltb's).
  Status observe(Backends &b, const std::string &lab, plan::Observed &observed) override {
    LTB_TRY(nodes, b.store->nodes(lab));
    for (const auto &node : nodes) {
      if (recorded_runtime(node) != topology::Runtime::external) {
        continue;
      }
      auto info = b.docker->inspect_container(node.name);
      if (info) {
        observed.external[node.name] = {info->id, info->name, info->state, {}};
      }
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
      return fail("ext-container " + action.node + " is not in the topology being applied",
                  "this is a bug in ltb's plan: run `ltb up` again, and report it");
    }
    LTB_TRY(end, endpoint(run, action.node));
    state::NodeRecord record{
        run.plan.lab, node->name, node->kind,     "",
        "",           "",         end.runtime_id, state::RecordStatus::running};
    record.runtime = state::k_runtime_external;
    return run.b.store->put_node(record);
  }

  /// Forgets it; the container stays as it is.
  Status remove(Run &run, const plan::Action &action) override {
    run.phase(action.node, Phase::removing);
    return run.b.store->delete_node(run.plan.lab, action.node);
  }

  /// Its exec commands, as a container of the lab's runs them (the container driver finds it
  /// in the run's book).
  Status configure(Run &run, const plan::Action &action) override {
    LTB_TRY(end, endpoint(run, action.node));
    (void)end;
    return node_driver(topology::Runtime::container).configure(run, action);
  }

  // Never started or stopped by ltb.
  Status start(Run &, const plan::Action &) override { return {}; }
  Status stop(Run &, const plan::Action &) override { return {}; }

  Result<Endpoint> endpoint(Run &run, const std::string &node) override {
    if (auto known = run.book.container(node)) {
      return Endpoint{Endpoint::Kind::netns, known->pid, known->id};
    }
    auto info = run.b.docker->inspect_container(node);
    if (!info) {
      return fail(fmt::format("{}ext-container node '{}': no container named '{}' ({})",
                              where(run, node), node, node, info.error().message),
                  "an ext-container node is a container that ltb does not make: start one of "
                  "that name (`docker ps` shows the names), or rename the node to match");
    }
    if (info->state != "running" || info->pid <= 0) {
      return fail(fmt::format("{}ext-container node '{}': container '{}' is {}", where(run, node),
                              node, node, info->state),
                  fmt::format("start it (`docker start {}`), then run `ltb up` again", node));
    }
    run.book.set_container(node, {info->id, info->pid});
    return Endpoint{Endpoint::Kind::netns, info->pid, info->id};
  }

  Access access() const override { return {Access::Exec::none, false, Access::Capture::netns}; }

private:
  static std::string where(const Run &run, const std::string &node) {
    const auto *n = run.node(node);
    if (!n || !run.desired || n->loc.line == 0) {
      return {};
    }
    return fmt::format("{}:{}:{}: ", run.desired->file, n->loc.line, n->loc.column);
  }
};

} // namespace

NodeDriver &external_driver() {
  static ExternalDriver driver;
  return driver;
}

} // namespace ltb::apply
