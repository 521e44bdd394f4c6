// JSON Schema validation with valijson, and turning its error chains into one message per problem.
// valijson reports a problem deep in the tree as a chain of "failed to validate against ..."
// wrappers up to the root; only the innermost error says what is wrong. Titles and descriptions
// from the schema become the nouns and help texts of the messages, so that the schema stays the one
// place where the format is defined.

#include "topology/detail.hpp"
#include "topology/kinds.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace ltb::embedded {
std::string_view schema_text();
} // namespace ltb::embedded

namespace ltb::topology::detail {

struct SchemaChecker::Compiled {
  valijson::Schema schema;
};

namespace {

constexpr int k_max_ref_depth = 32;

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool has_prefix(const std::vector<std::string> &tokens, const std::vector<std::string> &prefix) {
  return tokens.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), tokens.begin());
}

const Json *navigate(const Json &root, const std::vector<std::string> &tokens, std::size_t count) {
  const Json *node = &root;
  for (std::size_t i = 0; i < count && i < tokens.size(); ++i) {
    if (node->is_object()) {
      auto it = node->find(tokens[i]);
      if (it == node->end()) {
        return nullptr;
      }
      node = &*it;
    } else if (node->is_array()) {
      std::size_t index = 0;
      try {
        index = std::stoul(tokens[i]);
      } catch (const std::exception &) {
        return nullptr;
      }
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

bool parent_is_array(const Json &root, const std::vector<std::string> &tokens) {
  if (tokens.empty()) {
    return false;
  }
  const Json *parent = navigate(root, tokens, tokens.size() - 1);
  return parent && parent->is_array();
}

std::size_t index_of(const std::string &token) {
  try {
    return std::stoul(token);
  } catch (const std::exception &) {
    return 0;
  }
}

std::string dotted(const Json &root, const std::vector<std::string> &tokens) {
  std::string out;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const Json *parent = navigate(root, tokens, i);
    if (parent && parent->is_array()) {
      out += fmt::format("[{}]", index_of(tokens[i]) + 1);
    } else {
      out += (out.empty() ? "" : ".") + tokens[i];
    }
  }
  return out;
}

// "node 'r1'", "link 2", "topology.defaults": the object that holds a key, for messages.
std::string describe_object(const Json &root, const std::vector<std::string> &t) {
  if (t.empty()) {
    return "the top level";
  }
  if (t.size() == 3 && t[0] == "topology" && t[1] == "nodes") {
    return fmt::format("node '{}'", t[2]);
  }
  if (t.size() == 3 && t[0] == "topology" && t[1] == "groups") {
    return fmt::format("group '{}'", t[2]);
  }
  if (t.size() == 3 && t[0] == "topology" && t[1] == "links") {
    return fmt::format("link {}", index_of(t[2]) + 1);
  }
  if (t.size() == 5 && t[0] == "topology" && t[1] == "links" && t[3] == "endpoints") {
    return fmt::format("endpoint {} of link {}", index_of(t[4]) + 1, index_of(t[2]) + 1);
  }
  return dotted(root, t);
}

std::string in_object(const Json &root, const std::vector<std::string> &t) {
  return t.empty() ? "at the top level" : "in " + describe_object(root, t);
}

// "'mtu'", "link 2", "item 3 of 'binds'": the value an error is about.
std::string describe_value(const Json &root, const std::vector<std::string> &t) {
  if (t.empty()) {
    return "the file";
  }
  if (parent_is_array(root, t)) {
    const std::size_t n = index_of(t.back()) + 1;
    const std::string &list = t.size() >= 2 ? t[t.size() - 2] : std::string();
    if (list == "links") {
      return fmt::format("link {}", n);
    }
    if (list == "endpoints") {
      return fmt::format("endpoint {}", n);
    }
    return fmt::format("item {} of '{}'", n, list);
  }
  return fmt::format("'{}'", t.back());
}

std::string first_string(const std::vector<const Json *> &schemas, const char *key) {
  for (const Json *s : schemas) {
    if (auto it = s->find(key); it != s->end() && it->is_string()) {
      return it->get<std::string>();
    }
  }
  return {};
}

// A title used inside a sentence: "Node name" -> "node name", "OVS datapath" stays.
std::string noun(const std::vector<const Json *> &schemas, const std::string &fallback) {
  std::string title = first_string(schemas, "title");
  if (title.empty()) {
    return fallback;
  }
  if (title.size() >= 2 && std::isupper(static_cast<unsigned char>(title[0])) &&
      !std::isupper(static_cast<unsigned char>(title[1]))) {
    title[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(title[0])));
  }
  return title;
}

std::string type_word(const std::string &type) {
  if (type == "object") {
    return "a map";
  }
  if (type == "array") {
    return "a list";
  }
  if (type == "string") {
    return "a string";
  }
  if (type == "integer") {
    return "an integer";
  }
  if (type == "number") {
    return "a number";
  }
  if (type == "boolean") {
    return "true/false";
  }
  if (type == "null") {
    return "empty";
  }
  return type;
}

std::vector<std::string> allowed_types(const std::vector<const Json *> &schemas) {
  std::vector<std::string> types;
  auto add = [&](const Json &t) {
    if (t.is_string() &&
        std::find(types.begin(), types.end(), t.get<std::string>()) == types.end()) {
      types.push_back(t.get<std::string>());
    }
  };
  for (const Json *s : schemas) {
    if (auto it = s->find("type"); it != s->end()) {
      if (it->is_array()) {
        for (const auto &t : *it) {
          add(t);
        }
      } else {
        add(*it);
      }
    }
  }
  return types;
}

std::string join_words(const std::vector<std::string> &words, std::string_view last_sep) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i) {
      out += (i + 1 == words.size()) ? std::string(last_sep) : std::string(", ");
    }
    out += words[i];
  }
  return out;
}

