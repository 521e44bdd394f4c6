// containerlab's `prefix` of container names (issue 14): the names it gives, the loader's checks,
// the record, and plan -> apply -> record on the fakes: containers under the prefix, a changed
// prefix makes them again under the new names, stop/start and down find them.
#include "fakes/harness.hpp"
#include "plan/names.hpp"
#include "testutil.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>

using namespace ltb;
using fakes::Harness;
using plan::ActionKind;

namespace {

std::set<std::string> containers(Harness &h) {
  std::set<std::string> names;
  std::lock_guard lock(h.fakes.world.mutex);
  for (const auto &[name, container] : h.fakes.world.containers) {
    names.insert(name);
  }
  return names;
}

topology::Topology lab(const std::optional<std::string> &prefix) {
  auto t = fakes::make_lab("px");
  t.container_prefix = prefix;
  t.nodes = {fakes::container_node("r1"), fakes::container_node("r2"), fakes::vm_node("v1")};
  t.links = {fakes::make_link("r1", "eth1", "r2", "eth1")};
  return t;
}

} // namespace

TEST_CASE("prefix: the names containerlab gives") {
  CHECK(plan::container_name("lab", "r1") == "ltb-lab-r1");
  CHECK(plan::container_name("lab", "r1", std::nullopt) == "ltb-lab-r1");
  CHECK(plan::container_name("lab", "r1", std::string("clab")) == "clab-lab-r1");
  CHECK(plan::container_name("lab", "r1", std::string("")) == "r1");
  CHECK(plan::container_name("lab", "r1", std::string("__lab-name")) == "lab-r1");
}

TEST_CASE("prefix: the loader takes it, checks its form, and keeps a confined lab's names") {
  test::TempDir dir;
  auto load = [&](const std::string &yaml, bool confined = false) {
    topology::LoadOptions options;
    options.confined = confined;
    return topology::load_text(yaml, "lab.clab.yml", dir.path.string(), options);
  };
  const std::string nodes = "topology:\n  nodes:\n    r1: {kind: linux, image: alpine:3}\n";
  auto none = load("name: a\n" + nodes);
  REQUIRE(none);
  CHECK_FALSE(none->container_prefix);
  auto clab = load("name: a\nprefix: clab\n" + nodes);
  REQUIRE(clab);
  CHECK(clab->container_prefix == std::optional<std::string>("clab"));
  auto empty = load("name: a\nprefix: \"\"\n" + nodes);
  REQUIRE(empty);
  CHECK(empty->container_prefix == std::optional<std::string>(""));
  CHECK(load("name: a\nprefix: __lab-name\n" + nodes));

  auto bad = load("name: a\nprefix: -x\n" + nodes);
  REQUIRE_FALSE(bad);
  CHECK(topology::render(bad.error(), false).find("lab.clab.yml:2:9: error:") != std::string::npos);
  auto confined = load("name: a\nprefix: \"\"\n" + nodes, true);
  REQUIRE_FALSE(confined);
  CHECK(topology::render(confined.error(), false)
            .find("lab.clab.yml:2:9: error: an empty prefix names containers by their node names "
                  "alone, which is for admins") != std::string::npos);
  CHECK(load("name: a\nprefix: clab\n" + nodes, true));
}

TEST_CASE("prefix: the lab's record keeps it, none and empty apart") {
  Harness h;
  for (const std::optional<std::string> &prefix :
       {std::optional<std::string>(), std::optional<std::string>(""),
        std::optional<std::string>("clab")}) {
    state::LabRecord record;
    record.name = "rec";
    record.container_prefix = prefix;
    REQUIRE(h.store->put_lab(record));
    auto read = h.store->lab("rec");
    REQUIRE(read);
    REQUIRE(*read);
    CHECK((*read)->container_prefix == prefix);
  }
}

TEST_CASE("prefix: containers under it, a change makes them again, stop/start and down") {
  Harness h;
  auto t = lab(std::string("clab"));
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  REQUIRE(report->ok());
  // VMs keep ltb's names.
  CHECK(containers(h) == std::set<std::string>{"clab-px-r1", "clab-px-r2"});
  {
    std::lock_guard lock(h.fakes.world.mutex);
    CHECK(h.fakes.world.domains.count("ltb-px-v1") == 1);
  }
  auto record = h.store->lab("px");
  REQUIRE(record);
  REQUIRE(*record);
  CHECK((*record)->container_prefix == std::optional<std::string>("clab"));
  CHECK(fakes::problems(h, "px", {t}).empty());
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK(again->empty());

  // ltb stop and start find them under the prefix.
  auto stopped = h.lifecycle("px", {"r1"}, true, &t);
  REQUIRE(stopped);
  INFO(fakes::errors_of(*stopped));
  CHECK(stopped->ok());
  {
    std::lock_guard lock(h.fakes.world.mutex);
    CHECK(h.fakes.world.containers.at("clab-px-r1").state == "exited");
  }
  auto started = h.lifecycle("px", {"r1"}, false, &t);
  REQUIRE(started);
  CHECK(started->ok());

  // Without the prefix: ltb's names, each container made again and its links wired again.
  auto plain = lab(std::nullopt);
  auto plan = h.plan_up(plain);
  REQUIRE(plan);
  std::set<std::string> removed;
  for (const auto &action : plan->actions) {
    if (action.kind == ActionKind::remove_node) {
      removed.insert(action.name);
      CHECK(plan::to_string(action.why) ==
            fmt::format("container name changed: clab-px-{0} -> ltb-px-{0}", action.node));
    }
    CHECK(action.kind != ActionKind::remove_vm);
  }
  CHECK(removed == std::set<std::string>{"clab-px-r1", "clab-px-r2"});
  report = h.up(plain);
  REQUIRE(report);
  REQUIRE(report->ok());
  CHECK(containers(h) == std::set<std::string>{"ltb-px-r1", "ltb-px-r2"});
  record = h.store->lab("px");
  REQUIRE(record);
  CHECK_FALSE((*record)->container_prefix);
  CHECK(fakes::problems(h, "px", {plain}).empty());

  // The empty prefix, then down.
  auto bare = lab(std::string(""));
  report = h.up(bare);
  REQUIRE(report);
  REQUIRE(report->ok());
  CHECK(containers(h) == std::set<std::string>{"r1", "r2"});
  auto down = h.down("px");
  REQUIRE(down);
  CHECK(down->ok());
  CHECK(h.fakes.world.empty());
}
