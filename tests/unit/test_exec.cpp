#include "testutil.hpp"
#include "util/exec.hpp"

#include <chrono>
#include <csignal>
#include <doctest/doctest.h>
#include <fstream>
#include <sstream>
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

/// True when process `pid` is gone (reaped) or a zombie: it runs no more.
bool stopped(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) {
    return true;
  }
  auto paren = line.rfind(')');
  return paren != std::string::npos && line.size() > paren + 2 && line[paren + 2] == 'Z';
}

// The child would sleep 30 s: what proves the timeout is `timed_out` and the child being gone
// when run() returns, not how long it took.
TEST_CASE("exec: the timeout kills the child") {
  auto result =
      run({"sh", "-c", "echo $$; exec sleep 30"}, ExecOptions{std::chrono::milliseconds(300), {}});
  REQUIRE(result);
  CHECK(result->timed_out);
  CHECK(result->exit_code == -1);
  const pid_t child = std::stoi(result->out);
  CHECK(child > 0);
  CHECK(stopped(child));
}

TEST_CASE("exec: the timeout also applies to a child that closed its outputs") {
  ltb::test::TempDir tmp;
  const auto pid_file = tmp.file("pid");
  auto result = run({"sh", "-c", "echo $$ >\"$0\"; exec >/dev/null 2>&1; exec sleep 30", pid_file},
                    ExecOptions{std::chrono::milliseconds(300), {}});
  REQUIRE(result);
  CHECK(result->timed_out);
  std::ifstream file(pid_file);
  pid_t child = 0;
  file >> child;
  REQUIRE(child > 0);
  CHECK(stopped(child));
}

// The grandchild holds the pipes for a minute; the timeout is 20 s. Waiting for the pipes to close
// instead of for the child would end in the timeout, and `timed_out` would say so.
TEST_CASE("exec: a background grandchild holding the pipes does not hold up the result") {
  auto result = run({"sh", "-c", "sleep 60 & echo $!; echo parent-done; exit 4"},
                    ExecOptions{std::chrono::seconds(20), {}});
  REQUIRE(result);
  CHECK_FALSE(result->timed_out);
  CHECK(result->exit_code == 4);
  std::istringstream lines(result->out);
  pid_t grandchild = 0;
  std::string rest;
  lines >> grandchild >> rest;
  CHECK(rest == "parent-done");
  REQUIRE(grandchild > 0);
  ::kill(grandchild, SIGKILL);
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
