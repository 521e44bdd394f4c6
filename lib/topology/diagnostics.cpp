#include "topology/diagnostics.hpp"

#include "topology/detail.hpp"
#include "util/utf8.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>

namespace ltb::topology {

namespace {

constexpr std::string_view k_bold_red = "\033[1;31m";
constexpr std::string_view k_yellow = "\033[1;33m";
constexpr std::string_view k_cyan = "\033[1;36m";
constexpr std::string_view k_bold = "\033[1m";
constexpr std::string_view k_reset = "\033[0m";
constexpr std::string_view k_ellipsis = "\u2026"; // one column wide, where a line is cut
/// Source lines longer than this are cut around the caret (a minified or machine-made file can
/// have one line of megabytes).
constexpr std::size_t k_max_shown = 120;

std::string_view severity_name(Severity severity) {
  switch (severity) {
  case Severity::error:
    return "error";
  case Severity::warning:
    return "warning";
  case Severity::note:
    return "note";
  }
  return "error";
}

std::string_view severity_color(Severity severity) {
  switch (severity) {
  case Severity::error:
    return k_bold_red;
  case Severity::warning:
    return k_yellow;
  case Severity::note:
    return k_bold;
  }
  return k_bold;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      if (start < text.size()) {
        lines.push_back(text.substr(start));
      }
      break;
    }
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

/// The part of a source line shown: all of it, or k_max_shown bytes around the caret.
struct Window {
  std::size_t begin = 0;
  std::size_t end = 0;
};

bool continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

Window window_around(std::string_view line, std::size_t caret) {
  if (line.size() <= k_max_shown) {
    return {0, line.size()};
  }
  // The caret a third of the way in: what leads to the error matters more than what follows.
  std::size_t begin = caret > k_max_shown / 3 ? caret - k_max_shown / 3 : 0;
  std::size_t end = std::min(line.size(), begin + k_max_shown);
  begin = std::min(begin, end > k_max_shown ? end - k_max_shown : 0);
  // Cut between UTF-8 characters, never inside one.
  while (begin > 0 && begin < line.size() && continuation_byte(line[begin])) {
    --begin;
  }
  while (end < line.size() && end > begin && continuation_byte(line[end])) {
    --end;
  }
  return {begin, end};
}

void render_one(std::string &out, const Diagnostic &d, const std::vector<std::string_view> &lines,
                bool color) {
  if (d.loc.line > 0) {
    out += fmt::format("{}:{}:{}: ", d.file, d.loc.line, d.loc.column);
  } else {
    out += fmt::format("{}: ", d.file);
  }
  if (color) {
    out += fmt::format("{}{}:{} ", severity_color(d.severity), severity_name(d.severity), k_reset);
  } else {
    out += fmt::format("{}: ", severity_name(d.severity));
  }
  // A value quoted in a message, and the source line, may hold what a terminal must not get.
  out += util::printable(d.message);
  out += '\n';
  if (d.loc.line > 0 && static_cast<std::size_t>(d.loc.line) <= lines.size()) {
    const std::string_view line = lines[d.loc.line - 1];
    const std::size_t caret = static_cast<std::size_t>(std::max(1, d.loc.column) - 1);
    const Window window = window_around(line, caret);
    const std::string_view source = line.substr(window.begin, window.end - window.begin);
    const std::string number = std::to_string(d.loc.line);
    out += fmt::format("   {} | {}{}{}\n", number, window.begin > 0 ? k_ellipsis : "",
                       util::printable(source), window.end < line.size() ? k_ellipsis : "");
    // Keep tabs in the padding so that the caret lines up under tab-indented text; one space
    // per character, not per byte, of UTF-8 text.
    std::string pad(window.begin > 0 ? 1 : 0, ' ');
    for (std::size_t index = window.begin; index < caret; ++index) {
      if (index < line.size() && continuation_byte(line[index])) {
        continue;
      }
      pad.push_back(index < line.size() && line[index] == '\t' ? '\t' : ' ');
    }
    out += fmt::format("   {} | {}", std::string(number.size(), ' '), pad);
    if (color) {
      out += fmt::format("{}^{}\n", severity_color(d.severity), k_reset);
    } else {
      out += "^\n";
    }
  }
  if (!d.help.empty()) {
    if (color) {
      out += fmt::format("{}help:{} {}\n", k_cyan, k_reset, util::printable(d.help));
    } else {
      out += fmt::format("help: {}\n", util::printable(d.help));
    }
  }
}

char fold(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b, bool fold_case) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) {
    d[i][0] = i;
  }
  for (std::size_t j = 0; j <= m; ++j) {
    d[0][j] = j;
  }
  auto same = [&](char x, char y) { return fold_case ? fold(x) == fold(y) : x == y; };
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = same(a[i - 1], b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) && same(a[i - 2], b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

} // namespace

bool Diagnostics::has_errors() const {
  return std::any_of(items.begin(), items.end(),
                     [](const Diagnostic &d) { return d.severity == Severity::error; });
}

std::string render(const Diagnostics &diagnostics, bool color) {
  // A note explains the diagnostic before it, so each keeps its notes when sorting by position.
  std::vector<std::vector<const Diagnostic *>> groups;
  for (const auto &d : diagnostics.items) {
    if (d.severity == Severity::note && !groups.empty()) {
      groups.back().push_back(&d);
    } else {
      groups.push_back({&d});
    }
  }
  std::stable_sort(groups.begin(), groups.end(), [](const auto &x, const auto &y) {
    const SourceLoc a = x.front()->loc;
    const SourceLoc b = y.front()->loc;
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  const auto lines = split_lines(diagnostics.source_text);
  std::string out;
  for (const auto &group : groups) {
    for (const Diagnostic *d : group) {
      render_one(out, *d, lines, color);
    }
  }
  return out;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string> &candidates) {
  const std::size_t threshold = std::max<std::size_t>(1, word.size() / 3);
  const std::string *best = nullptr;
  std::size_t best_folded = 0;
  std::size_t best_exact = 0;
  for (const auto &candidate : candidates) {
    if (candidate == word) {
      continue;
    }
    const std::size_t folded = edit_distance(word, candidate, true);
    if (folded > threshold) {
      continue;
    }
    const std::size_t exact = edit_distance(word, candidate, false);
    if (!best || folded < best_folded || (folded == best_folded && exact < best_exact)) {
      best = &candidate;
      best_folded = folded;
      best_exact = exact;
    }
  }
  return best ? *best : std::string();
}

namespace detail {

void Reporter::error(SourceLoc loc, std::string message, std::string help) {
  add(Severity::error, loc, std::move(message), std::move(help));
}

void Reporter::warning(SourceLoc loc, std::string message, std::string help) {
  add(Severity::warning, loc, std::move(message), std::move(help));
}

void Reporter::note(SourceLoc loc, std::string message) {
  add(Severity::note, loc, std::move(message), {});
}

bool Reporter::has_errors() const {
  return std::any_of(m_items.begin(), m_items.end(),
                     [](const Diagnostic &d) { return d.severity == Severity::error; });
}

void Reporter::add(Severity severity, SourceLoc loc, std::string message, std::string help) {
  // The same problem reached twice (a value inherited by many nodes) is reported once.
  if (severity != Severity::note) {
    if (!m_seen.emplace(static_cast<int>(severity), loc.line, loc.column, message).second) {
      m_suppress_notes = true;
      return;
    }
    m_suppress_notes = false;
  } else if (m_suppress_notes) {
    return;
  }
  m_items.push_back(Diagnostic{severity, m_file, loc, std::move(message), std::move(help)});
}

std::string list_names(const std::vector<std::string> &names, std::size_t limit) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < limit; ++i) {
    if (i) {
      out += ", ";
    }
    out += names[i];
  }
  if (names.size() > limit) {
    out += ", ...";
  }
  return out;
}

std::string suggest(std::string_view word, const std::vector<std::string> &candidates,
                    std::string_view what_plural) {
  if (std::string best = did_you_mean(word, candidates); !best.empty()) {
    return fmt::format("did you mean '{}'?", best);
  }
  if (candidates.empty()) {
    return {};
  }
  return fmt::format("{}: {}", what_plural, list_names(candidates));
}

} // namespace detail

} // namespace ltb::topology