std::string show(const Json &value, const std::string &raw) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (!raw.empty()) {
    return raw;
  }
  return value.dump();
}

std::string number_text(const Json &n) {
  if (n.is_number_integer()) {
    return std::to_string(n.get<std::int64_t>());
  }
  if (n.is_number()) {
    const double d = n.get<double>();
    if (std::floor(d) == d && std::fabs(d) < 1e15) {
      return std::to_string(static_cast<std::int64_t>(d));
    }
    return fmt::format("{}", d);
  }
  return n.dump();
}

std::size_t utf8_length(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool is_forbidden(const Json &schema) {
  return (schema.is_boolean() && !schema.get<bool>()) ||
         (schema.is_object() && schema.contains("not"));
}

enum class ErrorKind { leaf, property_wrapper, item_wrapper, additional_wrapper, combinator };

struct RawError {
  std::vector<std::string> tokens;
  std::string description;
  ErrorKind kind = ErrorKind::leaf;
  std::string child; // property name or item index of a wrapper
};

RawError classify(const valijson::ValidationResults::Error &e) {
  RawError r;
  for (const auto &c : e.context) {
    if (c == "<root>") {
      continue;
    }
    r.tokens.push_back(
        c.size() >= 2 && c.front() == '[' && c.back() == ']' ? c.substr(1, c.size() - 2) : c);
  }
  r.description = e.description;
  const std::string_view d = r.description;
  constexpr std::string_view k_property =
      "Failed to validate against schema associated with property name '";
  constexpr std::string_view k_item = "Failed to validate item #";
  if (starts_with(d, k_property)) {
    r.kind = ErrorKind::property_wrapper;
    const std::size_t end = d.rfind("'.");
    r.child = std::string(d.substr(k_property.size(), end == std::string_view::npos
                                                          ? std::string_view::npos
                                                          : end - k_property.size()));
  } else if (starts_with(d, k_item)) {
    r.kind = ErrorKind::item_wrapper;
    const std::string_view rest = d.substr(k_item.size());
    r.child = std::string(rest.substr(0, rest.find(' ')));
  } else if (starts_with(d, "Failed to validate against additional properties schema") ||
             starts_with(d, "Failed to validate against schema associated with pattern")) {
    r.kind = ErrorKind::additional_wrapper;
  } else if (starts_with(d, "Failed to validate against child schema") ||
             starts_with(d, "Failed to validate against any") ||
             starts_with(d, "Failed to validate against exactly one") ||
             starts_with(d, "Failed to validate against a conditional") ||
             starts_with(d, "Failed to validate against dependent schema") ||
             starts_with(d, "Failed to any values") || starts_with(d, "Cannot validate item")) {
    r.kind = ErrorKind::combinator;
  }
  return r;
}

std::string quoted_between(const std::string &text, char quote = '\'') {
  const std::size_t a = text.find(quote);
  const std::size_t b = text.rfind(quote);
  if (a == std::string::npos || b <= a) {
    return {};
  }
  return text.substr(a + 1, b - a - 1);
}

// Turns one innermost valijson error into a diagnostic.
class Explainer {
public:
  Explainer(const SchemaChecker &checker, const YamlTree &tree, Reporter &reporter,
            std::vector<std::string> &failed)
      : m_checker(checker), m_tree(tree), m_root(tree.root), m_reporter(reporter),
        m_failed(failed) {}

  void unknown_key(const std::vector<std::string> &t, const std::string &key,
                   std::string *suggestion) {
    const std::string pointer = pointer_join(t);
    const std::string child = pointer_append(pointer, key);
    m_failed.push_back(child);
    const SourceLoc loc = key_loc(m_tree, child);
    const auto candidates = m_checker.known_keys(m_root, pointer);
    std::string best = did_you_mean(key, candidates);
    if (suggestion) {
      *suggestion = best;
    }
    if (t == std::vector<std::string>{"topology", "kinds"}) {
      const auto foreign = foreign_kind_help(key);
      std::string help =
          foreign ? std::string(*foreign) : suggest(key, candidates, "ltb knows the kinds");
      m_reporter.error(loc, fmt::format("unknown kind '{}' in topology.kinds", key), help);
      return;
    }
    std::string help;
    if (!best.empty()) {
      help = fmt::format("did you mean '{}'?", best);
    } else if (candidates.size() <= 8) {
      help = fmt::format("the keys here are: {}", list_names(candidates, 8));
    } else {
      help = "ltb-topology(5) lists the keys of each part of the file";
    }
    m_reporter.error(loc, fmt::format("unknown key '{}' {}", key, in_object(m_root, t)), help);
  }

  void forbidden(const std::vector<std::string> &t) {
    const std::string pointer = pointer_join(t);
    m_failed.push_back(pointer);
    auto parent = t;
    parent.pop_back();
    const auto schemas = m_checker.resolve(m_root, pointer);
    std::string help;
    for (const Json *s : schemas) {
      if (is_forbidden(*s) && s->is_object() && s->contains("description")) {
        help = (*s)["description"].get<std::string>();
      }
    }
    m_reporter.error(key_loc(m_tree, pointer),
                     fmt::format("'{}' is not allowed {}", t.back(), in_object(m_root, parent)),
                     help);
  }

  void leaf(const RawError &e) {
    const auto &t = e.tokens;
    const std::string pointer = pointer_join(t);
    const Json *value = navigate(m_root, t, t.size());
    const auto schemas = m_checker.resolve(m_root, pointer);
    const std::string what = describe_value(m_root, t);
    const std::string description = first_string(schemas, "description");
    const std::string raw = position_raw(pointer);
    const SourceLoc loc = value_loc(m_tree, pointer);
    const std::string &d = e.description;
    auto find_keyword = [&](const char *keyword) -> const Json * {
      for (const Json *s : schemas) {
        if (auto it = s->find(keyword); it != s->end()) {
          return &*it;
        }
      }
      return nullptr;
    };

    if (starts_with(d, "Target should not validate against schema specified in 'not'")) {
      forbidden(t);
      return;
    }
    m_failed.push_back(pointer);
    if (starts_with(d, "Value type not permitted")) {
      std::vector<std::string> words;
      const auto types = allowed_types(schemas);
      for (const auto &type : types) {
        // "null" is allowed only so that an empty value means "none"; it is not worth a mention.
        if (type != "null" || types.size() == 1) {
          words.push_back(type_word(type));
        }
      }
      const std::string expected = join_words(words, " or ");
      std::string help = description;
      if (value && !value->is_string() && !value->is_structured() && !value->is_null() &&
          std::find(types.begin(), types.end(), "string") != types.end()) {
        help = fmt::format("put it in quotes to make it a string: \"{}\"", show(*value, raw));
      }
      if (value && value->is_null()) {
        m_reporter.error(loc, fmt::format("{} is empty; it must be {}", what, expected), help);
      } else {
        m_reporter.error(loc, fmt::format("{} must be {}", what, expected), help);
      }
      return;
    }
    if (starts_with(d, "Failed to match against any enum values")) {
      std::vector<std::string> options;
      if (const Json *values = find_keyword("enum"); values && values->is_array()) {
        for (const auto &v : *values) {
          options.push_back(v.is_string() ? v.get<std::string>() : v.dump());
        }
      }
      const std::string shown = value ? show(*value, raw) : std::string();
      std::string help;
      if (const auto foreign =
              !t.empty() && t.back() == "kind" ? foreign_kind_help(shown) : std::nullopt) {
        help = std::string(*foreign);
      } else if (std::string best = did_you_mean(shown, options); !best.empty()) {
        help = fmt::format("did you mean '{}'?", best);
      } else {
        help = fmt::format("{} must be one of: {}", what, join_words(options, ", "));
      }
      m_reporter.error(loc, fmt::format("unknown {} '{}'", noun(schemas, what), shown), help);
      return;
    }
    if (starts_with(d, "Failed to match regex")) {
      const std::string shown = value ? show(*value, raw) : std::string();
      m_reporter.error(loc, fmt::format("malformed {} '{}'", noun(schemas, what), shown),
                       description);
      return;
    }
    if (starts_with(d, "String should be no more than")) {
      const Json *max = find_keyword("maxLength");
      m_reporter.error(
          loc,
          fmt::format("{} is longer than {} characters", what, max ? number_text(*max) : "allowed"),
          description);
      return;
    }
    if (starts_with(d, "String should be no fewer than")) {
      const Json *min = find_keyword("minLength");
      if (min && min->is_number() && min->get<double>() == 1) {
        m_reporter.error(loc, fmt::format("{} must not be empty", what), description);
      } else {
        m_reporter.error(loc,
                         fmt::format("{} is shorter than {} characters", what,
                                     min ? number_text(*min) : "allowed"),
                         description);
      }
      return;
    }
    if (starts_with(d, "Expected number greater than or equal to") ||
        starts_with(d, "Expected number greater than")) {
      const Json *min = find_keyword("minimum");
      m_reporter.error(loc,
                       fmt::format("{} must be at least {}", what, min ? number_text(*min) : "?"),
                       description);
      return;
    }
    if (starts_with(d, "Expected number less than")) {
      const Json *max = find_keyword("maximum");
      m_reporter.error(loc,
                       fmt::format("{} must be at most {}", what, max ? number_text(*max) : "?"),
                       description);
      return;
    }
    if (starts_with(d, "Array should contain no fewer than") ||
        starts_with(d, "Array should contain no more than")) {
      const Json *min = find_keyword("minItems");
      const Json *max = find_keyword("maxItems");
      std::string count;
      if (min && max && *min == *max) {
        count = "exactly " + number_text(*min);
      } else if (starts_with(d, "Array should contain no fewer than")) {
        count = "at least " + (min ? number_text(*min) : std::string("?"));
      } else {
        count = "at most " + (max ? number_text(*max) : std::string("?"));
      }
      const std::size_t have = value && value->is_array() ? value->size() : 0;
      m_reporter.error(loc, fmt::format("{} must have {} items, not {}", what, count, have),
                       description);
      return;
    }
    if (starts_with(d, "Object should have no fewer than")) {
      m_reporter.error(loc, fmt::format("{} must not be empty", what), description);
      return;
    }
    if (starts_with(d, "Missing required property '")) {
      const std::string key = quoted_between(d);
      const auto child_schemas = m_checker.resolve(m_root, pointer_append(pointer, key));
      SourceLoc where = t.empty() ? SourceLoc{} : key_loc(m_tree, pointer);
      m_reporter.error(where,
                       fmt::format("missing required key '{}' {}", key, in_object(m_root, t)),
                       first_string(child_schemas, "description"));
      return;
    }
    // Anything else: valijson's own words, still pointing at the value.
    m_reporter.error(loc, fmt::format("{} is invalid: {}", what, d), description);
  }

  std::string position_raw(const std::string &pointer) const {
    auto it = m_tree.positions.find(pointer);
    return it == m_tree.positions.end() ? std::string() : it->second.raw;
  }

private:
  const SchemaChecker &m_checker;
  const YamlTree &m_tree;
  const Json &m_root;
  Reporter &m_reporter;
  std::vector<std::string> &m_failed;
};

// A schema's string keywords applied to a map key (valijson checks propertyNames but does not
// say which key failed).
void check_key_name(const Json &names_schema, const std::string &key, const std::string &pointer,
                    const YamlTree &tree, Reporter &reporter, std::vector<std::string> &failed,
                    std::map<std::string, std::regex> &regexes) {
  const std::vector<const Json *> schemas{&names_schema};
  const std::string what = noun(schemas, "key");
  const std::string help = first_string(schemas, "description");
  const SourceLoc loc = key_loc(tree, pointer);
  if (auto it = names_schema.find("pattern"); it != names_schema.end() && it->is_string()) {
    const std::string &text = it->get_ref<const std::string &>();
    auto compiled = regexes.find(text);
    if (compiled == regexes.end()) {
      compiled = regexes.emplace(text, std::regex(text, std::regex::ECMAScript)).first;
    }
    if (!std::regex_search(key, compiled->second)) {
      failed.push_back(pointer);
      reporter.error(loc, fmt::format("malformed {} '{}'", what, key), help);
      return;
    }
  }
  if (auto it = names_schema.find("maxLength"); it != names_schema.end() && it->is_number()) {
    const auto max = it->get<std::size_t>();
    if (utf8_length(key) > max) {
      failed.push_back(pointer);
      reporter.error(loc, fmt::format("{} '{}' is longer than {} characters", what, key, max),
                     help);
    }
  }
}

} // namespace

