#include "state/store.hpp"

#include "state/dirs.hpp"
#include "state/migrations.hpp"
#include "util/fault.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sqlite3.h>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <utility>

namespace ltb::state {
namespace {

constexpr int k_busy_timeout_ms = 10000;
constexpr int k_open_retry_ms = 20; // between tries of a fresh file's open (see Store::open)
constexpr int k_known_schema = static_cast<int>(detail::k_migrations.size());

std::int64_t now_seconds() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

// What a user can do about an SQLite failure, by its result code.
std::string help_for(const SQLite::Exception &e) {
  switch (e.getErrorCode()) {
  case SQLITE_PERM:
  case SQLITE_AUTH:
  case SQLITE_READONLY:
  case SQLITE_CANTOPEN:
    return "run as root or pass --state PATH";
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return fmt::format("another ltb process kept the state file busy for more than {} s; try again",
                       k_busy_timeout_ms / 1000);
  case SQLITE_FULL:
    return "free some space on the file system that holds the state file, then try again";
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return "the file is damaged or not an ltb state file; move it aside or pass --state PATH";
  case SQLITE_IOERR:
    return "check the disk and file system that hold the state file";
  case SQLITE_CONSTRAINT:
    if (e.getExtendedErrorCode() == SQLITE_CONSTRAINT_FOREIGNKEY) {
      return "the lab is not recorded; this is a bug in ltb, please report it";
    }
    return {};
  default:
    return {};
  }
}

Error sqlite_error(const std::string &path, const std::string &op, const SQLite::Exception &e) {
  return Error{fmt::format("state file {}: cannot {}: {}", path, op, e.what()), help_for(e)};
}

/// A status or object type the state file holds that this ltb does not know.
struct UnknownValue : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Error unknown_value_error(const std::string &path, const std::string &op, const UnknownValue &e) {
  return Error{fmt::format("state file {}: cannot {}: {}", path, op, e.what()),
               "it was written by another version of ltb: use that one, or pass --state PATH"};
}

RecordStatus status_column(SQLite::Statement &q, int column) {
  auto text = q.getColumn(column).getString();
  if (text.empty()) {
    return RecordStatus::failed; // the column's default, which ltb never writes: not finished
  }
  if (auto status = parse_record_status(text)) {
    return *status;
  }
  throw UnknownValue(fmt::format("unknown record status '{}'", text));
}

ObjectType type_column(SQLite::Statement &q, int column) {
  auto text = q.getColumn(column).getString();
  if (auto type = parse_object_type(text)) {
    return *type;
  }
  throw UnknownValue(fmt::format("unknown runtime object type '{}'", text));
}

Error newer_schema_error(const std::string &path, int version) {
  return Error{fmt::format("state file {} was written by a newer ltb (schema {}, this ltb knows "
                           "{}); upgrade ltb",
                           path, version, k_known_schema),
               "or pass --state PATH to use another state file"};
}

std::string parent_dir(const std::string &path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    return {};
  }
  return path.substr(0, slash);
}

int user_version(SQLite::Database &db) {
  return db.execAndGet("PRAGMA user_version").getInt();
}

LabRecord read_lab(SQLite::Statement &q) {
  LabRecord r;
  r.name = q.getColumn(0).getString();
  r.topology_file = q.getColumn(1).getString();
  r.topology_text = q.getColumn(2).getString();
  r.topology_hash = q.getColumn(3).getString();
  r.mgmt_network = q.getColumn(4).getString();
  r.mgmt_subnet = q.getColumn(5).getString();
  r.owner = q.getColumn(6).getString();
  r.status = status_column(q, 7);
  r.created_at = q.getColumn(8).getInt64();
  r.updated_at = q.getColumn(9).getInt64();
  r.source = q.getColumn(10).getString();
  r.confined = q.getColumn(11).getInt() != 0;
  if (!q.getColumn(12).isNull()) {
    r.container_prefix = q.getColumn(12).getString();
  }
  return r;
}

// SQLite::Savepoint's destructor only rolls back to the savepoint and leaves it open; this one
// also releases it, so that a failed inner transaction leaves nothing behind in the outer one.
class NestedSavepoint {
public:
  NestedSavepoint(SQLite::Database &db, std::string name) : m_db(db), m_name(std::move(name)) {
    m_db.exec("SAVEPOINT " + m_name);
  }
  NestedSavepoint(const NestedSavepoint &) = delete;
  NestedSavepoint &operator=(const NestedSavepoint &) = delete;
  ~NestedSavepoint() {
    if (m_released) {
      return;
    }
    try {
      m_db.exec("ROLLBACK TO " + m_name);
      m_db.exec("RELEASE " + m_name);
    } catch (const SQLite::Exception &) {
      // The outer transaction is gone already (SQLite rolls back on some errors); nothing to undo.
    }
  }
  void release() {
    m_db.exec("RELEASE " + m_name);
    m_released = true;
  }

private:
  SQLite::Database &m_db;
  std::string m_name;
  bool m_released = false;
};

constexpr const char *k_lab_columns = "name, topology_file, topology_text, topology_hash, "
                                      "mgmt_network, mgmt_subnet, owner, status, created_at, "
                                      "updated_at, source, confined, container_prefix";

// The text lives in its own table (see migration 2); a reservation without a text row has "".
constexpr const char *k_reservation_select =
    "SELECT r.id, r.lab, r.owner, r.source, COALESCE(t.topology_text, ''), r.start_at, r.end_at, "
    "r.state, r.reason, r.attempts, r.next_attempt_at, r.demand_cpus, r.demand_memory_bytes, "
    "r.demand_disk_bytes, r.created_at, r.updated_at, r.confined, r.files_dir FROM reservations r "
    "LEFT JOIN reservation_texts t ON t.reservation = r.id";

ReservationRecord read_reservation(SQLite::Statement &q) {
  ReservationRecord r;
  r.id = q.getColumn(0).getInt64();
  r.lab = q.getColumn(1).getString();
  r.owner = q.getColumn(2).getString();
  r.source = q.getColumn(3).getString();
  r.topology_text = q.getColumn(4).getString();
  r.start_at = q.getColumn(5).getInt64();
  r.end_at = q.getColumn(6).getInt64();
  r.state = q.getColumn(7).getString();
  r.reason = q.getColumn(8).getString();
  r.attempts = q.getColumn(9).getInt();
  r.next_attempt_at = q.getColumn(10).getInt64();
  r.demand_cpus = q.getColumn(11).getDouble();
  r.demand_memory_bytes = q.getColumn(12).getInt64();
  r.demand_disk_bytes = q.getColumn(13).getInt64();
  r.created_at = q.getColumn(14).getInt64();
  r.updated_at = q.getColumn(15).getInt64();
  r.confined = q.getColumn(16).getInt() != 0;
  r.files_dir = q.getColumn(17).getString();
  return r;
}

// Binds the fields a write sets (all but id, the text, created_at and updated_at) to ?1..?12.
void bind_reservation(SQLite::Statement &q, const ReservationRecord &r) {
  q.bind(1, r.lab);
  q.bind(2, r.owner);
  q.bind(3, r.source);
  q.bind(4, r.start_at);
  q.bind(5, r.end_at);
  q.bind(6, r.state.empty() ? std::string("pending") : r.state);
  q.bind(7, r.reason);
  q.bind(8, r.attempts);
  q.bind(9, r.next_attempt_at);
  q.bind(10, r.demand_cpus);
  q.bind(11, r.demand_memory_bytes);
  q.bind(12, r.demand_disk_bytes);
}

void put_reservation_text(SQLite::Database &db, std::int64_t id, const std::string &text) {
  SQLite::Statement q(db,
                      "INSERT INTO reservation_texts (reservation, topology_text) VALUES (?, ?) "
                      "ON CONFLICT (reservation) DO UPDATE SET topology_text = "
                      "excluded.topology_text");
  q.bind(1, id);
  q.bind(2, text);
  q.exec();
}

} // namespace

