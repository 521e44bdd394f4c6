// containerlab reads a file's text through hellt/envsubst (BytesRestrictedNoReplace with no-digit
// and no-replace) before YAML sees it. This follows its meaning where it is sane and reports what
// it would silently get wrong: an unclosed '${' is an error (as there), and so are operators it
// does not know (${VAR?msg}, ${VAR#pattern}: envsubst would quietly give the variable's value)
// and nested expressions in a default.

#include "topology/expand.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fmt/format.h>
#include <set>

namespace ltb::topology {

namespace {

constexpr std::string_view k_forms_help =
    "ltb expands what containerlab does: $NAME, ${NAME}, ${NAME:-default}, ${NAME:=default}, "
    "${NAME-default}, ${NAME=default}, ${NAME:+other} and ${NAME+other}; write '$$' for a '$' "
    "meant as written";

bool name_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::vector<std::size_t> line_starts(std::string_view text) {
  std::vector<std::size_t> starts{0};
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      starts.push_back(i + 1);
    }
  }
  return starts;
}

class Expander {
public:
  Expander(const std::string &text, const std::string &file, const EnvLookup &env)
      : m_text(text), m_file(file), m_env(env) {
    m_out.in_lines = line_starts(text);
  }

  Expansion run() {
    std::size_t i = 0;
    const std::size_t n = m_text.size();
    while (i < n) {
      const std::size_t dollar = m_text.find('$', i);
      if (dollar == std::string::npos) {
        copy(i, n);
        break;
      }
      copy(i, dollar);
      i = dollar;
      const char next = dollar + 1 < n ? m_text[dollar + 1] : '\0';
      if (next == '$') {
        m_out.used = true;
        emit("$", dollar);
        i = dollar + 2;
      } else if (next == '{') {
        i = braced(dollar);
      } else if (name_start(next)) {
        std::size_t end = dollar + 1;
        while (end < n && name_char(m_text[end])) {
          ++end;
        }
        const std::string name = m_text.substr(dollar + 1, end - dollar - 1);
        if (name == "_") {
          copy(dollar, end);
        } else {
          m_out.used = true;
          const auto value = lookup(name);
          if (value && !value->empty()) {
            emit(*value, dollar);
          } else {
            copy(dollar, end);
          }
        }
        i = end;
      } else {
        // "$1", "$ ", a '$' at the end: as written.
        copy(dollar, dollar + 1);
        i = dollar + 1;
      }
    }
    m_out.out_lines = line_starts(m_out.text);
    return std::move(m_out);
  }

private:
  /// "${...}" at AT; returns where scanning goes on.
  std::size_t braced(std::size_t at) {
    const std::size_t body = at + 2;
    if (body < m_text.size() && std::isdigit(static_cast<unsigned char>(m_text[body]))) {
      copy(at, body + 1); // "${1": containerlab leaves positional-looking names alone
      return body + 1;
    }
    const std::size_t close = m_text.find_first_of("}\r\n", body);
    if (close == std::string::npos || m_text[close] != '}') {
      m_out.used = true;
      error(at, "'${' is not closed on its line",
            "write ${NAME} or ${NAME:=default} on one line; write '$${' for a '${' meant as "
            "written");
      copy(at, body);
      return body;
    }
    const std::string_view inside = std::string_view(m_text).substr(body, close - body);
    if (inside.empty() || !name_start(inside[0])) {
      copy(at, close + 1); // "${}", "${ x}": containerlab leaves them as written
      return close + 1;
    }
    m_out.used = true;
    std::size_t name_end = 0;
    while (name_end < inside.size() && name_char(inside[name_end])) {
      ++name_end;
    }
    const std::string name(inside.substr(0, name_end));
    std::string_view rest = inside.substr(name_end);
    std::string op;
    for (std::string_view candidate : {":-", ":=", ":+", "-", "=", "+"}) {
      if (rest.substr(0, candidate.size()) == candidate) {
        op = std::string(candidate);
        break;
      }
    }
    const std::string written(std::string_view(m_text).substr(at, close + 1 - at));
    if (!rest.empty() && op.empty()) {
      error(at, fmt::format("'{}' is not an expansion ltb knows", written),
            std::string(k_forms_help));
      copy(at, close + 1);
      return close + 1;
    }
    const std::string_view word = rest.substr(op.size());
    if (word.find("${") != std::string_view::npos) {
      error(at, fmt::format("'{}' nests an expansion in another", written),
            "containerlab does not expand a '${' inside a default: give the default as text or "
            "as $NAME");
      copy(at, close + 1);
      return close + 1;
    }
    const auto value = lookup(name);
    const bool set = value.has_value();
    const bool full = set && !value->empty();
    std::optional<std::string> result;
    if (op.empty()) {
      if (full) {
        result = *value;
      } else {
        warn_unset(at, name, set);
      }
    } else if (op == ":-" || op == ":=") {
      result = full ? *value : expand_word(word);
    } else if (op == "-" || op == "=") {
      if (!set) {
        result = expand_word(word);
      } else if (full) {
        result = *value;
      }
    } else {
      result = set ? expand_word(word) : std::string();
    }
    if (result) {
      emit(*result, at);
    } else {
      copy(at, close + 1);
    }
    return close + 1;
  }

