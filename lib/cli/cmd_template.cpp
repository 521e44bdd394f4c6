// ltb template add|list|show|versions|rm|export|import
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "schedule/time.hpp"
#include "service/templates.hpp"

#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>

namespace ltb::cli {

namespace {

struct AddOptions {
  std::string file;
  std::string name;
  std::string description;
  bool shared = false;
};

struct ShareOptions {
  std::string name;
  bool private_ = false;
};

struct RefOptions {
  std::string ref;
  std::string output; // export: -o FILE
  std::string format = "table";
};

struct ImportOptions {
  std::string file;
  std::string name;
};

/// Runs fn(session, store) with the state file open; prints its error.
template <class Fn> int with_store(const Globals &globals, Fn &&fn) {
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  PrintSink events(globals);
  const auto context = service_context(globals);
  const auto who = caller();
  const service::Session session{context, who, interrupt_token(), events};
  return fn(session, **store);
}

std::string when(std::int64_t t) {
  return t == 0 ? "-" : schedule::format_local_short(t);
}

std::string size_text(std::int64_t bytes) {
  if (bytes < 10 * 1024) {
    return fmt::format("{} B", bytes);
  }
  if (bytes < 10 * 1024 * 1024) {
    return fmt::format("{} KiB", bytes / 1024);
  }
  return fmt::format("{} MiB", bytes / (1024 * 1024));
}

/// What add and import print: the version made (or that nothing changed), and what is not in it.
int print_added(const Globals &globals, const service::AddedTemplate &added) {
  if (added.invalid) {
    print_diagnostics(globals, *added.invalid);
    return static_cast<int>(ExitCode::usage);
  }
  if (!added.warnings.items.empty() && !globals.quiet) {
    print_diagnostics(globals, added.warnings);
  }
  const auto &r = added.record;
  if (added.added) {
    fmt::print("template {}@{} added: {} file{}, digest {}\n", r.name, r.version, r.files.size(),
               r.files.size() == 1 ? "" : "s", r.digest.substr(0, 12));
  } else {
    fmt::print("template {} is unchanged: version {} has the same content (nothing added)\n",
               r.name, r.version);
  }
  if (!globals.quiet) {
    for (const auto &moved : added.moved) {
      print_notice(globals, "note: bundled from outside the topology's directory: " + moved);
    }
    for (const auto &path : added.host_paths) {
      print_notice(globals,
                   "note: not bundled, a host path that must exist where it deploys: " + path);
    }
  }
  return 0;
}

int run_add(const Globals &globals, const AddOptions &options) {
  return with_store(globals, [&](const service::Session &session, state::Store &store) {
    auto added = service::add_template(
        session, store, {options.file, options.name, options.description, options.shared});
    if (!added) {
      return report(globals, added.error());
    }
    return print_added(globals, *added);
  });
}

int run_list(const Globals &globals, const RefOptions &options) {
  return with_store(globals, [&](const service::Session &session, state::Store &store) {
    auto all = service::list_templates(session, store);
    if (!all) {
      return report(globals, all.error());
    }
    // The newest version of each name, and how many there are.
    std::map<std::string, std::pair<state::TemplateRecord, int>> newest;
    for (const auto &t : *all) {
      auto &entry = newest[t.name];
      entry.first = t;
      entry.second += 1;
    }
    if (json_format(options.format)) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto &[name, entry] : newest) {
        out.push_back({{"name", name},
                       {"latest", entry.first.version},
                       {"versions", entry.second},
                       {"description", entry.first.description},
                       {"created_by", entry.first.created_by},
                       {"owner", entry.first.owner},
                       {"shared", entry.first.shared},
                       {"created", schedule::format_utc(entry.first.created_at)}});
      }
      fmt::print("{}\n", out.dump(2));
      return 0;
    }
    if (newest.empty()) {
      if (!globals.quiet) {
        fmt::print("no templates (add one: ltb template add FILE)\n");
      }
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto &[name, entry] : newest) {
      rows.push_back({name, std::to_string(entry.first.version), std::to_string(entry.second),
                      when(entry.first.created_at), entry.first.owner,
                      entry.first.shared ? "shared" : "private", entry.first.description});
    }
    fmt::print("{}", format_table({"NAME", "LATEST", "VERSIONS", "CREATED", "OWNER", "ACCESS",
                                   "DESCRIPTION"},
                                  rows));
    return 0;
  });
}

