// The state store under I/O errors and a full disk, the way SQLite tests itself: a VFS of the
// test's own wraps the real one and fails the Nth write (or sync) of the file with SQLITE_FULL or
// SQLITE_IOERR, for every N of a sequence of writes. Each failing call returns a clear error that
// names the state file and says what to do; what a call reported as written is there afterwards,
// what it reported as failed is not; and the file always passes PRAGMA integrity_check.

#include "state/store.hpp"
#include "testutil.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <cstring>
#include <doctest/doctest.h>
#include <filesystem>
#include <fmt/format.h>
#include <set>
#include <sqlite3.h>
#include <string>

using namespace ltb::state;

namespace {

/// Counts writes and syncs through every file SQLite opens while it is the default VFS; the
/// `fail_at`th one (and, with `sticky`, every one after it) fails with `error`.
struct FaultyVfs {
  sqlite3_vfs vfs{};
  sqlite3_vfs *real = nullptr;
  sqlite3_io_methods methods{};
  int calls = 0;
  int fail_at = 0; // 0: never
  bool sticky = true;
  int error = SQLITE_FULL;
  int failures = 0;

  bool fails() {
    ++calls;
    if (fail_at > 0 && (calls == fail_at || (sticky && calls > fail_at))) {
      ++failures;
      return true;
    }
    return false;
  }
};

FaultyVfs g_faulty;

struct FaultyFile {
  sqlite3_file base;
  sqlite3_file *real; // allocated after this struct, szOsFile of the real VFS
};

sqlite3_file *real_of(sqlite3_file *f) {
  return reinterpret_cast<FaultyFile *>(f)->real;
}

int f_close(sqlite3_file *f) {
  return real_of(f)->pMethods ? real_of(f)->pMethods->xClose(real_of(f)) : SQLITE_OK;
}
int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off) {
  return real_of(f)->pMethods->xRead(real_of(f), p, n, off);
}
int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off) {
  if (g_faulty.fails()) {
    return g_faulty.error == SQLITE_FULL ? SQLITE_FULL : SQLITE_IOERR_WRITE;
  }
  return real_of(f)->pMethods->xWrite(real_of(f), p, n, off);
}
int f_truncate(sqlite3_file *f, sqlite3_int64 size) {
  return real_of(f)->pMethods->xTruncate(real_of(f), size);
}
int f_sync(sqlite3_file *f, int flags) {
  if (g_faulty.fails()) {
    return SQLITE_IOERR_FSYNC;
  }
  return real_of(f)->pMethods->xSync(real_of(f), flags);
}
int f_size(sqlite3_file *f, sqlite3_int64 *size) {
  return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
int f_lock(sqlite3_file *f, int level) {
  return real_of(f)->pMethods->xLock(real_of(f), level);
}
int f_unlock(sqlite3_file *f, int level) {
  return real_of(f)->pMethods->xUnlock(real_of(f), level);
}
int f_check(sqlite3_file *f, int *out) {
  return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int f_control(sqlite3_file *f, int op, void *arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int f_sector(sqlite3_file *f) {
  return real_of(f)->pMethods->xSectorSize(real_of(f));
}
int f_device(sqlite3_file *f) {
  return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
int f_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out) {
  return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, out);
}
int f_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void f_shm_barrier(sqlite3_file *f) {
  real_of(f)->pMethods->xShmBarrier(real_of(f));
}
int f_shm_unmap(sqlite3_file *f, int del) {
  return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}

int v_open(sqlite3_vfs *, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags) {
  auto *file = reinterpret_cast<FaultyFile *>(f);
  file->real = reinterpret_cast<sqlite3_file *>(file + 1);
  std::memset(file->real, 0, static_cast<std::size_t>(g_faulty.real->szOsFile));
  const int rc = g_faulty.real->xOpen(g_faulty.real, name, file->real, flags, out_flags);
  file->base.pMethods = file->real->pMethods ? &g_faulty.methods : nullptr;
  return rc;
}
int v_delete(sqlite3_vfs *, const char *name, int sync) {
  return g_faulty.real->xDelete(g_faulty.real, name, sync);
}
int v_access(sqlite3_vfs *, const char *name, int flags, int *out) {
  return g_faulty.real->xAccess(g_faulty.real, name, flags, out);
}
int v_full(sqlite3_vfs *, const char *name, int n, char *out) {
  return g_faulty.real->xFullPathname(g_faulty.real, name, n, out);
}
int v_random(sqlite3_vfs *, int n, char *out) {
  return g_faulty.real->xRandomness(g_faulty.real, n, out);
}
int v_sleep(sqlite3_vfs *, int us) {
  return g_faulty.real->xSleep(g_faulty.real, us);
}
int v_time(sqlite3_vfs *, double *out) {
  return g_faulty.real->xCurrentTime(g_faulty.real, out);
}
int v_error(sqlite3_vfs *, int n, char *out) {
  return g_faulty.real->xGetLastError ? g_faulty.real->xGetLastError(g_faulty.real, n, out) : 0;
}
int v_time64(sqlite3_vfs *, sqlite3_int64 *out) {
  return g_faulty.real->xCurrentTimeInt64(g_faulty.real, out);
}

/// Installs the faulty VFS as SQLite's default for its lifetime.
struct FaultyDefault {
  FaultyDefault(int fail_at, int error, bool sticky) {
    auto &g = g_faulty;
    g.real = sqlite3_vfs_find(nullptr);
    REQUIRE(g.real != nullptr);
    REQUIRE(std::string(g.real->zName) != "ltb-faulty");
    g.vfs = {};
    g.vfs.iVersion = 2;
    g.vfs.szOsFile = static_cast<int>(sizeof(FaultyFile)) + g.real->szOsFile;
    g.vfs.mxPathname = g.real->mxPathname;
    g.vfs.zName = "ltb-faulty";
    g.vfs.xOpen = v_open;
    g.vfs.xDelete = v_delete;
    g.vfs.xAccess = v_access;
    g.vfs.xFullPathname = v_full;
    g.vfs.xRandomness = v_random;
    g.vfs.xSleep = v_sleep;
    g.vfs.xCurrentTime = v_time;
    g.vfs.xGetLastError = v_error;
    g.vfs.xCurrentTimeInt64 = v_time64;
    g.methods = {};
    g.methods.iVersion = 2; // with shared memory (WAL), without memory-mapped I/O
    g.methods.xClose = f_close;
    g.methods.xRead = f_read;
    g.methods.xWrite = f_write;
    g.methods.xTruncate = f_truncate;
    g.methods.xSync = f_sync;
    g.methods.xFileSize = f_size;
    g.methods.xLock = f_lock;
    g.methods.xUnlock = f_unlock;
    g.methods.xCheckReservedLock = f_check;
    g.methods.xFileControl = f_control;
    g.methods.xSectorSize = f_sector;
    g.methods.xDeviceCharacteristics = f_device;
    g.methods.xShmMap = f_shm_map;
    g.methods.xShmLock = f_shm_lock;
    g.methods.xShmBarrier = f_shm_barrier;
    g.methods.xShmUnmap = f_shm_unmap;
    g.calls = 0;
    g.failures = 0;
    g.fail_at = fail_at;
    g.error = error;
    g.sticky = sticky;
    REQUIRE(sqlite3_vfs_register(&g.vfs, 1) == SQLITE_OK);
  }
  ~FaultyDefault() { sqlite3_vfs_unregister(&g_faulty.vfs); }
  FaultyDefault(const FaultyDefault &) = delete;
  FaultyDefault &operator=(const FaultyDefault &) = delete;
};

/// Where the runs' state files go: memory when the machine has it (each run syncs dozens of
/// times; the faults are the VFS's, not the disk's).
std::filesystem::path scratch() {
  std::error_code ec;
  return std::filesystem::is_directory("/dev/shm", ec) ? std::filesystem::path("/dev/shm")
                                                       : std::filesystem::temp_directory_path();
}

std::string integrity(const std::string &path) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  return db.execAndGet("PRAGMA integrity_check").getString();
}

LabRecord lab_named(const std::string &name) {
  LabRecord lab;
  lab.name = name;
  lab.topology_text = std::string(2000, 'x'); // a few pages per lab, so writes spill
  lab.mgmt_subnet = "172.20.9.0/24";
  return lab;
}

NodeRecord node_of(const std::string &lab, int i) {
  NodeRecord node;
  node.lab = lab;
  node.name = fmt::format("n{}", i);
  node.kind = "linux";
  node.image = "ltb/busybox:latest";
  node.mgmt_ipv4 = fmt::format("172.20.9.{}", i + 2);
  return node;
}

/// One step of the sequence: a lab with its nodes, written as one write each.
struct Written {
  std::set<std::string> labs;
  std::set<std::string> nodes; // "lab/node"
};

/// Writes labs l0..l{count-1} with 3 nodes each; records what each call reported as written, and
/// checks each failure's message. Returns how many calls failed.
int write_sequence(Store &store, const std::string &path, int count, Written &written) {
  int failed = 0;
  auto check_error = [&](const ltb::Error &e) {
    ++failed;
    CHECK_MESSAGE(e.message.find("state file " + path) != std::string::npos, e.message);
    CHECK_MESSAGE(!e.help.empty(), e.message);
    const bool full = e.message.find("full") != std::string::npos;
    const bool io =
        e.message.find("I/O") != std::string::npos || e.message.find("disk") != std::string::npos;
    CHECK_MESSAGE((full || io), e.message);
  };
  for (int l = 0; l < count; ++l) {
    const auto name = fmt::format("l{}", l);
    if (auto put = store.put_lab(lab_named(name)); put) {
      written.labs.insert(name);
    } else {
      check_error(put.error());
      continue;
    }
    for (int n = 0; n < 3; ++n) {
      if (auto put = store.put_node(node_of(name, n)); put) {
        written.nodes.insert(name + "/" + node_of(name, n).name);
      } else {
        check_error(put.error());
      }
    }
  }
  return failed;
}

} // namespace

