// Tests of lib/state: the SQLite store, its migrations, and the per-lab locks.

#include "state/migrations.hpp"
#include "state/store.hpp"
#include "testutil.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <doctest/doctest.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using namespace ltb::state;

namespace {

using ltb::test::TempDir;

std::unique_ptr<Store> open_ok(const std::string &path) {
  auto store = Store::open(path);
  if (!store) {
    FAIL("open failed: ", store.error().message);
  }
  return std::move(*store);
}

int raw_user_version(const std::string &path) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  return db.execAndGet("PRAGMA user_version").getInt();
}

std::vector<std::string> raw_tables(const std::string &path) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                          "'sqlite_%' ORDER BY name");
  std::vector<std::string> out;
  while (q.executeStep()) {
    out.push_back(q.getColumn(0).getString());
  }
  return out;
}

const std::vector<std::string> k_tables{"api_tokens",
                                        "blobs",
                                        "events",
                                        "labs",
                                        "links",
                                        "meta",
                                        "nodes",
                                        "objects",
                                        "reservation_texts",
                                        "reservations",
                                        "snapshot_artifacts",
                                        "snapshots",
                                        "template_files",
                                        "template_names",
                                        "templates",
                                        "users",
                                        "web_passwords"};

LabRecord make_lab(const std::string &name) {
  LabRecord lab;
  lab.name = name;
  lab.topology_file = "/srv/" + name + ".yaml";
  lab.topology_text = "name: " + name + "\n";
  lab.topology_hash = "hash-" + name;
  lab.mgmt_network = "ltb-" + name;
  lab.mgmt_subnet = "172.20.0.0/24";
  lab.owner = "alice";
  lab.status = RecordStatus::deploying;
  return lab;
}

NodeRecord make_node(const std::string &lab, const std::string &name) {
  return NodeRecord{lab,          name,         "linux",       "alpine:3",
                    "ch-" + name, "172.20.0.2", "cid-" + name, RecordStatus::running};
}

LinkRecord make_link(const std::string &lab, const std::string &key) {
  LinkRecord l;
  l.lab = lab;
  l.key = key;
  l.name = "name-" + key;
  l.a_node = "r1";
  l.a_iface = "eth1";
  l.b_node = "r2";
  l.b_iface = "eth1";
  l.a_runtime_id = "cid-r1";
  l.b_runtime_id = "cid-r2";
  l.status = RecordStatus::up;
  return l;
}

// Starts a child that holds the lock of `lab` until killed; returns its pid once it holds it.
pid_t child_holding_lock(const std::string &state, const std::string &lab, bool exit_at_once) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto lock = LabLock::acquire(state, lab, 0);
    const char ok = lock ? 'y' : 'n';
    (void)!::write(fds[1], &ok, 1);
    if (exit_at_once) {
      ::_exit(0); // no destructors: the kernel must release the lock
    }
    for (;;) {
      ::pause();
    }
  }
  ::close(fds[1]);
  char ok = 0;
  REQUIRE(::read(fds[0], &ok, 1) == 1);
  ::close(fds[0]);
  REQUIRE(ok == 'y');
  return pid;
}

} // namespace

