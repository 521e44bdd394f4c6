#include "service/templates.hpp"

#include "service/owners.hpp"
#include "state/dirs.hpp"
#include "topology/loader.hpp"
#include "topology/relocate.hpp"
#include "util/archive.hpp"
#include "util/hash.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace ltb::service {

namespace {

namespace fs = std::filesystem;

constexpr std::int64_t k_max_file_bytes = std::int64_t{64} << 20;    // one bundled file
constexpr std::int64_t k_max_bundle_bytes = std::int64_t{256} << 20; // a whole bundle
constexpr std::size_t k_max_files = 10000;
constexpr const char *k_manifest = "ltb-template.json";
constexpr int k_manifest_format = 1;

bool valid_name(const std::string &name) {
  return !name.empty() && name.size() <= 128 && name.front() != '.' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
         });
}

Result<std::string> read_file(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)),
                "check that it exists and is readable");
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// The digest of a bundle: of its topology's name and its files' paths, modes and contents.
std::string bundle_digest(const std::string &topology,
                          const std::vector<state::TemplateFileRecord> &files) {
  std::string manifest = "ltb-template-bundle-v1\ntopology " + topology + "\n";
  for (const auto &file : files) {
    manifest += fmt::format("{:o} {} {}\n", file.mode, file.digest, file.path);
  }
  return util::sha256_hex(manifest);
}

/// A bundle being put together: files by their name in it.
struct Bundle {
  std::map<std::string, std::string> contents; // name -> bytes
  std::map<std::string, std::uint32_t> modes;
  std::map<std::string, std::string> paths; // absolute source path -> its name in the bundle
  std::int64_t total = 0;
  std::vector<std::string> host_paths;
  std::vector<std::string> moved;
};

class Collector {
public:
  Collector(fs::path base, std::string topology_name)
      : m_base(std::move(base)), m_topology(std::move(topology_name)) {
    m_taken.insert(m_topology);
  }

  Bundle &bundle() { return m_bundle; }

  /// Files outside the base directory are errors (see bundle_topology's `inside_only`).
  void inside_only() { m_inside_only = true; }

  /// A file the topology names: bundled under its relative name, or as outside/NAME.
  Status file(const fs::path &path, const std::string &what) {
    const std::string key = path.lexically_normal().string();
    if (m_bundle.paths.count(key)) {
      return {};
    }
    if (m_inside_only && !under_base(path)) {
      return fail(fmt::format("{} {} is outside the archive", what, key),
                  "an archive of `ltb template export` names only files it holds; this one was "
                  "made or changed by hand to read a file of this host: do not import it",
                  ExitCode::usage);
    }
    std::string name;
    if (auto inside = relative_inside(path)) {
      name = *inside;
    } else {
      const std::string base = path.filename().string();
      name = "outside/" + base;
      for (int i = 2; m_taken.count(name); ++i) {
        name = fmt::format("outside/{}-{}", i, base);
      }
      m_bundle.moved.push_back(fmt::format("{} -> {}", key, name));
    }
    LTB_CHECK(add(path, name, what));
    m_bundle.paths[key] = name;
    return {};
  }

  /// A directory a bind names: its regular files when inside the topology's directory, else a
  /// host path.
  Status directory(const fs::path &path, const std::string &what) {
    const std::string key = path.lexically_normal().string();
    if (m_bundle.paths.count(key)) {
      return {};
    }
    auto inside = relative_inside(path);
    if (!inside) {
      host(key);
      return {};
    }
    std::error_code ec;
    for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      const auto status = it->symlink_status(ec);
      if (fs::is_directory(status)) {
        continue;
      }
      if (!fs::is_regular_file(status)) {
        return fail(fmt::format("{} {}: {} is not a regular file", what, key, it->path().string()),
                    "a template bundles regular files only: remove it (or the link), or bind "
                    "that directory by an absolute path outside the topology's directory (then it "
                    "is a host path, not bundled)");
      }
      auto name = relative_inside(it->path());
      if (!name) {
        continue;
      }
      LTB_CHECK(add(it->path(), *name, what));
    }
    if (ec) {
      return fail(fmt::format("{}: cannot read directory {}: {}", what, key, ec.message()));
    }
    m_bundle.paths[key] = *inside;
    return {};
  }

  void host(const std::string &path) {
    if (std::find(m_bundle.host_paths.begin(), m_bundle.host_paths.end(), path) ==
        m_bundle.host_paths.end()) {
      m_bundle.host_paths.push_back(path);
    }
  }

