// containerlab's bridge and host kinds in the loader: host:IFACE ends, bridge nodes and the
// errors about them, each at its place in the file.

#include "testutil.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <string>

namespace {

using namespace ltb::topology;
using ltb::test::TempDir;

LoadResult load(const std::string &yaml) {
  TempDir dir;
  return load_text(yaml, "lab.clab.yml", dir.path.string(), {});
}

std::string errors(const std::string &yaml) {
  auto result = load(yaml);
  REQUIRE_MESSAGE(!result.has_value(), "the load was expected to fail");
  return render(result.error(), false);
}

const Node *node(const Topology &t, const std::string &name) {
  return t.find_node(name);
}

} // namespace

TEST_CASE("host links: host:IFACE names the host without declaring it") {
  auto t = load("name: hl\n"
                "topology:\n"
                "  nodes:\n"
                "    c1: {kind: linux, image: alpine:3}\n"
                "    br-clab:\n"
                "      kind: bridge\n"
                "  links:\n"
                "    - endpoints: [\"c1:eth1\", \"host:c1-eth1\"]\n"
                "    - endpoints: [\"c1:eth2\", \"br-clab:br-c1\"]\n");
  REQUIRE_MESSAGE(t, render(t.error(), false));
  const auto *host = node(*t, "host");
  REQUIRE(host);
  CHECK(host->kind == "host");
  CHECK(host->runtime == Runtime::host);
  const auto *bridge = node(*t, "br-clab");
  REQUIRE(bridge);
  CHECK(bridge->runtime == Runtime::linux_bridge);
  CHECK(!bridge->mgmt_ipv4);
  REQUIRE(t->links.size() == 2);
  CHECK(t->links[0].b.node == "host");
  CHECK(t->links[0].b.iface == "c1-eth1");
}

TEST_CASE("host links: a node called host is the file's, not the host") {
  auto t = load("name: hl\n"
                "topology:\n"
                "  nodes:\n"
                "    c1: {kind: linux, image: alpine:3}\n"
                "    host: {kind: linux, image: alpine:3}\n"
                "  links:\n"
                "    - endpoints: [\"c1:eth1\", \"host:eth1\"]\n");
  REQUIRE_MESSAGE(t, render(t.error(), false));
  CHECK(node(*t, "host")->runtime == Runtime::container);
}

TEST_CASE("host links: a bridge's name is a Linux interface name") {
  const auto text = errors("name: hl\n"
                           "topology:\n"
                           "  nodes:\n"
                           "    a-bridge-name-too-long:\n"
                           "      kind: bridge\n");
  CHECK(text.find("lab.clab.yml:4:5: error: bridge node 'a-bridge-name-too-long': interface "
                  "name 'a-bridge-name-too-long' is 22 bytes long") != std::string::npos);
  CHECK(text.find("help: a bridge node's name is the Linux bridge's name") != std::string::npos);
}

TEST_CASE("host links: host ends share the host's namespace: one name, one end") {
  const auto text = errors("name: hl\n"
                           "topology:\n"
                           "  nodes:\n"
                           "    c1: {kind: linux, image: alpine:3}\n"
                           "    br1: {kind: bridge}\n"
                           "  links:\n"
                           "    - endpoints: [\"c1:eth1\", \"host:p1\"]\n"
                           "    - endpoints: [\"c1:eth2\", \"br1:p1\"]\n");
  CHECK(text.find("lab.clab.yml:8:35: error: host interface 'p1' is already an end of link 1") !=
        std::string::npos);
}

TEST_CASE("host links: the other end must be a container") {
  const auto text = errors("name: hl\n"
                           "topology:\n"
                           "  nodes:\n"
                           "    br1: {kind: bridge}\n"
                           "    sw: {kind: ovs-bridge}\n"
                           "  links:\n"
                           "    - endpoints: [\"br1:p1\", \"sw:p1\"]\n");
  CHECK(text.find("error: a link from bridge node 'br1' to ovs-bridge node 'sw' is not "
                  "supported") != std::string::npos);
}

TEST_CASE("host links: a bridge node takes no image") {
  const auto text = errors("name: hl\n"
                           "topology:\n"
                           "  nodes:\n"
                           "    br1:\n"
                           "      kind: bridge\n"
                           "      image: alpine:3\n");
  CHECK(text.find("lab.clab.yml:6:7: error: 'image' does not apply to bridge node 'br1'") !=
        std::string::npos);
}

