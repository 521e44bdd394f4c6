// `ltb up` has the images of the containers it makes before it makes anything (issue 14:
// containerlab pulls first): one that is missing and cannot be pulled fails the up with nothing
// made and no record; a pullable one is pulled, once however many nodes use it.

#include "fakes/connection.hpp"
#include "service/deploy.hpp"
#include "state/store.hpp"
#include "testutil.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>

using namespace ltb;

namespace {

const char *k_lab = R"(name: img
topology:
  nodes:
    a: {kind: linux, image: ltb/busybox:latest}
    b: {kind: linux, image: vendor/nos:1}
    c: {kind: linux, image: other/pullable:2}
    d: {kind: linux, image: other/pullable:2}
)";

const char *k_two = R"(name: two
topology:
  nodes:
    x: {kind: linux, image: vendor/nos:1}
    y: {kind: linux, image: vendor/nos:1}
)";

struct Fixture {
  test::TempDir dir;
  service::Context context;
  service::Caller caller{0, "root", true, {}};
  service::CancelToken cancel;
  service::NullSink events;
  service::Session session{context, caller, cancel, events};

  Fixture() { context.state_path = dir.file("state/state.db"); }

  /// TEXT as the caller loads it, from FILE in the fixture's directory.
  topology::Topology load(const char *text, const std::string &file) {
    auto loaded = topology::load_text(text, dir.file(file), dir.path.string(),
                                      service::load_options(session, {}));
    REQUIRE(loaded);
    return *loaded;
  }
};

} // namespace

TEST_CASE("deploy: an image that cannot be had fails the up before anything is made") {
  Fixture f;
  fakes::World world;
  world.faults.inject("pull_image", "vendor/nos");
  auto connection = fakes::fake_connection(world, f.context.state_path);
  const auto desired = f.load(k_lab, "lab.yaml");
  auto outcome = service::deploy_lab(f.session, connection, desired, {});
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().message == "image 'vendor/nos:1' of node 'b' is not available: "
                                   "injected failure of pull_image(vendor/nos:1)");
  CHECK(outcome.error().help.find("nothing of lab 'img' was made") != std::string::npos);
  CHECK(world.empty());
  auto record = connection.store->lab("img");
  REQUIRE(record);
  CHECK_FALSE(*record);
  // The pullable one was pulled once, though two nodes use it; the present one not at all.
  CHECK(world.faults.calls("pull_image") == 2);
  {
    std::lock_guard lock(world.mutex);
    CHECK(world.images.count("other/pullable:2") == 1);
  }

  // Once the image is there, the lab comes up.
  world.faults.clear();
  {
    std::lock_guard lock(world.mutex);
    world.images.insert("vendor/nos:1");
  }
  auto second = service::deploy_lab(f.session, connection, desired, {});
  REQUIRE(second);
  CHECK(second->ok());
  std::lock_guard lock(world.mutex);
  CHECK(world.containers.size() == 4);
}

TEST_CASE("deploy: an image several nodes use is named once, with each of them") {
  Fixture f;
  fakes::World world;
  world.faults.inject("pull_image", "vendor/nos");
  auto connection = fakes::fake_connection(world, f.context.state_path);
  const auto desired = f.load(k_two, "two.yaml");
  auto outcome = service::deploy_lab(f.session, connection, desired, {});
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().message.rfind("image 'vendor/nos:1' of nodes 'x', 'y' is not available",
                                      0) == 0);
  CHECK(world.faults.calls("pull_image") == 1);
  CHECK(world.empty());
}

TEST_CASE("deploy: a registry that cannot be reached is said without its address") {
  CHECK(service::pull_failure("Error response from daemon: Get \"https://example.invalid/v2/\": "
                              "dial tcp: lookup example.invalid on 127.0.0.53:53: no such host") ==
        "its registry cannot be reached from this host (no such host)");
  CHECK(service::pull_failure("pull access denied for x, repository does not exist") ==
        "pull access denied for x, repository does not exist");
}
