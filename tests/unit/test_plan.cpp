// The planner as a pure function: desired topology x recorded state x observed runtime -> actions.
#include "plan/names.hpp"
#include "plan/plan.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <set>

using namespace ltb;
using plan::ActionKind;

namespace {

/// Every dependency points to an earlier action, once: checked on every plan these tests build.
void check_order(const plan::Plan &p) {
  for (std::size_t i = 0; i < p.actions.size(); ++i) {
    const auto &deps = p.actions[i].deps;
    for (auto dep : deps) {
      CAPTURE(plan::describe(p.actions[i], p));
      CHECK(dep < i);
    }
    std::set<std::size_t> unique(deps.begin(), deps.end());
    CHECK(unique.size() == deps.size());
  }
}

Result<plan::Plan> checked_up(const topology::Topology &desired, const plan::Recorded &recorded,
                              const plan::Observed &observed,
                              const std::vector<std::string> &used) {
  auto p = plan::plan_up(desired, recorded, observed, used);
  if (p) {
    check_order(*p);
  }
  return p;
}

plan::Plan checked_down(const std::string &lab, const plan::Recorded &recorded,
                        const plan::Observed &observed) {
  auto p = plan::plan_down(lab, recorded, observed);
  check_order(p);
  return p;
}

topology::Node container(const std::string &name, const std::string &image = "ltb/busybox:latest") {
  topology::Node node;
  node.name = name;
  node.kind = "linux";
  node.image = image;
  return node;
}

topology::Node bridge(const std::string &name) {
  topology::Node node;
  node.name = name;
  node.kind = "ovs-bridge";
  node.runtime = topology::Runtime::ovs_bridge;
  return node;
}

topology::Link link(const std::string &a, const std::string &ai, const std::string &b,
                    const std::string &bi) {
  topology::Link l;
  l.a = {a, ai, {}};
  l.b = {b, bi, {}};
  l.name = a + "-" + b;
  return l;
}

topology::Topology lab() {
  topology::Topology t;
  t.name = "t";
  t.mgmt.ipv4_subnet = "172.31.5.0/24";
  t.nodes = {container("r1"), container("r2"), container("h1"), bridge("sw1")};
  t.links = {link("r1", "eth1", "r2", "eth1"), link("h1", "eth1", "sw1", "p1"),
             link("r1", "eth2", "sw1", "p2")};
  return t;
}

/// The recorded and observed state after a plan for `t` was applied successfully.
struct World {
  plan::Recorded recorded;
  plan::Observed observed;
};

World converged(const topology::Topology &t, const plan::Plan &p) {
  World w;
  w.recorded.lab = state::LabRecord{
      t.name, "", "", "", p.network, p.subnet, "me", state::RecordStatus::running, 0, 0};
  w.observed.networks.insert(p.network);
  int n = 0;
  for (const auto &node : t.nodes) {
    if (node.runtime == topology::Runtime::ovs_bridge) {
      w.recorded.nodes.push_back({t.name, node.name, node.kind, "", "", "",
                                  plan::bridge_name(t.name, node.name),
                                  state::RecordStatus::running});
      w.observed.bridges[node.name] = {plan::bridge_name(t.name, node.name), {}};
      continue;
    }
    auto id = "id" + std::to_string(++n) + node.image;
    w.recorded.nodes.push_back({t.name, node.name, node.kind, node.image,
                                topology::node_config_hash(node),
                                p.addresses.count(node.name) ? p.addresses.at(node.name) : "", id,
                                state::RecordStatus::running});
    w.observed.containers[node.name] = {id, plan::container_name(t.name, node.name), "running",
                                        topology::node_config_hash(node)};
  }
  auto id_of = [&](const std::string &node) {
    for (const auto &r : w.recorded.nodes) {
      if (r.name == node) {
        return r.runtime_id;
      }
    }
    return std::string();
  };
  for (const auto &[key, l] : p.links) {
    state::LinkRecord record;
    record.lab = t.name;
    record.key = key;
    record.name = l.name;
    record.a_node = l.a.node;
    record.a_iface = l.a.iface;
    record.b_node = l.b.node;
    record.b_iface = l.b.iface;
    record.a_runtime_id = id_of(l.a.node);
    record.b_runtime_id = id_of(l.b.node);
    record.status = state::RecordStatus::up;
    w.recorded.links.push_back(record);
    if (!l.bridge_node.empty()) {
      w.observed.bridges[l.bridge_node].ports.insert(
          plan::host_veth_name(t.name, key, l.container_end()));
    }
  }
  return w;
}

std::size_t count(const plan::Plan &p, ActionKind kind) {
  return std::count_if(p.actions.begin(), p.actions.end(),
                       [&](const plan::Action &a) { return a.kind == kind; });
}

const plan::Action *find(const plan::Plan &p, ActionKind kind, const std::string &node) {
  for (const auto &a : p.actions) {
    if (a.kind == kind && a.node == node) {
      return &a;
    }
  }
  return nullptr;
}

} // namespace

TEST_CASE("a new lab creates the network, every node, bridge and link, in dependency order") {
  auto t = lab();
  auto p = checked_up(t, {}, {}, {});
  REQUIRE(p);
  CHECK(count(*p, ActionKind::create_network) == 1);
  CHECK(count(*p, ActionKind::create_node) == 3);
  CHECK(count(*p, ActionKind::create_bridge) == 1);
  // one p2p link, and one wiring per node on the segment (r1's port, h1's port)
  CHECK(count(*p, ActionKind::wire_links) == 3);
  CHECK(p->addresses.at("r1") == "172.31.5.2");
  CHECK(p->addresses.at("r2") == "172.31.5.3");
  CHECK(p->addresses.at("h1") == "172.31.5.4");
  CHECK(p->gateway == "172.31.5.1");
  // every dependency points backwards and a node waits for the network
  for (std::size_t i = 0; i < p->actions.size(); ++i) {
    for (auto dep : p->actions[i].deps) {
      CHECK(dep < p->actions.size());
    }
  }
  const auto *r1 = find(*p, ActionKind::create_node, "r1");
  REQUIRE(r1);
  CHECK(p->actions[r1->deps.at(0)].kind == ActionKind::create_network);
  // A port waits for the bridge and its own node only, not for the segment's other nodes.
  std::set<std::string> ports_of;
  for (const auto &a : p->actions) {
    if (a.kind == ActionKind::wire_links && a.node == "sw1") {
      REQUIRE(a.links.size() == 1);
      const auto &member = p->links.at(a.links[0]).container_end();
      ports_of.insert(member);
      REQUIRE(a.deps.size() == 2);
      CHECK(p->actions[a.deps[0]].kind == ActionKind::create_bridge);
      CHECK(p->actions[a.deps[1]].kind == ActionKind::create_node);
      CHECK(p->actions[a.deps[1]].node == member);
    }
  }
  CHECK(ports_of == std::set<std::string>{"h1", "r1"});
}