int run_versions(const Globals &globals, const RefOptions &options) {
  return with_store(globals, [&](const service::Session &session, state::Store &store) {
    auto ref = service::parse_template_ref(options.ref);
    if (!ref) {
      return report(globals, ref.error());
    }
    // Also imports a plain-file template, and says "no template named" with a guess.
    if (auto found = service::find_template(session, store, {ref->name, 0}); !found) {
      return report(globals, found.error());
    }
    auto all = service::list_templates(session, store, ref->name);
    if (!all) {
      return report(globals, all.error());
    }
    if (json_format(options.format)) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto &t : *all) {
        out.push_back({{"version", t.version},
                       {"digest", t.digest},
                       {"description", t.description},
                       {"created_by", t.created_by},
                       {"created", schedule::format_utc(t.created_at)}});
      }
      fmt::print("{}\n", out.dump(2));
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto &t : *all) {
      rows.push_back({std::to_string(t.version), t.digest.substr(0, 12), when(t.created_at),
                      t.created_by, t.description});
    }
    fmt::print("{}", format_table({"VERSION", "DIGEST", "CREATED", "BY", "DESCRIPTION"}, rows));
    return 0;
  });
}

int run_show(const Globals &globals, const RefOptions &options) {
  return with_store(globals, [&](const service::Session &session, state::Store &store) {
    auto ref = service::parse_template_ref(options.ref);
    if (!ref) {
      return report(globals, ref.error());
    }
    auto t = service::find_template(session, store, *ref);
    if (!t) {
      return report(globals, t.error());
    }
    auto users = service::template_users(store, session.caller, t->name, t->version);
    if (!users) {
      return report(globals, users.error());
    }
    if (json_format(options.format)) {
      nlohmann::json files = nlohmann::json::array();
      for (const auto &f : t->files) {
        files.push_back({{"path", f.path},
                         {"sha256", f.digest},
                         {"size", f.size},
                         {"mode", fmt::format("{:o}", f.mode)}});
      }
      fmt::print("{}\n", nlohmann::json{{"name", t->name},
                                        {"version", t->version},
                                        {"digest", t->digest},
                                        {"topology", t->topology},
                                        {"description", t->description},
                                        {"created_by", t->created_by},
                                        {"owner", t->owner},
                                        {"shared", t->shared},
                                        {"created", schedule::format_utc(t->created_at)},
                                        {"files", files},
                                        {"reservations", users->reservations},
                                        {"labs", users->labs}}
                             .dump(2));
      return 0;
    }
    fmt::print("template {}@{}\n", t->name, t->version);
    fmt::print("  digest:       {}\n", t->digest);
    fmt::print("  description:  {}\n", t->description.empty() ? "-" : t->description);
    fmt::print("  created:      {} by {}\n", when(t->created_at), t->created_by);
    fmt::print("  owner:        {} ({})\n", t->owner.empty() ? "-" : t->owner,
               t->shared ? "shared with every user" : "private");
    fmt::print("  topology:     {}\n", t->topology);
    fmt::print("  reservations: {}\n",
               users->reservations.empty()
                   ? "-"
                   : fmt::format("{}", fmt::join(users->reservations, ", ")));
    fmt::print("  labs:         {}\n",
               users->labs.empty() ? "-" : fmt::format("{}", fmt::join(users->labs, ", ")));
    if (users->others > 0) {
      fmt::print("  other users:  {} reservation{} or lab{}\n", users->others,
                 users->others == 1 ? "" : "s", users->others == 1 ? "" : "s");
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto &f : t->files) {
      rows.push_back(
          {f.path, size_text(f.size), fmt::format("{:o}", f.mode), f.digest.substr(0, 12)});
    }
    fmt::print("files:\n{}", format_table({"PATH", "SIZE", "MODE", "SHA256"}, rows));
    return 0;
  });
}

int run_rm(const Globals &globals, const RefOptions &options) {
  return with_store(globals, [&](const service::Session &session, state::Store &store) {
    auto ref = service::parse_template_ref(options.ref);
    if (!ref) {
      return report(globals, ref.error());
    }
    auto removed = service::remove_template(session, store, *ref);
    if (!removed) {
      return report(globals, removed.error());
    }
    std::vector<std::string> versions;
    for (int v : removed->versions) {
      versions.push_back(std::to_string(v));
    }
    fmt::print("template {}: removed version{} {}\n", ref->name, versions.size() == 1 ? "" : "s",
               fmt::join(versions, ", "));
    return 0;
  });
}

int run_export(const Globals &globals, const RefOptions &options) {
  return with_store(globals, [&](const service::Session &session, state::Store &store) {
    auto ref = service::parse_template_ref(options.ref);
    if (!ref) {
      return report(globals, ref.error());
    }
    auto exported = service::export_template(session, store, *ref, options.output);
    if (!exported) {
      return report(globals, exported.error());
    }
    fmt::print("template {}@{} written to {} ({} file{})\n", exported->name, exported->version,
               options.output, exported->files.size(), exported->files.size() == 1 ? "" : "s");
    return 0;
  });
}

int run_import(const Globals &globals, const ImportOptions &options) {
  return with_store(globals, [&](const service::Session &session, state::Store &store) {
    auto imported = service::import_template(session, store, {options.file, options.name});
    if (!imported) {
      return report(globals, imported.error());
    }
    return print_added(globals, *imported);
  });
}

