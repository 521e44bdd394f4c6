// Regression test of the lock-order deadlock fixed in e12b0fd: the runner took its lock inside
// store transactions (settled(), link_record()) while finished() held it and wrote to the store.
// A store that is slow inside every transaction and many workers make that interleaving all but
// certain; a watchdog turns the hang into a failure instead of a stuck CI job.
#include "fakes/harness.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <doctest/doctest.h>
#include <future>
#include <thread>

using namespace ltb;

TEST_CASE("apply on fakes: no lock-order deadlock with many workers and a slow state file") {
  fakes::Harness h;
  h.workers = 16;
  auto t = fakes::make_lab("locks");
  // Nodes settle ("running") when their last action ends, in finished(), while other workers
  // are still creating nodes inside store transactions.
  constexpr int k_nodes = 48;
  for (int i = 0; i < k_nodes; ++i) {
    t.nodes.push_back(fakes::container_node(fmt::format("n{}", i)));
  }
  for (int i = 0; i + 1 < k_nodes; i += 2) {
    t.links.push_back(
        fakes::make_link(fmt::format("n{}", i), "eth1", fmt::format("n{}", i + 1), "eth1"));
  }
  for (int b = 0; b < 4; ++b) {
    auto sw = fmt::format("sw{}", b);
    t.nodes.push_back(fakes::bridge_node(sw));
    for (int i = b; i < k_nodes; i += 8) {
      t.links.push_back(fakes::make_link(fmt::format("n{}", i), "eth2", sw, fmt::format("p{}", i)));
    }
  }
  h.store->set_transaction_hook([] { std::this_thread::sleep_for(std::chrono::milliseconds(2)); });
  auto run = std::async(std::launch::async, [&] { return h.up(t); });
  // Not a timing assertion: a correct run ends in well under a second; a deadlocked one never
  // does, and there is no other way to end it than to end the process.
  if (run.wait_for(std::chrono::minutes(2)) == std::future_status::timeout) {
    std::fprintf(stderr, "test_apply_locks: ltb up on fakes hangs: lock-order deadlock between "
                         "the runner and the state file (see e12b0fd)\n");
    std::fflush(stderr);
    std::_Exit(1);
  }
  auto report = run.get();
  h.store->set_transaction_hook({});
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));
  auto down = h.down(t.name);
  REQUIRE(down);
  CHECK(down->ok());
  CHECK_MESSAGE(h.fakes.world.empty(), h.fakes.world.describe());
}
