#include "service/snapshot_transfer.hpp"

#include "plan/names.hpp"
#include "service/backends.hpp"
#include "service/owners.hpp"
#include "service/snapshots.hpp"
#include "topology/loader.hpp"
#include "util/archive.hpp"
#include "util/hash.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <unistd.h>

namespace ltb::service {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// What an import accepts: an image may be large, but not without bound; the manifest is text.
constexpr std::uint64_t k_max_member_bytes = std::uint64_t{64} << 30;   // 64 GiB
constexpr std::uint64_t k_max_archive_bytes = std::uint64_t{256} << 30; // 256 GiB
constexpr std::uint64_t k_max_manifest_bytes = std::uint64_t{16} << 20; // 16 MiB
constexpr std::size_t k_max_members = 10000;

// Where an import takes the archive apart, and an export keeps the images it saved, inside the
// snapshot's folder: whatever a kill leaves there goes with the snapshot (rm, or the recovery of
// a half-made one).
constexpr const char *k_import_dir = ".import";
constexpr const char *k_export_dir = ".export";

const std::set<std::string> k_types{"image", "file", "memory", "disk"};

std::int64_t ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

bool valid_name(const std::string &name, std::size_t max) {
  static const std::regex k_pattern("^[A-Za-z0-9][A-Za-z0-9_.-]*$");
  return !name.empty() && name.size() <= max && std::regex_match(name, k_pattern);
}

std::string random_hex() {
  std::random_device device;
  return fmt::format("{:08x}", device());
}

/// Removes a folder and everything in it when this goes out of scope.
struct TempDir {
  fs::path path;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

/// The archive member of artifact `i`: a folder by type, the index (names may repeat across
/// nodes) and a readable name.
std::string member_name(std::size_t i, const state::SnapshotArtifact &artifact) {
  if (artifact.type == "image") {
    return fmt::format("images/{}-{}.tar", i, artifact.node);
  }
  if (artifact.type == "disk") {
    return fmt::format("disks/{}-{}.qcow2", i, artifact.node);
  }
  const std::string folder = artifact.type == "memory" ? "memory" : "files";
  return fmt::format("{}/{}-{}", folder, i, fs::path(artifact.ref).filename().string());
}

/// One artifact of an archive being imported.
struct Incoming {
  std::string node;
  std::string type;
  std::string member;
  std::string old_ref;  // where it was on the exporting host
  std::string new_ref;  // where it goes here
  std::string image_id; // images: the id it was saved by
  std::int64_t size_bytes = 0;
};

/// A manifest that passed every check.
struct Manifest {
  state::SnapshotRecord snapshot; // as exported (the lab it was taken of)
  json state;
  std::vector<Incoming> artifacts;
};

Error not_an_archive(const std::string &file, const std::string &why) {
  return Error{fmt::format("{} is not a snapshot archive of ltb: {}", file, why),
               "make one with `ltb snapshot export LAB NAME -o FILE`; an archive altered or "
               "damaged on the way cannot be imported",
               ExitCode::usage};
}

/// Parses and checks the manifest against the archive's members (name -> size): every field
/// there and of its type, names valid, every artifact's member present once and no member that
/// no artifact names.
Result<Manifest> parse_manifest(const std::string &file, const std::string &text,
                                const std::map<std::string, std::uint64_t> &members) {
  auto bad = [&](const std::string &why) { return fail(not_an_archive(file, why)); };
  const auto manifest = json::parse(text, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object()) {
    return bad(fmt::format("{} is not a JSON object", k_snapshot_manifest));
  }
  if (!manifest.contains("format") || !manifest["format"].is_number_integer() ||
      manifest["format"].get<int>() != k_snapshot_archive_format) {
    return bad(fmt::format("its format is {} (this ltb reads format {}); import it with the ltb "
                           "that exported it, or a newer one",
                           manifest.value("format", json()).dump(), k_snapshot_archive_format));
  }
  const auto snapshot = manifest.value("snapshot", json());
  auto text_of = [](const json &object, const char *key) -> std::optional<std::string> {
    auto it = object.find(key);
    if (it == object.end() || !it->is_string()) {
      return std::nullopt;
    }
    return it->get<std::string>();
  };
  auto number_of = [](const json &object, const char *key) -> std::optional<std::int64_t> {
    auto it = object.find(key);
    if (it == object.end() || !it->is_number_integer() || it->get<std::int64_t>() < 0) {
      return std::nullopt;
    }
    return it->get<std::int64_t>();
  };
  if (!snapshot.is_object()) {
    return bad("the manifest has no snapshot record");
  }
  Manifest out;
  auto &record = out.snapshot;
  const auto lab = text_of(snapshot, "lab");
  const auto name = text_of(snapshot, "name");
  const auto topology_text = text_of(snapshot, "topology_text");
  const auto topology_file = text_of(snapshot, "topology_file");
  const auto created_at = number_of(snapshot, "created_at");
  const auto size = number_of(snapshot, "size_bytes");
  if (!lab || !name || !topology_text || !topology_file || !created_at || !size ||
      !snapshot.contains("memory") || !snapshot["memory"].is_boolean() ||
      !snapshot.contains("state") || !snapshot["state"].is_object()) {
    return bad("its snapshot record lacks a field (lab, name, created_at, memory, topology_file, "
               "topology_text, state, size_bytes) or has one of the wrong type");
  }
  if (!valid_name(*lab, 40) || !valid_name(*name, 64)) {
    return bad(fmt::format("its lab '{}' or snapshot name '{}' is not a valid name", *lab, *name));
  }
  record.lab = *lab;
  record.name = *name;
  record.created_at = *created_at;
  record.memory = snapshot["memory"].get<bool>();
  record.topology_file = *topology_file;
  record.topology_text = *topology_text;
  record.size_bytes = *size;
  record.pause_ms = number_of(snapshot, "pause_ms").value_or(0);
  out.state = snapshot["state"];

  if (!manifest.contains("artifacts") || !manifest["artifacts"].is_array()) {
    return bad("the manifest lists no artifacts");
  }
  std::set<std::string> used_members{k_snapshot_manifest};
  std::set<std::string> file_names;
  for (const auto &artifact : manifest["artifacts"]) {
    Incoming in;
    const auto node = artifact.is_object() ? text_of(artifact, "node") : std::nullopt;
    const auto type = artifact.is_object() ? text_of(artifact, "type") : std::nullopt;
    const auto member = artifact.is_object() ? text_of(artifact, "member") : std::nullopt;
    const auto ref = artifact.is_object() ? text_of(artifact, "ref") : std::nullopt;
    if (!node || !type || !member || !ref) {
      return bad("an artifact lacks its node, type, member or ref");
    }
    if (!valid_name(*node, 63)) {
      return bad(fmt::format("an artifact's node '{}' is not a valid node name", *node));
    }
    if (!k_types.count(*type)) {
      return bad(fmt::format("artifact of node '{}' has type '{}', which this ltb does not know "
                             "(it knows image, file, memory and disk)",
                             *node, *type));
    }
    if (!util::safe_archive_name(*member) || !members.count(*member)) {
      return bad(fmt::format("artifact '{}' of node '{}' is not in the archive", *member, *node));
    }
    if (!used_members.insert(*member).second) {
      return bad(fmt::format("member '{}' is named by two artifacts", *member));
    }
    if (*type == "file" || *type == "memory") {
      // Kept under the same file name in the snapshot's folder: one plain name, said once.
      const auto base = fs::path(*ref).filename().string();
      if (!util::safe_archive_name(base) || base.front() == '.' ||
          !file_names.insert(base).second) {
        return bad(fmt::format("artifact '{}' of node '{}' has a file name ('{}') that cannot be "
                               "kept",
                               *member, *node, base));
      }
    }
    in.node = *node;
    in.type = *type;
    in.member = *member;
    in.old_ref = *ref;
    in.image_id = text_of(artifact, "image_id").value_or("");
    in.size_bytes = number_of(artifact, "size_bytes").value_or(0);
    out.artifacts.push_back(std::move(in));
  }
  for (const auto &[member, bytes] : members) {
    if (!used_members.count(member)) {
      return bad(fmt::format("member '{}' is named by no artifact of the manifest", member));
    }
  }
  return out;
}

/// Why the file at `path` is not a qcow2 layer an import may take ("" when it is one): a qcow2
/// can name an external data file that the VM would then read and write, anywhere on this host.
std::string qcow2_refusal(const fs::path &path) {
  std::array<unsigned char, 80> header{};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char *>(header.data()), header.size());
  auto big_endian = [&](std::size_t at, std::size_t bytes) {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < bytes; ++i) {
      value = (value << 8) | header[at + i];
    }
    return value;
  };
  if (in.gcount() < 72 || header[0] != 'Q' || header[1] != 'F' || header[2] != 'I' ||
      header[3] != 0xfb) {
    return "it is not a qcow2 file";
  }
  const auto version = big_endian(4, 4);
  if (version != 2 && version != 3) {
    return fmt::format("it is a qcow2 file of version {}", version);
  }
  if (version == 3 && in.gcount() >= 80 && (big_endian(72, 8) & 0x4) != 0) {
    return "it names an external data file";
  }
  return {};
}

