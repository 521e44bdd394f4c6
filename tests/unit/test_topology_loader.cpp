// Successful loads: inheritance, merges, generated link names, memory sizes, YAML 1.2 typing and a
// containerlab file.

#include "topology/loader.hpp"
#include "util/hash.hpp"

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

/// Loads YAML from DIR and fails the test with the rendered diagnostics if it does not load.
Topology load_ok(const TempDir &dir, const std::string &yaml, LoadOptions options = {}) {
  Diagnostics warnings;
  if (!options.warnings) {
    options.warnings = &warnings;
  }
  auto result = load_text(yaml, "lab.yaml", dir.path.string(), options);
  if (!result) {
    FAIL(render(result.error(), false));
  }
  return *result;
}

const Node &node(const Topology &t, const std::string &name) {
  const Node *n = t.find_node(name);
  REQUIRE_MESSAGE(n != nullptr, "no node " << name);
  return *n;
}

} // namespace

TEST_CASE("topology loader: scalars come from the most specific level") {
  TempDir dir;
  const auto t = load_ok(dir, R"(name: lab1
topology:
  defaults:
    kind: linux
    image: from-defaults
    cmd: defaults-cmd
    entrypoint: defaults-entry
    cpus: 1
    memory: 1g
  kinds:
    linux:
      image: from-kind
      cmd: kind-cmd
  groups:
    g:
      image: from-group
  nodes:
    in-group: {group: g}
    plain: {}
    own: {group: g, image: from-node, cmd: node-cmd, cpus: 2}
    frr1: {kind: frr}
)");
  CHECK(node(t, "in-group").image == "from-group");
  CHECK(node(t, "in-group").cmd == "kind-cmd");
  CHECK(node(t, "in-group").entrypoint == "defaults-entry");
  CHECK(node(t, "in-group").group == "g");
  CHECK(node(t, "plain").image == "from-kind");
  CHECK(node(t, "plain").group.empty());
  CHECK(node(t, "own").image == "from-node");
  CHECK(node(t, "own").cmd == "node-cmd");
  CHECK(node(t, "own").cpus == doctest::Approx(2));
  CHECK(node(t, "plain").cpus == doctest::Approx(1));
  CHECK(node(t, "plain").memory_bytes == 1024LL * 1024 * 1024);
  // defaults.image applies to frr too: it is more specific than the kind's built-in image
  CHECK(node(t, "frr1").image == "from-defaults");
  CHECK(node(t, "frr1").kind == "frr");
}

TEST_CASE("topology loader: kind comes from the node, its group or the defaults") {
  TempDir dir;
  const auto t = load_ok(dir, R"(name: lab1
topology:
  defaults: {kind: frr}
  groups:
    hosts: {kind: linux, image: alpine}
  nodes:
    r1: {}
    h1: {group: hosts}
    br: {kind: ovs-bridge}
)");
  CHECK(node(t, "r1").kind == "frr");
  CHECK(node(t, "r1").runtime == Runtime::container);
  CHECK(node(t, "h1").kind == "linux");
  CHECK(node(t, "br").kind == "ovs-bridge");
  CHECK(node(t, "br").runtime == Runtime::ovs_bridge);
}

TEST_CASE("topology loader: built-in kind defaults") {
  TempDir dir;
  const auto t = load_ok(dir, R"(name: lab1
topology:
  nodes:
    r1: {kind: frr}
    h1: {kind: linux, image: alpine}
    br1: {kind: ovs-bridge, labels: {zone: a}}
)");
  CHECK(node(t, "r1").image == "ltb/frr:latest");
  CHECK(node(t, "r1").startup_config_path == "/etc/frr/frr.conf");
  CHECK(node(t, "h1").startup_config_path == "/etc/ltb/startup-config");
  CHECK(node(t, "br1").image.empty());
  CHECK(node(t, "br1").labels == std::map<std::string, std::string>{{"zone", "a"}});
  // nodes keep file order, not alphabetical order
  REQUIRE(t.nodes.size() == 3);
  CHECK(t.nodes[0].name == "r1");
  CHECK(t.nodes[1].name == "h1");
  CHECK(t.nodes[2].name == "br1");
}

