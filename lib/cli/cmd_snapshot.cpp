// ltb snapshot create LAB [NAME] [--memory]
// ltb snapshot list [LAB] [--format table|json]
// ltb snapshot restore LAB NAME [--as NEWLAB]
// ltb snapshot rm LAB NAME
// ltb snapshot export LAB NAME -o FILE
// ltb snapshot import FILE [--lab NEWLAB]
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "schedule/capacity.hpp"
#include "service/snapshot_transfer.hpp"
#include "service/snapshots.hpp"

#include <ctime>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ltb::cli {

namespace {

struct SnapshotOptions {
  std::string lab;
  std::string name;
  std::string as;
  std::string file; // export: the archive to write
  bool memory = false;
  std::string format = "table";
  service::OwnerFilter owners; // list
};

std::string when(std::int64_t unix_seconds) {
  const std::time_t t = unix_seconds;
  std::tm tm{};
  localtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", &tm);
  return buffer;
}

int run_create(const Globals &globals, const SnapshotOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto made = service::create_snapshot(session, {options.lab, options.name, options.memory});
  if (!made) {
    return report(globals, made.error());
  }
  fmt::print("snapshot {} of lab {}: {} node{}, size {}, nodes paused {} ms, took {} ms\n",
             made->name, made->lab, made->nodes.size(), made->nodes.size() == 1 ? "" : "s",
             schedule::format_bytes(made->size_bytes), made->pause_ms, made->total_ms);
  return 0;
}

int run_list(const Globals &globals, const SnapshotOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto snapshots = service::list_snapshots(session, options.lab, options.owners);
  if (!snapshots) {
    return report(globals, snapshots.error());
  }
  if (json_format(options.format)) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto &s : *snapshots) {
      out.push_back({{"lab", s.lab},
                     {"name", s.name},
                     {"created_at", s.created_at},
                     {"memory", s.memory},
                     {"size_bytes", s.size_bytes},
                     {"pause_ms", s.pause_ms}});
    }
    fmt::print("{}\n", nlohmann::json{{"snapshots", out}}.dump(2));
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto &s : *snapshots) {
    rows.push_back({s.lab, s.name, when(s.created_at), s.memory ? "yes" : "no",
                    schedule::format_bytes(s.size_bytes), fmt::format("{} ms", s.pause_ms)});
  }
  if (rows.empty()) {
    if (!globals.quiet) {
      fmt::print("no snapshots{}\n", options.lab.empty() ? "" : " of lab " + options.lab);
    }
    return 0;
  }
  fmt::print("{}", format_table({"LAB", "NAME", "CREATED", "MEMORY", "SIZE", "PAUSED"}, rows));
  return 0;
}

int run_restore(const Globals &globals, const SnapshotOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto restored = service::restore_snapshot(session, {options.lab, options.name, options.as});
  if (!restored) {
    return report(globals, restored.error());
  }
  fmt::print("lab {} runs snapshot {} of lab {} ({} node{}, took {} ms)\n", restored->lab,
             options.name, options.lab, restored->nodes.size(),
             restored->nodes.size() == 1 ? "" : "s", restored->total_ms);
  return 0;
}

int run_rm(const Globals &globals, const SnapshotOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto removed = service::remove_snapshot(session, options.lab, options.name);
  if (!removed) {
    return report(globals, removed.error());
  }
  if (!globals.quiet) {
    fmt::print("snapshot {} of lab {} removed\n", options.name, options.lab);
  }
  return 0;
}

int run_export(const Globals &globals, const SnapshotOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto exported = service::export_snapshot(session, {options.lab, options.name, options.file});
  if (!exported) {
    return report(globals, exported.error());
  }
  if (!globals.quiet) {
    fmt::print("snapshot {} of lab {} exported to {} ({} artifact{}, {}, took {} ms)\n",
               options.name, options.lab, exported->file, exported->artifacts,
               exported->artifacts == 1 ? "" : "s", schedule::format_bytes(exported->bytes),
               exported->total_ms);
  }
  return 0;
}

int run_import(const Globals &globals, const SnapshotOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto imported = service::import_snapshot(session, {options.file, options.lab});
  if (!imported) {
    return report(globals, imported.error());
  }
  if (!globals.quiet) {
    fmt::print("snapshot {} of lab {} imported{} ({} artifact{}, {}, took {} ms); restore it "
               "with: ltb snapshot restore {} {}\n",
               imported->name, imported->lab,
               imported->lab == imported->from_lab ? ""
                                                   : " (taken of lab " + imported->from_lab + ")",
               imported->artifacts, imported->artifacts == 1 ? "" : "s",
               schedule::format_bytes(imported->size_bytes), imported->total_ms, imported->lab,
               imported->name);
  }
  return 0;
}

} // namespace

void finish_interrupted_snapshots(const Globals &globals) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  // Never in the way of the command the user ran: a failure here is a notice.
  try {
    if (auto recovered = service::recover_snapshots(session); !recovered) {
      print_notice(globals, "notice: finishing a killed `ltb snapshot` failed: " +
                                recovered.error().message);
    }
  } catch (const std::exception &e) {
    print_notice(globals,
                 std::string("notice: finishing a killed `ltb snapshot` failed: ") + e.what());
  }
}