TEST_CASE("host links: a confined lab has no link to the host") {
  TempDir dir;
  LoadOptions options;
  options.confined = true;
  auto result = load_text("name: hl\n"
                          "topology:\n"
                          "  nodes:\n"
                          "    c1: {kind: linux, image: alpine:3}\n"
                          "  links:\n"
                          "    - endpoints: [\"c1:eth1\", \"host:h1\"]\n",
                          "lab.clab.yml", dir.path.string(), options);
  REQUIRE(!result);
  CHECK(render(result.error(), false)
            .find("lab.clab.yml:6:30: error: 'host:h1' is an interface in the host's namespace: "
                  "links to the host and to its bridges are for admins") != std::string::npos);
}

TEST_CASE("host links: mgmt-net:IFACE names the management network's bridge") {
  auto t = load("name: hl\n"
                "topology:\n"
                "  nodes:\n"
                "    c1: {kind: linux, image: alpine:3}\n"
                "  links:\n"
                "    - endpoints: [\"c1:eth1\", \"mgmt-net:c1-mgmt\"]\n");
  REQUIRE_MESSAGE(t, render(t.error(), false));
  const auto *mgmt = node(*t, "mgmt-net");
  REQUIRE(mgmt);
  CHECK(mgmt->runtime == Runtime::host);
  CHECK(!node(*t, "host"));
}

TEST_CASE("host links: an ext-container takes exec, and is not linked to another") {
  auto t = load("name: hl\n"
                "topology:\n"
                "  nodes:\n"
                "    c1: {kind: linux, image: alpine:3}\n"
                "    other:\n"
                "      kind: ext-container\n"
                "      exec: [\"ip link set eth1 up\"]\n"
                "  links:\n"
                "    - endpoints: [\"c1:eth1\", \"other:eth1\"]\n");
  REQUIRE_MESSAGE(t, render(t.error(), false));
  const auto *other = node(*t, "other");
  REQUIRE(other);
  CHECK(other->runtime == Runtime::external);
  CHECK(other->exec == std::vector<std::string>{"ip link set eth1 up"});

  const auto text = errors("name: hl\n"
                           "topology:\n"
                           "  nodes:\n"
                           "    x1: {kind: ext-container}\n"
                           "    x2: {kind: ext-container}\n"
                           "  links:\n"
                           "    - endpoints: [\"x1:eth1\", \"x2:eth1\"]\n");
  CHECK(text.find("lab.clab.yml:7:30: error: a link between two ext-container nodes ('x1' and "
                  "'x2') is not supported") != std::string::npos);
}

TEST_CASE("host links: the extended form of types host and mgmt-net is the brief form's") {
  auto t = load("name: hl\n"
                "topology:\n"
                "  nodes:\n"
                "    c1: {kind: linux, image: alpine:3}\n"
                "  links:\n"
                "    - type: host\n"
                "      endpoint: {node: c1, interface: eth1}\n"
                "      host-interface: c1-h1\n"
                "    - type: mgmt-net\n"
                "      endpoint:\n"
                "        node: c1\n"
                "        interface: eth2\n"
                "      host-interface: c1-m1\n"
                "      mtu: 1400\n");
  REQUIRE_MESSAGE(t, render(t.error(), false));
  REQUIRE(t->links.size() == 2);
  CHECK(t->links[0].a.node == "c1");
  CHECK(t->links[0].a.iface == "eth1");
  CHECK(t->links[0].b.node == "host");
  CHECK(t->links[0].b.iface == "c1-h1");
  CHECK(t->links[0].b.loc.line == 8);
  CHECK(t->links[0].b.loc.column == 23);
  CHECK(t->links[1].b.node == "mgmt-net");
  CHECK(t->links[1].a.loc.line > 0);
  CHECK(t->links[1].mtu == 1400);
  CHECK(node(*t, "host"));
  CHECK(node(*t, "mgmt-net"));

  const auto text = errors("name: hl\n"
                           "topology:\n"
                           "  nodes:\n"
                           "    c1: {kind: linux, image: alpine:3}\n"
                           "  links:\n"
                           "    - type: host\n"
                           "      endpoint: {node: c1, interface: eth1}\n"
                           "    - type: host\n"
                           "      endpoint: {node: c1, interface: eth2}\n"
                           "      host-interface: c1-interface-too-long\n");
  CHECK(text.find("lab.clab.yml:6:7: error: link 1 of type host needs a host-interface") !=
        std::string::npos);
  CHECK(text.find("lab.clab.yml:10:23: error: interface name 'c1-interface-too-long' is 21 "
                  "bytes long") != std::string::npos);
}
