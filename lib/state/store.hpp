#pragma once
// The SQLite state file: every lab, node, link and runtime object ltb created. WAL, schema
// migrations, IMMEDIATE transactions, a busy timeout. One Store is safe to share between threads
// (calls are serialised). Depends on util/ only.

#include "state/record_types.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ltb::state {

struct LabRecord {
  std::string name;
  std::string topology_file; // absolute path it was last deployed from ("" if from stdin)
  std::string topology_text; // full text as deployed
  std::string topology_hash;
  std::string mgmt_network;                      // Docker network name
  std::string mgmt_subnet;                       // CIDR
  std::string owner;                             // user name who ran `ltb up`
  RecordStatus status = RecordStatus::deploying; // deploying, running, failed, removing
  std::int64_t created_at = 0;                   // unix seconds
  std::int64_t updated_at = 0;
  /// Where it was deployed from beyond its file: "template:NAME@VERSION", or "" for a file.
  /// Written by set_lab_source() only; put_lab() keeps it.
  std::string source = {};
  /// Its nodes are confined (deployed for a user who is not an admin). put_lab() sets it and
  /// never clears it.
  bool confined = false;
  /// containerlab's prefix of its container names (plan::container_name); nullopt = ltb's own.
  std::optional<std::string> container_prefix = std::nullopt;
};

struct NodeRecord {
  std::string lab;
  std::string name;
  std::string kind;
  std::string image;
  std::string config_hash; // topology::node_config_hash when it was created
  std::string mgmt_ipv4;   // allocated address, kept stable across runs
  std::string runtime_id;  // container id (or bridge name for ovs-bridge nodes)
  RecordStatus status = RecordStatus::creating; // creating, created, running, failed
  /// What runs the node: k_runtime_container, k_runtime_vm or k_runtime_bridge (topology::Runtime
  /// by name). put_node() fills it from the kind when empty, as migration 3 did for old rows.
  std::string runtime = {};
  /// The exec commands that failed when the node was last configured, one message each. Read
  /// by nodes(); written only by set_exec_errors() (put_node() keeps them).
  std::vector<std::string> exec_errors = {};
  /// The IPv6 management address of a dual-stack lab's node (the file's or Docker's); "" when
  /// the lab is IPv4 only.
  std::string mgmt_ipv6 = {};
};

inline constexpr const char *k_runtime_container = "container";
inline constexpr const char *k_runtime_vm = "vm";
inline constexpr const char *k_runtime_bridge = "ovs-bridge";
inline constexpr const char *k_runtime_linux_bridge = "linux-bridge";
inline constexpr const char *k_runtime_external = "external";

struct LinkRecord {
  std::string lab;
  std::string key;  // topology::link_key
  std::string name; // stable display name
  std::string a_node, a_iface, b_node, b_iface;
  std::string a_runtime_id; // runtime id of each end's node when the link was wired: a recreated
  std::string b_runtime_id; // node invalidates its links
  RecordStatus status = RecordStatus::creating; // creating, up, failed
  // Impairments per direction (a: the packets leaving end a), as topology::encode_impairments
  // text ("" = none). Written by put_link_state() only; put_link() keeps them.
  std::string impair_a; // applied now
  std::string impair_b;
  std::string file_impair_a; // what the file asked for at the last `ltb up`
  std::string file_impair_b;
  std::optional<std::string> override_a = {}; // set at run time (`ltb link set`); nullopt = none
  std::optional<std::string> override_b = {};
  std::string impair_via = {}; // who applied them: "kernel" or "relay"; "" = nothing applied
  bool down = false;           // `ltb link down`: no carrier until `ltb link up`
};

/// A runtime object ltb made, recorded before it is created so that a crash leaves a trace.
struct ObjectRecord {
  std::int64_t id = 0;
  std::string lab;
  ObjectType type = ObjectType::container;
  std::string name;       // runtime name (container name, interface name, bridge name)
  std::string owner;      // node name or link key it belongs to
  std::string runtime_id; // e.g. container id once known
  std::string parent;     // e.g. the bridge of a port
  RecordStatus status = RecordStatus::creating; // creating, created, removing
  /// What ltb must remember of the object beyond its name, as the type defines it (a parked
  /// interface: JSON of its addresses, routes and state inside its node).
  std::string detail = {};
};

