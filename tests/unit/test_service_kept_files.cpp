// The copies of a topology's files that outlive a daemon request: a lab's (`ltb up` through the
// daemon, on the fakes) and a reservation's (content-addressed, shared, swept when unneeded).

#include "fakes/connection.hpp"
#include "schedule/ledger.hpp"
#include "service/deploy.hpp"
#include "service/kept_files.hpp"
#include "service/reservations.hpp"
#include "state/store.hpp"
#include "testutil.hpp"
#include "topology/loader.hpp"

#include <ctime>
#include <doctest/doctest.h>
#include <filesystem>

namespace fs = std::filesystem;
using namespace ltb;

using test::slurp;

namespace {

const char *k_lab = "name: kept\ntopology:\n  nodes:\n    n1:\n      kind: linux\n"
                    "      image: ltb/busybox:latest\n      startup-config: configs/n1.conf\n";

struct Fixture {
  test::TempDir dir;
  service::Context context;
  service::Caller caller{1000, "alice", false, {}};
  service::CancelToken cancel;
  service::NullSink events;
  service::Session session{context, caller, cancel, events};
  std::unique_ptr<state::Store> store;

  Fixture() {
    context.state_path = dir.file("state/state.db");
    auto opened = state::Store::open(context.state_path);
    REQUIRE(opened);
    store = std::move(*opened);
  }

  /// A request's copy of a topology and its file, as the daemon writes it.
  std::string request(const std::string &name, const std::string &config) {
    dir.write(name + "/lab.yaml", k_lab);
    dir.write(name + "/configs/n1.conf", config);
    return dir.file(name + "/lab.yaml");
  }
};

} // namespace

TEST_CASE("kept files: keep_files copies a tree and replaces an older copy whole") {
  Fixture f;
  f.request("req1", "one\n");
  f.dir.write("req1/extra.txt", "x");
  const auto kept = f.dir.file("kept");
  REQUIRE(service::keep_files(f.dir.file("req1"), kept));
  CHECK(slurp(fs::path(kept) / "configs/n1.conf") == "one\n");
  CHECK(fs::exists(fs::path(kept) / "extra.txt"));
  f.request("req2", "two\n");
  REQUIRE(service::keep_files(f.dir.file("req2"), kept));
  CHECK(slurp(fs::path(kept) / "configs/n1.conf") == "two\n");
  CHECK_FALSE(fs::exists(fs::path(kept) / "extra.txt")); // the old copy's files are gone
  // Nothing left beside it (the .new/.old steps).
  int entries = 0;
  for ([[maybe_unused]] const auto &entry : fs::directory_iterator(f.dir.path)) {
    ++entries;
  }
  CHECK(entries == 4); // state, req1, req2, kept
  // A missing source is an error, and the copy stays.
  CHECK_FALSE(service::keep_files(f.dir.file("nope"), kept));
  CHECK(slurp(fs::path(kept) / "configs/n1.conf") == "two\n");
}

TEST_CASE("kept files: a lab deployed from a request's copy records a copy of its own") {
  Fixture f;
  fakes::World world;
  auto connection = fakes::fake_connection(world, f.context.state_path);

  const auto file = f.request("req1", "hostname n1\n");
  auto desired = topology::load_file(file, service::load_options(f.session, {}));
  REQUIRE(desired);
  service::DeployRequest request;
  request.keep_files = true;
  request.source = "/home/alice/labs/lab.yaml";
  auto outcome = service::deploy_lab(f.session, connection, *desired, request);
  REQUIRE(outcome);
  for (const auto &e : outcome->errors) {
    MESSAGE(e.message);
  }
  CHECK(outcome->ok());
  auto record = connection.store->lab("alice__kept");
  REQUIRE(record);
  REQUIRE(*record);
  const auto kept = service::lab_files_dir(f.context, "alice__kept");
  CHECK((*record)->topology_file == (fs::path(kept) / "lab.yaml").string());
  CHECK((*record)->source == "/home/alice/labs/lab.yaml");
  CHECK(slurp(fs::path(kept) / "configs/n1.conf") == "hostname n1\n");

  // The request's copy goes; the lab's topology still loads from its record.
  fs::remove_all(f.dir.file("req1"));
  auto again = topology::load_text((*record)->topology_text, (*record)->topology_file,
                                   fs::path((*record)->topology_file).parent_path().string(),
                                   service::load_options(f.session, {}));
  CHECK(again);

  // Up to date from another request under another file name: the record follows the copy.
  f.dir.write("req2/other.yaml", k_lab);
  f.dir.write("req2/configs/n1.conf", "hostname n1\n");
  auto renamed =
      topology::load_file(f.dir.file("req2/other.yaml"), service::load_options(f.session, {}));
  REQUIRE(renamed);
  auto second = service::deploy_lab(f.session, connection, *renamed, request);
  REQUIRE(second);
  CHECK(second->up_to_date);
  record = connection.store->lab("alice__kept");
  REQUIRE(record);
  REQUIRE(*record);
  CHECK((*record)->topology_file == (fs::path(kept) / "other.yaml").string());
  CHECK(fs::exists((*record)->topology_file));
  CHECK_FALSE(fs::exists(fs::path(kept) / "lab.yaml"));

  // A dry run copies nothing; a plain deploy (no keep_files) records the file as given.
  fs::remove_all(kept);
  request.dry_run = true;
  REQUIRE(service::deploy_lab(f.session, connection, *desired, request));
  CHECK_FALSE(fs::exists(kept));
}

