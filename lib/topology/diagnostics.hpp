#pragma once
// Diagnostics about input files: FILE:LINE:COL: error: MESSAGE, the source line, a caret, a help
// line, and "did you mean" suggestions.

#include <string>
#include <string_view>
#include <vector>

#include "topology/model.hpp"

namespace ltb::topology {

enum class Severity { error, warning, note };

struct Diagnostic {
  Severity severity = Severity::error;
  std::string file;
  SourceLoc loc; // 0:0 when the problem has no place in the file (for example a missing key's parent)
  std::string message;
  std::string help; // empty = none
};

struct Diagnostics {
  std::string source_text; // for rendering the source line under each diagnostic
  std::vector<Diagnostic> items;
  bool has_errors() const;
};

/// Renders every diagnostic, sorted by position, in the house format. `color` adds ANSI colour.
std::string render(const Diagnostics &diagnostics, bool color);

/// The closest candidate to `word` by edit distance, if close enough to be a likely typo; else "".
std::string did_you_mean(std::string_view word, const std::vector<std::string> &candidates);

} // namespace ltb::topology