/// Why the `docker save` archive at `path` may not be loaded ("" when it may): one that names
/// images (tags) would move this host's names of its own images onto its content as it loads.
/// ltb exports images by id, so its archives name none.
Result<std::string> image_archive_refusal(const fs::path &path) {
  const util::TarLimits limits{k_max_member_bytes, k_max_member_bytes, k_max_members};
  LTB_TRY(entries, util::scan_tar(path, limits, [](std::string_view name) {
            return name == "manifest.json" || name == "repositories" || name == "index.json";
          }));
  for (const auto &entry : entries) {
    if (entry.data.size() > k_max_manifest_bytes) {
      return fmt::format("its {} is larger than {} bytes", entry.name, k_max_manifest_bytes);
    }
    const auto parsed = json::parse(entry.data, nullptr, false);
    if (entry.name == "manifest.json") {
      for (const auto &image : parsed.is_array() ? parsed : json::array()) {
        const auto tags = image.is_object() ? image.value("RepoTags", json()) : json();
        if (!tags.is_null() && !(tags.is_array() && tags.empty())) {
          return fmt::format("it names images ({}), which loading it would take over here",
                             tags.dump());
        }
      }
    } else if (entry.name == "repositories") {
      if (!parsed.is_object() || !parsed.empty()) {
        return std::string("it names images (repositories), which loading it would take over "
                           "here");
      }
    } else {
      const auto manifests =
          parsed.is_object() ? parsed.value("manifests", json::array()) : json::array();
      for (const auto &manifest : manifests) {
        const auto annotations =
            manifest.is_object() ? manifest.value("annotations", json::object()) : json::object();
        if (annotations.contains("io.containerd.image.name") ||
            annotations.contains("org.opencontainers.image.ref.name")) {
          return std::string("it names images (index.json), which loading it would take over "
                             "here");
        }
      }
    }
  }
  return std::string();
}