TEST_CASE("an unchanged lab plans nothing") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  REQUIRE(first);
  auto w = converged(t, *first);
  auto again = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(again);
  CHECK(again->empty());
  CHECK(again->addresses == first->addresses);
}

TEST_CASE("a changed image recreates only that node and rewires only its links") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  t.nodes[1].image = "ltb/frr:latest"; // r2
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(count(*p, ActionKind::remove_node) == 1);
  CHECK(count(*p, ActionKind::create_node) == 1);
  const auto *create = find(*p, ActionKind::create_node, "r2");
  REQUIRE(create);
  CHECK(create->why == plan::Reason::image_changed);
  CHECK(plan::to_string(create->why).find("image changed") == 0);
  CHECK(count(*p, ActionKind::wire_links) == 1); // r1-r2 only
  CHECK(count(*p, ActionKind::create_network) == 0);
  CHECK(p->addresses.at("r2") == first->addresses.at("r2")); // address kept
}

TEST_CASE("a removed node goes with its links; the others stay") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  t.nodes.erase(t.nodes.begin() + 2); // h1
  t.links.erase(t.links.begin() + 1); // h1-sw1
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(count(*p, ActionKind::remove_node) == 1);
  CHECK(find(*p, ActionKind::remove_node, "h1"));
  CHECK(count(*p, ActionKind::create_node) == 0);
  CHECK(count(*p, ActionKind::unwire_links) == 1); // the segment port of h1
  CHECK(count(*p, ActionKind::wire_links) == 0);
}

TEST_CASE("a new link creates only that link") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  t.links.push_back(link("r2", "eth2", "h1", "eth2"));
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  REQUIRE(p->actions.size() == 1);
  CHECK(p->actions[0].kind == ActionKind::wire_links);
  CHECK(p->actions[0].deps.empty());
}

TEST_CASE("a removed link is unwired and nothing else changes") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  t.links.erase(t.links.begin()); // r1-r2
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  REQUIRE(p->actions.size() == 1);
  CHECK(p->actions[0].kind == ActionKind::unwire_links);
}

TEST_CASE("drift: a container removed by hand is recreated and its links rewired") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  w.observed.containers.erase("r1");
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  const auto *create = find(*p, ActionKind::create_node, "r1");
  REQUIRE(create);
  CHECK(create->why == plan::Reason::missing);
  CHECK(plan::to_string(create->why).find("missing") != std::string::npos);
  CHECK(count(*p, ActionKind::create_node) == 1);
  CHECK(count(*p, ActionKind::wire_links) == 2); // r1-r2 and r1's port on sw1
  for (const auto &a : p->actions) {
    if (a.kind == ActionKind::wire_links && a.node == "sw1") {
      CHECK(a.links.size() == 1); // h1's port is untouched
    }
  }
}

TEST_CASE("drift: a stopped container and a replaced one are recreated") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  w.observed.containers["r1"].state = "exited";
  w.observed.containers["r2"].id = "someone-else";
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(plan::to_string(find(*p, ActionKind::create_node, "r1")->why) == "container exited");
  CHECK(plan::to_string(find(*p, ActionKind::create_node, "r2")->why) ==
        "container replaced outside ltb");
}

TEST_CASE("drift: a missing bridge is recreated and all its ports rewired") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  w.observed.bridges.erase("sw1");
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(count(*p, ActionKind::create_bridge) == 1);
  CHECK(count(*p, ActionKind::create_node) == 0);
  REQUIRE(count(*p, ActionKind::wire_links) == 2); // r1's port and h1's
}

TEST_CASE("an interrupted run: unfinished records are redone, finished ones kept") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  w.recorded.nodes[0].status = state::RecordStatus::creating; // r1 was being created when ltb died
  w.recorded.links[0].status = state::RecordStatus::creating;
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(find(*p, ActionKind::remove_node, "r1"));
  CHECK(find(*p, ActionKind::create_node, "r1"));
  CHECK(count(*p, ActionKind::create_node) == 1);
}

TEST_CASE("a container left without a record is replaced") {
  auto t = lab();
  plan::Observed observed;
  observed.containers["r1"] = {"orphan", "ltb-t-r1", "running", "x"};
  auto p = checked_up(t, {}, observed, {});
  REQUIRE(p);
  CHECK(find(*p, ActionKind::remove_node, "r1"));
  CHECK(find(*p, ActionKind::create_node, "r1")->why == plan::Reason::not_in_state);
}