/// A booking of host capacity for one lab instance over [start_at, end_at) (unix seconds, UTC).
/// The topology text is stored with it, so editing or deleting the file later changes nothing.
struct ReservationRecord {
  std::int64_t id = 0;
  std::string lab;           // lab name the reservation deploys (NAME-i for --count)
  std::string owner;         // user who made it
  std::string source;        // file path or "template:NAME", for display only
  std::string topology_text; // what deploys
  std::int64_t start_at = 0;
  std::int64_t end_at = 0;
  std::string state;                // "pending", "active", "ended", "failed", "cancelled"
  std::string reason;               // why it failed (last error), empty otherwise
  int attempts = 0;                 // failed deploy attempts in this window (for backoff)
  std::int64_t next_attempt_at = 0; // earliest retry after a failure; 0 = none
  double demand_cpus = 0;           // computed when admitted (see schedule/admission.hpp)
  std::int64_t demand_memory_bytes = 0;
  std::int64_t demand_disk_bytes = 0;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  /// Made by a user who is not an admin: the lab deploys confined. Written by add_reservation()
  /// only.
  bool confined = false;
  /// Where the files its topology references are kept (a reservation made through the daemon);
  /// "" = beside `source`. Written by add_reservation() only.
  std::string files_dir;
};

/// One thing that happened to a lab (event::Event as the state file keeps it: type and action
/// by name, attributes as a JSON object's text).
struct EventRecord {
  std::int64_t id = 0;
  std::int64_t time_ns = 0;
  std::string lab;
  std::string type;
  std::string action;
  std::string object;
  std::string attributes = "{}";
};

/// One file of a template version: its path inside the bundle and its content's SHA-256.
struct TemplateFileRecord {
  std::string path;
  std::string digest;
  std::int64_t size = 0;
  std::uint32_t mode = 0644;
};

/// One version of a template (`ltb template`): a bundle of files, content-addressed.
struct TemplateRecord {
  std::string name;
  int version = 0;
  std::string digest;   // of the bundle: equal digests, equal content
  std::string topology; // the topology file's path inside the bundle
  std::string description;
  std::string created_by;
  std::int64_t created_at = 0;
  std::vector<TemplateFileRecord> files; // by path; filled by template_version() only
  /// The template's (every version's): who added its first version, and whether every user may
  /// see and deploy it. Kept by name; add_template() sets the owner of a new name only.
  std::string owner = {};
  bool shared = false;
};

/// What add_template() did: `added` false when the newest version had the same digest already.
struct TemplateAdded {
  TemplateRecord record;
  bool added = false;
};

/// A snapshot of a running lab (`ltb snapshot`), kept after its lab is removed.
struct SnapshotRecord {
  std::string lab;
  std::string name;
  std::string status = "creating"; // k_snapshot_creating until complete
  bool memory = false;             // VMs' memory and device state too (--memory)
  std::int64_t created_at = 0;     // unix seconds
  std::string topology_file;       // the lab's, as recorded then
  std::string topology_text;
  std::string state = "{}"; // JSON: nodes, links, addresses, impairments, stopped nodes
  std::int64_t size_bytes = 0;
  std::int64_t pause_ms = 0; // first node paused to last resumed
  std::string owner = {};    // the user whose lab it was taken of
};

inline constexpr const char *k_snapshot_creating = "creating";
inline constexpr const char *k_snapshot_complete = "complete";

/// Something a snapshot owns outside the state file: type "image" (a container's committed
/// image, by name), "overlay", "memory" or "file" (paths).
struct SnapshotArtifact {
  std::string lab;
  std::string snapshot;
  std::string node;
  std::string type;
  std::string ref;
  std::int64_t size_bytes = 0;
};

/// A Unix user or group ltb knows (`ltb user`): its role and the quotas set on it.
struct UserRecord {
  std::string kind = "user"; // k_user or k_group
  std::string name;
  std::int64_t id = 0;       // uid or gid
  std::string role = "user"; // "admin" or "user"
  std::string quotas = "{}"; // JSON object: quota name -> number (schedule/quota.hpp)
  std::int64_t created_at = 0;
};

/// An API token (`ltb user token`): the bearer presents ltb_ID_SECRET; only SECRET's SHA-256 is
/// kept.
struct TokenRecord {
  std::string id; // public part, unique
  std::string user;
  std::string label;
  std::string digest; // hex SHA-256 of the secret
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0; // 0 = never
  std::int64_t last_used_at = 0;
};

inline constexpr const char *k_user = "user";
inline constexpr const char *k_group = "group";

