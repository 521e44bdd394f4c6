// YAML -> JSON with positions. yaml-cpp 0.7 types scalars the YAML 1.1 way (yes = true, quoted
// '80' converts to an int) and keeps duplicate keys silently, so this walks yaml-cpp's node tree
// itself: scalars are typed by the YAML 1.2 core schema, duplicates are reported.

#include "topology/detail.hpp"
#include "util/utf8.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <optional>
#include <regex>
#include <sstream>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace ltb::topology::detail {

namespace {

constexpr std::string_view k_nul_help =
    "ltb hands values to Linux and Docker as C strings, which end at a NUL: remove the '\\0' "
    "escape";

constexpr std::string_view k_nesting_help =
    "a topology needs only a few levels: check the brackets, or an alias used inside the map or "
    "list it names";

SourceLoc loc_of(const YAML::Mark &mark) {
  if (mark.line < 0 || mark.column < 0) {
    return {};
  }
  return {mark.line + 1, mark.column + 1};
}

bool is_plain(const YAML::Node &node) {
  return node.Tag() == "?";
}

Json plain_integer(const std::string &text, int base, std::size_t skip, bool negative) {
  std::int64_t value = 0;
  const char *begin = text.data() + skip;
  const char *end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value, base);
  if (ec == std::errc() && ptr == end) {
    return negative ? -value : value;
  }
  // Too large for 64 bits: keep it as a number rather than failing; no ltb field takes such values.
  return std::strtod(text.c_str(), nullptr);
}

// YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution) for a plain scalar.
Json resolve_plain(const std::string &s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    return nullptr;
  }
  if (s == "true" || s == "True" || s == "TRUE") {
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    return false;
  }
  static const std::regex k_int10("[-+]?[0-9]+");
  static const std::regex k_int8("0o[0-7]+");
  static const std::regex k_int16("0x[0-9a-fA-F]+");
  static const std::regex k_float("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  static const std::regex k_inf("[-+]?\\.(inf|Inf|INF)");
  static const std::regex k_nan("\\.(nan|NaN|NAN)");
  if (std::regex_match(s, k_int10)) {
    const bool negative = s[0] == '-';
    const std::size_t skip = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    return plain_integer(s, 10, skip, negative);
  }
  if (std::regex_match(s, k_int8)) {
    return plain_integer(s, 8, 2, false);
  }
  if (std::regex_match(s, k_int16)) {
    return plain_integer(s, 16, 2, false);
  }
  if (std::regex_match(s, k_float)) {
    return std::strtod(s.c_str(), nullptr);
  }
  if (std::regex_match(s, k_inf)) {
    return s[0] == '-' ? -std::numeric_limits<double>::infinity()
                       : std::numeric_limits<double>::infinity();
  }
  if (std::regex_match(s, k_nan)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return s;
}

Json scalar_value(const YAML::Node &node) {
  const std::string &tag = node.Tag();
  const std::string &text = node.Scalar();
  if (tag == "?") {
    return resolve_plain(text);
  }
  // "!" marks a quoted or block scalar; explicit tags other than the core ones are kept as text.
  if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
      tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null") {
    return resolve_plain(text);
  }
  return text;
}

class Converter {
public:
  Converter(YamlTree &tree, Reporter &reporter) : m_tree(tree), m_reporter(reporter) {}

