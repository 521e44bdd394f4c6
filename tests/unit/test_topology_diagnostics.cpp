// Rendering of diagnostics and did-you-mean.

#include "topology/diagnostics.hpp"

#include <doctest/doctest.h>
#include <string>

using namespace ltb::topology;

TEST_CASE("topology diagnostics: render shows the source line, a caret and help") {
  Diagnostics d;
  d.source_text = "name: x\n"
                  "topology:\n"
                  "  links:\n"
                  "    - endpoints: [\"r1:eth1\", \"r4:eth1\"]\n";
  d.items.push_back({Severity::error,
                     "lab.yaml",
                     {4, 30},
                     "unknown node 'r4' in link endpoint",
                     "did you mean 'r3'?"});
  CHECK(render(d, false) == R"(lab.yaml:4:30: error: unknown node 'r4' in link endpoint
   4 |     - endpoints: ["r1:eth1", "r4:eth1"]
     |                              ^
help: did you mean 'r3'?
)");
}

TEST_CASE("topology diagnostics: gutter follows the line number's width") {
  Diagnostics d;
  for (int i = 1; i <= 120; ++i) {
    d.source_text += "line " + std::to_string(i) + "\n";
  }
  d.items.push_back({Severity::warning, "f.yaml", {120, 6}, "w", ""});
  d.items.push_back({Severity::error, "f.yaml", {12, 1}, "e", ""});
  CHECK(render(d, false) == R"(f.yaml:12:1: error: e
   12 | line 12
      | ^
f.yaml:120:6: warning: w
   120 | line 120
       |      ^
)");
}

TEST_CASE("topology diagnostics: sorted by position, notes stay with their diagnostic") {
  Diagnostics d;
  d.source_text = "a: 1\nb: 2\nc: 3\n";
  d.items.push_back({Severity::error, "f.yaml", {3, 1}, "third", "fix it"});
  d.items.push_back({Severity::note, "f.yaml", {1, 1}, "first seen here", ""});
  d.items.push_back({Severity::error, "f.yaml", {2, 4}, "second b", ""});
  d.items.push_back({Severity::error, "f.yaml", {2, 1}, "second a", ""});
  d.items.push_back({Severity::error, "f.yaml", {}, "no position", "help text"});
  CHECK(render(d, false) == R"(f.yaml: error: no position
help: help text
f.yaml:2:1: error: second a
   2 | b: 2
     | ^
f.yaml:2:4: error: second b
   2 | b: 2
     |    ^
f.yaml:3:1: error: third
   3 | c: 3
     | ^
help: fix it
f.yaml:1:1: note: first seen here
   1 | a: 1
     | ^
)");
}

TEST_CASE("topology diagnostics: tabs in the source keep the caret aligned") {
  Diagnostics d;
  d.source_text = "\tkey: value\r\n";
  d.items.push_back({Severity::error, "f", {1, 7}, "m", ""});
  CHECK(render(d, false) == "f:1:7: error: m\n   1 | \tkey: value\n     | \t     ^\n");
}

TEST_CASE("topology diagnostics: a position past the end of the text has no source line") {
  Diagnostics d;
  d.source_text = "a: [1\n";
  d.items.push_back({Severity::error, "f", {2, 1}, "m", ""});
  CHECK(render(d, false) == "f:2:1: error: m\n");
}

TEST_CASE("topology diagnostics: colour only when asked") {
  Diagnostics d;
  d.source_text = "x\n";
  d.items.push_back({Severity::error, "f", {1, 1}, "bad", "do this"});
  d.items.push_back({Severity::warning, "f", {1, 1}, "odd", ""});
  CHECK(render(d, false).find('\033') == std::string::npos);
  const std::string coloured = render(d, true);
  CHECK(coloured.find("\033[1;31merror:\033[0m bad") != std::string::npos);
  CHECK(coloured.find("\033[1;33mwarning:\033[0m odd") != std::string::npos);
  CHECK(coloured.find("\033[1;36mhelp:\033[0m do this") != std::string::npos);
}

TEST_CASE("topology diagnostics: has_errors") {
  Diagnostics d;
  CHECK_FALSE(d.has_errors());
  d.items.push_back({Severity::warning, "f", {}, "w", ""});
  CHECK_FALSE(d.has_errors());
  d.items.push_back({Severity::error, "f", {}, "e", ""});
  CHECK(d.has_errors());
}