/// How many events the state file keeps: add_event() drops the oldest beyond it.
inline constexpr std::int64_t k_events_kept = 10000;

class Store {
public:
  /// Opens (creating if needed, with parent directories) and migrates the state file.
  static Result<std::unique_ptr<Store>> open(const std::string &path);
  ~Store();

  const std::string &path() const;

  Result<std::vector<LabRecord>> labs();
  Result<std::optional<LabRecord>> lab(const std::string &name);
  Status put_lab(const LabRecord &lab);       // insert or replace, keeps created_at
  Status delete_lab(const std::string &name); // with its nodes, links and objects

  Result<std::vector<NodeRecord>> nodes(const std::string &lab);
  Status put_node(const NodeRecord &node);
  Status delete_node(const std::string &lab, const std::string &name);
  /// Replaces the node's exec_errors (NodeRecord); an empty list clears them.
  Status set_exec_errors(const std::string &lab, const std::string &name,
                         const std::vector<std::string> &errors);

  Result<std::vector<LinkRecord>> links(const std::string &lab);
  /// Inserts or updates a link, keeping its impairments and carrier (put_link_state).
  Status put_link(const LinkRecord &link);
  /// Writes a recorded link's impairments and carrier; fails when the link is not recorded.
  Status put_link_state(const LinkRecord &link);
  Status delete_link(const std::string &lab, const std::string &key);

  Result<std::vector<ObjectRecord>> objects(const std::string &lab);
  Result<std::int64_t> add_object(const ObjectRecord &object); // returns id
  Status update_object(std::int64_t id, const std::string &runtime_id, RecordStatus status);
  Status delete_object(std::int64_t id);

  /// Reservations, ordered by start_at then id. Cancelled and ended ones are kept as history.
  Result<std::vector<ReservationRecord>> reservations();
  Result<std::optional<ReservationRecord>> reservation(std::int64_t id);
  /// The reservations that may still claim capacity: pending, active or failed ones that end
  /// after `end_after`, in no particular order. Only id, lab, start_at, end_at, state and the
  /// demand are filled in: admission reads thousands of them and needs no more. Not for
  /// put_reservation(), which would write the empty fields back: read reservation(id) first.
  Result<std::vector<ReservationRecord>> reservation_claims(std::int64_t end_after);
  Result<std::int64_t> add_reservation(const ReservationRecord &reservation); // returns id
  /// Updates every field by id, the text too; fails when unknown.
  Status put_reservation(const ReservationRecord &reservation);
  /// A counter bumped by every reservation change, so a sleeping scheduler can notice changes.
  Result<std::int64_t> reservations_version();

  /// Appends an event and drops the oldest ones so that at most `keep` remain; returns its id.
  Result<std::int64_t> add_event(const EventRecord &event, std::int64_t keep = k_events_kept);
  /// Events with an id above `after_id`, oldest first, at most `limit`; of one lab unless "".
  Result<std::vector<EventRecord>> events_after(std::int64_t after_id, const std::string &lab = {},
                                                std::size_t limit = 1000);
  /// The id of the newest event (0 when there is none): a follower starts after it.
  Result<std::int64_t> last_event_id();

  /// Every template version of `name` ("" = of every template), by name then version; without
  /// their files.
  Result<std::vector<TemplateRecord>> templates(const std::string &name = {});
  /// One version with its files; version 0 = the newest. nullopt when there is none.
  Result<std::optional<TemplateRecord>> template_version(const std::string &name, int version = 0);
  /// Stores `t` (its name, digest, topology, description, creator and files) as the next version
  /// of its name, with the blobs it needs (digest -> content; those stored already may be left
  /// out) - unless the newest version has the same digest: then nothing changes and that version
  /// is returned. Version numbers are never reused, even after delete_template().
  Result<TemplateAdded> add_template(const TemplateRecord &t,
                                     const std::map<std::string, std::string> &blobs);
  /// Deletes a version (0 = every version of the name) and the blobs no version holds any more.
  /// Deleting what does not exist succeeds.
  Status delete_template(const std::string &name, int version);
  /// Shares a template with every user, or makes it private again.
  Status set_template_shared(const std::string &name, bool shared);
  /// A blob's content by digest; nullopt when it is not stored.
  Result<std::optional<std::string>> blob(const std::string &digest);
  /// Records where a lab was deployed from (LabRecord::source); a lab not recorded is left alone.
  Status set_lab_source(const std::string &lab, const std::string &source);

