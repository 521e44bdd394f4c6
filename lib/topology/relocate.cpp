#include "topology/relocate.hpp"

#include "topology/detail.hpp"
#include "topology/vm_image.hpp"

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <optional>

namespace ltb::topology {

namespace {

namespace fs = std::filesystem;
using detail::Json;
using detail::YamlTree;

/// Replace [begin, end) with text (an insertion when begin == end).
struct Edit {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::string text;
  bool operator==(const Edit &) const = default;
};

class Relocator {
public:
  Relocator(const std::string &text, const YamlTree &tree, const Relocation &relocation)
      : m_text(text), m_tree(tree), m_relocation(relocation) {
    m_line_starts.push_back(0);
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') {
        m_line_starts.push_back(i + 1);
      }
    }
  }

  Result<std::string> run() {
    const Json *topology = detail::navigate_pointer(m_tree.root, "/topology");
    if (topology && topology->is_object()) {
      std::vector<std::string> levels{"/topology/defaults"};
      for (const char *map : {"kinds", "groups", "nodes"}) {
        const std::string pointer = detail::pointer_append("/topology", map);
        if (const Json *entries = detail::navigate_pointer(m_tree.root, pointer);
            entries && entries->is_object()) {
          for (const auto &[name, value] : entries->items()) {
            levels.push_back(detail::pointer_append(pointer, name));
          }
        }
      }
      for (const auto &level : levels) {
        LTB_CHECK(absolute_paths(level));
      }
    }
    for (const auto &[node, value] : m_relocation.startup_configs) {
      LTB_CHECK(set_startup_config(node, value));
    }
    if (!m_relocation.name.empty()) {
      const Json *name = detail::navigate_pointer(m_tree.root, "/name");
      if (name && m_tree.positions.count("/name")) {
        if (!name->is_string() || name->get<std::string>() != m_relocation.name) {
          LTB_CHECK(replace("/name", m_relocation.name));
        }
      } else if (!name) {
        m_edits.push_back({0, 0, "name: " + quoted(m_relocation.name) + "\n"});
      }
    }
    return apply();
  }

private:
  std::optional<std::size_t> offset(SourceLoc loc) const {
    if (loc.line < 1 || static_cast<std::size_t>(loc.line) > m_line_starts.size() ||
        loc.column < 1) {
      return std::nullopt;
    }
    const std::size_t at = m_line_starts[loc.line - 1] + loc.column - 1;
    return at <= m_text.size() ? std::optional(at) : std::nullopt;
  }

  static std::string quoted(const std::string &value) { return Json(value).dump(); }

  Error cannot(SourceLoc loc, const std::string &what) const {
    return Error{fmt::format("cannot rewrite {} at line {}, column {} of the lab file", what,
                             loc.line, loc.column),
                 "write the value on one line (quoted or plain), without a YAML alias"};
  }

  std::string absolute(const std::string &path) const {
    if (path.empty() || path.rfind("~/", 0) == 0) {
      return path;
    }
    std::string out = (fs::path(m_relocation.base_dir) / path).lexically_normal().string();
    while (out.size() > 1 && out.back() == '/') {
      out.pop_back();
    }
    if (auto mapped = m_relocation.paths.find(out); mapped != m_relocation.paths.end()) {
      return mapped->second;
    }
    return fs::path(path).is_absolute() ? path : out;
  }

  /// Whether the map or list holding POINTER's value is in flow style ({...} or [...]).
  bool in_flow(const std::string &pointer) const {
    auto tokens = detail::pointer_tokens(pointer);
    if (tokens.empty()) {
      return false;
    }
    tokens.pop_back();
    auto parent = m_tree.positions.find(detail::pointer_join(tokens));
    if (parent == m_tree.positions.end()) {
      return false;
    }
    auto at = offset(parent->second.value);
    return at && *at < m_text.size() && (m_text[*at] == '{' || m_text[*at] == '[');
  }

