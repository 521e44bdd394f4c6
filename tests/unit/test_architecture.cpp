// The dependency rules of ARCHITECTURE.md, checked against the includes of lib/. The table in
// ARCHITECTURE.md ("Folders": folder, what lives there, what it may depend on) is the single
// statement of the rules: this test parses it, so the document cannot drift from the code.

#include <algorithm>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path k_root = LTB_SOURCE_DIR;

struct Rule {
  bool anything = false;        // "everything in lib/"
  std::vector<std::string> may; // folder prefixes, e.g. "runtime" or "runtime/docker"
};

/// `lib/X/` rows of the Folders table: folder ("runtime/docker") -> what it may include.
std::map<std::string, Rule> read_rules() {
  std::ifstream in(k_root / "ARCHITECTURE.md");
  REQUIRE_MESSAGE(in.good(), "ARCHITECTURE.md is missing");
  std::map<std::string, Rule> rules;
  const std::regex row(R"(^\| `lib/([a-z_/]+?)/?` \|.*\| (.*?) \|\s*$)");
  const std::regex folder(R"(`([a-z_]+(?:/[a-z_]+)*)/`)");
  std::string line;
  while (std::getline(in, line)) {
    std::smatch match;
    if (!std::regex_match(line, match, row)) {
      continue;
    }
    Rule rule;
    const std::string may = match[2];
    rule.anything = may.find("everything in `lib/`") != std::string::npos;
    for (auto it = std::sregex_iterator(may.begin(), may.end(), folder);
         it != std::sregex_iterator(); ++it) {
      std::string name = (*it)[1];
      if (name.rfind("lib/", 0) == 0) {
        name = name.substr(4);
      }
      rule.may.push_back(name);
    }
    rules[match[1]] = rule;
  }
  return rules;
}

/// The table folder a path inside lib/ belongs to: the longest one that is a prefix of it.
std::string folder_of(const std::map<std::string, Rule> &rules, const std::string &path) {
  std::string best;
  for (const auto &[name, rule] : rules) {
    if (path.rfind(name + "/", 0) == 0 && name.size() > best.size()) {
      best = name;
    }
  }
  return best;
}

bool allowed(const Rule &rule, const std::string &own, const std::string &target) {
  if (rule.anything || target == own || target.rfind(own + "/", 0) == 0) {
    return true; // its own files and its subfolders'
  }
  return std::any_of(rule.may.begin(), rule.may.end(), [&](const std::string &prefix) {
    return target == prefix || target.rfind(prefix + "/", 0) == 0;
  });
}

} // namespace

TEST_CASE("ARCHITECTURE.md lists every folder of lib/ with its dependency rule") {
  auto rules = read_rules();
  REQUIRE(rules.size() >= 10);
  for (const auto &entry : fs::recursive_directory_iterator(k_root / "lib")) {
    if (!entry.is_regular_file()) {
      continue;
    }
    auto relative = fs::relative(entry.path(), k_root / "lib").generic_string();
    CHECK_MESSAGE(!folder_of(rules, relative).empty(),
                  "lib/" << relative << " is in no folder that ARCHITECTURE.md's table lists");
  }
}

TEST_CASE("every include in lib/ follows ARCHITECTURE.md's dependency rules") {
  auto rules = read_rules();
  const std::regex include(R"re(^\s*#\s*include\s+"([a-z_]+(?:/[a-z_]+)*)/[^"/]+")re");
  int checked = 0;
  std::vector<std::string> violations;
  for (const auto &entry : fs::recursive_directory_iterator(k_root / "lib")) {
    auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".cpp" && ext != ".hpp")) {
      continue;
    }
    auto relative = fs::relative(entry.path(), k_root / "lib").generic_string();
    auto own = folder_of(rules, relative);
    if (own.empty()) {
      continue; // reported by the test above
    }
    std::ifstream in(entry.path());
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      std::smatch match;
      if (!std::regex_search(line, match, include)) {
        continue;
      }
      auto target = folder_of(rules, std::string(match[1]) + "/");
      if (target.empty()) {
        continue; // not a folder of lib/ (e.g. a generated header)
      }
      ++checked;
      if (!allowed(rules.at(own), own, target)) {
        violations.push_back("lib/" + relative + ":" + std::to_string(number) + ": " + own +
                             "/ may not include " + target + "/ (" + line + ")");
      }
    }
  }
  CHECK(checked > 100);
  std::string report;
  for (const auto &violation : violations) {
    report += violation + "\n";
  }
  CHECK_MESSAGE(violations.empty(), report);
}

TEST_CASE("the layering: nothing below the front ends includes them; cli reaches backends only "
          "through service") {
  auto rules = read_rules();
  for (const auto &entry : rules) {
    const std::string &name = entry.first; // not a structured binding: doctest's macros capture it
    const auto &rule = entry.second;
    if (name == "cli") {
      continue;
    }
    CHECK_MESSAGE(!rule.anything, name << "/ may include everything, cli/ included");
    for (const auto &may : rule.may) {
      CHECK_MESSAGE(may != "cli", name << "/ may include cli/");
    }
  }
  REQUIRE(rules.count("cli"));
  REQUIRE(rules.count("service"));
  const auto &cli = rules.at("cli");
  CHECK_FALSE(cli.anything);
  for (const char *backend : {"runtime", "net", "apply", "access", "capture"}) {
    CHECK_MESSAGE(!allowed(cli, "cli", backend),
                  "cli/ may include " << std::string(backend) << "/");
  }
}
