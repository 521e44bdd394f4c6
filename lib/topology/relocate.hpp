#pragma once
// A lab file's text for another directory (`ltb save` writes DIR/topology.yaml from the lab's
// file): the text stays as written, comments included, except that the relative paths it names
// become absolute and chosen nodes get a new startup-config.

#include "util/error.hpp"

#include <map>
#include <string>

namespace ltb::topology {

struct Relocation {
  /// The directory the text's relative paths resolve against now (its file's directory).
  std::string base_dir;
  /// The lab's name, written as the file's `name` when it differs ("" = keep it).
  std::string name;
  /// Node name -> the startup-config value to write for it (as given: a path relative to the
  /// new file's directory, say). Replaces the node's own value or adds one to its map.
  std::map<std::string, std::string> startup_configs;
  /// Absolute path (of a file or directory the text names, after the above) -> the value to
  /// write instead, as given (a template bundle's relative name, say). Paths not in it are made
  /// absolute as above.
  std::map<std::string, std::string> paths;
};

/// TEXT (a valid lab file) with every relative path in defaults, kinds, groups and nodes made
/// absolute against relocation.base_dir (startup-config files, bind sources, ssh-key, a VM's
/// kernel, initrd and disk image), or written as relocation.paths says, and
/// relocation.startup_configs and relocation.name applied.
/// Changed values are written double-quoted. An Error, naming the line, where a value cannot be
/// rewritten in place (a multi-line plain scalar, or a node map shared through a YAML alias).
Result<std::string> relocate_text(const std::string &text, const Relocation &relocation);

} // namespace ltb::topology
