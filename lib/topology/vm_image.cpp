// ltb VM images: finding an image directory and reading its image.json.

#include "topology/vm_image.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace ltb::topology::detail {

namespace fs = std::filesystem;

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string json_help(const fs::path &dir) {
  return fmt::format("{} must be a JSON object with optional text keys disk, kernel, initrd and "
                     "cmdline (paths relative to {})",
                     (dir / "image.json").string(), dir.string());
}

/// nlohmann's what() starts with "[json.exception.parse_error.101] ": keep the words after it.
std::string without_exception_id(std::string_view what) {
  if (!what.empty() && what.front() == '[') {
    if (const std::size_t end = what.find("] "); end != std::string_view::npos) {
      what.remove_prefix(end + 2);
    }
  }
  return std::string(what);
}

} // namespace

fs::path vm_images_dir() {
  if (const char *dir = std::getenv("LTB_IMAGES"); dir && *dir) {
    std::error_code ec;
    const fs::path path = fs::absolute(dir, ec);
    return ec ? fs::path(dir) : path.lexically_normal();
  }
  return fs::path(k_default_images_dir);
}

bool is_disk_path(std::string_view image) {
  return image.find('/') != std::string_view::npos || ends_with(image, ".qcow2") ||
         ends_with(image, ".img") || ends_with(image, ".raw");
}

tl::expected<VmImage, VmImageError> read_vm_image(const fs::path &images_dir,
                                                  const std::string &name) {
  const fs::path dir = (images_dir / name).lexically_normal();
  std::error_code ec;
  // "." and ".." would name the images directory or its parent, not an image.
  if (name.empty() || name == "." || name == ".." || !fs::is_directory(dir, ec)) {
    return tl::unexpected(VmImageError{
        true, fmt::format("VM image '{}' not found in {}", name, images_dir.string()), {}});
  }
  const fs::path file = dir / "image.json";
  auto unreadable = [&](int error) {
    return tl::unexpected(VmImageError{
        false,
        fmt::format("cannot read image.json of VM image '{}': {}", name, std::strerror(error)),
        fmt::format("{} describes the image (disk, kernel, initrd, cmdline): rebuild it with "
                    "`make images`, or give a disk path",
                    file.string())});
  };
  if (fs::is_directory(file, ec)) {
    return unreadable(EISDIR); // a directory opens as a stream; reading it fails
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return unreadable(errno);
  }
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception &e) {
    return tl::unexpected(VmImageError{false,
                                       fmt::format("invalid image.json of VM image '{}': {}", name,
                                                   without_exception_id(e.what())),
                                       json_help(dir)});
  }
  if (!document.is_object()) {
    return tl::unexpected(VmImageError{
        false, fmt::format("invalid image.json of VM image '{}': it is not a JSON object", name),
        json_help(dir)});
  }
  VmImage image;
  image.name = name;
  image.dir = dir;
  if (auto version = document.find("version"); version != document.end() && version->is_string()) {
    image.version = version->get<std::string>();
  }
  // Other keys are left alone: the tools that build images may record more about them.
  constexpr std::array k_keys{"disk", "kernel", "initrd", "cmdline"};
  for (const char *key : k_keys) {
    auto it = document.find(key);
    if (it == document.end() || it->is_null()) {
      continue;
    }
    if (!it->is_string()) {
      return tl::unexpected(VmImageError{
          false,
          fmt::format("invalid image.json of VM image '{}': '{}' must be a string", name, key),
          json_help(dir)});
    }
    const std::string value = it->get<std::string>();
    if (std::string_view(key) == "cmdline") {
      image.cmdline = value;
      continue;
    }
    if (value.empty()) {
      continue;
    }
    const std::string path = (dir / value).lexically_normal().string(); // absolute stays absolute
    if (std::string_view(key) == "disk") {
      image.disk = path;
    } else if (std::string_view(key) == "kernel") {
      image.kernel = path;
    } else {
      image.initrd = path;
    }
  }
  return image;
}

std::vector<std::string> vm_image_names(const fs::path &images_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(images_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    std::string name = it->path().filename().string();
    // Hidden directories are images being built or replaced (scripts/build-images.sh).
    if (it->is_directory(type_ec) && !name.empty() && name.front() != '.') {
      names.push_back(std::move(name));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

} // namespace ltb::topology::detail
