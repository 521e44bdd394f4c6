// Every diagnostic the topology loader gives, with its full rendered text.

#include "topology/loader.hpp"

#include <cstdlib>
#include <doctest/doctest.h>

#include "testutil.hpp"
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using namespace ltb::topology;

using ltb::test::TempDir;

/// Loads YAML as "lab.yaml" from a fresh directory and returns the rendered diagnostics of the
/// failed load.
std::string errors(const std::string &yaml, const LoadOptions &options = {}) {
  TempDir dir;
  auto result = load_text(yaml, "lab.yaml", dir.path.string(), options);
  REQUIRE_MESSAGE(!result.has_value(), "the load was expected to fail");
  return render(result.error(), false);
}

int count_errors(const Diagnostics &d) {
  int n = 0;
  for (const auto &item : d.items) {
    n += item.severity == Severity::error ? 1 : 0;
  }
  return n;
}

} // namespace

TEST_CASE("topology validation: YAML syntax error with 1-based position") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {a: [1, 2}\n") ==
        R"(lab.yaml:3:19: error: invalid YAML: illegal flow end
   3 |   nodes: {a: [1, 2}
     |                   ^
help: check the indentation and the brackets and quotes around this place
)");
}

TEST_CASE("topology validation: tabs used for indentation") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "\tnodes: {}\n") ==
        "lab.yaml:3:7: error: invalid YAML: illegal map value\n"
        "   3 | \tnodes: {}\n"
        "     | \t     ^\n"
        "help: YAML does not allow tabs for indentation: indent with spaces\n");
}

TEST_CASE("topology validation: more than one YAML document") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}}\n"
               "---\n"
               "name: y\n") ==
        R"(lab.yaml:4:1: error: the file holds more than one YAML document
   4 | ---
     | ^
help: a topology file is one document: remove the '---' line or split the file
)");
}

TEST_CASE("topology validation: duplicate node name, with a note at the first") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes:\n"
               "    r1: {kind: linux, image: alpine}\n"
               "    r2: {kind: linux, image: alpine}\n"
               "    r1: {kind: linux, image: debian}\n") ==
        R"(lab.yaml:6:5: error: duplicate node name 'r1'
   6 |     r1: {kind: linux, image: debian}
     |     ^
help: node names must be unique: rename or remove one of them
lab.yaml:4:5: note: node 'r1' is first defined here
   4 |     r1: {kind: linux, image: alpine}
     |     ^
)");
}

TEST_CASE("topology validation: duplicate key in any map") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes:\n"
               "    r1:\n"
               "      kind: linux\n"
               "      image: alpine\n"
               "      image: debian\n") ==
        R"(lab.yaml:7:7: error: duplicate key 'image'
   7 |       image: debian
     |       ^
help: a key may appear only once in a map: remove one of them
lab.yaml:6:7: note: 'image' is first set here
   6 |       image: alpine
     |       ^
)");
}

TEST_CASE("topology validation: a value of the wrong type") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes:\n"
               "    r1: {kind: linux, image: alpine}\n"
               "    r2: {kind: linux, image: alpine}\n"
               "  links:\n"
               "    - endpoints: [\"r1:eth1\", \"r2:eth1\"]\n"
               "      mtu: fast\n") ==
        R"(lab.yaml:8:12: error: 'mtu' must be an integer
   8 |       mtu: fast
     |            ^
help: MTU of both interfaces of the link, 68 to 65535. Absent: the kernel default (1500).
)");
}

TEST_CASE("topology validation: a number where a string is needed suggests quotes") {
  CHECK(errors("name: 2024\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}}\n") ==
        R"(lab.yaml:1:7: error: 'name' must be a string
   1 | name: 2024
     |       ^
help: put it in quotes to make it a string: "2024"
)");
}

TEST_CASE("topology validation: a number out of range") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}, r2: {kind: linux, image: alpine}}\n"
               "  links:\n"
               "    - {endpoints: [\"r1:eth1\", \"r2:eth1\"], mtu: 20}\n") ==
        R"(lab.yaml:5:48: error: 'mtu' must be at least 68
   5 |     - {endpoints: ["r1:eth1", "r2:eth1"], mtu: 20}
     |                                                ^
help: MTU of both interfaces of the link, 68 to 65535. Absent: the kernel default (1500).
)");
}

TEST_CASE("topology validation: unknown key in a node, with did-you-mean") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes:\n"
               "    r1:\n"
               "      kind: linux\n"
               "      imgae: alpine\n") ==
        R"(lab.yaml:4:5: error: node 'r1' has no image
   4 |     r1:
     |     ^
help: set 'image' on the node, in topology.kinds.linux or in topology.defaults
lab.yaml:6:7: error: unknown key 'imgae' in node 'r1'
   6 |       imgae: alpine
     |       ^
help: did you mean 'image'?
)");
}

