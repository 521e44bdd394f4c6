// The management network on the fakes: joining a Docker network that exists (containerlab's
// mgmt.network: bridge, or a user's network), which ltb records as external and never removes,
// and dual-stack management (mgmt.ipv6-subnet, mgmt-ipv6).
#include "fakes/harness.hpp"

#include <doctest/doctest.h>

using namespace ltb;
using fakes::Harness;

namespace {

/// A network made outside ltb (no ltb.lab label), as `docker network create` makes it.
void make_user_network(Harness &h, const std::string &name, const std::string &subnet,
                       const std::string &subnet6 = "") {
  std::lock_guard lock(h.fakes.world.mutex);
  runtime::NetworkSpec spec;
  spec.name = name;
  spec.subnet = subnet;
  spec.subnet6 = subnet6;
  spec.internal = false;
  h.fakes.world.networks[name] = {spec, "user-" + name};
}

runtime::ContainerSpec spec_of(Harness &h, const std::string &lab, const std::string &node) {
  std::lock_guard lock(h.fakes.world.mutex);
  return h.fakes.world.containers.at(plan::container_name(lab, node)).spec;
}

std::map<std::string, state::NodeRecord> records(Harness &h, const std::string &lab) {
  std::map<std::string, state::NodeRecord> out;
  auto nodes = h.store->nodes(lab);
  REQUIRE(nodes);
  for (const auto &node : *nodes) {
    out[node.name] = node;
  }
  return out;
}

} // namespace

TEST_CASE("mgmt on fakes: a lab joins an existing network, records it external, and leaves it") {
  Harness h;
  make_user_network(h, "users-net", "10.77.0.0/24");
  auto t = fakes::make_lab("joiner");
  t.mgmt.network = "users-net";
  t.mgmt.network_loc = {3, 12};
  t.mgmt.ipv4_subnet = "172.20.20.0/24";
  t.mgmt.ipv4_subnet_default = true;
  t.nodes = {fakes::container_node("c1"), fakes::container_node("c2")};
  t.nodes[0].mgmt_ipv4 = "10.77.0.10";
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());

  // The network is the user's still: not made again, no label of the lab.
  {
    std::lock_guard lock(h.fakes.world.mutex);
    REQUIRE(h.fakes.world.networks.size() == 1);
    CHECK(h.fakes.world.networks.at("users-net").id == "user-users-net");
    CHECK(h.fakes.world.networks.at("users-net").spec.labels.empty());
  }
  CHECK(spec_of(h, t.name, "c1").network == "users-net");
  CHECK(spec_of(h, t.name, "c1").ipv4 == "10.77.0.10");
  CHECK(spec_of(h, t.name, "c2").network == "users-net");
  // c2 asked for no address: Docker's is recorded, for status and the access files.
  auto nodes = records(h, t.name);
  CHECK(nodes.at("c1").mgmt_ipv4 == "10.77.0.10");
  CHECK(nodes.at("c2").mgmt_ipv4 == spec_of(h, t.name, "c2").ipv4);
  CHECK(nodes.at("c2").mgmt_ipv4.rfind("10.77.0.", 0) == 0);
  auto lab = h.store->lab(t.name);
  REQUIRE(lab);
  REQUIRE(*lab);
  CHECK((*lab)->mgmt_network == "users-net");
  CHECK((*lab)->mgmt_subnet == "10.77.0.0/24");
  auto objects = h.store->objects(t.name);
  REQUIRE(objects);
  int external = 0;
  for (const auto &object : *objects) {
    if (object.type == state::ObjectType::network) {
      CHECK(object.name == "users-net");
      CHECK(object.detail == "external");
      CHECK(object.runtime_id == "user-users-net");
      ++external;
    }
  }
  CHECK(external == 1);

  // Nothing to do again.
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));

  // Down removes the nodes and the lab, and leaves the network.
  auto down = h.down(t.name);
  REQUIRE(down);
  INFO(fakes::errors_of(*down));
  CHECK(down->ok());
  {
    std::lock_guard lock(h.fakes.world.mutex);
    CHECK(h.fakes.world.networks.count("users-net") == 1);
    CHECK(h.fakes.world.containers.empty());
  }
  lab = h.store->lab(t.name);
  REQUIRE(lab);
  CHECK(!*lab);
}

TEST_CASE("mgmt on fakes: a named network that does not exist is made, owned and removed") {
  Harness h;
  auto t = fakes::make_lab("maker");
  t.mgmt.network = "clab-own";
  t.mgmt.network_loc = {3, 12};
  t.nodes = {fakes::container_node("c1")};
  auto report = h.up(t);
  REQUIRE(report);
  CHECK(report->ok());
  {
    std::lock_guard lock(h.fakes.world.mutex);
    REQUIRE(h.fakes.world.networks.count("clab-own") == 1);
    CHECK(h.fakes.world.networks.at("clab-own").spec.labels.at(plan::k_label_lab) == "maker");
  }
  auto down = h.down(t.name);
  REQUIRE(down);
  CHECK(down->ok());
  std::lock_guard lock(h.fakes.world.mutex);
  CHECK(h.fakes.world.networks.empty());
}

TEST_CASE("mgmt on fakes: dual stack gives every node an IPv6 address, fixed or Docker's") {
  Harness h;
  auto t = fakes::make_lab("dual");
  t.mgmt.ipv6_subnet = "fd00:77::/64";
  t.nodes = {fakes::container_node("c1"), fakes::container_node("c2")};
  t.nodes[0].mgmt_ipv6 = "fd00:77::11";
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  {
    std::lock_guard lock(h.fakes.world.mutex);
    const auto &network = h.fakes.world.networks.at(plan::network_name(t.name)).spec;
    CHECK(network.subnet == "172.31.9.0/24");
    CHECK(network.subnet6 == "fd00:77::/64");
  }
  CHECK(spec_of(h, t.name, "c1").ipv6 == "fd00:77::11");
  auto nodes = records(h, t.name);
  CHECK(nodes.at("c1").mgmt_ipv6 == "fd00:77::11");
  CHECK(nodes.at("c2").mgmt_ipv6.rfind("fd00:77::", 0) == 0);
  CHECK(nodes.at("c2").mgmt_ipv4.rfind("172.31.9.", 0) == 0);

  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));

  // IPv4 only again: the network is made again without IPv6, and the nodes with it.
  t.mgmt.ipv6_subnet.clear();
  t.nodes[0].mgmt_ipv6.reset();
  auto single = h.plan_up(t);
  REQUIRE(single);
  int networks = 0;
  for (const auto &action : single->actions) {
    networks += action.kind == plan::ActionKind::create_network ? 1 : 0;
  }
  CHECK(networks == 1);
  auto down = h.down(t.name);
  REQUIRE(down);
  CHECK(down->ok());
}
