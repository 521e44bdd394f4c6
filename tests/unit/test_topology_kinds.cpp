// The kind registry: the schema file, the man page and the loader say what it says, so that a
// kind added to it without its documentation fails here.

#include "testutil.hpp"
#include "topology/detail.hpp"
#include "topology/kinds.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace {

using namespace ltb::topology;
using ltb::test::TempDir;
using Json = nlohmann::json;

std::string read(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

const std::string k_source_dir = LTB_SOURCE_DIR;

Json schema_file() {
  return Json::parse(read(k_source_dir + "/schemas/ltb-topology.schema.json"));
}

std::string man_page() {
  return read(k_source_dir + "/man/ltb-topology.5.scd");
}

/// The text between the lines BEGIN and END of TEXT; fails the test when they are missing.
std::string between(const std::string &text, const std::string &begin, const std::string &end) {
  const auto start = text.find(begin + "\n");
  REQUIRE_MESSAGE(start != std::string::npos, "no line '" << begin << "'");
  const auto body = start + begin.size() + 1;
  const auto stop = text.find(end + "\n", body);
  REQUIRE_MESSAGE(stop != std::string::npos, "no line '" << end << "'");
  return text.substr(body, stop - body);
}

} // namespace

TEST_CASE("topology kinds: names are unique and looked up") {
  std::set<std::string> seen;
  for (const Kind &kind : kinds()) {
    CHECK_MESSAGE(seen.insert(std::string(kind.name)).second, "kind listed twice: " << kind.name);
    CHECK(find_kind(kind.name) == &kind);
    CHECK(runtime_of_kind(kind.name) == kind.runtime);
    CHECK(!kind.about.empty());
    CHECK(!kind.runtime_text.empty());
  }
  CHECK(find_kind("cisco_iol") == nullptr);
  // A kind recorded by another version of ltb is taken for a container.
  CHECK(runtime_of_kind("cisco_iol") == Runtime::container);
  std::size_t names = 0;
  for (const Kind &kind : kinds()) {
    names += 1 + kind.other_names.size();
    for (const auto &other : kind.other_names) {
      CHECK_MESSAGE(seen.insert(std::string(other)).second, "kind name used twice: " << other);
      CHECK(find_kind(other) == &kind);
    }
  }
  CHECK(kind_names().size() == names);
  CHECK(!foreign_kind_help("bridge").has_value()); // containerlab's bridge is a kind of ltb's
  CHECK(!foreign_kind_help("linux").has_value());
}

TEST_CASE("topology kinds: the JSON Schema's kind enum is the registry's names") {
  const Json schema = schema_file();
  const Json &kind = schema["definitions"]["node"]["properties"]["kind"];
  REQUIRE(kind.contains("enum"));
  CHECK(kind["enum"].get<std::vector<std::string>>() == kind_names());
  std::vector<std::string> entries;
  for (const auto &[name, value] :
       schema["definitions"]["topology"]["properties"]["kinds"]["properties"].items()) {
    entries.push_back(name);
  }
  auto names = kind_names();
  std::sort(names.begin(), names.end());
  CHECK(entries == names); // nlohmann::json sorts keys
}

TEST_CASE("topology kinds: the schema file says of each kind what the registry says") {
  const Json file = schema_file();
  const Json derived = ltb::topology::detail::schema_with_kinds(file);
  const Json &file_kind = file["definitions"]["node"]["properties"]["kind"];
  const Json &want_kind = derived["definitions"]["node"]["properties"]["kind"];
  CHECK_MESSAGE(file_kind == want_kind, "definitions.node.properties.kind should be:\n"
                                            << want_kind.dump(2));
  const Json &file_kinds = file["definitions"]["topology"]["properties"]["kinds"];
  const Json &want_kinds = derived["definitions"]["topology"]["properties"]["kinds"];
  CHECK_MESSAGE(file_kinds == want_kinds, "definitions.topology.properties.kinds should be:\n"
                                              << want_kinds.dump(2));
  const bool same = derived == file;
  CHECK_MESSAGE(same, "the schema file differs from the registry's elsewhere too");
}

TEST_CASE("topology kinds: the man page's kind table is the registry's") {
  const std::string table = between(man_page(), "; kinds table begin", "; kinds table end");
  CHECK_MESSAGE(table == kinds_man_table(), "replace the table in man/ltb-topology.5.scd with:\n"
                                                << kinds_man_table());
}

TEST_CASE("topology kinds: every kind has its paragraph in ltb-topology(5)") {
  // The section "## Kinds" has a definition "*NAME*" (or "*NAME* _(ltb)_") for each kind.
  const std::string page = man_page();
  const std::string section = between(page, "## Kinds", "## Node fields");
  for (const Kind &kind : kinds()) {
    const std::string term = "\n*" + std::string(kind.name) + "*";
    const auto at = section.find(term);
    CHECK_MESSAGE(at != std::string::npos,
                  "man/ltb-topology.5.scd, Kinds: no paragraph for kind " << kind.name);
    if (at != std::string::npos) {
      const auto line_end = section.find('\n', at + 1);
      const std::string line = section.substr(at + 1, line_end - at - 1);
      CHECK_MESSAGE((line == term.substr(1) || line == term.substr(1) + " _(ltb)_"),
                    "a term of its own line, not: " << line);
    }
  }
  // And the schema's description of the kind field names every kind, the file's too.
  const std::string description =
      schema_file()["definitions"]["node"]["properties"]["kind"]["description"];
  for (const Kind &kind : kinds()) {
    CHECK(description.find(std::string(kind.name) + " (") != std::string::npos);
  }
}

TEST_CASE("topology kinds: the loader takes runtime, image, login and startup path from the "
          "registry") {
  for (const Kind &kind : kinds()) {
    if (kind.runtime == Runtime::vm) {
      continue; // its default image must exist on disk: test_topology_vm covers it
    }
    CAPTURE(kind.name);
    TempDir dir;
    const std::string image =
        kind.runtime == Runtime::container && kind.default_image.empty() ? ", image: alpine" : "";
    Diagnostics warnings;
    LoadOptions options;
    options.warnings = &warnings;
    auto result = load_text(
        "name: x\ntopology:\n  nodes:\n    n1: {kind: " + std::string(kind.name) + image + "}\n",
        "lab.yaml", dir.path.string(), options);
    REQUIRE_MESSAGE(result.has_value(), render(result.error(), false));
    const Node &node = result->nodes.at(0);
    CHECK(node.kind == kind.name);
    CHECK(node.runtime == kind.runtime);
    if (kind.runtime != Runtime::container) {
      continue;
    }
    CHECK(node.image == (kind.default_image.empty() ? "alpine" : kind.default_image));
    CHECK(node.username == kind.username);
    CHECK(node.password == kind.password);
    CHECK(node.startup_config_path == kind.startup_config_path);
    CHECK(node.cpus == kind.default_cpus);
    CHECK(node.memory_bytes == kind.default_memory_bytes);
    const Login login = default_login(kind.name);
    CHECK(login.username == kind.username);
    CHECK(login.password == kind.password);
  }
}

TEST_CASE("topology kinds: a node without a kind is told every kind's name") {
  TempDir dir;
  auto result = load_text("name: x\ntopology:\n  nodes:\n    n1: {image: alpine}\n", "lab.yaml",
                          dir.path.string());
  REQUIRE(!result.has_value());
  CHECK(render(result.error(), false).find("ltb knows " + kind_names_text() + "\n") !=
        std::string::npos);
}
