#pragma once
// Private to lib/topology: the pieces the loader is built from. YAML -> JSON with positions
// (yaml_tree.cpp), JSON Schema checks with human messages (schema_check.cpp). Not a public
// interface.

#include "topology/diagnostics.hpp"

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace ltb::topology::detail {

using Json = nlohmann::json;

/// How deep maps and lists may nest (ltb-topology(5), LIMITS). A topology needs about 6.
constexpr int k_max_nesting = 64;
/// How many values (scalars, maps, lists) all aliases of a file may expand to, together. A lab of
/// a thousand nodes that takes every field from an alias needs about 30,000.
constexpr std::size_t k_max_alias_values = 100'000;

/// Collects diagnostics about one file.
class Reporter {
public:
  Reporter(std::string file, std::vector<Diagnostic> &items)
      : m_file(std::move(file)), m_items(items) {}
  void error(SourceLoc loc, std::string message, std::string help = {});
  void warning(SourceLoc loc, std::string message, std::string help = {});
  /// A note belongs to the diagnostic reported just before it.
  void note(SourceLoc loc, std::string message);
  const std::string &file() const { return m_file; }
  bool has_errors() const;

private:
  void add(Severity severity, SourceLoc loc, std::string message, std::string help);
  std::string m_file;
  std::vector<Diagnostic> &m_items;
  bool m_suppress_notes = false; // the diagnostic the next notes belong to was a repeat
  std::set<std::tuple<int, int, int, std::string>> m_seen; // severity, line, column, message
};

/// Where a value of the JSON tree came from.
struct Position {
  SourceLoc key;   // the key naming this value; 0:0 for list items and the root
  SourceLoc value; // the value itself
  std::string raw; // a scalar as written (after YAML unquoting); empty for maps, lists and null
};

/// A YAML document as JSON (YAML 1.2 core schema typing) with the position of every key and value.
struct YamlTree {
  Json root;
  std::map<std::string, Position> positions;                 // by JSON pointer; "" is the root
  std::map<std::string, std::vector<std::string>> key_order; // the keys of each map, in file order
  bool parsed = false;                                       // false after a syntax error
};

/// Parses TEXT; syntax errors and duplicate keys are reported to `reporter`.
YamlTree parse_yaml(const std::string &text, Reporter &reporter);

/// JSON pointer of a child: "/topology" + "nodes" -> "/topology/nodes" (escapes '~' and '/').
std::string pointer_append(const std::string &pointer, std::string_view token);
std::string pointer_append(const std::string &pointer, std::size_t index);
/// "/a/b~1c" -> {"a", "b/c"}.
std::vector<std::string> pointer_tokens(const std::string &pointer);
std::string pointer_join(const std::vector<std::string> &tokens);

/// The value at POINTER, or nullptr.
const Json *navigate_pointer(const Json &root, const std::string &pointer);

/// The position of a value, or of its nearest ancestor that has one.
SourceLoc value_loc(const YamlTree &tree, const std::string &pointer);
/// The position of the key naming a value (the value's own position for list items).
SourceLoc key_loc(const YamlTree &tree, const std::string &pointer);

/// The compiled-in JSON Schema, parsed once, with what the loader needs to know about it.
class SchemaChecker {
public:
  /// The checker for the compiled-in schema; throws std::runtime_error if that schema is broken.
  static const SchemaChecker &instance();
  explicit SchemaChecker(std::string_view schema_text);
  explicit SchemaChecker(Json document);
  ~SchemaChecker();

  /// Validates the tree and reports each problem once, in words. Returns the pointers of the
  /// values that failed, so that later checks do not report them again.
  std::vector<std::string> validate(const YamlTree &tree, Reporter &reporter,
                                    bool name_given_elsewhere) const;

  /// Warns about every key the schema marks as accepted-but-ignored (x-ltb-ignored: containerlab
  /// keys that do not matter on one host), and reports every key it marks x-ltb-unsupported (a
  /// containerlab key ltb does not do, whose absence would change the lab) as an error.
  void warn_ignored(const YamlTree &tree, Reporter &reporter) const;

  /// True when the schema marks the key at POINTER as ignored or unsupported.
  bool is_ignored(const YamlTree &tree, const std::string &pointer) const;

  /// The subschemas that apply to the value at POINTER (after $ref and allOf/anyOf/oneOf).
  std::vector<const Json *> resolve(const Json &instance, const std::string &pointer) const;

  /// The keys a map at POINTER may have.
  std::vector<std::string> known_keys(const Json &instance, const std::string &pointer) const;

  const Json &document() const { return m_document; }

private:
  struct Compiled;
  void expand(const Json &schema, std::vector<const Json *> &out, int depth) const;
  Json m_document;
  std::unique_ptr<Compiled> m_compiled;
};

/// SCHEMA with its kind parts made from the kind registry (kinds.hpp): the enum and description
/// of a node's `kind`, and the entries of topology.kinds. The compiled-in schema is checked with
/// this; a unit test checks that the schema file already says the same, for editors.
Json schema_with_kinds(Json schema);

/// "routers, r1, r2" with at most `limit` names and ", ..." after them.
std::string list_names(const std::vector<std::string> &names, std::size_t limit = 5);

/// Help text for an unknown name: "did you mean 'x'?" or a list of the known names.
std::string suggest(std::string_view word, const std::vector<std::string> &candidates,
                    std::string_view what_plural);

} // namespace ltb::topology::detail