TEST_CASE("a recreated node waits for the removals that free its name or address, not for all") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  REQUIRE(first);
  auto w = converged(t, *first);
  auto index_of = [](const plan::Plan &p, const plan::Action *a) {
    REQUIRE(a);
    return static_cast<std::size_t>(a - p.actions.data());
  };
  auto waits = [](const plan::Action *a, std::size_t dep) {
    REQUIRE(a);
    return std::find(a->deps.begin(), a->deps.end(), dep) != a->deps.end();
  };

  SUBCASE("two nodes recreated: each after its own removal only") {
    t.nodes[0].image = "ltb/frr:latest"; // r1
    t.nodes[2].image = "ltb/frr:latest"; // h1
    auto p = checked_up(t, w.recorded, w.observed, {});
    REQUIRE(p);
    const auto *create_r1 = find(*p, ActionKind::create_node, "r1");
    const auto *create_h1 = find(*p, ActionKind::create_node, "h1");
    const auto remove_r1 = index_of(*p, find(*p, ActionKind::remove_node, "r1"));
    const auto remove_h1 = index_of(*p, find(*p, ActionKind::remove_node, "h1"));
    CHECK(waits(create_r1, remove_r1));
    CHECK_FALSE(waits(create_r1, remove_h1));
    CHECK(waits(create_h1, remove_h1));
    CHECK_FALSE(waits(create_h1, remove_r1));
  }

  SUBCASE("a node that takes a departed node's address waits for that node's removal") {
    const auto h1_address = first->addresses.at("h1");
    t.nodes.erase(t.nodes.begin() + 2); // h1, with its link
    t.links.erase(t.links.begin() + 1);
    t.nodes[1].mgmt_ipv4 = h1_address;   // r2
    t.nodes[0].image = "ltb/frr:latest"; // r1, recreated for another reason
    auto p = checked_up(t, w.recorded, w.observed, {});
    REQUIRE(p);
    CHECK(p->addresses.at("r2") == h1_address);
    const auto remove_h1 = index_of(*p, find(*p, ActionKind::remove_node, "h1"));
    CHECK(waits(find(*p, ActionKind::create_node, "r2"), remove_h1));
    CHECK_FALSE(waits(find(*p, ActionKind::create_node, "r1"), remove_h1));
  }

  SUBCASE("a container without a record holds an address nobody knows: every node waits") {
    w.observed.containers["x9"] = {"orphan", "ltb-t-x9", "running", "x"};
    t.nodes[0].image = "ltb/frr:latest"; // r1
    auto p = checked_up(t, w.recorded, w.observed, {});
    REQUIRE(p);
    const auto remove_x9 = index_of(*p, find(*p, ActionKind::remove_node, "x9"));
    CHECK(waits(find(*p, ActionKind::create_node, "r1"), remove_x9));
  }
}

TEST_CASE("a link on an interface that another link frees waits for the unwiring and removals") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  REQUIRE(first);
  auto w = converged(t, *first);
  auto waits_for = [](const plan::Plan &p, const plan::Action *a, ActionKind kind) {
    REQUIRE(a);
    return std::any_of(a->deps.begin(), a->deps.end(),
                       [&](std::size_t d) { return p.actions[d].kind == kind; });
  };
  auto wiring = [](const plan::Plan &p, const std::string &name) -> const plan::Action * {
    for (const auto &a : p.actions) {
      if (a.kind == ActionKind::wire_links && a.name == name) {
        return &a;
      }
    }
    return nullptr;
  };

  SUBCASE("r1:eth1 moves from r2 to h1") {
    t.links[0] = link("r1", "eth1", "h1", "eth2");
    auto p = checked_up(t, w.recorded, w.observed, {});
    REQUIRE(p);
    CHECK(count(*p, ActionKind::unwire_links) == 1);
    CHECK(waits_for(*p, wiring(*p, "r1-h1"), ActionKind::unwire_links));
  }

  SUBCASE("r2 leaves the file; its interface's peer r1:eth1 goes to h1, a kept node") {
    t.nodes.erase(t.nodes.begin() + 1);
    t.links[0] = link("r1", "eth1", "h1", "eth2");
    auto p = checked_up(t, w.recorded, w.observed, {});
    REQUIRE(p);
    REQUIRE(find(*p, ActionKind::remove_node, "r2"));
    CHECK(waits_for(*p, wiring(*p, "r1-h1"), ActionKind::remove_node));
  }

  SUBCASE("a kept node's port on a segment waits for the removals too") {
    t.nodes.erase(t.nodes.begin() + 1); // r2
    t.links[0] = link("r2x", "eth1", "r1", "eth9");
    t.nodes.push_back(container("r2x"));
    t.links.push_back(link("h1", "eth2", "sw1", "p9"));
    auto p = checked_up(t, w.recorded, w.observed, {});
    REQUIRE(p);
    const plan::Action *port = nullptr;
    for (const auto &a : p->actions) {
      if (a.kind == ActionKind::wire_links && a.node == "sw1") {
        port = &a;
      }
    }
    CHECK(waits_for(*p, port, ActionKind::remove_node));
  }
}

TEST_CASE("management subnet: allocated around used ones, then kept") {
  auto t = lab();
  t.mgmt.ipv4_subnet.clear();
  auto p = checked_up(t, {}, {}, {"172.20.0.0/24", "172.20.1.0/25", "10.0.0.0/8"});
  REQUIRE(p);
  CHECK(p->subnet == "172.20.2.0/24");
  auto w = converged(t, *p);
  auto again = checked_up(t, w.recorded, w.observed, {"172.20.2.0/24"});
  REQUIRE(again);
  CHECK(again->subnet == "172.20.2.0/24");
  CHECK(again->empty());

  auto full = checked_up(t, {}, {}, {"172.20.0.0/16"});
  CHECK_FALSE(full);
}

TEST_CASE("management subnet: a lab network left without a state record keeps its subnet") {
  // A lost or fresh state file, and the lab's own network still there (its subnet counts as
  // used): the plan takes that subnet rather than a new one the network does not have.
  auto t = lab();
  t.mgmt.ipv4_subnet.clear();
  plan::Observed observed;
  observed.networks.insert("ltb-t");
  observed.network_subnets["ltb-t"] = "172.20.7.0/24";
  auto p = checked_up(t, {}, observed, {"172.20.0.0/24", "172.20.7.0/24"});
  REQUIRE(p);
  CHECK(p->subnet == "172.20.7.0/24");
  CHECK(count(*p, ActionKind::remove_network) == 0);
  CHECK(count(*p, ActionKind::create_network) == 0);
  for (const auto &[node, address] : p->addresses) {
    CHECK(address.rfind("172.20.7.", 0) == 0);
  }
  // The file names another subnet: the network is made again with it.
  t.mgmt.ipv4_subnet = "172.31.6.0/24";
  auto fixed = checked_up(t, {}, observed, {});
  REQUIRE(fixed);
  CHECK(count(*fixed, ActionKind::remove_network) == 1);
  CHECK(count(*fixed, ActionKind::create_network) == 1);
}

