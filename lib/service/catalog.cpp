#include "service/catalog.hpp"

#include "service/backends.hpp"
#include "service/owners.hpp"
#include "service/snapshots.hpp"
#include "topology/diagnostics.hpp"
#include "topology/loader.hpp"
#include "topology/vm_image.hpp"

#include <algorithm>
#include <atomic>
#include <fmt/format.h>
#include <set>
#include <thread>

namespace ltb::service {

namespace fs = std::filesystem;

namespace {

void add_unique(std::vector<std::string> &list, const std::string &value) {
  if (!value.empty() && std::find(list.begin(), list.end(), value) == list.end()) {
    list.push_back(value);
  }
}

void sort_unique(std::vector<std::string> &list) {
  std::sort(list.begin(), list.end());
  list.erase(std::unique(list.begin(), list.end()), list.end());
}

/// The nodes of a lab's recorded topology, by name; empty when it no longer loads (an image or
/// file it names is gone): the catalog then knows the lab's nodes from their records only.
std::map<std::string, topology::Node> recorded_topology(const Context &context,
                                                        const state::LabRecord &lab) {
  std::map<std::string, topology::Node> nodes;
  if (lab.topology_text.empty()) {
    return nodes;
  }
  auto loaded = topology::load_recorded(lab.topology_text, lab.topology_file, lab.name,
                                        context.lab_dir(lab.name));
  if (loaded) {
    for (auto &node : loaded->nodes) {
      nodes.emplace(node.name, std::move(node));
    }
  }
  return nodes;
}

/// The VM image directory under IMAGES_DIR that PATH lies in ("ltb-vm" for
/// /var/lib/ltb/images/ltb-vm/vmlinux); "" when none.
std::string vm_image_of_path(const fs::path &images_dir, const std::string &path) {
  if (path.empty()) {
    return {};
  }
  const auto relative = fs::path(path).lexically_normal().lexically_relative(images_dir);
  if (relative.empty() || relative.begin() == relative.end()) {
    return {};
  }
  const std::string first = relative.begin()->string();
  if (first == "." || first == ".." || std::next(relative.begin()) == relative.end()) {
    return {};
  }
  return first;
}

CatalogImage container_image(runtime::ContainerRuntime *docker, const std::string &docker_problem,
                             const std::string &name) {
  CatalogImage image;
  image.name = name;
  image.runtime = topology::Runtime::container;
  if (docker == nullptr) {
    image.state = ImageState::unknown;
    image.problem = fmt::format("Docker not reachable: {}", docker_problem);
    return image;
  }
  auto inspected = docker->inspect_image(name);
  if (!inspected) {
    image.state = ImageState::unknown;
    image.problem = inspected.error().message;
    return image;
  }
  if (!*inspected) {
    image.state = ImageState::missing;
    image.problem = fmt::format("Docker has no image '{}': build it with `make images`, or pull "
                                "it (docker pull {})",
                                name, name);
    return image;
  }
  const auto &info = **inspected;
  image.state = ImageState::present;
  image.id = info.id;
  image.size_bytes = info.size_bytes;
  image.created = info.created;
  image.labels = info.labels;
  if (auto version = image_version(info.labels)) {
    image.version = version->first;
    image.version_from = "label " + version->second;
  }
  return image;
}

CatalogImage vm_image(const fs::path &images_dir, const std::string &name) {
  CatalogImage image;
  image.name = name;
  image.runtime = topology::Runtime::vm;
  image.path = (images_dir / name).string();
  auto read = topology::detail::read_vm_image(images_dir, name);
  if (!read) {
    image.state = read.error().not_found ? ImageState::missing : ImageState::invalid;
    image.problem = read.error().not_found
                        ? fmt::format("no VM image '{}' in {}: build it with `make images`", name,
                                      images_dir.string())
                        : read.error().message;
    return image;
  }
  image.state = ImageState::present;
  image.version = read->version;
  if (!image.version.empty()) {
    image.version_from = "image.json";
  }
  // A VM that boots a base disk counts `ltb config`'s vm-disk against the host.
  image.disk = read->disk;
  image.kernel = read->kernel;
  return image;
}

/// A VM's base disk given as a path in a lab file rather than an ltb VM image.
CatalogImage disk_image(const std::string &path) {
  CatalogImage image;
  image.name = path;
  image.runtime = topology::Runtime::vm;
  image.path = path;
  std::error_code ec;
  image.state = fs::exists(path, ec) ? ImageState::present : ImageState::missing;
  if (image.state == ImageState::missing) {
    image.problem = fmt::format("the disk {} does not exist", path);
  }
  image.disk = path;
  return image;
}

bool has_base_disk(const CatalogImage &image) {
  return image.runtime == topology::Runtime::vm && !image.disk.empty();
}

struct Use {
  std::string lab;
  std::string node;
  std::string kind;
  std::optional<std::size_t> image;
  std::string group;
};

} // namespace

std::string_view to_string(ImageState state) {
  switch (state) {
  case ImageState::present:
    return "present";
  case ImageState::missing:
    return "not built";
  case ImageState::unknown:
    return "unknown";
  case ImageState::invalid:
    return "invalid";
  }
  return "unknown";
}

const CatalogImage *Catalog::find_image(const std::string &name) const {
  for (const auto &image : images) {
    if (image.name == name) {
      return &image;
    }
  }
  for (const auto &image : images) {
    if (image.runtime == topology::Runtime::container && image.name == image_reference(name)) {
      return &image;
    }
  }
  return nullptr;
}

std::string image_reference(const std::string &image) {
  if (image.empty() || image.find('@') != std::string::npos) {
    return image;
  }
  const auto slash = image.rfind('/');
  const auto colon = image.rfind(':');
  // A colon before the last slash is a registry's port (localhost:5000/x), not a tag.
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    return image;
  }
  return image + ":latest";
}

