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
