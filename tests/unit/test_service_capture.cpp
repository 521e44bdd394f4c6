// Tests of lib/service/capture that need no daemon: which lab a capture target is in, and the
// errors before anything is made.

#include "service/capture.hpp"
#include "testutil.hpp"

#include <doctest/doctest.h>

using ltb::test::TempDir;
namespace service = ltb::service;

namespace {

struct Fixture {
  TempDir tmp;
  service::Context context{tmp.file("state.db"), 5};
  service::Caller caller{1000, "alice", true, {}};
  service::CancelToken cancel;
  service::NullSink events;
  service::Session session{context, caller, cancel, events};
  std::unique_ptr<ltb::state::Store> store;

  Fixture() {
    auto opened = ltb::state::Store::open(context.state_path);
    REQUIRE(opened);
    store = std::move(*opened);
  }

  void lab(const std::string &name, const std::string &owner) {
    ltb::state::LabRecord record;
    record.name = name;
    record.owner = owner;
    record.status = ltb::state::RecordStatus::running;
    REQUIRE(store->put_lab(record));
    for (const auto *node : {"r1", "r2"}) {
      ltb::state::NodeRecord n;
      n.lab = name;
      n.name = node;
      n.kind = "linux";
      n.status = ltb::state::RecordStatus::running;
      REQUIRE(store->put_node(n));
    }
    ltb::state::LinkRecord link;
    link.lab = name;
    link.key = "r1:eth1--r2:eth1";
    link.name = "r1-r2";
    link.a_node = "r1";
    link.a_iface = "eth1";
    link.b_node = "r2";
    link.b_iface = "eth1";
    link.status = ltb::state::RecordStatus::up;
    REQUIRE(store->put_link(link));
  }
};

} // namespace

TEST_CASE("service capture: an unknown --lab is refused with a did-you-mean, nothing recorded") {
  Fixture f;
  f.lab("ospf", "alice");
  auto started = service::Capture::start(f.session, *f.store, {"r1-r2", "opsf", "", ""});
  REQUIRE_FALSE(started);
  CHECK(started.error().error.message == "no lab named 'opsf'");
  CHECK(started.error().error.help == "did you mean 'ospf'?");
  CHECK_FALSE(started.error().cleanup);
}

TEST_CASE("service capture: a target only another user's lab has is named, never chosen") {
  Fixture f;
  f.lab("bobs", "bob");
  auto started = service::Capture::start(f.session, *f.store, {"r1-r2", "", "", ""});
  REQUIRE_FALSE(started);
  CHECK(started.error().error.help == "lab bobs (running, owned by bob) has it: pass --lab bobs");
}

TEST_CASE("service capture: an unknown target in the caller's lab gets a did-you-mean") {
  Fixture f;
  f.lab("ospf", "alice");
  auto started = service::Capture::start(f.session, *f.store, {"r1-r3", "ospf", "", ""});
  REQUIRE_FALSE(started);
  CHECK(started.error().error.help.find("r1-r2") != std::string::npos);
}
