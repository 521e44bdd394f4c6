#include "cli/exec_prefix.hpp"

#include <algorithm>
#include <cerrno>
#include <unistd.h>

namespace ltb::cli {

void LockedWriter::write(std::string_view text) {
  std::lock_guard lock(m_mutex);
  while (!text.empty()) {
    const auto written = ::write(m_fd, text.data(), text.size());
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return; // a closed reader: nothing more to do for this output (SIGPIPE ends ltb anyway)
    }
    text.remove_prefix(static_cast<std::size_t>(written));
  }
}

std::string node_prefix(std::string_view node, std::size_t width) {
  std::string prefix(node);
  prefix += ':';
  prefix.append(width > node.size() ? width - node.size() : 0, ' ');
  prefix += ' ';
  return prefix;
}

std::size_t prefix_width(const std::vector<std::string> &nodes) {
  std::size_t width = 0;
  for (const auto &node : nodes) {
    width = std::max(width, node.size());
  }
  return width;
}

void LinePrefixer::feed(std::string_view data) {
  while (!data.empty()) {
    const auto newline = data.find('\n');
    const auto piece = data.substr(0, newline == std::string_view::npos ? data.size() : newline);
    if (m_pending.size() + piece.size() > m_max_line) {
      // Fill the pending line up to the limit and hand it on as a line of its own.
      const auto take = m_max_line - std::min(m_max_line, m_pending.size());
      m_pending.append(piece.substr(0, take));
      emit(m_pending);
      m_pending.clear();
      data.remove_prefix(take);
      continue;
    }
    if (newline == std::string_view::npos) {
      m_pending.append(piece);
      return;
    }
    if (m_pending.empty()) {
      emit(piece);
    } else {
      m_pending.append(piece);
      emit(m_pending);
      m_pending.clear();
    }
    data.remove_prefix(newline + 1);
  }
}

void LinePrefixer::finish() {
  if (!m_pending.empty()) {
    emit(m_pending);
    m_pending.clear();
  }
}

void LinePrefixer::emit(std::string_view line) {
  std::string out;
  out.reserve(m_prefix.size() + line.size() + 1);
  out += m_prefix;
  out += line;
  out += '\n';
  m_sink(out);
}

} // namespace ltb::cli