  /// A default: text with $NAME and $$ in it.
  std::string expand_word(std::string_view word) {
    std::string out;
    for (std::size_t i = 0; i < word.size(); ++i) {
      if (word[i] != '$' || i + 1 >= word.size()) {
        out.push_back(word[i]);
        continue;
      }
      if (word[i + 1] == '$') {
        out.push_back('$');
        ++i;
        continue;
      }
      if (!name_start(word[i + 1])) {
        out.push_back('$');
        continue;
      }
      std::size_t end = i + 1;
      while (end < word.size() && name_char(word[end])) {
        ++end;
      }
      const std::string name(word.substr(i + 1, end - i - 1));
      const auto value = lookup(name);
      out += value && !value->empty() ? *value : std::string(word.substr(i, end - i));
      i = end - 1;
    }
    return out;
  }

  std::optional<std::string> lookup(const std::string &name) {
    if (std::find(m_out.variables.begin(), m_out.variables.end(), name) == m_out.variables.end()) {
      m_out.variables.push_back(name);
    }
    return m_env ? m_env(name) : std::nullopt;
  }

  void warn_unset(std::size_t at, const std::string &name, bool set) {
    if (!m_warned.insert(name).second) {
      return;
    }
    m_out.diagnostics.push_back(Diagnostic{
        Severity::warning, m_file, loc(at),
        fmt::format("environment variable {} is {}: '${{{}}}' is left as written", name,
                    set ? "empty" : "not set", name),
        fmt::format("set {} before running ltb, or give a default: ${{{}:=VALUE}}", name, name)});
  }

  void error(std::size_t at, std::string message, std::string help) {
    m_out.diagnostics.push_back(
        Diagnostic{Severity::error, m_file, loc(at), std::move(message), std::move(help)});
  }

  SourceLoc loc(std::size_t offset) const {
    const auto &lines = m_out.in_lines;
    const auto line = std::upper_bound(lines.begin(), lines.end(), offset) - lines.begin();
    return {static_cast<int>(line),
            static_cast<int>(offset - lines[static_cast<std::size_t>(line) - 1] + 1)};
  }

  /// Copies m_text[begin, end) as written.
  void copy(std::size_t begin, std::size_t end) {
    if (begin >= end) {
      return;
    }
    auto &segments = m_out.segments;
    const bool continues = !segments.empty() && segments.back().literal &&
                           segments.back().in + (m_out.text.size() - segments.back().out) == begin;
    if (!continues) {
      segments.push_back({m_out.text.size(), begin, true});
    }
    m_out.text.append(m_text, begin, end - begin);
  }

  /// Appends the value of the expression that starts at AT.
  void emit(const std::string &value, std::size_t at) {
    m_out.segments.push_back({m_out.text.size(), at, false});
    m_out.text += value;
  }

  const std::string &m_text;
  const std::string &m_file;
  const EnvLookup &m_env;
  Expansion m_out;
  std::set<std::string> m_warned;
};

} // namespace

EnvLookup process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    if (const char *value = std::getenv(std::string(name).c_str())) {
      return std::string(value);
    }
    return std::nullopt;
  };
}

SourceLoc Expansion::original(SourceLoc expanded) const {
  if (expanded.line <= 0 || out_lines.empty() || segments.empty()) {
    return expanded;
  }
  const auto line =
      std::min<std::size_t>(static_cast<std::size_t>(expanded.line), out_lines.size());
  const std::size_t offset =
      out_lines[line - 1] + static_cast<std::size_t>(std::max(0, expanded.column - 1));
  auto segment = std::upper_bound(segments.begin(), segments.end(), offset,
                                  [](std::size_t o, const Segment &s) { return o < s.out; });
  if (segment == segments.begin()) {
    return expanded;
  }
  --segment;
  const std::size_t in = segment->literal ? segment->in + (offset - segment->out) : segment->in;
  const auto in_line = std::upper_bound(in_lines.begin(), in_lines.end(), in) - in_lines.begin();
  return {static_cast<int>(in_line),
          static_cast<int>(in - in_lines[static_cast<std::size_t>(in_line) - 1] + 1)};
}

Expansion expand_environment(const std::string &text, const std::string &file,
                             const EnvLookup &env) {
  return Expander(text, file, env).run();
}

} // namespace ltb::topology