TEST_CASE("topology validation: unknown keys are all reported, not only the first") {
  CHECK(errors("name: x\n"
               "mgmt: {netwrk: a, subnet: b}\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}}\n") ==
        R"(lab.yaml:2:8: error: unknown key 'netwrk' in mgmt
   2 | mgmt: {netwrk: a, subnet: b}
     |        ^
help: did you mean 'network'?
lab.yaml:2:19: error: unknown key 'subnet' in mgmt
   2 | mgmt: {netwrk: a, subnet: b}
     |                   ^
help: ltb-topology(5) lists the keys of each part of the file
)");
}

TEST_CASE("topology validation: an unknown key in an endpoint does not also say 'missing'") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}, r2: {kind: linux, image: alpine}}\n"
               "  links:\n"
               "    - endpoints: [{node: r1, intrface: eth1}, \"r2:eth1\"]\n") ==
        R"(lab.yaml:5:30: error: unknown key 'intrface' in endpoint 1 of link 1
   5 |     - endpoints: [{node: r1, intrface: eth1}, "r2:eth1"]
     |                              ^
help: did you mean 'interface'?
)");
}

TEST_CASE("topology validation: unknown kind, did-you-mean; containerlab's bridge is a kind") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  kinds:\n"
               "    lnux: {image: alpine}\n"
               "  nodes:\n"
               "    r1: {kind: lnux, image: alpine}\n"
               "    sw: {kind: bridge}\n"
               "    r3: {kind: iol, image: iol}\n") ==
        R"(lab.yaml:4:5: error: unknown kind 'lnux' in topology.kinds
   4 |     lnux: {image: alpine}
     |     ^
help: did you mean 'linux'?
lab.yaml:6:16: error: unknown kind 'lnux'
   6 |     r1: {kind: lnux, image: alpine}
     |                ^
help: did you mean 'linux'?
lab.yaml:8:16: error: unknown kind 'iol'
   8 |     r3: {kind: iol, image: iol}
     |                ^
help: 'kind' must be one of: linux, frr, vm, ovs-bridge, bridge, host, ext-container, nokia_srlinux, srl, arista_ceos, ceos, juniper_crpd, crpd, sonic-vs, nokia_sros, vr-sros, vr-nokia_sros, juniper_vmx, vr-vmx, vr-juniper_vmx, cisco_xrv9k, vr-xrv9k, vr-cisco_xrv9k, arista_veos, vr-veos, vr-arista_veos
)");
}

TEST_CASE("topology validation: a link between nodes of unknown kinds reports only the kinds") {
  // Nodes with no kind known have no runtime: the link's checks skip them (they once threw).
  const std::string text = errors("name: x\n"
                                  "topology:\n"
                                  "  nodes: {a: {kind: foo, image: x}, b: {kind: foo, image: x}}\n"
                                  "  links:\n"
                                  "    - endpoints: [\"a:e1-1\", \"b:e1-1\"]\n");
  CHECK(text.find("internal error") == std::string::npos);
  CHECK(text.find("lab.yaml:3:21: error: unknown kind 'foo'") != std::string::npos);
  CHECK(text.find("lab.yaml:3:47: error: unknown kind 'foo'") != std::string::npos);
}

TEST_CASE("topology validation: a node without a kind") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes:\n"
               "    r1: {image: alpine}\n") ==
        R"(lab.yaml:4:5: error: node 'r1' has no kind
   4 |     r1: {image: alpine}
     |     ^
help: set 'kind' on the node, in its group or in topology.defaults; ltb knows linux, frr, vm, ovs-bridge, bridge, host, ext-container, nokia_srlinux, arista_ceos, juniper_crpd, sonic-vs, nokia_sros, juniper_vmx, cisco_xrv9k and arista_veos
)");
}

TEST_CASE("topology validation: missing name and topology.nodes") {
  CHECK(errors("mgmt: {}\n") == R"(lab.yaml: error: missing required key 'name' at the top level
help: Name of the lab: 1 to 40 letters, digits, '_', '.' or '-', starting with a letter or digit, without '__'. Containers are named ltb-<lab>-<node>. `ltb up --lab NAME` overrides it.
lab.yaml: error: missing required key 'topology' at the top level
help: Nodes, links, and the defaults they inherit.
)");
  CHECK(errors("name: x\n"
               "topology:\n"
               "  links: []\n") ==
        R"(lab.yaml:2:1: error: missing required key 'nodes' in topology
   2 | topology:
     | ^
help: The lab's nodes by name. A node name is 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit.
)");
}

TEST_CASE("topology validation: --lab stands in for a missing name, and is checked") {
  TempDir dir;
  const std::string yaml = "topology:\n  nodes: {r1: {kind: linux, image: alpine}}\n";
  LoadOptions options;
  options.lab_name = "from-cli";
  auto loaded = load_text(yaml, "lab.yaml", dir.path.string(), options);
  REQUIRE(loaded.has_value());
  CHECK(loaded->name == "from-cli");
  options.lab_name = "no spaces please";
  CHECK(errors(yaml, options) ==
        R"(lab.yaml: error: invalid lab name 'no spaces please' given with --lab
help: Name of the lab: 1 to 40 letters, digits, '_', '.' or '-', starting with a letter or digit, without '__'. Containers are named ltb-<lab>-<node>. `ltb up --lab NAME` overrides it.
)");
}