TEST_CASE("state: open creates parent directories and a WAL file") {
  TempDir tmp;
  const mode_t old_mask = ::umask(022);
  const std::string path = tmp.file("a/b/state.db");
  auto store = open_ok(path);
  ::umask(old_mask);
  CHECK(store->path() == path);
  CHECK(fs::is_regular_file(path));
  struct stat st {};
  REQUIRE(::stat(tmp.file("a/b").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0755);
  REQUIRE(::stat(tmp.file("a").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0755);
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  CHECK(raw.execAndGet("PRAGMA journal_mode").getString() == "wal");
}

TEST_CASE("state: open reports a path that cannot be created") {
  TempDir tmp;
  { std::ofstream(tmp.file("file")) << "x"; }
  const std::string path = tmp.file("file/state.db");
  auto store = Store::open(path);
  REQUIRE(!store);
  CHECK(store.error().message.find(tmp.file("file")) != std::string::npos);
  CHECK(store.error().message.find(path) != std::string::npos);
  CHECK(!store.error().help.empty());
}

TEST_CASE("state: open reports a file that is not a state file") {
  TempDir tmp;
  const std::string path = tmp.file("state.db");
  {
    std::ofstream out(path);
    for (int i = 0; i < 200; ++i) {
      out << "this is not an SQLite database\n";
    }
  }
  auto store = Store::open(path);
  REQUIRE(!store);
  CHECK(store.error().message.find("state file " + path) != std::string::npos);
  CHECK(store.error().help.find("pass --state PATH") != std::string::npos);
}

TEST_CASE("state: a directory in place of the file is reported") {
  TempDir tmp;
  fs::create_directory(tmp.file("state.db"));
  auto store = Store::open(tmp.file("state.db"));
  REQUIRE(!store);
  CHECK(store.error().message == fmt::format("state file {} is a directory", tmp.file("state.db")));
}

TEST_CASE("state: permission denied says to run as root or pass --state") {
  if (::geteuid() != 0) {
    ltb::test::missing_prerequisite("the tests do not run as root (needed to drop to an "
                                    "unprivileged user)",
                                    "the permission-denied message");
    return;
  }
  TempDir tmp;
  fs::permissions(tmp.path, fs::perms(0755));
  // Child: drop to nobody, try both a file in a root-owned directory and a directory under it;
  // the exit status says which check failed.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
      ::_exit(20);
    }
    const std::string help = "run as root or pass --state PATH";
    auto in_dir = Store::open(tmp.file("state.db"));
    if (in_dir || in_dir.error().help != help ||
        in_dir.error().message.find(tmp.file("state.db")) == std::string::npos) {
      ::_exit(21);
    }
    auto sub_dir = Store::open(tmp.file("sub/state.db"));
    if (sub_dir || sub_dir.error().help != help) {
      ::_exit(22);
    }
    auto lock = LabLock::acquire(tmp.file("state.db"), "web", 0);
    if (lock || lock.error().help != help) {
      ::_exit(23);
    }
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("state: empty path is refused") {
  auto store = Store::open("");
  REQUIRE(!store);
  CHECK(store.error().code == ltb::ExitCode::usage);
}

TEST_CASE("state: a fresh file ends at the latest schema and reopening keeps data") {
  TempDir tmp;
  const std::string path = tmp.file("state.db");
  int latest = 0;
  {
    auto store = open_ok(path);
    latest = store->schema_version();
    CHECK(latest >= 1);
    REQUIRE(store->set_meta("k", "v"));
  }
  CHECK(raw_user_version(path) == latest);
  CHECK(raw_tables(path) == k_tables);
  auto again = open_ok(path);
  CHECK(again->schema_version() == latest);
  auto v = again->meta("k");
  REQUIRE(v);
  CHECK(*v == std::optional<std::string>("v"));
}

TEST_CASE("state: a file at user_version 0 with no tables is migrated") {
  TempDir tmp;
  int latest = 0;
  {
    auto fresh = open_ok(tmp.file("fresh.db"));
    latest = fresh->schema_version();
  }
  const std::string path = tmp.file("old.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("CREATE TABLE scratch (a); DROP TABLE scratch;"); // a valid, empty database
  }
  REQUIRE(raw_user_version(path) == 0);
  REQUIRE(raw_tables(path).empty());
  auto store = open_ok(path);
  CHECK(store->schema_version() == latest);
  CHECK(raw_tables(path) == k_tables);
  REQUIRE(store->put_lab(make_lab("x")));
  auto labs = store->labs();
  REQUIRE(labs);
  CHECK(labs->size() == 1);
}

TEST_CASE("state: a file from a newer ltb is refused untouched") {
  TempDir tmp;
  int latest = 0;
  {
    auto fresh = open_ok(tmp.file("fresh.db"));
    latest = fresh->schema_version();
  }
  const std::string path = tmp.file("future.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(fmt::format("PRAGMA user_version = {}", latest + 5));
  }
  auto store = Store::open(path);
  REQUIRE(!store);
  CHECK(store.error().message ==
        fmt::format("state file {} was written by a newer ltb (schema {}, this ltb knows {}); "
                    "upgrade ltb",
                    path, latest + 5, latest));
  CHECK(raw_user_version(path) == latest + 5);
  CHECK(raw_tables(path).empty());
}

TEST_CASE("state: refused files keep every byte: a newer ltb's, another program's, an empty one") {
  TempDir tmp;
  auto bytes = [](const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  int latest = 0;
  {
    auto fresh = open_ok(tmp.file("fresh.db"));
    latest = fresh->schema_version();
  }
  SUBCASE("a newer ltb's, in rollback-journal mode: not switched to WAL") {
    const std::string path = tmp.file("future.db");
    {
      SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      raw.exec("CREATE TABLE labs (name TEXT)");
      raw.exec(fmt::format("PRAGMA user_version = {}", latest + 1));
    }
    const std::string before = bytes(path);
    auto store = Store::open(path);
    REQUIRE(!store);
    CHECK(store.error().message.find("was written by a newer ltb") != std::string::npos);
    CHECK(bytes(path) == before);
    CHECK(!fs::exists(path + "-wal"));
  }
  SUBCASE("another program's database: not given ltb's tables") {
    const std::string path = tmp.file("places.sqlite");
    {
      SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      raw.exec("CREATE TABLE moz_places (url TEXT); INSERT INTO moz_places VALUES ('x')");
    }
    const std::string before = bytes(path);
    auto store = Store::open(path);
    REQUIRE(!store);
    CHECK(store.error().message ==
          fmt::format("state file {} is not ltb's: it is an SQLite database with other tables "
                      "(moz_places)",
                      path));
    CHECK(store.error().help.find("pass --state PATH") != std::string::npos);
    CHECK(bytes(path) == before);
    CHECK(raw_user_version(path) == 0);
  }
  SUBCASE("an empty file: not taken for a new database") {
    const std::string path = tmp.file("empty.db");
    { std::ofstream out(path); }
    auto store = Store::open(path);
    REQUIRE(!store);
    CHECK(store.error().message ==
          fmt::format("state file {} is empty, so it is not an ltb state file (ltb makes a new "
                      "one itself where there is none)",
                      path));
    CHECK(store.error().help.find("restore it from a backup") != std::string::npos);
    CHECK(fs::file_size(path) == 0);
    CHECK(!fs::exists(path + "-wal"));
  }
}

TEST_CASE("state: a new state file appears whole, and nothing else beside it") {
  TempDir tmp;
  const std::string path = tmp.file("state.db");
  open_ok(path);
  std::vector<std::string> names;
  for (const auto &entry : fs::directory_iterator(tmp.path)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  // The WAL files of the open that followed the creation; no ".new-" file is left.
  for (const auto &name : names) {
    CHECK((name == "state.db" || name == "state.db-wal" || name == "state.db-shm"));
  }
  CHECK(raw_tables(path) == k_tables);
}

TEST_CASE("state: labs CRUD keeps created_at and sets updated_at") {
  TempDir tmp;
  auto store = open_ok(tmp.file("state.db"));

  auto missing = store->lab("nope");
  REQUIRE(missing);
  CHECK(!missing->has_value());

  const auto t0 = static_cast<std::int64_t>(std::time(nullptr));
  LabRecord b = make_lab("b");
  REQUIRE(store->put_lab(b));
  LabRecord a = make_lab("a");
  a.created_at = 1000;
  REQUIRE(store->put_lab(a));
  const auto t1 = static_cast<std::int64_t>(std::time(nullptr));

  auto got_b = store->lab("b");
  REQUIRE(got_b);
  REQUIRE(got_b->has_value());
  const LabRecord &rb = **got_b;
  CHECK(rb.name == "b");
  CHECK(rb.topology_file == b.topology_file);
  CHECK(rb.topology_text == b.topology_text);
  CHECK(rb.topology_hash == b.topology_hash);
  CHECK(rb.mgmt_network == b.mgmt_network);
  CHECK(rb.mgmt_subnet == b.mgmt_subnet);
  CHECK(rb.owner == b.owner);
  CHECK(rb.status == b.status);
  CHECK(rb.created_at >= t0);
  CHECK(rb.created_at <= t1);
  CHECK(rb.updated_at >= t0);
  CHECK(rb.updated_at <= t1);

  // Update: created_at of the existing row stays, whatever the record says.
  a.created_at = 0;
  a.status = RecordStatus::running;
  a.topology_hash = "hash2";
  REQUIRE(store->put_lab(a));
  auto got_a = store->lab("a");
  REQUIRE(got_a);
  REQUIRE(got_a->has_value());
  CHECK((*got_a)->created_at == 1000);
  CHECK((*got_a)->updated_at >= t0);
  CHECK((*got_a)->status == RecordStatus::running);
  CHECK((*got_a)->topology_hash == "hash2");

  auto labs = store->labs();
  REQUIRE(labs);
  REQUIRE(labs->size() == 2);
  CHECK((*labs)[0].name == "a");
  CHECK((*labs)[1].name == "b");

  REQUIRE(store->delete_lab("a"));
  REQUIRE(store->delete_lab("a")); // deleting what is gone is not an error
  labs = store->labs();
  REQUIRE(labs);
  REQUIRE(labs->size() == 1);
  CHECK((*labs)[0].name == "b");
}

TEST_CASE("state: nodes CRUD") {
  TempDir tmp;
  auto store = open_ok(tmp.file("state.db"));
  REQUIRE(store->put_lab(make_lab("l")));
  REQUIRE(store->put_node(make_node("l", "r2")));
  REQUIRE(store->put_node(make_node("l", "r1")));

  auto nodes = store->nodes("l");
  REQUIRE(nodes);
  REQUIRE(nodes->size() == 2);
  const NodeRecord &n = (*nodes)[0];
  CHECK(n.lab == "l");
  CHECK(n.name == "r1");
  CHECK(n.kind == "linux");
  CHECK(n.image == "alpine:3");
  CHECK(n.config_hash == "ch-r1");
  CHECK(n.mgmt_ipv4 == "172.20.0.2");
  CHECK(n.runtime_id == "cid-r1");
  CHECK(n.status == RecordStatus::running);

  NodeRecord changed = make_node("l", "r1");
  changed.runtime_id = "cid-new";
  changed.status = RecordStatus::failed;
  changed.mgmt_ipv4 = "172.20.0.9";
  REQUIRE(store->put_node(changed));
  nodes = store->nodes("l");
  REQUIRE(nodes);
  REQUIRE(nodes->size() == 2);
  CHECK((*nodes)[0].runtime_id == "cid-new");
  CHECK((*nodes)[0].status == RecordStatus::failed);
  CHECK((*nodes)[0].mgmt_ipv4 == "172.20.0.9");

  REQUIRE(store->delete_node("l", "r1"));
  nodes = store->nodes("l");
  REQUIRE(nodes);
  REQUIRE(nodes->size() == 1);
  CHECK((*nodes)[0].name == "r2");

  auto none = store->nodes("other");
  REQUIRE(none);
  CHECK(none->empty());

  // A node of a lab that is not recorded is refused, naming the state file and the node.
  auto orphan = store->put_node(make_node("ghost", "r9"));
  REQUIRE(!orphan);
  CHECK(orphan.error().message.find(store->path()) != std::string::npos);
  CHECK(orphan.error().message.find("node 'r9' of lab 'ghost'") != std::string::npos);
}

TEST_CASE("state: links CRUD") {
  TempDir tmp;
  auto store = open_ok(tmp.file("state.db"));
  REQUIRE(store->put_lab(make_lab("l")));
  REQUIRE(store->put_link(make_link("l", "r1:eth1--r2:eth1")));
  REQUIRE(store->put_link(make_link("l", "r1:eth2--r3:eth1")));

  auto links = store->links("l");
  REQUIRE(links);
  REQUIRE(links->size() == 2);
  const LinkRecord &k = (*links)[0];
  CHECK(k.lab == "l");
  CHECK(k.key == "r1:eth1--r2:eth1");
  CHECK(k.name == "name-r1:eth1--r2:eth1");
  CHECK(k.a_node == "r1");
  CHECK(k.a_iface == "eth1");
  CHECK(k.b_node == "r2");
  CHECK(k.b_iface == "eth1");
  CHECK(k.a_runtime_id == "cid-r1");
  CHECK(k.b_runtime_id == "cid-r2");
  CHECK(k.status == RecordStatus::up);

  LinkRecord changed = make_link("l", "r1:eth1--r2:eth1");
  changed.b_runtime_id = "cid-r2-new";
  changed.status = RecordStatus::failed;
  REQUIRE(store->put_link(changed));
  links = store->links("l");
  REQUIRE(links);
  REQUIRE(links->size() == 2);
  CHECK((*links)[0].b_runtime_id == "cid-r2-new");
  CHECK((*links)[0].status == RecordStatus::failed);

  REQUIRE(store->delete_link("l", "r1:eth1--r2:eth1"));
  links = store->links("l");
  REQUIRE(links);
  REQUIRE(links->size() == 1);
  CHECK((*links)[0].key == "r1:eth2--r3:eth1");
}

TEST_CASE("state: objects CRUD") {
  TempDir tmp;
  auto store = open_ok(tmp.file("state.db"));
  REQUIRE(store->put_lab(make_lab("l")));
  ObjectRecord o;
  o.lab = "l";
  o.type = ObjectType::container;
  o.name = "ltb-l-r1";
  o.owner = "r1";
  o.status = RecordStatus::creating;
  auto id1 = store->add_object(o);
  REQUIRE(id1);
  o.type = ObjectType::port;
  o.name = "veth0";
  o.parent = "br0";
  auto id2 = store->add_object(o);
  REQUIRE(id2);
  CHECK(*id2 > *id1);

  REQUIRE(store->update_object(*id1, "cid-123", RecordStatus::created));
  auto objects = store->objects("l");
  REQUIRE(objects);
  REQUIRE(objects->size() == 2);
  const ObjectRecord &c = (*objects)[0];
  CHECK(c.id == *id1);
  CHECK(c.lab == "l");
  CHECK(c.type == ObjectType::container);
  CHECK(c.name == "ltb-l-r1");
  CHECK(c.owner == "r1");
  CHECK(c.runtime_id == "cid-123");
  CHECK(c.status == RecordStatus::created);
  CHECK(c.parent.empty());
  CHECK((*objects)[1].id == *id2);
  CHECK((*objects)[1].parent == "br0");
  CHECK((*objects)[1].status == RecordStatus::creating);

  auto bad = store->update_object(*id2 + 100, "x", RecordStatus::created);
  REQUIRE(!bad);
  CHECK(bad.error().message.find(std::to_string(*id2 + 100)) != std::string::npos);

  REQUIRE(store->delete_object(*id1));
  objects = store->objects("l");
  REQUIRE(objects);
  REQUIRE(objects->size() == 1);
  CHECK((*objects)[0].id == *id2);

  // AUTOINCREMENT: an id is never reused after a delete.
  auto id3 = store->add_object(o);
  REQUIRE(id3);
  CHECK(*id3 > *id2);
}

TEST_CASE("state: meta") {
  TempDir tmp;
  auto store = open_ok(tmp.file("state.db"));
  auto v = store->meta("net.datapath");
  REQUIRE(v);
  CHECK(!v->has_value());
  REQUIRE(store->set_meta("net.datapath", "netdev"));
  REQUIRE(store->set_meta("net.datapath", "system"));
  v = store->meta("net.datapath");
  REQUIRE(v);
  CHECK(*v == std::optional<std::string>("system"));
}

TEST_CASE("state: delete_lab cascades, put_lab does not") {
  TempDir tmp;
  auto store = open_ok(tmp.file("state.db"));
  for (const std::string lab : {"gone", "kept"}) {
    REQUIRE(store->put_lab(make_lab(lab)));
    REQUIRE(store->put_node(make_node(lab, "r1")));
    REQUIRE(store->put_link(make_link(lab, "k1")));
    ObjectRecord o;
    o.lab = lab;
    o.type = ObjectType::veth;
    o.name = "v1";
    REQUIRE(store->add_object(o));
  }
  // Updating a lab must not drop its children (an INSERT OR REPLACE would).
  LabRecord updated = make_lab("gone");
  updated.status = RecordStatus::removing;
  REQUIRE(store->put_lab(updated));
  CHECK(store->nodes("gone")->size() == 1);
  CHECK(store->links("gone")->size() == 1);
  CHECK(store->objects("gone")->size() == 1);

  REQUIRE(store->delete_lab("gone"));
  CHECK(store->nodes("gone")->empty());
  CHECK(store->links("gone")->empty());
  CHECK(store->objects("gone")->empty());
  CHECK(store->nodes("kept")->size() == 1);
  CHECK(store->links("kept")->size() == 1);
  CHECK(store->objects("kept")->size() == 1);
}

TEST_CASE("state: transaction commits together or rolls back together") {
  TempDir tmp;
  auto store = open_ok(tmp.file("state.db"));

  auto ok = store->transaction([&]() -> ltb::Status {
    LTB_CHECK(store->put_lab(make_lab("l")));
    LTB_CHECK(store->put_node(make_node("l", "r1")));
    LTB_CHECK(store->put_link(make_link("l", "k1")));
    return {};
  });
  REQUIRE(ok);
  CHECK(store->nodes("l")->size() == 1);

  auto failed = store->transaction([&]() -> ltb::Status {
    LTB_CHECK(store->put_node(make_node("l", "r2")));
    LTB_CHECK(store->delete_link("l", "k1"));
    LTB_CHECK(store->set_meta("m", "1"));
    return ltb::fail("planned failure", "none");
  });
  REQUIRE(!failed);
  CHECK(failed.error().message == "planned failure");
  CHECK(store->nodes("l")->size() == 1);
  CHECK(store->links("l")->size() == 1);
  CHECK(!store->meta("m")->has_value());

  // A failing store call inside fn aborts the whole transaction too.
  auto sql_failed = store->transaction([&]() -> ltb::Status {
    LTB_CHECK(store->put_node(make_node("l", "r3")));
    LTB_CHECK(store->put_node(make_node("no-such-lab", "r4")));
    return {};
  });
  REQUIRE(!sql_failed);
  CHECK(store->nodes("l")->size() == 1);

  // A nested transaction that fails undoes only its own writes.
  auto outer = store->transaction([&]() -> ltb::Status {
    LTB_CHECK(store->set_meta("outer", "1"));
    auto inner = store->transaction([&]() -> ltb::Status {
      LTB_CHECK(store->set_meta("inner", "1"));
      return ltb::fail("inner failure");
    });
    CHECK(!inner);
    return {};
  });
  REQUIRE(outer);
  CHECK(store->meta("outer")->has_value());
  CHECK(!store->meta("inner")->has_value());

  // Writes are visible to another connection only after commit.
  auto other = open_ok(store->path());
  auto visible = store->transaction([&]() -> ltb::Status {
    LTB_CHECK(store->set_meta("late", "1"));
    auto seen = other->meta("late");
    CHECK(seen);
    CHECK(!seen->has_value());
    return {};
  });
  REQUIRE(visible);
  CHECK(other->meta("late")->has_value());
}

TEST_CASE("state: 8 threads share one Store") {
  TempDir tmp;
  auto store = open_ok(tmp.file("state.db"));
  REQUIRE(store->put_lab(make_lab("l")));
  constexpr int k_threads = 8;
  constexpr int k_each = 25;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < k_each; ++i) {
        if (!store->put_node(make_node("l", fmt::format("n{}-{}", t, i)))) {
          ++errors;
        }
        auto tx = store->transaction([&]() -> ltb::Status {
          LTB_CHECK(store->put_link(make_link("l", fmt::format("k{}-{}", t, i))));
          ObjectRecord o;
          o.lab = "l";
          o.name = fmt::format("o{}-{}", t, i);
          LTB_TRY(id, store->add_object(o));
          return store->update_object(id, "rid", RecordStatus::created);
        });
        if (!tx || !store->nodes("l")) {
          ++errors;
        }
      }
    });
  }
  for (auto &th : threads) {
    th.join();
  }
  CHECK(errors == 0);
  CHECK(store->nodes("l")->size() == k_threads * k_each);
  CHECK(store->links("l")->size() == k_threads * k_each);
  auto objects = store->objects("l");
  REQUIRE(objects);
  CHECK(objects->size() == k_threads * k_each);
  for (const auto &o : *objects) {
    CHECK(o.status == RecordStatus::created);
  }
}