SchemaChecker::SchemaChecker(std::string_view schema_text)
    : SchemaChecker(Json::parse(schema_text)) {}

SchemaChecker::SchemaChecker(Json document)
    : m_document(std::move(document)), m_compiled(std::make_unique<Compiled>()) {
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  valijson::adapters::NlohmannJsonAdapter adapter(m_document);
  parser.populateSchema(adapter, m_compiled->schema);
}

SchemaChecker::~SchemaChecker() = default;

const SchemaChecker &SchemaChecker::instance() {
  static const SchemaChecker checker(schema_with_kinds(Json::parse(ltb::embedded::schema_text())));
  return checker;
}

Json schema_with_kinds(Json schema) {
  const auto &all = kinds();
  std::string about;
  std::string names;
  Json entries = Json::object();
  for (std::size_t i = 0; i < all.size(); ++i) {
    const Kind &kind = all[i];
    std::string what(kind.about);
    if (!kind.default_image.empty()) {
      what += fmt::format("; default image {}", kind.default_image);
    }
    if (!kind.startup_config_path.empty()) {
      what += fmt::format("; startup-config at {}", kind.startup_config_path);
    }
    if (!kind.username.empty()) {
      what += fmt::format("; login {}", login_text(kind));
    }
    if (!kind.other_names.empty()) {
      what += fmt::format("; also named {}", fmt::join(kind.other_names, ", "));
    }
    const std::string_view separator = i == 0 ? "" : i + 1 == all.size() ? " or " : ", ";
    about += fmt::format("{}{} ({})", separator, kind.name, what);
    names += fmt::format("{}{}", i == 0 ? "" : ", ", kind.name);
    const std::string name(kind.name);
    entries[name] = {{"$ref", "#/definitions/kind-fields"},
                     {"title", name},
                     {"description", kind.entry_note.empty()
                                         ? fmt::format("Fields for every node of kind {}.", name)
                                         : fmt::format("Fields for every node of kind {} ({}).",
                                                       name, kind.entry_note)}};
    for (const auto &other : kind.other_names) {
      entries[std::string(other)] = {
          {"$ref", "#/definitions/kind-fields"},
          {"title", std::string(other)},
          {"description", fmt::format("Fields for every node of kind {} (containerlab's other "
                                      "name of {}).",
                                      other, name)}};
    }
  }
  Json &kind = schema["definitions"]["node"]["properties"]["kind"];
  kind["enum"] = kind_names();
  kind["description"] = fmt::format("What the node is: {}.", about);
  Json &kinds_entry = schema["definitions"]["topology"]["properties"]["kinds"];
  kinds_entry["description"] =
      fmt::format("Node fields for every node of a kind, by kind name ({}).", names);
  kinds_entry["properties"] = std::move(entries);
  return schema;
}