TEST_CASE("addresses: explicit ones are honoured, others stable when nodes come and go") {
  auto t = lab();
  t.nodes[1].mgmt_ipv4 = "172.31.5.2"; // r2 asks for what r1 would get
  auto p = checked_up(t, {}, {}, {});
  REQUIRE(p);
  CHECK(p->addresses.at("r2") == "172.31.5.2");
  CHECK(p->addresses.at("r1") == "172.31.5.3");
  auto w = converged(t, *p);
  t.nodes.insert(t.nodes.begin(), container("r0"));
  auto again = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(again);
  CHECK(again->addresses.at("r1") == "172.31.5.3");
  CHECK(again->addresses.at("h1") == p->addresses.at("h1"));
  CHECK(again->addresses.at("r0") == "172.31.5.5");
  CHECK(count(*again, ActionKind::create_node) == 1);
}

TEST_CASE("a changed management subnet re-addresses the network and recreates containers") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  t.mgmt.ipv4_subnet = "172.31.6.0/24";
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(count(*p, ActionKind::remove_network) == 1);
  CHECK(count(*p, ActionKind::create_network) == 1);
  CHECK(count(*p, ActionKind::create_node) == 3);
  CHECK(count(*p, ActionKind::create_bridge) == 0);
}

TEST_CASE("generated link names stay as first recorded") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  t.links[0].name = "r1-r2-renamed-by-generator";
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(p->links.at(topology::link_key(t.links[0])).name == "r1-r2");
  CHECK(p->empty());
}

TEST_CASE("exec commands wait for the node's links") {
  auto t = lab();
  t.nodes[2].exec = {"ip addr add 10.0.0.1/24 dev eth1"}; // h1
  auto p = checked_up(t, {}, {}, {});
  REQUIRE(p);
  const auto *exec = find(*p, ActionKind::run_exec, "h1");
  REQUIRE(exec);
  bool waits_for_segment = false;
  for (auto dep : exec->deps) {
    waits_for_segment |= p->actions[dep].kind == ActionKind::wire_links;
  }
  CHECK(waits_for_segment);
}

TEST_CASE("a link between two bridges is refused") {
  auto t = lab();
  t.nodes.push_back(bridge("sw2"));
  t.links.push_back(link("sw1", "p9", "sw2", "p1"));
  auto p = checked_up(t, {}, {}, {});
  REQUIRE_FALSE(p);
  CHECK(p.error().message.find("two ovs-bridge nodes") != std::string::npos);
}

TEST_CASE("teardown removes recorded and observed objects, network after containers") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  w.observed.containers["stray"] = {"x", "ltb-t-stray", "running", ""};
  w.observed.host_links = {plan::veth_prefix("t") + "abcdef"};
  w.recorded.objects.push_back({1, "t", state::ObjectType::container, "ltb-t-half", "half", "", "",
                                state::RecordStatus::creating});
  auto p = checked_down("t", w.recorded, w.observed);
  CHECK(p.teardown);
  CHECK(count(p, ActionKind::remove_node) == 5); // r1 r2 h1 stray half
  CHECK(count(p, ActionKind::remove_bridge) == 1);
  CHECK(count(p, ActionKind::remove_host_link) == 1);
  REQUIRE(count(p, ActionKind::remove_network) == 1);
  for (const auto &a : p.actions) {
    if (a.kind == ActionKind::remove_network) {
      CHECK(a.deps.size() == 5);
    }
  }
}

TEST_CASE("teardown removes only the networks that carry the lab's label") {
  auto t = lab();
  auto first = plan::plan_up(t, {}, {}, {});
  auto w = converged(t, *first);
  // What an older ltb recorded when `up` failed on a network that existed before the lab: its
  // name as the lab's management network and as an object, and no network with the lab's label.
  w.observed.networks.clear();
  w.recorded.lab->mgmt_network = "users-net";
  w.recorded.objects.push_back(
      {1, "t", state::ObjectType::network, "users-net", "", "", "", state::RecordStatus::creating});
  auto p = plan::plan_down("t", w.recorded, w.observed);
  CHECK(count(p, ActionKind::remove_network) == 0);
  // The lab's own network (found by its label) goes, and only that one.
  w.observed.networks.insert("ltb-t");
  p = plan::plan_down("t", w.recorded, w.observed);
  REQUIRE(count(p, ActionKind::remove_network) == 1);
  for (const auto &a : p.actions) {
    if (a.kind == ActionKind::remove_network) {
      CHECK(a.name == "ltb-t");
    }
  }
}

TEST_CASE("describe says what and why") {
  auto t = lab();
  auto p = checked_up(t, {}, {}, {});
  REQUIRE(p);
  const auto *r1 = find(*p, ActionKind::create_node, "r1");
  CHECK(plan::describe(*r1, *p) == "create node r1 as ltb-t-r1 at 172.31.5.2 [new]");
}

TEST_CASE("a node whose peer is recreated runs its exec commands again after the rewiring") {
  auto t = lab();
  t.nodes[0].exec = {"ip addr add 10.0.0.1/30 dev eth1"}; // r1
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  t.nodes[1].env["FOO"] = "1"; // r2 changes; r1 stays
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(count(*p, ActionKind::create_node) == 1);
  const auto *rerun = find(*p, ActionKind::run_exec, "r1");
  REQUIRE(rerun);
  CHECK(rerun->why == plan::Reason::links_rewired);
  REQUIRE(rerun->deps.size() == 1);
  CHECK(p->actions[rerun->deps[0]].kind == ActionKind::wire_links);
}