struct Store::Impl {
  Impl(std::string p, int flags) : path(std::move(p)), db(path, flags, k_busy_timeout_ms) {}

  std::string path;
  SQLite::Database db;
  // SQLiteCpp connections must not be used by two threads at once; recursive because
  // transaction() holds it while fn calls the other methods.
  std::recursive_mutex mutex;
  // > 0 while transaction() runs fn: writers then join the open transaction instead of
  // starting their own.
  int depth = 0;
  std::function<void()> transaction_hook; // tests only (set_transaction_hook)

  Status migrate();
  /// Refuses, before anything is written, a database that is not an ltb state file this ltb
  /// may use: one of a newer ltb, or another program's.
  Status check_kind();

  // Runs fn as one writer: in its own IMMEDIATE transaction, or inside the caller's. IMMEDIATE
  // takes the write lock up front so that the busy timeout applies; a deferred transaction that
  // upgrades from read to write fails at once with SQLITE_BUSY when another process wrote.
  Status write(const std::string &op, const std::function<Status()> &fn) {
    std::lock_guard lock(mutex);
    try {
      if (depth > 0) {
        return fn();
      }
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      LTB_CHECK(fn());
      util::fault::point("state-write");
      tx.commit();
      util::fault::point("state-commit");
      return {};
    } catch (const SQLite::Exception &e) {
      return fail(sqlite_error(path, op, e));
    }
  }

  template <class T> Result<T> read(const std::string &op, const std::function<T()> &fn) {
    std::lock_guard lock(mutex);
    try {
      return fn();
    } catch (const SQLite::Exception &e) {
      return fail(sqlite_error(path, op, e));
    } catch (const UnknownValue &e) {
      return fail(unknown_value_error(path, op, e));
    }
  }
};

Status Store::Impl::check_kind() {
  const int v = user_version(db);
  if (v > k_known_schema) {
    return fail(newer_schema_error(path, v));
  }
  if (v != 0) {
    return {};
  }
  // Version 0 with tables: ltb's own files get their version with their first tables.
  SQLite::Statement q(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  std::vector<std::string> tables;
  while (q.executeStep() && tables.size() < 4) {
    tables.push_back(q.getColumn(0).getString());
  }
  if (!tables.empty()) {
    return fail(fmt::format("state file {} is not ltb's: it is an SQLite database with other "
                            "tables ({}{})",
                            path, fmt::join(tables, ", "), tables.size() == 4 ? ", ..." : ""),
                "pass --state PATH with ltb's state file; ltb adds nothing to another program's "
                "database");
  }
  return {};
}

Status Store::Impl::migrate() {
  if (const int v = user_version(db); v > k_known_schema) {
    return fail(newer_schema_error(path, v));
  }
  // One transaction per step, and the version is read again under the write lock: two ltb
  // processes opening a fresh file at once must not both run the same step.
  for (;;) {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    const int v = user_version(db);
    if (v > k_known_schema) {
      return fail(newer_schema_error(path, v));
    }
    if (v == k_known_schema) {
      tx.commit();
      return {};
    }
    db.exec(std::string(detail::k_migrations[static_cast<std::size_t>(v)]));
    db.exec(fmt::format("PRAGMA user_version = {}", v + 1));
    tx.commit();
  }
}

/// A new state file appears whole: made and migrated beside PATH, then linked into place (two
/// processes making it at once use the first one's). So ltb never leaves an empty file at PATH,
/// and an empty file there is not an ltb state file.
Status Store::create_file(const std::string &path) {
  std::string temp = path + ".new-XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    return fail(fmt::format("cannot create state file {}: {}", path, std::strerror(errno)),
                "run as root or pass --state PATH");
  }
  // SQLite's mode for a new database: 0644 less the umask (mkstemp's is 0600).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0644 & ~mask);
  ::close(fd);
  struct Cleanup {
    std::string temp;
    ~Cleanup() {
      ::unlink(temp.c_str());
      ::unlink((temp + "-journal").c_str());
    }
  } cleanup{temp};
  std::string op = "create it";
  try {
    Impl made(temp, SQLite::OPEN_READWRITE);
    // No one else sees the file yet: one sync of the whole, below, instead of one per step.
    made.db.execAndGet("PRAGMA journal_mode = MEMORY");
    made.db.exec("PRAGMA synchronous = OFF");
    made.db.exec("PRAGMA foreign_keys = ON");
    op = "create its schema";
    LTB_CHECK(made.migrate());
  } catch (const SQLite::Exception &e) {
    return fail(sqlite_error(path, op, e));
  }
  if (const int made_fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC); made_fd >= 0) {
    ::fsync(made_fd);
    ::close(made_fd);
  }
  // A file system without hard links (EPERM): renamed, unless the file appeared meanwhile.
  if (::link(temp.c_str(), path.c_str()) != 0 && errno != EEXIST &&
      (errno != EPERM ||
       (::access(path.c_str(), F_OK) != 0 && ::rename(temp.c_str(), path.c_str()) != 0))) {
    return fail(fmt::format("cannot create state file {}: {}", path, std::strerror(errno)),
                "run as root or pass --state PATH");
  }
  return {};
}