std::optional<std::pair<std::string, std::string>>
image_version(const std::map<std::string, std::string> &labels) {
  for (const auto key : k_version_labels) {
    if (auto it = labels.find(std::string(key)); it != labels.end() && !it->second.empty()) {
      return std::make_pair(it->second, std::string(key));
    }
  }
  return std::nullopt;
}

Result<Catalog> build_catalog(const Session &session, const CatalogSources &sources) {
  if (sources.store == nullptr) {
    return fail("the catalog needs the state file");
  }
  state::Store &store = *sources.store;
  LTB_TRY(config, schedule::load_config(store));
  Catalog catalog;
  catalog.docker_problem = sources.docker ? std::string() : sources.docker_problem;

  // Every lab's nodes, with their groups from the recorded topology.
  LTB_TRY(labs, store.labs());
  struct Recorded {
    state::NodeRecord record;
    const topology::Node *node = nullptr; // from the recorded topology, when it loads
  };
  std::vector<std::map<std::string, topology::Node>> topologies;
  std::vector<Recorded> recorded;
  topologies.reserve(labs.size());
  for (const auto &lab : labs) {
    if (!sources.only_lab.empty() && lab.name != sources.only_lab) {
      continue;
    }
    if (!may_act(session.caller, lab.owner)) {
      continue; // another user's lab is not named to this one
    }
    LTB_TRY(nodes, store.nodes(lab.name));
    topologies.push_back(recorded_topology(session.context, lab));
    const auto &loaded = topologies.back();
    for (auto &node : nodes) {
      auto it = loaded.find(node.name);
      recorded.push_back({std::move(node), it == loaded.end() ? nullptr : &it->second});
    }
  }

  // The images: container images by reference, then VM images and disks by name.
  std::map<std::string, std::vector<std::string>> container_sources;
  for (const auto &kind : topology::kinds()) {
    if (kind.runtime == topology::Runtime::container && !kind.default_image.empty()) {
      container_sources[image_reference(std::string(kind.default_image))].push_back(
          fmt::format("default of kind {}", kind.name));
    }
  }
  if (sources.docker) {
    auto built = sources.docker->list_images({{std::string(k_recipe_label), ""}});
    if (built) {
      for (const auto &image : *built) {
        // A snapshot's images inherit the recipe's label from the image they were committed on
        // top of; they are a lab's saved state (`ltb snapshot list`), not something to deploy.
        if (image.labels.count(k_label_snapshot) != 0) {
          continue;
        }
        for (const auto &tag : image.tags) {
          add_unique(container_sources[tag], "built by `make images`");
        }
      }
    } else {
      session.events.notice(fmt::format("notice: cannot list the images `make images` built: {}",
                                        built.error().message));
    }
  }
  std::map<std::string, std::vector<std::string>> vm_sources;
  const fs::path images_dir = sources.vm_images_dir;
  for (const auto &name : topology::detail::vm_image_names(images_dir)) {
    vm_sources[name].push_back(fmt::format("VM image in {}", images_dir.string()));
  }
  for (const auto &kind : topology::kinds()) {
    if (kind.runtime == topology::Runtime::vm && !kind.default_image.empty() &&
        !topology::detail::is_disk_path(kind.default_image)) {
      vm_sources[std::string(kind.default_image)].insert(
          vm_sources[std::string(kind.default_image)].begin(),
          fmt::format("default of kind {}", kind.name));
    }
  }
  // What each recorded node runs: a container image, an ltb VM image (its kernel or disk lies
  // in the image's directory), a disk path, or nothing (a bridge).
  std::vector<std::pair<topology::Runtime, std::string>> node_images;
  std::set<std::string> disks;
  for (const auto &r : recorded) {
    const auto runtime = topology::runtime_of_kind(r.record.kind);
    std::string image;
    if (runtime == topology::Runtime::container && !r.record.image.empty()) {
      image = image_reference(r.record.image);
      add_unique(container_sources[image], fmt::format("used by lab {}", r.record.lab));
    } else if (runtime == topology::Runtime::vm) {
      for (const std::string &path : {r.node ? r.node->kernel : std::string(),
                                      r.node ? r.node->image : std::string(), r.record.image}) {
        image = vm_image_of_path(images_dir, path);
        if (!image.empty()) {
          break;
        }
      }
      if (!image.empty()) {
        add_unique(vm_sources[image], fmt::format("used by lab {}", r.record.lab));
      } else if (!r.record.image.empty()) {
        image = r.record.image;
        disks.insert(image);
        add_unique(vm_sources[image], fmt::format("used by lab {}", r.record.lab));
      }
    }
    node_images.emplace_back(runtime, image);
  }
  for (const auto &[name, why] : container_sources) {
    catalog.images.push_back(container_image(sources.docker, catalog.docker_problem, name));
    catalog.images.back().sources = why;
  }
  for (const auto &[name, why] : vm_sources) {
    catalog.images.push_back(disks.count(name) ? disk_image(name) : vm_image(images_dir, name));
    catalog.images.back().sources = why;
  }
  auto index_of = [&](topology::Runtime runtime,
                      const std::string &name) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < catalog.images.size(); ++i) {
      if (catalog.images[i].runtime == runtime && catalog.images[i].name == name) {
        return i;
      }
    }
    return std::nullopt;
  };

  // Who uses what.
  std::vector<Use> uses;
  for (std::size_t i = 0; i < recorded.size(); ++i) {
    const auto &r = recorded[i];
    Use use{r.record.lab, r.record.name, r.record.kind, std::nullopt, {}};
    if (!node_images[i].second.empty()) {
      use.image = index_of(node_images[i].first, node_images[i].second);
    }
    CatalogNode node;
    node.image = use.image;
    if (r.node) {
      node.topology = true;
      node.group = r.node->group;
      node.labels = r.node->labels;
      use.group = r.node->group;
    }
    catalog.nodes[{r.record.lab, r.record.name}] = node;
    uses.push_back(std::move(use));
  }

  // The kinds each image runs as: the kinds it is the default of, those labs run it as, and for
  // any other container image linux (a plain container), for a VM image every VM kind.
  for (auto &image : catalog.images) {
    for (const auto &kind : topology::kinds()) {
      if (kind.runtime == image.runtime && !kind.default_image.empty() &&
          (image.runtime == topology::Runtime::container
               ? image_reference(std::string(kind.default_image)) == image.name
               : kind.default_image == image.name)) {
        add_unique(image.kinds, std::string(kind.name));
      }
    }
  }
  for (const auto &use : uses) {
    if (use.image) {
      auto &image = catalog.images[*use.image];
      add_unique(image.kinds, use.kind);
      add_unique(image.labs, use.lab);
      add_unique(image.groups, use.group);
    }
  }
  for (auto &image : catalog.images) {
    if (image.kinds.empty()) {
      for (const auto &kind : topology::kinds()) {
        // The generic kind of the runtime: the one without an image of its own.
        if (kind.runtime == image.runtime && !topology::is_vendor_kind(kind) &&
            (image.runtime == topology::Runtime::vm || kind.default_image.empty())) {
          add_unique(image.kinds, std::string(kind.name));
        }
      }
    }
    sort_unique(image.labs);
    sort_unique(image.groups);
  }

  for (const auto &kind : topology::kinds()) {
    CatalogKind entry;
    entry.kind = &kind;
    std::vector<std::size_t> served;
    for (std::size_t i = 0; i < catalog.images.size(); ++i) {
      const auto &kinds = catalog.images[i].kinds;
      if (std::find(kinds.begin(), kinds.end(), kind.name) != kinds.end()) {
        const bool is_default =
            !kind.default_image.empty() &&
            (catalog.images[i].name == kind.default_image ||
             catalog.images[i].name == image_reference(std::string(kind.default_image)));
        served.insert(is_default ? served.begin() : served.end(), i);
      }
    }
    for (const auto i : served) {
      entry.images.push_back(catalog.images[i].name);
    }
    for (const auto &use : uses) {
      if (use.kind == kind.name) {
        add_unique(entry.labs, use.lab);
        add_unique(entry.groups, use.group);
      }
    }
    sort_unique(entry.labs);
    sort_unique(entry.groups);
    std::vector<std::optional<std::size_t>> row_images(served.begin(), served.end());
    if (row_images.empty()) {
      row_images.push_back(std::nullopt);
    }
    for (const auto &image : row_images) {
      CatalogRow row;
      row.kind = &kind;
      row.image = image;
      topology::Node probe;
      probe.kind = std::string(kind.name);
      probe.runtime = kind.runtime;
      if (image && has_base_disk(catalog.images[*image])) {
        probe.image = catalog.images[*image].name;
      }
      row.demand = schedule::node_demand(probe, config.defaults);
      for (const auto &use : uses) {
        if (use.kind == kind.name && use.image == image) {
          add_unique(row.labs, use.lab);
          add_unique(row.groups, use.group);
        }
      }
      sort_unique(row.labs);
      sort_unique(row.groups);
      catalog.rows.push_back(std::move(row));
    }
    catalog.kinds.push_back(std::move(entry));
  }
  return catalog;
}