void SchemaChecker::expand(const Json &schema, std::vector<const Json *> &out, int depth) const {
  if (depth > k_max_ref_depth) {
    return;
  }
  out.push_back(&schema);
  if (!schema.is_object()) {
    return;
  }
  if (auto ref = schema.find("$ref"); ref != schema.end() && ref->is_string()) {
    const std::string target = ref->get<std::string>();
    if (starts_with(target, "#")) {
      const Json::json_pointer pointer(target.substr(1));
      if (m_document.contains(pointer)) {
        expand(m_document.at(pointer), out, depth + 1);
      }
    }
  }
  for (const char *combinator : {"allOf", "anyOf", "oneOf"}) {
    if (auto it = schema.find(combinator); it != schema.end() && it->is_array()) {
      for (const auto &sub : *it) {
        expand(sub, out, depth + 1);
      }
    }
  }
}

std::vector<const Json *> SchemaChecker::resolve(const Json &instance,
                                                 const std::string &pointer) const {
  std::vector<const Json *> current;
  expand(m_document, current, 0);
  const auto tokens = pointer_tokens(pointer);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const Json *here = navigate(instance, tokens, i);
    const bool array = here && here->is_array();
    std::vector<const Json *> next;
    for (const Json *s : current) {
      if (!s->is_object()) {
        continue;
      }
      if (array) {
        if (auto items = s->find("items"); items != s->end() && items->is_object()) {
          expand(*items, next, 0);
        }
        continue;
      }
      auto properties = s->find("properties");
      if (properties != s->end() && properties->contains(tokens[i])) {
        expand((*properties)[tokens[i]], next, 0);
      } else if (auto extra = s->find("additionalProperties");
                 extra != s->end() && extra->is_object()) {
        expand(*extra, next, 0);
      }
    }
    current = std::move(next);
  }
  return current;
}