Result<std::unique_ptr<Store>> Store::open(const std::string &path) {
  if (path.empty()) {
    return fail("the state file path is empty", "pass --state PATH or set LTB_STATE",
                ExitCode::usage);
  }
  LTB_CHECK(detail::make_dirs(parent_dir(path), fmt::format("state file {}", path)));
  // SQLite would only say "unable to open database file".
  if (struct stat st{}; ::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return fail(fmt::format("state file {}: {}", path, std::strerror(errno)),
                  "run as root or pass --state PATH");
    }
    LTB_CHECK(create_file(path));
  } else if (S_ISDIR(st.st_mode)) {
    return fail(fmt::format("state file {} is a directory", path),
                "pass --state PATH with the path of a file");
  } else if (st.st_size == 0) {
    // SQLite would take it for a new database; it may be a state file that lost its content.
    return fail(fmt::format("state file {} is empty, so it is not an ltb state file (ltb makes a "
                            "new one itself where there is none)",
                            path),
                fmt::format("if it held labs, restore it from a backup; else remove it (rm {}) "
                            "or pass --state PATH",
                            path));
  }
  std::unique_ptr<Impl> impl;
  std::string op = "open it";
  // Switching a fresh file to WAL takes a lock for which SQLite does not always call the busy
  // handler, so processes opening a new state file at the same instant can get "database is
  // locked" at once: such an open is tried again, for about the busy timeout.
  for (int attempt = 0;; ++attempt) {
    op = "open it";
    try {
      impl = std::make_unique<Impl>(path, SQLite::OPEN_READWRITE);
      auto &db = impl->db;
      db.exec(fmt::format("PRAGMA busy_timeout = {}", k_busy_timeout_ms));
      // Before the switch to WAL, which writes to the file.
      LTB_CHECK(impl->check_kind());
      // The result is not checked: where WAL is impossible (some network file systems) SQLite
      // keeps a rollback journal, which is slower but still correct with the busy timeout.
      db.execAndGet("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      // Most ltb commands write a record or two and exit: the checkpoint SQLite runs when the
      // last connection closes would sync the log and the file each time (two fdatasyncs, about
      // 40 ms of `ltb link set`). The log is checkpointed when it grows past SQLite's bound
      // instead (wal_autocheckpoint); what it holds is as durable as the file.
      sqlite3_db_config(db.getHandle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
      // Per connection and outside any transaction: without it the cascades do nothing.
      db.exec("PRAGMA foreign_keys = ON");
      op = "migrate its schema";
      LTB_CHECK(impl->migrate());
      break;
    } catch (const SQLite::Exception &e) {
      const bool busy = (e.getErrorCode() & 0xff) == SQLITE_BUSY;
      if (!busy || attempt * k_open_retry_ms >= k_busy_timeout_ms) {
        return fail(sqlite_error(path, op, e));
      }
      impl.reset();
      std::this_thread::sleep_for(std::chrono::milliseconds(k_open_retry_ms));
    }
  }
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Store::Store(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Store::~Store() = default;

const std::string &Store::path() const {
  return m_impl->path;
}

int Store::schema_version() {
  auto v = m_impl->read<int>("read the schema version", [&] { return user_version(m_impl->db); });
  return v ? *v : -1;
}

Result<std::vector<LabRecord>> Store::labs() {
  return m_impl->read<std::vector<LabRecord>>("list labs", [&] {
    SQLite::Statement q(m_impl->db,
                        fmt::format("SELECT {} FROM labs ORDER BY name", k_lab_columns));
    std::vector<LabRecord> out;
    while (q.executeStep()) {
      out.push_back(read_lab(q));
    }
    return out;
  });
}

Result<std::optional<LabRecord>> Store::lab(const std::string &name) {
  return m_impl->read<std::optional<LabRecord>>(
      fmt::format("read lab '{}'", name), [&]() -> std::optional<LabRecord> {
        SQLite::Statement q(m_impl->db,
                            fmt::format("SELECT {} FROM labs WHERE name = ?", k_lab_columns));
        q.bind(1, name);
        if (!q.executeStep()) {
          return std::nullopt;
        }
        return read_lab(q);
      });
}

Status Store::put_lab(const LabRecord &lab) {
  return m_impl->write(fmt::format("save lab '{}'", lab.name), [&]() -> Status {
    // An upsert, not INSERT OR REPLACE: REPLACE deletes the old row first, and the cascade would
    // take the lab's nodes, links and objects with it.
    SQLite::Statement q(m_impl->db, R"sql(
INSERT INTO labs (name, topology_file, topology_text, topology_hash, mgmt_network, mgmt_subnet,
                  owner, status, created_at, updated_at, confined, container_prefix)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
ON CONFLICT (name) DO UPDATE SET
  topology_file = excluded.topology_file, topology_text = excluded.topology_text,
  topology_hash = excluded.topology_hash, mgmt_network = excluded.mgmt_network,
  mgmt_subnet = excluded.mgmt_subnet, owner = excluded.owner, status = excluded.status,
  updated_at = excluded.updated_at, confined = MAX(confined, excluded.confined),
  container_prefix = excluded.container_prefix)sql");
    const std::int64_t now = now_seconds();
    q.bind(1, lab.name);
    q.bind(2, lab.topology_file);
    q.bind(3, lab.topology_text);
    q.bind(4, lab.topology_hash);
    q.bind(5, lab.mgmt_network);
    q.bind(6, lab.mgmt_subnet);
    q.bind(7, lab.owner);
    q.bind(8, to_string(lab.status));
    q.bind(9, lab.created_at != 0 ? lab.created_at : now);
    q.bind(10, now);
    q.bind(11, lab.confined ? 1 : 0);
    if (lab.container_prefix) {
      q.bind(12, *lab.container_prefix);
    } else {
      q.bind(12);
    }
    q.exec();
    return {};
  });
}

Status Store::delete_lab(const std::string &name) {
  return m_impl->write(fmt::format("delete lab '{}'", name), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "DELETE FROM labs WHERE name = ?");
    q.bind(1, name);
    q.exec();
    return {};
  });
}

namespace {

/// The runtime of a record that does not say: the rule migration 3 applied to old rows.
std::string legacy_runtime(const std::string &kind) {
  return kind == k_runtime_vm || kind == k_runtime_bridge ? kind : k_runtime_container;
}

/// A JSON array of strings as written by set_exec_errors(); empty for '' or anything else.
std::vector<std::string> string_list(const std::string &text) {
  std::vector<std::string> out;
  if (text.empty()) {
    return out;
  }
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_array()) {
    for (const auto &item : json) {
      if (item.is_string()) {
        out.push_back(item.get<std::string>());
      }
    }
  }
  return out;
}

} // namespace

Result<std::vector<NodeRecord>> Store::nodes(const std::string &lab) {
  return m_impl->read<std::vector<NodeRecord>>(fmt::format("list nodes of lab '{}'", lab), [&] {
    SQLite::Statement q(
        m_impl->db, "SELECT lab, name, kind, image, config_hash, mgmt_ipv4, runtime_id, status, "
                    "runtime, exec_errors, mgmt_ipv6 FROM nodes WHERE lab = ? ORDER BY name");
    q.bind(1, lab);
    std::vector<NodeRecord> out;
    while (q.executeStep()) {
      NodeRecord r;
      r.lab = q.getColumn(0).getString();
      r.name = q.getColumn(1).getString();
      r.kind = q.getColumn(2).getString();
      r.image = q.getColumn(3).getString();
      r.config_hash = q.getColumn(4).getString();
      r.mgmt_ipv4 = q.getColumn(5).getString();
      r.runtime_id = q.getColumn(6).getString();
      r.status = status_column(q, 7);
      r.runtime = q.getColumn(8).getString();
      r.exec_errors = string_list(q.getColumn(9).getString());
      r.mgmt_ipv6 = q.getColumn(10).getString();
      out.push_back(std::move(r));
    }
    return out;
  });
}

Status Store::put_node(const NodeRecord &node) {
  return m_impl->write(fmt::format("save node '{}' of lab '{}'", node.name, node.lab),
                       [&]() -> Status {
                         SQLite::Statement q(m_impl->db, R"sql(
INSERT INTO nodes (lab, name, kind, image, config_hash, mgmt_ipv4, runtime_id, status, runtime,
                   mgmt_ipv6)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (lab, name) DO UPDATE SET
  kind = excluded.kind, image = excluded.image, config_hash = excluded.config_hash,
  mgmt_ipv4 = excluded.mgmt_ipv4, runtime_id = excluded.runtime_id, status = excluded.status,
  runtime = excluded.runtime, mgmt_ipv6 = excluded.mgmt_ipv6)sql");
                         q.bind(1, node.lab);
                         q.bind(2, node.name);
                         q.bind(3, node.kind);
                         q.bind(4, node.image);
                         q.bind(5, node.config_hash);
                         q.bind(6, node.mgmt_ipv4);
                         q.bind(7, node.runtime_id);
                         q.bind(8, to_string(node.status));
                         q.bind(9, node.runtime.empty() ? legacy_runtime(node.kind) : node.runtime);
                         q.bind(10, node.mgmt_ipv6);
                         q.exec();
                         return {};
                       });
}

Status Store::set_exec_errors(const std::string &lab, const std::string &name,
                              const std::vector<std::string> &errors) {
  return m_impl->write(
      fmt::format("save the exec errors of node '{}' of lab '{}'", name, lab), [&]() -> Status {
        SQLite::Statement q(m_impl->db,
                            "UPDATE nodes SET exec_errors = ? WHERE lab = ? AND name = ?");
        q.bind(1, errors.empty() ? std::string() : nlohmann::json(errors).dump());
        q.bind(2, lab);
        q.bind(3, name);
        q.exec();
        return {};
      });
}

Status Store::delete_node(const std::string &lab, const std::string &name) {
  return m_impl->write(fmt::format("delete node '{}' of lab '{}'", name, lab), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "DELETE FROM nodes WHERE lab = ? AND name = ?");
    q.bind(1, lab);
    q.bind(2, name);
    q.exec();
    return {};
  });
}

