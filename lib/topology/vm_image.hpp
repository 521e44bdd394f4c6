#pragma once
// ltb VM images. An image is a directory $LTB_IMAGES/NAME (default /var/lib/ltb/images/NAME)
// holding image.json, which names the image's base disk and/or the kernel, initrd and kernel
// command line QEMU boots directly, and its version. The loader resolves a vm node's `image`
// with it; outside lib/topology only the device catalog (service/catalog) reads it, and the
// access files ask whether a VM runs an ltb VM image (which takes the lab's key).

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

namespace ltb::topology::detail {

constexpr std::string_view k_default_images_dir = "/var/lib/ltb/images";

/// Where VM images live: $LTB_IMAGES when set and not empty, else /var/lib/ltb/images.
std::filesystem::path vm_images_dir();

/// True when the `image` of a vm node is a disk path rather than the name of an ltb VM image:
/// it contains '/' or ends with .qcow2, .img or .raw.
bool is_disk_path(std::string_view image);

/// What image.json says, with its paths made absolute. Empty strings are "none".
struct VmImage {
  std::string name;
  std::filesystem::path dir;
  std::string disk;
  std::string kernel;
  std::string initrd;
  std::optional<std::string> cmdline;
  std::string version; // image.json's "version"; empty when it has none
};

/// Why an image could not be read; `not_found` when it has no directory at all (the caller then
/// suggests the images that do exist).
struct VmImageError {
  bool not_found = false;
  std::string message;
  std::string help;
};

/// Reads IMAGES_DIR/NAME/image.json. Files it names are not checked for existence here.
tl::expected<VmImage, VmImageError> read_vm_image(const std::filesystem::path &images_dir,
                                                  const std::string &name);

/// The names of the directories in IMAGES_DIR that are not hidden, sorted; empty when it cannot
/// be read.
std::vector<std::string> vm_image_names(const std::filesystem::path &images_dir);

} // namespace ltb::topology::detail
