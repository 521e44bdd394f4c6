// containerlab's file surface: environment expansion with diagnostics located in the file as
// written, empty node keys, group in defaults and kinds, containerlab keys that are errors, the
// feature report of `ltb validate --containerlab`, and finding a .clab.yml file.

#include "testutil.hpp"
#include "topology/containerlab.hpp"
#include "topology/expand.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <map>
#include <string>

namespace {

using namespace ltb::topology;
using ltb::test::TempDir;

EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
    if (auto it = values.find(std::string(name)); it != values.end()) {
      return it->second;
    }
    return std::nullopt;
  };
}

std::string expanded(const std::string &text, std::map<std::string, std::string> values = {}) {
  return expand_environment(text, "lab.yaml", env_of(std::move(values))).text;
}

LoadResult load(const std::string &yaml, std::map<std::string, std::string> values = {},
                Diagnostics *warnings = nullptr) {
  TempDir dir;
  LoadOptions options;
  options.environment = env_of(std::move(values));
  options.warnings = warnings;
  return load_text(yaml, "lab.yaml", dir.path.string(), options);
}

std::string errors(const std::string &yaml, std::map<std::string, std::string> values = {}) {
  auto result = load(yaml, std::move(values));
  REQUIRE_MESSAGE(!result.has_value(), "the load was expected to fail");
  return render(result.error(), false);
}

Topology load_ok(const std::string &yaml, std::map<std::string, std::string> values = {},
                 Diagnostics *warnings = nullptr) {
  auto result = load(yaml, std::move(values), warnings);
  if (!result) {
    FAIL(render(result.error(), false));
  }
  return *result;
}

} // namespace

TEST_CASE("expansion: containerlab's forms") {
  const std::map<std::string, std::string> env{{"A", "alpha"}, {"EMPTY", ""}};
  CHECK(expanded("x: $A ${A}", env) == "x: alpha alpha");
  // Not set or empty: left as written (a '$' in a password survives).
  CHECK(expanded("p: pa$$word $NOPE ${NOPE}", env) == "p: pa$word $NOPE ${NOPE}");
  CHECK(expanded("${NOPE:=3} ${EMPTY:=3} ${A:=3}", env) == "3 3 alpha");
  CHECK(expanded("${NOPE:-3} ${EMPTY:-3} ${A:-3}", env) == "3 3 alpha");
  CHECK(expanded("${NOPE=3} ${A=3}", env) == "3 alpha");
  CHECK(expanded("${NOPE-3} ${A-3}", env) == "3 alpha");
  CHECK(expanded("[${NOPE+on}] [${A+on}] [${EMPTY:+on}]", env) == "[] [on] [on]");
  // A default may name a variable.
  CHECK(expanded("${NOPE:=$A-x}", env) == "alpha-x");
  // Positional-looking names and lone dollars stay.
  CHECK(expanded("$1 ${1} $ $_ ${} ${ A}", env) == "$1 ${1} $ $_ ${} ${ A}");
}

TEST_CASE("expansion: malformed expressions are errors at their place") {
  auto out = expand_environment("a: 1\nb: x${A:=3\nc: ${A?no} ${A:-${B}}\n", "lab.yaml", {});
  REQUIRE(out.diagnostics.size() == 3);
  CHECK(out.diagnostics[0].loc.line == 2);
  CHECK(out.diagnostics[0].loc.column == 5);
  CHECK(out.diagnostics[0].message == "'${' is not closed on its line");
  CHECK(out.diagnostics[1].loc.line == 3);
  CHECK(out.diagnostics[1].loc.column == 4);
  CHECK(out.diagnostics[1].message == "'${A?no}' is not an expansion ltb knows");
  CHECK(out.diagnostics[2].loc.column == 12);
  CHECK(out.diagnostics[2].message == "'${A:-${B}' nests an expansion in another");
}

TEST_CASE("expansion: a loaded file's diagnostics point at the file as written") {
  // The value of LONG is much longer than "${LONG}", and the error comes after it on its line
  // and on a later line.
  const std::string yaml = "name: ${LAB:=lab}\n"
                           "topology:\n"
                           "  nodes:\n"
                           "    r1: {kind: linux, image: ${LONG}, mtu: 1500}\n"
                           "    r2: {kind: linux, image: alpine, mtu: 1500}\n";
  const std::string text = errors(yaml, {{"LONG", "registry.example/some/long/image:1.0"}});
  CHECK(text.find("lab.yaml:4:39: error: unknown key 'mtu' in node 'r1'") != std::string::npos);
  CHECK(text.find("lab.yaml:5:38: error: unknown key 'mtu' in node 'r2'") != std::string::npos);
  // The source line shown is the one written, not the expanded one.
  CHECK(text.find("image: ${LONG}, mtu") != std::string::npos);
  // A value that comes from a variable is reported at the expression.
  const std::string bad = errors("name: x\n"
                                 "topology:\n"
                                 "  nodes:\n"
                                 "    r1: {kind: ${KIND:=lnux}, image: alpine}\n");
  CHECK(bad.find("lab.yaml:4:16: error: unknown kind 'lnux'") != std::string::npos);
}