namespace {

topology::Node vm(const std::string &name) {
  topology::Node node;
  node.name = name;
  node.kind = "vm";
  node.runtime = topology::Runtime::vm;
  node.kernel = "/images/vmlinuz";
  return node;
}

/// t plus a VM linked to r1 and on sw1.
topology::Topology mixed() {
  auto t = lab();
  t.nodes.push_back(vm("v1"));
  t.links.push_back(link("v1", "eth1", "r1", "eth3"));
  t.links.push_back(link("v1", "eth2", "sw1", "p3"));
  return t;
}

/// converged() for the VM too: recorded with its VM hash, observed as a running domain.
World converged_mixed(const topology::Topology &t, const plan::Plan &p) {
  auto w = converged(t, p);
  for (auto &record : w.recorded.nodes) {
    if (record.name == "v1") {
      record.config_hash = plan::vm_config_hash(t, *t.find_node("v1"));
      w.observed.vms["v1"] = {record.runtime_id, plan::container_name(t.name, "v1"), "running",
                              record.config_hash};
      w.observed.containers.erase("v1");
    }
  }
  w.observed.dhcp_hosts = p.dhcp_hosts; // the DHCP server runs with the plan's reservations
  return w;
}

} // namespace

TEST_CASE("VMs: created after the network; links wired after, segment links too") {
  auto t = mixed();
  auto p = checked_up(t, {}, {}, {});
  REQUIRE(p);
  const auto *create = find(*p, ActionKind::create_vm, "v1");
  REQUIRE(create);
  CHECK(count(*p, ActionKind::create_node) == 3); // containers only
  bool after_bridge = false;
  bool after_network = false;
  for (auto dep : create->deps) {
    after_bridge |= p->actions[dep].kind == ActionKind::create_bridge;
    after_network |= p->actions[dep].kind == ActionKind::create_network;
  }
  CHECK_FALSE(after_bridge); // its segment NIC is a tap of ltb's, joined to the port later
  CHECK(after_network);
  CHECK(p->addresses.count("v1") == 1);
  int vm_wirings = 0;
  for (const auto &a : p->actions) {
    const bool vm_port = a.kind == ActionKind::wire_links && a.node == "sw1" &&
                         p->links.at(a.links.front()).container_end() == "v1";
    if (vm_port || (a.kind == ActionKind::wire_links && a.name == "v1-r1")) {
      ++vm_wirings;
      CHECK(std::find_if(a.deps.begin(), a.deps.end(), [&](std::size_t d) {
              return p->actions[d].kind == ActionKind::create_vm;
            }) != a.deps.end());
    }
  }
  CHECK(vm_wirings == 2);
}

TEST_CASE("VMs: unchanged plans nothing; destroyed by hand is recreated and its links rewired") {
  auto t = mixed();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged_mixed(t, *first);
  auto again = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(again);
  CHECK(again->empty());

  w.observed.vms.erase("v1");
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(find(*p, ActionKind::remove_vm, "v1"));
  CHECK(plan::to_string(find(*p, ActionKind::create_vm, "v1")->why) ==
        "domain missing (removed outside ltb)");
  CHECK(count(*p, ActionKind::create_node) == 0);
  CHECK(count(*p, ActionKind::wire_links) == 2); // v1-r1 and v1's port on sw1
}

TEST_CASE("VMs: a new link on a VM recreates it (its NICs are fixed); memory too") {
  auto t = mixed();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged_mixed(t, *first);
  t.links.push_back(link("v1", "eth3", "h1", "eth2"));
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(find(*p, ActionKind::create_vm, "v1")->why == plan::Reason::configuration_changed);
  CHECK(count(*p, ActionKind::create_node) == 0);

  auto t2 = mixed();
  t2.nodes.back().memory_bytes = 512LL << 20;
  auto p2 = checked_up(t2, w.recorded, w.observed, {});
  REQUIRE(p2);
  CHECK(find(*p2, ActionKind::create_vm, "v1"));
  CHECK(count(*p2, ActionKind::create_node) == 0);
}

TEST_CASE("VMs: NIC order follows the interface names naturally") {
  auto t = mixed();
  t.links.push_back(link("v1", "eth10", "h1", "eth2"));
  auto ifaces = plan::vm_interfaces(t, "v1");
  REQUIRE(ifaces.size() == 3);
  CHECK(ifaces[0].first == "eth1");
  CHECK(ifaces[1].first == "eth2");
  CHECK(ifaces[2].first == "eth10");
}

TEST_CASE("VMs: teardown removes the domain with its links' taps") {
  auto t = mixed();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged_mixed(t, *first);
  auto p = checked_down("t", w.recorded, w.observed);
  const auto *remove = find(p, ActionKind::remove_vm, "v1");
  REQUIRE(remove);
  CHECK(remove->links.size() == 2);
  CHECK(count(p, ActionKind::remove_node) == 3);
}

TEST_CASE("VMs: the DHCP server is configured before the VMs start, with one reservation each") {
  auto t = mixed();
  t.nodes.push_back(vm("v2"));
  auto p = checked_up(t, {}, {}, {});
  REQUIRE(p);
  REQUIRE(count(*p, ActionKind::configure_dhcp) == 1);
  std::size_t dhcp = 0;
  for (std::size_t i = 0; i < p->actions.size(); ++i) {
    if (p->actions[i].kind == ActionKind::configure_dhcp) {
      dhcp = i;
    }
  }
  CHECK(p->actions[dhcp].name == plan::mgmt_bridge_name("t"));
  CHECK(p->actions[dhcp].why == plan::Reason::new_object);
  CHECK(p->actions[p->actions[dhcp].deps.at(0)].kind == ActionKind::create_network);
  for (const auto *name : {"v1", "v2"}) {
    const auto *create = find(*p, ActionKind::create_vm, name);
    REQUIRE(create);
    CHECK(std::find(create->deps.begin(), create->deps.end(), dhcp) != create->deps.end());
    auto line = fmt::format("{},{},{}\n", plan::vm_mac("t", name, 0), p->addresses.at(name), name);
    CHECK(p->dhcp_hosts.find(line) != std::string::npos);
  }
  CHECK(std::count(p->dhcp_hosts.begin(), p->dhcp_hosts.end(), '\n') == 2);
}