Result<std::vector<LinkRecord>> Store::links(const std::string &lab) {
  return m_impl->read<std::vector<LinkRecord>>(fmt::format("list links of lab '{}'", lab), [&] {
    SQLite::Statement q(m_impl->db,
                        "SELECT lab, key, name, a_node, a_iface, b_node, b_iface, a_runtime_id, "
                        "b_runtime_id, status, impair_a, impair_b, file_impair_a, file_impair_b, "
                        "override_a, override_b, override_a_set, override_b_set, impair_via, down "
                        "FROM links WHERE lab = ? ORDER BY key");
    q.bind(1, lab);
    std::vector<LinkRecord> out;
    while (q.executeStep()) {
      LinkRecord r;
      r.lab = q.getColumn(0).getString();
      r.key = q.getColumn(1).getString();
      r.name = q.getColumn(2).getString();
      r.a_node = q.getColumn(3).getString();
      r.a_iface = q.getColumn(4).getString();
      r.b_node = q.getColumn(5).getString();
      r.b_iface = q.getColumn(6).getString();
      r.a_runtime_id = q.getColumn(7).getString();
      r.b_runtime_id = q.getColumn(8).getString();
      r.status = status_column(q, 9);
      r.impair_a = q.getColumn(10).getString();
      r.impair_b = q.getColumn(11).getString();
      r.file_impair_a = q.getColumn(12).getString();
      r.file_impair_b = q.getColumn(13).getString();
      if (q.getColumn(16).getInt() != 0) {
        r.override_a = q.getColumn(14).getString();
      }
      if (q.getColumn(17).getInt() != 0) {
        r.override_b = q.getColumn(15).getString();
      }
      r.impair_via = q.getColumn(18).getString();
      r.down = q.getColumn(19).getInt() != 0;
      out.push_back(std::move(r));
    }
    return out;
  });
}

Status Store::put_link(const LinkRecord &link) {
  return m_impl->write(fmt::format("save link '{}' of lab '{}'", link.key, link.lab),
                       [&]() -> Status {
                         SQLite::Statement q(m_impl->db, R"sql(
INSERT INTO links (lab, key, name, a_node, a_iface, b_node, b_iface, a_runtime_id, b_runtime_id,
                   status)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (lab, key) DO UPDATE SET
  name = excluded.name, a_node = excluded.a_node, a_iface = excluded.a_iface,
  b_node = excluded.b_node, b_iface = excluded.b_iface, a_runtime_id = excluded.a_runtime_id,
  b_runtime_id = excluded.b_runtime_id, status = excluded.status)sql");
                         q.bind(1, link.lab);
                         q.bind(2, link.key);
                         q.bind(3, link.name);
                         q.bind(4, link.a_node);
                         q.bind(5, link.a_iface);
                         q.bind(6, link.b_node);
                         q.bind(7, link.b_iface);
                         q.bind(8, link.a_runtime_id);
                         q.bind(9, link.b_runtime_id);
                         q.bind(10, to_string(link.status));
                         q.exec();
                         return {};
                       });
}

Status Store::put_link_state(const LinkRecord &link) {
  return m_impl->write(
      fmt::format("save the impairments of link '{}' of lab '{}'", link.key, link.lab),
      [&]() -> Status {
        SQLite::Statement q(m_impl->db, R"sql(
UPDATE links SET impair_a = ?3, impair_b = ?4, file_impair_a = ?5, file_impair_b = ?6,
  override_a = ?7, override_b = ?8, override_a_set = ?9, override_b_set = ?10, impair_via = ?11,
  down = ?12
WHERE lab = ?1 AND key = ?2)sql");
        q.bind(1, link.lab);
        q.bind(2, link.key);
        q.bind(3, link.impair_a);
        q.bind(4, link.impair_b);
        q.bind(5, link.file_impair_a);
        q.bind(6, link.file_impair_b);
        q.bind(7, link.override_a.value_or(""));
        q.bind(8, link.override_b.value_or(""));
        q.bind(9, link.override_a ? 1 : 0);
        q.bind(10, link.override_b ? 1 : 0);
        q.bind(11, link.impair_via);
        q.bind(12, link.down ? 1 : 0);
        if (q.exec() == 0) {
          return fail(fmt::format("link '{}' of lab '{}' is not recorded", link.key, link.lab),
                      "run `ltb up` to create it");
        }
        return {};
      });
}

Status Store::delete_link(const std::string &lab, const std::string &key) {
  return m_impl->write(fmt::format("delete link '{}' of lab '{}'", key, lab), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "DELETE FROM links WHERE lab = ? AND key = ?");
    q.bind(1, lab);
    q.bind(2, key);
    q.exec();
    return {};
  });
}

Result<std::vector<ObjectRecord>> Store::objects(const std::string &lab) {
  return m_impl->read<std::vector<ObjectRecord>>(
      fmt::format("list runtime objects of lab '{}'", lab), [&] {
        SQLite::Statement q(m_impl->db,
                            "SELECT id, lab, type, name, owner, runtime_id, parent, status, "
                            "detail FROM objects WHERE lab = ? ORDER BY id");
        q.bind(1, lab);
        std::vector<ObjectRecord> out;
        while (q.executeStep()) {
          ObjectRecord r;
          r.id = q.getColumn(0).getInt64();
          r.lab = q.getColumn(1).getString();
          r.type = type_column(q, 2);
          r.name = q.getColumn(3).getString();
          r.owner = q.getColumn(4).getString();
          r.runtime_id = q.getColumn(5).getString();
          r.parent = q.getColumn(6).getString();
          r.status = status_column(q, 7);
          r.detail = q.getColumn(8).getString();
          out.push_back(std::move(r));
        }
        return out;
      });
}

Result<std::int64_t> Store::add_object(const ObjectRecord &object) {
  std::int64_t id = 0;
  LTB_CHECK(m_impl->write(
      fmt::format("record {} '{}' of lab '{}'", to_string(object.type), object.name, object.lab),
      [&]() -> Status {
        SQLite::Statement q(m_impl->db,
                            "INSERT INTO objects (lab, type, name, owner, runtime_id, parent, "
                            "status, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
        q.bind(1, object.lab);
        q.bind(2, to_string(object.type));
        q.bind(3, object.name);
        q.bind(4, object.owner);
        q.bind(5, object.runtime_id);
        q.bind(6, object.parent);
        q.bind(7, to_string(object.status));
        q.bind(8, object.detail);
        q.exec();
        id = m_impl->db.getLastInsertRowid();
        return {};
      }));
  return id;
}

Status Store::update_object(std::int64_t id, const std::string &runtime_id, RecordStatus status) {
  return m_impl->write(fmt::format("update runtime object {}", id), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "UPDATE objects SET runtime_id = ?, status = ? WHERE id = ?");
    q.bind(1, runtime_id);
    q.bind(2, to_string(status));
    q.bind(3, id);
    if (q.exec() == 0) {
      return fail(fmt::format("state file {}: cannot update runtime object {}: it is not recorded",
                              m_impl->path, id),
                  "this is a bug in ltb; please report it");
    }
    return {};
  });
}

Status Store::delete_object(std::int64_t id) {
  return m_impl->write(fmt::format("delete runtime object {}", id), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "DELETE FROM objects WHERE id = ?");
    q.bind(1, id);
    q.exec();
    return {};
  });
}

Result<std::vector<ReservationRecord>> Store::reservations() {
  return m_impl->read<std::vector<ReservationRecord>>("list reservations", [&] {
    SQLite::Statement q(m_impl->db,
                        fmt::format("{} ORDER BY r.start_at, r.id", k_reservation_select));
    std::vector<ReservationRecord> out;
    while (q.executeStep()) {
      out.push_back(read_reservation(q));
    }
    return out;
  });
}

