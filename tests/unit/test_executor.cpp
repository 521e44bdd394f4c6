// The dependency-graph executor behind `ltb up` and `ltb down`.
#include <atomic>
#include <mutex>
#include <thread>

#include <doctest/doctest.h>

#include "apply/executor.hpp"

using namespace ltb;
using apply::Outcome;

TEST_CASE("tasks run after their dependencies, in parallel where they can") {
  // 0 -> {1,2,3} -> 4
  std::vector<std::vector<std::size_t>> deps{{}, {0}, {0}, {0}, {1, 2, 3}};
  std::mutex mutex;
  std::vector<std::size_t> order;
  std::atomic<int> concurrent{0};
  std::atomic<int> peak{0};
  auto results = apply::execute(
      deps,
      [&](std::size_t i) -> Status {
        int now = ++concurrent;
        peak = std::max(peak.load(), now);
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        --concurrent;
        std::lock_guard lock(mutex);
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