TEST_CASE("kept files: reservations share a copy by content, and unneeded copies are swept") {
  Fixture f;
  const std::int64_t base = (std::time(nullptr) / 3600 + 24) * 3600;
  for (const auto &[name, value] : std::vector<std::pair<std::string, std::string>>{
           {"cpus", "8"}, {"memory", "8589934592"}, {"disk", "10000000000"}}) {
    REQUIRE(f.store->set_meta(schedule::setting_key(name), value));
  }
  auto reserve = [&](const std::string &request_dir, const std::string &lab, std::int64_t start,
                     int count) {
    auto desired = topology::load_file(f.dir.file(request_dir + "/lab.yaml"), {lab, nullptr});
    REQUIRE(desired);
    service::CreateReservations request;
    for (int i = 1; i <= count; ++i) {
      request.labs.push_back(count == 1 ? lab : lab + "-" + std::to_string(i));
    }
    request.group = lab;
    request.topology = &*desired;
    request.source = "/home/alice/lab.yaml";
    request.text = desired->text;
    request.keep_files = f.dir.file(request_dir);
    request.start = start;
    request.end = start + 3600;
    auto created = service::create_reservations(f.session, *f.store, request);
    REQUIRE(created);
    return created->ids;
  };
  f.request("req1", "one\n");
  const auto ids = reserve("req1", "a", base, 2);
  REQUIRE(ids.size() == 2);
  auto first = f.store->reservation(ids[0]);
  auto second = f.store->reservation(ids[1]);
  REQUIRE(first);
  REQUIRE(*first);
  REQUIRE(second);
  REQUIRE(*second);
  const auto copy = (*first)->files_dir;
  CHECK_FALSE(copy.empty());
  CHECK(copy == (*second)->files_dir);
  CHECK(copy.find(f.dir.file("state/reservation-files/")) == 0);
  CHECK(slurp(fs::path(copy) / "configs/n1.conf") == "one\n");
  CHECK(schedule::reservation_base_dir(**first, f.context.state_path) == copy);
  fs::remove_all(f.dir.file("req1")); // the request's copy goes with its command

  // Other files, another copy; the same files again, the same copy.
  f.request("req2", "two\n");
  const auto other = reserve("req2", "b", base + 7200, 1);
  auto b = f.store->reservation(other[0]);
  REQUIRE(b);
  REQUIRE(*b);
  CHECK((*b)->files_dir != copy);
  CHECK(fs::exists(copy));

  // Once the reservations of the first copy are cancelled, the next one sweeps it away.
  for (auto id : ids) {
    auto r = f.store->reservation(id);
    REQUIRE(r);
    REQUIRE(*r);
    auto cancelled = **r;
    cancelled.state = schedule::k_cancelled;
    REQUIRE(f.store->put_reservation(cancelled));
  }
  f.request("req3", "two\n");
  const auto third = reserve("req3", "c", base + 14400, 1);
  auto c = f.store->reservation(third[0]);
  REQUIRE(c);
  REQUIRE(*c);
  CHECK((*c)->files_dir == (*b)->files_dir);
  CHECK_FALSE(fs::exists(copy));
  CHECK(fs::exists((*b)->files_dir));
}
