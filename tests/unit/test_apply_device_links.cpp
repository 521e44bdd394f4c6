// containerlab's device links on the fakes: plan -> apply -> record for macvlan, dummy, vxlan and
// vxlan-stitch; each device recorded before it is made, made again when its parameters change,
// and gone with `down` or when the file drops it.
#include "fakes/harness.hpp"

#include <doctest/doctest.h>

using namespace ltb;
using fakes::Harness;

namespace {

topology::Link device_link(topology::LinkKind kind, const std::string &node,
                           const std::string &iface, const std::string &far) {
  auto link = fakes::make_link(node, iface, topology::to_string(kind), far);
  link.kind = kind;
  return link;
}

topology::Node implicit(topology::LinkKind kind) {
  auto node = fakes::host_node();
  node.name = topology::to_string(kind);
  return node;
}

/// c1 with a macvlan on host interface p0, a dummy and a vxlan; c2 with a macvlan on p0 and a
/// vxlan-stitch.
topology::Topology device_lab() {
  using topology::LinkKind;
  auto t = fakes::make_lab("dv");
  t.nodes = {fakes::container_node("c1"), fakes::container_node("c2"),
             implicit(LinkKind::macvlan), implicit(LinkKind::dummy),
             implicit(LinkKind::vxlan),   implicit(LinkKind::vxlan_stitch)};
  t.links = {device_link(LinkKind::macvlan, "c1", "eth1", "p0"),
             device_link(LinkKind::macvlan, "c2", "eth1", "p0"),
             device_link(LinkKind::dummy, "c1", "dum0", "dum0"),
             device_link(LinkKind::vxlan, "c1", "eth2", "vni42"),
             device_link(LinkKind::vxlan_stitch, "c2", "eth2", "vni43")};
  t.links[1].device.mode = "vepa";
  t.links[1].device.mac = "aa:c1:ab:00:00:02";
  t.links[3].device.remote = "10.77.0.2";
  t.links[3].device.vni = 42;
  t.links[3].device.src_port = 5000;
  t.links[4].device.remote = "10.77.0.3";
  t.links[4].device.vni = 43;
  t.links[4].device.parent = "vxp0";
  return t;
}

void host_has(Harness &h, const std::string &name) {
  std::lock_guard lock(h.fakes.world.mutex);
  h.fakes.world.ifaces[{"", name}] = {"dummy", "", "", "02:00:00:00:ff:01", true, {}, 900};
}

std::optional<fakes::Iface> iface(Harness &h, const std::string &ns, const std::string &name) {
  std::lock_guard lock(h.fakes.world.mutex);
  auto it = h.fakes.world.ifaces.find({ns, name});
  return it == h.fakes.world.ifaces.end() ? std::nullopt : std::optional(it->second);
}

std::string container_ns(Harness &h, const std::string &lab, const std::string &node) {
  std::lock_guard lock(h.fakes.world.mutex);
  return fmt::format("pid:{}", h.fakes.world.containers.at(plan::container_name(lab, node)).pid);
}

std::vector<state::ObjectRecord> devices(Harness &h, const std::string &lab) {
  auto objects = h.store->objects(lab);
  REQUIRE(objects);
  std::vector<state::ObjectRecord> out;
  for (const auto &object : *objects) {
    if (object.type == state::ObjectType::link_device) {
      out.push_back(object);
    }
  }
  return out;
}

} // namespace

TEST_CASE("device links on fakes: each link makes its device in the node, recorded") {
  Harness h;
  host_has(h, "p0");
  auto t = device_lab();
  h.fakes.world.routes["10.77.0.2"] = "ltbvx-under";
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  CHECK(fakes::problems(h, t.name, {t}) == "");
  const auto c1 = container_ns(h, t.name, "c1");
  const auto c2 = container_ns(h, t.name, "c2");

  auto mv1 = iface(h, c1, "eth1");
  REQUIRE(mv1);
  CHECK(mv1->kind == "macvlan");
  CHECK(mv1->device.parent == "p0");
  CHECK(mv1->device.mode == "bridge");
  auto mv2 = iface(h, c2, "eth1");
  REQUIRE(mv2);
  CHECK(mv2->device.mode == "vepa");
  CHECK(mv2->mac == "aa:c1:ab:00:00:02");
  auto dummy = iface(h, c1, "dum0");
  REQUIRE(dummy);
  CHECK(dummy->kind == "dummy");
  auto vxlan = iface(h, c1, "eth2");
  REQUIRE(vxlan);
  CHECK(vxlan->kind == "vxlan");
  CHECK(vxlan->device.vni == 42);
  CHECK(vxlan->device.remote == "10.77.0.2");
  CHECK(vxlan->device.dst_port == topology::k_vxlan_default_port);
  CHECK(vxlan->device.src_port == 5000);
  CHECK(vxlan->device.parent == "ltbvx-under"); // by the route to the remote

  // vxlan-stitch: the tunnel on the host, a veth into the node, redirected both ways.
  const auto key = topology::link_key(t.links[4]);
  const auto host_vxlan = plan::host_veth_name(t.name, key, "vxlan-stitch");
  const auto host_veth = plan::host_veth_name(t.name, key, "c2");
  auto tunnel = iface(h, "", host_vxlan);
  REQUIRE(tunnel);
  CHECK(tunnel->kind == "vxlan");
  CHECK(tunnel->device.parent == "vxp0");
  CHECK(tunnel->device.vni == 43);
  auto veth = iface(h, "", host_veth);
  REQUIRE(veth);
  CHECK(veth->peer == "eth2");
  CHECK(veth->peer_ns == c2);
  {
    std::lock_guard lock(h.fakes.world.mutex);
    CHECK(h.fakes.world.redirects.count({host_vxlan, host_veth}) == 1);
    CHECK(h.fakes.world.redirects.count({host_veth, host_vxlan}) == 1);
  }

  // Recorded: each device with the link's parameters, each link up.
  const auto recorded = devices(h, t.name);
  CHECK(recorded.size() == 7); // 4 node devices + the stitch's node end and 2 host ends
  for (const auto &object : recorded) {
    CHECK(object.status == state::RecordStatus::created);
    if (object.name == host_vxlan) {
      CHECK(object.detail == "vxlan-stitch remote=10.77.0.3 vni=43 dst-port=14789 parent=vxp0");
      CHECK(object.parent.empty());
    }
  }
  auto links = h.store->links(t.name);
  REQUIRE(links);
  CHECK(links->size() == 5);
  for (const auto &link : *links) {
    CHECK(link.status == state::RecordStatus::up);
  }

  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));
}

