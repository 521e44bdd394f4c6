// ltb VM images: where they live, which image values are disk paths, and reading image.json.

#include "testutil.hpp"
#include "topology/vm_image.hpp"

#include <cstdlib>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace {

namespace fs = std::filesystem;
using namespace ltb::topology::detail;

using ltb::test::TempDir;

/// Sets an environment variable for the life of the object, then puts back what was there.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(std::string variable, const char *value) : name(std::move(variable)) {
    if (const char *current = std::getenv(name.c_str())) {
      old = current;
    }
    if (value) {
      setenv(name.c_str(), value, 1);
    } else {
      unsetenv(name.c_str());
    }
  }
  ~ScopedEnv() {
    if (old) {
      setenv(name.c_str(), old->c_str(), 1);
    } else {
      unsetenv(name.c_str());
    }
  }
  ScopedEnv(const ScopedEnv &) = delete;
  ScopedEnv &operator=(const ScopedEnv &) = delete;
};

} // namespace

TEST_CASE("topology vm image: the images directory comes from LTB_IMAGES") {
  {
    ScopedEnv env("LTB_IMAGES", nullptr);
    CHECK(vm_images_dir() == fs::path("/var/lib/ltb/images"));
  }
  {
    ScopedEnv env("LTB_IMAGES", "");
    CHECK(vm_images_dir() == fs::path("/var/lib/ltb/images"));
  }
  {
    ScopedEnv env("LTB_IMAGES", "/srv/images");
    CHECK(vm_images_dir() == fs::path("/srv/images"));
  }
  {
    // A relative directory is taken from the working directory, once, at load time.
    ScopedEnv env("LTB_IMAGES", "imgs");
    CHECK(vm_images_dir() == (fs::current_path() / "imgs").lexically_normal());
  }
}

TEST_CASE("topology vm image: which image values are disk paths") {
  CHECK(is_disk_path("disks/base"));
  CHECK(is_disk_path("/var/lib/disk"));
  CHECK(is_disk_path("./x"));
  CHECK(is_disk_path("base.qcow2"));
  CHECK(is_disk_path("base.img"));
  CHECK(is_disk_path("base.raw"));
  CHECK_FALSE(is_disk_path("ltb-vm"));
  CHECK_FALSE(is_disk_path("debian-12.qcow"));
  CHECK_FALSE(is_disk_path("img"));
  CHECK_FALSE(is_disk_path("raw"));
}

TEST_CASE("topology vm image: image.json paths are relative to the image directory") {
  TempDir dir;
  dir.write("ltb-vm/image.json", R"({"disk": "disk.qcow2", "kernel": "boot/../boot/vmlinuz",
    "initrd": "/opt/initrd.img", "cmdline": "console=ttyS0", "built": "2024-01-01", "size": 3})");
  const auto image = read_vm_image(dir.path, "ltb-vm");
  REQUIRE(image.has_value());
  CHECK(image->name == "ltb-vm");
  CHECK(image->dir == dir.path / "ltb-vm");
  CHECK(image->disk == (dir.path / "ltb-vm/disk.qcow2").string());
  CHECK(image->kernel == (dir.path / "ltb-vm/boot/vmlinuz").string());
  CHECK(image->initrd == "/opt/initrd.img");
  CHECK(image->cmdline == "console=ttyS0");
  CHECK(image->version.empty()); // it has none
}

TEST_CASE("topology vm image: the version comes from image.json") {
  TempDir dir;
  dir.write("v/image.json", R"({"kernel": "vmlinuz", "version": "6.1.0-57-amd64"})");
  const auto image = read_vm_image(dir.path, "v");
  REQUIRE(image.has_value());
  CHECK(image->version == "6.1.0-57-amd64");
  // A version that is not text is ignored rather than refused: booting does not need it.
  dir.write("n/image.json", R"({"kernel": "vmlinuz", "version": 3})");
  const auto numeric = read_vm_image(dir.path, "n");
  REQUIRE(numeric.has_value());
  CHECK(numeric->version.empty());
}