TEST_CASE("topology loader: env and labels merge by key, binds by destination, exec replaces") {
  TempDir dir;
  const auto t = load_ok(dir, R"(name: lab1
topology:
  defaults:
    kind: linux
    image: alpine
    env: {A: defaults, B: defaults, C: defaults}
    labels: {team: net, level: defaults}
    binds: [/host/a:/a, /host/b:/b:ro]
    exec: [echo defaults]
  kinds:
    linux:
      env: {B: kind}
      binds: [/kind/b:/b]
      exec: [echo kind]
  groups:
    g:
      env: {C: group}
      labels: {level: group}
      binds: [/group/c:/c]
  nodes:
    r1:
      group: g
      env: {D: node}
      binds: [/node/a:/a/]
    r2:
      exec: [echo one, echo two]
)");
  const Node &r1 = node(t, "r1");
  CHECK(r1.env == std::map<std::string, std::string>{
                      {"A", "defaults"}, {"B", "kind"}, {"C", "group"}, {"D", "node"}});
  CHECK(r1.labels == std::map<std::string, std::string>{{"team", "net"}, {"level", "group"}});
  CHECK(r1.binds == std::vector<std::string>{"/node/a:/a/", "/kind/b:/b", "/group/c:/c"});
  CHECK(r1.exec == std::vector<std::string>{"echo kind"});
  const Node &r2 = node(t, "r2");
  CHECK(r2.env ==
        std::map<std::string, std::string>{{"A", "defaults"}, {"B", "kind"}, {"C", "defaults"}});
  CHECK(r2.binds == std::vector<std::string>{"/host/a:/a", "/kind/b:/b"});
  CHECK(r2.exec == std::vector<std::string>{"echo one", "echo two"});
}

TEST_CASE("topology loader: relative bind sources and startup-config files are made absolute") {
  TempDir dir;
  dir.write("configs/r1.conf", "hostname r1\n");
  const auto t = load_ok(dir, R"(name: lab1
topology:
  nodes:
    r1:
      kind: frr
      startup-config: configs/r1.conf
      binds: [data:/data, ./x/../y:/y:ro, /abs:/abs]
    r2:
      kind: frr
      startup-config: |
        hostname r2
        router ospf
)");
  const Node &r1 = node(t, "r1");
  CHECK(r1.startup_config == (dir.path / "configs/r1.conf").string());
  CHECK(r1.startup_config_text == "hostname r1\n");
  CHECK(r1.binds == std::vector<std::string>{(dir.path / "data").string() + ":/data",
                                             (dir.path / "y").string() + ":/y:ro", "/abs:/abs"});
  const Node &r2 = node(t, "r2");
  CHECK(r2.startup_config.empty());
  CHECK(r2.startup_config_text == "hostname r2\nrouter ospf\n");
}

TEST_CASE("topology loader: memory sizes") {
  struct Case {
    const char *written;
    std::int64_t bytes;
  };
  const Case cases[] = {
      {"512MiB", 512LL << 20},
      {"1GB", 1000000000LL},
      {"1g", 1LL << 30},
      {"256m", 256LL << 20},
      {"1073741824", 1LL << 30},
      {"\"1073741824\"", 1LL << 30},
      {"1.5GiB", 3LL << 29},
      {"100kb", 100000},
      {"64KiB", 64 * 1024},
      {"2t", 2LL << 40},
      {"1TB", 1000000000000LL},
      {"10 MB", 10000000},
      {"0", 0},
      {"300b", 300},
      {"2G", 2LL << 30},
  };
  for (const auto &c : cases) {
    CAPTURE(c.written);
    TempDir dir;
    const auto t = load_ok(dir, std::string("name: m\ntopology:\n  nodes:\n    r1: {kind: linux, "
                                            "image: alpine, memory: ") +
                                    c.written + "}\n");
    CHECK(node(t, "r1").memory_bytes == c.bytes);
  }
}

TEST_CASE("topology loader: cpu is containerlab's spelling of cpus") {
  TempDir dir;
  const auto t =
      load_ok(dir, "name: c\ntopology:\n  nodes:\n    r1: {kind: linux, image: a, cpu: 0.5}\n");
  CHECK(node(t, "r1").cpus == doctest::Approx(0.5));
}

TEST_CASE("topology loader: YAML 1.2 typing keeps yes/no/on as text") {
  TempDir dir;
  const auto t = load_ok(dir, R"(name: lab1
topology:
  nodes:
    r1:
      kind: linux
      image: alpine
      env: {A: yes, B: no, C: on, D: off, E: 'true', F: true, G: 0x1F, H: 1.50, I: ~, J: "80", K: 007}
      labels: {n: 12}
)");
  CHECK(node(t, "r1").env == std::map<std::string, std::string>{{"A", "yes"},
                                                                {"B", "no"},
                                                                {"C", "on"},
                                                                {"D", "off"},
                                                                {"E", "true"},
                                                                {"F", "true"},
                                                                {"G", "0x1F"},
                                                                {"H", "1.50"},
                                                                {"I", ""},
                                                                {"J", "80"},
                                                                {"K", "007"}});
  CHECK(node(t, "r1").labels.at("n") == "12");
}

