// apply/ on fakes: a failing exec command is reported and gone past, as containerlab does (issue
// 14), or fatal with settings.exec-failures: fail.
#include "fakes/harness.hpp"

#include <doctest/doctest.h>

using namespace ltb;
using fakes::Harness;

namespace {

topology::Topology exec_lab() {
  auto t = fakes::make_lab("ex");
  t.nodes = {fakes::container_node("a"), fakes::container_node("b")};
  t.nodes[0].exec = {"echo one", "false", "echo three"};
  t.nodes[1].exec = {"echo b"};
  t.links = {fakes::make_link("a", "eth1", "b", "eth1")};
  return t;
}

void fail_false(Harness &h) {
  h.fakes.world.exec_reply = [](const std::string &, const std::vector<std::string> &argv) {
    runtime::ExecOutput out;
    out.exit_code = argv.size() > 2 && argv[2] == "false" ? 1 : 0;
    out.err = out.exit_code ? "it failed\n" : "";
    return out;
  };
}

std::vector<std::string> exec_errors(Harness &h, const std::string &lab, const std::string &node) {
  auto nodes = h.store->nodes(lab);
  REQUIRE(nodes);
  for (const auto &record : *nodes) {
    if (record.name == node) {
      return record.exec_errors;
    }
  }
  FAIL("no node " << node);
  return {};
}

} // namespace

TEST_CASE("apply exec: a failing exec is reported, the node's other commands and the lab go on") {
  Harness h;
  fail_false(h);
  auto t = exec_lab();
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  {
    std::lock_guard lock(h.fakes.world.mutex);
    CHECK(h.fakes.world.containers.at(plan::container_name("ex", "a")).execs ==
          std::vector<std::string>{"echo one", "false", "echo three"});
  }
  CHECK(exec_errors(h, "ex", "a") ==
        std::vector<std::string>{"exec `false` exited with status 1: it failed"});
  CHECK(exec_errors(h, "ex", "b").empty());
  auto nodes = h.store->nodes("ex");
  REQUIRE(nodes);
  for (const auto &node : *nodes) {
    CHECK(node.status == state::RecordStatus::running);
  }
  bool warned = false;
  for (const auto &line : h.progress.notices) {
    warned = warned || line.find("node a: exec `false` exited with status 1") != std::string::npos;
  }
  CHECK(warned);

  // Fixed in the file: the node is made again, and its record forgets the failure.
  t.nodes[0].exec = {"echo one"};
  report = h.up(t);
  REQUIRE(report);
  CHECK(report->ok());
  CHECK(exec_errors(h, "ex", "a").empty());
}

TEST_CASE("apply exec: settings.exec-failures: fail stops the node at its first failure") {
  Harness h;
  fail_false(h);
  auto t = exec_lab();
  t.exec_failures_fatal = true;
  auto report = h.up(t);
  REQUIRE(report);
  CHECK_FALSE(report->ok());
  CHECK(fakes::errors_of(*report).find("node a: exec `false` exited with status 1") !=
        std::string::npos);
  std::lock_guard lock(h.fakes.world.mutex);
  CHECK(h.fakes.world.containers.at(plan::container_name("ex", "a")).execs ==
        std::vector<std::string>{"echo one", "false"});
}
