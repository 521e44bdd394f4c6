// Tests of the web UI's files as `ltb serve` answers them (lib/server/static_files): paths stay
// under the root, the single-page fallback, caching, and the precompressed copies.

#include "server/static_files.hpp"
#include "testutil.hpp"

#include <doctest/doctest.h>
#include <fstream>

using namespace ltb;
namespace fs = std::filesystem;

namespace {

void write(const fs::path &path, const std::string &text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

} // namespace

TEST_CASE("static files: under the root only, with the single-page fallback") {
  test::TempDir dir;
  const fs::path root = dir.path / "dist";
  CHECK_FALSE(server::static_file(root.string(), "/")); // no index.html: no UI
  write(root / "index.html", "<html>");
  write(root / "assets" / "index-abc.js", "x");
  write(dir.path / "secret.txt", "s");
  fs::create_symlink(dir.path / "secret.txt", root / "assets" / "link.txt");

  auto index = server::static_file(root.string(), "/");
  REQUIRE(index);
  CHECK(index->content_type == "text/html; charset=utf-8");
  CHECK(index->cache_control == "no-cache");
  auto asset = server::static_file(root.string(), "/assets/index-abc.js?v=1");
  REQUIRE(asset);
  CHECK(asset->content_type == "text/javascript; charset=utf-8");
  CHECK(asset->cache_control == "public, max-age=31536000, immutable");
  // A route of the UI gets index.html; a missing file does not.
  CHECK(server::static_file(root.string(), "/labs/lab1")->path == index->path);
  CHECK_FALSE(server::static_file(root.string(), "/assets/gone.js"));
  for (const char *bad : {"/../secret.txt", "/assets/../../secret.txt", "/assets/link.txt",
                          "/%2e%2e/secret.txt", "/.hidden", "relative", "/a\\b"}) {
    INFO(bad);
    auto file = server::static_file(root.string(), bad);
    CHECK((!file || file->path == index->path));
  }
}

TEST_CASE("static files: a precompressed copy when it is there and not older") {
  test::TempDir dir;
  const fs::path root = dir.path / "dist";
  write(root / "index.html", "<html>");
  write(root / "assets" / "a.js", "x");
  write(root / "assets" / "b.css", "y");
  CHECK(server::static_file(root.string(), "/assets/a.js")->gzip_path.empty());
  write(root / "assets" / "a.js.gz", "z");
  write(root / "index.html.gz", "z");
  CHECK(server::static_file(root.string(), "/assets/a.js")->gzip_path ==
        fs::canonical(root / "assets" / "a.js.gz").string());
  CHECK(server::static_file(root.string(), "/labs")->gzip_path ==
        fs::canonical(root / "index.html.gz").string());
  // Older than the file: a stale copy of another build, not sent.
  write(root / "assets" / "b.css.gz", "z");
  fs::last_write_time(root / "assets" / "b.css.gz",
                      fs::last_write_time(root / "assets" / "b.css") - std::chrono::hours(1));
  CHECK(server::static_file(root.string(), "/assets/b.css")->gzip_path.empty());
}

TEST_CASE("static files: Accept-Encoding's gzip, with weights") {
  CHECK(server::accepts_gzip("gzip"));
  CHECK(server::accepts_gzip("gzip, deflate, br"));
  CHECK(server::accepts_gzip("br;q=1.0, GZIP;q=0.5"));
  CHECK(server::accepts_gzip("x-gzip"));
  CHECK(server::accepts_gzip("*"));
  CHECK(server::accepts_gzip("deflate, *;q=0.1"));
  CHECK_FALSE(server::accepts_gzip(""));
  CHECK_FALSE(server::accepts_gzip("identity"));
  CHECK_FALSE(server::accepts_gzip("br, deflate"));
  CHECK_FALSE(server::accepts_gzip("gzip;q=0"));
  CHECK_FALSE(server::accepts_gzip("gzip; q=0.000"));
  CHECK_FALSE(server::accepts_gzip("*;q=0.5, gzip;q=0"));
  CHECK_FALSE(server::accepts_gzip("*;q=0"));
}