TEST_CASE("topology validation: malformed and too long lab names") {
  CHECK(errors("name: my lab\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}}\n") ==
        R"(lab.yaml:1:7: error: malformed lab name 'my lab'
   1 | name: my lab
     |       ^
help: Name of the lab: 1 to 40 letters, digits, '_', '.' or '-', starting with a letter or digit, without '__'. Containers are named ltb-<lab>-<node>. `ltb up --lab NAME` overrides it.
)");
  CHECK(errors("name: " + std::string(41, 'a') +
               "\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}}\n") ==
        "lab.yaml:1:7: error: 'name' is longer than 40 characters\n"
        "   1 | name: " +
            std::string(41, 'a') +
            "\n"
            "     |       ^\n"
            "help: Name of the lab: 1 to 40 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit, without '__'. Containers are named ltb-<lab>-<node>. `ltb up "
            "--lab NAME` overrides it.\n");
}

TEST_CASE("topology validation: a lab name with '__' (between a lab's owner and its name)") {
  CHECK(errors("name: a__b\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}}\n") ==
        R"(lab.yaml:1:7: error: lab name 'a__b' contains '__'
   1 | name: a__b
     |       ^
help: ltb keeps '__' between a lab's owner and its name: use one '_' or '-'
)");
  TempDir dir;
  LoadOptions options;
  options.lab_name = "x__y";
  CHECK_FALSE(load_text("topology:\n  nodes: {r1: {kind: linux, image: alpine}}\n", "lab.yaml",
                        dir.path.string(), options));
}

TEST_CASE("topology validation: malformed node name") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes:\n"
               "    -r1: {kind: linux, image: alpine}\n") ==
        R"(lab.yaml:4:5: error: malformed node name '-r1'
   4 |     -r1: {kind: linux, image: alpine}
     |     ^
help: A node name is 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit (it becomes part of a container name and the node's host name).
)");
}

TEST_CASE("topology validation: an empty nodes map") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {}\n") ==
        R"(lab.yaml:3:10: error: 'nodes' must not be empty
   3 |   nodes: {}
     |          ^
help: The lab's nodes by name. A node name is 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit.
)");
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes:\n") ==
        R"(lab.yaml:3:3: error: 'nodes' is empty; it must be a map
   3 |   nodes:
     |   ^
help: The lab's nodes by name. A node name is 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit.
)");
}

TEST_CASE("topology validation: an empty file") {
  CHECK(errors("") == R"(lab.yaml: error: the file is empty; it must be a map
help: A network lab for ltb, the lab topology builder: nodes (containers, virtual machines, Open vSwitch bridges) and the links between them. A containerlab file that uses only linux nodes and veth links loads unchanged. See ltb-topology(5).
)");
}

TEST_CASE("topology validation: unknown node in a link endpoint") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes:\n"
               "    r1: {kind: linux, image: alpine}\n"
               "    r2: {kind: linux, image: alpine}\n"
               "    r3: {kind: linux, image: alpine}\n"
               "  links:\n"
               "    - endpoints: [\"r1:eth1\", \"r4:eth1\"]\n"
               "    - endpoints: [\"r1:eth2\", \"spine:eth1\"]\n") ==
        R"(lab.yaml:8:30: error: unknown node 'r4' in link endpoint
   8 |     - endpoints: ["r1:eth1", "r4:eth1"]
     |                              ^
help: did you mean 'r1'?
lab.yaml:9:30: error: unknown node 'spine' in link endpoint
   9 |     - endpoints: ["r1:eth2", "spine:eth1"]
     |                              ^
help: the nodes are: r1, r2, r3
)");
}

TEST_CASE("topology validation: malformed endpoint string") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}, r2: {kind: linux, image: alpine}}\n"
               "  links:\n"
               "    - endpoints: [r1-eth1, \"r2:eth1\"]\n") ==
        R"(lab.yaml:5:19: error: malformed endpoint 'r1-eth1'
   5 |     - endpoints: [r1-eth1, "r2:eth1"]
     |                   ^
help: One end of a link: "NODE:INTERFACE", for example "r1:eth1", or {node: r1, interface: eth1}.
)");
}

TEST_CASE("topology validation: a link needs exactly two endpoints") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}}\n"
               "  links:\n"
               "    - endpoints: [\"r1:eth1\"]\n") ==
        R"(lab.yaml:5:18: error: 'endpoints' must have exactly 2 items, not 1
   5 |     - endpoints: ["r1:eth1"]
     |                  ^
help: The two ends of the link, each "NODE:INTERFACE" or {node: NODE, interface: INTERFACE}.
)");
}

TEST_CASE("topology validation: an interface used twice") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes:\n"
               "    r1: {kind: linux, image: alpine}\n"
               "    r2: {kind: linux, image: alpine}\n"
               "    r3: {kind: linux, image: alpine}\n"
               "  links:\n"
               "    - endpoints: [\"r1:eth1\", \"r2:eth1\"]\n"
               "    - endpoints: [\"r3:eth1\", \"r1:eth1\"]\n") ==
        R"(lab.yaml:9:30: error: interface 'r1:eth1' is already used by link 1
   9 |     - endpoints: ["r3:eth1", "r1:eth1"]
     |                              ^
