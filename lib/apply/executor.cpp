#include "apply/executor.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace ltb::apply {

std::vector<TaskResult>
execute(const std::vector<std::vector<std::size_t>> &deps,
        const std::function<Status(std::size_t)> &run, int workers,
        const std::atomic<bool> *interrupted,
        const std::function<void(std::size_t, const TaskResult &)> &on_done) {
  const std::size_t count = deps.size();
  std::vector<TaskResult> results(count);
  std::vector<std::size_t> waiting_on(count, 0);
  std::vector<std::vector<std::size_t>> dependents(count);
  for (std::size_t i = 0; i < count; ++i) {
    for (auto dep : deps[i]) {
      if (dep < count && dep != i) {
        ++waiting_on[i];
        dependents[dep].push_back(i);
      }
    }
  }
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::size_t> ready;
  std::size_t finished = 0;
  std::size_t running = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (waiting_on[i] == 0) {
      ready.push_back(i);
    }
  }

  // Marks i finished and releases or skips its dependents; called with the mutex held.
  std::function<void(std::size_t)> settle = [&](std::size_t i) {
    ++finished;
    if (on_done) {
      on_done(i, results[i]);
    }
    for (auto next : dependents[i]) {
      if (results[next].outcome != Outcome::pending) {
        continue;
      }
      if (results[i].outcome != Outcome::done) {
        results[next].outcome = Outcome::skipped;
        results[next].error =
            results[i].outcome == Outcome::skipped ? results[i].error : results[i].error;
        settle(next);
      } else if (--waiting_on[next] == 0) {
        ready.push_back(next);
      }
    }
  };

  auto worker = [&] {
    std::unique_lock lock(mutex);
    while (true) {
      changed.wait(lock, [&] { return !ready.empty() || finished == count || running == 0; });
      if (finished == count) {
        break;
      }
      if (ready.empty()) {
        if (running == 0) {
          break; // nothing runs and nothing is ready: only possible on a cycle
        }
        continue;
      }
      auto i = ready.front();
      ready.pop_front();
      if (results[i].outcome != Outcome::pending) {
        continue;
      }
      if (interrupted && interrupted->load()) {
        results[i].outcome = Outcome::skipped;
        results[i].error = "interrupted";
        settle(i);
        changed.notify_all();
        continue;
      }
      ++running;
      lock.unlock();
      auto start = std::chrono::steady_clock::now();
      auto status = run(i);
      auto seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      lock.lock();
      --running;
      results[i].seconds = seconds;
      if (status) {
        results[i].outcome = Outcome::done;
      } else {
        results[i].outcome = Outcome::failed;
        results[i].error = status.error().message;
        results[i].help = status.error().help;
      }
      settle(i);
      changed.notify_all();
    }
    changed.notify_all();
  };

  std::vector<std::thread> threads;
  int n = std::max(1, std::min<int>(workers, static_cast<int>(count)));
  for (int t = 0; t < n; ++t) {
    threads.emplace_back(worker);
  }
  for (auto &thread : threads) {
    thread.join();
  }
  for (auto &result : results) {
    if (result.outcome == Outcome::pending) {
      result.outcome = Outcome::skipped;
      result.error = "dependency cycle";
    }
  }
  return results;
}

} // namespace ltb::apply
