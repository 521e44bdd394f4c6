// What every driver shares: the registry of node drivers and the Run helpers.

#include "apply/drivers/driver.hpp"
#include "topology/kinds.hpp"

#include <fmt/format.h>

namespace ltb::apply {

NodeDriver &container_driver();
NodeDriver &vm_driver();
NodeDriver &bridge_driver();
NodeDriver &linux_bridge_driver();
NodeDriver &host_driver();
NodeDriver &external_driver();

NodeDriver &node_driver(topology::Runtime runtime) {
  switch (runtime) {
  case topology::Runtime::vm:
    return vm_driver();
  case topology::Runtime::ovs_bridge:
    return bridge_driver();
  case topology::Runtime::linux_bridge:
    return linux_bridge_driver();
  case topology::Runtime::host:
    return host_driver();
  case topology::Runtime::external:
    return external_driver();
  case topology::Runtime::container:
    break;
  }
  return container_driver();
}

std::optional<topology::Runtime> recorded_runtime(const state::NodeRecord &record) {
  if (record.runtime == state::k_runtime_container) {
    return topology::Runtime::container;
  }
  if (record.runtime == state::k_runtime_vm) {
    return topology::Runtime::vm;
  }
  if (record.runtime == state::k_runtime_bridge) {
    return topology::Runtime::ovs_bridge;
  }
  if (record.runtime == state::k_runtime_linux_bridge) {
    return topology::Runtime::linux_bridge;
  }
  if (record.runtime == state::k_runtime_external) {
    return topology::Runtime::external;
  }
  if (record.runtime.empty() && !record.kind.empty()) {
    return topology::runtime_of_kind(record.kind); // not written by this ltb: by its kind
  }
  return std::nullopt;
}

Error with_context(const std::string &what, Error error) {
  error.message = what + ": " + error.message;
  return error;
}

std::optional<topology::Runtime> Run::runtime_of(const std::string &node) const {
  if (const auto *n = this->node(node)) {
    return n->runtime;
  }
  auto it = recorded_runtimes.find(node);
  return it == recorded_runtimes.end() ? std::nullopt : std::optional(it->second);
}

void Run::phase(const std::string &node, Phase p, const std::string &detail) {
  if (!book.failed(node)) {
    progress.node(node, p, detail);
  }
}

Result<std::int64_t> Run::record_object(state::ObjectType type, const std::string &name,
                                        const std::string &owner, const std::string &parent) {
  return b.store->add_object(
      {0, plan.lab, type, name, owner, "", parent, state::RecordStatus::creating});
}

Status Run::forget_objects(state::ObjectType type, const std::set<std::string> &names) {
  LTB_TRY(objects, b.store->objects(plan.lab));
  for (const auto &object : objects) {
    if (object.type == type && names.count(object.name)) {
      LTB_CHECK(b.store->delete_object(object.id));
    }
  }
  return {};
}

Status Run::forget_owned(state::ObjectType type, const std::string &owner) {
  LTB_TRY(objects, b.store->objects(plan.lab));
  for (const auto &object : objects) {
    if (object.type == type && object.owner == owner) {
      LTB_CHECK(b.store->delete_object(object.id));
    }
  }
  return {};
}

Status Run::set_node_status(const std::string &node, state::RecordStatus status,
                            const std::string &runtime_id) {
  LTB_TRY(nodes, b.store->nodes(plan.lab));
  for (auto record : nodes) {
    if (record.name == node) {
      record.status = status;
      if (!runtime_id.empty()) {
        record.runtime_id = runtime_id;
      }
      return b.store->put_node(record);
    }
  }
  return fail(fmt::format("node {} of lab {} is not recorded", node, plan.lab),
              "`ltb status` shows the lab's nodes");
}

} // namespace ltb::apply
