// Tests of service/users: identify() for root, a known user, a group member and a stranger (on a
// fake user database), `ltb user` add/set/rm/list/show and who may use them, and the quota
// checks of `ltb up`, `ltb start`, `ltb reserve create|update` and snapshots, each refusal
// leaving the state file as it was.
#include "fakes/accounts.hpp"
#include "fakes/harness.hpp"
#include "schedule/ledger.hpp"
#include "service/lifecycle.hpp"
#include "service/reservations.hpp"
#include "service/snapshots.hpp"
#include "service/users.hpp"
#include "testutil.hpp"
#include "topology/loader.hpp"

#include <ctime>
#include <doctest/doctest.h>

using namespace ltb;
using ltb::test::TempDir;

namespace {

bool has(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

struct Fixture {
  TempDir tmp;
  std::string state = tmp.file("state.db");
  service::Context context{state, 5};
  std::unique_ptr<state::Store> store;
  fakes::FakeAccounts accounts;
  service::CancelToken cancel;
  service::NullSink events;
  service::Caller root{0, "root", true, {}};

  Fixture() {
    auto opened = state::Store::open(state);
    REQUIRE(opened);
    store = std::move(*opened);
    accounts.add_user("root", 0, "root");
    accounts.add_user("alice", 1001, "alice", {"students"});
    accounts.add_user("bob", 1002, "bob", {"students"});
    accounts.add_user("carol", 1003, "carol", {"staff"});
    accounts.add_user("dave", 1004, "dave");
    for (const auto &[name, value] : std::vector<std::pair<std::string, std::string>>{
             {"cpus", "64"}, {"memory", "68719476736"}, {"disk", "1099511627776"}}) {
      REQUIRE(store->set_meta(schedule::setting_key(name), value));
    }
  }

  service::Session session(const service::Caller &who) { return {context, who, cancel, events}; }

  state::UserRecord add(const service::Caller &who, const service::UserChange &change) {
    auto added = service::add_user(session(who), *store, accounts, change);
    REQUIRE_MESSAGE(added, (added ? "" : added.error().message));
    return *added;
  }

  service::Caller who(uid_t uid) {
    auto found = service::identify(*store, accounts, uid);
    REQUIRE_MESSAGE(found, (found ? "" : found.error().message));
    return *found;
  }

  topology::Topology lab(const std::string &name, int nodes) {
    std::string text = "name: " + name + "\ntopology:\n  nodes:\n";
    for (int i = 1; i <= nodes; ++i) {
      text += "    n" + std::to_string(i) + ": {kind: linux, image: x}\n";
    }
    auto loaded = topology::load_text(text, tmp.file(name + ".yaml"), tmp.path.string(), {});
    REQUIRE(loaded);
    return *loaded;
  }

  /// A lab recorded as `owner`'s, its nodes with `status`.
  void record_lab(const topology::Topology &t, const std::string &owner,
                  state::RecordStatus status = state::RecordStatus::running) {
    state::LabRecord record;
    record.name = t.name;
    record.topology_file = t.file;
    record.topology_text = t.text;
    record.owner = owner;
    record.status = status == state::RecordStatus::stopped ? status : state::RecordStatus::running;
    REQUIRE(store->put_lab(record));
    for (const auto &node : t.nodes) {
      state::NodeRecord n;
      n.lab = t.name;
      n.name = node.name;
      n.kind = node.kind;
      n.status = status;
      REQUIRE(store->put_node(n));
    }
  }
};

schedule::Instant now() {
  return static_cast<schedule::Instant>(std::time(nullptr));
}

} // namespace

TEST_CASE("users: identify root, a user, a group member, an admin by group, and a stranger") {
  Fixture f;
  // root is an admin with no row at all.
  auto root = f.who(0);
  CHECK(root.admin);
  CHECK(root.name == "root");

  auto stranger = service::identify(*f.store, f.accounts, 1004);
  REQUIRE_FALSE(stranger);
  CHECK(stranger.error().message == "user 'dave' is not an ltb user");
  CHECK(stranger.error().help == "ask root to run `ltb user add dave`");

  f.add(f.root, {"bob", false, false, std::string("user"), "", false});
  f.add(f.root, {"students", true, false, std::nullopt, "labs=1", false});
  f.add(f.root, {"staff", true, false, std::string("admin"), "", false});

  auto bob = f.who(1002);
  CHECK_FALSE(bob.admin);
  CHECK(bob.name == "bob");
  CHECK(bob.groups == std::vector<std::string>{"students"});
  auto alice = f.who(1001); // through the group only
  CHECK_FALSE(alice.admin);
  CHECK(alice.groups == std::vector<std::string>{"students"});
  auto carol = f.who(1003);
  CHECK(carol.admin);
  CHECK(carol.groups == std::vector<std::string>{"staff"});

  REQUIRE(f.store->put_user({"user", "erin", 1006, "admin", "{}", 0}));
  stranger = service::identify(*f.store, f.accounts, 1004);
  REQUIRE_FALSE(stranger);
  CHECK(stranger.error().help ==
        "ask an ltb admin (erin, a member of group staff) to run `ltb user add dave`");
  auto nobody = service::identify(*f.store, f.accounts, 4242);
  REQUIRE_FALSE(nobody);
  CHECK(has(nobody.error().message, "uid 4242 has no Unix user"));
}

TEST_CASE("users: a user row's role wins over its group's") {
  Fixture f;
  f.add(f.root, {"staff", true, false, std::string("admin"), "", false});
  f.add(f.root, {"carol", false, false, std::string("user"), "", false});
  CHECK_FALSE(f.who(1003).admin);
}

TEST_CASE("users: add, set, rm, list and show; only admins manage, a user shows themself") {
  Fixture f;
  auto added = f.add(f.root, {"alice", false, false, std::nullopt, "labs=2,memory=4GiB", false});
  CHECK(added.kind == "user");
  CHECK(added.id == 1001);
  CHECK(added.role == "user");
  CHECK(added.quotas == R"({"labs":2,"memory":4294967296})");

  SUBCASE("refusals") {
    auto again = service::add_user(f.session(f.root), *f.store, f.accounts,
                                   {"alice", false, false, std::nullopt, "", false});
    REQUIRE_FALSE(again);
    CHECK(again.error().message == "user 'alice' is an ltb user already");
    auto missing = service::add_user(f.session(f.root), *f.store, f.accounts,
                                     {"zed", false, false, std::nullopt, "", false});
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message == "there is no Unix user named 'zed'");
    CHECK(missing.error().code == ExitCode::usage);
    auto no_group = service::add_user(f.session(f.root), *f.store, f.accounts,
                                      {"nogroup", true, false, std::nullopt, "", false});
    REQUIRE_FALSE(no_group);
    CHECK(no_group.error().message == "there is no Unix group named 'nogroup'");
    const auto alice = f.who(1001);
    auto by_user = service::add_user(f.session(alice), *f.store, f.accounts,
                                     {"bob", false, false, std::nullopt, "", false});
    REQUIRE_FALSE(by_user);
    CHECK(by_user.error().message == "only an ltb admin can add users; you (alice) are a user");
    CHECK_FALSE(service::list_users(f.session(alice), *f.store));
    CHECK_FALSE(service::set_user(f.session(alice), *f.store, f.accounts,
                                  {"alice", false, false, std::nullopt, "labs=9", false}));
    auto other = service::show_user(f.session(alice), *f.store, f.accounts, "root");
    REQUIRE_FALSE(other);
    CHECK(has(other.error().message, "only an ltb admin can see another user"));
    CHECK(f.store->users()->size() == 1);
  }

