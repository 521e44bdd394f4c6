// Tests of the daemon's cache of Docker's container listings (lib/service/container_cache): kept
// while nothing changes, forgotten at an event of the lab, at a change made through it, and
// whenever Docker's event stream is not followed.

#include "fakes/fakes.hpp"
#include "plan/names.hpp"
#include "service/container_cache.hpp"

#include <doctest/doctest.h>
#include <thread>

using namespace ltb;

namespace {

struct Fixture {
  fakes::World world;
  std::shared_ptr<service::ContainerCache> cache = std::make_shared<service::ContainerCache>();
  std::unique_ptr<runtime::ContainerRuntime> docker =
      service::cached_runtime(std::make_unique<fakes::FakeDocker>(world), cache);

  Fixture() {
    for (const auto &[lab, node] : {std::pair{"a", "h1"}, {"a", "h2"}, {"b", "h1"}}) {
      runtime::ContainerSpec spec;
      spec.name = fmt::format("ltb-{}-{}", lab, node);
      spec.image = "ltb/busybox:latest";
      spec.labels = {{plan::k_label_lab, lab}, {plan::k_label_node, node}};
      REQUIRE(docker->create_container(spec));
    }
  }
  std::size_t listed(const std::string &lab) {
    auto containers = docker->list_containers({{plan::k_label_lab, lab}});
    REQUIRE(containers);
    return containers->size();
  }
  int asked() const { return world.faults.calls("list_containers"); }
};

} // namespace

TEST_CASE("container cache: nothing is kept while Docker's events are not followed") {
  Fixture f;
  CHECK(f.listed("a") == 2);
  CHECK(f.listed("a") == 2);
  CHECK(f.asked() == 2);
  CHECK(f.cache->misses() == 2);
}

TEST_CASE("container cache: a lab's listing is kept until an event of that lab") {
  Fixture f;
  f.cache->set_live(true);
  CHECK(f.listed("a") == 2);
  CHECK(f.listed("a") == 2);
  CHECK(f.listed("b") == 1);
  CHECK(f.asked() == 2);
  CHECK(f.cache->hits() == 1);

  f.cache->changed("b"); // another lab's event
  CHECK(f.listed("a") == 2);
  CHECK(f.asked() == 2);
  CHECK(f.listed("b") == 1);
  CHECK(f.asked() == 3);

  f.cache->changed("a");
  CHECK(f.listed("a") == 2);
  CHECK(f.asked() == 4);

  // A listing across labs is forgotten at any lab's event.
  CHECK(f.docker->list_containers({{plan::k_label_node, "h1"}})->size() == 2);
  CHECK(f.docker->list_containers({{plan::k_label_node, "h1"}})->size() == 2);
  CHECK(f.asked() == 5);
  f.cache->changed("b");
  CHECK(f.docker->list_containers({{plan::k_label_node, "h1"}})->size() == 2);
  CHECK(f.asked() == 6);
}

TEST_CASE("container cache: a listing older than a change is not kept") {
  Fixture f;
  f.cache->set_live(true);
  service::ContainerCache::Version version;
  const service::ContainerCache::Labels labels{{plan::k_label_lab, "a"}};
  CHECK_FALSE(f.cache->find(labels, version));
  // The event lands while the listing is on its way.
  f.cache->changed("a");
  f.cache->store(labels, version, {});
  CHECK_FALSE(f.cache->find(labels, version));
  f.cache->store(labels, version, {});
  CHECK(f.cache->find(labels, version));
  // The stream breaks: nothing is kept.
  f.cache->set_live(false);
  CHECK_FALSE(f.cache->find(labels, version));
}

TEST_CASE("container cache: a change made through the cached runtime forgets at once") {
  Fixture f;
  f.cache->set_live(true);
  CHECK(f.listed("a") == 2);
  auto containers = f.docker->list_containers({{plan::k_label_lab, "a"}});
  REQUIRE(containers);
  REQUIRE(f.docker->remove_container(containers->front().id));
  CHECK(f.listed("a") == 1);
  CHECK(f.asked() == 2);
  CHECK(f.listed("a") == 1);
  CHECK(f.asked() == 2);
}

TEST_CASE("container cache: follow() keeps it live while the stream runs, and events forget") {
  Fixture f;
  fakes::FakeContainerEvents events;
  events.breaks = 1; // the first watch fails: Docker restarting
  std::atomic<bool> stop{false};
  std::thread follower([&] { f.cache->follow(events, stop); });
  for (int i = 0; i < 500 && !events.watching.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(events.watching.load());
  CHECK(f.cache->live());
  CHECK(f.listed("a") == 2);
  CHECK(f.listed("a") == 2);
  CHECK(f.asked() == 1);

  runtime::ContainerEvent died;
  died.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  died.action = "die";
  died.attributes = {{plan::k_label_lab, "a"}, {plan::k_label_node, "h1"}};
  events.push(died);
  for (int i = 0; i < 500 && f.asked() == 1; ++i) {
    CHECK(f.listed("a") == 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(f.asked() == 2);
  stop = true;
  follower.join();
  CHECK_FALSE(f.cache->live());
  CHECK(events.sinces.size() == 2);
}