help: an interface can be in one link only: use another interface
lab.yaml:8:19: note: 'r1:eth1' is first used here
   8 |     - endpoints: ["r1:eth1", "r2:eth1"]
     |                   ^
)");
}

TEST_CASE("topology validation: interface names Linux refuses") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}, r2: {kind: linux, image: alpine}}\n"
               "  links:\n"
               "    - endpoints: [\"r1:\", \"r2:ethernet-1-1-long\"]\n"
               "    - endpoints: [\"r1:.\", \"r2:..\"]\n"
               "    - endpoints: [\"r1:a/b\", \"r2:a:b\"]\n"
               "    - endpoints: [\"r1:e th\", {node: r2, interface: \"x\\ty\"}]\n") ==
        R"(lab.yaml:5:23: error: empty interface name
   5 |     - endpoints: ["r1:", "r2:ethernet-1-1-long"]
     |                       ^
help: an interface name is 1 to 15 bytes without '/', ':' or whitespace, for example eth1
lab.yaml:5:30: error: interface name 'ethernet-1-1-long' is 17 bytes long; Linux allows at most 15
   5 |     - endpoints: ["r1:", "r2:ethernet-1-1-long"]
     |                              ^
help: an interface name is 1 to 15 bytes without '/', ':' or whitespace, for example eth1
lab.yaml:6:23: error: interface name '.' is refused by Linux
   6 |     - endpoints: ["r1:.", "r2:.."]
     |                       ^
help: an interface name is 1 to 15 bytes without '/', ':' or whitespace, for example eth1
lab.yaml:6:31: error: interface name '..' is refused by Linux
   6 |     - endpoints: ["r1:.", "r2:.."]
     |                               ^
help: an interface name is 1 to 15 bytes without '/', ':' or whitespace, for example eth1
lab.yaml:7:23: error: interface name 'a/b' contains '/', which Linux refuses
   7 |     - endpoints: ["r1:a/b", "r2:a:b"]
     |                       ^
help: an interface name is 1 to 15 bytes without '/', ':' or whitespace, for example eth1
lab.yaml:7:33: error: interface name 'a:b' contains ':', which Linux refuses
   7 |     - endpoints: ["r1:a/b", "r2:a:b"]
     |                                 ^
help: an interface name is 1 to 15 bytes without '/', ':' or whitespace, for example eth1
lab.yaml:8:23: error: interface name 'e th' contains whitespace, which Linux refuses
   8 |     - endpoints: ["r1:e th", {node: r2, interface: "x\ty"}]
     |                       ^
help: an interface name is 1 to 15 bytes without '/', ':' or whitespace, for example eth1
lab.yaml:8:52: error: interface name 'x	y' contains whitespace, which Linux refuses
   8 |     - endpoints: ["r1:e th", {node: r2, interface: "x\ty"}]
     |                                                    ^
help: an interface name is 1 to 15 bytes without '/', ':' or whitespace, for example eth1
)");
}

TEST_CASE("topology validation: eth0 of a container is its management interface") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}, br: {kind: ovs-bridge}}\n"
               "  links:\n"
               "    - endpoints: [\"r1:eth0\", \"br:eth0\"]\n") ==
        R"(lab.yaml:5:23: error: interface 'eth0' of node 'r1' is its management interface
   5 |     - endpoints: ["r1:eth0", "br:eth0"]
     |                       ^
help: use eth1, eth2, ... for links: ltb connects eth0 to the management network
)");
}

TEST_CASE("topology validation: a link from an interface to itself") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}}\n"
               "  links:\n"
               "    - endpoints: [\"r1:eth1\", \"r1:eth1\"]\n") ==
        R"(lab.yaml:5:30: error: link 1 connects 'r1:eth1' to itself
   5 |     - endpoints: ["r1:eth1", "r1:eth1"]
     |                              ^
help: a link joins two different interfaces: change one of its endpoints
)");
}

TEST_CASE("topology validation: duplicate and malformed link names") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}, r2: {kind: linux, image: alpine}}\n"
               "  links:\n"
               "    - {endpoints: [\"r1:eth1\", \"r2:eth1\"], name: core}\n"
               "    - {endpoints: [\"r1:eth2\", \"r2:eth2\"], name: core}\n"
               "    - {endpoints: [\"r1:eth3\", \"r2:eth3\"], name: -x}\n") ==
        R"(lab.yaml:6:49: error: duplicate link name 'core'
   6 |     - {endpoints: ["r1:eth2", "r2:eth2"], name: core}
     |                                                 ^
help: link names must be unique: rename one of the links
lab.yaml:5:49: note: link 'core' is first defined here
   5 |     - {endpoints: ["r1:eth1", "r2:eth1"], name: core}
     |                                                 ^
lab.yaml:7:49: error: malformed link name '-x'
   7 |     - {endpoints: ["r1:eth3", "r2:eth3"], name: -x}
     |                                                 ^
