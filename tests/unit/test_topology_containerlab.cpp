// The containerlab features a file uses (`ltb validate --containerlab`), and finding a .clab.yml
// file as containerlab does.

#include "testutil.hpp"
#include "topology/containerlab.hpp"

#include <doctest/doctest.h>
#include <map>
#include <set>
#include <string>

using namespace ltb::topology;
using ltb::test::TempDir;

TEST_CASE("containerlab report: the features a file uses, with their places") {
  const auto report = containerlab_report("name: ${LAB:=r}\n"
                                          "topology:\n"
                                          "  defaults: {kind: linux, group: g}\n"
                                          "  nodes:\n"
                                          "    n1:\n"
                                          "    n2: {user: nobody, image: alpine}\n"
                                          "  links:\n"
                                          "    - endpoints: [\"n1:eth1\", \"host:veth1\"]\n",
                                          "lab.clab.yml");
  REQUIRE(report.parsed);
  std::map<std::string, const FeatureUse *> used;
  for (const auto &use : report.used) {
    used[std::string(use.feature->id)] = &use;
  }
  for (const char *id : {"name", "env-vars", "defaults", "group-default", "empty-node",
                         "kind-known", "image", "user", "link-brief", "link-host-endpoint"}) {
    CAPTURE(id);
    CHECK(used.count(id) == 1);
  }
  CHECK(used.count("ports") == 0);
  CHECK(used.at("empty-node")->places.at(0).line == 5);
  CHECK(used.at("env-vars")->places.at(0).column == 7);
  CHECK(used.at("user")->places.at(0).line == 6);
  CHECK(used.at("user")->places.at(0).column == 10);
  CHECK_FALSE(report.all_supported());

  const auto plain = containerlab_report(
      "name: x\ntopology:\n  nodes: {a: {kind: linux, image: alpine}}\n", "x.yml");
  CHECK(plain.all_supported());
  const auto broken = containerlab_report("name: [x\n", "x.yml");
  CHECK_FALSE(broken.parsed);
  CHECK(broken.problems.has_errors());
}

TEST_CASE("containerlab report: every feature's patterns and ids are well formed") {
  std::set<std::string_view> ids;
  for (const auto &feature : containerlab_features()) {
    CAPTURE(feature.id);
    CHECK(ids.insert(feature.id).second);
    CHECK_FALSE(feature.title.empty());
    CHECK(feature.doc.rfind("https://containerlab.dev/", 0) == 0);
    CHECK((!feature.patterns.empty() || !feature.text_check.empty()));
    for (auto pattern : feature.patterns) {
      CHECK((pattern.rfind("/", 0) == 0 || pattern.rfind("@node/", 0) == 0));
    }
  }
}

TEST_CASE("containerlab: a topology file found as containerlab finds one") {
  TempDir dir;
  CHECK(find_topology_file(dir.file("given.yaml")).value() == dir.file("given.yaml"));
  auto none = find_topology_file(dir.path.string());
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().code == ltb::ExitCode::usage);
  dir.write("lab.yaml", "x");
  dir.write("a.clab.yml", "x");
  CHECK(find_topology_file(dir.path.string()).value() == dir.file("a.clab.yml"));
  dir.write("b.clab.yaml", "x");
  auto several = find_topology_file(dir.path.string());
  REQUIRE_FALSE(several.has_value());
  CHECK(several.error().message.find("2 files named *.clab.yml or *.clab.yaml") !=
        std::string::npos);
  CHECK(several.error().message.find("a.clab.yml, b.clab.yaml") != std::string::npos);
}