private:
  /// PATH is the base directory's or below it, by name (the directory an archive is written to
  /// holds no symbolic link).
  bool under_base(const fs::path &path) const {
    const auto rel = path.lexically_normal().lexically_relative(m_base).string();
    return !rel.empty() && rel != "." && !rel.starts_with("..") && util::safe_archive_name(rel);
  }

  std::optional<std::string> relative_inside(const fs::path &path) const {
    const auto rel = path.lexically_normal().lexically_relative(m_base).string();
    if (rel.empty() || rel == "." || rel.starts_with("..") || !util::safe_archive_name(rel)) {
      return std::nullopt;
    }
    if (rel.starts_with("outside/") || rel == "outside") {
      return std::nullopt; // the name is kept for files from outside
    }
    return rel;
  }

  Status add(const fs::path &path, const std::string &name, const std::string &what) {
    if (m_bundle.contents.count(name)) {
      return {};
    }
    if (m_taken.count(name)) {
      return fail(fmt::format("{} {} would have the topology file's own name in the bundle", what,
                              path.string()),
                  "rename one of them");
    }
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec) {
      return fail(fmt::format("{} {}: {}", what, path.string(), ec.message()),
                  "check that it exists and is readable");
    }
    if (static_cast<std::int64_t>(size) > k_max_file_bytes) {
      return fail(fmt::format("{} {} is {} MiB; a template holds files of up to {} MiB", what,
                              path.string(), size >> 20, k_max_file_bytes >> 20),
                  "keep large files on the host: bind them by an absolute path to a directory "
                  "outside the topology's directory");
    }
    if (m_bundle.contents.size() >= k_max_files) {
      return fail(fmt::format("the topology references more than {} files", k_max_files),
                  "a template bundles what it references; bind large trees as host paths");
    }
    LTB_TRY(content, read_file(path));
    m_bundle.total += static_cast<std::int64_t>(content.size());
    if (m_bundle.total > k_max_bundle_bytes) {
      return fail(fmt::format("the files the topology references come to more than {} MiB",
                              k_max_bundle_bytes >> 20),
                  "keep large files on the host: bind them by an absolute path to a directory "
                  "outside the topology's directory");
    }
    struct stat st {};
    const std::uint32_t mode =
        ::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IXUSR) != 0 ? 0755 : 0644;
    m_bundle.contents[name] = std::move(content);
    m_bundle.modes[name] = mode;
    m_taken.insert(name);
    return {};
  }

  fs::path m_base;
  bool m_inside_only = false;
  std::string m_topology;
  std::set<std::string> m_taken;
  Bundle m_bundle;
};

/// Collects what the loaded topology references.
Status collect(Collector &collector, const topology::Topology &topology) {
  for (const auto &node : topology.nodes) {
    const std::string who = fmt::format("node {}:", node.name);
    if (!node.startup_config.empty()) {
      LTB_CHECK(collector.file(node.startup_config, who + " startup-config"));
    }
    if (!node.ssh_key.empty()) {
      LTB_CHECK(collector.file(node.ssh_key, who + " ssh-key"));
    }
    for (const auto &bind : node.binds) {
      const auto colon = bind.find(':');
      const fs::path source = bind.substr(0, colon);
      std::error_code ec;
      const auto status = fs::status(source, ec);
      if (fs::is_regular_file(status)) {
        LTB_CHECK(collector.file(source, who + " bind source"));
      } else if (fs::is_directory(status)) {
        LTB_CHECK(collector.directory(source, who + " bind source"));
      } else {
        collector.host(source.lexically_normal().string());
      }
    }
    if (node.runtime == topology::Runtime::vm) {
      for (const auto *path : {&node.image, &node.kernel, &node.initrd}) {
        if (!path->empty()) {
          collector.host(*path);
        }
      }
    }
  }
  return {};
}

