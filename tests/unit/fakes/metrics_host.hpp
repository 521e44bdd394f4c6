#pragma once
// The files service/metrics reads (/proc, /sys/fs/cgroup) and the file systems it measures, in
// memory: a test writes what the kernel would show.

#include "service/metrics.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace ltb::fakes {

class FakeMetricsHost final : public service::MetricsHost {
public:
  std::map<std::string, std::string> files;
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> filesystems; // path -> size, free
  long ticks = 100;

  std::optional<std::string> read(const std::string &path) override {
    auto it = files.find(path);
    return it == files.end() ? std::nullopt : std::make_optional(it->second);
  }
  std::optional<std::pair<std::int64_t, std::int64_t>>
  filesystem(const std::string &path) override {
    auto it = filesystems.find(path);
    return it == filesystems.end() ? std::nullopt : std::make_optional(it->second);
  }
  long clock_ticks() override { return ticks; }
};

} // namespace ltb::fakes