  /// The end of the scalar that starts at BEGIN: a quoted one's closing quote, a block scalar's
  /// last content line, a plain one's end of line (or comment, or flow indicator).
  std::optional<std::size_t> scalar_end(std::size_t begin, const std::string &pointer) const {
    const std::string &t = m_text;
    const std::size_t n = t.size();
    if (begin >= n) {
      return std::nullopt;
    }
    const char first = t[begin];
    if (first == '"') {
      for (std::size_t i = begin + 1; i < n; ++i) {
        if (t[i] == '\\') {
          ++i;
        } else if (t[i] == '"') {
          return i + 1;
        }
      }
      return std::nullopt;
    }
    if (first == '\'') {
      for (std::size_t i = begin + 1; i < n; ++i) {
        if (t[i] == '\'') {
          if (i + 1 < n && t[i + 1] == '\'') {
            ++i;
            continue;
          }
          return i + 1;
        }
      }
      return std::nullopt;
    }
    if (first == '|' || first == '>') {
      // Content lines are those indented deeper than the line the indicator is on.
      const std::size_t line_start =
          t.rfind('\n', begin) == std::string::npos ? 0 : t.rfind('\n', begin) + 1;
      const std::size_t indent = t.find_first_not_of(' ', line_start) - line_start;
      std::size_t end = t.find('\n', begin);
      if (end == std::string::npos) {
        return n;
      }
      std::size_t next = end + 1;
      while (next < n) {
        std::size_t line_end = t.find('\n', next);
        if (line_end == std::string::npos) {
          line_end = n;
        }
        const std::size_t first_char = t.find_first_not_of(" \t\r", next);
        const bool blank = first_char == std::string::npos || first_char >= line_end;
        if (!blank && first_char - next <= indent) {
          break;
        }
        if (!blank) {
          end = line_end;
        }
        next = line_end + 1;
      }
      return end;
    }
    const bool flow = in_flow(pointer);
    std::size_t i = begin;
    while (i < n && t[i] != '\n') {
      if (t[i] == '#' && i > begin && (t[i - 1] == ' ' || t[i - 1] == '\t')) {
        break;
      }
      if (flow && (t[i] == ',' || t[i] == ']' || t[i] == '}')) {
        break;
      }
      ++i;
    }
    while (i > begin && (t[i - 1] == ' ' || t[i - 1] == '\t' || t[i - 1] == '\r')) {
      --i;
    }
    return i;
  }

  /// Replaces the scalar at POINTER with VALUE, double-quoted.
  Status replace(const std::string &pointer, const std::string &value) {
    const auto &position = m_tree.positions.at(pointer);
    const auto begin = offset(position.value);
    const auto end = begin ? scalar_end(*begin, pointer) : std::nullopt;
    if (!end) {
      return fail(cannot(position.value, "the value"));
    }
    const char first = m_text[*begin];
    const bool plain = first != '"' && first != '\'' && first != '|' && first != '>';
    if (plain && m_text.compare(*begin, *end - *begin, position.raw) != 0) {
      return fail(cannot(position.value, "a value written over several lines"));
    }
    m_edits.push_back({*begin, *end, quoted(value)});
    return {};
  }

  Status absolute_paths(const std::string &level) {
    const Json *object = detail::navigate_pointer(m_tree.root, level);
    if (!object || !object->is_object()) {
      return {};
    }
    for (const auto &[key, value] : object->items()) {
      const std::string pointer = detail::pointer_append(level, key);
      if (key == "binds" && value.is_array()) {
        for (std::size_t i = 0; i < value.size(); ++i) {
          if (!value[i].is_string()) {
            continue;
          }
          const std::string bind = value[i].get<std::string>();
          const std::size_t colon = bind.find(':');
          if (colon == std::string::npos || colon == 0) {
            continue;
          }
          const std::string source = absolute(bind.substr(0, colon));
          if (source != bind.substr(0, colon)) {
            LTB_CHECK(replace(detail::pointer_append(pointer, i), source + bind.substr(colon)));
          }
        }
        continue;
      }
      if (!value.is_string()) {
        continue;
      }
      const std::string written = value.get<std::string>();
      bool path = key == "ssh-key" || key == "kernel" || key == "initrd";
      if (key == "startup-config") {
        // Inline text (several lines) stays; a node given a new value is done elsewhere.
        path = written.find('\n') == std::string::npos &&
               !(level.rfind("/topology/nodes/", 0) == 0 &&
                 m_relocation.startup_configs.count(detail::pointer_tokens(level).back()));
      }
      if (key == "image" && detail::is_disk_path(written)) {
        // A container image is a name ("ltb/frr:latest"); a VM's disk is a file that exists.
        std::error_code ec;
        path = fs::is_regular_file(fs::path(m_relocation.base_dir) / written, ec);
      }
      if (path && absolute(written) != written) {
        LTB_CHECK(replace(pointer, absolute(written)));
      }
    }
    return {};
  }