help: Name of the link, unique in the lab: letters, digits, '_', '.', ':' or '-', starting with a letter or digit. Default: NODE_A-NODE_B, or NODE_A.IFACE-NODE_B.IFACE when two links join the same nodes.
)");
}

TEST_CASE("topology validation: management subnet") {
  auto with_subnet = [](const std::string &subnet) {
    return errors("name: x\n"
                  "mgmt: {ipv4-subnet: " +
                  subnet +
                  "}\n"
                  "topology:\n"
                  "  nodes: {r1: {kind: linux, image: alpine}}\n");
  };
  CHECK(with_subnet("172.20.30.0") ==
        R"(lab.yaml:2:21: error: mgmt.ipv4-subnet '172.20.30.0' is not an IPv4 subnet
   2 | mgmt: {ipv4-subnet: 172.20.30.0}
     |                     ^
help: write ADDRESS/PREFIX-LENGTH, for example 172.20.30.0/24
)");
  CHECK(with_subnet("172.20.300.0/24") ==
        R"(lab.yaml:2:21: error: mgmt.ipv4-subnet '172.20.300.0/24' is not an IPv4 subnet
   2 | mgmt: {ipv4-subnet: 172.20.300.0/24}
     |                     ^
help: write ADDRESS/PREFIX-LENGTH, for example 172.20.30.0/24
)");
  CHECK(
      with_subnet("10.0.0.0/8") ==
      R"(lab.yaml:2:21: error: mgmt.ipv4-subnet '10.0.0.0/8' has prefix length 8; ltb accepts 16 to 29
   2 | mgmt: {ipv4-subnet: 10.0.0.0/8}
     |                     ^
help: a /24 such as 172.20.30.0/24 leaves room for 253 nodes
)");
  CHECK(
      with_subnet("10.0.0.0/30") ==
      R"(lab.yaml:2:21: error: mgmt.ipv4-subnet '10.0.0.0/30' has prefix length 30; ltb accepts 16 to 29
   2 | mgmt: {ipv4-subnet: 10.0.0.0/30}
     |                     ^
help: a /24 such as 172.20.30.0/24 leaves room for 253 nodes
)");
  CHECK(with_subnet("172.20.30.5/24") ==
        R"(lab.yaml:2:21: error: mgmt.ipv4-subnet '172.20.30.5/24' has host bits set
   2 | mgmt: {ipv4-subnet: 172.20.30.5/24}
     |                     ^
help: did you mean '172.20.30.0/24'?
)");
}

TEST_CASE("topology validation: mgmt.network naming Docker's host or none") {
  for (const std::string network : {"host", "none"}) {
    CAPTURE(network);
    CHECK(
        errors("name: x\n"
               "mgmt:\n"
               "  network: " +
               network +
               "\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}}\n") ==
        "lab.yaml:3:12: error: mgmt.network '" + network + "' is Docker's network mode " + network +
            ", not a network nodes can join\n"
            "   3 |   network: " +
            network +
            "\n"
            "     |            ^\n"
            "help: give the nodes `network-mode: " +
            network + "` instead, or name a bridge network (such as bridge, or one of your own)\n");
  }
  // Docker's `bridge` is a network to join (the plan checks it when it exists).
  TempDir dir;
  auto joined = load_text("name: x\nmgmt: {network: bridge}\ntopology:\n"
                          "  nodes: {r1: {kind: linux, image: alpine}}\n",
                          "lab.yaml", dir.path.string());
  REQUIRE(joined);
  CHECK(joined->mgmt.network == "bridge");
}

TEST_CASE("topology validation: mgmt-ipv4 without a subnet on a named network") {
  // The network may exist with a subnet of its own: only the plan knows, so the loader checks
  // the form and duplicates, not containerlab's default subnet.
  CHECK(errors("name: x\nmgmt: {network: users}\ntopology:\n"
               "  defaults: {kind: linux, image: alpine}\n"
               "  nodes:\n"
               "    a: {mgmt-ipv4: 10.1.2.3}\n"
               "    b: {mgmt-ipv4: 10.1.2.3}\n") ==
        R"(lab.yaml:7:20: error: mgmt-ipv4 10.1.2.3 of node 'b' is already used by node 'a'
   7 |     b: {mgmt-ipv4: 10.1.2.3}
     |                    ^
help: each node needs its own management address
)");
}

