#include "service/save.hpp"

#include "service/backends.hpp"
#include "service/nodes.hpp"
#include "service/owners.hpp"
#include "topology/diagnostics.hpp"
#include "topology/kinds.hpp"
#include "topology/loader.hpp"
#include "topology/relocate.hpp"
#include "util/shell_split.hpp"

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <set>
#include <unistd.h>

namespace ltb::service {

namespace {

namespace fs = std::filesystem;

/// A command's exit status and output.
struct Ran {
  int status = -1;
  std::string out;
  std::string err;
};

Result<Ran> run(const Context &context, state::Store &store, const std::string &lab,
                const state::NodeRecord &record, const std::vector<std::string> &argv) {
  Ran ran;
  CommandStreams streams;
  streams.on_out = [&ran](std::string_view data) { ran.out.append(data); };
  streams.on_err = [&ran](std::string_view data) { ran.err.append(data); };
  LTB_TRY(status, run_in_node(context, store, lab, record, argv, streams));
  ran.status = status;
  return ran;
}

Status write_file(const fs::path &path, const std::string &content) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const fs::path temporary = path.string() + fmt::format(".tmp.{}", ::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) {
      fs::remove(temporary, ec);
      return fail(fmt::format("cannot write {}", path.string()),
                  "check that the directory is writable, or choose another with -o DIR");
    }
  }
  fs::rename(temporary, path, ec);
  if (ec) {
    fs::remove(temporary, ec);
    return fail(fmt::format("cannot write {}: {}", path.string(), ec.message()),
                "check that the directory is writable, or choose another with -o DIR");
  }
  return {};
}

std::string first_line(const std::string &text) {
  auto line = text.substr(0, text.find('\n'));
  return line.empty() ? std::string("no output") : line;
}

/// The line of a command's output that says what went wrong: the first that mentions an error or
/// a failure, else the first.
std::string error_line(const std::string &text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    end = end == std::string::npos ? text.size() : end;
    const std::string line = text.substr(pos, end - pos);
    if (line.find("rror") != std::string::npos || line.find("failed") != std::string::npos) {
      return line;
    }
    pos = end + 1;
  }
  return first_line(text);
}

} // namespace

std::string running_config_text(const std::string &shown) {
  std::string out;
  std::size_t pos = 0;
  bool body = false;
  while (pos < shown.size()) {
    std::size_t end = shown.find('\n', pos);
    end = end == std::string::npos ? shown.size() : end + 1;
    std::string_view line(shown.data() + pos, end - pos);
    std::string_view bare = line.substr(0, line.find_last_not_of("\r\n") + 1);
    if (!body &&
        (bare.empty() || bare == "Building configuration..." || bare == "Current configuration:")) {
      pos = end;
      continue;
    }
    body = true;
    out.append(line);
    pos = end;
  }
  if (!out.empty() && out.back() != '\n') {
    out += '\n';
  }
  return out;
}