TEST_CASE("topology diagnostics: did_you_mean") {
  const std::vector<std::string> keys{"image", "kind", "group", "labels", "binds", "exec", "env"};
  CHECK(did_you_mean("imgae", keys) == "image"); // transposition counts as one edit
  CHECK(did_you_mean("imag", keys) == "image");  // deletion
  CHECK(did_you_mean("IMAGE", keys) == "image"); // case does not count
  CHECK(did_you_mean("knd", keys) == "kind");
  CHECK(did_you_mean("ports", keys).empty()); // nothing close
  CHECK(did_you_mean("xyz", keys).empty());
  CHECK(did_you_mean("image", keys).empty());            // not a typo
  CHECK(did_you_mean("r4", {"r1", "r2", "r3"}) == "r1"); // ties: first candidate
  CHECK(did_you_mean("R2", {"r1", "R1", "r2"}) == "r2"); // exact case wins a tie
  CHECK(did_you_mean("abc", {}).empty());
  // the threshold grows with the word: 2 edits are fine for a 6-letter word, not for a 3-letter one
  CHECK(did_you_mean("rotuers", {"routers"}) == "routers");
  CHECK(did_you_mean("abc", {"xyc"}).empty());
}

TEST_CASE("topology diagnostics: a long line is cut around the caret") {
  std::string line;
  for (int i = 0; i < 50; ++i) {
    line += "abcdefghi" + std::to_string(i % 10); // 10 bytes; byte 10*i+j is the letter j
  }
  Diagnostics d;
  d.source_text = "name: x\n" + line + "\n";
  SUBCASE("in the middle: cut on both sides, caret under its character") {
    d.items.push_back({Severity::error, "lab.yaml", {2, 251}, "here", ""});
    // Caret at byte 250 ('a'); 40 bytes shown before it, 120 in all.
    CHECK(render(d, false) == "lab.yaml:2:251: error: here\n"
                              "   2 | \u2026" +
                                  line.substr(210, 120) +
                                  "\u2026\n"
                                  "     | " +
                                  std::string(41, ' ') + "^\n");
  }
  SUBCASE("near the start: cut at the end only") {
    d.items.push_back({Severity::error, "lab.yaml", {2, 3}, "here", ""});
    CHECK(render(d, false) == "lab.yaml:2:3: error: here\n"
                              "   2 | " +
                                  line.substr(0, 120) +
                                  "\u2026\n"
                                  "     |   ^\n");
  }
  SUBCASE("near the end: cut at the start only, still 120 bytes") {
    d.items.push_back({Severity::error, "lab.yaml", {2, 500}, "here", ""});
    CHECK(render(d, false) == "lab.yaml:2:500: error: here\n"
                              "   2 | \u2026" +
                                  line.substr(380) +
                                  "\n"
                                  "     | " +
                                  std::string(1 + 119, ' ') + "^\n");
  }
  SUBCASE("a line of 120 bytes is shown whole") {
    d.source_text = "name: x\n" + line.substr(0, 120) + "\n";
    d.items.push_back({Severity::error, "lab.yaml", {2, 120}, "here", ""});
    CHECK(render(d, false) == "lab.yaml:2:120: error: here\n"
                              "   2 | " +
                                  line.substr(0, 120) + "\n     | " + std::string(119, ' ') +
                                  "^\n");
  }
}

TEST_CASE("topology diagnostics: a long line is never cut inside a UTF-8 character") {
  // 'x' then 100 'é' (two bytes each, starting at odd bytes). With the caret at byte 102 the
  // window would be bytes 62 to 182, both inside a character: it backs off to 61 and 181. The
  // caret stands after the 21 characters that begin before it.
  std::string line = "x";
  std::string sixty;
  for (int i = 0; i < 100; ++i) {
    line += "\u00e9";
    sixty += i < 60 ? "\u00e9" : "";
  }
  Diagnostics d;
  d.source_text = line + "\n";
  d.items.push_back({Severity::error, "lab.yaml", {1, 103}, "here", ""});
  CHECK(render(d, false) == "lab.yaml:1:103: error: here\n"
                            "   1 | \u2026" +
                                sixty +
                                "\u2026\n"
                                "     | " +
                                std::string(1 + 21, ' ') + "^\n");
}

TEST_CASE("topology diagnostics: the caret counts characters, not bytes") {
  Diagnostics d;
  d.source_text = "name: \"caf\u00e9\"x\n";
  d.items.push_back({Severity::error, "lab.yaml", {1, 14}, "here", ""}); // the 'x', byte 13
  CHECK(render(d, false) == "lab.yaml:1:14: error: here\n"
                            "   1 | name: \"caf\u00e9\"x\n"
                            "     |             ^\n");
}
