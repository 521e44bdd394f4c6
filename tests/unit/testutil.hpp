#pragma once
// Shared by the unit tests: a fresh temporary directory per test, removed afterwards.

#include <cstdlib>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <stdlib.h>
#include <string>
#include <sys/types.h>
#include <system_error>
#include <thread>

namespace ltb::test {

struct TempDir {
  std::filesystem::path path;

  TempDir() : TempDir(std::filesystem::temp_directory_path()) {}
  /// Under `parent` (for example /dev/shm, where a test syncs many small files).
  explicit TempDir(const std::filesystem::path &parent) {
    std::string pattern = (parent / "ltb-unit-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  /// The path of `name` inside the directory.
  std::string file(const std::string &name) const { return (path / name).string(); }

  /// Writes `content` to `name` (parent directories made as needed).
  void write(const std::string &name, const std::string &content) const {
    std::filesystem::create_directories((path / name).parent_path());
    std::ofstream(path / name, std::ios::binary) << content;
  }
};

/// The whole content of the file at PATH ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// True when the tests run under CI (CI=true), where every prerequisite must be there.
/// Whether this process holds the capability in its effective set (/proc/self/status CapEff).
inline bool has_capability(int capability) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("CapEff:", 0) == 0) {
      const auto mask = std::stoull(line.substr(7), nullptr, 16);
      return (mask >> capability) & 1U;
    }
  }
  return false;
}

inline bool in_ci() {
  const char *ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

/// A test whose prerequisite (a program, root, ...) is missing calls this and returns. With
/// CI=true that fails the test: CI installs everything, so a missing prerequisite is a broken
/// setup, and a silent pass would hide a test that never ran. Elsewhere it says plainly, in the
/// output of every run, what was not tested and why.
inline void missing_prerequisite(const std::string &what, const std::string &not_tested) {
  if (in_ci()) {
    FAIL_CHECK("CI=true and " << what << ", so " << not_tested << " cannot be tested");
  } else {
    MESSAGE("NOT TESTED: " << not_tested << ", because " << what
                           << " (with CI=true this is a failure)");
  }
}

/// Waits (no deadline: ctest's timeout is the backstop) until thread `tid` of this process is
/// blocked in one of `syscalls` (numbers from <sys/syscall.h>), as /proc shows it. Lets a test act
/// exactly when the code under test is waiting, instead of sleeping and hoping it is by then.
inline void wait_until_in_syscall(pid_t tid, std::initializer_list<long> syscalls) {
  const auto path = "/proc/self/task/" + std::to_string(tid) + "/syscall";
  for (;;) {
    std::ifstream file(path);
    long number = -1;
    if (file >> number) { // "running" while it runs: no number
      for (long wanted : syscalls) {
        if (number == wanted) {
          return;
        }
      }
    }
    std::this_thread::yield();
  }
}

/// The first fenced block after the line `heading` in man/ltb-topology.5.scd (the source tree's),
/// so that tests load the examples exactly as the manual shows them. Empty when not found.
inline std::string man_example(const std::string &heading) {
  std::ifstream page(std::string(LTB_SOURCE_DIR) + "/man/ltb-topology.5.scd");
  std::string line;
  std::string example;
  bool in_section = false;
  int fences = 0;
  while (std::getline(page, line)) {
    if (line == heading) {
      in_section = true;
    } else if (in_section && line.rfind("```", 0) == 0) {
      if (++fences == 2) {
        return example;
      }
    } else if (in_section && fences == 1) {
      example += line + "\n";
    }
  }
  return {};
}

} // namespace ltb::test