TEST_CASE("state: two Store instances write the same file at once") {
  TempDir tmp;
  const std::string path = tmp.file("state.db");
  auto first = open_ok(path);
  auto second = open_ok(path);
  REQUIRE(first->put_lab(make_lab("l")));
  constexpr int k_each = 100;
  std::atomic<int> errors{0};
  auto writer = [&](Store *store, int who) {
    for (int i = 0; i < k_each; ++i) {
      // Read, then write: the pattern that deadlocks two connections unless the transaction
      // takes the write lock up front (IMMEDIATE).
      auto tx = store->transaction([&]() -> ltb::Status {
        LTB_TRY(before, store->nodes("l"));
        LTB_CHECK(store->set_meta(fmt::format("seen{}", who), std::to_string(before.size())));
        LTB_CHECK(store->put_node(make_node("l", fmt::format("s{}-{}", who, i))));
        return store->set_meta(fmt::format("s{}", who), std::to_string(i));
      });
      if (!tx) {
        ++errors;
      }
    }
  };
  std::thread a(writer, first.get(), 0);
  std::thread b(writer, second.get(), 1);
  std::thread c(writer, second.get(), 2);
  a.join();
  b.join();
  c.join();
  CHECK(errors == 0);
  CHECK(first->nodes("l")->size() == 3 * k_each);
  CHECK(second->nodes("l")->size() == 3 * k_each);
}