TEST_CASE("topology validation: IPv6 management") {
  CHECK(errors("name: x\n"
               "mgmt: {ipv6-subnet: \"3fff:1::1/64\"}\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}}\n") ==
        R"(lab.yaml:2:21: error: mgmt.ipv6-subnet '3fff:1::1/64' has host bits set
   2 | mgmt: {ipv6-subnet: "3fff:1::1/64"}
     |                     ^
help: did you mean '3fff:1::/64'?
)");
  CHECK(errors("name: x\n"
               "mgmt: {ipv6-subnet: 10.0.0.0/24}\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}}\n")
            .find("mgmt.ipv6-subnet '10.0.0.0/24' is not an IPv6 subnet") != std::string::npos);
  CHECK(errors("name: x\n"
               "mgmt: {ipv6-subnet: \"3fff:1::/64\"}\n"
               "topology:\n"
               "  defaults: {kind: linux, image: alpine}\n"
               "  nodes:\n"
               "    a: {mgmt-ipv6: \"3fff:2::5\"}\n"
               "    b: {mgmt-ipv6: \"3fff:1::1\"}\n"
               "    c: {mgmt-ipv6: \"3fff:1::7\"}\n"
               "    d: {mgmt-ipv6: \"3fff:1::7\"}\n"
               "    e: {mgmt-ipv6: \"nonsense\"}\n") ==
        R"(lab.yaml:6:20: error: mgmt-ipv6 3fff:2::5 of node 'a' is outside 3fff:1::/64
   6 |     a: {mgmt-ipv6: "3fff:2::5"}
     |                    ^
help: use an address of 3fff:1::/64 from 3fff:1::2 on, or set mgmt.ipv6-subnet to the subnet that holds it
lab.yaml:7:20: error: mgmt-ipv6 3fff:1::1 of node 'b' is the gateway address of 3fff:1::/64
   7 |     b: {mgmt-ipv6: "3fff:1::1"}
     |                    ^
help: use an address of 3fff:1::/64 from 3fff:1::2 on, or set mgmt.ipv6-subnet to the subnet that holds it
lab.yaml:9:20: error: mgmt-ipv6 3fff:1::7 of node 'd' is already used by node 'c'
   9 |     d: {mgmt-ipv6: "3fff:1::7"}
     |                    ^
help: each node needs its own management address
lab.yaml:10:20: error: mgmt-ipv6 'nonsense' is not an IPv6 address
   10 |     e: {mgmt-ipv6: "nonsense"}
      |                    ^
help: write an address without a prefix length, for example 3fff:172:20:20::11
)");
}

TEST_CASE("topology validation: management addresses") {
  CHECK(
      errors("name: x\n"
             "mgmt: {ipv4-subnet: 10.0.0.0/24}\n"
             "topology:\n"
             "  defaults: {kind: linux, image: alpine}\n"
             "  nodes:\n"
             "    a: {mgmt-ipv4: 10.0.0.0}\n"
             "    b: {mgmt-ipv4: 10.0.0.1}\n"
             "    c: {mgmt-ipv4: 10.0.0.255}\n"
             "    d: {mgmt-ipv4: 10.0.1.5}\n"
             "    e: {mgmt-ipv4: 10.0.0.5/24}\n"
             "    f: {mgmt-ipv4: 10.0.0.5}\n"
             "    g: {mgmt-ipv4: 10.0.0.5}\n") ==
      R"(lab.yaml:6:20: error: mgmt-ipv4 10.0.0.0 of node 'a' is the network address of 10.0.0.0/24
   6 |     a: {mgmt-ipv4: 10.0.0.0}
     |                    ^
help: use an address from 10.0.0.2 to 10.0.0.254
lab.yaml:7:20: error: mgmt-ipv4 10.0.0.1 of node 'b' is the gateway address of 10.0.0.0/24
   7 |     b: {mgmt-ipv4: 10.0.0.1}
     |                    ^
help: Docker gives the subnet's first host address to the gateway; use an address from 10.0.0.2 to 10.0.0.254
lab.yaml:8:20: error: mgmt-ipv4 10.0.0.255 of node 'c' is the broadcast address of 10.0.0.0/24
   8 |     c: {mgmt-ipv4: 10.0.0.255}
     |                    ^
help: use an address from 10.0.0.2 to 10.0.0.254
lab.yaml:9:20: error: mgmt-ipv4 10.0.1.5 of node 'd' is outside mgmt.ipv4-subnet 10.0.0.0/24
   9 |     d: {mgmt-ipv4: 10.0.1.5}
     |                    ^
help: use an address from 10.0.0.2 to 10.0.0.254
lab.yaml:10:20: error: mgmt-ipv4 '10.0.0.5/24' is not an IPv4 address
   10 |     e: {mgmt-ipv4: 10.0.0.5/24}
      |                    ^
help: write a dotted-quad address without a prefix length, for example 172.20.30.11
lab.yaml:12:20: error: mgmt-ipv4 10.0.0.5 of node 'g' is already used by node 'f'
   12 |     g: {mgmt-ipv4: 10.0.0.5}
      |                    ^
help: each node needs its own management address
lab.yaml:11:20: note: node 'f' has it here
   11 |     f: {mgmt-ipv4: 10.0.0.5}
      |                    ^
)");
}