/// Moves a file, copying when `to` is on another file system.
Status move_file(const fs::path &from, const fs::path &to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  fs::rename(from, to, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    if (!ec) {
      fs::remove(from, ec);
    }
  }
  if (ec) {
    return fail(fmt::format("cannot write {}: {}", to.string(), ec.message()),
                "check the free space and permissions of the state file's folder");
  }
  return {};
}

/// Replaces, anywhere in `value`, a string that is a key of `with` by its value.
void replace_strings(json &value, const std::map<std::string, std::string> &with) {
  if (value.is_string()) {
    if (auto it = with.find(value.get<std::string>()); it != with.end()) {
      value = it->second;
    }
  } else if (value.is_structured()) {
    for (auto &item : value) {
      replace_strings(item, with);
    }
  }
}

/// Makes `image` from the loaded image `loaded`, labelled for the importing lab: Docker cannot
/// change a loaded image's labels, but a commit of a container made (not started) from it adds
/// them, with no layer of its own. The loaded image stays as its untagged parent, and goes with
/// it when Docker removes it.
Status relabel(runtime::ContainerRuntime &docker, const std::string &loaded,
               const std::string &image, const std::string &lab, const std::string &name,
               const std::string &node) {
  LTB_TRY(info, docker.inspect_image(loaded));
  if (!info) {
    return fail(fmt::format("Docker loaded image {} and lost it again", loaded),
                "see the Docker daemon's log; import again");
  }
  auto labels = info->labels;
  labels[k_label_snapshot_lab] = lab;
  labels[k_label_snapshot] = name;
  labels[k_label_snapshot_node] = node;
  labels[plan::k_label_lab] = lab;
  labels[plan::k_label_node] = node;
  runtime::ContainerSpec spec;
  spec.name = relabel_container(image);
  spec.image = loaded;
  spec.privileged = false;
  // Not a node of any lab while it exists (the image's labels say the exporting lab's).
  spec.labels = {{plan::k_label_lab, ""}, {plan::k_label_node, ""}};
  LTB_CHECK(docker.remove_container(spec.name)); // a killed import's
  LTB_TRY(id, docker.create_container(spec));
  auto committed = docker.commit_container(id, image, labels);
  auto removed = docker.remove_container(id);
  if (!committed) {
    return fail(committed.error());
  }
  return removed;
}

} // namespace