TEST_CASE("state: processes open and write a fresh file at once") {
  TempDir tmp;
  const std::string path = tmp.file("sub/state.db");
  constexpr int k_children = 3;
  constexpr int k_each = 50;
  std::vector<pid_t> children;
  for (int c = 0; c < k_children; ++c) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Child: no doctest macros; report through the exit status.
      int status = 0;
      {
        auto store = Store::open(path);
        if (!store) {
          // Shown above the failed check, so that a failure says why.
          std::fprintf(stderr, "child %d: %s\n", c, store.error().message.c_str());
          ::_exit(10);
        }
        auto &s = **store;
        LabRecord lab = make_lab(fmt::format("lab{}", c));
        if (!s.put_lab(lab)) {
          status = 11;
        }
        for (int i = 0; i < k_each && status == 0; ++i) {
          if (!s.put_node(make_node(lab.name, fmt::format("n{}", i)))) {
            status = 12;
          }
        }
      }
      ::_exit(status);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto store = open_ok(path);
  CHECK(store->labs()->size() == k_children);
  for (int c = 0; c < k_children; ++c) {
    CHECK(store->nodes(fmt::format("lab{}", c))->size() == k_each);
  }
}

TEST_CASE("state: a lab lock excludes a second holder until released") {
  TempDir tmp;
  const std::string state = tmp.file("state.db");
  {
    auto first = LabLock::acquire(state, "web", 0);
    REQUIRE(first);
    std::ifstream in(state + ".locks/web.lock");
    std::string pid;
    in >> pid;
    CHECK(pid == std::to_string(::getpid()));

    auto second = LabLock::acquire(state, "web", 0);
    REQUIRE(!second);
    CHECK(second.error().message ==
          fmt::format("lab 'web' is locked by another ltb process (pid {})", ::getpid()));
    CHECK(second.error().help == "wait for it to finish, or pass --wait SECONDS");

    auto other_lab = LabLock::acquire(state, "db", 0);
    CHECK(other_lab);

    // Moving keeps the lock held.
    LabLock moved(std::move(*first));
    CHECK(!LabLock::acquire(state, "web", 0));
  }
  auto again = LabLock::acquire(state, "web", 0);
  CHECK(again);
}

