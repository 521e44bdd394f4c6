// Tests of lib/service/owners: lab ids per owner, the names users see, and which labs a caller
// may name.

#include "service/nodes.hpp"
#include "service/owners.hpp"
#include "testutil.hpp"

#include <doctest/doctest.h>

using ltb::test::TempDir;
namespace service = ltb::service;

namespace {

const service::Caller k_root{0, "root", true, {}};
const service::Caller k_alice{1000, "alice", false, {}};
const service::Caller k_bob{1001, "bob", false, {}};
const service::Caller k_teacher{1002, "teacher", true, {}};

struct Labs {
  TempDir tmp;
  std::unique_ptr<ltb::state::Store> store;

  Labs() {
    auto opened = ltb::state::Store::open(tmp.file("state.db"));
    REQUIRE(opened);
    store = std::move(*opened);
  }

  void lab(const std::string &id, const std::string &owner) {
    ltb::state::LabRecord record;
    record.name = id;
    record.owner = owner;
    record.status = ltb::state::RecordStatus::running;
    REQUIRE(store->put_lab(record));
    ltb::state::NodeRecord node;
    node.lab = id;
    node.name = "r1";
    node.kind = "linux";
    node.status = ltb::state::RecordStatus::running;
    REQUIRE(store->put_node(node));
  }
};

} // namespace

TEST_CASE("lab ids: root's labs keep their name, other owners' get OWNER__ before it") {
  CHECK(service::lab_id("root", "ospf") == "ospf");
  CHECK(service::lab_id("", "ospf") == "ospf");
  CHECK(service::lab_id("alice", "ospf") == "alice__ospf");
  CHECK(service::lab_id("alice", "alice__ospf") == "alice__ospf"); // already an id
  CHECK(service::lab_id_owner("alice__ospf") == "alice");
  CHECK(service::lab_id_owner("ospf") == "root");
  CHECK(service::lab_id_owner("a__b__ospf") == "a__b"); // the last separator ends the owner
}

TEST_CASE("lab ids: a user sees their own labs by name, other users' by id") {
  CHECK(service::lab_shown(k_alice, "alice__ospf") == "ospf");
  CHECK(service::lab_shown(k_alice, "bob__ospf") == "bob__ospf");
  CHECK(service::lab_shown(k_root, "alice__ospf") == "alice__ospf");
  CHECK(service::lab_shown(k_root, "ospf") == "ospf");
  // What a caller is shown resolves back to the same lab for that caller.
  Labs f;
  f.lab("alice__ospf", "alice");
  f.lab("bob__ospf", "bob");
  for (const auto &caller : {k_alice, k_bob}) {
    const auto id = service::lab_id(caller.name, "ospf");
    auto found = service::resolve_lab(*f.store, caller, service::lab_shown(caller, id));
    REQUIRE(found);
    CHECK(found->name == id);
  }
}

TEST_CASE("resolving a lab: two users' labs of one name are each their own") {
  Labs f;
  f.lab("alice__ospf", "alice");
  f.lab("bob__ospf", "bob");
  auto a = service::resolve_lab(*f.store, k_alice, "ospf");
  REQUIRE(a);
  CHECK(a->name == "alice__ospf");
  auto b = service::resolve_lab(*f.store, k_bob, "ospf");
  REQUIRE(b);
  CHECK(b->name == "bob__ospf");
}

TEST_CASE("resolving a lab: a user cannot name another user's lab in any form") {
  Labs f;
  f.lab("bob__ospf", "bob");
  f.lab("shared", "root");
  for (const std::string named : {"bob__ospf", "bob/ospf", "ospf", "shared", "root/shared"}) {
    CAPTURE(named);
    auto found = service::resolve_lab(*f.store, k_alice, named);
    REQUIRE_FALSE(found);
    CHECK(found.error().message == "no lab named '" + named + "'");
    // Nothing of bob's shows in the help either.
    CHECK(found.error().help.find("bob") == std::string::npos);
  }
}

TEST_CASE("resolving a lab: an admin names another user's lab by id or OWNER/NAME") {
  Labs f;
  f.lab("alice__ospf", "alice");
  f.lab("bob__ospf", "bob");
  for (const auto &admin : {k_root, k_teacher}) {
    auto by_id = service::resolve_lab(*f.store, admin, "alice__ospf");
    REQUIRE(by_id);
    CHECK(by_id->name == "alice__ospf");
    auto by_owner = service::resolve_lab(*f.store, admin, "bob/ospf");
    REQUIRE(by_owner);
    CHECK(by_owner->name == "bob__ospf");
    // A bare name of no lab of the admin's own is not guessed: the error lists whose have it.
    auto bare = service::resolve_lab(*f.store, admin, "ospf");
    REQUIRE_FALSE(bare);
    CHECK(bare.error().message ==
          "you have no lab named 'ospf'; other users' labs have that name: alice__ospf, "
          "bob__ospf");
  }
}

TEST_CASE("resolving a lab id: a lab without a record is looked for under the caller's own id") {
  Labs f;
  f.lab("bob__ospf", "bob");
  auto mine = service::resolve_lab_id(*f.store, k_alice, "ospf");
  REQUIRE(mine);
  CHECK(*mine == "alice__ospf");
  auto bobs = service::resolve_lab_id(*f.store, k_alice, "bob__ospf");
  REQUIRE(bobs);
  CHECK(*bobs == "alice__bob__ospf"); // never bob's
  auto slash = service::resolve_lab_id(*f.store, k_alice, "bob/ospf");
  REQUIRE_FALSE(slash);
  CHECK(slash.error().code == ltb::ExitCode::usage);
  auto admin = service::resolve_lab_id(*f.store, k_root, "carol/ospf");
  REQUIRE(admin);
  CHECK(*admin == "carol__ospf");
}

TEST_CASE("listing: a user sees their own; --all and --owner are an admin's") {
  CHECK(service::shows(k_alice, {}, "alice"));
  CHECK_FALSE(service::shows(k_alice, {}, "bob"));
  CHECK_FALSE(service::check_filter(k_alice, {true, ""}));
  CHECK_FALSE(service::check_filter(k_alice, {false, "bob"}));
  CHECK(service::check_filter(k_alice, {false, "alice"}));
  CHECK(service::check_filter(k_teacher, {true, ""}));
  CHECK(service::shows(k_teacher, {true, ""}, "bob"));
  CHECK_FALSE(service::shows(k_teacher, {}, "bob")); // by default an admin's own
  CHECK(service::shows(k_teacher, {false, "bob"}, "bob"));
  CHECK_FALSE(service::shows(k_teacher, {false, "bob"}, "alice"));
}

TEST_CASE("lab of a node: a user is not told of other users' labs that have the node") {
  Labs f;
  f.lab("bob__ospf", "bob");
  auto found = service::lab_of_node(*f.store, k_alice, "r1");
  REQUIRE_FALSE(found);
  CHECK(found.error().message == "no node named 'r1' in any of your labs");
  auto admin = service::lab_of_node(*f.store, k_teacher, "r1");
  REQUIRE_FALSE(admin);
  CHECK(admin.error().message.find("bob__ospf (owner bob)") != std::string::npos);
}
