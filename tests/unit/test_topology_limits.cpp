// The loader's limits on what a file may make it do: aliases that expand without end ("billion
// laughs"), nesting deeper than any topology, and source lines too long to print.

#include "testutil.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/stat.h>

namespace {

using namespace ltb::topology;
using ltb::test::TempDir;
using namespace std::string_literals;

std::string errors(const std::string &yaml) {
  TempDir dir;
  auto result = load_text(yaml, "lab.yaml", dir.path.string());
  REQUIRE_MESSAGE(!result.has_value(), "the load was expected to fail");
  return render(result.error(), false);
}

/// 11 levels of 10 aliases each: about 700 bytes that name 10^11 values.
std::string alias_bomb() {
  std::string yaml = "name: bomb\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int level = 1; level <= 10; ++level) {
    yaml += "x" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) {
      yaml += (i ? ", *a" : "*a") + std::to_string(level - 1);
    }
    yaml += "]\n";
  }
  return yaml + "topology: {nodes: {r1: {kind: linux, image: alpine, labels: {x: *a10}}}}\n";
}

} // namespace

TEST_CASE("topology limits: an alias bomb is refused at the alias that expands too far") {
  const std::string yaml = alias_bomb();
  CHECK(yaml.size() < 800);
  // An alias of a3 is 11,111 values (10^4 scalars and the lists). Levels 1 to 3 expand to
  // 12,330; the 8th alias of level 4 takes the total past 100,000. Nothing is expanded before the
  // check.
  CHECK(
      errors(yaml) ==
      R"(lab.yaml:6:45: error: alias '*a3' makes the file's aliases expand to more than 100000 values
   6 | x4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]
     |                                             ^
help: aliases of aliases multiply (a "billion laughs" file): ltb expands at most this many values, far more than a lab needs; repeat fewer values, or use topology.kinds, groups or defaults to share fields
)");
}

TEST_CASE("topology limits: aliases that stay under the limit load") {
  TempDir dir;
  // Level 3: 10 aliases of 111 values each, then the one use of a3 below: 2,220 values.
  std::string yaml = "name: ok\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int level = 1; level <= 3; ++level) {
    yaml += "x" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) {
      yaml += (i ? ", *a" : "*a") + std::to_string(level - 1);
    }
    yaml += "]\n";
  }
  yaml += "topology: {nodes: {r1: {kind: linux, image: alpine, labels: {x: *a3}}}}\n";
  auto result = load_text(yaml, "lab.yaml", dir.path.string());
  REQUIRE(!result.has_value()); // the x0..x3 keys are unknown: errors, but no limit is hit
  const std::string text = render(result.error(), false);
  CHECK(text.find("unknown key 'x0'") != std::string::npos);
  CHECK(text.find("expand") == std::string::npos);
}

TEST_CASE("topology limits: an alias inside the map or list it names") {
  CHECK(errors("name: x\n"
               "x: &a [1, *a]\n") ==
        R"(lab.yaml:2:11: error: alias '*a' is used inside the map or list it names
   2 | x: &a [1, *a]
     |           ^
help: an alias repeats something complete: move it out of its anchor's map or list
)");
}

TEST_CASE("topology limits: 20,000 nested lists say 'nesting too deep', with a cut source line") {
  const std::string yaml =
      "name: deep\ntopology: " + std::string(20000, '[') + std::string(20000, ']') + "\n";
  // The root map is level 1, so the 64th '[' (column 11 + 63) is level 65. The line is cut to
  // 120 bytes around the caret, with an ellipsis on each cut side.
  CHECK(errors(yaml) == "lab.yaml:2:74: error: nesting too deep: maps and lists nest at most 64 "
                        "levels\n"
                        "   2 | \u2026" +
                            std::string(120, '[') +
                            "\u2026\n"
                            "     | " +
                            std::string(41, ' ') +
                            "^\n"
                            "help: a topology needs only a few levels: check the brackets, or an "
                            "alias used inside the map or list it names\n");
}

TEST_CASE("topology limits: 64 levels load, through aliases too") {
  TempDir dir;
  // The root map, topology, nodes, r1, labels: 5 levels; then 59 lists, the innermost holding
  // a scalar. Written out, and again through aliases, each alias nesting the previous list.
  const std::string head = "name: x\ntopology: {nodes: {r1: {kind: linux, image: alpine, labels: "
                           "{a: ";
  const std::string tail = "}}}}\n";
  const std::string written = head + std::string(59, '[') + "1" + std::string(59, ']') + tail;
  std::string aliased = "x0: &l0 [1]\n";
  for (int level = 1; level < 59; ++level) {
    aliased += "x" + std::to_string(level) + ": &l" + std::to_string(level) + " [*l" +
               std::to_string(level - 1) + "]\n";
  }
  auto render_of = [&](const std::string &yaml) {
    auto result = load_text(yaml, "lab.yaml", dir.path.string());
    REQUIRE(!result.has_value());
    return render(result.error(), false);
  };
  // Errors there are (unknown keys, a list where a label value goes), but not the limit.
  CHECK(render_of(written).find("nesting too deep") == std::string::npos);
  CHECK(render_of(aliased + head + "*l58" + tail).find("nesting too deep") == std::string::npos);
  // One more level, written or through an alias, is too deep.
  CHECK(render_of(head + std::string(60, '[') + "1" + std::string(60, ']') + tail)
            .find("nesting too deep") != std::string::npos);
  CHECK(render_of(aliased + head + "[*l58]" + tail).find("nesting too deep") != std::string::npos);
}