TEST_CASE("state: a lab lock waits for the holder, up to the limit") {
  TempDir tmp;
  const std::string state = tmp.file("state.db");
  auto held = LabLock::acquire(state, "web", 0);
  REQUIRE(held);

  auto start = std::chrono::steady_clock::now();
  auto timed_out = LabLock::acquire(state, "web", 1);
  auto waited = std::chrono::steady_clock::now() - start;
  CHECK(!timed_out);
  CHECK(waited >= std::chrono::milliseconds(950));

  // Released while another waits: that one gets it. It is released only once the other has found
  // it taken and sleeps before its next try, and the other must not get it before.
  std::optional<LabLock> holder(std::move(*held));
  std::atomic<pid_t> waiter_tid{0};
  std::atomic<bool> released{false};
  bool released_when_got = false;
  std::optional<ltb::Result<LabLock>> got;
  std::thread waiter([&] {
    waiter_tid = ::gettid();
    auto lock = LabLock::acquire(state, "web", 60);
    released_when_got = released.load();
    got.emplace(std::move(lock));
  });
  while (waiter_tid.load() == 0) {
    std::this_thread::yield();
  }
  ltb::test::wait_until_in_syscall(waiter_tid.load(), {SYS_clock_nanosleep, SYS_nanosleep});
  released = true;
  holder.reset();
  waiter.join();
  REQUIRE(got);
  CHECK(*got);
  CHECK(released_when_got);
}

