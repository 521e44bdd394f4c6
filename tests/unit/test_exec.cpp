#include "util/exec.hpp"

#include <chrono>
#include <doctest/doctest.h>
#include <string>
#include <thread>
#include <vector>

using ltb::util::ExecOptions;
using ltb::util::run;

TEST_CASE("exec: captures stdout and stderr separately") {
  auto result = run({"sh", "-c", "echo out-line; echo err-line >&2"});
  REQUIRE(result);
  CHECK(result->exit_code == 0);
  CHECK(result->out == "out-line\n");
  CHECK(result->err == "err-line\n");
  CHECK_FALSE(result->timed_out);
}

TEST_CASE("exec: passes arguments verbatim, without a shell") {
  auto result = run({"printf", "%s|", "a b", "$HOME", "*"});
  REQUIRE(result);
  CHECK(result->out == "a b|$HOME|*|");
}

TEST_CASE("exec: reports the exit code") {
  auto result = run({"sh", "-c", "exit 7"});
  REQUIRE(result);
  CHECK(result->exit_code == 7);
  auto killed = run({"sh", "-c", "kill -9 $$"});
  REQUIRE(killed);
  CHECK(killed->exit_code == -1);
  CHECK_FALSE(killed->timed_out);
}

TEST_CASE("exec: large output on both streams does not deadlock") {
  // Far more than a pipe buffer (64 KiB) on each stream, interleaved.
  auto result =
      run({"sh", "-c",
           "i=0; while [ $i -lt 2000 ]; do "
           "echo 0123456789012345678901234567890123456789012345678901234567890123456789; "
           "echo abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij >&2; "
           "i=$((i+1)); done"},
          ExecOptions{std::chrono::seconds(30), {}});
  REQUIRE(result);
  CHECK(result->exit_code == 0);
  CHECK(result->out.size() == 2000 * 71);
  CHECK(result->err.size() == 2000 * 71);
}

TEST_CASE("exec: writes stdin and closes it") {
  ExecOptions options;
  options.stdin_data = "hello\nworld\n";
  auto result = run({"cat"}, options);
  REQUIRE(result);
  CHECK(result->exit_code == 0);
  CHECK(result->out == "hello\nworld\n");

  // Without data the child sees EOF at once instead of waiting on ltb's terminal.
  auto empty = run({"cat"}, ExecOptions{std::chrono::seconds(5), {}});
  REQUIRE(empty);
  CHECK_FALSE(empty->timed_out);
  CHECK(empty->out.empty());
}

TEST_CASE("exec: a child that ignores its large stdin does not kill us") {
  ExecOptions options;
  options.stdin_data = std::string(1 << 20, 'x');
  auto result = run({"true"}, options);
  REQUIRE(result);
  CHECK(result->exit_code == 0);
}

TEST_CASE("exec: the timeout kills the child") {
  const auto start = std::chrono::steady_clock::now();
  auto result = run({"sh", "-c", "echo started; exec sleep 30"},
                    ExecOptions{std::chrono::milliseconds(300), {}});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(result);
  CHECK(result->timed_out);
  CHECK(result->exit_code == -1);
  CHECK(result->out == "started\n");
  CHECK(elapsed < std::chrono::seconds(5));
}

TEST_CASE("exec: the timeout also applies to a child that closed its outputs") {
  const auto start = std::chrono::steady_clock::now();
  auto result = run({"sh", "-c", "exec >/dev/null 2>&1; exec sleep 30"},
                    ExecOptions{std::chrono::milliseconds(300), {}});
  REQUIRE(result);
  CHECK(result->timed_out);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("exec: a background grandchild holding the pipes does not hold up the result") {
  const auto start = std::chrono::steady_clock::now();
  auto result = run({"sh", "-c", "sleep 5 & echo parent-done; exit 4"},
                    ExecOptions{std::chrono::seconds(20), {}});
  REQUIRE(result);
  CHECK_FALSE(result->timed_out);
  CHECK(result->exit_code == 4);
  CHECK(result->out == "parent-done\n");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
}

TEST_CASE("exec: a missing program is an error that says what to do") {
  auto result = run({"ltbtest-no-such-program", "x"});
  REQUIRE_FALSE(result);
  CHECK(result.error().message == "cannot run 'ltbtest-no-such-program': not found in PATH");
  CHECK(result.error().help.find("install") != std::string::npos);

  auto known = run({"/nonexistent/ltbtest"});
  REQUIRE_FALSE(known);
  CHECK(known.error().message.find("/nonexistent/ltbtest") != std::string::npos);
}

TEST_CASE("exec: concurrent runs from several threads keep their outputs apart") {
  std::vector<std::thread> threads;
  std::vector<std::string> outputs(8);
  std::vector<int> codes(8, -2);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([i, &outputs, &codes] {
      auto result = run({"sh", "-c", "sleep 0.1; echo $0", std::to_string(i)});
      if (result) {
        outputs[i] = result->out;
        codes[i] = result->exit_code;
      }
    });
  }
  for (auto &thread : threads) {
    thread.join();
  }
  for (int i = 0; i < 8; ++i) {
    CHECK(codes[i] == 0);
    CHECK(outputs[i] == std::to_string(i) + "\n");
  }
}