TEST_CASE("topology loader: YAML anchors and merge keys") {
  TempDir dir;
  const auto t = load_ok(dir, R"(name: lab1
topology:
  nodes:
    r1: &router {kind: linux, image: alpine, env: {A: "1"}}
    r2:
      <<: *router
      image: debian
)");
  CHECK(node(t, "r2").image == "debian");
  CHECK(node(t, "r2").kind == "linux");
  CHECK(node(t, "r2").env.at("A") == "1");
}

TEST_CASE("topology loader: link names") {
  TempDir dir;
  const auto t = load_ok(dir, R"(name: lab1
topology:
  defaults: {kind: linux, image: alpine}
  nodes: {r1: {}, r2: {}, r3: {}, r4: {}, a-b: {}, c: {}, a: {}, b-c: {}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r2:eth2", "r1:eth2"]
    - endpoints: ["r1:eth3", "r3:eth1"]
    - endpoints: ["r3:eth2", "r4:eth1"]
      name: core
    - endpoints: ["r4:eth2", "r1:eth4"]
      name: r2-r3
    - endpoints: ["r2:eth3", "r3:eth3"]
    - endpoints: ["a-b:eth1", "c:eth1"]
    - endpoints: ["a:eth1", "b-c:eth1"]
)");
  REQUIRE(t.links.size() == 8);
  // the same pair of nodes, in either order: both get the long form
  CHECK(t.links[0].name == "r1.eth1-r2.eth1");
  CHECK(t.links[1].name == "r2.eth2-r1.eth2");
  CHECK(t.links[2].name == "r1-r3");
  CHECK_FALSE(t.links[2].name_given);
  CHECK(t.links[3].name == "core");
  CHECK(t.links[3].name_given);
  CHECK(t.links[4].name == "r2-r3");
  // "r2-r3" is taken by an explicit name
  CHECK(t.links[5].name == "r2.eth3-r3.eth3");
  // two different pairs that would both be called "a-b-c"
  CHECK(t.links[6].name == "a-b.eth1-c.eth1");
  CHECK(t.links[7].name == "a.eth1-b-c.eth1");
  CHECK(t.links[5].a.node == "r2");
  CHECK(t.links[5].a.iface == "eth3");
  CHECK(t.links[5].b.node == "r3");
  CHECK(t.links[5].a.loc.line == 13);
}

TEST_CASE("topology loader: management network and settings") {
  TempDir dir;
  auto t = load_ok(dir, R"(name: lab1
topology:
  nodes: {r1: {kind: linux, image: alpine}}
)");
  CHECK(t.mgmt.network == "ltb-lab1");
  CHECK(t.mgmt.network_loc.line == 0); // the default has no place in the file
  CHECK(t.mgmt.ipv4_subnet.empty());
  CHECK_FALSE(t.mgmt.external_access);
  CHECK(t.ovs_datapath == OvsDatapath::automatic);
  CHECK_FALSE(node(t, "r1").mgmt_ipv4.has_value());

  LoadOptions options;
  options.lab_name = "other";
  t = load_ok(dir, "name: lab1\ntopology:\n  nodes: {r1: {kind: linux, image: alpine}}\n", options);
  CHECK(t.name == "other");
  CHECK(t.mgmt.network == "ltb-other");

  t = load_ok(dir, R"(name: lab1
mgmt: {network: mine, ipv4-subnet: 10.9.8.0/24, external-access: true}
settings: {ovs-datapath: netdev}
topology:
  nodes: {r1: {kind: linux, image: alpine, mgmt-ipv4: 10.9.8.7}}
)");
  CHECK(t.mgmt.network == "mine");
  // Where `up` points when the network exists and is not the lab's.
  CHECK(t.mgmt.network_loc.line == 2);
  CHECK(t.mgmt.network_loc.column == 17);
  CHECK(t.mgmt.ipv4_subnet == "10.9.8.0/24");
  CHECK(t.mgmt.external_access);
  CHECK(t.ovs_datapath == OvsDatapath::netdev);
  CHECK(node(t, "r1").mgmt_ipv4 == "10.9.8.7");

  t = load_ok(dir, "name: l\nmgmt: {ipv4-subnet: ''}\nsettings: {ovs-datapath: system}\n"
                   "topology:\n  nodes: {r1: {kind: linux, image: alpine}}\n");
  CHECK(t.mgmt.ipv4_subnet.empty());
  CHECK(t.ovs_datapath == OvsDatapath::system);
}

TEST_CASE("topology loader: dual-stack management (mgmt.ipv6-subnet, mgmt-ipv6)") {
  TempDir dir;
  auto t = load_ok(dir, R"(name: lab1
mgmt: {ipv4-subnet: 172.20.30.0/24, ipv6-subnet: "3fff:172:20:30:0::/64", ipv6-gw: "3fff:172:20:30::fe"}
topology:
  nodes:
    r1: {kind: linux, image: alpine, mgmt-ipv6: "3fff:172:20:30:0:0:0:11"}
    r2: {kind: linux, image: alpine}
)");
  // Canonical text, as Docker and `ltb status` write it.
  CHECK(t.mgmt.ipv6_subnet == "3fff:172:20:30::/64");
  CHECK_FALSE(t.mgmt.ipv6_subnet_default);
  CHECK(t.mgmt.ipv6_gateway == "3fff:172:20:30::fe");
  CHECK(node(t, "r1").mgmt_ipv6 == "3fff:172:20:30::11");
  CHECK(node(t, "r1").mgmt_ipv6_loc.line == 5);
  CHECK_FALSE(node(t, "r2").mgmt_ipv6.has_value());
  // A fixed address changes the node's configuration; none keeps the hash of before.
  auto without = node(t, "r1");
  without.mgmt_ipv6.reset();
  CHECK(node_config_hash(without) != node_config_hash(node(t, "r1")));

  // mgmt-ipv6 alone: containerlab's default IPv6 subnet.
  t = load_ok(dir, R"(name: lab1
topology:
  nodes:
    r1: {kind: linux, image: alpine, mgmt-ipv6: "3fff:172:20:20::5"}
)");
  CHECK(t.mgmt.ipv6_subnet == "3fff:172:20:20::/64");
  CHECK(t.mgmt.ipv6_subnet_default);
  CHECK(t.mgmt.ipv4_subnet.empty()); // IPv4 stays ltb's choice

  // IPv4 only when neither is written.
  t = load_ok(dir, "name: l\ntopology:\n  nodes: {r1: {kind: linux, image: alpine}}\n");
  CHECK(t.mgmt.ipv6_subnet.empty());
}

TEST_CASE("topology loader: load_file records path, text and hash") {
  TempDir dir;
  const std::string text = "name: f\ntopology:\n  nodes: {r1: {kind: linux, image: alpine, "
                           "binds: [d:/d]}}\n";
  dir.write("sub/lab.yaml", text);
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path);
  auto result = load_file("sub/lab.yaml");
  fs::current_path(cwd);
  REQUIRE(result.has_value());
  CHECK(result->file == (dir.path / "sub/lab.yaml").string());
  CHECK(result->text == text);
  CHECK(result->hash == ltb::util::sha256_hex(text));
  CHECK(result->hash.size() == 64);
  // relative paths in the file resolve against the file's directory, not the working directory
  CHECK(node(*result, "r1").binds ==
        std::vector<std::string>{(dir.path / "sub/d").string() + ":/d"});
}