TEST_CASE("state: a lab lock held by a dead process is free") {
  TempDir tmp;
  const std::string state = tmp.file("state.db");

  SUBCASE("killed") {
    const pid_t child = child_holding_lock(state, "web", false);
    auto busy = LabLock::acquire(state, "web", 0);
    REQUIRE(!busy);
    CHECK(busy.error().message ==
          fmt::format("lab 'web' is locked by another ltb process (pid {})", child));
    REQUIRE(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(LabLock::acquire(state, "web", 0));
  }
  SUBCASE("exited without releasing") {
    const pid_t child = child_holding_lock(state, "web", true);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(LabLock::acquire(state, "web", 0));
  }
}

TEST_CASE("state: lab lock refuses names that are not file names") {
  TempDir tmp;
  const std::string state = tmp.file("state.db");
  for (const std::string bad : {"", ".", "..", "a/b", "../x"}) {
    auto lock = LabLock::acquire(state, bad, 0);
    CHECK(!lock);
  }
  CHECK(!fs::exists(tmp.file("x.lock")));
}

TEST_CASE("state: default_state_path") {
  const char *saved = std::getenv("LTB_STATE");
  const std::string saved_value = saved != nullptr ? saved : "";
  ::setenv("LTB_STATE", "/tmp/elsewhere.db", 1);
  CHECK(default_state_path() == "/tmp/elsewhere.db");
  ::setenv("LTB_STATE", "", 1);
  CHECK(default_state_path() == "/var/lib/ltb/state.db");
  ::unsetenv("LTB_STATE");
  CHECK(default_state_path() == "/var/lib/ltb/state.db");
  if (saved != nullptr) {
    ::setenv("LTB_STATE", saved_value.c_str(), 1);
  }
}

TEST_CASE("state: record statuses and object types keep the text the state file always held") {
  const std::pair<RecordStatus, const char *> statuses[] = {{RecordStatus::creating, "creating"},
                                                            {RecordStatus::created, "created"},
                                                            {RecordStatus::running, "running"},
                                                            {RecordStatus::failed, "failed"},
                                                            {RecordStatus::removing, "removing"},
                                                            {RecordStatus::deploying, "deploying"},
                                                            {RecordStatus::up, "up"}};
  for (const auto &[status, text] : statuses) {
    CHECK(std::string(to_string(status)) == text);
    CHECK(parse_record_status(text) == status);
  }
  const std::pair<ObjectType, const char *> types[] = {
      {ObjectType::container, "container"}, {ObjectType::network, "network"},
      {ObjectType::veth, "veth"},           {ObjectType::bridge, "bridge"},
      {ObjectType::port, "port"},           {ObjectType::domain, "domain"},
      {ObjectType::dhcp, "dhcp"},           {ObjectType::capture, "capture"},
      {ObjectType::mirror, "mirror"},       {ObjectType::capture_port, "capture-port"}};
  for (const auto &[type, text] : types) {
    CHECK(std::string(to_string(type)) == text);
    CHECK(parse_object_type(text) == type);
  }
  CHECK(!parse_record_status("Running"));
  CHECK(!parse_record_status(""));
  CHECK(!parse_object_type("vm"));
}

TEST_CASE("state: statuses and types are stored as text and read back as enums") {
  TempDir tmp;
  const auto path = tmp.file("state.db");
  {
    auto store = open_ok(path);
    REQUIRE(store->put_lab(make_lab("l")));
    auto node = make_node("l", "r1");
    node.status = RecordStatus::created;
    REQUIRE(store->put_node(node));
    ObjectRecord o;
    o.lab = "l";
    o.type = ObjectType::capture_port;
    o.name = "m1";
    REQUIRE(store->add_object(o));
  }
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    CHECK(raw.execAndGet("SELECT status FROM nodes").getString() == "created");
    CHECK(raw.execAndGet("SELECT status FROM labs").getString() == "deploying");
    CHECK(raw.execAndGet("SELECT type FROM objects").getString() == "capture-port");
    CHECK(raw.execAndGet("SELECT status FROM objects").getString() == "creating");
    // Text no ltb writes: the record is refused with a message, not misread.
    raw.exec("UPDATE nodes SET status = 'hibernating'");
    raw.exec("UPDATE objects SET type = 'teleporter'");
    raw.exec("INSERT INTO nodes (lab, name) VALUES ('l', 'blank')");
  }
  auto store = open_ok(path);
  auto nodes = store->nodes("l");
  REQUIRE(!nodes);
  CHECK(nodes.error().message.find("unknown record status 'hibernating'") != std::string::npos);
  CHECK(nodes.error().message.find(path) != std::string::npos);
  CHECK(!nodes.error().help.empty());
  auto objects = store->objects("l");
  REQUIRE(!objects);
  CHECK(objects.error().message.find("unknown runtime object type 'teleporter'") !=
        std::string::npos);
  // The column's default (an empty status, never written by ltb) reads as failed.
  REQUIRE(store->delete_node("l", "r1"));
  nodes = store->nodes("l");
  REQUIRE(nodes);
  REQUIRE(nodes->size() == 1);
  CHECK((*nodes)[0].status == RecordStatus::failed);
}