Result<SaveOutcome> save_lab(const Session &session, const SaveRequest &request) {
  LTB_TRY(store, open_store(session.context));
  std::string lab = request.lab;
  if (lab.empty()) {
    LTB_TRY(found, only_lab(*store, session.caller));
    lab = found;
  } else {
    LTB_TRY(owned, resolve_lab(*store, session.caller, lab));
    lab = owned.name;
  }
  LTB_TRY(record, store->lab(lab));
  if (!record) {
    return fail(unknown_lab(*store, lab));
  }
  LTB_TRY(records, store->nodes(lab));
  for (const auto &node : request.nodes) {
    LTB_TRY(found, find_node(*store, lab, node));
    (void)found;
  }
  // The lab's file as recorded: where each node's startup-config goes, and the text to copy.
  const std::string base_dir = record->topology_file.empty() || record->topology_file[0] != '/'
                                   ? session.context.lab_dir(lab)
                                   : fs::path(record->topology_file).parent_path().string();
  auto loaded = topology::load_recorded(record->topology_text, record->topology_file, lab,
                                        session.context.lab_dir(lab));
  if (!loaded) {
    std::string first;
    for (const auto &item : loaded.error().items) {
      if (item.severity == topology::Severity::error) {
        first =
            fmt::format("{}:{}:{}: {}", item.file, item.loc.line, item.loc.column, item.message);
        break;
      }
    }
    return fail(fmt::format("the file lab '{}' was deployed from no longer loads ({})",
                            lab_shown(session.caller, lab), first),
                "restore the files it names (startup-config, binds), or run `ltb up` with a file "
                "that loads first");
  }
  SaveOutcome outcome;
  outcome.lab = lab_shown(session.caller, lab);
  std::error_code ec;
  outcome.dir = fs::absolute(request.dir.empty() ? outcome.lab + "-saved" : request.dir, ec)
                    .lexically_normal()
                    .string();
  while (outcome.dir.size() > 1 && outcome.dir.back() == '/') {
    outcome.dir.pop_back();
  }
  fs::create_directories(outcome.dir, ec);
  if (ec || !fs::is_directory(outcome.dir)) {
    return fail(fmt::format("cannot make directory {}: {}", outcome.dir,
                            ec ? ec.message() : "a file of that name exists"),
                "choose another with -o DIR");
  }
  const std::set<std::string> chosen(request.nodes.begin(), request.nodes.end());
  topology::Relocation relocation;
  relocation.base_dir = base_dir;
  // The name its owner gave it (a user's lab id is OWNER__NAME, which no file may name).
  relocation.name = lab_shown(Caller{0, record->owner, true, {}}, lab);
  for (const auto &node : loaded->nodes) {
    if (!chosen.empty() && !chosen.count(node.name)) {
      continue;
    }
    // A node named with --node that cannot be saved is an error; in a whole-lab save, a note.
    auto skip = [&](std::string reason) {
      if (chosen.empty()) {
        outcome.skipped.push_back({node.name, std::move(reason)});
      } else {
        outcome.errors.push_back(
            {fmt::format("node '{}' was not saved: {}", node.name, reason), {}});
      }
    };
    auto recorded = std::find_if(records.begin(), records.end(),
                                 [&](const auto &r) { return r.name == node.name; });
    if (recorded == records.end()) {
      skip("it is not deployed (run `ltb up` with the lab's file)");
      continue;
    }
    if (node.runtime == topology::Runtime::ovs_bridge) {
      skip("an Open vSwitch bridge has no configuration of its own");
      continue;
    }
    if (!topology::is_workload(node.runtime)) {
      skip(fmt::format("a {} node has no configuration of its own", node.kind));
      continue;
    }
    const topology::Kind *kind = topology::find_kind(node.kind);
    const bool shows_config = kind && !kind->running_config_command.empty();
    if (!shows_config && node.startup_config_text.empty()) {
      skip("it has no startup-config, so no file holds its configuration (its exec commands run "
           "again at `ltb up`)");
      continue;
    }
    if (!shows_config && node.startup_config_path.empty()) {
      skip(fmt::format("ltb knows no place where a node of kind {} keeps its configuration",
                       node.kind));
      continue;
    }
    if (auto access = command_access(lab, *recorded); !access) {
      skip(access.error().message);
      continue;
    }
    const fs::path node_dir = fs::path(outcome.dir) / node.name;
    std::string content;
    std::string how;
    std::string name;
    if (shows_config) {
      const std::vector<std::string> show(kind->running_config_command.begin(),
                                          kind->running_config_command.end());
      const std::string shell = util::shell_join(show);
      auto shown = run(session.context, *store, lab, *recorded, show);
      if (!shown || shown->status != 0) {
        outcome.errors.push_back(
            {fmt::format("`{}` failed in node '{}': {}", shell, node.name,
                         shown ? error_line(shown->err + shown->out) : shown.error().message),
             fmt::format("check that the node runs as it should: ltb exec {} --lab {} -- {}",
                         node.name, lab, shell)});
        continue;
      }
      content = running_config_text(shown->out);
      how = shell;
      name = std::string(kind->saved_config);
      // The node's own copy too (FRR's `write memory` into its copy of the startup-config in
      // the lab directory), so that its daemons restart with it.
      if (!kind->keep_config_command.empty()) {
        const std::vector<std::string> keep(kind->keep_config_command.begin(),
                                            kind->keep_config_command.end());
        auto kept = run(session.context, *store, lab, *recorded, keep);
        const std::string said = kept ? kept->out + kept->err : kept.error().message;
        if (kept && kept->status == 0 && said.find(kind->keep_config_ok) != std::string::npos) {
          how += " + " + util::shell_join(keep);
        } else {
          session.events.notice(fmt::format("note: `{}` in node '{}' failed ({}); its "
                                            "configuration is saved in {}",
                                            util::shell_join(keep), node.name, error_line(said),
                                            (node_dir / name).string()));
        }
      }
    } else {
      auto read = run(session.context, *store, lab, *recorded, {"cat", node.startup_config_path});
      if (!read || read->status != 0) {
        outcome.errors.push_back(
            {fmt::format("cannot read {} in node '{}': {}", node.startup_config_path, node.name,
                         read ? first_line(read->err) : read.error().message),
             {}});
        continue;
      }
      content = read->out;
      how = "cat " + node.startup_config_path;
      name = node.startup_config.empty() ? std::string("startup-config")
                                         : fs::path(node.startup_config).filename().string();
    }
    if (auto saved = write_file(node_dir / name, content); !saved) {
      return fail(saved.error());
    }
    outcome.saved.push_back({node.name, (node_dir / name).string(), how});
    relocation.startup_configs[node.name] = node.name + "/" + name;
  }
  auto text = topology::relocate_text(record->topology_text, relocation);
  if (!text) {
    return fail(
        Error{fmt::format("cannot write {}/topology.yaml: {}", outcome.dir, text.error().message),
              text.error().help});
  }
  outcome.topology = outcome.dir + "/topology.yaml";
  LTB_CHECK(write_file(outcome.topology, *text));
  return outcome;
}

} // namespace ltb::service