TEST_CASE("topology limits: anchors are numbered anew in each document") {
  // In the second document, the anchor numbered like the first document's is still open when
  // its alias appears: that is an alias inside its own anchor, not a known size.
  const std::string text = errors("name: x\nx: &a [1]\n---\ny: &b [*b]\n");
  CHECK(text.find("alias '*b' is used inside the map or list it names") != std::string::npos);
}

TEST_CASE("topology limits: nesting through aliases is bounded too") {
  // Each alias nests the previous list once more: 70 levels, each written only once.
  std::string yaml = "name: x\nx0: &l0 [1]\n";
  for (int level = 1; level <= 70; ++level) {
    yaml += "x" + std::to_string(level) + ": &l" + std::to_string(level) + " [*l" +
            std::to_string(level - 1) + "]\n";
  }
  const std::string text = errors(yaml);
  CHECK(text.find("error: nesting too deep: maps and lists nest at most 64 levels") !=
        std::string::npos);
}

TEST_CASE("topology limits: invalid UTF-8, NUL bytes and control characters are located") {
  const std::string text = errors("name: x\n"
                                  "topology:\n"
                                  "  nodes:\n"
                                  "    a: {kind: linux, image: \"ltb/busy\xFF"
                                  "box\"}\n"
                                  "    b: {kind: linux, image: ltb/busybox}\0\n"
                                  "    c: {kind: linux, image: \"\x1B[2J\"}\n"s);
  CHECK(text.find("lab.yaml:4:38: error: invalid UTF-8 (byte 0xFF)\n"
                  "   4 |     a: {kind: linux, image: \"ltb/busy\xEF\xBF\xBD"
                  "box\"}\n") != std::string::npos);
  CHECK(text.find("help: ltb reads topology files in UTF-8") != std::string::npos);
  CHECK(text.find("lab.yaml:5:41: error: a NUL byte: a topology file is text\n") !=
        std::string::npos);
  CHECK(text.find("lab.yaml:6:30: error: control character U+001B\n"
                  "   6 |     c: {kind: linux, image: \"\xEF\xBF\xBD[2J\"}\n") !=
        std::string::npos);
  // Nothing of the file is read further: no other error.
  CHECK(text.find("node") == std::string::npos);
}

TEST_CASE("topology limits: a NUL byte, written or as an escape, is an error at its place") {
  CHECK(errors("name: x\ntopology: {nodes: {a: {kind: linux, image: alpine}}}\n\0\n"s) ==
        "lab.yaml:3:1: error: a NUL byte: a topology file is text\n"
        "   3 | \xEF\xBF\xBD\n"
        "     | ^\n"
        "help: is this the right file? remove the NUL bytes (tr -d '\\000' < "
        "FILE)\n");
  const std::string escaped = errors("name: x\n"
                                     "topology:\n"
                                     "  nodes:\n"
                                     "    a: {kind: linux, image: \"alpine\\0:evil\"}\n"
                                     "    \"b\\0\": {kind: linux, image: alpine}\n");
  CHECK(escaped.find("lab.yaml:4:29: error: a NUL character ('\\0') in a value") !=
        std::string::npos);
  CHECK(escaped.find("lab.yaml:5:5: error: a NUL character ('\\0') in a key") != std::string::npos);
}

TEST_CASE("topology limits: a UTF-16 file, and a binary one, say so once") {
  CHECK(errors("\xFF\xFEn\0a\0"s)
            .find("lab.yaml:1:1: error: the file is UTF-16 or "
                  "UTF-32") != std::string::npos);
  // A line of 300 bad bytes on each of 30 lines: ten errors, then how many more lines.
  std::string binary = "name: x\n";
  for (int line = 0; line < 30; ++line) {
    binary += std::string(300, '\x01') + "\n";
  }
  const std::string text = errors(binary);
  std::size_t count = 0;
  for (std::size_t at = text.find("error: control"); at != std::string::npos;
       at = text.find("error: control", at + 1)) {
    ++count;
  }
  CHECK(count == 10);
  CHECK(text.find("lab.yaml: error: and 20 more lines with bytes YAML does not allow") !=
        std::string::npos);
}

TEST_CASE("topology limits: UTF-8 text, tabs and carriage returns load") {
  TempDir dir;
  auto result = load_text(
      "name: x\r\n"
      "topology:\r\n"
      "  nodes:\r\n"
      "    a: {kind: linux, image: alpine, labels: {note: \"caf\xC3\xA9\t\xE2\x82\xAC\"}}\r\n",
      "lab.yaml", dir.path.string());
  REQUIRE(result.has_value());
}

