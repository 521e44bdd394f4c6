#pragma once
// Shared by the unit tests: a fresh temporary directory per test, removed afterwards.

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include <doctest/doctest.h>
#include <stdlib.h>

namespace ltb::test {

struct TempDir {
  std::filesystem::path path;

  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "ltb-unit-XXXXXX").string();
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

} // namespace ltb::test
