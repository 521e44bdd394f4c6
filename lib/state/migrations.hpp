#pragma once
// The state file's schema as an ordered list of migration steps (private to lib/state). Step i
// takes a file from PRAGMA user_version i to i + 1. Append new steps; never edit a released one,
// because files in the field have already run it.

#include <array>
#include <string_view>

namespace ltb::state::detail {

inline constexpr std::array<std::string_view, 16> k_migrations{{
    // 1: the first schema. Every column is NOT NULL with a default so that records map 1:1 to the
    // structs in store.hpp without optional fields. nodes and links need no separate index on lab:
    // their primary keys start with lab, which serves both lookups by lab and the cascade.
    R"sql(
CREATE TABLE labs (
  name          TEXT    NOT NULL PRIMARY KEY,
  topology_file TEXT    NOT NULL DEFAULT '',
  topology_text TEXT    NOT NULL DEFAULT '',
  topology_hash TEXT    NOT NULL DEFAULT '',
  mgmt_network  TEXT    NOT NULL DEFAULT '',
  mgmt_subnet   TEXT    NOT NULL DEFAULT '',
  owner         TEXT    NOT NULL DEFAULT '',
  status        TEXT    NOT NULL DEFAULT '',
  created_at    INTEGER NOT NULL DEFAULT 0,
  updated_at    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE nodes (
  lab         TEXT NOT NULL REFERENCES labs(name) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  kind        TEXT NOT NULL DEFAULT '',
  image       TEXT NOT NULL DEFAULT '',
  config_hash TEXT NOT NULL DEFAULT '',
  mgmt_ipv4   TEXT NOT NULL DEFAULT '',
  runtime_id  TEXT NOT NULL DEFAULT '',
  status      TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (lab, name)
);
CREATE TABLE links (
  lab          TEXT NOT NULL REFERENCES labs(name) ON DELETE CASCADE,
  key          TEXT NOT NULL,
  name         TEXT NOT NULL DEFAULT '',
  a_node       TEXT NOT NULL DEFAULT '',
  a_iface      TEXT NOT NULL DEFAULT '',
  b_node       TEXT NOT NULL DEFAULT '',
  b_iface      TEXT NOT NULL DEFAULT '',
  a_runtime_id TEXT NOT NULL DEFAULT '',
  b_runtime_id TEXT NOT NULL DEFAULT '',
  status       TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (lab, key)
);
CREATE TABLE objects (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  lab        TEXT    NOT NULL REFERENCES labs(name) ON DELETE CASCADE,
  type       TEXT    NOT NULL DEFAULT '',
  name       TEXT    NOT NULL DEFAULT '',
  owner      TEXT    NOT NULL DEFAULT '',
  runtime_id TEXT    NOT NULL DEFAULT '',
  parent     TEXT    NOT NULL DEFAULT '',
  status     TEXT    NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
CREATE INDEX objects_lab ON objects(lab);
CREATE TABLE meta (
  key   TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL DEFAULT ''
);
)sql",
    // 2: reservations of host capacity (schedule/). The topology text is copied in so that a later
    // edit of the file changes nothing, in a table of its own: admission scans every open
    // reservation for its window and demand, and with kilobytes of text in each row that scan
    // reads the whole file (10,000 reservations: 30 ms of a 50 ms budget; a few ms without).
    // The version counter lives in meta and is bumped by triggers, so that every writer (this ltb
    // or a later one, or a hand-made INSERT) bumps it and a sleeping scheduler notices by reading
    // one row.
    R"sql(
CREATE TABLE reservations (
  id                  INTEGER PRIMARY KEY AUTOINCREMENT,
  lab                 TEXT    NOT NULL DEFAULT '',
  owner               TEXT    NOT NULL DEFAULT '',
  source              TEXT    NOT NULL DEFAULT '',
  start_at            INTEGER NOT NULL DEFAULT 0,
  end_at              INTEGER NOT NULL DEFAULT 0,
  state               TEXT    NOT NULL DEFAULT 'pending',
  reason              TEXT    NOT NULL DEFAULT '',
  attempts            INTEGER NOT NULL DEFAULT 0,
  next_attempt_at     INTEGER NOT NULL DEFAULT 0,
  demand_cpus         REAL    NOT NULL DEFAULT 0,
  demand_memory_bytes INTEGER NOT NULL DEFAULT 0,
  demand_disk_bytes   INTEGER NOT NULL DEFAULT 0,
  created_at          INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
  updated_at          INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
CREATE INDEX reservations_start ON reservations(start_at);
CREATE TABLE reservation_texts (
  reservation   INTEGER NOT NULL PRIMARY KEY REFERENCES reservations(id) ON DELETE CASCADE,
  topology_text TEXT    NOT NULL DEFAULT ''
);
INSERT INTO meta (key, value) VALUES ('reservations_version', '0')
  ON CONFLICT (key) DO NOTHING;
CREATE TRIGGER reservations_version_insert AFTER INSERT ON reservations BEGIN
  UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'reservations_version';
END;
CREATE TRIGGER reservations_version_update AFTER UPDATE ON reservations BEGIN
  UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'reservations_version';
END;
CREATE TRIGGER reservations_version_delete AFTER DELETE ON reservations BEGIN
  UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'reservations_version';
END;
)sql",
    // 3: the runtime of each node (container, vm, ovs-bridge), so that apply/ dispatches on what
    // runs a node rather than on its kind's name. Rows from before get it from their kind: the
    // only kinds then were vm and ovs-bridge (their own runtimes) and container kinds.
    R"sql(
ALTER TABLE nodes ADD COLUMN runtime TEXT NOT NULL DEFAULT '';
UPDATE nodes SET runtime = CASE kind
  WHEN 'vm' THEN 'vm'
  WHEN 'ovs-bridge' THEN 'ovs-bridge'
  ELSE 'container' END;
)sql",
    // 4: what an object carries beyond its name (a parked link interface of a stopped node: its
    // addresses, routes and up state inside the node, restored by `ltb start`).
    R"sql(
ALTER TABLE objects ADD COLUMN detail TEXT NOT NULL DEFAULT '';
)sql",
    // 5: what happened to labs (`ltb events`), written by every ltb process for the others to
    // follow. Not tied to labs by a foreign key: "node removed" outlives its lab. AUTOINCREMENT so
    // that an id is never reused after pruning (followers read id > the last one they saw); the
    // writer prunes the oldest rows beyond a bound (Store::add_event).
    R"sql(
CREATE TABLE events (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ns    INTEGER NOT NULL DEFAULT 0,
  lab        TEXT    NOT NULL DEFAULT '',
  type       TEXT    NOT NULL DEFAULT '',
  action     TEXT    NOT NULL DEFAULT '',
  object     TEXT    NOT NULL DEFAULT '',
  attributes TEXT    NOT NULL DEFAULT '{}'
);
)sql",
    // 6: a link's impairments and carrier. Each direction (a: the packets leaving end a) has what
    // is applied now, what the file asked for at the last `ltb up`, and a run-time override of
    // `ltb link set` (override_*_set = 1; its text may be '' for "none"); impair_via says who
    // applies them (kernel, relay); down = 1 after `ltb link down`. Texts are
    // topology::encode_impairments ('' = none). put_link() leaves these columns alone.
    R"sql(
ALTER TABLE links ADD COLUMN impair_a       TEXT    NOT NULL DEFAULT '';
ALTER TABLE links ADD COLUMN impair_b       TEXT    NOT NULL DEFAULT '';
ALTER TABLE links ADD COLUMN file_impair_a  TEXT    NOT NULL DEFAULT '';
ALTER TABLE links ADD COLUMN file_impair_b  TEXT    NOT NULL DEFAULT '';
ALTER TABLE links ADD COLUMN override_a     TEXT    NOT NULL DEFAULT '';
ALTER TABLE links ADD COLUMN override_b     TEXT    NOT NULL DEFAULT '';
ALTER TABLE links ADD COLUMN override_a_set INTEGER NOT NULL DEFAULT 0;
ALTER TABLE links ADD COLUMN override_b_set INTEGER NOT NULL DEFAULT 0;
ALTER TABLE links ADD COLUMN impair_via     TEXT    NOT NULL DEFAULT '';
ALTER TABLE links ADD COLUMN down           INTEGER NOT NULL DEFAULT 0;
)sql",
    // 7: the template store (`ltb template`). A template version is a bundle of files; each
    // file's content is a blob, stored once however many versions hold it and named by its
    // SHA-256, so that adding the same content again is recognised by the bundle's digest (of its
    // file list: paths, modes and blob digests). template_names keeps the last version given a
    // name, so that a number is never given twice, even after `ltb template rm`. A lab's source
    // says which template version it was deployed from ("template:NAME@VERSION"; '' = a file).
    R"sql(
