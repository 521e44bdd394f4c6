#pragma once
// Loading a topology file: YAML (1.2 typing) -> JSON tree with a position for every value ->
// JSON Schema validation (schemas/ltb-topology.schema.json, compiled in) -> semantic checks ->
// resolved model. Every problem in the file is reported at once.

#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "topology/diagnostics.hpp"
#include "topology/model.hpp"

namespace ltb::topology {

struct LoadOptions {
  std::string lab_name; // --lab: overrides the file's `name`
  /// When set, receives the warnings of a successful load (a failed load returns them with the
  /// errors); render them with render().
  Diagnostics *warnings = nullptr;
  /// The lab is a non-admin's (ltb-topology(5), CONFINEMENT): bind mounts, host devices, network
  /// modes and capabilities, and files outside the topology file's directory are errors.
  bool confined = false;
};

using LoadResult = tl::expected<Topology, Diagnostics>;

/// Reads and validates FILE. On failure every diagnostic found is returned (exit code 2 territory).
LoadResult load_file(const std::string &path, const LoadOptions &options = {});

/// Same, from text already in memory; `file` names it in diagnostics, relative paths in the file
/// (binds, startup-config) resolve against `base_dir`.
LoadResult load_text(const std::string &text, const std::string &file, const std::string &base_dir,
                     const LoadOptions &options = {});

} // namespace ltb::topology