/// An Error carrying diagnostics on one line each (for callers that cannot print them whole).
Error flatten(const topology::Diagnostics &diagnostics, const std::string &what) {
  std::string text;
  std::istringstream rendered(topology::render(diagnostics, false));
  for (std::string line; std::getline(rendered, line);) {
    if (line.find("error:") != std::string::npos) {
      text += (text.empty() ? "" : "; ") + line;
    }
  }
  return Error{fmt::format("{} is invalid: {}", what, text),
               "fix it and add it again (ltb template add FILE --name NAME)", ExitCode::usage};
}

/// Whether the caller may see (and deploy) a template: their own, a shared one, or any (admin).
bool visible(const Caller &caller, const state::TemplateRecord &t) {
  return t.shared || may_act(caller, t.owner);
}

Error not_found(state::Store &store, const Session &session, const TemplateRef &ref,
                bool version_only) {
  const Context &context = session.context;
  if (version_only) {
    std::vector<std::string> versions;
    if (auto all = store.templates(ref.name)) {
      for (const auto &t : *all) {
        versions.push_back(std::to_string(t.version));
      }
    }
    return Error{fmt::format("template {} has no version {}", ref.name, ref.version),
                 fmt::format("its versions: {} (ltb template versions {})",
                             fmt::join(versions, ", "), ref.name),
                 ExitCode::usage};
  }
  std::set<std::string> names;
  if (auto all = store.templates()) {
    for (const auto &t : *all) {
      if (visible(session.caller, t)) {
        names.insert(t.name);
      }
    }
  }
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator(legacy_templates_dir(context), ec)) {
    if (entry.path().extension() == ".yaml") {
      names.insert(entry.path().stem().string());
    }
  }
  std::vector<std::string> list(names.begin(), names.end());
  const auto guess = topology::did_you_mean(ref.name, list);
  std::string help = !guess.empty() ? fmt::format("did you mean '{}'?", guess)
                     : list.empty()
                         ? std::string("add one: ltb template add FILE [--name NAME]")
                         : fmt::format("templates: {} (ltb template list)", fmt::join(list, ", "));
  return Error{fmt::format("no template named '{}'", ref.name), help, ExitCode::usage};
}

} // namespace

Result<TopologyBundle> bundle_topology(const std::string &file, bool inside_only) {
  TopologyBundle out;
  topology::LoadOptions options;
  options.warnings = &out.warnings;
  auto loaded = topology::load_file(file, options);
  if (!loaded) {
    out.invalid = loaded.error();
    return out;
  }
  out.name = loaded->name;
  const fs::path absolute = fs::absolute(file).lexically_normal();
  out.topology = absolute.filename().string();
  Collector collector(absolute.parent_path(), out.topology);
  if (inside_only) {
    collector.inside_only();
  }
  LTB_CHECK(collect(collector, *loaded));
  auto &bundle = collector.bundle();
  topology::Relocation relocation;
  relocation.base_dir = absolute.parent_path().string();
  relocation.paths = bundle.paths;
  auto text = topology::relocate_text(loaded->text, relocation);
  if (!text) {
    return fail(Error{fmt::format("{}: {}", file, text.error().message), text.error().help,
                      ExitCode::usage});
  }
  bundle.contents[out.topology] = std::move(*text);
  bundle.modes[out.topology] = 0644;
  out.contents = std::move(bundle.contents);
  out.modes = std::move(bundle.modes);
  out.host_paths = std::move(bundle.host_paths);
  out.moved = std::move(bundle.moved);
  return out;
}

