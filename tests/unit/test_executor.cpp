// The dependency-graph executor behind `ltb up` and `ltb down`.
#include "apply/executor.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <doctest/doctest.h>
#include <mutex>
#include <thread>

using namespace ltb;
using apply::Outcome;

TEST_CASE("tasks run after their dependencies, in parallel where they can") {
  // 0 -> {1,2,3} -> 4
  std::vector<std::vector<std::size_t>> deps{{}, {0}, {0}, {0}, {1, 2, 3}};
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::size_t> order;
  int concurrent = 0;
  int peak = 0;
  auto results = apply::execute(
      deps,
      [&](std::size_t i) -> Status {
        std::unique_lock lock(mutex);
        peak = std::max(peak, ++concurrent);
        changed.notify_all();
        if (i >= 1 && i <= 3) {
          // The middle tasks hold on until two of them have run at once. A serial executor never
          // gets there: the wait ends after a minute and the check of `peak` fails.
          changed.wait_for(lock, std::chrono::minutes(1), [&] { return peak >= 2; });
        }
        --concurrent;
        order.push_back(i);
        return {};
      },
      4, nullptr);
  REQUIRE(order.size() == 5);
  CHECK(order.front() == 0);
  CHECK(order.back() == 4);
  CHECK(peak >= 2);
  for (const auto &r : results) {
    CHECK(r.outcome == Outcome::done);
  }
}

TEST_CASE("a failure skips its dependents and nothing else") {
  std::vector<std::vector<std::size_t>> deps{{}, {0}, {1}, {}};
  auto results = apply::execute(
      deps,
      [&](std::size_t i) -> Status {
        if (i == 0) {
          return fail("boom");
        }
        return {};
      },
      2, nullptr);
  CHECK(results[0].outcome == Outcome::failed);
  CHECK(results[0].error == "boom");
  CHECK(results[1].outcome == Outcome::skipped);
  CHECK(results[2].outcome == Outcome::skipped);
  CHECK(results[3].outcome == Outcome::done);
}

TEST_CASE("an interruption lets running tasks finish and starts no new one") {
  std::vector<std::vector<std::size_t>> deps{{}, {0}, {1}};
  std::atomic<bool> interrupted{false};
  auto results = apply::execute(
      deps,
      [&](std::size_t i) -> Status {
        if (i == 0) {
          interrupted = true;
        }
        return {};
      },
      1, &interrupted);
  CHECK(results[0].outcome == Outcome::done);
  CHECK(results[1].outcome == Outcome::skipped);
  CHECK(results[2].outcome == Outcome::skipped);
}

TEST_CASE("no tasks, and a cycle, end without hanging") {
  auto none = apply::execute({}, [](std::size_t) -> Status { return {}; }, 4, nullptr);
  CHECK(none.empty());
  auto cycle = apply::execute({{1}, {0}}, [](std::size_t) -> Status { return {}; }, 2, nullptr);
  CHECK(cycle[0].outcome == Outcome::skipped);
  CHECK(cycle[1].outcome == Outcome::skipped);
}