std::vector<std::string> SchemaChecker::known_keys(const Json &instance,
                                                   const std::string &pointer) const {
  std::vector<std::string> keys;
  std::set<std::string> forbidden;
  for (const Json *s : resolve(instance, pointer)) {
    if (!s->is_object() || !s->contains("properties")) {
      continue;
    }
    for (const auto &[key, sub] : (*s)["properties"].items()) {
      if (is_forbidden(sub)) {
        forbidden.insert(key);
      } else if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        keys.push_back(key);
      }
    }
  }
  std::erase_if(keys, [&](const std::string &k) { return forbidden.count(k) > 0; });
  return keys;
}

bool SchemaChecker::is_ignored(const YamlTree &tree, const std::string &pointer) const {
  for (const Json *s : resolve(tree.root, pointer)) {
    if (s->is_object() && (s->contains("x-ltb-ignored") || s->contains("x-ltb-unsupported"))) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> SchemaChecker::validate(const YamlTree &tree, Reporter &reporter,
                                                 bool name_given_elsewhere) const {
  std::vector<std::string> failed;
  // One validator per thread for the life of the process: it keeps the schema's patterns
  // compiled (valijson caches std::regex objects in the validator, and compiling the schema's
  // patterns again for every file was most of a small file's load time).
  thread_local valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(tree.root);
  validator.validate(m_compiled->schema, adapter, &results);

  std::vector<RawError> errors;
  for (const auto &e : results) {
    errors.push_back(classify(e));
  }
  auto any_under = [&](const std::vector<std::string> &prefix, bool strict, bool leaves_only,
                       const RawError *self) {
    return std::any_of(errors.begin(), errors.end(), [&](const RawError &other) {
      if (&other == self || (leaves_only && other.kind != ErrorKind::leaf)) {
        return false;
      }
      return has_prefix(other.tokens, prefix) && (!strict || other.tokens.size() > prefix.size());
    });
  };

  Explainer explainer(*this, tree, reporter, failed);
  // Unknown keys first: their did-you-mean may explain a "missing required key" at the same place.
  std::set<std::pair<std::string, std::string>> suggested; // (object pointer, suggested key)
  // valijson names only the first unknown key of a map; find them all.
  std::set<std::string> maps_done;
  for (const auto &e : errors) {
    if (e.kind != ErrorKind::leaf || !starts_with(e.description, "Object contains a property")) {
      continue;
    }
    const std::string pointer = pointer_join(e.tokens);
    if (!maps_done.insert(pointer).second) {
      continue;
    }
    const Json *object = navigate_pointer(tree.root, pointer);
    if (!object || !object->is_object()) {
      continue;
    }
    std::vector<std::string> keys;
    if (auto order = tree.key_order.find(pointer); order != tree.key_order.end()) {
      keys = order->second;
    } else {
      for (const auto &[key, value] : object->items()) {
        keys.push_back(key);
      }
    }
    const auto schemas = resolve(tree.root, pointer);
    for (const auto &key : keys) {
      const bool unknown = std::any_of(schemas.begin(), schemas.end(), [&](const Json *s) {
        if (!s->is_object() || s->value("additionalProperties", Json(true)) != Json(false)) {
          return false;
        }
        auto properties = s->find("properties");
        return properties == s->end() || !properties->contains(key);
      });
      if (!unknown) {
        continue;
      }
      std::string suggestion;
      explainer.unknown_key(e.tokens, key, &suggestion);
      if (!suggestion.empty()) {
        suggested.emplace(pointer, suggestion);
      }
    }
  }
  for (const auto &e : errors) {
    switch (e.kind) {
    case ErrorKind::leaf: {
      if (starts_with(e.description, "Object contains a property")) {
        break;
      }
      if (starts_with(e.description, "Missing required property '")) {
        const std::string key = quoted_between(e.description);
        if (suggested.count({pointer_join(e.tokens), key}) ||
            (e.tokens.empty() && key == "name" && name_given_elsewhere)) {
          break;
        }
      }
      explainer.leaf(e);
      break;
    }
    case ErrorKind::property_wrapper: {
      auto child = e.tokens;
      child.push_back(e.child);
      if (any_under(child, false, false, &e)) {
        break;
      }
      // Nothing below explains it: the property's schema is `false`, or a propertyNames check
      // failed (reported by check_key_names below).
      const std::string pointer = pointer_join(child);
      const auto schemas = resolve(tree.root, pointer);
      if (std::any_of(schemas.begin(), schemas.end(), [](const Json *s) {
            return s->is_object() && s->contains("propertyNames");
          })) {
        break;
      }
      explainer.forbidden(child);
      break;
    }
    case ErrorKind::item_wrapper: {
      auto child = e.tokens;
      child.push_back(e.child);
      if (!any_under(child, false, false, &e)) {
        explainer.leaf(RawError{child, e.description, ErrorKind::leaf, {}});
      }
      break;
    }
    case ErrorKind::additional_wrapper:
      if (!any_under(e.tokens, true, false, &e)) {
        explainer.leaf(e);
      }
      break;
    case ErrorKind::combinator:
      if (!any_under(e.tokens, false, true, &e)) {
        explainer.leaf(e);
      }
      break;
    }
  }

  // Map keys with a naming rule (propertyNames), e.g. node names; their patterns compiled once a
  // thread, as the validator's are.
  thread_local std::map<std::string, std::regex> regexes;
  std::function<void(const Json &, const std::string &)> walk = [&](const Json &value,
                                                                    const std::string &pointer) {
    if (value.is_object()) {
      for (const Json *s : resolve(tree.root, pointer)) {
        if (auto names = s->find("propertyNames"); names != s->end() && names->is_object()) {
          for (const auto &[key, child] : value.items()) {
            check_key_name(*names, key, pointer_append(pointer, key), tree, reporter, failed,
                           regexes);
          }
        }
      }
      for (const auto &[key, child] : value.items()) {
        walk(child, pointer_append(pointer, key));
      }
    } else if (value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        walk(value[i], pointer_append(pointer, i));
      }
    }
  };
  walk(tree.root, "");
  return failed;
}

void SchemaChecker::warn_ignored(const YamlTree &tree, Reporter &reporter) const {
  std::function<void(const Json &, const std::string &)> walk = [&](const Json &value,
                                                                    const std::string &pointer) {
    if (value.is_object()) {
      std::vector<std::string> keys;
      if (auto order = tree.key_order.find(pointer); order != tree.key_order.end()) {
        keys = order->second;
      } else {
        for (const auto &[key, child] : value.items()) {
          keys.push_back(key);
        }
      }
      for (const auto &key : keys) {
        const std::string child = pointer_append(pointer, key);
        const auto schemas = resolve(tree.root, child);
        const Json *mark = nullptr;
        const Json *unsupported = nullptr;
        for (const Json *s : schemas) {
          if (s->is_object() && s->contains("x-ltb-ignored")) {
            mark = &(*s)["x-ltb-ignored"];
          }
          if (s->is_object() && s->contains("x-ltb-unsupported")) {
            unsupported = &(*s)["x-ltb-unsupported"];
          }
        }
        if (unsupported) {
          // A key that would change how the lab behaves: ignoring it would be a silent change.
          reporter.error(key_loc(tree, child),
                         fmt::format("'{}' is a containerlab key ltb does not support", key),
                         unsupported->is_string() ? unsupported->get<std::string>()
                                                  : std::string("remove it"));
        } else if (mark) {
          reporter.warning(key_loc(tree, child),
                           fmt::format("'{}' is a containerlab key ltb ignores", key),
                           mark->is_string() ? mark->get<std::string>() : std::string());
        } else if (value.contains(key)) {
          walk(value[key], child);
        }
      }
    } else if (value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        walk(value[i], pointer_append(pointer, i));
      }
    }
  };
  walk(tree.root, "");
}

} // namespace ltb::topology::detail