Result<std::vector<ReservationRecord>> Store::reservation_claims(std::int64_t end_after) {
  return m_impl->read<std::vector<ReservationRecord>>("list reservations", [&] {
    // Only what admission needs, from the table without the texts, in a plain scan: through the
    // start_at index SQLite would look up every row by its rowid, which costs more than the scan
    // when most rows qualify, and admission sorts by itself.
    SQLite::Statement q(
        m_impl->db, "SELECT id, lab, start_at, end_at, state, demand_cpus, demand_memory_bytes, "
                    "demand_disk_bytes FROM reservations WHERE end_at > ? AND state IN "
                    "('pending', 'active', 'failed')");
    q.bind(1, end_after);
    std::vector<ReservationRecord> out;
    while (q.executeStep()) {
      ReservationRecord r;
      r.id = q.getColumn(0).getInt64();
      r.lab = q.getColumn(1).getString();
      r.start_at = q.getColumn(2).getInt64();
      r.end_at = q.getColumn(3).getInt64();
      r.state = q.getColumn(4).getString();
      r.demand_cpus = q.getColumn(5).getDouble();
      r.demand_memory_bytes = q.getColumn(6).getInt64();
      r.demand_disk_bytes = q.getColumn(7).getInt64();
      out.push_back(std::move(r));
    }
    return out;
  });
}

Result<std::optional<ReservationRecord>> Store::reservation(std::int64_t id) {
  return m_impl->read<std::optional<ReservationRecord>>(
      fmt::format("read reservation {}", id), [&]() -> std::optional<ReservationRecord> {
        SQLite::Statement q(m_impl->db, fmt::format("{} WHERE r.id = ?", k_reservation_select));
        q.bind(1, id);
        if (!q.executeStep()) {
          return std::nullopt;
        }
        return read_reservation(q);
      });
}

Result<std::int64_t> Store::add_reservation(const ReservationRecord &reservation) {
  std::int64_t id = 0;
  LTB_CHECK(m_impl->write(fmt::format("record a reservation of lab '{}'", reservation.lab),
                          [&]() -> Status {
                            SQLite::Statement q(m_impl->db, R"sql(
INSERT INTO reservations (lab, owner, source, start_at, end_at, state, reason, attempts,
                          next_attempt_at, demand_cpus, demand_memory_bytes, demand_disk_bytes,
                          created_at, updated_at, confined, files_dir)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16))sql");
                            bind_reservation(q, reservation);
                            const std::int64_t now = now_seconds();
                            q.bind(13, reservation.created_at != 0 ? reservation.created_at : now);
                            q.bind(14, now);
                            q.bind(15, reservation.confined ? 1 : 0);
                            q.bind(16, reservation.files_dir);
                            q.exec();
                            id = m_impl->db.getLastInsertRowid();
                            put_reservation_text(m_impl->db, id, reservation.topology_text);
                            return {};
                          }));
  return id;
}

Status Store::put_reservation(const ReservationRecord &reservation) {
  return m_impl->write(fmt::format("save reservation {}", reservation.id), [&]() -> Status {
    SQLite::Statement q(m_impl->db, R"sql(
UPDATE reservations SET lab = ?1, owner = ?2, source = ?3, start_at = ?4, end_at = ?5,
  state = ?6, reason = ?7, attempts = ?8, next_attempt_at = ?9, demand_cpus = ?10,
  demand_memory_bytes = ?11, demand_disk_bytes = ?12, updated_at = ?13
WHERE id = ?14)sql");
    bind_reservation(q, reservation);
    q.bind(13, now_seconds());
    q.bind(14, reservation.id);
    if (q.exec() == 0) {
      return fail(fmt::format("state file {}: no reservation {}", m_impl->path, reservation.id),
                  "see `ltb reserve list --all` for the reservations there are");
    }
    put_reservation_text(m_impl->db, reservation.id, reservation.topology_text);
    return {};
  });
}

Result<std::int64_t> Store::reservations_version() {
  return m_impl->read<std::int64_t>("read the reservations version", [&]() -> std::int64_t {
    SQLite::Statement q(m_impl->db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = "
                                    "'reservations_version'");
    if (!q.executeStep()) {
      return 0;
    }
    return q.getColumn(0).getInt64();
  });
}

Result<std::int64_t> Store::add_event(const EventRecord &event, std::int64_t keep) {
  std::int64_t id = 0;
  LTB_CHECK(m_impl->write(
      fmt::format("record event {} {} of lab '{}'", event.type, event.action, event.lab),
      [&]() -> Status {
        SQLite::Statement q(m_impl->db, "INSERT INTO events (time_ns, lab, type, action, object, "
                                        "attributes) VALUES (?, ?, ?, ?, ?, ?)");
        q.bind(1, event.time_ns);
        q.bind(2, event.lab);
        q.bind(3, event.type);
        q.bind(4, event.action);
        q.bind(5, event.object);
        q.bind(6, event.attributes.empty() ? std::string("{}") : event.attributes);
        q.exec();
        id = m_impl->db.getLastInsertRowid();
        // Ids only grow, so the oldest rows are a range of the primary key: cheap to find.
        SQLite::Statement prune(m_impl->db, "DELETE FROM events WHERE id <= ?");
        prune.bind(1, id - std::max<std::int64_t>(keep, 1));
        prune.exec();
        return {};
      }));
  return id;
}

Result<std::vector<EventRecord>> Store::events_after(std::int64_t after_id, const std::string &lab,
                                                     std::size_t limit) {
  return m_impl->read<std::vector<EventRecord>>("read events", [&] {
    SQLite::Statement q(m_impl->db,
                        "SELECT id, time_ns, lab, type, action, object, attributes FROM events "
                        "WHERE id > ?1 AND (?2 = '' OR lab = ?2) ORDER BY id LIMIT ?3");
    q.bind(1, after_id);
    q.bind(2, lab);
    q.bind(3, static_cast<std::int64_t>(limit));
    std::vector<EventRecord> out;
    while (q.executeStep()) {
      EventRecord r;
      r.id = q.getColumn(0).getInt64();
      r.time_ns = q.getColumn(1).getInt64();
      r.lab = q.getColumn(2).getString();
      r.type = q.getColumn(3).getString();
      r.action = q.getColumn(4).getString();
      r.object = q.getColumn(5).getString();
      r.attributes = q.getColumn(6).getString();
      out.push_back(std::move(r));
    }
    return out;
  });
}

Result<std::int64_t> Store::last_event_id() {
  return m_impl->read<std::int64_t>("read events", [&]() -> std::int64_t {
    return m_impl->db.execAndGet("SELECT COALESCE(MAX(id), 0) FROM events").getInt64();
  });
}

namespace {

SnapshotRecord snapshot_row(SQLite::Statement &q, bool full) {
  SnapshotRecord s;
  s.lab = q.getColumn(0).getString();
  s.name = q.getColumn(1).getString();
  s.status = q.getColumn(2).getString();
  s.memory = q.getColumn(3).getInt() != 0;
  s.created_at = q.getColumn(4).getInt64();
  s.topology_file = q.getColumn(5).getString();
  s.size_bytes = q.getColumn(6).getInt64();
  s.pause_ms = q.getColumn(7).getInt64();
  s.owner = q.getColumn(8).getString();
  if (full) {
    s.topology_text = q.getColumn(9).getString();
    s.state = q.getColumn(10).getString();
  }
  return s;
}

constexpr const char *k_snapshot_columns =
    "SELECT lab, name, status, memory, created_at, topology_file, size_bytes, pause_ms, owner{} "
    "FROM "
    "snapshots ";

} // namespace