namespace {

/// Adds the file as the next version of `name`, unless its content is the newest version's.
Result<AddedTemplate> add_file(const Session &session, state::Store &store, const fs::path &file,
                               std::string name, const std::string &description,
                               bool shared = false, bool inside_only = false) {
  AddedTemplate out;
  LTB_TRY(bundle, bundle_topology(file.string(), inside_only));
  out.warnings = std::move(bundle.warnings);
  if (bundle.invalid) {
    out.invalid = std::move(bundle.invalid);
    return out;
  }
  if (!session.caller.admin) {
    // A user's labs are confined: what only admins may use (binds, devices, host paths) is
    // refused now, located in the file, not at the template's first deploy.
    topology::LoadOptions options;
    options.confined = true;
    if (auto checked = topology::load_file(file.string(), options); !checked) {
      out.invalid = std::move(checked.error());
      return out;
    }
  }
  if (name.empty()) {
    name = bundle.name;
  }
  if (!valid_name(name)) {
    return fail(fmt::format("invalid template name '{}'", name),
                "a template name has letters, digits, '-', '_' and '.', and does not start with "
                "'.'; pass --name NAME",
                ExitCode::usage);
  }
  const std::string topology_name = bundle.topology;

  state::TemplateRecord record;
  record.name = name;
  record.topology = topology_name;
  record.description = description;
  record.created_by = session.caller.name;
  record.owner = session.caller.name;
  record.shared = shared;
  std::map<std::string, std::string> blobs;
  for (auto &[path, content] : bundle.contents) {
    state::TemplateFileRecord f;
    f.path = path;
    f.digest = util::sha256_hex(content);
    f.size = static_cast<std::int64_t>(content.size());
    f.mode = bundle.modes[path];
    record.files.push_back(f);
    blobs[f.digest] = std::move(content);
  }
  record.digest = bundle_digest(record.topology, record.files);
  // A name is one owner's: others add versions of their own template, not of it.
  LTB_TRY(existing, store.template_version(name));
  if (existing && !may_act(session.caller, existing->owner)) {
    return fail(fmt::format("the template name '{}' is taken by another user", name),
                "choose another name with --name NAME", ExitCode::usage);
  }
  LTB_TRY(added, store.add_template(record, blobs));
  if (existing && shared && !existing->shared) {
    LTB_CHECK(store.set_template_shared(name, true));
    added.record.shared = true;
  }
  out.added = added.added;
  if (added.added) {
    out.record = std::move(added.record);
    out.record.files = record.files;
  } else {
    LTB_TRY(newest, store.template_version(name, added.record.version));
    out.record = newest.value_or(added.record);
  }
  out.host_paths = std::move(bundle.host_paths);
  out.moved = std::move(bundle.moved);
  return out;
}

/// The version REF names; a plain-file template of an earlier release is imported first.
Result<state::TemplateRecord> resolve(const Session &session, state::Store &store,
                                      const TemplateRef &ref) {
  LTB_TRY(found, store.template_version(ref.name, ref.version));
  if (found && visible(session.caller, *found)) {
    return *found;
  }
  LTB_TRY(any, store.templates(ref.name));
  if (!any.empty() && !visible(session.caller, any.front())) {
    return fail(not_found(store, session, ref, false));
  }
  if (!any.empty()) {
    return fail(not_found(store, session, ref, true));
  }
  const fs::path legacy = fs::path(legacy_templates_dir(session.context)) / (ref.name + ".yaml");
  std::error_code ec;
  if (!valid_name(ref.name) || !fs::is_regular_file(legacy, ec)) {
    return fail(not_found(store, session, ref, false));
  }
  LTB_TRY(added, add_file(session, store, legacy, ref.name, "imported from " + legacy.string()));
  if (added.invalid) {
    return fail(flatten(*added.invalid, "template file " + legacy.string()));
  }
  session.events.notice(fmt::format(
      "notice: imported the plain-file template {} into the template store as {}@{}; from now "
      "on the store's copy is used (after editing the file, run `ltb template add {} --name {}` "
      "for a new version)",
      legacy.string(), ref.name, added.record.version, legacy.string(), ref.name));
  if (ref.version != 0 && ref.version != added.record.version) {
    return fail(not_found(store, session, ref, true));
  }
  return added.record;
}

/// Writes a version's files into a new read-only directory <bundles>/<digest>, unless it is
/// there already. Another process doing the same at the same time is fine: one rename wins.
Result<std::string> write_bundle(const Session &session, state::Store &store,
                                 const state::TemplateRecord &record) {
  const fs::path root = bundles_dir(session.context);
  const fs::path dir = root / record.digest;
  std::error_code ec;
  if (fs::is_regular_file(dir / record.topology, ec)) {
    return dir.string();
  }
  LTB_CHECK(state::detail::make_dirs(root.string(), "template bundles"));
  const fs::path tmp = root / fmt::format(".{}.tmp-{}", record.digest, ::getpid());
  auto writable = [](const fs::path &p) {
    std::error_code e;
    for (fs::recursive_directory_iterator it(p, e), end; !e && it != end; it.increment(e)) {
      if (it->is_directory(e)) {
        fs::permissions(it->path(), fs::perms::owner_write, fs::perm_options::add, e);
      }
    }
    fs::permissions(p, fs::perms::owner_write, fs::perm_options::add, e);
  };
  auto remove_tmp = [&] {
    writable(tmp);
    std::error_code e;
    fs::remove_all(tmp, e);
  };
  remove_tmp();
  auto written = [&]() -> Status {
    for (const auto &file : record.files) {
      LTB_TRY(content, store.blob(file.digest));
      if (!content || util::sha256_hex(*content) != file.digest) {
        return fail(
            fmt::format("template {}@{}: the content of {} is missing or damaged in the "
                        "state file",
                        record.name, record.version, file.path),
            fmt::format("add the template again (ltb template add FILE --name {})", record.name));
      }
      const fs::path target = tmp / file.path;
      fs::create_directories(target.parent_path(), ec);
      std::ofstream out(target, std::ios::binary | std::ios::trunc);
      out << *content;
      out.close();
      if (!out) {
        return fail(fmt::format("cannot write {}", target.string()),
                    "check the free space and permissions of the state directory");
      }
      fs::permissions(target, static_cast<fs::perms>(file.mode & 0555), ec);
    }
    // Read-only: every lab deployed from this content shares the directory.
    for (fs::recursive_directory_iterator it(tmp, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_directory(ec)) {
        fs::permissions(it->path(), static_cast<fs::perms>(0555), ec);
      }
    }
    fs::permissions(tmp, static_cast<fs::perms>(0555), ec);
    return {};
  }();
  if (!written) {
    remove_tmp();
    return tl::unexpected(written.error());
  }
  if (::rename(tmp.c_str(), dir.c_str()) != 0) {
    const int err = errno;
    remove_tmp();
    if (!fs::is_regular_file(dir / record.topology, ec)) {
      return fail(fmt::format("cannot make {}: {}", dir.string(), std::strerror(err)),
                  "check the permissions of the state directory");
    }
  }
  return dir.string();
}

bool pinning_state(const std::string &state) {
  return state == "pending" || state == "active" || state == "failed";
}

} // namespace

