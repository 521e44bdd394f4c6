// Topology::find_node, node_config_hash and link_key.

#include "topology/model.hpp"

#include <doctest/doctest.h>
#include <functional>
#include <string>

using namespace ltb::topology;

namespace {

Node sample_node() {
  Node n;
  n.name = "r1";
  n.kind = "linux";
  n.group = "routers";
  n.image = "alpine:3.18";
  n.cmd = "sleep infinity";
  n.env = {{"A", "1"}};
  n.labels = {{"role", "edge"}};
  n.binds = {"/a:/a"};
  n.exec = {"ip link"};
  n.mgmt_ipv4 = "172.20.30.11";
  n.cpus = 1;
  n.memory_bytes = 1 << 30;
  n.startup_config_text = "hostname r1\n";
  n.startup_config_path = "/etc/ltb/startup-config";
  n.loc = {4, 5};
  return n;
}

} // namespace

TEST_CASE("topology model: find_node") {
  Topology t;
  t.nodes.push_back(sample_node());
  Node r2 = sample_node();
  r2.name = "r2";
  t.nodes.push_back(r2);
  REQUIRE(t.find_node("r2") != nullptr);
  CHECK(t.find_node("r2") == &t.nodes[1]);
  CHECK(t.find_node("r3") == nullptr);
}

TEST_CASE("topology model: node_config_hash changes with what needs a new container only") {
  const Node base = sample_node();
  const std::string h = node_config_hash(base);
  CHECK(h.size() == 64);
  CHECK(h.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(node_config_hash(sample_node()) == h);

  // Not part of the hash: name, group, position, host path of the startup config.
  Node same = base;
  same.name = "other";
  same.group = "";
  same.loc = {40, 1};
  same.startup_config = "/somewhere/else.conf";
  CHECK(node_config_hash(same) == h);

  const std::vector<std::pair<const char *, std::function<void(Node &)>>> changes{
      {"kind", [](Node &n) { n.kind = "frr"; }},
      {"image", [](Node &n) { n.image = "alpine:3.19"; }},
      {"cmd", [](Node &n) { n.cmd = "sh"; }},
      {"entrypoint", [](Node &n) { n.entrypoint = "/init"; }},
      {"env", [](Node &n) { n.env["A"] = "2"; }},
      {"labels", [](Node &n) { n.labels["x"] = "y"; }},
      {"binds", [](Node &n) { n.binds.push_back("/b:/b"); }},
      {"exec", [](Node &n) { n.exec.clear(); }},
      {"mgmt_ipv4", [](Node &n) { n.mgmt_ipv4.reset(); }},
      {"cpus", [](Node &n) { n.cpus = 1.5; }},
      {"memory_bytes", [](Node &n) { n.memory_bytes = 0; }},
      {"startup_config_text", [](Node &n) { n.startup_config_text = "hostname x\n"; }},
      {"startup_config_path", [](Node &n) { n.startup_config_path = "/etc/frr/frr.conf"; }},
  };
  for (const auto &[field, change] : changes) {
    CAPTURE(field);
    Node changed = base;
    change(changed);
    CHECK(node_config_hash(changed) != h);
  }
}

TEST_CASE("topology model: link_key ignores order and name") {
  Link l;
  l.name = "x";
  l.a = {"r2", "eth1", {}};
  l.b = {"r1", "eth3", {}};
  CHECK(link_key(l) == "r1:eth3|r2:eth1");
  std::swap(l.a, l.b);
  l.name = "y";
  CHECK(link_key(l) == "r1:eth3|r2:eth1");
}