  SUBCASE("set clears one quota and keeps the others; the default has quotas only") {
    auto set = service::set_user(f.session(f.root), *f.store, f.accounts,
                                 {"alice", false, false, std::string("admin"), "memory=", false});
    REQUIRE(set);
    CHECK(set->role == "admin");
    CHECK(set->quotas == R"({"labs":2})");
    auto defaults = service::set_user(f.session(f.root), *f.store, f.accounts,
                                      {"", false, true, std::nullopt, "labs=1,nodes=5", false});
    REQUIRE(defaults);
    CHECK(service::default_quotas(*f.store)->size() == 2);
    auto role = service::set_user(f.session(f.root), *f.store, f.accounts,
                                  {"", false, true, std::string("admin"), "", false});
    REQUIRE_FALSE(role);
    CHECK(role.error().code == ExitCode::usage);
    auto unknown = service::set_user(f.session(f.root), *f.store, f.accounts,
                                     {"bob", false, false, std::nullopt, "labs=1", false});
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().message == "user 'bob' is not an ltb user");
    CHECK(unknown.error().help == "add it first: `ltb user add bob`");
  }

  SUBCASE("rm is refused while the user owns a lab, unless --force") {
    f.record_lab(f.lab("mine", 1), "alice");
    auto refused =
        service::remove_user(f.session(f.root), *f.store, {"alice", false, false, {}, "", false});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message == "user 'alice' still owns labs mine");
    CHECK(has(refused.error().help, "--force"));
    CHECK(f.store->user("user", "alice")->has_value());
    REQUIRE(
        service::remove_user(f.session(f.root), *f.store, {"alice", false, false, {}, "", true}));
    CHECK_FALSE(f.store->user("user", "alice")->has_value());
  }

  SUBCASE("show: each quota with its source and the usage against it") {
    f.add(f.root, {"students", true, false, std::nullopt, "nodes=4,vcpus=2", false});
    REQUIRE(service::set_user(f.session(f.root), *f.store, f.accounts,
                              {"", false, true, std::nullopt, "nodes=1,longest=2h", false}));
    f.record_lab(f.lab("mine", 3), "alice");
    const auto alice = f.who(1001);
    auto shown = service::show_user(f.session(alice), *f.store, f.accounts, "");
    REQUIRE(shown);
    CHECK(shown->name == "alice");
    CHECK(shown->role == "user");
    CHECK(shown->role_source == "user");
    CHECK(shown->groups == std::vector<std::string>{"students"});
    CHECK(shown->labs == std::vector<std::string>{"mine"});
    std::map<std::string, service::QuotaLine> lines;
    for (const auto &line : shown->quotas) {
      lines[schedule::quota_info(line.quota).name] = line;
    }
    CHECK(lines["labs"].limit == 2.0);
    CHECK(lines["labs"].source == "user");
    CHECK(lines["labs"].usage == 1.0);
    CHECK(lines["nodes"].limit == 4.0);
    CHECK(lines["nodes"].source == "group students");
    CHECK(lines["nodes"].usage == 3.0);
    CHECK(lines["vcpus"].usage == 1.5); // 3 containers at the default 0.5
    CHECK(lines["longest"].source == "default");
    CHECK_FALSE(lines["longest"].usage);
    CHECK(lines["disk"].source == "unlimited");
    // An admin sees anyone.
    auto by_root = service::show_user(f.session(f.root), *f.store, f.accounts, "alice");
    REQUIRE(by_root);
    CHECK(by_root->quotas.size() == schedule::quota_infos().size());
  }
}

