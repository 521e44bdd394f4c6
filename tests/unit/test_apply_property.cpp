// A property test of apply/ on fakes: over random topologies (seeded, so a failure names the
// case that reproduces it), an `ltb up` in which one random backend call fails and which may be
// cancelled at a random point leaves the state file consistent with the fakes; the next `up`
// converges (plan again is empty); `down`, also after a failed `down`, leaves the fakes empty.
#include "fakes/harness.hpp"

#include <atomic>
#include <doctest/doctest.h>
#include <random>

using namespace ltb;

namespace {

/// A random lab of containers, VMs and bridges with random links (never bridge to bridge).
topology::Topology random_lab(std::mt19937 &rng, const std::string &name) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto t = fakes::make_lab(name);
  int containers = pick(1, 5);
  int vms = pick(0, 2);
  int bridges = pick(0, 2);
  for (int i = 0; i < containers; ++i) {
    auto node = fakes::container_node(fmt::format("c{}", i));
    if (pick(0, 3) == 0) {
      node.image = "ltb/frr:latest";
    }
    if (pick(0, 2) == 0) {
      node.exec = {"ip link set eth1 up"};
    }
    t.nodes.push_back(node);
  }
  for (int i = 0; i < vms; ++i) {
    auto node = fakes::vm_node(fmt::format("v{}", i));
    node.cpus = pick(1, 2);
    t.nodes.push_back(node);
  }
  for (int i = 0; i < bridges; ++i) {
    t.nodes.push_back(fakes::bridge_node(fmt::format("sw{}", i)));
  }
  std::map<std::string, int> next_iface;
  std::set<std::pair<std::string, std::string>> linked;
  int links = pick(0, 7);
  for (int i = 0; i < links; ++i) {
    const auto &a = t.nodes[pick(0, static_cast<int>(t.nodes.size()) - 1)];
    const auto &b = t.nodes[pick(0, static_cast<int>(t.nodes.size()) - 1)];
    bool both_bridges =
        a.runtime == topology::Runtime::ovs_bridge && b.runtime == topology::Runtime::ovs_bridge;
    if (a.name == b.name || both_bridges || linked.count({a.name, b.name}) ||
        linked.count({b.name, a.name})) {
      continue;
    }
    linked.insert({a.name, b.name});
    auto iface = [&](const topology::Node &n) {
      int index = ++next_iface[n.name];
      return n.runtime == topology::Runtime::ovs_bridge ? fmt::format("p{}", index)
                                                        : fmt::format("eth{}", index);
    };
    auto ai = iface(a);
    auto bi = iface(b);
    t.links.push_back(fakes::make_link(a.name, ai, b.name, bi));
  }
  return t;
}

} // namespace