Result<TemplateRef> parse_template_ref(const std::string &text) {
  TemplateRef ref;
  const auto at = text.rfind('@');
  ref.name = text.substr(0, at);
  if (at != std::string::npos) {
    const std::string version = text.substr(at + 1);
    auto [end, ec] = std::from_chars(version.data(), version.data() + version.size(), ref.version);
    if (ec != std::errc() || end != version.data() + version.size() || ref.version < 1) {
      return fail(fmt::format("invalid template version in '{}'", text),
                  "write NAME or NAME@VERSION, with VERSION a number from `ltb template versions "
                  "NAME`",
                  ExitCode::usage);
    }
  }
  if (!valid_name(ref.name)) {
    return fail(fmt::format("invalid template name '{}'", ref.name),
                "a template name has letters, digits, '-', '_' and '.', and does not start with "
                "'.'",
                ExitCode::usage);
  }
  return ref;
}

std::string template_source(const std::string &name, int version) {
  return fmt::format("template:{}@{}", name, version);
}

std::optional<TemplateRef> parse_template_source(const std::string &source) {
  if (!source.starts_with("template:") || source.find('@') == std::string::npos) {
    return std::nullopt;
  }
  auto ref = parse_template_ref(source.substr(std::string("template:").size()));
  if (!ref || ref->version == 0) {
    return std::nullopt;
  }
  return *ref;
}

std::string legacy_templates_dir(const Context &context) {
  return (fs::path(context.state_path).parent_path() / "templates").string();
}

std::string bundles_dir(const Context &context) {
  return (fs::path(context.state_path).parent_path() / "template-bundles").string();
}