TEST_CASE("topology loader: a containerlab file with linux nodes and veth links loads unchanged") {
  const std::string path = std::string(LTB_TEST_DATA) + "/topology/clab/linux-veth.clab.yml";
  Diagnostics warnings;
  LoadOptions options;
  options.warnings = &warnings;
  auto result = load_file(path, options);
  if (!result) {
    FAIL(render(result.error(), false));
  }
  CHECK(warnings.items.empty());
  const Topology &t = *result;
  CHECK(t.name == "clab-linux");
  CHECK(t.mgmt.network == "clab-mgmt");
  CHECK(t.mgmt.ipv4_subnet == "172.100.100.0/24");
  REQUIRE(t.nodes.size() == 3);
  CHECK(node(t, "client1").image == "alpine:3.18");
  CHECK(node(t, "client1").mgmt_ipv4 == "172.100.100.11");
  CHECK(node(t, "client1").env.at("ROLE") == "host");
  CHECK(node(t, "client1").exec == std::vector<std::string>{"ip addr add 192.168.0.1/24 dev eth1"});
  CHECK(node(t, "client1").binds ==
        std::vector<std::string>{std::string(LTB_TEST_DATA) +
                                 "/topology/clab/configs/client1:/config"});
  CHECK(node(t, "client2").image == "debian:bookworm-slim");
  CHECK(node(t, "client2").cmd == "sleep infinity");
  CHECK(node(t, "client2").labels.at("role") == "client");
  CHECK(node(t, "server").env.at("ROLE") == "server");
  CHECK(node(t, "server").env.at("PORT") == "8080");
  REQUIRE(t.links.size() == 3);
  CHECK(t.links[0].name == "client1-client2");
  CHECK(t.links[1].name == "client1-server");
  CHECK(t.links[1].mtu == 9000);
  CHECK(t.links[2].name == "client2-server");
  CHECK(link_key(t.links[2]) == "client2:eth2|server:eth2");
}