TEST_CASE("users: quotas refuse `ltb up` with the figures, and record nothing") {
  Fixture f;
  f.add(f.root, {"students", true, false, std::nullopt, "labs=1,nodes=3", false});
  f.record_lab(f.lab("first", 1), "alice");
  const auto alice = f.who(1001);
  auto session = f.session(alice);

  auto second = service::admit_up(session, *f.store, f.lab("second", 1), "", false);
  REQUIRE_FALSE(second);
  CHECK(second.error().message ==
        "cannot deploy lab second: labs over the labs quota: it needs 1, your other labs hold 1 "
        "(first), and the labs quota (from group students) is 1");
  CHECK(has(second.error().help, "remove one of your labs: first"));
  CHECK_FALSE(f.store->lab("second")->has_value());
  CHECK(f.store->reservations()->empty());

  // Redeploying the lab one has is not a second lab; growing it past nodes is refused.
  auto again = service::admit_up(session, *f.store, f.lab("first", 3), "", false);
  CHECK(again);
  again->lock.reset();
  auto bigger = service::admit_up(session, *f.store, f.lab("first", 4), "", false);
  REQUIRE_FALSE(bigger);
  CHECK(has(bigger.error().message, "nodes over the nodes quota: it needs 4, you hold none now"));

  // Another user's labs do not count; an admin has no quotas of the group.
  f.add(f.root, {"bob", false, false, std::nullopt, "", false});
  CHECK(service::admit_up(f.session(f.who(1002)), *f.store, f.lab("bobs", 1), "", false));
  CHECK(service::admit_up(f.session(f.root), *f.store, f.lab("roots", 9), "", false));
}