void add_snapshot(CLI::App &app, Globals &globals, Registry &registry) {
  auto *snapshot = app.add_subcommand(
      "snapshot",
      "Snapshot a running lab (all nodes at one instant), restore it, list, remove, export, "
      "import");
  snapshot->require_subcommand(1);

  auto create = std::make_shared<SnapshotOptions>();
  auto *create_sub = snapshot->add_subcommand(
      "create", "Take a snapshot of a running lab: its nodes' file systems, addresses and state");
  create_sub->add_option("lab", create->lab, "Lab name")->required()->type_name("LAB");
  create_sub->add_option("name", create->name, "Snapshot name (default: the time, 20261206-134501)")
      ->type_name("NAME");
  create_sub->add_flag("--memory", create->memory, "Also VMs' memory and device state");
  create_sub->footer("Example:\n  ltb snapshot create frr-ospf before-change\n"
                     "Every node is paused at once while the snapshot is taken (see PAUSED in "
                     "`ltb snapshot list`) and runs again afterwards, also when the snapshot "
                     "fails. A snapshot outlives `ltb down` of its lab and counts against the "
                     "disk ltb may use.");
  registry.push_back({create_sub, [&globals, create] { return run_create(globals, *create); }});

  auto list = std::make_shared<SnapshotOptions>();
  auto *list_sub = snapshot->add_subcommand("list", "Show snapshots, of one lab or all");
  list_sub->add_option("lab", list->lab, "Lab name (default: every lab of yours)")
      ->type_name("LAB");
  add_format_option(list_sub, list->format);
  add_owner_options(list_sub, list->owners);
  registry.push_back({list_sub, [&globals, list] { return run_list(globals, *list); }});

  auto restore = std::make_shared<SnapshotOptions>();
  auto *restore_sub = snapshot->add_subcommand(
      "restore", "Replace a lab's nodes by a snapshot's, or run it as a new lab (--as)");
  restore_sub->add_option("lab", restore->lab, "Lab name")->required()->type_name("LAB");
  restore_sub->add_option("name", restore->name, "Snapshot name")->required()->type_name("NAME");
  restore_sub
      ->add_option("--as", restore->as,
                   "Run the snapshot as a new lab of this name beside the original")
      ->type_name("NEWLAB");
  restore_sub->footer("Examples:\n  ltb snapshot restore frr-ospf before-change\n"
                      "  ltb snapshot restore frr-ospf before-change --as frr-copy\n"
                      "--as gives the new lab its own node names, management subnet and MACs.");
  registry.push_back({restore_sub, [&globals, restore] { return run_restore(globals, *restore); }});

  auto rm = std::make_shared<SnapshotOptions>();
  auto *rm_sub = snapshot->add_subcommand("rm", "Remove a snapshot and free its images and files");
  rm_sub->add_option("lab", rm->lab, "Lab name")->required()->type_name("LAB");
  rm_sub->add_option("name", rm->name, "Snapshot name")->required()->type_name("NAME");
  registry.push_back({rm_sub, [&globals, rm] { return run_rm(globals, *rm); }});

  auto exporting = std::make_shared<SnapshotOptions>();
  auto *export_sub = snapshot->add_subcommand(
      "export", "Write a snapshot into one tar file (images, files, state) to import elsewhere");
  export_sub->add_option("lab", exporting->lab, "Lab name")->required()->type_name("LAB");
  export_sub->add_option("name", exporting->name, "Snapshot name")->required()->type_name("NAME");
  export_sub->add_option("-o,--output", exporting->file, "The tar file to write")
      ->required()
      ->type_name("FILE");
  export_sub->footer("Example:\n  ltb snapshot export frr-ospf before-change -o before.tar\n"
                     "The file appears whole or not at all. Import it with `ltb snapshot import`.");
  registry.push_back(
      {export_sub, [&globals, exporting] { return run_export(globals, *exporting); }});

  auto importing = std::make_shared<SnapshotOptions>();
  auto *import_sub = snapshot->add_subcommand(
      "import", "Take in a snapshot exported by `ltb snapshot export` (here or on another host)");
  import_sub->add_option("file", importing->file, "The tar file `ltb snapshot export` wrote")
      ->required()
      ->type_name("FILE");
  import_sub
      ->add_option("--lab", importing->lab,
                   "Record it as a snapshot of this lab (default: the lab it was taken of)")
      ->type_name("NEWLAB");
  import_sub->footer("Examples:\n  ltb snapshot import before.tar\n"
                     "  ltb snapshot import before.tar --lab frr-copy\n"
                     "Then restore it: ltb snapshot restore LAB NAME. A VM node's base image must "
                     "exist at the same path as where the snapshot was taken.");
  registry.push_back(
      {import_sub, [&globals, importing] { return run_import(globals, *importing); }});
}

} // namespace ltb::cli