TEST_CASE("apply on fakes: random labs, a random failure and cancel; state stays consistent and "
          "the next run converges") {
  constexpr int k_cases = 200;
  for (int seed = 1; seed <= k_cases; ++seed) {
    CAPTURE(seed);
    std::mt19937 rng(static_cast<unsigned>(seed));
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    fakes::Harness h;
    h.workers = pick(1, 6);
    const std::string lab = "p" + std::to_string(seed);
    std::vector<topology::Topology> deployed;
    // Half of the cases start from a lab that is up, so that the failing run also changes,
    // rewires and removes.
    if (pick(0, 1) == 1) {
      auto first = random_lab(rng, lab);
      auto report = h.up(first);
      REQUIRE(report);
      INFO(fakes::errors_of(*report));
      REQUIRE(report->ok());
      deployed.push_back(first);
    }
    auto target = random_lab(rng, lab);
    deployed.push_back(target);
    auto planned = h.plan_up(target);
    REQUIRE(planned);
    auto plan_text = fakes::describe_plan(*planned);
    CAPTURE(plan_text);

    auto &faults = h.fakes.world.faults;
    std::atomic<bool> interrupted{false};
    int start = faults.total();
    faults.fail_nth(start + pick(1, 40));
    if (pick(0, 1) == 1) {
      int cancel_at = start + pick(1, 40);
      faults.on_call = [&interrupted, cancel_at](int n, const std::string &) {
        if (n >= cancel_at) {
          interrupted = true;
        }
      };
    }
    auto failing = h.up(target, &interrupted);
    std::string failed_calls;
    for (const auto &call : faults.failed()) {
      failed_calls += call + " ";
    }
    CAPTURE(failed_calls);
    if (failing) {
      INFO(fakes::errors_of(*failing));
      CHECK(fakes::problems(h, lab, deployed) == "");
    }
    // A failure while observing or planning changes nothing; nothing to check but convergence.

    faults.clear();
    interrupted = false;
    auto converging = h.up(target);
    REQUIRE(converging);
    INFO(fakes::errors_of(*converging));
    CHECK(converging->ok());
    auto again = h.plan_up(target);
    REQUIRE(again);
    CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));
    CHECK(fakes::problems(h, lab, deployed) == "");

    if (pick(0, 2) == 0) {
      faults.fail_nth(faults.total() + pick(1, 20));
      auto failed_down = h.down(lab);
      faults.clear();
      if (failed_down) {
        CHECK(fakes::problems(h, lab, deployed) == "");
      }
    }
    auto down = h.down(lab);
    REQUIRE(down);
    INFO(fakes::errors_of(*down));
    CHECK(down->ok());
    CHECK_MESSAGE(h.fakes.world.empty(), h.fakes.world.describe());
    auto gone = h.store->lab(lab);
    REQUIRE(gone);
    CHECK(!*gone);
  }
}

TEST_CASE("apply on fakes: each backend call of an up and of a down fails in turn; state stays "
          "consistent, the next up converges and down leaves nothing") {
  constexpr int k_labs = 12;
  int runs = 0;
  for (int seed = 1001; seed < 1001 + k_labs; ++seed) {
    CAPTURE(seed);
    std::mt19937 rng(static_cast<unsigned>(seed));
    const std::string lab = "e" + std::to_string(seed);
    auto target = random_lab(rng, lab);
    // How many calls a clean up and a clean down make, on a harness of their own.
    int up_calls = 0;
    int down_calls = 0;
    {
      fakes::Harness h;
      auto up = h.up(target);
      REQUIRE(up);
      REQUIRE(up->ok());
      up_calls = h.fakes.world.faults.total();
      auto down = h.down(lab);
      REQUIRE(down);
      REQUIRE(down->ok());
      down_calls = h.fakes.world.faults.total() - up_calls;
    }
    REQUIRE(up_calls > 0);
    REQUIRE(down_calls > 0);
    for (int n = 1; n <= up_calls + down_calls; ++n) {
      CAPTURE(n);
      ++runs;
      fakes::Harness h;
      h.workers = 1 + n % 4;
      auto &faults = h.fakes.world.faults;
      const bool in_down = n > up_calls;
      if (in_down) {
        auto up = h.up(target);
        REQUIRE(up);
        REQUIRE(up->ok());
        faults.fail_nth(faults.total() + (n - up_calls));
        auto failed = h.down(lab);
        std::string failed_calls;
        for (const auto &call : faults.failed()) {
          failed_calls += call + " ";
        }
        CAPTURE(failed_calls);
        faults.clear();
        if (failed) {
          // A down that failed keeps the lab recorded as far as it still runs.
          CHECK(fakes::problems(h, lab, {target}) == "");
        }
      } else {
        faults.fail_nth(n);
        auto failed = h.up(target);
        faults.clear();
        if (failed) {
          INFO(fakes::errors_of(*failed));
          CHECK(fakes::problems(h, lab, {target}) == "");
        }
      }
      auto converging = h.up(target);
      REQUIRE(converging);
      INFO(fakes::errors_of(*converging));
      CHECK(converging->ok());
      auto again = h.plan_up(target);
      REQUIRE(again);
      CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));
      CHECK(fakes::problems(h, lab, {target}) == "");
      auto down = h.down(lab);
      REQUIRE(down);
      CHECK(down->ok());
      CHECK_MESSAGE(h.fakes.world.empty(), h.fakes.world.describe());
    }
  }
  MESSAGE(runs << " runs, each with one failing backend call");
  CHECK(runs > 100);
}
