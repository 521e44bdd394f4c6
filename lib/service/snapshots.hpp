#pragma once
// Snapshots of a running lab (`ltb snapshot create|list|rm|restore`). A snapshot is one instant
// of the whole lab: every node is paused at once (containers frozen), the lab's recorded state
// and each node's interfaces are read, each container's file system changes are committed as an
// image on top of its image (in parallel), and the nodes run again, even when a step fails. A
// restore deploys the recorded topology with the snapshot's images and puts back what was
// recorded (addresses, impairments set at run time, links down, stopped nodes), in place or as a
// new lab beside the original.

#include "apply/backends.hpp"
#include "service/backends.hpp"
#include "service/owners.hpp"
#include "service/service.hpp"
#include "state/store.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ltb::service {

struct SnapshotCreateRequest {
  std::string lab;
  std::string name; // "" = from the time: 20261206-134501
  bool memory = false;
  int workers = 8;
};

struct SnapshotCreateOutcome {
  std::string lab;
  std::string name;
  std::vector<std::string> nodes; // whose state the snapshot holds
  std::int64_t size_bytes = 0;    // what the snapshot adds on disk (its images' own layers)
  std::int64_t pause_ms = 0;      // first node paused to last resumed
  std::int64_t total_ms = 0;
};

/// `ltb snapshot create`. Errors (nothing made, nothing left paused): the lab is not running, the
/// name exists or is invalid, the disk cannot hold the snapshot (checked before pausing), a node
/// cannot be paused or committed.
Result<SnapshotCreateOutcome> create_snapshot(const Session &session,
                                              const SnapshotCreateRequest &request);
/// The same on backends already open (unit tests hand it fakes); `now` in unix seconds.
Result<SnapshotCreateOutcome> create_snapshot(const Session &session, apply::Backends &backends,
                                              const SnapshotCreateRequest &request,
                                              std::int64_t now);

/// `ltb snapshot list [LAB]`: complete snapshots, by lab then age; of LAB (one the caller may see),
/// else those the filter shows (by default the caller's own). Labs by the names the caller sees.
Result<std::vector<state::SnapshotRecord>>
list_snapshots(const Session &session, const std::string &lab, const OwnerFilter &filter = {});

/// A complete snapshot of a lab the caller names (LAB may be gone: snapshots outlive their lab)
/// that the caller may act on; "lab X has no snapshot named N" otherwise.
Result<state::SnapshotRecord> find_snapshot(state::Store &store, const Caller &caller,
                                            const std::string &lab, const std::string &name);

/// `ltb snapshot rm LAB NAME`: the snapshot's images, files and record.
Status remove_snapshot(const Session &session, const std::string &lab, const std::string &name);
Status remove_snapshot(const Session &session, apply::Backends &backends, const std::string &lab,
                       const std::string &name);

struct SnapshotRestoreRequest {
  std::string lab;
  std::string name;
  std::string as; // "" = in place; else a new lab of this name beside the original
  int workers = 8;
};

struct SnapshotRestoreOutcome {
  std::string lab; // the lab that runs the snapshot now
  std::vector<std::string> nodes;
  std::int64_t total_ms = 0;
};

/// `ltb snapshot restore`. In place: the lab's nodes are replaced by the snapshot's. With `as`:
/// a new lab (its own names, management subnet and MACs) runs beside the original.
Result<SnapshotRestoreOutcome> restore_snapshot(const Session &session,
                                                const SnapshotRestoreRequest &request);

/// The topology text a restore deploys: the recorded one with each container's image replaced
/// by the snapshot's and labelled k_label_snapshot_restored = NAME@`restore_id` (so that each
/// is made again), each startup-config by the snapshot's copy, and for a new lab (`as` not "")
/// without a pinned management subnet. Pure; exposed for tests.
Result<std::string> restore_text(const state::SnapshotRecord &snapshot,
                                 const std::vector<state::SnapshotArtifact> &artifacts,
                                 const std::string &as, const std::string &restore_id);

/// How a restore makes the snapshot's VMs (by node): each on a new disk over its kept layer, and
/// in place from its saved memory. A lab beside the original (`in_place` false) has another
/// management subnet, which the saved memory does not know: its VMs boot (`memory_dropped`).
std::map<std::string, apply::VmRestore>
vm_restores(const state::SnapshotRecord &snapshot,
            const std::vector<state::SnapshotArtifact> &artifacts, bool in_place,
            bool *memory_dropped = nullptr);

/// What was recorded beside the topology, put back on a restored lab `lab` whose nodes run:
/// each container's interface addresses and routes (and, in place, MACs), impairments set at
/// run time and links taken down.
Status apply_recorded_state(const Session &session, apply::Backends &backends,
                            const state::SnapshotRecord &snapshot, const std::string &lab,
                            bool in_place);

/// Finishes what a killed `ltb snapshot` left: resumes the nodes a killed create left paused and
/// removes its half-made snapshot; runs an interrupted restore again. Cheap when there is nothing
/// to do (one read of the state file). Run by every ltb command before its own work.
Status recover_snapshots(const Session &session);
Status recover_snapshots(const Session &session, apply::Backends &backends);

/// Removes the frozen VM disk layers (<state dir>/disk-layers/) that no snapshot records and no
/// VM disk in the labs' folders builds on; the records of snapshot `except_name` of lab
/// `except_lab` (one being removed) do not count. Keeps everything when a disk cannot be read.
/// Run when a snapshot or a lab with VMs goes.
Status collect_disk_layers(const Context &context, apply::Backends &backends,
                           const std::string &except_lab = {}, const std::string &except_name = {});

/// Drops the mark of an unfinished restore into lab `lab` (`ltb down` of that lab: it is not to
/// be made again).
Status forget_restore(state::Store &store, const std::string &lab);

/// Where a snapshot's files live: <state dir>/snapshots/LAB/NAME.
std::string snapshot_dir(const Context &context, const std::string &lab, const std::string &name);

/// The Docker image of node `node` in snapshot `name` of lab `lab`: ltb-snapshot:TAG.
std::string snapshot_image(const std::string &lab, const std::string &name,
                           const std::string &node);

/// The lock a snapshot command of lab `lab` holds while it runs: a killed one releases it, which
/// is how recover_snapshots() knows that a snapshot left 'creating' is nobody's any more.
std::string snapshot_lock(const std::string &lab);

/// Whether the disk ltb may use holds `need` more bytes of snapshots of lab `lab` beside what is
/// booked at `now`: admission's capacity rule, with snapshots counted as disk.
Status check_snapshot_disk(const Session &session, state::Store &store, std::int64_t need,
                           std::int64_t now, const std::string &lab);

/// Labels of a snapshot's images: the lab, the snapshot and the node.
inline constexpr const char *k_label_snapshot_lab = "ltb.snapshot.lab";
inline constexpr const char *k_label_snapshot = "ltb.snapshot";
inline constexpr const char *k_label_snapshot_node = "ltb.snapshot.node";
/// On the containers of a restored lab: the snapshot and the restore they come from.
inline constexpr const char *k_label_snapshot_restored = "ltb.snapshot.restored";

} // namespace ltb::service