TEST_CASE("topology loader: containerlab keys load with a warning") {
  TempDir dir;
  Diagnostics warnings;
  LoadOptions options;
  options.warnings = &warnings;
  load_ok(dir, R"(name: lab1
mgmt: {ipv6-range: "2001:db8::/80"}
topology:
  nodes:
    r1: {kind: linux, image: alpine, license: lic.key}
  links:
    - type: veth
      endpoints: [{node: r1, interface: eth1, mac: "aa:bb:cc:dd:ee:ff"}, "r1:eth2"]
)",
          options);
  std::vector<std::string> messages;
  for (const auto &d : warnings.items) {
    CHECK(d.severity == Severity::warning);
    messages.push_back(d.message);
  }
  CHECK(messages == std::vector<std::string>{
                        "'ipv6-range' is a containerlab key ltb ignores",
                        "'license' is a containerlab key ltb ignores",
                        "'mac' is a containerlab key ltb ignores",
                    });
}

TEST_CASE("topology loader: the example in ltb-topology(5) loads as the page says") {
  const auto example = ltb::test::man_example("# EXAMPLE");
  REQUIRE_FALSE(example.empty());
  TempDir dir;
  dir.write("configs/r1.conf", "hostname r1\n");
  dir.write("configs/r2.conf", "hostname r2\n");
  const auto t = load_ok(dir, example);
  CHECK(t.name == "frr-ospf");
  REQUIRE(t.links.size() == 3);
  CHECK(t.links[0].name == "r1-r2");
  CHECK(t.links[1].name == "r1-sw1");
  CHECK(t.links[2].name == "h1-sw1");
  CHECK(node(t, "r1").image == "ltb/frr:latest");
  CHECK(node(t, "h1").image == "alpine:3.18");
  CHECK(node(t, "r1").memory_bytes == 256LL << 20);
  CHECK(node(t, "r2").startup_config_text == "hostname r2\n");
}

TEST_CASE("topology loader: empty optional maps and lists mean none") {
  TempDir dir;
  const auto t = load_ok(dir, R"(name: lab1
mgmt:
settings:
topology:
  kinds:
  groups:
  nodes:
    r1: {kind: linux, image: alpine, env:, labels:, binds:, exec:}
  links:
)");
  CHECK(t.links.empty());
  CHECK(node(t, "r1").env.empty());
  CHECK(t.mgmt.network == "ltb-lab1");
}

TEST_CASE("topology loader: text from stdin keeps its name") {
  TempDir dir;
  auto result =
      load_text("name: s\ntopology:\n  nodes: {r1: {kind: linux, image: a, binds: [x:/x]}}\n",
                "<stdin>", dir.path.string());
  REQUIRE(result.has_value());
  CHECK(result->file == "<stdin>");
  CHECK(node(*result, "r1").binds == std::vector<std::string>{(dir.path / "x").string() + ":/x"});
}

TEST_CASE("loader: a recorded lab loads again under its id, with paths beside its recorded file") {
  ltb::test::TempDir dir;
  dir.write("kept/configs/a.conf", "hello\n");
  const std::string text = "name: ospf\ntopology:\n  nodes:\n    a:\n      kind: linux\n"
                           "      image: x\n      startup-config: configs/a.conf\n";
  // A user's lab: its id holds the separator that no name given in a file or with --lab may.
  auto loaded = ltb::topology::load_recorded(text, dir.file("kept/lab.yaml"), "alice__ospf", "/");
  REQUIRE(loaded);
  CHECK(loaded->name == "alice__ospf");
  CHECK(loaded->mgmt.network == "ltb-alice__ospf");
  CHECK(loaded->nodes.at(0).startup_config == dir.file("kept/configs/a.conf"));
  ltb::topology::LoadOptions given;
  given.lab_name = "alice__ospf";
  CHECK_FALSE(ltb::topology::load_text(text, dir.file("kept/lab.yaml"), dir.file("kept"), given));
  // Without a recorded file, paths resolve in the fallback directory, and diagnostics say so.
  auto elsewhere = ltb::topology::load_recorded(text, "", "ospf", dir.file("nowhere"));
  REQUIRE_FALSE(elsewhere);
  CHECK(elsewhere.error().items.at(0).file == "<recorded topology>");
  auto fallback = ltb::topology::load_recorded(text, "", "ospf", dir.file("kept"));
  REQUIRE(fallback);
  CHECK(fallback->name == "ospf");
}