TEST_CASE("state faults: every write or sync failing in turn, as a full disk and as an I/O "
          "error; errors are clear, nothing false is recorded, the file is never corrupt") {
  // How many writes and syncs a clean run makes.
  int total = 0;
  {
    ltb::test::TempDir dir(scratch());
    const auto path = dir.path.string() + "/state.db";
    FaultyDefault faulty(0, SQLITE_FULL, true);
    auto store = Store::open(path);
    REQUIRE(store);
    Written written;
    REQUIRE(write_sequence(**store, path, 4, written) == 0);
    total = g_faulty.calls;
  }
  REQUIRE(total > 10);
  int runs = 0;
  int failed_calls = 0;
  for (int error : {SQLITE_FULL, SQLITE_IOERR}) {
    for (bool sticky : {true, false}) {
      for (int at = 1; at <= total; ++at) {
        CAPTURE(error);
        CAPTURE(sticky);
        CAPTURE(at);
        ++runs;
        ltb::test::TempDir dir(scratch());
        const auto path = dir.path.string() + "/state.db";
        Written written;
        {
          FaultyDefault faulty(at, error, sticky);
          auto store = Store::open(path);
          if (store) {
            failed_calls += write_sequence(**store, path, 4, written);
          } else {
            CHECK_MESSAGE(store.error().message.find(path) != std::string::npos,
                          store.error().message);
            CHECK(!store.error().help.empty());
            ++failed_calls;
          }
        }
        // The disk is good again: the file opens, is whole, and holds what was reported.
        auto store = Store::open(path);
        REQUIRE_MESSAGE(store.has_value(), (store ? "" : store.error().message));
        CHECK(integrity(path) == "ok");
        auto labs = (*store)->labs();
        REQUIRE(labs);
        std::set<std::string> names;
        for (const auto &lab : *labs) {
          names.insert(lab.name);
        }
        CHECK(names == written.labs);
        std::set<std::string> nodes;
        for (const auto &lab : names) {
          auto recorded = (*store)->nodes(lab);
          REQUIRE(recorded);
          for (const auto &node : *recorded) {
            nodes.insert(lab + "/" + node.name);
          }
        }
        CHECK(nodes == written.nodes);
      }
    }
  }
  MESSAGE(runs << " runs, " << failed_calls << " failed calls");
  CHECK(failed_calls >= runs);
}
