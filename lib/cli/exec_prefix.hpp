#pragma once
// Output of `ltb exec` on several nodes at once: each node's stdout and stderr cut into lines,
// each line written whole with the node's name in front, so that lines of parallel nodes never
// mix. Pure apart from LockedWriter, which owns the write(2) to one file descriptor.

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::cli {

/// Writes each piece it is given with one uninterrupted write (under a mutex shared by all the
/// threads that write to the same descriptor).
class LockedWriter {
public:
  explicit LockedWriter(int fd) : m_fd(fd) {}
  void write(std::string_view text);

private:
  int m_fd;
  std::mutex m_mutex;
};

/// "r1:" padded to the longest name, so that the outputs line up: node_prefix("r1", 6) == "r1: ".
std::string node_prefix(std::string_view node, std::size_t width);

/// The widest name among `nodes` (the width for node_prefix).
std::size_t prefix_width(const std::vector<std::string> &nodes);

/// Cuts a byte stream into lines and hands each on with a prefix, newline included. A line
/// longer than `max_line` is handed on in pieces of that size, each ended with a newline, so
/// that a stream without newlines cannot hold all its output back.
class LinePrefixer {
public:
  using Sink = std::function<void(std::string_view line)>;
  LinePrefixer(std::string prefix, Sink sink, std::size_t max_line = 64 * 1024)
      : m_prefix(std::move(prefix)), m_sink(std::move(sink)),
        m_max_line(max_line == 0 ? 1 : max_line) {}

  void feed(std::string_view data);
  /// Hands on the last line when the stream did not end with a newline (and adds one).
  void finish();

private:
  void emit(std::string_view line);

  std::string m_prefix;
  Sink m_sink;
  std::size_t m_max_line;
  std::string m_pending; // a line not yet ended
};

} // namespace ltb::cli