Result<Catalog> read_catalog(const Session &session) {
  LTB_TRY(store, open_store(session.context));
  CatalogSources sources;
  sources.store = store.get();
  sources.vm_images_dir = topology::detail::vm_images_dir();
  auto docker = runtime::connect_docker();
  if (docker) {
    sources.docker = docker->get();
  } else {
    sources.docker_problem = docker.error().message;
  }
  return build_catalog(session, sources);
}

Result<CatalogEntry> find_in_catalog(Catalog catalog, const std::string &name) {
  CatalogEntry entry;
  for (std::size_t i = 0; i < catalog.kinds.size(); ++i) {
    if (catalog.kinds[i].kind == topology::find_kind(name)) { // or one of its other names
      entry.kind = i;
    }
  }
  if (const CatalogImage *image = catalog.find_image(name)) {
    entry.image = static_cast<std::size_t>(image - catalog.images.data());
  }
  if (!entry.kind && !entry.image) {
    std::vector<std::string> names;
    for (const auto &kind : catalog.kinds) {
      names.emplace_back(kind.kind->name);
    }
    for (const auto &image : catalog.images) {
      names.push_back(image.name);
      const std::string latest = ":latest";
      if (image.name.size() > latest.size() &&
          image.name.compare(image.name.size() - latest.size(), latest.size(), latest) == 0) {
        names.push_back(image.name.substr(0, image.name.size() - latest.size()));
      }
    }
    const auto guess = topology::did_you_mean(name, names);
    return fail(fmt::format("no kind or image named '{}' in the catalog", name),
                guess.empty() ? "see `ltb catalog` for the kinds and images there are"
                              : fmt::format("did you mean '{}'?", guess),
                ExitCode::failed);
  }
  entry.catalog = std::move(catalog);
  return entry;
}