Result<AddedTemplate> add_template(const Session &session, state::Store &store,
                                   const AddTemplate &request) {
  std::error_code ec;
  if (!fs::is_regular_file(request.file, ec)) {
    return fail(fmt::format("topology file {} does not exist", request.file),
                "give the path of a lab's topology file", ExitCode::usage);
  }
  return add_file(session, store, request.file, request.name, request.description, request.shared);
}

Result<std::vector<state::TemplateRecord>>
list_templates(const Session &session, state::Store &store, const std::string &name) {
  LTB_TRY(all, store.templates(name));
  std::vector<state::TemplateRecord> out;
  for (auto &t : all) {
    if (visible(session.caller, t)) {
      out.push_back(std::move(t));
    }
  }
  return out;
}

Status share_template(const Session &session, state::Store &store, const std::string &name,
                      bool shared) {
  LTB_TRY(found, resolve(session, store, {name, 0}));
  if (!may_act(session.caller, found.owner)) {
    return fail(fmt::format("template '{}' is {}'s: only its owner or an admin may share it", name,
                            found.owner),
                "ask them, or add a copy of your own (ltb template export, then import --name)");
  }
  return store.set_template_shared(name, shared);
}

Result<state::TemplateRecord> find_template(const Session &session, state::Store &store,
                                            const TemplateRef &ref) {
  return resolve(session, store, ref);
}

Result<TemplateUsers> template_users(state::Store &store, const Caller &caller,
                                     const std::string &name, int version) {
  TemplateUsers users;
  const std::string source = template_source(name, version);
  LTB_TRY(reservations, store.reservations());
  for (const auto &r : reservations) {
    if (r.source == source && pinning_state(r.state)) {
      if (may_act(caller, r.owner)) {
        users.reservations.push_back(
            fmt::format("{} (lab {}, {})", r.id, lab_shown(caller, r.lab), r.state));
      } else {
        ++users.others;
      }
    }
  }
  LTB_TRY(labs, store.labs());
  for (const auto &lab : labs) {
    if (lab.source == source) {
      if (may_act(caller, lab.owner)) {
        users.labs.push_back(lab_shown(caller, lab.name));
      } else {
        ++users.others;
      }
    }
  }
  return users;
}

Result<RemovedTemplate> remove_template(const Session &session, state::Store &store,
                                        const TemplateRef &ref) {
  RemovedTemplate out;
  LTB_CHECK(store.transaction([&]() -> Status {
    LTB_TRY(all, store.templates(ref.name));
    std::vector<int> versions;
    for (const auto &t : all) {
      if (ref.version == 0 || t.version == ref.version) {
        versions.push_back(t.version);
      }
    }
    if (versions.empty() || !visible(session.caller, all.front())) {
      return fail(
          not_found(store, session, ref, !all.empty() && visible(session.caller, all.front())));
    }
    if (!may_act(session.caller, all.front().owner)) {
      return fail(fmt::format("template {} is {}'s: only its owner or an admin may remove it",
                              ref.name, all.front().owner),
                  "it stays; deploy it as it is, or add a copy under a name of yours");
    }
    std::vector<std::string> users;
    std::vector<std::string> todo;
    for (int version : versions) {
      LTB_TRY(held, template_users(store, session.caller, ref.name, version));
      if (held.others > 0) {
        users.push_back(fmt::format("{} reservation{} or lab{} of other users use{} {}@{}",
                                    held.others, held.others == 1 ? "" : "s",
                                    held.others == 1 ? "" : "s", held.others == 1 ? "s" : "",
                                    ref.name, version));
        todo.push_back("ask an admin");
      }
      for (const auto &r : held.reservations) {
        users.push_back(fmt::format("reservation {} pins {}@{}", r, ref.name, version));
        todo.push_back("ltb reserve delete " + r.substr(0, r.find(' ')));
      }
      for (const auto &lab : held.labs) {
        users.push_back(fmt::format("lab {} was deployed from {}@{}", lab, ref.name, version));
        todo.push_back("ltb down --lab " + lab);
      }
    }
    if (!users.empty()) {
      return fail(fmt::format("template {}{} is in use, so nothing was removed: {}", ref.name,
                              ref.version != 0 ? fmt::format("@{}", ref.version) : "",
                              fmt::join(users, "; ")),
                  fmt::format("remove those first ({}), then run `ltb template rm` again",
                              fmt::join(todo, ", ")));
    }
    LTB_CHECK(store.delete_template(ref.name, ref.version));
    out.versions = versions;
    return {};
  }));
  return out;
}