CREATE TABLE blobs (
  digest  TEXT    NOT NULL PRIMARY KEY,
  size    INTEGER NOT NULL DEFAULT 0,
  content BLOB    NOT NULL
);
CREATE TABLE template_names (
  name         TEXT    NOT NULL PRIMARY KEY,
  last_version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE templates (
  name        TEXT    NOT NULL REFERENCES template_names(name),
  version     INTEGER NOT NULL,
  digest      TEXT    NOT NULL DEFAULT '',
  topology    TEXT    NOT NULL DEFAULT '',
  description TEXT    NOT NULL DEFAULT '',
  created_by  TEXT    NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (name, version)
);
CREATE TABLE template_files (
  name    TEXT    NOT NULL,
  version INTEGER NOT NULL,
  path    TEXT    NOT NULL,
  blob    TEXT    NOT NULL REFERENCES blobs(digest),
  mode    INTEGER NOT NULL DEFAULT 420,
  PRIMARY KEY (name, version, path),
  FOREIGN KEY (name, version) REFERENCES templates(name, version) ON DELETE CASCADE
);
CREATE INDEX template_files_blob ON template_files(blob);
ALTER TABLE labs ADD COLUMN source TEXT NOT NULL DEFAULT '';
)sql",
    // 8: snapshots of running labs (`ltb snapshot`). Not tied to labs by a foreign key: a
    // snapshot outlives `ltb down` of its lab. status 'creating' until every artifact is made; a
    // row left 'creating' by a killed ltb is cleaned up by the next one. state is JSON (nodes,
    // links, addresses, impairments, stopped nodes as of the snapshot); artifacts are what the
    // snapshot owns outside the state file (images, overlays, memory files, copied files).
    R"sql(