int run_share(const Globals &globals, const ShareOptions &options) {
  return with_store(globals, [&](const service::Session &session, state::Store &store) {
    if (auto shared = service::share_template(session, store, options.name, !options.private_);
        !shared) {
      return report(globals, shared.error());
    }
    if (!globals.quiet) {
      fmt::print("template {} is {}\n", options.name,
                 options.private_ ? "private: only its owner (and admins) see it"
                                  : "shared: every user may see and deploy it");
    }
    return 0;
  });
}

} // namespace

void add_template(CLI::App &app, Globals &globals, Registry &registry) {
  auto *group = app.add_subcommand("template", "Keep lab templates: versioned topology bundles");
  group->require_subcommand(1);
  group->footer("A template version holds the topology file and every file it references "
                "(startup-configs, ssh keys, bind sources), stored by content in the state file. "
                "VM disk images, kernels and initrds, and bind sources that are directories "
                "outside the topology's directory, stay host paths. Deploy one with `ltb up "
                "--template NAME[@VERSION]` or `ltb reserve create --template NAME[@VERSION]`.");

  auto add = std::make_shared<AddOptions>();
  auto *sub = group->add_subcommand("add", "Store a topology and its files as a new version");
  sub->add_option("file", add->file, "Topology file")->required()->type_name("FILE");
  sub->add_option("--name", add->name, "Template name (default: the topology's name)")
      ->type_name("NAME");
  sub->add_option("--description", add->description, "What the template is for")->type_name("TEXT");
  sub->add_flag("--shared", add->shared, "Every user may see and deploy it (default: private)");
  sub->footer("The same content again adds nothing; a change makes the next version. A template "
              "name is its first adder's: only they (and admins) add versions to it.");
  registry.push_back({sub, [&globals, add] { return run_add(globals, *add); }});

  auto share = std::make_shared<ShareOptions>();
  sub = group->add_subcommand("share", "Let every user see and deploy a template (or stop)");
  sub->add_option("name", share->name, "Template name")->required()->type_name("NAME");
  sub->add_flag("--private", share->private_, "Only its owner (and admins) again");
  registry.push_back({sub, [&globals, share] { return run_share(globals, *share); }});

  auto list = std::make_shared<RefOptions>();
  sub = group->add_subcommand("list", "List templates and their newest version");
  add_format_option(sub, list->format);
  registry.push_back({sub, [&globals, list] { return run_list(globals, *list); }});

  auto show = std::make_shared<RefOptions>();
  sub = group->add_subcommand("show", "Show a version: its files and who uses it");
  sub->add_option("template", show->ref, "NAME or NAME@VERSION (default: the newest)")
      ->required()
      ->type_name("NAME[@VERSION]");
  add_format_option(sub, show->format);
  registry.push_back({sub, [&globals, show] { return run_show(globals, *show); }});

  auto versions = std::make_shared<RefOptions>();
  sub = group->add_subcommand("versions", "List the versions of a template");
  sub->add_option("name", versions->ref, "Template name")->required()->type_name("NAME");
  add_format_option(sub, versions->format);
  registry.push_back({sub, [&globals, versions] { return run_versions(globals, *versions); }});

  auto rm = std::make_shared<RefOptions>();
  sub = group->add_subcommand("rm", "Remove a version, or every version of a template");
  sub->add_option("template", rm->ref, "NAME (every version) or NAME@VERSION")
      ->required()
      ->type_name("NAME[@VERSION]");
  sub->footer("Refused while a pending, active or failed reservation pins the version or a lab was "
              "deployed from it. Version numbers are not reused.");
  registry.push_back({sub, [&globals, rm] { return run_rm(globals, *rm); }});

  auto exp = std::make_shared<RefOptions>();
  sub = group->add_subcommand("export", "Write a version as a tar file");
  sub->add_option("template", exp->ref, "NAME or NAME@VERSION (default: the newest)")
      ->required()
      ->type_name("NAME[@VERSION]");
  sub->add_option("-o,--output", exp->output, "The tar file to write")
      ->required()
      ->type_name("FILE");
  registry.push_back({sub, [&globals, exp] { return run_export(globals, *exp); }});

  auto imp = std::make_shared<ImportOptions>();
  sub = group->add_subcommand("import", "Add a template from a tar file of `ltb template export`");
  sub->add_option("file", imp->file, "The tar file")->required()->type_name("FILE");
  sub->add_option("--name", imp->name, "Template name (default: the name in the file)")
      ->type_name("NAME");
  sub->footer("The archive is checked (only regular files with relative names, each matching "
              "its digest) and the topology validated before anything is stored.");
  registry.push_back({sub, [&globals, imp] { return run_import(globals, *imp); }});
}

} // namespace ltb::cli