  /// Snapshots of lab `lab` ("" = of every lab), by lab then creation; without the topology text
  /// and state unless `full`.
  Result<std::vector<SnapshotRecord>> snapshots(const std::string &lab = {}, bool full = false);
  Result<std::optional<SnapshotRecord>> snapshot(const std::string &lab, const std::string &name);
  /// Inserts a new snapshot; an ErrorKind::already_exists error when the lab has one so named.
  Status add_snapshot(const SnapshotRecord &snapshot);
  /// Updates status, state, size and pause of a recorded snapshot.
  Status put_snapshot(const SnapshotRecord &snapshot);
  /// Deletes a snapshot and its artifacts' records (not the artifacts).
  Status delete_snapshot(const std::string &lab, const std::string &name);
  /// By node and type, each in the order recorded (a VM disk's layers: nearest first).
  Result<std::vector<SnapshotArtifact>> snapshot_artifacts(const std::string &lab,
                                                           const std::string &name);
  /// Records an artifact before it is made, so that a killed ltb leaves a trace of it.
  Status add_snapshot_artifact(const SnapshotArtifact &artifact);
  Status set_snapshot_artifact_size(const SnapshotArtifact &artifact);
  /// The sum of every snapshot's size (they count against the host's disk in admission).
  Result<std::int64_t> snapshots_size();

  /// The users and groups ltb knows, of one kind ("" = both), by kind then name.
  Result<std::vector<UserRecord>> users(const std::string &kind = {});
  Result<std::optional<UserRecord>> user(const std::string &kind, const std::string &name);
  /// Inserts or replaces by (kind, name), keeping created_at of a row already there.
  Status put_user(const UserRecord &user);
  Status delete_user(const std::string &kind, const std::string &name); // missing: succeeds

  /// A user's web password (a crypt(3) hash), "" when none is set.
  Result<std::string> web_password(const std::string &name);
  Status set_web_password(const std::string &name, const std::string &hash);
  Status delete_web_password(const std::string &name); // missing: succeeds

  /// API tokens: one user's ("" = everyone's), by creation.
  Result<std::vector<TokenRecord>> tokens(const std::string &user = {});
  Result<std::optional<TokenRecord>> token(const std::string &id);
  Status add_token(const TokenRecord &token);
  Result<bool> delete_token(const std::string &id); // false: there was none
  Status touch_token(const std::string &id, std::int64_t when);

  Result<std::optional<std::string>> meta(const std::string &key);
  Status set_meta(const std::string &key, const std::string &value);
  Status delete_meta(const std::string &key); // deleting a missing key succeeds
  /// Every setting whose key starts with `prefix`, by key.
  Result<std::vector<std::pair<std::string, std::string>>>
  meta_with_prefix(const std::string &prefix);

  /// Runs fn inside one IMMEDIATE transaction; rolls back when fn fails.
  Status transaction(const std::function<Status()> &fn);
  /// For tests: `hook` runs at the start of every outermost transaction(), with the store's lock
  /// held (a slow hook makes lock-order bugs of callers show up as a hang).
  void set_transaction_hook(std::function<void()> hook);

  int schema_version();

private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  static Status create_file(const std::string &path);
  std::unique_ptr<Impl> m_impl;
};

/// An exclusive per-lab lock (flock on a file beside the state file), held for the object's
/// lifetime. A crashed holder releases it automatically.
class LabLock {
public:
  /// Waits up to `wait` seconds (0 = do not wait). On timeout the error names the holder's pid.
  static Result<LabLock> acquire(const std::string &state_path, const std::string &lab,
                                 int wait_seconds);
  /// The host-wide lock on admission to the host's capacity (`.admission.lock` among the lab
  /// locks, a name no lab can have): held from an unreserved lab's admission until its claim is
  /// recorded, so that two admissions never miss each other. Taken after a lab's lock, never
  /// before one.
  static Result<LabLock> acquire_admission(const std::string &state_path, int wait_seconds);
  LabLock(LabLock &&other) noexcept;
  LabLock &operator=(LabLock &&other) noexcept;
  LabLock(const LabLock &) = delete;
  LabLock &operator=(const LabLock &) = delete;
  ~LabLock();

private:
  LabLock() = default;
  static Result<LabLock> lock_file(const std::string &dir, const std::string &file,
                                   const std::string &what, int wait_seconds);
  int m_fd = -1;
};

/// Default state file: $LTB_STATE, else /var/lib/ltb/state.db.
std::string default_state_path();

} // namespace ltb::state