Result<state::TemplateRecord> export_template(const Session &session, state::Store &store,
                                              const TemplateRef &ref, const std::string &tar) {
  LTB_TRY(record, resolve(session, store, ref));
  nlohmann::json manifest{{"format", k_manifest_format},     {"name", record.name},
                          {"version", record.version},       {"description", record.description},
                          {"created_by", record.created_by}, {"created_at", record.created_at},
                          {"digest", record.digest},         {"topology", record.topology},
                          {"files", nlohmann::json::array()}};
  std::vector<util::TarEntry> entries;
  entries.push_back({k_manifest, {}, {}, 0644});
  for (const auto &file : record.files) {
    manifest["files"].push_back(
        {{"path", file.path}, {"sha256", file.digest}, {"mode", file.mode}, {"size", file.size}});
    LTB_TRY(content, store.blob(file.digest));
    if (!content) {
      return fail(fmt::format("template {}@{}: the content of {} is missing in the state file",
                              record.name, record.version, file.path),
                  "add the template again");
    }
    entries.push_back({"files/" + file.path, std::move(*content), {}, file.mode});
  }
  entries.front().data = manifest.dump(2) + "\n";
  LTB_CHECK(util::write_tar(tar, entries));
  return record;
}

Result<AddedTemplate> import_template(const Session &session, state::Store &store,
                                      const ImportTemplate &request) {
  util::TarLimits limits;
  limits.max_entry_bytes = static_cast<std::uint64_t>(k_max_file_bytes);
  limits.max_total_bytes = static_cast<std::uint64_t>(k_max_bundle_bytes);
  limits.max_entries = k_max_files + 1;
  LTB_TRY(entries, util::read_tar(request.tar, limits));
  auto bad = [&](const std::string &why) {
    return fail(fmt::format("{} is not a template archive of ltb: {}", request.tar, why),
                "make one with `ltb template export NAME -o FILE.tar`", ExitCode::usage);
  };
  std::map<std::string, std::string> files;
  const util::TarEntry *manifest_entry = nullptr;
  for (const auto &entry : entries) {
    if (entry.name == k_manifest) {
      manifest_entry = &entry;
    } else if (entry.name.starts_with("files/")) {
      files[entry.name.substr(6)] = entry.data;
    } else {
      return bad(fmt::format("unexpected entry '{}'", entry.name));
    }
  }
  if (manifest_entry == nullptr) {
    return bad(fmt::format("it has no {}", k_manifest));
  }
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(manifest_entry->data);
  } catch (const nlohmann::json::exception &e) {
    return bad(fmt::format("{} is not JSON: {}", k_manifest, e.what()));
  }
  if (!manifest.is_object() || manifest.value("format", 0) != k_manifest_format) {
    return bad(fmt::format("{} has an unknown format (this ltb reads format {})", k_manifest,
                           k_manifest_format));
  }
  const std::string topology = manifest.value("topology", "");
  if (!manifest.contains("files") || !manifest["files"].is_array()) {
    return bad(fmt::format("{} lists no files", k_manifest));
  }
  std::set<std::string> listed;
  std::map<std::string, std::uint32_t> modes;
  for (const auto &f : manifest["files"]) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("sha256") ||
        !f["sha256"].is_string()) {
      return bad(fmt::format("{} has a file without a path or sha256", k_manifest));
    }
    const std::string path = f["path"];
    auto content = files.find(path);
    if (content == files.end()) {
      return bad(fmt::format("files/{} is listed but not in the archive", path));
    }
    if (util::sha256_hex(content->second) != f["sha256"].get<std::string>()) {
      return bad(fmt::format("files/{} does not match its sha256 (the archive was altered or "
                             "damaged)",
                             path));
    }
    listed.insert(path);
    modes[path] = f.value("mode", 0644u) & 0755u;
  }
  for (const auto &[path, content] : files) {
    if (!listed.count(path)) {
      return bad(fmt::format("files/{} is not listed in {}", path, k_manifest));
    }
  }
  if (topology.empty() || !listed.count(topology) || topology.find('/') != std::string::npos) {
    return bad(fmt::format("{} names no topology file among its files", k_manifest));
  }
  std::string name = request.name.empty() ? manifest.value("name", "") : request.name;
  if (!valid_name(name)) {
    return fail(fmt::format("invalid template name '{}'", name),
                "pass --name NAME (letters, digits, '-', '_' and '.')", ExitCode::usage);
  }
  // Validated and collected like a file being added: written out first (nothing absolute,
  // nothing above the directory: read_tar checked every name), then add_file().
  char pattern[] = "/tmp/ltb-template-import-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) {
    return fail(fmt::format("cannot make a temporary directory: {}", std::strerror(errno)));
  }
  const fs::path dir = pattern;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};
  for (const auto &[path, content] : files) {
    std::error_code ec;
    fs::create_directories((dir / path).parent_path(), ec);
    std::ofstream out(dir / path, std::ios::binary);
    out << content;
    out.close();
    if (!out) {
      return fail(fmt::format("cannot write {}", (dir / path).string()),
                  "check the free space of /tmp");
    }
    // The mode is part of the digest: an executable file stays one.
    fs::permissions(dir / path, static_cast<fs::perms>(modes[path]), ec);
  }
  // Every file its topology names is one of the archive's: a topology that names a host file
  // (an absolute path, '..') would otherwise copy that file into the store, to be exported or
  // shared from there.
  LTB_TRY(added, add_file(session, store, dir / topology, name, manifest.value("description", ""),
                          false, true));
  added.moved.clear(); // outside/NAME came from outside the original's directory, not the tar's
  return added;
}

