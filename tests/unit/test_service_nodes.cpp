// Tests of lib/service/nodes: the one rule that finds a node's lab without --lab (exec, ssh and
// console share it), and how a command reaches a node.

#include "service/nodes.hpp"
#include "testutil.hpp"

#include <doctest/doctest.h>

using ltb::test::TempDir;
namespace service = ltb::service;

namespace {

struct Labs {
  TempDir tmp;
  std::unique_ptr<ltb::state::Store> store;
  service::Caller alice{1000, "alice", true, {}};
  service::Caller bob{1001, "bob", true, {}};

  Labs() {
    auto opened = ltb::state::Store::open(tmp.file("state.db"));
    REQUIRE(opened);
    store = std::move(*opened);
  }

  void lab(const std::string &name, const std::string &owner, const std::string &status,
           const std::vector<std::pair<std::string, std::string>> &nodes,
           const std::string &kind = "linux") {
    ltb::state::LabRecord record;
    record.name = name;
    record.owner = owner;
    record.status = ltb::state::parse_record_status(status).value();
    REQUIRE(store->put_lab(record));
    for (const auto &[node, node_status] : nodes) {
      ltb::state::NodeRecord n;
      n.lab = name;
      n.name = node;
      n.kind = kind;
      n.status = ltb::state::parse_record_status(node_status).value();
      REQUIRE(store->put_node(n));
    }
  }
};

} // namespace

TEST_CASE("lab of a node: the caller's one lab that has it") {
  Labs f;
  f.lab("mine", "alice", "running", {{"r1", "running"}, {"r2", "running"}});
  f.lab("other", "alice", "running", {{"h1", "running"}});
  auto found = service::lab_of_node(*f.store, f.alice, "r2");
  REQUIRE(found);
  CHECK(*found == "mine");
}

TEST_CASE("lab of a node: in several of the caller's labs, the one where lab and node run") {
  Labs f;
  f.lab("old", "alice", "failed", {{"r1", "running"}});
  f.lab("new", "alice", "running", {{"r1", "running"}});
  auto found = service::lab_of_node(*f.store, f.alice, "r1");
  REQUIRE(found);
  CHECK(*found == "new");
}

TEST_CASE("lab of a node: in several running labs of the caller, --lab is asked for") {
  Labs f;
  f.lab("one", "alice", "running", {{"r1", "running"}});
  f.lab("two", "alice", "running", {{"r1", "running"}});
  auto found = service::lab_of_node(*f.store, f.alice, "r1");
  REQUIRE_FALSE(found);
  CHECK(found.error().message == "node 'r1' is in several of your labs (one, two)");
  CHECK(found.error().help == "say which with --lab LAB");
  CHECK(found.error().code == ltb::ExitCode::usage);
}

TEST_CASE("lab of a node: another user's lab is named, never chosen") {
  Labs f;
  f.lab("bobs", "bob", "running", {{"r1", "running"}});
  auto found = service::lab_of_node(*f.store, f.alice, "r1");
  REQUIRE_FALSE(found);
  CHECK(found.error().message ==
        "none of your labs has a node 'r1'; other users' labs do: bobs (owner bob)");
  CHECK(found.error().help == "say which lab with --lab LAB");
  // The owner finds it.
  auto owned = service::lab_of_node(*f.store, f.bob, "r1");
  REQUIRE(owned);
  CHECK(*owned == "bobs");
}

TEST_CASE("lab of a node: a lab being removed does not count; unknown names get a did-you-mean") {
  Labs f;
  f.lab("going", "alice", "removing", {{"r1", "running"}});
  f.lab("here", "alice", "running", {{"router1", "running"}});
  auto found = service::lab_of_node(*f.store, f.alice, "r1");
  REQUIRE_FALSE(found);
  CHECK(found.error().message == "no node named 'r1' in any of your labs");
  auto near = service::lab_of_node(*f.store, f.alice, "router2");
  REQUIRE_FALSE(near);
  CHECK(near.error().help == "did you mean 'router1'?");
}

TEST_CASE("only lab: the caller's only lab, else the only running one, else an error") {
  Labs f;
  auto none = service::only_lab(*f.store, f.alice);
  REQUIRE_FALSE(none);
  CHECK(none.error().message == "you have no labs to run the command in");
  f.lab("a", "alice", "running", {});
  f.lab("theirs", "bob", "running", {});
  auto one = service::only_lab(*f.store, f.alice);
  REQUIRE(one);
  CHECK(*one == "a");
  f.lab("b", "alice", "failed", {});
  auto running = service::only_lab(*f.store, f.alice);
  REQUIRE(running);
  CHECK(*running == "a");
  f.lab("c", "alice", "running", {});
  auto several = service::only_lab(*f.store, f.alice);
  REQUIRE_FALSE(several);
  CHECK(several.error().code == ltb::ExitCode::usage);
}

TEST_CASE("command access: containers through Docker's exec, VMs over ssh, bridges refused") {
  ltb::state::NodeRecord node;
  node.name = "n";
  node.status = ltb::state::RecordStatus::running;
  node.kind = "linux";
  CHECK(*service::command_access("lab", node) == service::Access::docker_exec);
  node.kind = "frr";
  CHECK(*service::command_access("lab", node) == service::Access::docker_exec);
  node.kind = "vm";
  CHECK(*service::command_access("lab", node) == service::Access::ssh);
  node.kind = "ovs-bridge";
  auto bridge = service::command_access("lab", node);
  REQUIRE_FALSE(bridge);
  CHECK(bridge.error().message.find("is an Open vSwitch bridge") != std::string::npos);
  node.kind = "linux";
  node.status = ltb::state::RecordStatus::creating;
  auto stopped = service::command_access("lab", node);
  REQUIRE_FALSE(stopped);
  CHECK(stopped.error().message == "node 'n' of lab 'lab' is not running (it is creating)");
}

TEST_CASE("console: found by the same rule, and only for VMs (before libvirt is asked)") {
  Labs f;
  f.lab("mine", "alice", "running", {{"r1", "running"}});
  service::Context context{f.tmp.file("state.db"), 5};
  service::CancelToken cancel;
  service::NullSink events;
  const service::Session session{context, f.alice, cancel, events};
  auto container = service::Console::open(session, *f.store, "r1", "");
  REQUIRE_FALSE(container);
  CHECK(container.error().message == "node 'r1' is a linux node; only VMs have a serial console");
  CHECK(container.error().help ==
        "for a shell in it: ltb exec r1 sh, or docker exec -it ltb-mine-r1 sh");
  auto missing = service::Console::open(session, *f.store, "r9", "mine");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "lab 'mine' has no node 'r9'");
  // Bob's view of the same node: named, not chosen (the rule of exec and ssh).
  const service::Session bobs{context, f.bob, cancel, events};
  auto elsewhere = service::Console::open(bobs, *f.store, "r1", "");
  REQUIRE_FALSE(elsewhere);
  CHECK(elsewhere.error().message.find("other users' labs do: mine (owner alice)") !=
        std::string::npos);
}