TEST_CASE("expansion: a file loads with the environment's values, and records them") {
  Diagnostics warnings;
  const auto t = load_ok("name: ${LAB:=envlab}\n"
                         "topology:\n"
                         "  nodes:\n"
                         "    h1: {kind: linux, image: \"alpine:${ALPINE_VERSION:=3}\",\n"
                         "         env: {LINK: \"${HOST_LINK:=ens3}\", PW: \"se$$cret\"}}\n",
                         {{"ALPINE_VERSION", "3.19"}}, &warnings);
  CHECK(t.name == "envlab");
  CHECK(t.nodes.at(0).image == "alpine:3.19");
  CHECK(t.nodes.at(0).env.at("LINK") == "ens3");
  CHECK(t.nodes.at(0).env.at("PW") == "se$cret");
  // What is recorded is the expanded text: loaded again, it gives the same lab in any
  // environment (load_recorded does not expand).
  CHECK(t.text.find("alpine:3.19") != std::string::npos);
  auto again = load_recorded(t.text, "", "envlab", "/tmp");
  REQUIRE(again.has_value());
  CHECK(again->nodes.at(0).image == "alpine:3.19");
  CHECK(again->nodes.at(0).env.at("PW") == "se$cret");
}

TEST_CASE("expansion: an unset ${VAR} is a warning, a malformed one an error of the load") {
  Diagnostics warnings;
  load_ok("name: x\n"
          "topology:\n"
          "  nodes: {r1: {kind: linux, image: alpine, env: {A: \"${NOT_SET_HERE}\"}}}\n",
          {}, &warnings);
  REQUIRE(warnings.items.size() == 1);
  CHECK(warnings.items[0].severity == Severity::warning);
  CHECK(warnings.items[0].loc.line == 3);
  CHECK(warnings.items[0].loc.column == 54);
  CHECK(warnings.items[0].message ==
        "environment variable NOT_SET_HERE is not set: '${NOT_SET_HERE}' is left as written");
  const std::string text = errors("name: x\n"
                                  "topology:\n"
                                  "  nodes:\n"
                                  "    r1:\n"
                                  "      kind: linux\n"
                                  "      image: alpine:${V:=3\n");
  CHECK(text.find("lab.yaml:6:21: error: '${' is not closed on its line") != std::string::npos);
}

TEST_CASE("containerlab: a node written as an empty key is an empty map") {
  const auto t = load_ok("name: x\n"
                         "topology:\n"
                         "  defaults: {kind: linux, image: alpine}\n"
                         "  kinds:\n"
                         "    linux:\n"
                         "  nodes:\n"
                         "    node1:\n"
                         "    node2:\n"
                         "  links:\n"
                         "    - endpoints: [\"node1:eth1\", \"node2:eth1\"]\n");
  REQUIRE(t.nodes.size() == 2);
  CHECK(t.nodes[0].name == "node1");
  CHECK(t.nodes[0].kind == "linux");
  CHECK(t.nodes[1].image == "alpine");
  CHECK(t.links.size() == 1);
  // With nothing to inherit, the usual error at the node.
  CHECK(errors("name: x\ntopology:\n  nodes:\n    node1:\n")
            .rfind("lab.yaml:4:5: error: node 'node1' has no kind\n   4 |     node1:\n", 0) == 0);
}

TEST_CASE("containerlab: group in topology.defaults and in a kind, inherited as containerlab") {
  const auto t = load_ok("name: x\n"
                         "topology:\n"
                         "  defaults: {group: clients}\n"
                         "  kinds:\n"
                         "    frr: {group: routers}\n"
                         "  groups:\n"
                         "    clients: {kind: linux, image: alpine, env: {ROLE: client}}\n"
                         "    routers: {image: frr-image, env: {ROLE: router}}\n"
                         "    special: {kind: linux, image: debian}\n"
                         "  nodes:\n"
                         "    c1:\n"
                         "    r1: {kind: frr}\n"
                         "    s1: {group: special}\n");
  const Node *c1 = t.find_node("c1");
  const Node *r1 = t.find_node("r1");
  const Node *s1 = t.find_node("s1");
  REQUIRE((c1 && r1 && s1));
  // The kind comes from the defaults' group; the group from the defaults.
  CHECK(c1->kind == "linux");
  CHECK(c1->group == "clients");
  CHECK(c1->env.at("ROLE") == "client");
  // The kind's group wins over the defaults'.
  CHECK(r1->group == "routers");
  CHECK(r1->image == "frr-image");
  CHECK(r1->env.at("ROLE") == "router");
  // The node's own group wins over both.
  CHECK(s1->group == "special");
  CHECK(s1->image == "debian");
}