TEST_CASE("users: quotas refuse `ltb start` of a stopped lab beside the user's others") {
  Fixture f;
  f.add(f.root, {"alice", false, false, std::nullopt, "vcpus=1", false});
  f.record_lab(f.lab("running", 1), "alice");                               // 0.5 vCPU
  f.record_lab(f.lab("stopped", 2), "alice", state::RecordStatus::stopped); // 1 vCPU once started
  auto record = f.store->lab("stopped");
  REQUIRE(record);
  REQUIRE(record->has_value());
  auto refused = service::admit_start(f.session(f.who(1001)), *f.store, **record, now());
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message ==
        "cannot start lab stopped: vcpus over the vcpus quota: it needs 1, your other labs hold "
        "0.5 (running), and the vcpus quota (your own) is 1");
  CHECK(has(refused.error().help, "at most 0.5 vcpus"));
  REQUIRE(f.store->delete_lab("running"));
  CHECK(service::admit_start(f.session(f.who(1001)), *f.store, **record, now()));
}

TEST_CASE("users: quotas refuse `ltb reserve create` and `update`, and record nothing") {
  Fixture f;
  f.add(f.root, {"alice", false, false, std::nullopt, "longest=2h,ahead=7d,labs=1", false});
  const auto alice = f.who(1001);
  auto session = f.session(alice);
  const auto t = f.lab("r", 1);
  const schedule::Instant start = now() + 3600;
  service::CreateReservations request{{"r"}, "r", &t, t.file, t.text, start, start + 3 * 3600, {}};

  auto longest = service::create_reservations(session, *f.store, request);
  REQUIRE_FALSE(longest);
  CHECK(has(longest.error().message,
            "it is longer than the longest quota: it lasts 3h, and the longest quota (your own) "
            "is 2h"));
  CHECK(longest.error().help == "ask for a reservation of at most 2h (--for 2h)");
  CHECK(f.store->reservations()->empty());

  request.start = now() + 8 * 86400;
  request.end = request.start + 3600;
  auto ahead = service::create_reservations(session, *f.store, request);
  REQUIRE_FALSE(ahead);
  CHECK(has(ahead.error().message, "it starts too far ahead"));
  CHECK(has(ahead.error().help, "book no later than"));

  // Two instances at once are two labs.
  const auto two = f.lab("g-1", 1);
  service::CreateReservations pair{{"g-1", "g-2"}, "g",   &two,         two.file,
                                   two.text,       start, start + 3600, {}};
  auto labs = service::create_reservations(session, *f.store, pair);
  REQUIRE_FALSE(labs);
  CHECK(has(labs.error().message, "labs over the labs quota: it needs 2"));
  CHECK(f.store->reservations()->empty());

  request.start = start;
  request.end = start + 3600;
  auto made = service::create_reservations(session, *f.store, request);
  REQUIRE(made);
  const auto id = made->ids.at(0);

  auto moved = service::update_reservation(session, *f.store, {id, "", "", "3h"});
  REQUIRE_FALSE(moved);
  CHECK(has(moved.error().message, fmt::format("cannot move reservation {} (lab r)", id)));
  CHECK(has(moved.error().message, "longer than the longest quota"));
  auto kept = f.store->reservation(id);
  REQUIRE(kept);
  CHECK((*kept)->end_at == start + 3600);
  // Its own window is not counted against itself.
  CHECK(service::update_reservation(session, *f.store, {id, "", "", "2h"}));

  // A lab deployed meanwhile is a second lab during the window.
  f.record_lab(f.lab("other", 1), "alice");
  service::CreateReservations later{
      {"s"}, "s", &t, t.file, t.text, start + 5 * 3600, start + 6 * 3600, {}};
  auto second = service::create_reservations(session, *f.store, later);
  REQUIRE_FALSE(second);
  CHECK(has(second.error().message, "your other labs hold 1 (other)"));
}

