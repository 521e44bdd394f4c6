// util/archive: tar round trips, and hostile archives refused before anything is written.

#include "raw_tar.hpp"
#include "testutil.hpp"
#include "util/archive.hpp"
#include "util/exec.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace fs = std::filesystem;
using ltb::util::TarEntry;
using ltb::util::TarLimits;
using namespace ltb::raw_tar;

namespace {

std::string slurp(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

} // namespace

TEST_CASE("archive: write_tar and read_tar round trip, from memory and from files") {
  ltb::test::TempDir dir;
  dir.write("big.bin", std::string(200000, 'x') + "end");
  std::vector<TarEntry> entries = {
      {"lab.yaml", "name: a\n", {}, 0644},
      {"configs/r1.conf", "hostname r1\n", {}, 0600},
      {"empty", "", {}, 0644},
      {"files/big.bin", "", dir.path / "big.bin", 0755},
  };
  fs::path tar = dir.path / "out.tar";
  REQUIRE(ltb::util::write_tar(tar, entries));
  CHECK_FALSE(fs::exists(dir.path / fmt::format("out.tar.tmp-{}", ::getpid())));

  auto read = ltb::util::read_tar(tar);
  REQUIRE(read);
  REQUIRE(read->size() == 4);
  CHECK((*read)[0].name == "lab.yaml");
  CHECK((*read)[0].data == "name: a\n");
  CHECK((*read)[1].name == "configs/r1.conf");
  CHECK((*read)[1].mode == 0600);
  CHECK((*read)[2].data.empty());
  CHECK((*read)[3].data == slurp(dir.path / "big.bin"));
  CHECK((*read)[3].mode == 0755);

  SUBCASE("the same entries give the same bytes") {
    fs::path again = dir.path / "again.tar";
    REQUIRE(ltb::util::write_tar(again, entries));
    CHECK(slurp(again) == slurp(tar));
  }
  SUBCASE("extract_tar streams the files into a directory") {
    auto names = ltb::util::extract_tar(tar, dir.path / "x");
    REQUIRE(names);
    CHECK(names->size() == 4);
    CHECK(slurp(dir.path / "x/configs/r1.conf") == "hostname r1\n");
    CHECK(slurp(dir.path / "x/files/big.bin") == slurp(dir.path / "big.bin"));
  }
  SUBCASE("GNU tar reads what write_tar wrote") {
    auto listing = ltb::util::run({"tar", "-tf", tar.string()});
    if (!listing || listing->exit_code != 0) {
      ltb::test::missing_prerequisite("tar is not installed", "reading ltb's tar with GNU tar");
      return;
    }
    CHECK(listing->out == "lab.yaml\nconfigs/r1.conf\nempty\nfiles/big.bin\n");
  }
}

TEST_CASE("archive: write_tar refuses unsafe or repeated names and leaves no file") {
  ltb::test::TempDir dir;
  fs::path tar = dir.path / "out.tar";
  CHECK_FALSE(ltb::util::write_tar(tar, {{"../x", "a", {}, 0644}}));
  CHECK_FALSE(ltb::util::write_tar(tar, {{"a", "1", {}, 0644}, {"a", "2", {}, 0644}}));
  auto missing = ltb::util::write_tar(tar, {{"a", "", dir.path / "nope", 0644}});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("nope") != std::string::npos);
  CHECK(fs::is_empty(dir.path));
}

TEST_CASE("archive: safe_archive_name") {
  using ltb::util::safe_archive_name;
  CHECK(safe_archive_name("a"));
  CHECK(safe_archive_name("a/b.c/..d"));
  CHECK_FALSE(safe_archive_name(""));
  CHECK_FALSE(safe_archive_name("/etc/passwd"));
  CHECK_FALSE(safe_archive_name(".."));
  CHECK_FALSE(safe_archive_name("a/../../b"));
  CHECK_FALSE(safe_archive_name("a/./b"));
  CHECK_FALSE(safe_archive_name("a//b"));
  CHECK_FALSE(safe_archive_name("a/"));
  CHECK_FALSE(safe_archive_name("a\\..\\b"));
  CHECK_FALSE(safe_archive_name(std::string("a\0b", 3)));
}

