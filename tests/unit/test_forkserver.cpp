// The daemon's fork server: a command forked from it gets argv, the environment, the working
// directory and its streams as an exec would give them, in a process group of its own, and its
// end (exit code, or the signal) comes back.
#include "server/forkserver.hpp"
#include "testutil.hpp"

#include <csignal>
#include <cstdlib>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <linux/capability.h>
#include <string>
#include <unistd.h>

using namespace ltb;

namespace {

int entry(int argc, char **argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "echo") {
    const char *value = std::getenv("FORK_TEST");
    std::cout << argv[2] << ":" << (value ? value : "-") << ":"
              << std::filesystem::current_path().string() << ":"
              << (::getpgid(0) == ::getpid() ? "leader" : "member");
    std::cerr << "to stderr";
    return 7;
  }
  if (argc > 3 && std::string(argv[3]) == "cmdline") { // ltb --state /x cmdline ...
    std::ifstream comm("/proc/self/comm", std::ios::binary);
    std::cout << comm.rdbuf();
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::cout << in.rdbuf();
    return 0;
  }
  if (mode == "cat") {
    std::cout << std::cin.rdbuf();
    return 0;
  }
  if (mode == "sleep") {
    ::pause();
  }
  return 1;
}

std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) {
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

} // namespace

TEST_CASE("fork server: a forked command as an exec would make it, and its end") {
  test::TempDir tmp;
  auto started = server::ForkServer::start(entry);
  REQUIRE(started);
  auto &forks = **started;
  util::SpawnOptions options;
  options.env = {"FORK_TEST=yes"};
  const auto dir = std::filesystem::canonical(tmp.path).string();

  auto echo = forks.spawn({"ltb", "echo", "hello"}, options, dir);
  REQUIRE(echo);
  ::close(echo->in);
  CHECK(read_all(echo->out) == "hello:yes:" + dir + ":leader");
  CHECK(read_all(echo->err) == "to stderr");
  CHECK(forks.wait(echo->pid, true) == 7);
  ::close(echo->out);
  ::close(echo->err);

  auto cat = forks.spawn({"ltb", "cat"}, {}, dir);
  REQUIRE(cat);
  CHECK(::write(cat->in, "abc", 3) == 3);
  ::close(cat->in);
  CHECK(read_all(cat->out) == "abc");
  CHECK(forks.wait(cat->pid, true) == 0);
  ::close(cat->out);
  ::close(cat->err);

  // ps shows the command's name, and its own command line where root may set it (not the one
  // of the process it was forked from).
  auto cmdline = forks.spawn({"ltb", "--state", "/x", "cmdline", "--", "a b"}, {}, dir);
  REQUIRE(cmdline);
  ::close(cmdline->in);
  const auto shown = read_all(cmdline->out);
  CHECK(shown.rfind("ltb cmdline\n", 0) == 0);
  if (test::has_capability(CAP_SYS_RESOURCE)) {
    CHECK(shown.substr(12) == std::string("ltb\0--state\0/x\0cmdline\0--\0a b\0", 30));
  } else {
    MESSAGE("no CAP_SYS_RESOURCE here: the command line is not checked, only the name");
  }
  CHECK(forks.wait(cmdline->pid, true) == 0);
  ::close(cmdline->out);
  ::close(cmdline->err);

  auto sleeper = forks.spawn({"ltb", "sleep"}, {}, dir);
  REQUIRE(sleeper);
  CHECK(forks.wait(sleeper->pid, false) == -2);
  CHECK(::kill(-sleeper->pid, SIGKILL) == 0); // its own process group
  CHECK(forks.wait(sleeper->pid, true) == 128 + SIGKILL);
  for (int fd : {sleeper->in, sleeper->out, sleeper->err}) {
    ::close(fd);
  }

  auto nowhere = forks.spawn({"ltb", "echo", "x"}, {}, dir + "/missing");
  REQUIRE(nowhere);
  ::close(nowhere->in);
  CHECK(read_all(nowhere->err).find("cannot enter") != std::string::npos);
  CHECK(forks.wait(nowhere->pid, true) == 127);
  ::close(nowhere->out);
  ::close(nowhere->err);
}