Result<std::vector<SnapshotRecord>> Store::snapshots(const std::string &lab, bool full) {
  return m_impl->read<std::vector<SnapshotRecord>>("read snapshots", [&] {
    SQLite::Statement q(m_impl->db, fmt::format(fmt::runtime(k_snapshot_columns),
                                                full ? ", topology_text, state" : "") +
                                        "WHERE ?1 = '' OR lab = ?1 ORDER BY lab, created_at, name");
    q.bind(1, lab);
    std::vector<SnapshotRecord> out;
    while (q.executeStep()) {
      out.push_back(snapshot_row(q, full));
    }
    return out;
  });
}

Result<std::optional<SnapshotRecord>> Store::snapshot(const std::string &lab,
                                                      const std::string &name) {
  return m_impl->read<std::optional<SnapshotRecord>>(
      fmt::format("read snapshot '{}' of lab '{}'", name, lab),
      [&]() -> std::optional<SnapshotRecord> {
        SQLite::Statement q(
            m_impl->db, fmt::format(fmt::runtime(k_snapshot_columns), ", topology_text, state") +
                            "WHERE lab = ? AND name = ?");
        q.bind(1, lab);
        q.bind(2, name);
        if (!q.executeStep()) {
          return std::nullopt;
        }
        return snapshot_row(q, true);
      });
}

Status Store::add_snapshot(const SnapshotRecord &s) {
  const auto op = fmt::format("record snapshot '{}' of lab '{}'", s.name, s.lab);
  return m_impl->write(op, [&]() -> Status {
    SQLite::Statement exists(m_impl->db, "SELECT 1 FROM snapshots WHERE lab = ? AND name = ?");
    exists.bind(1, s.lab);
    exists.bind(2, s.name);
    if (exists.executeStep()) {
      return fail(Error{fmt::format("lab '{}' has a snapshot named '{}' already", s.lab, s.name),
                        fmt::format("choose another name, or remove it first (ltb snapshot rm "
                                    "{} {})",
                                    s.lab, s.name),
                        ExitCode::failed, ErrorKind::already_exists});
    }
    SQLite::Statement q(m_impl->db,
                        "INSERT INTO snapshots (lab, name, status, memory, created_at, "
                        "topology_file, topology_text, state, size_bytes, pause_ms, owner) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, s.lab);
    q.bind(2, s.name);
    q.bind(3, s.status);
    q.bind(4, s.memory ? 1 : 0);
    q.bind(5, s.created_at);
    q.bind(6, s.topology_file);
    q.bind(7, s.topology_text);
    q.bind(8, s.state);
    q.bind(9, s.size_bytes);
    q.bind(10, s.pause_ms);
    q.bind(11, s.owner);
    q.exec();
    return {};
  });
}

Status Store::put_snapshot(const SnapshotRecord &s) {
  const auto op = fmt::format("update snapshot '{}' of lab '{}'", s.name, s.lab);
  return m_impl->write(op, [&]() -> Status {
    SQLite::Statement q(m_impl->db, "UPDATE snapshots SET status = ?, state = ?, size_bytes = ?, "
                                    "pause_ms = ? WHERE lab = ? AND name = ?");
    q.bind(1, s.status);
    q.bind(2, s.state);
    q.bind(3, s.size_bytes);
    q.bind(4, s.pause_ms);
    q.bind(5, s.lab);
    q.bind(6, s.name);
    if (q.exec() == 0) {
      return fail(fmt::format("cannot {}: it is not recorded", op));
    }
    return {};
  });
}

Status Store::delete_snapshot(const std::string &lab, const std::string &name) {
  return m_impl->write(fmt::format("delete snapshot '{}' of lab '{}'", name, lab), [&]() -> Status {
    SQLite::Statement artifacts(m_impl->db,
                                "DELETE FROM snapshot_artifacts WHERE lab = ? AND snapshot = ?");
    artifacts.bind(1, lab);
    artifacts.bind(2, name);
    artifacts.exec();
    SQLite::Statement q(m_impl->db, "DELETE FROM snapshots WHERE lab = ? AND name = ?");
    q.bind(1, lab);
    q.bind(2, name);
    q.exec();
    return {};
  });
}

Result<std::vector<SnapshotArtifact>> Store::snapshot_artifacts(const std::string &lab,
                                                                const std::string &name) {
  return m_impl->read<std::vector<SnapshotArtifact>>("read snapshot artifacts", [&] {
    SQLite::Statement q(
        m_impl->db, "SELECT lab, snapshot, node, type, ref, size_bytes FROM "
                    "snapshot_artifacts WHERE lab = ? AND snapshot = ? ORDER BY node, type, rowid");
    q.bind(1, lab);
    q.bind(2, name);
    std::vector<SnapshotArtifact> out;
    while (q.executeStep()) {
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                     q.getColumn(2).getString(), q.getColumn(3).getString(),
                     q.getColumn(4).getString(), q.getColumn(5).getInt64()});
    }
    return out;
  });
}

Status Store::add_snapshot_artifact(const SnapshotArtifact &a) {
  return m_impl->write(
      fmt::format("record {} {} of snapshot '{}'", a.type, a.ref, a.snapshot), [&]() -> Status {
        // An upsert, not a replace: the row keeps its place in the recorded order.
        SQLite::Statement q(m_impl->db,
                            "INSERT INTO snapshot_artifacts (lab, snapshot, node, type, ref, "
                            "size_bytes) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (lab, snapshot, "
                            "node, type, ref) DO UPDATE SET size_bytes = excluded.size_bytes");
        q.bind(1, a.lab);
        q.bind(2, a.snapshot);
        q.bind(3, a.node);
        q.bind(4, a.type);
        q.bind(5, a.ref);
        q.bind(6, a.size_bytes);
        q.exec();
        return {};
      });
}

Status Store::set_snapshot_artifact_size(const SnapshotArtifact &a) {
  return add_snapshot_artifact(a);
}

Result<std::int64_t> Store::snapshots_size() {
  return m_impl->read<std::int64_t>("read snapshot sizes", [&] {
    SQLite::Statement q(m_impl->db, "SELECT COALESCE(SUM(size_bytes), 0) FROM snapshots");
    q.executeStep();
    return q.getColumn(0).getInt64();
  });
}

Result<std::vector<UserRecord>> Store::users(const std::string &kind) {
  return m_impl->read<std::vector<UserRecord>>("read users", [&] {
    SQLite::Statement q(m_impl->db, "SELECT kind, name, id, role, quotas, created_at FROM users "
                                    "WHERE ? = '' OR kind = ? ORDER BY kind DESC, name");
    q.bind(1, kind);
    q.bind(2, kind);
    std::vector<UserRecord> out;
    while (q.executeStep()) {
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                     q.getColumn(2).getInt64(), q.getColumn(3).getString(),
                     q.getColumn(4).getString(), q.getColumn(5).getInt64()});
    }
    return out;
  });
}

Result<std::optional<UserRecord>> Store::user(const std::string &kind, const std::string &name) {
  return m_impl->read<std::optional<UserRecord>>(
      fmt::format("read {} '{}'", kind, name), [&]() -> std::optional<UserRecord> {
        SQLite::Statement q(m_impl->db, "SELECT kind, name, id, role, quotas, created_at FROM "
                                        "users WHERE kind = ? AND name = ?");
        q.bind(1, kind);
        q.bind(2, name);
        if (!q.executeStep()) {
          return std::nullopt;
        }
        return UserRecord{q.getColumn(0).getString(), q.getColumn(1).getString(),
                          q.getColumn(2).getInt64(),  q.getColumn(3).getString(),
                          q.getColumn(4).getString(), q.getColumn(5).getInt64()};
      });
}