TEST_CASE("topology vm image: absent, null and empty keys mean none") {
  TempDir dir;
  dir.write("k/image.json", R"({"kernel": "vmlinuz", "disk": null, "initrd": ""})");
  const auto image = read_vm_image(dir.path, "k");
  REQUIRE(image.has_value());
  CHECK(image->disk.empty());
  CHECK(image->initrd.empty());
  CHECK(image->kernel == (dir.path / "k/vmlinuz").string());
  CHECK_FALSE(image->cmdline.has_value());

  // An empty command line is still the image's choice, so it is kept.
  dir.write("c/image.json", R"({"kernel": "vmlinuz", "cmdline": ""})");
  const auto with_empty = read_vm_image(dir.path, "c");
  REQUIRE(with_empty.has_value());
  CHECK(with_empty->cmdline == "");
}

TEST_CASE("topology vm image: problems are described") {
  TempDir dir;
  dir.write("other/image.json", "{}");
  auto missing = read_vm_image(dir.path, "nope");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().not_found);
  CHECK(missing.error().message == "VM image 'nope' not found in " + dir.path.string());

  for (const char *name : {".", "..", ""}) {
    CAPTURE(name);
    auto odd = read_vm_image(dir.path / "other", name);
    REQUIRE_FALSE(odd.has_value());
    CHECK(odd.error().not_found);
  }

  fs::create_directories(dir.path / "empty");
  auto no_json = read_vm_image(dir.path, "empty");
  REQUIRE_FALSE(no_json.has_value());
  CHECK_FALSE(no_json.error().not_found);
  CHECK(no_json.error().message ==
        "cannot read image.json of VM image 'empty': No such file or directory");
  CHECK(no_json.error().help == (dir.path / "empty/image.json").string() +
                                    " describes the image (disk, kernel, initrd, cmdline): "
                                    "rebuild it with `make images`, or give a disk path");

  fs::create_directories(dir.path / "dirjson/image.json");
  auto json_dir = read_vm_image(dir.path, "dirjson");
  REQUIRE_FALSE(json_dir.has_value());
  CHECK(json_dir.error().message == "cannot read image.json of VM image 'dirjson': Is a directory");

  const std::string help = (dir.path / "bad/image.json").string() +
                           " must be a JSON object with optional text keys disk, kernel, initrd "
                           "and cmdline (paths relative to " +
                           (dir.path / "bad").string() + ")";
  dir.write("bad/image.json", "{\"disk\": ");
  auto syntax = read_vm_image(dir.path, "bad");
  REQUIRE_FALSE(syntax.has_value());
  CHECK(syntax.error().message ==
        "invalid image.json of VM image 'bad': parse error at line 1, column 10: syntax error "
        "while parsing value - unexpected end of input; expected '[', '{', or a literal");
  CHECK(syntax.error().help == help);

  dir.write("bad/image.json", "[\"disk.qcow2\"]");
  auto list = read_vm_image(dir.path, "bad");
  REQUIRE_FALSE(list.has_value());
  CHECK(list.error().message == "invalid image.json of VM image 'bad': it is not a JSON object");
  CHECK(list.error().help == help);

  dir.write("bad/image.json", R"({"disk": "d.qcow2", "kernel": ["vmlinuz"]})");
  auto type = read_vm_image(dir.path, "bad");
  REQUIRE_FALSE(type.has_value());
  CHECK(type.error().message == "invalid image.json of VM image 'bad': 'kernel' must be a string");
}

TEST_CASE("topology vm image: the image names are the visible directories, sorted") {
  TempDir dir;
  dir.write("zeta/image.json", "{}");
  dir.write("alpha/image.json", "{}");
  dir.write("loose-file.qcow2", "");
  fs::create_directories(dir.path / "mid");
  fs::create_directories(dir.path / ".ltb-vm.new.abc123");
  CHECK(vm_image_names(dir.path) == std::vector<std::string>{"alpha", "mid", "zeta"});
  CHECK(vm_image_names(dir.path / "absent").empty());
}
