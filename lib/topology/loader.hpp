#pragma once
// Loading a topology file: YAML (1.2 typing) -> JSON tree with a position for every value ->
// JSON Schema validation (schemas/ltb-topology.schema.json, compiled in) -> semantic checks ->
// resolved model. Every problem in the file is reported at once.

#include "topology/diagnostics.hpp"
#include "topology/expand.hpp"
#include "topology/model.hpp"

#include <cstdint>
#include <string>
#include <tl/expected.hpp>
#include <vector>

namespace ltb::topology {

struct LoadOptions {
  std::string lab_name; // --lab: overrides the file's `name`
  /// When set, receives the warnings of a successful load (a failed load returns them with the
  /// errors); render them with render().
  Diagnostics *warnings = nullptr;
  /// The lab is a non-admin's (ltb-topology(5), CONFINEMENT): bind mounts, host devices, network
  /// modes and capabilities, and files outside the topology file's directory are errors.
  bool confined = false;
  /// lab_name is a recorded lab's id (OWNER__NAME for a user's lab, see load_recorded()): taken
  /// as it is, without the rules of a name a user gives.
  bool lab_name_is_id = false;
  /// Expand ${VAR} and the other forms containerlab knows (expand.hpp) before reading the YAML.
  /// Off for text recorded after its expansion (load_recorded()).
  bool expand_environment = true;
  /// Where variables come from; empty = the process environment.
  EnvLookup environment = {};
};

using LoadResult = tl::expected<Topology, Diagnostics>;

/// The largest topology file ltb reads (ltb-topology(5), LIMITS): a lab of 4,096 nodes and 2,048
/// links takes about 150 KiB, and parsing takes about half a second per MiB.
inline constexpr std::uint64_t k_max_topology_bytes = std::uint64_t{4} << 20;
/// The largest startup-config or env-file the loader reads.
inline constexpr std::uint64_t k_max_referenced_bytes = std::uint64_t{16} << 20;

/// Reads a topology file whole: a directory, a file that cannot be read or one larger than
/// k_max_topology_bytes is an error naming it, before anything of it is parsed (a pipe is read
/// up to the limit).
tl::expected<std::string, Diagnostics> read_topology_file(const std::string &path);

/// Reads and validates FILE. On failure every diagnostic found is returned (exit code 2 territory).
LoadResult load_file(const std::string &path, const LoadOptions &options = {});

/// Same, from text already in memory; `file` names it in diagnostics, relative paths in the file
/// (binds, startup-config) resolve against `base_dir`.
LoadResult load_text(const std::string &text, const std::string &file, const std::string &base_dir,
                     const LoadOptions &options = {});

/// A recorded lab's topology loaded again from the text it was deployed with: ID (the lab's
/// recorded id) becomes its name, and relative paths resolve beside FILE (the file recorded with
/// it: the lab's own copy of its files when it came through the daemon), or in FALLBACK_DIR when
/// none was recorded. Diagnostics name FILE, or "<recorded topology>".
LoadResult load_recorded(const std::string &text, const std::string &file, const std::string &id,
                         const std::string &fallback_dir, LoadOptions options = {});

} // namespace ltb::topology