TEST_CASE("VMs: the DHCP server is restarted when reservations change, kept when they do not") {
  auto t = mixed();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged_mixed(t, *first);

  // A recreated VM keeps its address: the server is not touched.
  w.observed.vms.erase("v1");
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(count(*p, ActionKind::configure_dhcp) == 0);

  // The server died: started again.
  auto w2 = converged_mixed(t, *first);
  w2.observed.dhcp_hosts.reset();
  auto p2 = checked_up(t, w2.recorded, w2.observed, {});
  REQUIRE(p2);
  CHECK(count(*p2, ActionKind::configure_dhcp) == 1);
  CHECK(count(*p2, ActionKind::create_vm) == 0);

  // Another VM: one restart with both reservations.
  auto t3 = mixed();
  t3.nodes.push_back(vm("v2"));
  auto p3 = checked_up(t3, w2.recorded, converged_mixed(t, *first).observed, {});
  REQUIRE(p3);
  REQUIRE(count(*p3, ActionKind::configure_dhcp) == 1);
  CHECK(find(*p3, ActionKind::create_vm, "v2"));
  CHECK(p3->dhcp_hosts.find(",v2\n") != std::string::npos);
}

TEST_CASE("VMs: the DHCP server stops when the last VM goes, and with the lab") {
  auto t = mixed();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged_mixed(t, *first);
  auto without = lab();
  auto p = checked_up(without, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(count(*p, ActionKind::remove_dhcp) == 1);
  CHECK(p->dhcp_hosts.empty());

  auto down = checked_down("t", w.recorded, w.observed);
  CHECK(count(down, ActionKind::remove_dhcp) == 1);
  // Only a record left (crash before the server wrote its pid file): still stopped.
  w.observed.dhcp_hosts.reset();
  w.recorded.objects.push_back(
      {1, "t", state::ObjectType::dhcp, "dnsmasq", "", "", "", state::RecordStatus::creating});
  CHECK(count(checked_down("t", w.recorded, w.observed), ActionKind::remove_dhcp) == 1);

  // A lab without VMs has no DHCP server.
  auto plain = checked_up(lab(), {}, {}, {});
  REQUIRE(plain);
  CHECK(count(*plain, ActionKind::configure_dhcp) == 0);
}

TEST_CASE("reasons: every reason's text reads back as the same reason") {
  using plan::Reason;
  using plan::Why;
  using state::ObjectType;
  const Why whys[] = {Reason::new_object,
                      Reason::not_in_state,
                      Reason::kind_changed,
                      Reason::unfinished,
                      Reason::removal_unfinished,
                      Why(Reason::missing, ObjectType::domain),
                      Why(Reason::replaced, ObjectType::container),
                      Why(Reason::not_running, ObjectType::container, "exited"),
                      Why(Reason::not_running, ObjectType::domain, "shut off"),
                      Why(Reason::image_changed, ObjectType::container, "a:1 -> b:2"),
                      Reason::configuration_changed,
                      Why(Reason::address_changed, ObjectType::container, "10.0.0.2 -> 10.0.0.3"),
                      Reason::network_changed,
                      Reason::readdressed,
                      Reason::not_lab_network,
                      Reason::network_recreated,
                      Reason::vm_addresses_changed,
                      Reason::no_vm_left,
                      Reason::removed_from_file,
                      Reason::rewire,
                      Reason::node_created,
                      Reason::links_rewired,
                      Reason::lab_removed,
                      Reason::interrupted_run};
  for (const auto &why : whys) {
    auto text = plan::to_string(why);
    CAPTURE(text);
    CHECK(text.find('{') == std::string::npos);
    auto back = plan::parse_why(text);
    REQUIRE(back);
    CHECK(back->reason == why.reason);
    CHECK(back->detail == why.detail);
    CHECK(plan::to_string(*back) == text);
  }
  CHECK(plan::to_string(Why(Reason::missing, ObjectType::bridge)) ==
        "bridge missing (removed outside ltb)");
  CHECK(plan::to_string(Why(Reason::not_running, ObjectType::container, "exited")) ==
        "container exited");
  CHECK(!plan::parse_why("because"));
  CHECK(!plan::parse_why("image changed: "));
}

TEST_CASE("node state: the drift rules `ltb status` shows are the planner's") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  auto record = [&](const std::string &name) -> state::NodeRecord & {
    for (auto &r : w.recorded.nodes) {
      if (r.name == name) {
        return r;
      }
    }
    FAIL("no record of " << name);
    return w.recorded.nodes.front();
  };
  for (const auto &r : w.recorded.nodes) {
    CHECK(plan::node_state(r, w.observed, true) == "running");
    CHECK(!plan::node_drift(r, w.observed));
  }
  w.observed.containers.erase("r1");
  w.observed.containers["r2"].state = "exited";
  w.observed.containers["h1"].id = "other";
  w.observed.bridges.erase("sw1");
  CHECK(plan::node_state(record("r1"), w.observed, true) == "missing");
  CHECK(plan::node_state(record("r2"), w.observed, true) == "exited");
  CHECK(plan::node_state(record("h1"), w.observed, true) == "replaced");
  CHECK(plan::node_state(record("sw1"), w.observed, true) == "missing");
  CHECK(plan::node_state(record("sw1"), w.observed, false) == "running"); // bridges not asked
  record("r1").status = state::RecordStatus::creating;
  CHECK(plan::node_state(record("r1"), w.observed, true) == "creating");
  // Each state that is not "running" is one the planner recreates the node for.
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  for (const auto *name : {"r1", "r2", "h1"}) {
    const auto *create = find(*p, ActionKind::create_node, name);
    REQUIRE(create);
    CHECK(create->why == plan::node_drift(record(name), w.observed)->reason);
  }
  CHECK(find(*p, ActionKind::create_bridge, "sw1"));
}

