// Tests of lib/service/save without daemons: what is skipped and why (bridges, nodes without a
// startup-config, nodes not running), the saved lab file, and bad input (unknown lab or node, a
// recorded file that no longer loads).

#include "service/save.hpp"
#include "state/store.hpp"
#include "testutil.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>

using ltb::test::TempDir;
namespace service = ltb::service;

namespace {

struct Fixture {
  TempDir tmp;
  service::Context context{tmp.file("state/state.db"), 5};
  service::Caller caller{1000, "alice", true, {}};
  service::CancelToken cancel;
  service::NullSink events;
  service::Session session{context, caller, cancel, events};

  /// Records lab `lab` deployed from lab/lab.yaml with TEXT; every node of it with `status`.
  void record(const std::string &lab, const std::string &text, ltb::state::RecordStatus status) {
    tmp.write("lab/lab.yaml", text);
    tmp.write("lab/h1.conf", "x\n");
    auto store = ltb::state::Store::open(context.state_path);
    REQUIRE(store);
    ltb::state::LabRecord record;
    record.name = lab;
    record.owner = "alice";
    record.topology_file = tmp.file("lab/lab.yaml");
    record.topology_text = text;
    record.status = ltb::state::RecordStatus::running;
    REQUIRE((*store)->put_lab(record));
    auto loaded = ltb::topology::load_text(text, record.topology_file, tmp.file("lab"), {lab});
    REQUIRE(loaded);
    for (const auto &node : loaded->nodes) {
      ltb::state::NodeRecord n;
      n.lab = lab;
      n.name = node.name;
      n.kind = node.kind;
      n.status = status;
      REQUIRE((*store)->put_node(n));
    }
  }
};

const std::string k_lab = R"(name: file-name
topology:
  nodes:
    h1: {kind: linux, image: ltb/busybox:latest, startup-config: h1.conf}
    h2: {kind: linux, image: ltb/busybox:latest}
    sw: {kind: ovs-bridge}
  links:
    - endpoints: ["h1:eth1", "sw:p1"]
)";

} // namespace

TEST_CASE("service save: bridges and nodes without a config are skipped; the lab file is written") {
  Fixture f;
  f.record("web", k_lab, ltb::state::RecordStatus::failed);
  service::SaveRequest request;
  request.lab = "web";
  request.dir = f.tmp.file("out");
  auto outcome = service::save_lab(f.session, request);
  REQUIRE(outcome);
  CHECK(outcome->ok());
  CHECK(outcome->saved.empty());
  REQUIRE(outcome->skipped.size() == 3);
  CHECK(outcome->skipped[0].node == "h1");
  CHECK(outcome->skipped[0].reason.find("not running") != std::string::npos);
  CHECK(outcome->skipped[1].node == "h2");
  CHECK(outcome->skipped[1].reason.find("no startup-config") != std::string::npos);
  CHECK(outcome->skipped[2].node == "sw");
  CHECK(outcome->skipped[2].reason.find("Open vSwitch bridge") != std::string::npos);
  CHECK(outcome->topology == f.tmp.file("out/topology.yaml"));
  // It loads from its new place, as lab `web`, with h1's config where it was.
  auto loaded = ltb::topology::load_file(outcome->topology);
  REQUIRE(loaded);
  CHECK(loaded->name == "web");
  CHECK(loaded->find_node("h1")->startup_config == f.tmp.file("lab/h1.conf"));
}

TEST_CASE("service save: --node names what must be saved; unknown labs and nodes are errors") {
  Fixture f;
  f.record("web", k_lab, ltb::state::RecordStatus::failed);
  service::SaveRequest request;
  request.lab = "web";
  request.dir = f.tmp.file("out");
  request.nodes = {"sw"};
  auto outcome = service::save_lab(f.session, request);
  REQUIRE(outcome);
  CHECK_FALSE(outcome->ok());
  REQUIRE(outcome->errors.size() == 1);
  CHECK(outcome->errors[0].message ==
        "node 'sw' was not saved: an Open vSwitch bridge has no configuration of its own");
  request.nodes = {"h3"};
  auto unknown_node = service::save_lab(f.session, request);
  REQUIRE_FALSE(unknown_node);
  CHECK(unknown_node.error().message == "lab 'web' has no node 'h3'");
  CHECK(unknown_node.error().help == "did you mean 'h1'?");
  request.nodes.clear();
  request.lab = "wbe";
  auto unknown_lab = service::save_lab(f.session, request);
  REQUIRE_FALSE(unknown_lab);
  CHECK(unknown_lab.error().message == "no lab named 'wbe'");
  CHECK(unknown_lab.error().help == "did you mean 'web'?");
}

TEST_CASE("service save: a recorded file whose startup-config is gone says so, with its place") {
  Fixture f;
  f.record("web", k_lab, ltb::state::RecordStatus::running);
  std::filesystem::remove(f.tmp.file("lab/h1.conf"));
  service::SaveRequest request;
  request.lab = "web";
  request.dir = f.tmp.file("out");
  auto outcome = service::save_lab(f.session, request);
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().message.find("no longer loads") != std::string::npos);
  CHECK(outcome.error().message.find("lab.yaml:4:") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(f.tmp.file("out")));
}