TEST_CASE("topology limits: a topology file over 4 MiB is refused before it is read") {
  TempDir dir;
  const std::string head = "name: big\ntopology: {nodes: {a: {kind: linux, image: alpine}}}\n";
  dir.write("big.yaml", head + "# " + std::string(k_max_topology_bytes, 'x') + "\n");
  auto big = load_file(dir.file("big.yaml"));
  REQUIRE(!big);
  CHECK(render(big.error(), false) ==
        dir.file("big.yaml") +
            ": error: the file is 4.0 MiB; ltb reads topology files of up to 4 MiB\n"
            "help: is this the right file? a lab of 4,096 nodes takes about 150 KiB; keep long "
            "startup configurations in files of their own (startup-config: FILE)\n");
  // A sparse terabyte is refused by its size: nothing of it is read.
  { std::ofstream(dir.file("sparse.yaml")) << head; }
  std::filesystem::resize_file(dir.file("sparse.yaml"), std::uintmax_t{1} << 40);
  auto sparse = load_file(dir.file("sparse.yaml"));
  REQUIRE(!sparse);
  CHECK(render(sparse.error(), false).find("the file is 1024.0 GiB") != std::string::npos);
  // What is not a regular file is read up to the limit.
  auto zero = load_file("/dev/zero");
  REQUIRE(!zero);
  CHECK(render(zero.error(), false).find("/dev/zero: error: the file is more than 4 MiB") == 0);
  // Text given whole (a template's, a daemon request's) is held to the same limit.
  CHECK(errors(head + std::string(5 << 20, '#')) ==
        "lab.yaml: error: the topology is 5.0 MiB; ltb reads topology files of up to 4 MiB\n"
        "help: is this the right file? a lab of 4,096 nodes takes about 150 KiB; keep long "
        "startup configurations in files of their own (startup-config: FILE)\n");
  // At the limit it loads.
  dir.write("limit.yaml",
            head + "#" + std::string(k_max_topology_bytes - head.size() - 2, 'x') + "\n");
  CHECK(load_file(dir.file("limit.yaml")).has_value());
}

TEST_CASE("topology limits: env-files and startup-configs that never end are refused") {
  TempDir dir;
  { std::ofstream(dir.file("huge.cfg")) << "hostname r1\n"; }
  std::filesystem::resize_file(dir.file("huge.cfg"), std::uintmax_t{1} << 40);
  REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0600) == 0);
  const std::string text = errors("name: x\n"
                                  "topology:\n"
                                  "  nodes:\n"
                                  "    a: {kind: linux, image: alpine, env-files: [/dev/zero]}\n"
                                  "    b: {kind: linux, image: alpine, env-files: [" +
                                  dir.file("fifo") +
                                  "]}\n"
                                  "    c: {kind: linux, image: alpine, env-files: [" +
                                  dir.file("huge.cfg") +
                                  "]}\n"
                                  "    d: {kind: linux, image: alpine, startup-config: " +
                                  dir.file("huge.cfg") + "}\n");
  CHECK(text.find("lab.yaml:4:49: error: env-file '/dev/zero' is not a regular file") !=
        std::string::npos);
  CHECK(text.find("lab.yaml:5:49: error: env-file '" + dir.file("fifo") +
                  "' is not a regular file") != std::string::npos);
  CHECK(text.find("lab.yaml:6:49: error: env-file '" + dir.file("huge.cfg") +
                  "' is 1024.0 GiB; ltb reads env-files of up to 16 MiB") != std::string::npos);
  CHECK(text.find("lab.yaml:7:53: error: startup-config '" + dir.file("huge.cfg") +
                  "' is 1024.0 GiB; ltb reads startup configs of up to 16 MiB") !=
        std::string::npos);
}

TEST_CASE("topology limits: a ',' where a value starts is an error at it, not an endless parse") {
  // yaml-cpp 0.7 reports a null document at a token it cannot start a value with, and again at
  // the same place, without end (its issue 1040): found by fuzz_topology_loader (198 bytes that
  // `ltb validate` did not finish in 60 s).
  CHECK(errors(",\n") == R"(lab.yaml:1:1: error: invalid YAML: a value cannot start with ','
   1 | ,
     | ^
help: check the indentation and the brackets and quotes around this place
)");
  const auto found = errors("# a comment\n , never\n      image: alpine:3\n      user: nobody\n");
  CHECK_MESSAGE(found.find("lab.yaml:2:2: error: invalid YAML: a value cannot start with ','") !=
                    std::string::npos,
                found);
  // Two documents are still one error at the second, and the first is what loads.
  CHECK(errors("name: a\n---\nname: b\n")
            .find("lab.yaml:2:1: error: the file holds more than "
                  "one YAML document") != std::string::npos);
}