Result<std::string> Store::web_password(const std::string &name) {
  return m_impl->read<std::string>(fmt::format("read the web password of '{}'", name), [&] {
    SQLite::Statement q(m_impl->db, "SELECT hash FROM web_passwords WHERE name = ?");
    q.bind(1, name);
    return q.executeStep() ? q.getColumn(0).getString() : std::string();
  });
}

Status Store::set_web_password(const std::string &name, const std::string &hash) {
  return m_impl->write(fmt::format("save the web password of '{}'", name), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "INSERT INTO web_passwords (name, hash, updated_at) VALUES "
                                    "(?, ?, ?) ON CONFLICT (name) DO UPDATE SET hash = "
                                    "excluded.hash, updated_at = excluded.updated_at");
    q.bind(1, name);
    q.bind(2, hash);
    q.bind(3, now_seconds());
    q.exec();
    return {};
  });
}

Status Store::delete_web_password(const std::string &name) {
  return m_impl->write(fmt::format("remove the web password of '{}'", name), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "DELETE FROM web_passwords WHERE name = ?");
    q.bind(1, name);
    q.exec();
    return {};
  });
}

namespace {
constexpr const char *k_token_columns =
    "id, user, label, digest, created_at, expires_at, last_used_at";
TokenRecord read_token(SQLite::Statement &q) {
  return TokenRecord{q.getColumn(0).getString(), q.getColumn(1).getString(),
                     q.getColumn(2).getString(), q.getColumn(3).getString(),
                     q.getColumn(4).getInt64(),  q.getColumn(5).getInt64(),
                     q.getColumn(6).getInt64()};
}
} // namespace

Result<std::vector<TokenRecord>> Store::tokens(const std::string &user) {
  return m_impl->read<std::vector<TokenRecord>>("list API tokens", [&] {
    SQLite::Statement q(m_impl->db,
                        fmt::format("SELECT {} FROM api_tokens WHERE ?1 = '' OR user = ?1 ORDER "
                                    "BY created_at, id",
                                    k_token_columns));
    q.bind(1, user);
    std::vector<TokenRecord> out;
    while (q.executeStep()) {
      out.push_back(read_token(q));
    }
    return out;
  });
}

Result<std::optional<TokenRecord>> Store::token(const std::string &id) {
  return m_impl->read<std::optional<TokenRecord>>(
      fmt::format("read API token {}", id), [&]() -> std::optional<TokenRecord> {
        SQLite::Statement q(m_impl->db,
                            fmt::format("SELECT {} FROM api_tokens WHERE id = ?", k_token_columns));
        q.bind(1, id);
        if (!q.executeStep()) {
          return std::nullopt;
        }
        return read_token(q);
      });
}

Status Store::add_token(const TokenRecord &token) {
  return m_impl->write(fmt::format("save API token {}", token.id), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "INSERT INTO api_tokens (id, user, label, digest, created_at, "
                                    "expires_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, 0)");
    q.bind(1, token.id);
    q.bind(2, token.user);
    q.bind(3, token.label);
    q.bind(4, token.digest);
    q.bind(5, token.created_at != 0 ? token.created_at : now_seconds());
    q.bind(6, token.expires_at);
    q.exec();
    return {};
  });
}

Result<bool> Store::delete_token(const std::string &id) {
  bool deleted = false;
  LTB_CHECK(m_impl->write(fmt::format("remove API token {}", id), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "DELETE FROM api_tokens WHERE id = ?");
    q.bind(1, id);
    deleted = q.exec() > 0;
    return {};
  }));
  return deleted;
}

Status Store::touch_token(const std::string &id, std::int64_t when) {
  return m_impl->write(fmt::format("note the use of API token {}", id), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?");
    q.bind(1, when);
    q.bind(2, id);
    q.exec();
    return {};
  });
}

Status Store::put_user(const UserRecord &user) {
  return m_impl->write(fmt::format("save {} '{}'", user.kind, user.name), [&]() -> Status {
    SQLite::Statement q(m_impl->db,
                        "INSERT INTO users (kind, name, id, role, quotas, created_at) VALUES (?, "
                        "?, ?, ?, ?, ?) ON CONFLICT (kind, name) DO UPDATE SET id = excluded.id, "
                        "role = excluded.role, quotas = excluded.quotas");
    q.bind(1, user.kind);
    q.bind(2, user.name);
    q.bind(3, user.id);
    q.bind(4, user.role);
    q.bind(5, user.quotas);
    q.bind(6, user.created_at);
    q.exec();
    return {};
  });
}

Status Store::delete_user(const std::string &kind, const std::string &name) {
  return m_impl->write(fmt::format("remove {} '{}'", kind, name), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "DELETE FROM users WHERE kind = ? AND name = ?");
    q.bind(1, kind);
    q.bind(2, name);
    q.exec();
    return {};
  });
}

Result<std::optional<std::string>> Store::meta(const std::string &key) {
  return m_impl->read<std::optional<std::string>>(
      fmt::format("read setting '{}'", key), [&]() -> std::optional<std::string> {
        SQLite::Statement q(m_impl->db, "SELECT value FROM meta WHERE key = ?");
        q.bind(1, key);
        if (!q.executeStep()) {
          return std::nullopt;
        }
        return q.getColumn(0).getString();
      });
}

Status Store::set_meta(const std::string &key, const std::string &value) {
  return m_impl->write(fmt::format("save setting '{}'", key), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "INSERT INTO meta (key, value) VALUES (?, ?) "
                                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    q.bind(1, key);
    q.bind(2, value);
    q.exec();
    return {};
  });
}

Result<std::vector<std::pair<std::string, std::string>>>
Store::meta_with_prefix(const std::string &prefix) {
  using Rows = std::vector<std::pair<std::string, std::string>>;
  return m_impl->read<Rows>(fmt::format("read settings '{}*'", prefix), [&] {
    SQLite::Statement q(m_impl->db, "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? "
                                    "ORDER BY key");
    q.bind(1, static_cast<int>(prefix.size()));
    q.bind(2, prefix);
    Rows out;
    while (q.executeStep()) {
      out.emplace_back(q.getColumn(0).getString(), q.getColumn(1).getString());
    }
    return out;
  });
}

Status Store::delete_meta(const std::string &key) {
  return m_impl->write(fmt::format("delete setting '{}'", key), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "DELETE FROM meta WHERE key = ?");
    q.bind(1, key);
    q.exec();
    return {};
  });
}

// --- templates ---------------------------------------------------------------------------------

namespace {

TemplateRecord read_template(SQLite::Statement &q) {
  TemplateRecord t;
  t.name = q.getColumn(0).getString();
  t.version = q.getColumn(1).getInt();
  t.digest = q.getColumn(2).getString();
  t.topology = q.getColumn(3).getString();
  t.description = q.getColumn(4).getString();
  t.created_by = q.getColumn(5).getString();
  t.created_at = q.getColumn(6).getInt64();
  t.owner = q.getColumn(7).getString();
  t.shared = q.getColumn(8).getInt() != 0;
  return t;
}

constexpr const char *k_template_select =
    "SELECT t.name, t.version, t.digest, t.topology, t.description, t.created_by, t.created_at, "
    "n.owner, n.shared FROM templates t JOIN template_names n ON n.name = t.name";

} // namespace

Result<std::vector<TemplateRecord>> Store::templates(const std::string &name) {
  return m_impl->read<std::vector<TemplateRecord>>("list templates", [&] {
    SQLite::Statement q(m_impl->db, fmt::format("{} WHERE ?1 = '' OR t.name = ?1 ORDER BY t.name, "
                                                "t.version",
                                                k_template_select));
    q.bind(1, name);
    std::vector<TemplateRecord> out;
    while (q.executeStep()) {
      out.push_back(read_template(q));
    }
    return out;
  });
}