std::string relabel_container(const std::string &image) {
  return "ltb-import-" + util::sha256_hex(image).substr(0, 12);
}

void remove_import_leftovers(runtime::ContainerRuntime &docker, const std::string &image) {
  auto container = docker.inspect_container(relabel_container(image));
  if (!container) {
    return; // none: the usual case
  }
  (void)docker.remove_container(container->id);
  // The image it was made from, loaded by the import, unless something here names it (it was
  // here before) or builds on it (Docker refuses then).
  auto loaded = docker.inspect_image(container->image);
  const auto named = [](const runtime::ImageInfo &info) {
    return std::any_of(info.tags.begin(), info.tags.end(),
                       [](const std::string &tag) { return tag != "<none>:<none>"; });
  };
  if (loaded && *loaded && !named(**loaded)) {
    (void)docker.remove_image((*loaded)->id);
  }
}

Result<SnapshotExportOutcome> export_snapshot(const Session &session, apply::Backends &backends,
                                              const SnapshotExportRequest &request) {
  const auto started = Clock::now();
  auto &store = *backends.store;
  LTB_TRY(found, store.snapshot(request.lab, request.name));
  if (!found) {
    return fail(fmt::format("lab '{}' has no snapshot named '{}'", request.lab, request.name),
                "see the snapshots with `ltb snapshot list`");
  }
  // Held while the archive is written: `ltb snapshot rm` waits for it.
  LTB_TRY(lock, state::LabLock::acquire(session.context.state_path, snapshot_lock(request.lab),
                                        session.context.wait_seconds));
  LTB_TRY(snapshot, store.snapshot(request.lab, request.name));
  if (!snapshot || snapshot->status != state::k_snapshot_complete) {
    return fail(fmt::format("snapshot '{}' of lab '{}' is not complete: a killed `ltb snapshot` "
                            "left it half-made",
                            request.name, request.lab),
                "run any ltb command (it removes half-made snapshots), then take it again (ltb "
                "snapshot create)");
  }
  auto state = json::parse(snapshot->state, nullptr, false);
  if (!state.is_object()) {
    return fail(fmt::format("the recorded state of snapshot '{}' of lab '{}' is damaged",
                            request.name, request.lab),
                "remove the snapshot (ltb snapshot rm)");
  }
  LTB_TRY(artifacts, store.snapshot_artifacts(request.lab, request.name));

  const fs::path dir = snapshot_dir(session.context, request.lab, request.name);
  TempDir saved{dir / k_export_dir};
  std::error_code ec;
  fs::remove_all(saved.path, ec); // a killed export's
  fs::create_directories(saved.path, ec);
  if (ec) {
    return fail(fmt::format("cannot create {}: {}", saved.path.string(), ec.message()),
                "check the permissions of the state file's folder");
  }

  json manifest{{"format", k_snapshot_archive_format},
                {"kind", "ltb-snapshot"},
                {"ltb_version", LTB_VERSION},
                {"snapshot",
                 {{"lab", snapshot->lab},
                  {"name", snapshot->name},
                  {"created_at", snapshot->created_at},
                  {"memory", snapshot->memory},
                  {"topology_file", snapshot->topology_file},
                  {"topology_text", snapshot->topology_text},
                  {"state", state},
                  {"size_bytes", snapshot->size_bytes},
                  {"pause_ms", snapshot->pause_ms}}},
                {"artifacts", json::array()}};
  std::vector<util::TarEntry> entries;
  entries.push_back({k_snapshot_manifest, {}, {}, 0644});
  for (std::size_t i = 0; i < artifacts.size(); ++i) {
    const auto &artifact = artifacts[i];
    json entry{{"node", artifact.node},
               {"type", artifact.type},
               {"ref", artifact.ref},
               {"member", member_name(i, artifact)},
               {"size_bytes", artifact.size_bytes}};
    fs::path source = artifact.ref;
    if (artifact.type == "image") {
      LTB_TRY(image, backends.docker->inspect_image(artifact.ref));
      if (!image) {
        return fail(fmt::format("snapshot '{}' of lab '{}' lost its image {} (removed outside "
                                "ltb)",
                                request.name, request.lab, artifact.ref),
                    "it cannot be exported; remove it (ltb snapshot rm)");
      }
      // Saved by id: the archive names no tag, so loading it elsewhere tags nothing by itself.
      source = saved.path / fmt::format("{}.tar", i);
      LTB_CHECK(backends.docker->save_image(image->id, source.string()));
      entry["image_id"] = image->id;
    } else if (!fs::is_regular_file(source, ec)) {
      return fail(fmt::format("snapshot '{}' of lab '{}' lost its {} file {} (removed outside "
                              "ltb)",
                              request.name, request.lab, artifact.type, artifact.ref),
                  "it cannot be exported; remove it (ltb snapshot rm)");
    }
    entries.push_back({entry["member"], {}, source, 0644});
    manifest["artifacts"].push_back(std::move(entry));
  }
  entries.front().data = manifest.dump(2) + "\n";
  LTB_CHECK(util::write_tar(request.file, entries));
  SnapshotExportOutcome outcome;
  outcome.file = request.file;
  outcome.artifacts = artifacts.size();
  outcome.bytes = static_cast<std::int64_t>(fs::file_size(request.file, ec));
  outcome.total_ms = ms_since(started);
  return outcome;
}