  Json convert(const YAML::Node &node, const std::string &pointer, SourceLoc key, int depth) {
    Position &position = m_tree.positions[pointer];
    position.key = key;
    position.value = loc_of(node.Mark());
    // The root is depth 0: k_max_nesting maps and lists in all, as LimitCheck counts them
    // (reached here only through aliases, which LimitCheck sees unexpanded).
    if (depth >= k_max_nesting && (node.IsMap() || node.IsSequence())) {
      m_reporter.error(
          position.value,
          fmt::format("nesting too deep: maps and lists nest at most {} levels", k_max_nesting),
          std::string(k_nesting_help));
      return nullptr;
    }
    switch (node.Type()) {
    case YAML::NodeType::Null:
      // yaml-cpp places an empty value at the start of whatever follows it: point at its key.
      if (key.line != 0 && (position.value.line == 0 || position.value.line > key.line)) {
        position.value = key;
      }
      return nullptr;
    case YAML::NodeType::Scalar:
      position.raw = node.Scalar();
      if (position.raw.find('\0') != std::string::npos) {
        m_reporter.error(position.value, "a NUL character ('\\0') in a value",
                         std::string(k_nul_help));
        return nullptr;
      }
      return scalar_value(node);
    case YAML::NodeType::Sequence: {
      Json array = Json::array();
      std::size_t index = 0;
      for (const auto &child : node) {
        array.push_back(convert(child, pointer_append(pointer, index), {}, depth + 1));
        ++index;
      }
      return array;
    }
    case YAML::NodeType::Map: {
      Json object = Json::object();
      std::vector<std::string> order;
      std::map<std::string, SourceLoc> seen;
      std::vector<YAML::Node> merges;
      for (auto it = node.begin(); it != node.end(); ++it) {
        // A copy: the iterator hands out a temporary pair.
        const YAML::Node key_node = it->first;
        const SourceLoc here = loc_of(key_node.Mark());
        if (!key_node.IsScalar() && !key_node.IsNull()) {
          m_reporter.error(here, "a key must be a single value, not a map or a list");
          continue;
        }
        const std::string name = key_node.IsNull() ? std::string() : key_node.Scalar();
        if (name.find('\0') != std::string::npos) {
          m_reporter.error(here, "a NUL character ('\\0') in a key", std::string(k_nul_help));
          continue;
        }
        if (name == "<<" && is_plain(key_node)) {
          merges.push_back(it->second);
          continue;
        }
        if (auto first = seen.find(name); first != seen.end()) {
          report_duplicate(pointer, name, here, first->second);
          continue;
        }
        seen.emplace(name, here);
        order.push_back(name);
        object[name] = convert(it->second, pointer_append(pointer, name), here, depth + 1);
      }
      for (const auto &merge : merges) {
        merge_into(object, order, merge, pointer, depth);
      }
      m_tree.key_order[pointer] = std::move(order);
      return object;
    }
    case YAML::NodeType::Undefined:
      break;
    }
    return nullptr;
  }

private:
  // YAML 1.1 merge keys ("<<: *anchor"), which containerlab files use to share node fields;
  // keys written in the map itself win over merged ones.
  void merge_into(Json &object, std::vector<std::string> &order, const YAML::Node &source,
                  const std::string &pointer, int depth) {
    if (source.IsSequence()) {
      for (const auto &item : source) {
        merge_into(object, order, item, pointer, depth + 1);
      }
      return;
    }
    if (!source.IsMap()) {
      m_reporter.error(loc_of(source.Mark()), "'<<' must be followed by a map or a list of maps",
                       "write '<<: *anchor' where the anchor names a map");
      return;
    }
    for (auto it = source.begin(); it != source.end(); ++it) {
      if (!it->first.IsScalar()) {
        continue;
      }
      const std::string name = it->first.Scalar();
      if (name == "<<") {
        merge_into(object, order, it->second, pointer, depth + 1);
        continue;
      }
      if (object.contains(name)) {
        continue;
      }
      order.push_back(name);
      object[name] =
          convert(it->second, pointer_append(pointer, name), loc_of(it->first.Mark()), depth + 1);
    }
  }

  void report_duplicate(const std::string &pointer, const std::string &name, SourceLoc here,
                        SourceLoc first) {
    if (pointer == "/topology/nodes") {
      m_reporter.error(here, fmt::format("duplicate node name '{}'", name),
                       "node names must be unique: rename or remove one of them");
      m_reporter.note(first, fmt::format("node '{}' is first defined here", name));
    } else {
      m_reporter.error(here, fmt::format("duplicate key '{}'", name),
                       "a key may appear only once in a map: remove one of them");
      m_reporter.note(first, fmt::format("'{}' is first set here", name));
    }
  }

  YamlTree &m_tree;
  Reporter &m_reporter;
};

/// Stops the parse at the first limit the file exceeds (see LimitCheck).
struct LimitExceeded {
  SourceLoc loc;
  std::string message;
  std::string help;
};

