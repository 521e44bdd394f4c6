// The service layer's rules, checked on its sources: nothing in lib/service/ includes cli/, reads
// environment variables, writes to stderr or installs signal handlers (front ends do that; the
// service gets a caller, a cancel token and an event sink instead).

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

TEST_CASE("service layer: no cli/ include, no getenv, stderr or signal handlers") {
  const fs::path dir = fs::path(LTB_SOURCE_DIR) / "lib" / "service";
  REQUIRE(fs::is_directory(dir));
  const std::vector<std::string> forbidden = {"#include \"cli/", "getenv(",    "stderr",
                                              "std::cerr",       "sigaction(", "std::signal("};
  int files = 0;
  for (const auto &entry : fs::directory_iterator(dir)) {
    const auto ext = entry.path().extension();
    if (ext != ".cpp" && ext != ".hpp") {
      continue;
    }
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      const auto comment = line.find("//");
      const std::string code = comment == std::string::npos ? line : line.substr(0, comment);
      for (const auto &word : forbidden) {
        CAPTURE(entry.path().filename().string());
        CAPTURE(number);
        CHECK_MESSAGE(code.find(word) == std::string::npos,
                      entry.path().filename().string() << ":" << number << " uses " << word);
      }
    }
  }
  CHECK(files >= 10); // the folder is there and read
}
