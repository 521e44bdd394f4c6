// The lab's key pair: made once with private modes, kept by later calls, the public half made
// again when it is lost; the VM kernel parameter that carries it; the removal of the files.

#include "access/install.hpp"
#include "access/keys.hpp"
#include "testutil.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <openssl/evp.h>
#include <sstream>
#include <string>
#include <sys/stat.h>

namespace {

using namespace ltb::access;
using ltb::test::TempDir;

std::string slurp(const std::string &path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int mode_of(const std::string &path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return static_cast<int>(info.st_mode & 0777);
}

} // namespace

TEST_CASE("access keys: one ed25519 pair per lab, private, kept across calls") {
  TempDir dir;
  const std::string lab_dir = dir.file("labs/lab1");
  const LabPaths paths{lab_dir};
  CHECK(lab_public_key(lab_dir).empty());
  auto line = ensure_lab_key(lab_dir, "lab1");
  REQUIRE(line);
  CHECK(line->rfind("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", 0) == 0);
  CHECK(line->size() > 80);
  CHECK(line->substr(line->size() - 13) == " ltb-lab-lab1");
  CHECK(lab_public_key(lab_dir) == *line);
  CHECK(slurp(paths.public_key()) == *line + "\n");
  CHECK(slurp(paths.private_key()).rfind("-----BEGIN OPENSSH PRIVATE KEY-----", 0) == 0);
  CHECK(mode_of(paths.private_key()) == 0600);
  CHECK(mode_of(paths.public_key()) == 0600);

  const std::string first_private = slurp(paths.private_key());
  auto again = ensure_lab_key(lab_dir, "lab1");
  REQUIRE(again);
  CHECK(*again == *line);
  CHECK(slurp(paths.private_key()) == first_private);

  // A lost public half comes back from the private one, not as a new pair.
  std::filesystem::remove(paths.public_key());
  auto derived = ensure_lab_key(lab_dir, "lab1");
  REQUIRE(derived);
  CHECK(*derived == *line);
  CHECK(slurp(paths.private_key()) == first_private);

  // Another lab gets another key.
  auto other = ensure_lab_key(dir.file("labs/lab2"), "lab2");
  REQUIRE(other);
  CHECK(other->substr(0, 60) != line->substr(0, 60));

  remove_access_files(lab_dir);
  CHECK(lab_public_key(lab_dir).empty());
  CHECK(std::filesystem::is_empty(lab_dir));
}

TEST_CASE("access keys: the VM kernel parameter is the authorized_keys line in base64") {
  TempDir dir;
  CHECK(vm_key_parameter(dir.path.string()).empty());
  auto line = ensure_lab_key(dir.path.string(), "lab1");
  REQUIRE(line);
  const std::string parameter = vm_key_parameter(dir.path.string());
  REQUIRE(parameter.rfind(" ltb.sshkey=", 0) == 0);
  const std::string encoded = parameter.substr(12);
  CHECK(encoded.find_first_of(" \n") == std::string::npos); // one kernel command line word
  std::string decoded(encoded.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(decoded.data()),
                                reinterpret_cast<const unsigned char *>(encoded.data()),
                                static_cast<int>(encoded.size()));
  REQUIRE(n > 0);
  decoded.resize(static_cast<std::size_t>(n));
  while (!decoded.empty() && decoded.back() == '\0') {
    decoded.pop_back(); // padding
  }
  CHECK(decoded == *line + "\n");
}

TEST_CASE("access keys: a private file is never readable by others, even while written") {
  TempDir dir;
  const std::string path = dir.file("secret");
  REQUIRE(write_private_file(path, "one"));
  CHECK(mode_of(path) == 0600);
  REQUIRE(write_private_file(path, "two"));
  CHECK(slurp(path) == "two");
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  auto failed = write_private_file(dir.file("missing/dir/file"), "x");
  REQUIRE_FALSE(failed);
  CHECK(failed.error().message.find("cannot write") == 0);
}

TEST_CASE("access keys: root's bind holds the lab's key; no bind where ltb must not or cannot") {
  TempDir dir;
  const std::string lab_dir = dir.file("labs/lab1");
  auto none = lab_key_bind(lab_dir, "r1", "root", {});
  REQUIRE(none);
  CHECK(!*none); // no key yet
  auto key = ensure_lab_key(lab_dir, "lab1");
  REQUIRE(key);

  auto bind = lab_key_bind(lab_dir, "r1", "root", {"/data:/data", "/x:/root/notes:ro"});
  REQUIRE(bind);
  REQUIRE(*bind);
  const std::string source = lab_dir + "/r1/authorized_keys";
  CHECK(**bind == source + ":/root/.ssh/authorized_keys");
  CHECK(slurp(source) == *key + "\n");
  CHECK(mode_of(source) == 0600);
  // Written anew each time: a recreated node starts with the lab's key alone.
  { std::ofstream(source, std::ios::app) << "ssh-ed25519 AAAA other\n"; }
  REQUIRE(lab_key_bind(lab_dir, "r1", "root", {}));
  CHECK(slurp(source) == *key + "\n");

  for (const std::vector<std::string> &binds :
       {std::vector<std::string>{"/k:/root/.ssh/authorized_keys"},
        std::vector<std::string>{"/k:/root/.ssh/:ro"}, std::vector<std::string>{"/h:/root"},
        std::vector<std::string>{"/r:/"}, std::vector<std::string>{"/k:/root/.ssh/keys.d"}}) {
    INFO(binds.front());
    auto skipped = lab_key_bind(lab_dir, "r2", "root", binds);
    REQUIRE(skipped);
    CHECK(!*skipped);
  }
  auto admin = lab_key_bind(lab_dir, "r3", "admin", {});
  REQUIRE(admin);
  CHECK(!*admin); // another login's home is in the image's /etc/passwd: an exec does it
  REQUIRE(ensure_lab_key(dir.file("labs/a:b"), "ab"));
  auto colon = lab_key_bind(dir.file("labs/a:b"), "r1", "root", {});
  REQUIRE(colon);
  CHECK(!*colon);
  CHECK(!std::filesystem::exists(lab_dir + "/r2"));
}