/// A pass over yaml-cpp's events, before the node tree is built, that bounds what aliases expand
/// to and how deep maps and lists nest. yaml-cpp shares an aliased node instead of copying it, so
/// a few hundred bytes of aliases of aliases ("billion laughs") load quickly but expand to ~10^11
/// values in the JSON tree; and its own depth limit is reported as "bad file". Both are caught
/// here, where the alias's own position is still known (in the node tree an alias carries the
/// position of its anchor).
class LimitCheck : public YAML::EventHandler {
public:
  explicit LimitCheck(const std::string &text) : m_text(text) {}

  void OnDocumentStart(const YAML::Mark &mark) override {
    // yaml-cpp numbers anchors anew in each document.
    m_sizes.clear();
    m_open.clear();
    // yaml-cpp 0.7 does not consume a token it cannot start a value with (',' at the start of a
    // line): it reports a null document there, again and again, without end (its issue 1040).
    if (m_documents > 0 && mark.pos == m_last_start) {
      const auto at = static_cast<std::size_t>(mark.pos);
      throw LimitExceeded{
          loc_of(mark),
          at < m_text.size() && std::isprint(static_cast<unsigned char>(m_text[at]))
              ? fmt::format("invalid YAML: a value cannot start with '{}'", m_text[at])
              : std::string("invalid YAML: a value cannot start here"),
          "check the indentation and the brackets and quotes around this place"};
    }
    if (m_documents == 1) {
      m_second = mark;
    }
    m_last_start = mark.pos;
    ++m_documents;
  }
  /// Where the second document starts, when the text holds more than one.
  const std::optional<YAML::Mark> &second_document() const { return m_second; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark &mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }
  void OnScalar(const YAML::Mark &mark, const std::string &, YAML::anchor_t anchor,
                const std::string &) override {
    leaf(mark, anchor);
  }
  void OnAlias(const YAML::Mark &mark, YAML::anchor_t anchor) override {
    auto size = m_sizes.find(anchor);
    if (size == m_sizes.end()) {
      // yaml-cpp lets an alias name a map or list that is still open: a tree that contains
      // itself, which has no end when expanded.
      throw LimitExceeded{
          loc_of(mark),
          fmt::format("alias '{}' is used inside the map or list it names", alias_name(mark)),
          "an alias repeats something complete: move it out of its anchor's map or list"};
    }
    m_values += size->second;
    m_expanded += size->second;
    if (m_expanded > k_max_alias_values) {
      throw LimitExceeded{
          loc_of(mark),
          fmt::format("alias '{}' makes the file's aliases expand to more than {} values",
                      alias_name(mark), k_max_alias_values),
          "aliases of aliases multiply (a \"billion laughs\" file): ltb expands at most this "
          "many values, far more than a lab needs; repeat fewer values, or use topology.kinds, "
          "groups or defaults to share fields"};
    }
  }
  void OnSequenceStart(const YAML::Mark &mark, const std::string &, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark &mark, const std::string &, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnMapEnd() override { close(); }

private:
  void leaf(const YAML::Mark &, YAML::anchor_t anchor) {
    ++m_values;
    if (anchor != YAML::NullAnchor) {
      m_sizes[anchor] = 1;
    }
  }
  void open(const YAML::Mark &mark, YAML::anchor_t anchor) {
    if (static_cast<int>(m_open.size()) >= k_max_nesting) {
      throw LimitExceeded{
          loc_of(mark),
          fmt::format("nesting too deep: maps and lists nest at most {} levels", k_max_nesting),
          std::string(k_nesting_help)};
    }
    ++m_values;
    m_open.push_back({anchor, m_values});
  }
  void close() {
    if (m_open.empty()) {
      return;
    }
    const auto [anchor, first] = m_open.back();
    m_open.pop_back();
    if (anchor != YAML::NullAnchor) {
      m_sizes[anchor] = m_values - first + 1;
    }
  }
  /// "*name" as written at MARK.
  std::string alias_name(const YAML::Mark &mark) const {
    if (mark.pos < 0 || static_cast<std::size_t>(mark.pos) >= m_text.size()) {
      return "*";
    }
    const std::size_t start = static_cast<std::size_t>(mark.pos);
    std::size_t end = start + 1;
    while (end < m_text.size() && end - start <= 64 &&
           !std::isspace(static_cast<unsigned char>(m_text[end])) &&
           std::string_view(",[]{}").find(m_text[end]) == std::string_view::npos) {
      ++end;
    }
    return m_text.substr(start, end - start);
  }

  const std::string &m_text;
  std::size_t m_values = 0;   // values so far, aliases counted as what they expand to
  std::size_t m_expanded = 0; // values that aliases expanded to, so far
  int m_documents = 0;
  int m_last_start = 0;               // where the last document started (Mark::pos)
  std::optional<YAML::Mark> m_second; // where the second document started
  std::map<YAML::anchor_t, std::size_t> m_sizes;              // of anchored values, expanded
  std::vector<std::pair<YAML::anchor_t, std::size_t>> m_open; // anchor, m_values at its start
};

} // namespace

