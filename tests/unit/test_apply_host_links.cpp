// containerlab's bridge and host kinds on the fakes: a bridge node is a Linux bridge (made when
// missing, used and kept when it exists), host and bridge links are veths with a host end named
// by the file; `down` removes what ltb made and nothing else.
#include "fakes/harness.hpp"

#include <doctest/doctest.h>

using namespace ltb;
using fakes::Harness;

namespace {

/// c1 and c2 on bridge br-lab, and c1 to the host.
topology::Topology bridge_lab(const std::string &bridge = "br-lab") {
  auto t = fakes::make_lab("hb");
  t.nodes = {fakes::container_node("c1"), fakes::container_node("c2"),
             fakes::linux_bridge_node(bridge), fakes::host_node()};
  t.links = {fakes::make_link("c1", "eth1", bridge, "br-p1"),
             fakes::make_link(bridge, "br-p2", "c2", "eth1"),
             fakes::make_link("c1", "eth2", "host", "h-c1")};
  t.links[2].b.loc = {12, 25};
  return t;
}

std::optional<fakes::Iface> host_iface(Harness &h, const std::string &name) {
  std::lock_guard lock(h.fakes.world.mutex);
  auto it = h.fakes.world.ifaces.find({"", name});
  return it == h.fakes.world.ifaces.end() ? std::nullopt : std::optional(it->second);
}

std::string container_ns(Harness &h, const std::string &lab, const std::string &node) {
  std::lock_guard lock(h.fakes.world.mutex);
  return fmt::format("pid:{}", h.fakes.world.containers.at(plan::container_name(lab, node)).pid);
}

} // namespace

TEST_CASE("host links on fakes: a missing bridge is made, wired, and goes with the lab") {
  Harness h;
  auto t = bridge_lab();
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  CHECK(fakes::problems(h, t.name, {t}) == "");

  auto bridge = host_iface(h, "br-lab");
  REQUIRE(bridge);
  CHECK(bridge->kind == "bridge");
  for (const auto &port_node : {std::pair{"br-p1", "c1"}, std::pair{"br-p2", "c2"}}) {
    const char *port = port_node.first; // not a structured binding: doctest's macros capture it
    const char *node = port_node.second;
    auto end = host_iface(h, port);
    REQUIRE_MESSAGE(end, port);
    CHECK(end->kind == "veth");
    CHECK(end->master == "br-lab");
    CHECK(end->peer == "eth1");
    CHECK(end->peer_ns == container_ns(h, t.name, node));
  }
  {
    std::lock_guard lock(h.fakes.world.mutex);
    CHECK(h.fakes.world.forwarding.count({"hb", "br-lab"}) == 1);
  }
  auto host_end = host_iface(h, "h-c1");
  REQUIRE(host_end);
  CHECK(host_end->master.empty());
  CHECK(host_end->peer == "eth2");

  // Nothing to do again; the host node is not recorded, the bridge node is.
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));
  auto nodes = h.store->nodes(t.name);
  REQUIRE(nodes);
  CHECK(nodes->size() == 3);

  auto down = h.down(t.name);
  REQUIRE(down);
  INFO(fakes::errors_of(*down));
  CHECK(down->ok());
  for (const auto *name : {"br-lab", "br-p1", "br-p2", "h-c1"}) {
    CHECK_MESSAGE(!host_iface(h, name), name);
  }
  auto objects = h.store->objects(t.name);
  REQUIRE(objects);
  CHECK(objects->empty());
  std::lock_guard lock(h.fakes.world.mutex);
  CHECK(h.fakes.world.forwarding.empty());
}

TEST_CASE("host links on fakes: a bridge that exists is used and kept") {
  Harness h;
  {
    std::lock_guard lock(h.fakes.world.mutex);
    h.fakes.world.ifaces[{"", "br-ext"}] = {"bridge", "", "", "02:aa:00:00:00:01", true, {}, 900};
  }
  auto t = bridge_lab("br-ext");
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  CHECK(host_iface(h, "br-p1")->master == "br-ext");
  auto objects = h.store->objects(t.name);
  REQUIRE(objects);
  for (const auto &object : *objects) {
    CHECK(object.type != state::ObjectType::linux_bridge);
  }
  REQUIRE(h.down(t.name));
  CHECK(host_iface(h, "br-ext"));
  CHECK(!host_iface(h, "br-p1"));
}

TEST_CASE("host links on fakes: a bridge made again when it went, and its ports with it") {
  Harness h;
  auto t = bridge_lab();
  REQUIRE(h.up(t));
  {
    std::lock_guard lock(h.fakes.world.mutex);
    h.fakes.world.drop_iface("", "br-lab"); // its ports stay, detached
  }
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  const auto text = fakes::describe_plan(*plan);
  CHECK(text.find("br-lab") != std::string::npos);
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  CHECK(host_iface(h, "br-p1")->master == "br-lab");
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));
}

