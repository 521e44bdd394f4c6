// `ltb up --all` (service::redeploy_recorded): a recorded lab brought back from the topology its
// record keeps, on the fakes: after a reboot stopped its containers, from its file's
// directory, from a daemon lab's own copy of its files, and refused when nothing was recorded.
// (service::Connection's fakes leave the host's namespaces real, so the lab has no links; the
// real reboot, links and all, is tests/fault/services.sh.)

#include "fakes/connection.hpp"
#include "service/deploy.hpp"
#include "service/kept_files.hpp"
#include "state/store.hpp"
#include "testutil.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <filesystem>

namespace fs = std::filesystem;
using namespace ltb;

namespace {

const char *k_lab = "name: back\ntopology:\n  nodes:\n"
                    "    n1: {kind: linux, image: ltb/busybox:latest, startup-config: n1.conf}\n"
                    "    n2: {kind: linux, image: ltb/busybox:latest}\n";

struct Fixture {
  test::TempDir dir;
  service::Context context;
  service::Caller caller;
  service::CancelToken cancel;
  service::NullSink events;
  service::Session session{context, caller, cancel, events};
  fakes::World world;
  service::Connection connection;

  explicit Fixture(service::Caller who = {0, "root", true, {}}) : caller(std::move(who)) {
    context.state_path = dir.file("state/state.db");
    connection = fakes::fake_connection(world, context.state_path);
    dir.write("labs/lab.yaml", k_lab);
    dir.write("labs/n1.conf", "hostname n1\n");
  }

  void deploy(const std::string &file, service::DeployRequest request = {}) {
    auto desired = topology::load_file(file, service::load_options(session, {}));
    REQUIRE(desired);
    auto outcome = service::deploy_lab(session, connection, *desired, request);
    REQUIRE(outcome);
    for (const auto &e : outcome->errors) {
      MESSAGE(e.message);
    }
    REQUIRE(outcome->ok());
  }

  state::LabRecord record(const std::string &lab) {
    auto found = connection.store->lab(lab);
    REQUIRE(found);
    REQUIRE(*found);
    return **found;
  }

  /// What a power cut leaves: containers stopped, their interfaces gone with their namespaces.
  void reboot() {
    std::lock_guard lock(world.mutex);
    for (auto &[name, container] : world.containers) {
      container.state = "exited";
      container.pid = 0;
    }
    world.ifaces.clear();
  }

  std::size_t running() {
    std::lock_guard lock(world.mutex);
    std::size_t n = 0;
    for (const auto &[name, container] : world.containers) {
      n += container.state == "running" ? 1 : 0;
    }
    return n;
  }
};

} // namespace

TEST_CASE("up --all: a lab comes back from its record after a reboot, then is up to date") {
  Fixture f;
  f.deploy(f.dir.file("labs/lab.yaml"));
  REQUIRE(f.running() == 2);
  f.reboot();
  REQUIRE(f.running() == 0);
  // The file may have changed since (or be gone): the recorded text is what comes back, with
  // its paths where they were.
  f.dir.write("labs/lab.yaml", "name: back\ntopology:\n  nodes: {}\n");
  auto outcome = service::redeploy_recorded(f.session, f.connection, f.record("back"));
  REQUIRE(outcome);
  for (const auto &e : outcome->errors) {
    MESSAGE(e.message);
  }
  CHECK(outcome->ok());
  CHECK_FALSE(outcome->up_to_date);
  CHECK(f.running() == 2);
  CHECK(f.record("back").topology_file == f.dir.file("labs/lab.yaml"));
  auto again = service::redeploy_recorded(f.session, f.connection, f.record("back"));
  REQUIRE(again);
  CHECK(again->up_to_date);
}

TEST_CASE("up --all: a daemon lab comes back from its own copy of its files") {
  Fixture f({1000, "alice", false, {}});
  f.dir.write("req/lab.yaml", k_lab);
  f.dir.write("req/n1.conf", "hostname n1\n");
  service::DeployRequest request;
  request.keep_files = true;
  f.deploy(f.dir.file("req/lab.yaml"), request);
  fs::remove_all(f.dir.file("req")); // the request's copy is gone after the request
  f.reboot();
  auto record = f.record("alice__back");
  CHECK(record.topology_file ==
        (fs::path(service::lab_files_dir(f.context, "alice__back")) / "lab.yaml").string());
  auto outcome = service::redeploy_recorded(f.session, f.connection, record);
  REQUIRE(outcome);
  CHECK(outcome->ok());
  CHECK(f.running() == 2);
  // Still the user's (confined) lab.
  CHECK(f.record("alice__back").owner == "alice");
  CHECK(f.record("alice__back").confined);
}

TEST_CASE("up --all: a lab recorded without its topology is refused with what to do") {
  Fixture f;
  state::LabRecord old;
  old.name = "old";
  old.owner = "root";
  auto outcome = service::redeploy_recorded(f.session, f.connection, old);
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().message == "lab old has no recorded topology to bring back");
  CHECK(outcome.error().help.find("ltb down --lab old") != std::string::npos);
}
