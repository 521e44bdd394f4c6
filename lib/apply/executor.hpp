#pragma once
// Runs a dependency graph of tasks on a bounded pool of worker threads: a task starts as soon as
// everything it depends on has succeeded; a task whose dependency failed is skipped; once
// `interrupted` is set no new task starts and the ones under way finish.

#include "util/error.hpp"

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace ltb::apply {

enum class Outcome { pending, done, failed, skipped };

struct TaskResult {
  Outcome outcome = Outcome::pending;
  std::string error; // for failed: the task's error; for skipped: why
  std::string help;  // for failed: what to do about it (the error's help), if it says
  double seconds = 0;
};

/// Executes tasks 0..deps.size()-1. `run(i)` performs task i. Returns one result per task.
std::vector<TaskResult>
execute(const std::vector<std::vector<std::size_t>> &deps,
        const std::function<Status(std::size_t)> &run, int workers,
        const std::atomic<bool> *interrupted,
        const std::function<void(std::size_t, const TaskResult &)> &on_done = {});

} // namespace ltb::apply