TEST_CASE("topology validation: mgmt-ipv4 without mgmt.ipv4-subnet") {
  // containerlab's default management subnet, 172.20.20.0/24, applies.
  CHECK(
      errors("name: x\n"
             "topology:\n"
             "  nodes:\n"
             "    r1: {kind: linux, image: alpine, mgmt-ipv4: 172.20.30.11}\n") ==
      R"(lab.yaml:4:49: error: mgmt-ipv4 172.20.30.11 of node 'r1' is outside containerlab's default management subnet 172.20.20.0/24
   4 |     r1: {kind: linux, image: alpine, mgmt-ipv4: 172.20.30.11}
     |                                                 ^
help: without mgmt.ipv4-subnet the lab uses 172.20.20.0/24: use an address from 172.20.20.2 to 172.20.20.254, or set mgmt.ipv4-subnet to the subnet that holds 172.20.30.11, for example 172.20.30.0/24
)");
  TempDir dir;
  auto loaded = load_text("name: x\n"
                          "topology:\n"
                          "  nodes:\n"
                          "    r1: {kind: linux, image: alpine, mgmt-ipv4: 172.20.20.11}\n"
                          "    r2: {kind: linux, image: alpine}\n",
                          "lab.yaml", dir.path.string());
  REQUIRE_MESSAGE(loaded.has_value(), render(loaded.error(), false));
  CHECK(loaded->mgmt.ipv4_subnet == "172.20.20.0/24");
}

TEST_CASE("topology validation: unknown group") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  groups:\n"
               "    routers: {kind: linux, image: alpine}\n"
               "  nodes:\n"
               "    r1: {group: router}\n") ==
        R"(lab.yaml:6:17: error: unknown group 'router' in node 'r1'
   6 |     r1: {group: router}
     |                 ^
help: did you mean 'routers'?
)");
}

TEST_CASE("topology validation: 'group' not in a group, 'kind' not under topology.kinds") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  groups: {g: {group: h}}\n"
               "  kinds:\n"
               "    linux: {kind: frr, image: alpine}\n"
               "  nodes: {r1: {kind: linux}}\n") ==
        R"(lab.yaml:3:16: error: 'group' is not allowed in group 'g'
   3 |   groups: {g: {group: h}}
     |                ^
help: 'group' can only be set on a node.
lab.yaml:5:13: error: 'kind' is not allowed in topology.kinds.linux
   5 |     linux: {kind: frr, image: alpine}
     |             ^
help: The kind is the key under topology.kinds; it cannot be set here.
)");
}

TEST_CASE("topology validation: a container node without an image names where to set it") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  groups: {edge: {env: {A: b}}}\n"
               "  nodes:\n"
               "    h1: {kind: linux, group: edge}\n") ==
        R"(lab.yaml:5:5: error: node 'h1' has no image
   5 |     h1: {kind: linux, group: edge}
     |     ^
help: set 'image' on the node, in group 'edge', in topology.kinds.linux or in topology.defaults
)");
}

TEST_CASE("topology validation: container fields on an ovs-bridge") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  kinds:\n"
               "    ovs-bridge: {cpus: 1}\n"
               "  nodes:\n"
               "    br1: {kind: ovs-bridge, image: alpine, labels: {a: b}}\n") ==
        R"(lab.yaml:4:18: error: 'cpus' does not apply to topology.kinds.ovs-bridge
   4 |     ovs-bridge: {cpus: 1}
     |                  ^
help: an ovs-bridge node takes only kind, group, labels and impairments: ltb creates the bridge itself, with no image or management address
lab.yaml:6:29: error: 'image' does not apply to ovs-bridge node 'br1'
   6 |     br1: {kind: ovs-bridge, image: alpine, labels: {a: b}}
     |                             ^
help: an ovs-bridge node takes only kind, group, labels and impairments: ltb creates the bridge itself, with no image or management address
)");
}

TEST_CASE("topology validation: a startup-config file that does not exist") {
  TempDir dir;
  auto result = load_text("name: x\n"
                          "topology:\n"
                          "  nodes:\n"
                          "    r1: {kind: frr, startup-config: configs/r1.conf}\n",
                          "lab.yaml", dir.path.string());
  REQUIRE_FALSE(result.has_value());
  CHECK(render(result.error(), false) ==
        "lab.yaml:4:37: error: startup-config file 'configs/r1.conf' does not exist\n"
        "   4 |     r1: {kind: frr, startup-config: configs/r1.conf}\n"
        "     |                                     ^\n"
        "help: looked for " +
            (dir.path / "configs/r1.conf").string() +
            "; a relative path is relative to the topology file's directory, and inline text "
            "needs several lines (startup-config: |)\n");
}

TEST_CASE("topology validation: malformed memory size and bind mount") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes:\n"
               "    r1: {kind: linux, image: alpine, memory: lots, binds: [data]}\n") ==
        R"(lab.yaml:4:46: error: malformed memory limit 'lots'
   4 |     r1: {kind: linux, image: alpine, memory: lots, binds: [data]}
     |                                              ^
help: Memory limit: bytes, or a number with a unit. GB, MB, KB, TB are powers of 1000; GiB, MiB, KiB, TiB and the single letters g, m, k, t are powers of 1024 (as in Docker). Examples: 512MiB, 1GB, 1g, 256m. 0 or absent: no limit. For vm nodes: the memory of the VM; 0 or absent: 256MiB.
lab.yaml:4:60: error: malformed bind mount 'data'
   4 |     r1: {kind: linux, image: alpine, memory: lots, binds: [data]}
     |                                                            ^
help: SOURCE:DESTINATION[:OPTIONS], for example ./configs/r1:/etc/r1:ro. A relative SOURCE is relative to the topology file's directory; DESTINATION is absolute.
)");
}

