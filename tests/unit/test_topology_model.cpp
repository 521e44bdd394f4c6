// Topology::find_node, node_config_hash and link_key.

#include "topology/model.hpp"

#include <algorithm>
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
    const std::string shown = field; // doctest's macros cannot capture a structured binding
    CAPTURE(shown);
    Node changed = base;
    change(changed);
    CHECK(node_config_hash(changed) != h);
  }
}

TEST_CASE("topology model: a container's node_config_hash is what it was before VMs existed") {
  // The hash is recorded in the state file and in a container label; if it changed for an
  // unchanged container, `ltb up` after an upgrade would recreate every running container.
  CHECK(node_config_hash(sample_node()) ==
        "38e57cb2ca36c1109dee2566e7b0995875e794bfa7cae7ac0dc83702961dcd74");
}

TEST_CASE("topology model: node_config_hash of a VM covers its VM fields") {
  Node base;
  base.name = "vm1";
  base.kind = "vm";
  base.runtime = Runtime::vm;
  base.image = "/var/lib/ltb/images/ltb-vm/disk.qcow2";
  base.kernel = "/var/lib/ltb/images/ltb-vm/vmlinuz";
  base.initrd = "/var/lib/ltb/images/ltb-vm/initrd.img";
  base.cmdline = "console=ttyS0";
  base.cpus = 1;
  base.memory_bytes = 256LL << 20;
  const std::string h = node_config_hash(base);

  const std::vector<std::pair<const char *, std::function<void(Node &)>>> changes{
      {"base disk", [](Node &n) { n.image = "/labs/other.qcow2"; }},
      {"no base disk", [](Node &n) { n.image.clear(); }},
      {"kernel", [](Node &n) { n.kernel = "/boot/vmlinuz-6.1"; }},
      {"initrd", [](Node &n) { n.initrd.clear(); }},
      {"cmdline", [](Node &n) { n.cmdline = "console=ttyS0 quiet"; }},
      {"disk_size_bytes", [](Node &n) { n.disk_size_bytes = 4LL << 30; }},
      {"nic_model", [](Node &n) { n.nic_model = "e1000"; }},
      {"accel kvm", [](Node &n) { n.accel = Accel::kvm; }},
      {"accel qemu", [](Node &n) { n.accel = Accel::qemu; }},
      {"cpus", [](Node &n) { n.cpus = 2; }},
      {"memory_bytes", [](Node &n) { n.memory_bytes = 512LL << 20; }},
      {"runtime", [](Node &n) { n.runtime = Runtime::container; }},
  };
  std::vector<std::string> seen{h};
  for (const auto &[field, change] : changes) {
    const std::string shown = field; // doctest's macros cannot capture a structured binding
    CAPTURE(shown);
    Node changed = base;
    change(changed);
    const std::string changed_hash = node_config_hash(changed);
    CHECK(changed_hash != h);
    seen.push_back(changed_hash);
  }
  // kvm and qemu are told apart, not just "not auto"
  std::sort(seen.begin(), seen.end());
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());

  Node same = base;
  same.name = "vm2";
  same.loc = {9, 5};
  CHECK(node_config_hash(same) == h);
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
