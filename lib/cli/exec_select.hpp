#pragma once
// Which nodes `ltb exec` runs on, and how a command travels to a VM: pure functions over the
// lab's node list, for the unit tests.

#include "util/error.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::cli {

/// One --label KEY=VALUE.
struct LabelFilter {
  std::string key;
  std::string value;
};

/// Parses every --label; fails (usage) on one without '=' or with an empty key.
Result<std::vector<LabelFilter>> parse_label_filters(const std::vector<std::string> &args);

/// A node of the lab as selection sees it.
struct ExecCandidate {
  std::string name;
  std::string kind; // a bridge's kind (runtime ovs_bridge) has nothing to run a command in
  std::map<std::string, std::string> labels;
};

struct Selection {
  std::vector<std::string> nodes;   // in the order of the candidates
  std::vector<std::string> bridges; // matched, but ovs-bridge nodes: skipped
};

/// The candidates carrying every filter's KEY=VALUE (all of them when there are no filters).
Selection select_nodes(const std::vector<ExecCandidate> &candidates,
                       const std::vector<LabelFilter> &filters);

} // namespace ltb::cli