TEST_CASE("topology validation: cpu and cpus on the same level") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes:\n"
               "    r1: {kind: linux, image: alpine, cpus: 1, cpu: 2}\n") ==
        R"(lab.yaml:4:47: error: 'cpu' and 'cpus' are both set
   4 |     r1: {kind: linux, image: alpine, cpus: 1, cpu: 2}
     |                                               ^
help: 'cpu' is containerlab's spelling of 'cpus': keep one of them
)");
}

TEST_CASE("topology validation: unknown enum value with did-you-mean") {
  CHECK(errors("name: x\n"
               "settings: {ovs-datapath: netdv}\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine}}\n") ==
        R"(lab.yaml:2:26: error: unknown OVS datapath 'netdv'
   2 | settings: {ovs-datapath: netdv}
     |                          ^
help: did you mean 'netdev'?
)");
}

TEST_CASE("topology validation: warnings come with the errors and do not fail a load") {
  TempDir dir;
  const std::string ok = "name: x\n"
                         "topology:\n"
                         "  nodes: {r1: {kind: linux, image: alpine, type: t1}}\n";
  Diagnostics warnings;
  LoadOptions options;
  options.warnings = &warnings;
  auto loaded = load_text(ok, "lab.yaml", dir.path.string(), options);
  REQUIRE(loaded.has_value());
  CHECK_FALSE(warnings.has_errors());
  CHECK(render(warnings, false) ==
        R"(lab.yaml:3:44: warning: 'type' is a containerlab key ltb ignores
   3 |   nodes: {r1: {kind: linux, image: alpine, type: t1}}
     |                                            ^
)");

  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, type: t1}}\n") ==
        R"(lab.yaml:3:11: error: node 'r1' has no image
   3 |   nodes: {r1: {kind: linux, type: t1}}
     |           ^
help: set 'image' on the node, in topology.kinds.linux or in topology.defaults
lab.yaml:3:29: warning: 'type' is a containerlab key ltb ignores
   3 |   nodes: {r1: {kind: linux, type: t1}}
     |                             ^
)");
}

TEST_CASE("topology validation: five distinct errors are all reported") {
  TempDir dir;
  auto result = load_text("name: x\n"
                          "mgmt: {ipv4-subnet: 10.0.0.0/8}\n"
                          "topology:\n"
                          "  groups: {g: {}}\n"
                          "  nodes:\n"
                          "    r1: {kind: linux, image: alpine, mtu: 1500}\n"
                          "    r2: {kind: lnux, image: alpine}\n"
                          "    r3: {kind: linux, image: alpine, group: nope}\n"
                          "  links:\n"
                          "    - endpoints: [\"r3:eth1\", \"r9:eth1\"]\n",
                          "lab.yaml", dir.path.string());
  REQUIRE_FALSE(result.has_value());
  CHECK(count_errors(result.error()) == 5);
  const std::string text = render(result.error(), false);
  CHECK(text.find("lab.yaml:2:21: error: mgmt.ipv4-subnet '10.0.0.0/8' has prefix length 8") !=
        std::string::npos);
  CHECK(text.find("lab.yaml:6:38: error: unknown key 'mtu' in node 'r1'") != std::string::npos);
  CHECK(text.find("lab.yaml:7:16: error: unknown kind 'lnux'") != std::string::npos);
  CHECK(text.find("lab.yaml:8:45: error: unknown group 'nope' in node 'r3'") != std::string::npos);
  CHECK(text.find("lab.yaml:10:30: error: unknown node 'r9' in link endpoint") != std::string::npos);
}

TEST_CASE("topology validation: quoted numbers stay strings (YAML 1.2)") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine, cpus: \"2\"}}\n") ==
        R"(lab.yaml:3:50: error: 'cpus' must be a number
   3 |   nodes: {r1: {kind: linux, image: alpine, cpus: "2"}}
     |                                                  ^
help: CPU limit in CPUs, for example 1.5. 0 or absent: no limit. For vm nodes: the number of virtual CPUs, a whole number; 0 or absent: 1.
)");
}

TEST_CASE("topology validation: a file that cannot be read") {
  TempDir dir;
  const std::string missing = (dir.path / "missing.yaml").string();
  auto result = load_file(missing);
  REQUIRE_FALSE(result.has_value());
  CHECK(render(result.error(), false) ==
        missing + ": error: cannot read the topology file: No such file or directory\n"
                  "help: check the path and the file's permissions\n");
}

TEST_CASE("topology validation: a value inherited by many nodes is reported once") {
  TempDir dir;
  auto result = load_text("name: x\n"
                          "topology:\n"
                          "  defaults: {kind: linux, image: alpine, startup-config: nope.conf}\n"
                          "  nodes: {r1: {}, r2: {}, r3: {}}\n",
                          "lab.yaml", dir.path.string());
  REQUIRE_FALSE(result.has_value());
  REQUIRE(result.error().items.size() == 1);
  const Diagnostic &d = result.error().items.front();
  CHECK(d.message == "startup-config file 'nope.conf' does not exist");
  CHECK(d.loc.line == 3);
  CHECK(d.loc.column == 58);
}
