#pragma once
// `ltb catalog`: every kind and image ltb can deploy, with the images' versions and the labs that
// use them; and the device details `ltb inspect` shows of each node (its image's version, group,
// labels, and the software version a running node reports). Kinds come from the registry
// (topology/kinds.hpp); images from Docker (through runtime::ContainerRuntime) and the VM images
// directory; usage from the state file.

#include "runtime/docker/docker.hpp"
#include "schedule/capacity.hpp"
#include "service/service.hpp"
#include "state/store.hpp"
#include "topology/kinds.hpp"

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::service {

/// The labels that give a container image's version, in the order they are looked at: the
/// OCI annotation `make images` sets, then the older label-schema one.
inline constexpr std::array<std::string_view, 2> k_version_labels{
    "org.opencontainers.image.version", "org.label-schema.version"};

/// The label scripts/build-images.sh puts on every image it builds: such images are listed.
inline constexpr std::string_view k_recipe_label = "ltb.recipe";

enum class ImageState {
  present, // Docker has it, or the VM image's image.json was read
  missing, // not built (or not pulled)
  unknown, // Docker did not answer
  invalid, // a VM image whose image.json cannot be read
};

/// "present", "not built", "unknown", "invalid".
std::string_view to_string(ImageState state);

struct CatalogImage {
  std::string name; // Docker's "name:tag", a VM image's name, or a VM's disk path
  topology::Runtime runtime = topology::Runtime::container;
  ImageState state = ImageState::unknown;
  std::string problem;      // why unknown, missing or invalid, and what to do
  std::string version;      // "" = none known
  std::string version_from; // "label org.opencontainers.image.version", "image.json"
  std::string id;           // Docker's image id
  std::int64_t size_bytes = 0;
  std::string created;
  std::map<std::string, std::string> labels; // Docker's labels
  std::string path;                          // a VM image's directory
  std::string disk;                          // a VM image's base disk; "" = it boots a kernel
  std::string kernel;                        // a VM image's kernel
  std::vector<std::string> sources;          // why it is listed: "default of kind frr", ...
  std::vector<std::string> kinds;            // the kinds that run it
  std::vector<std::string> labs;             // recorded labs with a node on it
  std::vector<std::string> groups;           // the node groups those nodes are in
};

struct CatalogKind {
  const topology::Kind *kind = nullptr;
  std::vector<std::string> images; // names in Catalog::images, the default first
  std::vector<std::string> labs;
  std::vector<std::string> groups;
};

/// One kind with one image it runs (or with none: a bridge, or linux when no image is known).
struct CatalogRow {
  const topology::Kind *kind = nullptr;
  std::optional<std::size_t> image; // index in Catalog::images
  /// What a node of this kind and image counts against the host when it sets no cpus, memory
  /// or disk-size (`ltb config`'s container-cpus, container-memory and vm-disk, or the kind's).
  schedule::Resources demand;
  std::vector<std::string> labs;
  std::vector<std::string> groups;
};

/// A recorded node as the catalog sees it.
struct CatalogNode {
  std::string group;                         // "" = none
  std::map<std::string, std::string> labels; // the topology's labels (inheritance resolved)
  std::optional<std::size_t> image;          // index in Catalog::images
  bool topology = false; // group and labels are known (the lab's recorded topology loaded)
};

struct Catalog {
  std::vector<CatalogKind> kinds;   // registry order
  std::vector<CatalogImage> images; // container images by name, then VM images by name
  std::vector<CatalogRow> rows;     // kinds in registry order, each with its images
  std::string docker_problem;       // why Docker was not asked; "" when it answered
  std::map<std::pair<std::string, std::string>, CatalogNode> nodes; // by (lab, node)
  const CatalogImage *find_image(const std::string &name) const;
};

/// Where the catalog comes from (the real ones, or fakes in tests).
struct CatalogSources {
  state::Store *store = nullptr;
  runtime::ContainerRuntime *docker = nullptr; // nullptr: not reachable (docker_problem says why)
  std::string docker_problem;
  std::filesystem::path vm_images_dir;
  std::string only_lab; // "": every recorded lab's usage; else only this lab's
};

/// The catalog from the given sources. Images Docker or the images directory do not have are
/// listed as such; only the state file failing is an error.
Result<Catalog> build_catalog(const Session &session, const CatalogSources &sources);

/// The catalog from the state file, Docker (when it answers) and $LTB_IMAGES.
Result<Catalog> read_catalog(const Session &session);

/// What `ltb catalog show NAME` found: a kind, an image, or both when a name is both.
struct CatalogEntry {
  Catalog catalog;
  std::optional<std::size_t> kind;  // index in catalog.kinds
  std::optional<std::size_t> image; // index in catalog.images
};

/// NAME is a kind, an image ("ltb/frr" stands for "ltb/frr:latest") or a VM image; anything else
/// is an error with a did-you-mean over the catalog's names.
Result<CatalogEntry> find_in_catalog(Catalog catalog, const std::string &name);

/// "ltb/frr" -> "ltb/frr:latest"; a name with a tag or digest stays as it is.
std::string image_reference(const std::string &image);

/// The version of a container image from its labels (k_version_labels), and the label it came
/// from; nullopt when none has one.
std::optional<std::pair<std::string, std::string>>
image_version(const std::map<std::string, std::string> &labels);

/// Runs argv in a running node and returns what it printed, within a short time (the seam
/// between running_versions() and Docker's exec or ssh).
using NodeCommand = std::function<Result<std::string>(const state::NodeRecord &node,
                                                      const std::vector<std::string> &argv)>;

/// The software version a node reports, or why there is none.
struct RunningVersion {
  std::string version; // "" = not known
  std::string note;    // when not known: "stopped", "not reported by kind ovs-bridge", an error
};

/// Asks every running node of NODES (its kind's version_command) at once, on a few threads;
/// stopped nodes and kinds that report nothing are not asked. In the order of NODES.
std::vector<RunningVersion> running_versions(const std::vector<state::NodeRecord> &nodes,
                                             const NodeCommand &run);

/// How long a node may take to print its version before `ltb inspect` says unknown.
inline constexpr int k_running_version_timeout_s = 3;

} // namespace ltb::service