Result<MaterializedTemplate> materialize_template(const Session &session, state::Store &store,
                                                  const TemplateRef &ref) {
  MaterializedTemplate out;
  LTB_TRY(record, resolve(session, store, ref));
  if (record.files.empty()) {
    LTB_TRY(full, store.template_version(record.name, record.version));
    record = full.value_or(record);
  }
  LTB_TRY(dir, write_bundle(session, store, record));
  out.dir = dir;
  out.file = (fs::path(dir) / record.topology).string();
  LTB_TRY(text, read_file(out.file));
  out.text = std::move(text);
  out.source = template_source(record.name, record.version);
  out.record = std::move(record);
  return out;
}

Result<ReservationSource> reservation_source(const Session &session, state::Store &store,
                                             const std::string &file,
                                             const std::string &template_ref) {
  if (!template_ref.empty()) {
    LTB_TRY(ref, parse_template_ref(template_ref));
    LTB_TRY(materialized, materialize_template(session, store, ref));
    return ReservationSource{materialized.text, materialized.file, materialized.source,
                             materialized.dir};
  }
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    return fail(fmt::format("topology file {} does not exist", file), {}, ExitCode::usage);
  }
  const std::string path = fs::absolute(file).lexically_normal().string();
  auto text = read_file(file);
  if (!text) {
    return fail(Error{text.error().message, text.error().help, ExitCode::usage});
  }
  return ReservationSource{*text, file, path, fs::path(path).parent_path().string()};
}

Result<DeployedTemplate> deploy_template(const Session &session, Connection &connection,
                                         const TemplateRef &ref, const std::string &lab,
                                         DeployRequest request) {
  DeployedTemplate out;
  LTB_TRY(materialized, materialize_template(session, *connection.store, ref));
  out.from = std::move(materialized);
  topology::Diagnostics warnings;
  topology::LoadOptions options{lab, &warnings};
  options.confined = request.confined;
  auto loaded = topology::load_text(out.from.text, out.from.file, out.from.dir,
                                    load_options(session, options));
  if (!loaded) {
    out.invalid = loaded.error();
    return out;
  }
  out.desired = std::move(*loaded);
  request.source = out.from.source;
  out.outcome = deploy_lab(session, connection, out.desired, request);
  return out;
}

} // namespace ltb::service