Result<SnapshotExportOutcome> export_snapshot(const Session &session,
                                              const SnapshotExportRequest &given) {
  LTB_TRY(connection, connect(session.context));
  LTB_TRY(snapshot, find_snapshot(*connection.store, session.caller, given.lab, given.name));
  auto request = given;
  request.lab = snapshot.lab;
  auto backends = connection.backends();
  return export_snapshot(session, backends, request);
}

} // namespace ltb::service

namespace ltb::service {

Result<SnapshotImportOutcome> import_snapshot(const Session &session, apply::Backends &backends,
                                              const SnapshotImportRequest &request,
                                              std::int64_t now) {
  const auto started = Clock::now();
  auto &store = *backends.store;
  auto &docker = *backends.docker;
  const Context &context = session.context;

  // Every entry checked (names, types, sizes) before anything is read or written; then the
  // manifest alone, with a limit of its own.
  const util::TarLimits limits{k_max_member_bytes, k_max_archive_bytes, k_max_members};
  LTB_TRY(listed, util::scan_tar(request.file, limits, [](std::string_view) { return false; }));
  std::map<std::string, std::uint64_t> members;
  std::uint64_t need = 0;
  for (const auto &entry : listed) {
    members[entry.name] = entry.size;
    need += entry.name == k_snapshot_manifest ? 0 : entry.size;
  }
  if (!members.count(k_snapshot_manifest)) {
    return fail(not_an_archive(request.file, fmt::format("it has no {}", k_snapshot_manifest)));
  }
  if (members[k_snapshot_manifest] > k_max_manifest_bytes) {
    return fail(
        not_an_archive(request.file, fmt::format("its {} is larger than {} bytes",
                                                 k_snapshot_manifest, k_max_manifest_bytes)));
  }
  LTB_TRY(scanned, util::scan_tar(request.file, limits, [](std::string_view name) {
            return name == k_snapshot_manifest;
          }));
  std::string manifest_text;
  for (const auto &entry : scanned) {
    if (entry.name == k_snapshot_manifest) {
      manifest_text = entry.data;
    }
  }
  LTB_TRY(manifest, parse_manifest(request.file, manifest_text, members));

  SnapshotImportOutcome outcome;
  outcome.from_lab = manifest.snapshot.lab;
  // The snapshot becomes the importing user's, under their lab of that name (an exported lab id
  // keeps its name, not its owner).
  std::string plain = request.lab.empty() ? manifest.snapshot.lab : request.lab;
  if (const auto cut = plain.rfind(k_owner_separator); cut != std::string::npos) {
    plain = plain.substr(cut + std::string_view(k_owner_separator).size());
  }
  outcome.lab = lab_id(session.caller.name, plain);
  outcome.name = manifest.snapshot.name;
  outcome.artifacts = manifest.artifacts.size();
  outcome.size_bytes = manifest.snapshot.size_bytes;
  if (!valid_name(plain, 40)) {
    return fail(fmt::format("'{}' is not a valid lab name", plain),
                "use 1 to 40 letters, digits, '_', '.' and '-', starting with a letter or digit",
                ExitCode::usage);
  }
  const std::string &lab = outcome.lab;
  const std::string &name = outcome.name;
  LTB_TRY(lock,
          state::LabLock::acquire(context.state_path, snapshot_lock(lab), context.wait_seconds));
  auto taken = [&] {
    return fail(Error{fmt::format("lab '{}' has a snapshot named '{}' already", lab, name),
                      fmt::format("import it under another lab name (ltb snapshot import {} --lab "
                                  "NEWLAB), or remove the one here first (ltb snapshot rm {} {})",
                                  request.file, lab, name),
                      ExitCode::failed, ErrorKind::already_exists});
  };
  LTB_TRY(existing, store.snapshot(lab, name));
  if (existing) {
    return taken();
  }

  // A VM's disk layers build on its base image, which the archive does not hold.
  std::map<std::string, std::string> bases; // node -> base image, of nodes with disk layers
  for (const auto &artifact : manifest.artifacts) {
    if (artifact.type != "disk" || bases.count(artifact.node)) {
      continue;
    }
    std::string base;
    for (const auto &node : manifest.state.value("nodes", json::array())) {
      if (node.is_object() && node.value("name", "") == artifact.node) {
        base = node.value("image", "");
      }
    }
    if (base.empty() || !fs::path(base).is_absolute()) {
      return fail(not_an_archive(
          request.file,
          fmt::format("VM node '{}' has disk layers but no base image recorded", artifact.node)));
    }
    std::error_code ec;
    if (!fs::is_regular_file(base, ec)) {
      return fail(fmt::format("cannot import snapshot '{}' of lab '{}': VM node '{}' builds on "
                              "the base image {}, which does not exist on this host",
                              name, manifest.snapshot.lab, artifact.node, base),
                  "copy that image to the same path here (the snapshot holds only the VM's own "
                  "disk layers, not its base image), then import again");
    }
    bases[artifact.node] = base;
  }
  LTB_CHECK(check_snapshot_disk(session, store, static_cast<std::int64_t>(need), now, lab));

  // Where each artifact goes here.
  const fs::path dir = snapshot_dir(context, lab, name);
  const fs::path layers = fs::path(context.state_path).parent_path() / "disk-layers" / lab;
  const auto unique = random_hex();
  std::map<std::string, int> layer_count;
  for (auto &artifact : manifest.artifacts) {
    if (artifact.type == "image") {
      artifact.new_ref = snapshot_image(lab, name, artifact.node);
    } else if (artifact.type == "disk") {
      artifact.new_ref = (layers / fmt::format("{}-{}-{}-{}.qcow2", name, artifact.node,
                                               layer_count[artifact.node]++, unique))
                             .string();
    } else {
      artifact.new_ref = (dir / fs::path(artifact.old_ref).filename()).string();
    }
  }

  // Recorded before anything is made: a kill from here on leaves a row 'creating' that the next
  // ltb command removes with what it lists.
  state::SnapshotRecord record = manifest.snapshot;
  record.lab = lab;
  record.owner = session.caller.name;
  record.status = state::k_snapshot_creating;
  record.state = "{}";
  if (auto added = store.add_snapshot(record); !added) {
    return added.error().kind == ErrorKind::already_exists ? taken() : fail(added.error());
  }
  std::vector<std::string> loaded_here; // images this import loaded that nothing names yet
  auto discard = [&](Error error) -> Result<SnapshotImportOutcome> {
    for (const auto &artifact : manifest.artifacts) {
      std::error_code ec;
      if (artifact.type == "image") {
        remove_import_leftovers(docker, artifact.new_ref);
        (void)docker.remove_image(artifact.new_ref);
      } else if (artifact.type == "disk") {
        fs::remove(artifact.new_ref, ec);
      }
    }
    for (const auto &id : loaded_here) {
      (void)docker.remove_image(id);
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    (void)store.delete_snapshot(lab, name);
    return fail(std::move(error));
  };
  for (const auto &artifact : manifest.artifacts) {
    if (auto recorded = store.add_snapshot_artifact(
            {lab, name, artifact.node, artifact.type, artifact.new_ref, artifact.size_bytes});
        !recorded) {
      return discard(recorded.error());
    }
  }

  const fs::path unpacked = dir / k_import_dir;
  std::error_code ec;
  fs::remove_all(dir, ec); // left by something that recorded nothing
  if (auto extracted = util::extract_tar(request.file, unpacked, limits); !extracted) {
    return discard(extracted.error());
  }
  std::map<std::string, std::vector<std::string>> chains; // node -> its layers, top first
  for (const auto &artifact : manifest.artifacts) {
    const auto source = unpacked / artifact.member;
    if (artifact.type == "image") {
      continue;
    }
    if (artifact.type == "disk") {
      if (auto why = qcow2_refusal(source); !why.empty()) {
        return discard(
            not_an_archive(request.file, fmt::format("disk layer '{}' of node '{}': {}",
                                                     artifact.member, artifact.node, why)));
      }
      chains[artifact.node].push_back(artifact.new_ref);
    }
    if (auto moved = move_file(source, artifact.new_ref); !moved) {
      return discard(moved.error());
    }
  }
  // Each layer names the next as its backing file, the last one the node's base image: as they
  // are here, not as they were on the exporting host.
  for (const auto &[node, chain] : chains) {
    for (std::size_t k = 0; k < chain.size(); ++k) {
      const auto &backing = k + 1 < chain.size() ? chain[k + 1] : bases.at(node);
      if (auto rebased = backends.overlays->rebase_unsafe(chain[k], backing); !rebased) {
        return discard(rebased.error());
      }
    }
  }
  for (const auto &artifact : manifest.artifacts) {
    if (artifact.type != "image") {
      continue;
    }
    const auto source = unpacked / artifact.member;
    bool present = false;
    if (!artifact.image_id.empty()) {
      auto before = docker.inspect_image(artifact.image_id);
      present = before && *before;
    }
    auto refusal = image_archive_refusal(source);
    if (!refusal || !refusal->empty()) {
      return discard(not_an_archive(
          request.file, fmt::format("image '{}' of node '{}': {}", artifact.member, artifact.node,
                                    refusal ? *refusal : refusal.error().message)));
    }
    auto loaded = docker.load_image(source.string());
    if (!loaded) {
      return discard(loaded.error());
    }
    std::string id = loaded->front();
    if (std::find(loaded->begin(), loaded->end(), artifact.image_id) != loaded->end()) {
      id = artifact.image_id;
    }
    if (!present) {
      loaded_here.push_back(id);
    }
    fs::remove(source, ec); // its space back before the next one loads
    if (auto made = relabel(docker, id, artifact.new_ref, lab, name, artifact.node); !made) {
      return discard(made.error());
    }
    // From here the loaded image is the new one's parent: Docker removes it with it.
    loaded_here.erase(std::remove(loaded_here.begin(), loaded_here.end(), id), loaded_here.end());
  }
  fs::remove_all(unpacked, ec);

  std::map<std::string, std::string> moved;
  for (const auto &artifact : manifest.artifacts) {
    moved[artifact.old_ref] = artifact.new_ref;
  }
  auto state = manifest.state;
  replace_strings(state, moved);
  state["lab"] = lab;
  record.status = state::k_snapshot_complete;
  record.state = state.dump();
  // One write: listed from here on, complete.
  if (auto done = store.put_snapshot(record); !done) {
    return discard(done.error());
  }
  outcome.total_ms = ms_since(started);
  return outcome;
}

Result<SnapshotImportOutcome> import_snapshot(const Session &session,
                                              const SnapshotImportRequest &request) {
  LTB_TRY(connection, connect(session.context));
  auto backends = connection.backends();
  LTB_TRY(outcome, import_snapshot(session, backends, request, std::time(nullptr)));
  outcome.lab = lab_shown(session.caller, outcome.lab);
  return outcome;
}

Status check_bind_sources(const state::SnapshotRecord &snapshot, const std::string &text,
                          const std::string &base_dir) {
  auto loaded = topology::load_text(text, "<snapshot>", base_dir, {});
  if (!loaded) {
    return {};
  }
  for (const auto &node : loaded->nodes) {
    for (const auto &bind : node.binds) {
      const auto source = bind.substr(0, bind.find(':'));
      std::error_code ec;
      if (!source.empty() && !fs::exists(source, ec)) {
        return fail(fmt::format("cannot restore snapshot '{}' of lab '{}': node '{}' binds {} from "
                                "the host, which does not exist here",
                                snapshot.name, snapshot.lab, node.name, source),
                    "a snapshot holds each node's own files, not what it binds from the host: "
                    "make that path (copy it from the host the snapshot was taken on), then "
                    "restore again");
      }
    }
  }
  return {};
}

} // namespace ltb::service
