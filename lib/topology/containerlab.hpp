#pragma once
// containerlab's file features, as data: which a file uses and whether ltb supports each
// (`ltb validate --containerlab`). One row per feature in k_containerlab_features
// (containerlab.cpp); supporting a new one is changing its row.

#include "topology/diagnostics.hpp"
#include "util/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace ltb::topology {

enum class Support {
  yes,        // ltb does what containerlab does
  ignored,    // accepted with a warning: it does not matter on one host
  unsupported // an error: ltb does not do it, and the lab would not be the same
};

std::string_view support_name(Support support);

/// One feature of containerlab's topology files.
struct ClabFeature {
  ClabFeature(std::string_view id_, std::string_view title_, Support support_,
              std::string_view note_, std::string_view doc_,
              std::vector<std::string_view> patterns_, std::string_view text_check_ = {})
      : id(id_), title(title_), support(support_), note(note_), doc(doc_),
        patterns(std::move(patterns_)), text_check(text_check_) {}

  std::string_view id;    // short and stable: "ports", "link-host"
  std::string_view title; // what it is, in words
  Support support = Support::unsupported;
  std::string_view note; // what ltb does about it, or what to do instead
  std::string_view doc;  // containerlab's documentation page
  /// Where it is used, as JSON pointers of the file's tree: '*' matches any key or index,
  /// "@node" stands for each place node fields go (topology.defaults, kinds.*, groups.*,
  /// nodes.*). A condition may follow a space: "=VALUE" (equal), "^PREFIX" (a string that starts
  /// with it), "!" (a null value: an empty key), "?registry" (a kind ltb does not know).
  std::vector<std::string_view> patterns;
  /// For what the tree cannot show (the text's own syntax): "env" (${VAR} expansion), "template"
  /// (Go template actions, {{ ... }}). Empty for most rows.
  std::string_view text_check;
};

/// Every feature ltb knows of, in the order a report lists them.
const std::vector<ClabFeature> &containerlab_features();

struct FeatureUse {
  const ClabFeature *feature = nullptr;
  std::vector<SourceLoc> places; // where the file uses it, in file order
};

struct ClabReport {
  std::vector<FeatureUse> used; // in the order of containerlab_features()
  Diagnostics problems;         // when the file is not YAML (then `used` is empty)
  bool parsed = false;
  /// Every feature used is supported or ignored.
  bool all_supported() const;
};

/// The features TEXT (named FILE in diagnostics) uses.
ClabReport containerlab_report(const std::string &text, const std::string &file);

/// The topology file a command means by ARGUMENT, with containerlab's rule for finding one:
/// ARGUMENT itself when it is a file; for a directory (an empty ARGUMENT: the current one), its
/// one file named *.clab.yml or *.clab.yaml. None or several there is an error (exit 2) that
/// names them.
Result<std::string> find_topology_file(const std::string &argument);

} // namespace ltb::topology
