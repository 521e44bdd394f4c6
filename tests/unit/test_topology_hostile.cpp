// Input that would fail only half-way through `ltb up`, or do something else than it says, is an
// error at its place: MAC addresses Linux refuses or that two interfaces share, environment
// names with '=', the loopback interface as a link end, image references Docker refuses.

#include "testutil.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <string>
#include <vector>

namespace {

using namespace ltb::topology;
using ltb::test::TempDir;

std::string errors(const std::string &yaml) {
  TempDir dir;
  auto result = load_text(yaml, "lab.yaml", dir.path.string());
  REQUIRE_MESSAGE(!result.has_value(), "the load was expected to fail");
  return render(result.error(), false);
}

bool loads(const std::string &yaml) {
  TempDir dir;
  auto result = load_text(yaml, "lab.yaml", dir.path.string());
  if (!result) {
    MESSAGE(render(result.error(), false));
  }
  return result.has_value();
}

bool has(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

const std::string k_head = "name: x\n"
                           "topology:\n"
                           "  nodes:\n"
                           "    a: {kind: linux, image: alpine}\n"
                           "    b: {kind: linux, image: alpine}\n";

std::string dummy(const std::string &node, const std::string &iface, const std::string &mac) {
  return "    - type: dummy\n      endpoint: {node: " + node + ", interface: " + iface +
         ", mac: \"" + mac + "\"}\n";
}

} // namespace

TEST_CASE("hostile input: two interfaces with one MAC address") {
  const std::string text = errors(k_head + "  links:\n" + dummy("a", "d1", "aa:c1:ab:00:00:01") +
                                  dummy("b", "d1", "AA:C1:AB:00:00:01"));
  CHECK(has(text, "lab.yaml:10:47: error: MAC address AA:C1:AB:00:00:01 of b:d1 is already used "
                  "by a:d1\n"));
  CHECK(has(text, "help: each interface needs its own MAC address; change one of them, or remove "
                  "'mac': the kernel then picks one\n"
                  "lab.yaml:8:47: note: a:d1 has it here\n"));
  CHECK(loads(k_head + "  links:\n" + dummy("a", "d1", "aa:c1:ab:00:00:01") +
              dummy("b", "d1", "aa:c1:ab:00:00:02")));
}

TEST_CASE("hostile input: MAC addresses Linux refuses for an interface") {
  const std::string text =
      errors(k_head + "  links:\n" + dummy("a", "d1", "ff:ff:ff:ff:ff:ff") +
             dummy("a", "d2", "01:00:5e:00:00:01") + dummy("a", "d3", "00:00:00:00:00:00"));
  CHECK(has(text, "lab.yaml:8:47: error: MAC address ff:ff:ff:ff:ff:ff of a:d1 is a multicast "
                  "address (its first byte is odd), which Linux refuses for an interface\n"));
  CHECK(has(text, "lab.yaml:10:47: error: MAC address 01:00:5e:00:00:01 of a:d2 is a multicast"));
  CHECK(has(text, "lab.yaml:12:47: error: MAC address 00:00:00:00:00:00 of a:d3 is all zeros"));
}

TEST_CASE("hostile input: an environment name with '=' or empty") {
  const std::string text = errors("name: x\n"
                                  "topology:\n"
                                  "  nodes:\n"
                                  "    a:\n"
                                  "      kind: linux\n"
                                  "      image: alpine\n"
                                  "      env: {\"PATH=/tmp:/bin\": x, \"\": y, \"A;B C\": z}\n");
  CHECK(has(text, "lab.yaml:7:13: error: malformed environment variable name 'PATH=/tmp:/bin'\n"));
  CHECK(has(text, "help: A variable's name is not empty and has no '='"));
  CHECK(has(text, "lab.yaml:7:34: error: malformed environment variable name ''\n"));
  CHECK(!has(text, "name 'A;B C'")); // odd, but a name the environment can hold
}

TEST_CASE("hostile input: the loopback interface as a link's end") {
  const std::string text = errors(k_head + "  links:\n"
                                           "    - endpoints: [\"a:lo\", \"b:eth1\"]\n"
                                           "    - endpoints: [\"b:eth2\", \"host:lo\"]\n");
  CHECK(has(text, "lab.yaml:7:22: error: interface name 'lo' is taken: it is the loopback "
                  "interface every network namespace has\n"));
  CHECK(has(text, "lab.yaml:8:35: error: interface name 'lo' is taken"));
}

TEST_CASE("hostile input: interface names at and over the kernel's limit") {
  CHECK(loads(k_head + "  links:\n    - endpoints: [\"a:abcdefghijklmno\", \"b:eth1\"]\n"));
  CHECK(has(errors(k_head + "  links:\n    - endpoints: [\"a:abcdefghijklmnop\", \"b:eth1\"]\n"),
            "lab.yaml:7:22: error: interface name 'abcdefghijklmnop' is 16 bytes long; Linux "
            "allows at most 15\n"));
}

TEST_CASE("hostile input: image references Docker refuses") {
  const std::string text = errors("name: x\n"
                                  "topology:\n"
                                  "  nodes:\n"
                                  "    a: {kind: linux, image: \"ltb/busybox;touch /tmp/x\"}\n"
                                  "    b: {kind: linux, image: \"ltb/busybox $(id)\"}\n"
                                  "    c: {kind: linux, image: \"LTB/BusyBox\"}\n"
                                  "    d: {kind: linux, image: \"ltb/busybox:`id`\"}\n");
  CHECK(has(text, "lab.yaml:4:29: error: image 'ltb/busybox;touch /tmp/x' of node 'a' is not an "
                  "image reference Docker takes\n"));
  CHECK(has(text, "help: an image is [REGISTRY/]NAME[:TAG][@DIGEST]"));
  CHECK(has(text, "image 'ltb/busybox $(id)' of node 'b'"));
  CHECK(has(text, "image 'LTB/BusyBox' of node 'c'"));
  CHECK(has(text, "image 'ltb/busybox:`id`' of node 'd'"));
  // What Docker takes.
  for (const std::string &image : std::vector<std::string>{
           "alpine", "ltb/busybox:latest", "ghcr.io/nokia/srlinux:23.10.1", "ceos:4.32.0F",
           "localhost:5000/team/frr_router:v1.2-rc.1", "registry.example.com/a/b/c",
           "[fd00::1]:5000/img", "alpine@sha256:" + std::string(64, 'a'),
           "vrnetlab/vr-sros:23.7.R1", "a__b--c.d_e"}) {
    CAPTURE(image);
    CHECK(loads("name: x\ntopology: {nodes: {a: {kind: linux, image: \"" + image + "\"}}}\n"));
  }
  // A reference longer than Docker's limit is refused, quickly and without a deep recursion.
  CHECK(has(errors("name: x\ntopology: {nodes: {a: {kind: linux, image: \"" +
                   std::string(100000, 'a') + "\"}}}\n"),
            "is not an image reference Docker takes"));
  CHECK(has(errors("name: x\ntopology: {nodes: {a: {kind: linux, image: \"" +
                   std::string(256, 'a') + "\"}}}\n"),
            "is not an image reference Docker takes"));
}

TEST_CASE("hostile input: more nodes than the management subnet has addresses") {
  auto lab = [](int nodes, const std::string &extra) {
    std::string yaml = "name: x\n"
                       "mgmt:\n"
                       "  ipv4-subnet: 172.20.9.0/29\n"
                       "topology:\n"
                       "  defaults: {kind: linux, image: alpine}\n"
                       "  nodes:\n";
    for (int i = 0; i < nodes; ++i) {
      yaml += "    n" + std::to_string(i) + ": {}\n";
    }
    return yaml + extra;
  };
  // A /29 has 8 addresses: the network, the gateway and the broadcast leave 5.
  CHECK(loads(lab(5, "")));
  CHECK(errors(lab(6, "")) ==
        "lab.yaml:3:16: error: 6 nodes need an address on the management network, but "
        "172.20.9.0/29 has room for 5\n"
        "   3 |   ipv4-subnet: 172.20.9.0/29\n"
        "     |                ^\n"
        "help: use a larger mgmt.ipv4-subnet: a /28 holds 13 nodes\n");
  // A node outside the management network needs no address.
  CHECK(loads(lab(5, "    off: {network-mode: none}\n")));
}
