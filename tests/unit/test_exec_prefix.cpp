// Line prefixing for `ltb exec` on several nodes: whole lines, the node's name in front.
#include "cli/exec_prefix.hpp"

#include <doctest/doctest.h>
#include <string>
#include <vector>

using namespace ltb::cli;

namespace {
struct Lines {
  std::vector<std::string> lines;
  LinePrefixer::Sink sink() {
    return [this](std::string_view line) { lines.emplace_back(line); };
  }
};
} // namespace

TEST_CASE("node_prefix pads to the widest name") {
  CHECK(node_prefix("r1", 2) == "r1: ");
  CHECK(node_prefix("r1", 6) == "r1:     ");
  CHECK(node_prefix("server", 6) == "server: ");
  CHECK(prefix_width({"r1", "server", "h2"}) == 6);
  CHECK(prefix_width({}) == 0);
}

TEST_CASE("LinePrefixer hands on whole lines, however the data is cut") {
  const std::string text = "one\ntwo two\n\nthree\n";
  const std::vector<std::string> want{"r1: one\n", "r1: two two\n", "r1: \n", "r1: three\n"};
  SUBCASE("all at once") {
    Lines got;
    LinePrefixer prefixer("r1: ", got.sink());
    prefixer.feed(text);
    prefixer.finish();
    CHECK(got.lines == want);
  }
  SUBCASE("byte by byte") {
    Lines got;
    LinePrefixer prefixer("r1: ", got.sink());
    for (char c : text) {
      prefixer.feed(std::string_view(&c, 1));
    }
    prefixer.finish();
    CHECK(got.lines == want);
  }
  SUBCASE("every two-piece cut") {
    for (std::size_t cut = 0; cut <= text.size(); ++cut) {
      Lines got;
      LinePrefixer prefixer("r1: ", got.sink());
      prefixer.feed(std::string_view(text).substr(0, cut));
      prefixer.feed(std::string_view(text).substr(cut));
      prefixer.finish();
      CHECK(got.lines == want);
    }
  }
}

TEST_CASE("LinePrefixer holds a partial line back until its newline or the end") {
  Lines got;
  LinePrefixer prefixer("h1: ", got.sink());
  prefixer.feed("par");
  CHECK(got.lines.empty());
  prefixer.feed("tial");
  CHECK(got.lines.empty());
  prefixer.feed(" line\nnext");
  CHECK(got.lines == std::vector<std::string>{"h1: partial line\n"});
  prefixer.finish();
  CHECK(got.lines == std::vector<std::string>{"h1: partial line\n", "h1: next\n"});
  prefixer.finish(); // nothing left: no empty line
  CHECK(got.lines.size() == 2);
}

TEST_CASE("LinePrefixer cuts a line longer than the limit into limited pieces") {
  Lines got;
  LinePrefixer prefixer("n: ", got.sink(), 4);
  prefixer.feed("abcdefghij\nxy");
  prefixer.feed("z\n");
  prefixer.finish();
  CHECK(got.lines == std::vector<std::string>{"n: abcd\n", "n: efgh\n", "n: ij\n", "n: xyz\n"});
  Lines exact;
  LinePrefixer limited("n: ", exact.sink(), 4);
  limited.feed("abcd\nef");
  limited.feed("gh\n");
  limited.finish();
  CHECK(exact.lines == std::vector<std::string>{"n: abcd\n", "n: efgh\n"});
}

TEST_CASE("LinePrefixer keeps bytes that are not text") {
  Lines got;
  LinePrefixer prefixer("x: ", got.sink());
  const std::string binary("a\0b\r\n", 5);
  prefixer.feed(binary);
  REQUIRE(got.lines.size() == 1);
  CHECK(got.lines[0] == std::string("x: a\0b\r\n", 8));
}