TEST_CASE("containerlab: a group without topology.groups is a label") {
  const auto t = load_ok("name: x\n"
                         "topology:\n"
                         "  nodes:\n"
                         "    spine1: {kind: linux, image: alpine, group: spine}\n");
  CHECK(t.nodes.at(0).group == "spine");
  CHECK(errors("name: x\n"
               "topology:\n"
               "  defaults: {group: nope}\n"
               "  groups: {g: {image: alpine}}\n"
               "  nodes:\n"
               "    a: {kind: linux, image: alpine}\n"
               "    b: {kind: linux, image: alpine}\n") ==
        R"(lab.yaml:3:21: error: unknown group 'nope' in topology.defaults
   3 |   defaults: {group: nope}
     |                     ^
help: the groups are: g
)");
}

TEST_CASE("containerlab: keys that would change the lab are errors, the others warnings") {
  CHECK(errors("name: x\n"
               "topology:\n"
               "  nodes: {r1: {kind: linux, image: alpine, user: nobody}}\n") ==
        R"(lab.yaml:3:44: error: 'user' is a containerlab key ltb does not support
   3 |   nodes: {r1: {kind: linux, image: alpine, user: nobody}}
     |                                            ^
help: the container runs as its image's user: remove 'user', or set USER in the image
)");
  for (const char *key : {"aliases: [a]", "restart-policy: always", "auto-remove: true",
                          "cpu-set: \"0-1\"", "publish: [tcp/22]"}) {
    CAPTURE(key);
    const std::string text =
        errors(std::string("name: x\ntopology:\n  nodes: {r1: {kind: linux, image: alpine, ") +
               key + "}}\n");
    CHECK(text.find("is a containerlab key ltb does not support") != std::string::npos);
  }
  CHECK(errors("name: x\nmgmt: {ipv4-range: 172.20.30.128/25, ipv4-subnet: 172.20.30.0/24, "
               "mtu: 9000}\ntopology:\n  nodes: {r1: {kind: linux, image: alpine}}\n")
            .find("'mtu' is a containerlab key ltb does not support") != std::string::npos);
  // Docker only, a bridge network only.
  CHECK(errors("name: x\nmgmt: {driver: macvlan}\n"
               "topology:\n  nodes: {r1: {kind: linux, image: alpine, runtime: podman}}\n")
            .find("lab.yaml:2:16: error:") != std::string::npos);
  Diagnostics warnings;
  load_ok("name: x\nmgmt: {driver: bridge}\n"
          "topology:\n  nodes: {r1: {kind: linux, image: alpine, runtime: docker, type: ixrd2,\n"
          "    image-pull-policy: always, position: \"1,2\"}}\n",
          {}, &warnings);
  CHECK_FALSE(warnings.has_errors());
  CHECK(warnings.items.size() == 3);
}

TEST_CASE("containerlab: mgmt.ipv4-gw is accepted only as ltb's own gateway") {
  load_ok("name: x\nmgmt: {ipv4-subnet: 172.20.30.0/24, ipv4-gw: 172.20.30.1}\n"
          "topology:\n  nodes: {r1: {kind: linux, image: alpine}}\n");
  CHECK(
      errors("name: x\nmgmt: {ipv4-subnet: 172.20.30.0/24, ipv4-gw: 172.20.30.254}\n"
             "topology:\n  nodes: {r1: {kind: linux, image: alpine}}\n") ==
      R"(lab.yaml:2:46: error: mgmt.ipv4-gw 172.20.30.254 is not the first host address of 172.20.30.0/24
   2 | mgmt: {ipv4-subnet: 172.20.30.0/24, ipv4-gw: 172.20.30.254}
     |                                              ^
help: ltb's management gateway is 172.20.30.1: remove ipv4-gw, or set it to 172.20.30.1
)");
  CHECK(errors("name: x\nmgmt: {ipv4-gw: 172.20.30.1}\n"
               "topology:\n  nodes: {r1: {kind: linux, image: alpine}}\n")
            .find("mgmt.ipv4-gw is set but mgmt.ipv4-subnet is not") != std::string::npos);
}
