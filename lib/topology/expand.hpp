#pragma once
// Environment-variable expansion of a topology file's text, as containerlab does it before it reads
// the YAML (containerlab's core/file.go: hellt/envsubst with "no replace" and "no digit"): $VAR,
// ${VAR}, ${VAR:-default}, ${VAR:=default}, ${VAR-default}, ${VAR=default}, ${VAR:+other},
// ${VAR+other}; $$ is a '$'. A variable that is not set (or empty) is left as written, so that a
// '$' in a password survives. The expanded text keeps a map back to the original, so that
// diagnostics point at the file as written.

#include "topology/diagnostics.hpp"

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::topology {

/// Looks a variable up; nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

/// The process environment (getenv).
EnvLookup process_environment();

struct Expansion {
  std::string text; // the expanded text
  /// Problems, located in the original text: errors for malformed expressions, warnings for
  /// ${VAR} whose variable is not set.
  std::vector<Diagnostic> diagnostics;
  /// True when the text had an expression (expanded or not): `ltb validate --containerlab`.
  bool used = false;
  std::vector<std::string> variables; // the names read, in order, without repeats

  /// Where a place of the expanded text came from: 1-based line and column in the original.
  SourceLoc original(SourceLoc expanded) const;

  struct Segment {
    std::size_t out = 0;  // offset in the expanded text
    std::size_t in = 0;   // offset in the original
    bool literal = false; // copied as written (else the value of an expression)
  };
  std::vector<Segment> segments;
  std::vector<std::size_t> in_lines;  // offset of each line of the original
  std::vector<std::size_t> out_lines; // offset of each line of the expanded text
};

/// Expands TEXT (FILE names it in diagnostics) with the variables of ENV.
Expansion expand_environment(const std::string &text, const std::string &file,
                             const EnvLookup &env);

} // namespace ltb::topology
