#include "event/progress.hpp"

#include <chrono>
#include <cstdio>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <map>
#include <mutex>

namespace ltb::event {

const char *phase_name(Phase phase) {
  switch (phase) {
  case Phase::waiting:
    return "waiting";
  case Phase::pulling:
    return "pulling";
  case Phase::creating:
    return "creating";
  case Phase::wiring:
    return "wiring";
  case Phase::configuring:
    return "configuring";
  case Phase::running:
    return "running";
  case Phase::removing:
    return "removing";
  case Phase::removed:
    return "removed";
  case Phase::stopping:
    return "stopping";
  case Phase::stopped:
    return "stopped";
  case Phase::starting:
    return "starting";
  case Phase::failed:
    return "failed";
  }
  return "";
}

namespace {

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  return fmt::format("{:%H:%M:%S}.{:03d}",
                     fmt::localtime(std::chrono::system_clock::to_time_t(now)),
                     static_cast<int>(ms.count()));
}

class LineProgress : public Progress {
public:
  explicit LineProgress(bool quiet) : m_quiet(quiet) {}
  void node(const std::string &node, Phase phase, const std::string &detail) override {
    if (m_quiet && phase != Phase::failed) {
      return;
    }
    std::lock_guard lock(m_mutex);
    fmt::print(stderr, "{} {}: {}{}{}\n", timestamp(), node, phase_name(phase),
               detail.empty() ? "" : ": ", detail);
  }
  void notice(const std::string &line) override {
    std::lock_guard lock(m_mutex);
    fmt::print(stderr, "{} {}\n", timestamp(), line);
  }
  void finish() override {}

private:
  bool m_quiet;
  std::mutex m_mutex;
};

/// Redraws a block of lines in place with ANSI cursor movement.
class LiveProgress : public Progress {
public:
  LiveProgress(const std::vector<std::string> &nodes, bool color)
      : m_color(color), m_start(std::chrono::steady_clock::now()) {
    for (const auto &node : nodes) {
      m_width = std::max(m_width, node.size());
      m_rows.push_back({node, Phase::waiting, {}});
    }
    std::lock_guard lock(m_mutex);
    draw();
  }
  void node(const std::string &node, Phase phase, const std::string &detail) override {
    std::lock_guard lock(m_mutex);
    for (auto &row : m_rows) {
      if (row.node == node) {
        row.phase = phase;
        row.detail = detail;
        draw();
        return;
      }
    }
    m_rows.push_back({node, phase, detail});
    m_width = std::max(m_width, node.size());
    draw();
  }
  void notice(const std::string &line) override {
    std::lock_guard lock(m_mutex);
    m_notices.push_back(line);
    draw();
  }
  void finish() override {
    std::lock_guard lock(m_mutex);
    draw();
  }

private:
  struct Row {
    std::string node;
    Phase phase;
    std::string detail;
  };

  const char *colour_of(Phase phase) const {
    if (!m_color) {
      return "";
    }
    switch (phase) {
    case Phase::running:
    case Phase::removed:
    case Phase::stopped:
      return "\033[32m";
    case Phase::failed:
      return "\033[31m";
    case Phase::waiting:
      return "\033[2m";
    default:
      return "\033[33m";
    }
  }

  void draw() {
    std::string out;
    if (m_drawn > 0) {
      out += fmt::format("\033[{}F", m_drawn); // to the first line of the block
    }
    for (const auto &notice : m_notices) {
      out += "\033[2K" + notice + "\n";
    }
    auto elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
    for (const auto &row : m_rows) {
      out += fmt::format("\033[2K  {:<{}}  {}{:<11}{}{}{}\n", row.node, m_width,
                         colour_of(row.phase), phase_name(row.phase), m_color ? "\033[0m" : "",
                         row.detail.empty() ? "" : "  ", row.detail);
    }
    out += fmt::format("\033[2K  {:.1f}s\n", elapsed);
    m_drawn = static_cast<int>(m_notices.size() + m_rows.size() + 1);
    std::fputs(out.c_str(), stderr);
    std::fflush(stderr);
  }

  bool m_color;
  std::chrono::steady_clock::time_point m_start;
  std::size_t m_width = 4;
  std::vector<Row> m_rows;
  std::vector<std::string> m_notices;
  int m_drawn = 0;
  std::mutex m_mutex;
};

} // namespace

std::unique_ptr<Progress> make_progress(const std::vector<std::string> &nodes,
                                        const ProgressOptions &options) {
  if (options.live && !options.quiet) {
    return std::make_unique<LiveProgress>(nodes, options.color);
  }
  return std::make_unique<LineProgress>(options.quiet);
}

} // namespace ltb::event