TEST_CASE("order: a segment link unwired before its bridge is removed, never after") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  REQUIRE(first);
  auto w = converged(t, *first);
  // sw1 and both its links leave the file: the unwiring comes first and the removal waits for it.
  t.nodes.pop_back();
  t.links.resize(1);
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  const auto *unwire = find(*p, ActionKind::unwire_links, "sw1");
  const auto *remove = find(*p, ActionKind::remove_bridge, "sw1");
  REQUIRE(unwire);
  REQUIRE(remove);
  REQUIRE(remove->deps.size() == 1);
  CHECK(&p->actions[remove->deps[0]] == unwire);
}

TEST_CASE("killed down: a lab recorded as removing plans as absent and is made again") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  w.recorded.lab->status = state::RecordStatus::removing;
  SUBCASE("everything still runs (the runtime may be removing it right now)") {}
  SUBCASE("some containers are gone, their records not yet") {
    w.observed.containers.erase("r1");
    w.observed.containers.erase("h1");
  }
  SUBCASE("a container is being removed by Docker") {
    w.observed.containers["r2"].state = "removing";
  }
  SUBCASE("a node's record went with its container") {
    w.observed.containers.erase("r2");
    w.recorded.nodes.erase(w.recorded.nodes.begin() + 1);
  }
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(!p->empty());
  for (const auto &node : t.nodes) {
    CAPTURE(node.name);
    bool bridge = node.runtime == topology::Runtime::ovs_bridge;
    const auto *create =
        find(*p, bridge ? ActionKind::create_bridge : ActionKind::create_node, node.name);
    REQUIRE(create);
    // What is left of the node goes first (waiting for a removal in progress), then it is made.
    const auto *remove =
        find(*p, bridge ? ActionKind::remove_bridge : ActionKind::remove_node, node.name);
    bool recorded = false;
    for (const auto &r : w.recorded.nodes) {
      recorded = recorded || r.name == node.name;
    }
    if (bridge) {
      // create_bridge deletes what is left of a bridge itself when its reason is not "new".
      CHECK(create->why == plan::Reason::removal_unfinished);
      CHECK(!remove);
    } else if (recorded || w.observed.containers.count(node.name)) {
      REQUIRE(remove);
      CHECK(std::find(create->deps.begin(), create->deps.end(),
                      static_cast<std::size_t>(remove - p->actions.data())) != create->deps.end());
    }
  }
  // Every link is wired again, to the new nodes (the p2p link, and a port per segment node).
  CHECK(count(*p, ActionKind::wire_links) == 3);
  // Once applied, the next plan is empty.
  auto again = checked_up(t, converged(t, *p).recorded, converged(t, *p).observed, {});
  REQUIRE(again);
  CHECK(again->empty());
}

TEST_CASE("killed down: a node recorded as removing is made again, with its reason") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  auto w = converged(t, *first);
  w.recorded.nodes[0].status = state::RecordStatus::removing;
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  const auto *create = find(*p, ActionKind::create_node, w.recorded.nodes[0].name);
  REQUIRE(create);
  CHECK(create->why == plan::Reason::removal_unfinished);
  CHECK(plan::describe(*create, *p).find("[removal unfinished by an earlier run]") !=
        std::string::npos);
  CHECK(find(*p, ActionKind::remove_node, w.recorded.nodes[0].name));
  CHECK(plan::node_state(w.recorded.nodes[0], w.observed, true) == "removing");
}

TEST_CASE("after up: a node not observed running is reported, a converged lab is not") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  REQUIRE(first);
  auto w = converged(t, *first);
  CHECK(plan::not_converged(t, w.observed).empty());
  w.observed.containers.erase("r1");
  w.observed.containers["r2"].state = "removing";
  w.observed.bridges.erase("sw1");
  auto problems = plan::not_converged(t, w.observed);
  REQUIRE(problems.size() == 3);
  CHECK(problems[0] == "node r1 of lab t is not running after ltb up (its container is missing); "
                       "run `ltb up` again, `ltb status t` shows the lab");
  CHECK(problems[1].find("node r2 of lab t is not running after ltb up (its container is "
                         "removing)") == 0);
  CHECK(problems[2].find("node sw1 of lab t is not running after ltb up (its bridge is "
                         "missing)") == 0);
}

TEST_CASE("plan: containerlab's wait-for and network-mode order the creations") {
  topology::Topology t;
  t.name = "w";
  t.mgmt.ipv4_subnet = "172.31.6.0/24";
  // In file order a, b, c, d: a waits for c's create, b shares c's namespace, d's configure
  // stage (its exec) waits for a.
  t.nodes = {container("a"), container("b"), container("c"), container("d")};
  t.nodes[0].wait_for = {{"create", "c", "healthy", {}}};
  t.nodes[1].network_mode = "container:c";
  t.nodes[3].wait_for = {{"configure", "a", "create", {}}};
  t.nodes[0].exec = {"true"};
  t.nodes[3].exec = {"true"};
  auto p = checked_up(t, {}, {}, {});
  REQUIRE(p);
  std::map<std::string, std::size_t> creation;
  std::map<std::string, std::size_t> exec;
  for (std::size_t i = 0; i < p->actions.size(); ++i) {
    const auto &action = p->actions[i];
    if (action.kind == ActionKind::create_node) {
      creation[action.node] = i;
    } else if (action.kind == ActionKind::run_exec) {
      exec[action.node] = i;
    }
  }
  auto depends = [&](std::size_t action, std::size_t on) {
    const auto &deps = p->actions[action].deps;
    return std::find(deps.begin(), deps.end(), on) != deps.end();
  };
  CHECK(depends(creation.at("a"), creation.at("c")));
  CHECK(depends(creation.at("b"), creation.at("c")));
  CHECK_FALSE(depends(creation.at("c"), creation.at("a")));
  CHECK_FALSE(depends(creation.at("d"), creation.at("a"))); // only its exec waits
  CHECK(depends(exec.at("d"), creation.at("a")));
  CHECK(depends(exec.at("d"), exec.at("a")));
  // A node in another's namespace has no management address of its own.
  CHECK(p->addresses["b"].empty());
  CHECK_FALSE(p->addresses["a"].empty());

  // Nothing to wait for when the node waited for already runs: only the new node is made.
  auto w = converged(t, *p);
  w.observed.containers.erase("a");
  w.recorded.nodes.erase(std::remove_if(w.recorded.nodes.begin(), w.recorded.nodes.end(),
                                        [](const auto &r) { return r.name == "a"; }),
                         w.recorded.nodes.end());
  auto again = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(again);
  std::size_t made = 0;
  for (const auto &action : again->actions) {
    made += action.kind == ActionKind::create_node;
  }
  CHECK(made == 1);
}