  Status set_startup_config(const std::string &node, const std::string &value) {
    const std::string map = detail::pointer_append("/topology/nodes", node);
    const std::string key = detail::pointer_append(map, "startup-config");
    if (m_tree.positions.count(key) && detail::navigate_pointer(m_tree.root, key)) {
      return replace(key, value);
    }
    const auto position = m_tree.positions.find(map);
    if (position == m_tree.positions.end()) {
      return fail(fmt::format("the lab file has no node '{}'", node));
    }
    const Json *object = detail::navigate_pointer(m_tree.root, map);
    const auto at = offset(position->second.value);
    if (!at || !object) {
      return fail(cannot(position->second.value, fmt::format("node '{}'", node)));
    }
    const std::string entry = "startup-config: " + quoted(value);
    if (object->is_null()) {
      // `r1:` with nothing after it: the position is the key's; add a flow map after the colon.
      const std::size_t line_end = std::min(m_text.find('\n', *at), m_text.size());
      const std::size_t colon = m_text.find(':', *at);
      if (colon == std::string::npos || colon >= line_end) {
        return fail(cannot(position->second.value, fmt::format("node '{}'", node)));
      }
      m_edits.push_back({colon + 1, colon + 1, " {" + entry + "}"});
      return {};
    }
    if (!object->is_object()) {
      return fail(cannot(position->second.value, fmt::format("node '{}'", node)));
    }
    if (m_text[*at] == '{') {
      const std::size_t next = m_text.find_first_not_of(" \t\r\n", *at + 1);
      const bool empty = next != std::string::npos && m_text[next] == '}';
      m_edits.push_back({*at + 1, *at + 1, empty ? entry : entry + ", "});
      return {};
    }
    // A block map starts at its first key: the new key goes before it, at the same indentation.
    const std::size_t line_start =
        m_text.rfind('\n', *at) == std::string::npos ? 0 : m_text.rfind('\n', *at) + 1;
    if (m_text.find_first_not_of(' ', line_start) != *at) {
      return fail(cannot(position->second.value, fmt::format("node '{}'", node)));
    }
    m_edits.push_back({*at, *at, entry + "\n" + std::string(*at - line_start, ' ')});
    return {};
  }

  Result<std::string> apply() {
    std::sort(m_edits.begin(), m_edits.end(), [](const Edit &a, const Edit &b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    // A value shared through an alias is found once per user: the same edit, made once.
    m_edits.erase(std::unique(m_edits.begin(), m_edits.end()), m_edits.end());
    for (std::size_t i = 1; i < m_edits.size(); ++i) {
      if (m_edits[i].begin < m_edits[i - 1].end ||
          (m_edits[i].begin == m_edits[i - 1].begin && m_edits[i].begin == m_edits[i].end)) {
        const auto line = static_cast<int>(
            std::upper_bound(m_line_starts.begin(), m_line_starts.end(), m_edits[i].begin) -
            m_line_starts.begin());
        return fail(cannot({line, 1}, "a value used by several nodes through a YAML alias"));
      }
    }
    std::string out = m_text;
    for (auto it = m_edits.rbegin(); it != m_edits.rend(); ++it) {
      out.replace(it->begin, it->end - it->begin, it->text);
    }
    return out;
  }

  const std::string &m_text;
  const YamlTree &m_tree;
  const Relocation &m_relocation;
  std::vector<std::size_t> m_line_starts;
  std::vector<Edit> m_edits;
};

} // namespace

Result<std::string> relocate_text(const std::string &text, const Relocation &relocation) {
  std::vector<Diagnostic> items;
  detail::Reporter reporter("<lab file>", items);
  const YamlTree tree = detail::parse_yaml(text, reporter);
  if (!tree.parsed || reporter.has_errors()) {
    return fail("the lab file no longer parses as YAML", "check it with `ltb validate FILE`");
  }
  return Relocator(text, tree, relocation).run();
}

} // namespace ltb::topology
