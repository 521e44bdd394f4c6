#pragma once
// Snapshots that leave the host and come back (`ltb snapshot export|import`). The archive is one
// tar: manifest.json (the snapshot's record and, for each artifact, its node, type and the member
// holding it), each container image as `docker save` wrote it, and each file (startup-configs,
// VM memory states, VM disk layers). An import treats the archive as hostile: every entry is
// checked before anything is taken out of it, the manifest is validated whole, and the snapshot
// is recorded 'creating' before anything is made, so that a failure or a kill leaves nothing
// listed (recover_snapshots() removes the rest).

#include "apply/backends.hpp"
#include "service/service.hpp"
#include "state/store.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ltb::service {

/// The archive's layout version; an import refuses any other.
inline constexpr int k_snapshot_archive_format = 1;
inline constexpr const char *k_snapshot_manifest = "manifest.json";

struct SnapshotExportRequest {
  std::string lab;
  std::string name;
  std::string file; // the tar to write (replaced when it exists)
};

struct SnapshotExportOutcome {
  std::string file;
  std::size_t artifacts = 0;
  std::int64_t bytes = 0; // the archive's size
  std::int64_t total_ms = 0;
};

/// `ltb snapshot export LAB NAME -o FILE`. The archive appears whole or not at all. Errors: no
/// such snapshot, one not complete, an image or file of it lost.
Result<SnapshotExportOutcome> export_snapshot(const Session &session,
                                              const SnapshotExportRequest &request);
Result<SnapshotExportOutcome> export_snapshot(const Session &session, apply::Backends &backends,
                                              const SnapshotExportRequest &request);

struct SnapshotImportRequest {
  std::string file;
  std::string lab; // "" = the lab the snapshot was taken of
};

struct SnapshotImportOutcome {
  std::string lab; // the lab the snapshot is recorded under here
  std::string name;
  std::string from_lab; // the lab it was taken of
  std::size_t artifacts = 0;
  std::int64_t size_bytes = 0;
  std::int64_t total_ms = 0;
};

/// `ltb snapshot import FILE [--lab NEWLAB]`: its images loaded and named (and labelled) for the
/// importing lab, its files put into the snapshot's folder, its VM disk layers into the layers'
/// folder and pointed at each other and at the node's base image, which must exist here. The
/// snapshot is listed only once all of it is in place. Errors: an archive that is not one ltb
/// wrote (or was altered), a name that exists, a VM base image missing, the disk too small.
Result<SnapshotImportOutcome> import_snapshot(const Session &session,
                                              const SnapshotImportRequest &request);
/// The same on backends already open (unit tests hand it fakes); `now` in unix seconds.
Result<SnapshotImportOutcome> import_snapshot(const Session &session, apply::Backends &backends,
                                              const SnapshotImportRequest &request,
                                              std::int64_t now);

/// The container an import makes for a moment to give the image it loaded the labels of `image`
/// (an image artifact's name here): Docker cannot change a loaded image's labels, but a commit
/// of a container made (not started) from it adds them.
std::string relabel_container(const std::string &image);

/// What a killed import may have left of image artifact `image`: that container and, when
/// nothing names it, the image it was made from. Nothing to do is the usual case (one lookup).
void remove_import_leftovers(runtime::ContainerRuntime &docker, const std::string &image);

/// Fails, naming the node and the path, when topology `text` (a restore's) has a container node
/// that binds a host path missing here: a snapshot holds each node's own file system, not what it
/// binds from the host, and Docker would make an empty folder in its place. A text that does not
/// load passes (the deploy reports it).
Status check_bind_sources(const state::SnapshotRecord &snapshot, const std::string &text,
                          const std::string &base_dir);

} // namespace ltb::service