TEST_CASE("host links on fakes: a host interface ltb did not make is refused and kept") {
  Harness h;
  {
    std::lock_guard lock(h.fakes.world.mutex);
    h.fakes.world.ifaces[{"", "h-c1"}] = {"dummy", "", "", "02:aa:00:00:00:02", true, {}, 901};
  }
  auto t = bridge_lab();
  auto report = h.up(t);
  REQUIRE(report);
  CHECK(!report->ok());
  const auto errors = fakes::errors_of(*report);
  CHECK(errors.find("/labs/hb.yaml:12:25") != std::string::npos);
  CHECK(errors.find("already has an interface 'h-c1' (dummy)") != std::string::npos);
  REQUIRE(h.down(t.name));
  auto kept = host_iface(h, "h-c1");
  REQUIRE(kept);
  CHECK(kept->kind == "dummy");
}

TEST_CASE("host links on fakes: a link removed from the file takes its host end along") {
  Harness h;
  auto t = bridge_lab();
  REQUIRE(h.up(t));
  t.links.pop_back();
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  CHECK(!host_iface(h, "h-c1"));
  auto objects = h.store->objects(t.name);
  REQUIRE(objects);
  for (const auto &object : *objects) {
    CHECK(object.name != "h-c1");
  }
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));
}

TEST_CASE("host links on fakes: a bridge removed from the file goes when ltb made it") {
  Harness h;
  auto t = bridge_lab();
  REQUIRE(h.up(t));
  t.nodes.erase(t.nodes.begin() + 2);
  t.links.erase(t.links.begin(), t.links.begin() + 2);
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  CHECK(!host_iface(h, "br-lab"));
  CHECK(!host_iface(h, "br-p1"));
  CHECK(host_iface(h, "h-c1"));
  CHECK(fakes::problems(h, t.name, {t}) == "");
}

TEST_CASE("host links on fakes: mgmt-net:IFACE is a port of the management network's bridge") {
  Harness h;
  auto t = fakes::make_lab("mn");
  topology::Node mgmt;
  mgmt.name = topology::k_mgmt_net_node;
  mgmt.kind = "host";
  mgmt.runtime = topology::Runtime::host;
  t.nodes = {fakes::container_node("c1"), mgmt};
  t.links = {fakes::make_link("c1", "eth1", "mgmt-net", "c1-mgmt")};
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  auto port = host_iface(h, "c1-mgmt");
  REQUIRE(port);
  CHECK(port->master == plan::mgmt_bridge_name("mn"));
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));
  REQUIRE(h.down(t.name));
  CHECK(!host_iface(h, "c1-mgmt"));
  CHECK(!host_iface(h, plan::mgmt_bridge_name("mn")));
}

namespace {

/// A running container that ltb did not make (no label of ltb's), as another tool would start.
void start_foreign_container(Harness &h, const std::string &name) {
  std::lock_guard lock(h.fakes.world.mutex);
  fakes::Container c;
  c.spec.name = name;
  c.spec.image = "ltb/busybox:latest";
  c.id = "foreign-" + name;
  c.state = "running";
  c.pid = h.fakes.world.next_pid++;
  h.fakes.world.containers[name] = c;
}

topology::Topology external_lab() {
  auto t = fakes::make_lab("ext");
  topology::Node ext;
  ext.name = "other";
  ext.kind = "ext-container";
  ext.runtime = topology::Runtime::external;
  ext.exec = {"ip addr add 10.0.0.2/24 dev eth1"};
  t.nodes = {fakes::container_node("c1"), ext};
  t.links = {fakes::make_link("c1", "eth1", "other", "eth1")};
  return t;
}

} // namespace

TEST_CASE("host links on fakes: an ext-container is linked and exec'd in, and never removed") {
  Harness h;
  start_foreign_container(h, "other");
  auto t = external_lab();
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  const auto ns = container_ns(h, t.name, "c1");
  {
    std::lock_guard lock(h.fakes.world.mutex);
    const auto &other = h.fakes.world.containers.at("other");
    auto end = h.fakes.world.ifaces.find({fmt::format("pid:{}", other.pid), "eth1"});
    REQUIRE(end != h.fakes.world.ifaces.end());
    CHECK(end->second.peer_ns == ns);
    CHECK(other.execs.size() == 1);
  }
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));

  auto down = h.down(t.name);
  REQUIRE(down);
  INFO(fakes::errors_of(*down));
  CHECK(down->ok());
  std::lock_guard lock(h.fakes.world.mutex);
  REQUIRE(h.fakes.world.containers.count("other") == 1);
  const auto &other = h.fakes.world.containers.at("other");
  CHECK(other.state == "running");
  CHECK(h.fakes.world.ifaces.count({fmt::format("pid:{}", other.pid), "eth1"}) == 0);
}

TEST_CASE("host links on fakes: an ext-container that does not run fails its node, named") {
  Harness h;
  auto t = external_lab();
  t.nodes[1].loc = {7, 5};
  auto report = h.up(t);
  REQUIRE(report);
  CHECK(!report->ok());
  const auto errors = fakes::errors_of(*report);
  CHECK(errors.find("/labs/ext.yaml:7:5: ext-container node 'other': no container named 'other'") !=
        std::string::npos);
  REQUIRE(h.down(t.name));
}