TEST_CASE("state: migration 3 gives each node the runtime of its kind; put_node fills it too") {
  TempDir tmp;
  const std::string path = tmp.file("v2.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(std::string(detail::k_migrations[0]));
    raw.exec(std::string(detail::k_migrations[1]));
    raw.exec("PRAGMA user_version = 2");
    raw.exec("INSERT INTO labs (name) VALUES ('l');"
             "INSERT INTO nodes (lab, name, kind) VALUES ('l', 'r1', 'frr'), ('l', 'v1', 'vm'),"
             " ('l', 'sw', 'ovs-bridge'), ('l', 'h1', 'linux')");
  }
  auto store = open_ok(path);
  CHECK(raw_user_version(path) >= 3);
  auto nodes = store->nodes("l");
  REQUIRE(nodes);
  std::map<std::string, std::string> runtimes;
  for (const auto &node : *nodes) {
    runtimes[node.name] = node.runtime;
  }
  CHECK(runtimes == std::map<std::string, std::string>{{"h1", k_runtime_container},
                                                       {"r1", k_runtime_container},
                                                       {"sw", k_runtime_bridge},
                                                       {"v1", k_runtime_vm}});
  // A record written without a runtime gets the same rule; one with a runtime keeps it.
  NodeRecord vm{"l", "v2", "vm", "", "", "", "", RecordStatus::running};
  NodeRecord custom{"l", "c2", "some-vm-kind", "", "", "", "", RecordStatus::running};
  custom.runtime = k_runtime_vm;
  REQUIRE(store->put_node(vm));
  REQUIRE(store->put_node(custom));
  nodes = store->nodes("l");
  REQUIRE(nodes);
  for (const auto &node : *nodes) {
    if (node.name == "v2" || node.name == "c2") {
      CHECK(node.runtime == k_runtime_vm);
    }
  }
}