TEST_CASE("device links on fakes: down removes what ltb made, and never the parent") {
  Harness h;
  host_has(h, "p0");
  auto t = device_lab();
  REQUIRE(h.up(t));
  auto down = h.down(t.name);
  REQUIRE(down);
  INFO(fakes::errors_of(*down));
  CHECK(down->ok());
  std::lock_guard lock(h.fakes.world.mutex);
  std::vector<std::string> left;
  for (const auto &[key, iface] : h.fakes.world.ifaces) {
    left.push_back(key.first + "/" + key.second);
  }
  CHECK(left == std::vector<std::string>{"/p0"});
  CHECK(h.fakes.world.redirects.empty());
}

TEST_CASE("device links on fakes: a changed parameter makes the device again") {
  Harness h;
  host_has(h, "p0");
  auto t = device_lab();
  REQUIRE(h.up(t));
  t.links[3].device.remote = "10.77.0.9";
  t.links[0].device.mode = "private";
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  const auto described = fakes::describe_plan(*plan);
  CHECK(plan->actions.size() == 2);
  CHECK(described.find("c1:eth2-vxlan:vni42") != std::string::npos);
  CHECK(described.find("c1:eth1-macvlan:p0") != std::string::npos);
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  auto vxlan = iface(h, container_ns(h, t.name, "c1"), "eth2");
  REQUIRE(vxlan);
  CHECK(vxlan->device.remote == "10.77.0.9");
  CHECK(iface(h, container_ns(h, t.name, "c1"), "eth1")->device.mode == "private");
  CHECK(devices(h, t.name).size() == 7);
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));
}

TEST_CASE("device links on fakes: a link dropped from the file goes, with its host ends") {
  Harness h;
  host_has(h, "p0");
  auto t = device_lab();
  REQUIRE(h.up(t));
  const auto key = topology::link_key(t.links[4]);
  t.links.pop_back(); // the vxlan-stitch
  t.links.pop_back(); // the vxlan
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  CHECK(!iface(h, "", plan::host_veth_name(t.name, key, "vxlan-stitch")));
  CHECK(!iface(h, "", plan::host_veth_name(t.name, key, "c2")));
  CHECK(!iface(h, container_ns(h, t.name, "c1"), "eth2"));
  CHECK(!iface(h, container_ns(h, t.name, "c2"), "eth2"));
  CHECK(iface(h, container_ns(h, t.name, "c1"), "dum0"));
  CHECK(devices(h, t.name).size() == 3);
  CHECK(fakes::problems(h, t.name, {t}) == "");
}

TEST_CASE("device links on fakes: a missing parent or kernel type fails the link, named") {
  Harness h; // no p0 on the host
  h.fakes.world.missing_kinds.insert("dummy");
  auto t = device_lab();
  t.links[0].b.loc = {9, 25};
  auto report = h.up(t);
  REQUIRE(report);
  CHECK(!report->ok());
  const auto errors = fakes::errors_of(*report);
  CHECK(errors.find("/labs/dv.yaml:9:25: link c1:eth1-macvlan:p0: the host has no interface "
                    "'p0' for the macvlan interface c1:eth1") != std::string::npos);
  CHECK(errors.find("cannot create dummy interface dum0: Operation not supported") !=
        std::string::npos);
  // Recorded before it was made: down finds and forgets everything.
  auto down = h.down(t.name);
  REQUIRE(down);
  CHECK(down->ok());
  std::lock_guard lock(h.fakes.world.mutex);
  CHECK(h.fakes.world.ifaces.empty());
}

TEST_CASE("device links on fakes: the node's direction is shaped") {
  Harness h;
  host_has(h, "p0");
  auto t = device_lab();
  t.links[2].impair_a.delay_us = 10000;
  t.links[2].impair_a_set = true;
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  const auto c1 = container_ns(h, t.name, "c1");
  {
    std::lock_guard lock(h.fakes.world.mutex);
    auto it = h.fakes.world.qdiscs.find({c1, "dum0"});
    REQUIRE(it != h.fakes.world.qdiscs.end());
    CHECK(it->second.delay_us == 10000);
  }
  // `ltb link down`: the node's interface loses its carrier; up again brings it back.
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  CHECK_MESSAGE(plan->empty(), fakes::describe_plan(*plan));
}

TEST_CASE("device links on fakes: impairments need the kernel's netem") {
  Harness h;
  host_has(h, "p0");
  h.relay_mode = true;
  auto t = device_lab();
  t.links[2].impair_a.delay_us = 10000;
  t.links[2].impair_a_set = true;
  auto report = h.up(t);
  REQUIRE(report);
  CHECK(!report->ok());
  CHECK(fakes::errors_of(*report).find("impairments on a link of type dummy need the kernel's "
                                       "netem") != std::string::npos);
}