std::vector<RunningVersion> running_versions(const std::vector<state::NodeRecord> &nodes,
                                             const NodeCommand &run) {
  std::vector<RunningVersion> versions(nodes.size());
  std::vector<std::size_t> asked;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto &node = nodes[i];
    const topology::Kind *kind = topology::find_kind(node.kind);
    if (kind == nullptr || kind->version_command.empty()) {
      versions[i].note = fmt::format("not reported by kind {}", node.kind);
    } else if (node.status != state::RecordStatus::running) {
      versions[i].note = node.status == state::RecordStatus::stopped
                             ? "stopped"
                             : fmt::format("not running ({})", state::to_string(node.status));
    } else {
      asked.push_back(i);
    }
  }
  // Each question waits for a node (a process start, or an ssh handshake); a few threads ask
  // them at once, so that the slowest node, not their sum, sets the time.
  constexpr std::size_t k_max_threads = 16;
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t at = next++; at < asked.size(); at = next++) {
      const std::size_t i = asked[at];
      const auto &node = nodes[i];
      const topology::Kind *kind = topology::find_kind(node.kind);
      const std::vector<std::string> argv(kind->version_command.begin(),
                                          kind->version_command.end());
      auto output = run(node, argv);
      if (!output) {
        versions[i].note = fmt::format("unknown: {}", output.error().message);
      } else if (auto version = topology::running_version(*kind, *output)) {
        versions[i].version = *version;
      } else {
        versions[i].note = "unknown: the node's answer names no version";
      }
    }
  };
  std::vector<std::thread> threads;
  const std::size_t count = std::min(asked.size(), k_max_threads);
  threads.reserve(count);
  for (std::size_t t = 0; t < count; ++t) {
    threads.emplace_back(worker);
  }
  for (auto &thread : threads) {
    thread.join();
  }
  return versions;
}

} // namespace ltb::service