TEST_CASE("archive: hostile archives are refused, naming the entry, and nothing stays") {
  ltb::test::TempDir dir;
  fs::path tar = dir.path / "evil.tar";
  fs::path out = dir.path / "out";
  struct Case {
    const char *what;
    std::vector<Raw> entries;
    const char *expected;
  };
  std::vector<Case> cases = {
      {"absolute", {file("ok", "1"), file("/tmp/evil", "x")}, "absolute"},
      {"dot-dot", {file("ok", "1"), file("a/../../evil", "x")}, "'..'"},
      {"symlink", {file("ok", "1"), Raw{"link", AE_IFLNK, "", "/etc/passwd"}}, "symbolic link"},
      {"hard link", {file("ok", "1"), Raw{"hl", AE_IFREG, "", "", "/etc/passwd"}}, "hard link"},
      {"device", {file("ok", "1"), special("null", AE_IFCHR)}, "character device"},
      {"fifo", {file("ok", "1"), special("pipe", AE_IFIFO)}, "FIFO"},
      {"twice", {file("ok", "1"), file("./ok", "2")}, "twice"},
      {"dir dot-dot", {special("../up", AE_IFDIR)}, "'..'"},
  };
  for (const auto &c : cases) {
    CAPTURE(c.what);
    fs::remove_all(out);
    write_raw(tar, c.entries);
    auto read = ltb::util::read_tar(tar);
    REQUIRE_FALSE(read);
    CHECK(read.error().message.find(c.expected) != std::string::npos);
    CHECK(read.error().message.find("evil.tar") != std::string::npos);
    auto extracted = ltb::util::extract_tar(tar, out);
    REQUIRE_FALSE(extracted);
    // The good file written before the bad entry came is removed again.
    CHECK_FALSE(fs::exists(out / "ok"));
    CHECK_FALSE(fs::exists(dir.path / "evil"));
    CHECK_FALSE(fs::exists(dir.path / "up"));
  }
}

TEST_CASE("archive: limits of size and count, checked on the uncompressed content") {
  ltb::test::TempDir dir;
  fs::path tar = dir.path / "big.tar.gz";
  // 4 MiB of zeros compress to a few KiB: the limit must count what comes out, not what is read.
  write_raw(tar, {file("a", std::string(4 << 20, '\0')), file("b", "small")}, true);
  CHECK(fs::file_size(tar) < 100000);

  TarLimits entry_limit;
  entry_limit.max_entry_bytes = 1 << 20;
  auto r1 = ltb::util::read_tar(tar, entry_limit);
  REQUIRE_FALSE(r1);
  CHECK(r1.error().message.find("'a'") != std::string::npos);

  TarLimits total_limit;
  total_limit.max_total_bytes = (4 << 20) + 2;
  auto r2 = ltb::util::extract_tar(tar, dir.path / "out", total_limit);
  REQUIRE_FALSE(r2);
  CHECK(r2.error().message.find("limit") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.path / "out" / "a"));

  TarLimits count_limit;
  count_limit.max_entries = 1;
  CHECK_FALSE(ltb::util::read_tar(tar, count_limit));

  auto ok = ltb::util::read_tar(tar);
  REQUIRE(ok);
  CHECK(ok->size() == 2);
  CHECK((*ok)[0].data.size() == (4u << 20));
}

TEST_CASE("archive: a file that is not a tar is a clear error") {
  ltb::test::TempDir dir;
  dir.write("not.tar", "this is not a tar archive at all, just text\n");
  auto r = ltb::util::read_tar(dir.path / "not.tar");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("not.tar") != std::string::npos);
  auto missing = ltb::util::read_tar(dir.path / "missing.tar");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("missing.tar") != std::string::npos);
}

TEST_CASE("archive: scan_tar reads only the entries asked for and checks every one") {
  ltb::test::TempDir dir;
  const auto tar = dir.path / "scan.tar";
  REQUIRE(ltb::util::write_tar(tar, {{"manifest.json", "{}", {}, 0644},
                                     {"images/0-a.tar", std::string(100000, 'x'), {}, 0644}}));
  auto scanned =
      ltb::util::scan_tar(tar, {}, [](std::string_view name) { return name == "manifest.json"; });
  REQUIRE(scanned);
  REQUIRE(scanned->size() == 2);
  CHECK((*scanned)[0].data == "{}");
  CHECK((*scanned)[0].size == 2);
  CHECK((*scanned)[1].name == "images/0-a.tar");
  CHECK((*scanned)[1].data.empty());
  CHECK((*scanned)[1].size == 100000);

  TarLimits small;
  small.max_total_bytes = 50000; // what is skipped counts too
  CHECK_FALSE(ltb::util::scan_tar(tar, small, [](std::string_view) { return false; }));

  write_raw(dir.path / "hostile.tar", {file("manifest.json", "{}"), file("../x", "escaped")});
  auto hostile =
      ltb::util::scan_tar(dir.path / "hostile.tar", {}, [](std::string_view) { return false; });
  REQUIRE_FALSE(hostile);
  CHECK(hostile.error().message.find("refusing entry '../x'") != std::string::npos);
}