TEST_CASE("users: the snapshot-disk quota refuses a snapshot before anything is paused") {
  fakes::Harness h;
  const char *text = "name: sq\nmgmt:\n  ipv4-subnet: 172.31.19.0/24\ntopology:\n  nodes:\n"
                     "    r1: {kind: linux, image: ltb/busybox:latest}\n";
  auto loaded = topology::load_text(text, h.dir.file("sq.yaml"), h.dir.path.string(), {});
  REQUIRE(loaded);
  auto report = h.up(*loaded);
  REQUIRE(report);
  REQUIRE(report->ok());
  state::UserRecord tester{"user", "tester", 1000, "user", R"({"snapshot-disk":4000})", 0};
  REQUIRE(h.store->put_user(tester));
  {
    std::lock_guard lock(h.fakes.world.mutex);
    h.fakes.world.containers.at("ltb-sq-r1").changes = 5000;
  }
  service::Context context{h.dir.file("state.db"), 5};
  service::Caller caller{1000, "tester", false, {}};
  service::CancelToken cancel;
  service::NullSink events;
  service::Session session{context, caller, cancel, events};
  auto b = h.backends();
  auto made = service::create_snapshot(session, b, {"sq", "s1", false, 4}, 1'800'000'000);
  REQUIRE_FALSE(made);
  CHECK(made.error().message ==
        "cannot snapshot lab 'sq': over the snapshot-disk quota: it needs about 4.88 KiB, your "
        "snapshots hold 0, and the snapshot-disk quota (your own) is 3.91 KiB");
  CHECK(h.fakes.world.faults.calls("pause_container") == 0);
  CHECK(h.store->snapshots()->empty());
}

TEST_CASE("users: a lab deployed outside `ltb up` (a snapshot restored as a new lab) is checked") {
  Fixture f;
  f.add(f.root, {"alice", false, false, std::nullopt, "labs=1", false});
  f.record_lab(f.lab("first", 1), "alice");
  auto refused = service::check_deploy_quotas(f.session(f.who(1001)), *f.store, f.lab("copy", 1));
  REQUIRE_FALSE(refused);
  CHECK(has(refused.error().message, "cannot deploy lab copy: labs over the labs quota: it needs "
                                     "1, your other labs hold 1 (first)"));
  // In place: the lab itself is not counted twice. root (the scheduler) has no quotas.
  CHECK(service::check_deploy_quotas(f.session(f.who(1001)), *f.store, f.lab("first", 1)));
  CHECK(service::check_deploy_quotas(f.session(f.root), *f.store, f.lab("copy", 9)));
}

TEST_CASE("service users: a caller as JSON and back (the daemon hands it to its child)") {
  const service::Caller alice{1001, "alice", false, {"class", "staff"}};
  auto back = service::caller_from_json(service::caller_json(alice).dump());
  REQUIRE(back);
  CHECK(back->uid == 1001);
  CHECK(back->name == "alice");
  CHECK_FALSE(back->admin);
  CHECK(back->groups == std::vector<std::string>{"class", "staff"});
  for (const char *bad : {"", "[]", "{}", R"({"uid":-1,"name":"a","admin":true,"groups":[]})",
                          R"({"uid":1,"name":2,"admin":true,"groups":[]})",
                          R"({"uid":1,"name":"a","admin":"yes","groups":[]})",
                          R"({"uid":1,"name":"a","admin":true,"groups":[3]})"}) {
    CAPTURE(bad);
    CHECK_FALSE(service::caller_from_json(bad));
  }
}
