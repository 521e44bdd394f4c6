#pragma once
// `ltb graph`: the drawing of a lab (graph/graph.hpp) from a lab file or from the state file,
// with each node's and link's live state when the lab is deployed.

#include "graph/graph.hpp"
#include "service/service.hpp"
#include "topology/model.hpp"
#include "util/error.hpp"

#include <string>

namespace ltb::service {

/// The graph of a loaded lab file; live states when the state file records a lab of its name.
Result<graph::Graph> graph_of_file(const Session &session, const topology::Topology &topology);

/// The graph of a recorded lab, with live states; "no lab named X" (with a did-you-mean) when the
/// state file has none.
Result<graph::Graph> graph_of_lab(const Session &session, const std::string &lab);

} // namespace ltb::service