Result<std::optional<TemplateRecord>> Store::template_version(const std::string &name,
                                                              int version) {
  return m_impl->read<std::optional<TemplateRecord>>(
      fmt::format("read template '{}'", name), [&]() -> std::optional<TemplateRecord> {
        SQLite::Statement q(m_impl->db,
                            fmt::format("{} WHERE t.name = ?1 AND (?2 = 0 OR t.version = ?2) "
                                        "ORDER BY t.version DESC LIMIT 1",
                                        k_template_select));
        q.bind(1, name);
        q.bind(2, version);
        if (!q.executeStep()) {
          return std::nullopt;
        }
        TemplateRecord t = read_template(q);
        SQLite::Statement f(m_impl->db,
                            "SELECT f.path, f.blob, b.size, f.mode FROM template_files f JOIN "
                            "blobs b ON b.digest = f.blob WHERE f.name = ? AND f.version = ? "
                            "ORDER BY f.path");
        f.bind(1, t.name);
        f.bind(2, t.version);
        while (f.executeStep()) {
          t.files.push_back({f.getColumn(0).getString(), f.getColumn(1).getString(),
                             f.getColumn(2).getInt64(),
                             static_cast<std::uint32_t>(f.getColumn(3).getInt())});
        }
        return t;
      });
}

Result<TemplateAdded> Store::add_template(const TemplateRecord &t,
                                          const std::map<std::string, std::string> &blobs) {
  TemplateAdded out;
  LTB_CHECK(m_impl->write(fmt::format("add template '{}'", t.name), [&]() -> Status {
    auto &db = m_impl->db;
    {
      SQLite::Statement q(db, fmt::format("{} WHERE t.name = ? ORDER BY t.version DESC LIMIT 1",
                                          k_template_select));
      q.bind(1, t.name);
      if (q.executeStep()) {
        auto newest = read_template(q);
        if (newest.digest == t.digest) {
          out.record = std::move(newest);
          out.added = false;
          return {};
        }
      }
    }
    for (const auto &file : t.files) {
      SQLite::Statement have(db, "SELECT 1 FROM blobs WHERE digest = ?");
      have.bind(1, file.digest);
      if (have.executeStep()) {
        continue;
      }
      auto content = blobs.find(file.digest);
      if (content == blobs.end()) {
        return fail(fmt::format("template '{}': the content of '{}' is missing", t.name, file.path),
                    "this is a bug in ltb; please report it");
      }
      SQLite::Statement put(db, "INSERT INTO blobs (digest, size, content) VALUES (?, ?, ?)");
      put.bind(1, file.digest);
      put.bind(2, static_cast<std::int64_t>(content->second.size()));
      put.bind(3, content->second.data(), static_cast<int>(content->second.size()));
      put.exec();
    }
    SQLite::Statement next(db, "INSERT INTO template_names (name, last_version, owner, shared) "
                               "VALUES (?, 1, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                               "last_version = last_version + 1 RETURNING last_version, owner, "
                               "shared");
    next.bind(1, t.name);
    next.bind(2, t.owner.empty() ? t.created_by : t.owner);
    next.bind(3, t.shared ? 1 : 0);
    next.executeStep();
    out.record = t;
    out.record.version = next.getColumn(0).getInt();
    out.record.owner = next.getColumn(1).getString();
    out.record.shared = next.getColumn(2).getInt() != 0;
    out.record.created_at = out.record.created_at != 0 ? out.record.created_at : now_seconds();
    next.reset();
    SQLite::Statement put(db, "INSERT INTO templates (name, version, digest, topology, "
                              "description, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    put.bind(1, t.name);
    put.bind(2, out.record.version);
    put.bind(3, t.digest);
    put.bind(4, t.topology);
    put.bind(5, t.description);
    put.bind(6, t.created_by);
    put.bind(7, out.record.created_at);
    put.exec();
    for (const auto &file : t.files) {
      SQLite::Statement f(db, "INSERT INTO template_files (name, version, path, blob, mode) "
                              "VALUES (?, ?, ?, ?, ?)");
      f.bind(1, t.name);
      f.bind(2, out.record.version);
      f.bind(3, file.path);
      f.bind(4, file.digest);
      f.bind(5, static_cast<int>(file.mode));
      f.exec();
    }
    out.added = true;
    return {};
  }));
  return out;
}

Status Store::delete_template(const std::string &name, int version) {
  return m_impl->write(fmt::format("delete template '{}'", name), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "DELETE FROM templates WHERE name = ?1 AND (?2 = 0 OR "
                                    "version = ?2)");
    q.bind(1, name);
    q.bind(2, version);
    q.exec();
    m_impl->db.exec("DELETE FROM blobs WHERE NOT EXISTS (SELECT 1 FROM template_files f WHERE "
                    "f.blob = blobs.digest)");
    return {};
  });
}

Status Store::set_template_shared(const std::string &name, bool shared) {
  return m_impl->write(fmt::format("share template '{}'", name), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "UPDATE template_names SET shared = ? WHERE name = ?");
    q.bind(1, shared ? 1 : 0);
    q.bind(2, name);
    if (q.exec() == 0) {
      return fail(fmt::format("no template named '{}'", name), "see `ltb template list`");
    }
    return {};
  });
}

Result<std::optional<std::string>> Store::blob(const std::string &digest) {
  return m_impl->read<std::optional<std::string>>(
      "read a template file", [&]() -> std::optional<std::string> {
        SQLite::Statement q(m_impl->db, "SELECT content FROM blobs WHERE digest = ?");
        q.bind(1, digest);
        if (!q.executeStep()) {
          return std::nullopt;
        }
        const auto column = q.getColumn(0);
        return std::string(static_cast<const char *>(column.getBlob()),
                           static_cast<std::size_t>(column.getBytes()));
      });
}

Status Store::set_lab_source(const std::string &lab, const std::string &source) {
  return m_impl->write(fmt::format("save the source of lab '{}'", lab), [&]() -> Status {
    SQLite::Statement q(m_impl->db, "UPDATE labs SET source = ? WHERE name = ?");
    q.bind(1, source);
    q.bind(2, lab);
    q.exec();
    return {};
  });
}

Status Store::transaction(const std::function<Status()> &fn) {
  auto &impl = *m_impl;
  std::lock_guard lock(impl.mutex);
  struct DepthGuard {
    int &depth;
    explicit DepthGuard(int &d) : depth(d) { ++depth; }
    ~DepthGuard() { --depth; }
    DepthGuard(const DepthGuard &) = delete;
    DepthGuard &operator=(const DepthGuard &) = delete;
  };
  try {
    if (impl.depth > 0) {
      // Nested: a savepoint, so that a failing inner fn undoes only its own writes.
      NestedSavepoint sp(impl.db, fmt::format("ltb_{}", impl.depth));
      DepthGuard guard(impl.depth);
      LTB_CHECK(fn()); // ~NestedSavepoint rolls back
      sp.release();
      return {};
    }
    SQLite::Transaction tx(impl.db, SQLite::TransactionBehavior::IMMEDIATE);
    DepthGuard guard(impl.depth);
    if (impl.transaction_hook) {
      impl.transaction_hook();
    }
    LTB_CHECK(fn()); // ~Transaction rolls back
    util::fault::point("state-write");
    tx.commit();
    util::fault::point("state-commit");
    return {};
  } catch (const SQLite::Exception &e) {
    return fail(sqlite_error(impl.path, "run a transaction", e));
  }
}

void Store::set_transaction_hook(std::function<void()> hook) {
  std::lock_guard lock(m_impl->mutex);
  m_impl->transaction_hook = std::move(hook);
}

std::string default_state_path() {
  const char *env = std::getenv("LTB_STATE");
  if (env != nullptr && *env != '\0') {
    return env;
  }
  return "/var/lib/ltb/state.db";
}

} // namespace ltb::state