namespace {

bool tab_indented(const std::string &text, int line) {
  std::size_t start = 0;
  for (int i = 1; i < line && start != std::string::npos; ++i) {
    start = text.find('\n', start);
    start = start == std::string::npos ? start : start + 1;
  }
  if (start == std::string::npos) {
    return false;
  }
  for (std::size_t i = start; i < text.size() && (text[i] == ' ' || text[i] == '\t'); ++i) {
    if (text[i] == '\t') {
      return true;
    }
  }
  return false;
}

/// What YAML allows in a file (https://yaml.org/spec/1.2.2/#51-character-set): UTF-8 of
/// printable characters, tab, newline and carriage return. yaml-cpp takes any bytes and keeps
/// them in values, where a NUL cuts a C string short and an escape sequence reaches a terminal:
/// each line's first bad byte is an error, for the first few lines that have one.
bool check_characters(const std::string &text, Reporter &reporter) {
  if (text.starts_with("\xFF\xFE") || text.starts_with("\xFE\xFF") ||
      text.starts_with(std::string_view("\0\0\xFE\xFF", 4))) {
    reporter.error({1, 1}, "the file is UTF-16 or UTF-32 (it starts with a byte order mark)",
                   "ltb reads topology files in UTF-8: convert it (iconv -f UTF-16 -t UTF-8)");
    return false;
  }
  constexpr int k_max_reported = 10;
  int reported = 0;
  int more = 0;
  int line = 1;
  std::size_t line_start = 0;
  int reported_line = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      line_start = ++i;
      continue;
    }
    const std::size_t length = util::utf8_sequence_length(text, i);
    std::string message;
    std::string_view help;
    if (c == 0) {
      message = "a NUL byte: a topology file is text";
      help = "is this the right file? remove the NUL bytes (tr -d '\\000' < FILE)";
    } else if (length == 0) {
      message = fmt::format("invalid UTF-8 (byte 0x{:02X})", c);
      help = "ltb reads topology files in UTF-8: convert it (iconv -f LATIN1 -t UTF-8 FILE)";
    } else if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7F ||
               (length == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0 &&
                static_cast<unsigned char>(text[i + 1]) != 0x85)) {
      const unsigned code = length == 2 ? static_cast<unsigned char>(text[i + 1]) : c;
      message = fmt::format("control character U+{:04X}", code);
      help = "YAML allows tab, newline and carriage return only; an escape in a double-quoted "
             "string (\"\\e\") writes the others";
    }
    if (!message.empty() && reported_line != line) {
      reported_line = line;
      if (reported < k_max_reported) {
        reporter.error({line, static_cast<int>(i - line_start) + 1}, std::move(message),
                       std::string(help));
        ++reported;
      } else {
        ++more;
      }
    }
    i += length == 0 ? 1 : length;
  }
  if (more > 0) {
    reporter.error({},
                   fmt::format("and {} more line{} with bytes YAML does not allow", more,
                               more == 1 ? "" : "s"),
                   "is this the right file? a topology file is UTF-8 text");
  }
  return reported == 0;
}

} // namespace