CREATE TABLE snapshots (
  lab           TEXT    NOT NULL,
  name          TEXT    NOT NULL,
  status        TEXT    NOT NULL DEFAULT 'creating',
  memory        INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL DEFAULT 0,
  topology_file TEXT    NOT NULL DEFAULT '',
  topology_text TEXT    NOT NULL DEFAULT '',
  state         TEXT    NOT NULL DEFAULT '{}',
  size_bytes    INTEGER NOT NULL DEFAULT 0,
  pause_ms      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (lab, name)
);
CREATE TABLE snapshot_artifacts (
  lab        TEXT    NOT NULL,
  snapshot   TEXT    NOT NULL,
  node       TEXT    NOT NULL DEFAULT '',
  type       TEXT    NOT NULL DEFAULT '',
  ref        TEXT    NOT NULL DEFAULT '',
  size_bytes INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (lab, snapshot, node, type, ref),
  FOREIGN KEY (lab, snapshot) REFERENCES snapshots(lab, name) ON DELETE CASCADE
);
)sql",
    // 9: ltb's users and groups (`ltb user`): a Unix user or group (kind 'user' or 'group') that
    // ltb knows, by name with its uid or gid, its role ('admin' or 'user') and its quotas (a JSON
    // object, quota name -> number; a quota not in it is not set there). The system's default
    // quotas are the meta key 'quotas.default' (the same JSON). root needs no row: it is always an
    // admin.
    R"sql(
CREATE TABLE users (
  kind       TEXT    NOT NULL,
  name       TEXT    NOT NULL,
  id         INTEGER NOT NULL DEFAULT 0,
  role       TEXT    NOT NULL DEFAULT 'user',
  quotas     TEXT    NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (kind, name)
);
)sql",
    // 10: confinement (ltb-topology(5), CONFINEMENT): a lab deployed for a user who is not an
    // admin, and a reservation such a user made, are confined. Once set, never cleared.
    R"sql(
ALTER TABLE labs ADD COLUMN confined INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reservations ADD COLUMN confined INTEGER NOT NULL DEFAULT 0;
)sql",
    // 11: owners of snapshots and templates (issue 12: every lab, reservation, template and
    // snapshot has one; labs and reservations had theirs). A snapshot's is its lab's; a template's
    // is who added its first version, and a template is private until shared.
    R"sql(
ALTER TABLE snapshots ADD COLUMN owner TEXT NOT NULL DEFAULT '';
UPDATE snapshots SET owner = COALESCE((SELECT owner FROM labs WHERE labs.name = snapshots.lab), '');
ALTER TABLE template_names ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE template_names ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;
UPDATE template_names SET owner = COALESCE((SELECT created_by FROM templates t WHERE t.name =
  template_names.name ORDER BY t.version LIMIT 1), '');
)sql",
    // 12: a reservation made through the daemon keeps its own copy of the files its topology
    // references (the request's copy is gone when the command ends): the directory, or ''.
    R"sql(
ALTER TABLE reservations ADD COLUMN files_dir TEXT NOT NULL DEFAULT '';
)sql",
    // 13: logging in over the network (issue 13): a user's web password (a yescrypt hash), and
    // API tokens (the SHA-256 of their secret; the secret itself is shown once).
    R"sql(
CREATE TABLE web_passwords (
  name       TEXT    PRIMARY KEY,
  hash       TEXT    NOT NULL,
  updated_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE api_tokens (
  id           TEXT    PRIMARY KEY,
  user         TEXT    NOT NULL,
  label        TEXT    NOT NULL DEFAULT '',
  digest       TEXT    NOT NULL,
  created_at   INTEGER NOT NULL DEFAULT 0,
  expires_at   INTEGER NOT NULL DEFAULT 0,
  last_used_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_tokens_user ON api_tokens (user);
)sql",
    // 14: a node's exec commands that failed at its last configuration (issue 14: containerlab
    // logs them and goes on), as a JSON array of messages; '' when none failed.
    R"sql(
ALTER TABLE nodes ADD COLUMN exec_errors TEXT NOT NULL DEFAULT '';
)sql",
    // 15: dual-stack management networks (containerlab's mgmt.ipv6-subnet): a node's IPv6
    // management address.
    R"sql(
ALTER TABLE nodes ADD COLUMN mgmt_ipv6 TEXT NOT NULL DEFAULT '';
)sql",
    // 16: containerlab's prefix, the lab's container names (plan::container_name): NULL =
    // ltb's own (ltb-LAB-NODE), else the prefix as the file gives it ('' = the node's name).
    R"sql(
ALTER TABLE labs ADD COLUMN container_prefix TEXT;
)sql",
}};

} // namespace ltb::state::detail
