// Node selection for `ltb exec --all / --label`, and the quoting of a command for ssh.
#include "cli/exec_select.hpp"
#include "util/shell_split.hpp"

#include <doctest/doctest.h>
#include <string>
#include <vector>

using namespace ltb::cli;

TEST_CASE("parse_label_filters reads KEY=VALUE and refuses anything else") {
  auto filters = parse_label_filters({"role=core", "site=a=b", "empty="});
  REQUIRE(filters.has_value());
  REQUIRE(filters->size() == 3);
  CHECK((*filters)[0].key == "role");
  CHECK((*filters)[0].value == "core");
  CHECK((*filters)[1].key == "site");
  CHECK((*filters)[1].value == "a=b");
  CHECK((*filters)[2].value.empty());
  for (const char *bad : {"role", "=core", ""}) {
    auto refused = parse_label_filters({bad});
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == ltb::ExitCode::usage);
    CHECK(refused.error().message.find("KEY=VALUE") != std::string::npos);
  }
}

TEST_CASE("select_nodes keeps the nodes that carry every label, in order, bridges apart") {
  const std::vector<ExecCandidate> nodes{
      {"r1", "frr", {{"role", "core"}, {"site", "a"}}},
      {"r2", "frr", {{"role", "core"}, {"site", "b"}}},
      {"h1", "linux", {{"role", "host"}, {"site", "a"}}},
      {"sw1", "ovs-bridge", {{"site", "a"}}},
      {"vm1", "vm", {{"role", "core"}}},
  };
  SUBCASE("no filter: every node that can run a command") {
    auto all = select_nodes(nodes, {});
    CHECK(all.nodes == std::vector<std::string>{"r1", "r2", "h1", "vm1"});
    CHECK(all.bridges == std::vector<std::string>{"sw1"});
  }
  SUBCASE("one label") {
    auto core = select_nodes(nodes, {{"role", "core"}});
    CHECK(core.nodes == std::vector<std::string>{"r1", "r2", "vm1"});
    CHECK(core.bridges.empty());
  }
  SUBCASE("labels combine with and") {
    auto both = select_nodes(nodes, {{"role", "core"}, {"site", "a"}});
    CHECK(both.nodes == std::vector<std::string>{"r1"});
    auto site = select_nodes(nodes, {{"site", "a"}});
    CHECK(site.nodes == std::vector<std::string>{"r1", "h1"});
    CHECK(site.bridges == std::vector<std::string>{"sw1"});
  }
  SUBCASE("a value must match exactly; a missing key does not match an empty value") {
    CHECK(select_nodes(nodes, {{"role", "cor"}}).nodes.empty());
    CHECK(select_nodes(nodes, {{"zone", ""}}).nodes.empty());
  }
}

TEST_CASE("shell_join quotes only what needs it, and a shell splits it back to the same argv") {
  CHECK(ltb::util::shell_join({"ip", "-br", "addr"}) == "ip -br addr");
  CHECK(ltb::util::shell_join({"sh", "-c", "exit 3"}) == "sh -c 'exit 3'");
  CHECK(ltb::util::shell_join({"echo", "it's"}) == "echo 'it'\\''s'");
  CHECK(ltb::util::shell_join({"printf", ""}) == "printf ''");
  const std::vector<std::vector<std::string>> cases{
      {"vtysh", "-c", "show ip ospf neighbor"},
      {"sh", "-c", "echo \"$HOME\" `id` $((1+2)); exit 3"},
      {"a b", "'", "\"", "\\", "*", "~", "#x", "!", "new\nline", ""},
  };
  for (const auto &argv : cases) {
    auto back = ltb::util::shell_split(ltb::util::shell_join(argv));
    REQUIRE(back.has_value());
    CHECK(*back == argv);
  }
}