YamlTree parse_yaml(const std::string &text, Reporter &reporter) {
  YamlTree tree;
  if (!check_characters(text, reporter)) {
    return tree;
  }
  YAML::Node document;
  try {
    std::optional<YAML::Mark> second;
    {
      std::istringstream in(text);
      YAML::Parser parser(in);
      LimitCheck check(text);
      while (parser.HandleNextDocument(check)) {
      }
      second = check.second_document();
    }
    if (second) {
      reporter.error(loc_of(*second), "the file holds more than one YAML document",
                     "a topology file is one document: remove the '---' line or split the file");
    }
    // The first document only: YAML::LoadAll has the endless loop LimitCheck stops.
    document = YAML::Load(text);
  } catch (const LimitExceeded &e) {
    reporter.error(e.loc, e.message, e.help);
    return tree;
  } catch (const YAML::DeepRecursion &e) {
    // yaml-cpp's own guard, should a path around LimitCheck's exist (it says "bad file").
    reporter.error(
        loc_of(e.mark),
        fmt::format("nesting too deep: maps and lists nest at most {} levels", k_max_nesting),
        std::string(k_nesting_help));
    return tree;
  } catch (const YAML::ParserException &e) {
    const SourceLoc loc = loc_of(e.mark);
    reporter.error(loc, fmt::format("invalid YAML: {}", e.msg),
                   tab_indented(text, loc.line)
                       ? "YAML does not allow tabs for indentation: indent with spaces"
                       : "check the indentation and the brackets and quotes around this place");
    return tree;
  } catch (const YAML::Exception &e) {
    reporter.error(loc_of(e.mark), fmt::format("invalid YAML: {}", e.msg));
    return tree;
  }
  Converter converter(tree, reporter);
  tree.root = converter.convert(document, "", {}, 0);
  tree.positions[""].value = {};
  tree.parsed = true;
  return tree;
}

std::string pointer_append(const std::string &pointer, std::string_view token) {
  std::string out = pointer;
  out.push_back('/');
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string pointer_append(const std::string &pointer, std::size_t index) {
  return pointer + "/" + std::to_string(index);
}

std::vector<std::string> pointer_tokens(const std::string &pointer) {
  std::vector<std::string> tokens;
  std::size_t pos = 0;
  while (pos < pointer.size() && pointer[pos] == '/') {
    std::size_t next = pointer.find('/', pos + 1);
    std::string raw =
        pointer.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    std::string token;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size()) {
        token.push_back(raw[i + 1] == '1' ? '/' : '~');
        ++i;
      } else {
        token.push_back(raw[i]);
      }
    }
    tokens.push_back(std::move(token));
    if (next == std::string::npos) {
      break;
    }
    pos = next;
  }
  return tokens;
}

std::string pointer_join(const std::vector<std::string> &tokens) {
  std::string out;
  for (const auto &token : tokens) {
    out = pointer_append(out, token);
  }
  return out;
}

const Json *navigate_pointer(const Json &root, const std::string &pointer) {
  const Json *node = &root;
  for (const auto &token : pointer_tokens(pointer)) {
    if (node->is_object()) {
      auto it = node->find(token);
      if (it == node->end()) {
        return nullptr;
      }
      node = &*it;
    } else if (node->is_array()) {
      if (token.empty() || !std::all_of(token.begin(), token.end(), ::isdigit)) {
        return nullptr;
      }
      const std::size_t index = std::stoul(token);
      if (index >= node->size()) {
        return nullptr;
      }
      node = &(*node)[index];
    } else {
      return nullptr;
    }
  }
  return node;
}

SourceLoc value_loc(const YamlTree &tree, const std::string &pointer) {
  std::string p = pointer;
  while (true) {
    if (auto it = tree.positions.find(p); it != tree.positions.end() && it->second.value.line) {
      return it->second.value;
    }
    if (p.empty()) {
      return {};
    }
    p.erase(p.rfind('/'));
  }
}

SourceLoc key_loc(const YamlTree &tree, const std::string &pointer) {
  if (auto it = tree.positions.find(pointer); it != tree.positions.end() && it->second.key.line) {
    return it->second.key;
  }
  return value_loc(tree, pointer);
}

} // namespace ltb::topology::detail
