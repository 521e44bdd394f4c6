#include "cli/exec_select.hpp"

#include "topology/kinds.hpp"

#include <fmt/format.h>

namespace ltb::cli {

Result<std::vector<LabelFilter>> parse_label_filters(const std::vector<std::string> &args) {
  std::vector<LabelFilter> filters;
  for (const auto &arg : args) {
    const auto equals = arg.find('=');
    if (equals == std::string::npos || equals == 0) {
      return fail(fmt::format("--label '{}' is not KEY=VALUE", arg),
                  "write it as the node's label in the topology, e.g. --label role=core",
                  ExitCode::usage);
    }
    filters.push_back({arg.substr(0, equals), arg.substr(equals + 1)});
  }
  return filters;
}

Selection select_nodes(const std::vector<ExecCandidate> &candidates,
                       const std::vector<LabelFilter> &filters) {
  Selection selection;
  for (const auto &candidate : candidates) {
    bool match = true;
    for (const auto &filter : filters) {
      const auto found = candidate.labels.find(filter.key);
      if (found == candidate.labels.end() || found->second != filter.value) {
        match = false;
        break;
      }
    }
    if (!match) {
      continue;
    }
    const bool bridge = !topology::is_workload(topology::runtime_of_kind(candidate.kind));
    (bridge ? selection.bridges : selection.nodes).push_back(candidate.name);
  }
  return selection;
}

} // namespace ltb::cli