// --- mgmt.network naming a Docker network that exists (containerlab's `network: bridge`) ---

namespace {

topology::Topology joining_lab() {
  auto t = lab();
  t.file = "/labs/t.clab.yml";
  t.mgmt.network = "users-net";
  t.mgmt.network_loc = {3, 12};
  t.mgmt.ipv4_subnet = "172.20.20.0/24"; // containerlab's default, from r1's mgmt-ipv4
  t.mgmt.ipv4_subnet_default = true;
  t.nodes[0].mgmt_ipv4 = "10.77.0.10";
  t.nodes[0].mgmt_ipv4_loc = {9, 18};
  return t;
}

plan::Observed users_net() {
  plan::Observed observed;
  observed.external_network =
      plan::ExternalNetwork{"users-net", "abc123", "10.77.0.0/24", "10.77.0.254"};
  return observed;
}

} // namespace

TEST_CASE("a lab joins an existing network: never made or removed, Docker's addresses kept") {
  auto t = joining_lab();
  auto observed = users_net();
  auto p = checked_up(t, {}, observed, {});
  REQUIRE(p);
  CHECK(p->network == "users-net");
  CHECK(p->network_external);
  CHECK(p->network_id == "abc123");
  CHECK(p->subnet == "10.77.0.0/24");
  CHECK(p->gateway == "10.77.0.254");
  CHECK(count(*p, ActionKind::create_network) == 0);
  CHECK(count(*p, ActionKind::remove_network) == 0);
  // The fixed address is the file's; the others are Docker's, given when the node is made.
  CHECK(p->addresses.at("r1") == "10.77.0.10");
  CHECK((!p->addresses.count("r2") || p->addresses.at("r2").empty()));
  CHECK(count(*p, ActionKind::create_node) == 3); // r1 r2 h1

  // Converged, with the address Docker gave r2 recorded: nothing to do.
  auto w = converged(t, *p);
  w.observed.networks.clear(); // the lab has no network of its own
  w.observed.external_network = observed.external_network;
  for (auto &record : w.recorded.nodes) {
    if (record.name == "r2") {
      record.mgmt_ipv4 = "10.77.0.3";
    }
  }
  auto again = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(again);
  CHECK(again->empty());

  // Down removes the nodes and no network (the lab's label is on none).
  auto down = checked_down("t", w.recorded, w.observed);
  CHECK(count(down, ActionKind::remove_node) == 3);
  CHECK(count(down, ActionKind::remove_network) == 0);
}

TEST_CASE("a lab that leaves its own network for an existing one removes its own") {
  auto t = lab();
  auto first = checked_up(t, {}, {}, {});
  REQUIRE(first);
  auto w = converged(t, *first);
  t.mgmt.network = "users-net";
  t.mgmt.ipv4_subnet.clear();
  w.observed.external_network = users_net().external_network;
  auto p = checked_up(t, w.recorded, w.observed, {});
  REQUIRE(p);
  CHECK(count(*p, ActionKind::remove_network) == 1); // ltb-t, the lab's own
  CHECK(count(*p, ActionKind::create_network) == 0);
  CHECK(count(*p, ActionKind::create_node) == 3); // moved to the other network
}

TEST_CASE("joining an existing network: what cannot be done is a located error") {
  auto observed = users_net();
  SUBCASE("a fixed address outside the network's subnet") {
    auto t = joining_lab();
    t.nodes[0].mgmt_ipv4 = "172.20.20.5";
    auto p = checked_up(t, {}, observed, {});
    REQUIRE(!p);
    CHECK(p.error().message.rfind("/labs/t.clab.yml:9:18: mgmt-ipv4 172.20.20.5 of node 'r1'", 0) ==
          0);
    CHECK(p.error().message.find("10.77.0.0/24") != std::string::npos);
    CHECK(p.error().help.find("10.77.0.2 to 10.77.0.254") != std::string::npos);
  }
  SUBCASE("a subnet written in the file that is not the network's") {
    auto t = joining_lab();
    t.mgmt.ipv4_subnet = "10.88.0.0/24";
    t.mgmt.ipv4_subnet_default = false;
    t.mgmt.ipv4_subnet_loc = {4, 16};
    auto p = checked_up(t, {}, observed, {});
    REQUIRE(!p);
    CHECK(p.error().message.rfind("/labs/t.clab.yml:4:16: mgmt.ipv4-subnet 10.88.0.0/24", 0) == 0);
  }
  SUBCASE("the network of another ltb lab") {
    auto t = joining_lab();
    observed.external_network->lab = "other";
    auto p = checked_up(t, {}, observed, {});
    REQUIRE(!p);
    CHECK(p.error().message.find("3:12: mgmt.network 'users-net' is the management network of "
                                 "ltb lab 'other'") != std::string::npos);
  }
  SUBCASE("a fixed address on Docker's default network") {
    auto t = joining_lab();
    t.mgmt.network = "bridge";
    observed.external_network = plan::ExternalNetwork{"bridge", "b1", "10.77.0.0/24", ""};
    auto p = checked_up(t, {}, observed, {});
    REQUIRE(!p);
    CHECK(p.error().message.find("9:18: node 'r1' sets mgmt-ipv4") != std::string::npos);
  }
  SUBCASE("a VM") {
    auto t = joining_lab();
    t.nodes[2].runtime = topology::Runtime::vm;
    t.nodes[2].kind = "vm";
    t.nodes[2].loc = {12, 5};
    auto p = checked_up(t, {}, observed, {});
    REQUIRE(!p);
    CHECK(p.error().message.find("12:5: node 'h1' is a VM") != std::string::npos);
  }
}
