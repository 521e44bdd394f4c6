// Host-joined links (point-to-point links, a VM's segment links, and in relay mode every
// segment link) through the lab's impairment relay: the one place apply/ sets a link's direction
// in the relay, recording the relay before it starts.

#include "apply/drivers/driver.hpp"
#include "plan/names.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace ltb::apply {

std::string joined_host(const std::string &lab, const plan::PlannedLink &link,
                        const std::string &node) {
  if (link.bridge_node.empty()) {
    return plan::host_veth_name(lab, link.key, node);
  }
  if (node == link.bridge_node) {
    return plan::host_veth_name(lab, link.key, link.bridge_node);
  }
  return plan::segment_node_veth_name(lab, link.key, node);
}

Status set_relayed(Run &run, const plan::PlannedLink &link, const topology::Endpoint &from,
                   const net::Impairment &impairment) {
  const auto &lab = run.plan.lab;
  if (run.options.lab_dir.empty()) {
    return fail(fmt::format("link {}: the impairment relay needs the lab's directory", link.name));
  }
  if (bool first = false; run.relay_recorded.compare_exchange_strong(first, true)) {
    LTB_TRY(objects, run.b.store->objects(lab));
    bool recorded = std::any_of(objects.begin(), objects.end(), [](const auto &object) {
      return object.type == state::ObjectType::relay;
    });
    if (!recorded) {
      LTB_CHECK(run.record_object(state::ObjectType::relay, "relay", ""));
    }
  }
  net::RelayLink ends{link.key, joined_host(lab, link, link.a.node),
                      joined_host(lab, link, link.b.node)};
  auto direction = from.node == link.a.node && from.iface == link.a.iface ? net::Direction::a_to_b
                                                                          : net::Direction::b_to_a;
  if (auto set = run.b.relay->set(run.options.lab_dir, ends, direction, impairment); !set) {
    return fail(with_context("link " + link.name, set.error()));
  }
  return record_relay(run);
}

Status record_relay(Run &run) {
  // Most calls change nothing (an unimpaired link in relay mode, the record already saying what
  // runs): they look without taking the state file's write lock, which every action shares.
  {
    auto relay = run.b.relay->state(run.options.lab_dir);
    LTB_TRY(objects, run.b.store->objects(run.plan.lab));
    const auto pid = std::to_string(relay.pid);
    bool recorded = false;
    bool current = true;
    for (const auto &object : objects) {
      if (object.type == state::ObjectType::relay) {
        recorded = true;
        current = current && !relay.config.empty() && object.runtime_id == pid &&
                  object.status == state::RecordStatus::created;
      }
    }
    if (recorded ? current : relay.config.empty()) {
      return {};
    }
  }
  // One transaction, with the relay's state read inside it: actions wiring links at once each
  // record what they see, and the last one sees what all of them made (one action could
  // otherwise delete the record, finding no link left, while another updates it).
  return run.b.store->transaction([&]() -> Status {
    auto relay = run.b.relay->state(run.options.lab_dir);
    LTB_TRY(objects, run.b.store->objects(run.plan.lab));
    bool recorded = false;
    for (const auto &object : objects) {
      if (object.type != state::ObjectType::relay) {
        continue;
      }
      recorded = true;
      if (relay.config.empty()) {
        LTB_CHECK(run.b.store->delete_object(object.id));
      } else {
        LTB_CHECK(run.b.store->update_object(object.id, std::to_string(relay.pid),
                                             state::RecordStatus::created));
      }
    }
    if (!recorded && !relay.config.empty()) {
      LTB_TRY(id, run.record_object(state::ObjectType::relay, "relay", ""));
      LTB_CHECK(
          run.b.store->update_object(id, std::to_string(relay.pid), state::RecordStatus::created));
    }
    return {};
  });
}

} // namespace ltb::apply
