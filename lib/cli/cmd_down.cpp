// ltb down [FILE | LAB | --lab NAME | --all]
#include "cli/context.hpp"
#include "cli/remote.hpp"
#include "service/deploy.hpp"
#include "service/reservations.hpp"
#include "topology/loader.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <set>
#include <string_view>
#include <utility>

namespace ltb::cli {

namespace {

struct DownOptions {
  std::string file;
  std::string lab;
  bool all = false;
};

int down_one(const Globals &globals, Connection &connection, const std::string &named) {
  PrintSink events(globals);
  const auto who = caller();
  const service::Session session{service_context(globals), who, interrupt_token(), events};
  auto id = service::resolve_lab_id(*connection.store, who, named);
  if (!id) {
    return report(globals, id.error());
  }
  const auto lab = service::lab_shown(who, *id);
  auto outcome = service::remove_lab(session, connection, *id);
  if (!outcome) {
    return report(globals, outcome.error());
  }
  if (outcome->nothing) {
    if (!globals.quiet) {
      fmt::print("lab {}: nothing to remove\n", lab);
    }
    return 0;
  }
  for (const auto &error : outcome->errors) {
    report(globals, error);
  }
  if (outcome->interrupted) {
    fmt::print(stderr, "ltb: interrupted; run `ltb down` again to finish removing lab {}\n", lab);
    return static_cast<int>(ExitCode::interrupted);
  }
  if (!outcome->ok()) {
    fmt::print(stderr,
               "help: lab {} is only partly removed and stays recorded; fix the cause and "
               "run `ltb down` again\n",
               lab);
    return static_cast<int>(ExitCode::failed);
  }
  if (auto ended = service::end_reservations_of(session, *connection.store, *id); !ended) {
    return report(globals, ended.error());
  }
  if (!globals.quiet) {
    fmt::print("lab {} is down: removed {} object{}\n", lab, outcome->done,
               outcome->done == 1 ? "" : "s");
  }
  return 0;
}

/// Whether down's FILE argument is a lab's name: nothing of that name exists here, and it does
/// not read as a path (no '/', no .yml or .yaml), so a mistyped file stays a file's error.
bool names_a_lab(const std::string &argument) {
  if (argument.empty() || argument.find('/') != std::string::npos) {
    return false;
  }
  for (const std::string_view extension : {".yml", ".yaml"}) {
    if (argument.size() >= extension.size() &&
        argument.compare(argument.size() - extension.size(), extension.size(), extension) == 0) {
      return false;
    }
  }
  std::error_code error;
  return !std::filesystem::exists(argument, error) && !error;
}

int run_down(const Globals &globals, DownOptions options) {
  if (options.lab.empty() && !options.all && names_a_lab(options.file)) {
    // `ltb down frr-ospf`, as `ltb stop frr-ospf`: a lab's name where no such file is.
    options.lab = std::exchange(options.file, std::string());
  }
  if (options.lab.empty() && !options.all) {
    // No FILE, or a directory: its one *.clab.yml, as containerlab finds it.
    auto file = topology_argument(options.file);
    if (!file) {
      return report(globals, Error{"say which lab to remove: " + file.error().message,
                                   "pass a topology FILE, --lab NAME, or --all", ExitCode::usage});
    }
    options.file = *file;
  }
  int given = (!options.file.empty()) + (!options.lab.empty()) + (options.all ? 1 : 0);
  if (given != 1 && !(given == 2 && !options.file.empty() && !options.lab.empty())) {
    return report(globals, Error{"say which lab to remove",
                                 "pass a topology FILE, --lab NAME, or --all", ExitCode::usage});
  }
  std::string lab = options.lab;
  if (lab.empty() && !options.file.empty()) {
    auto loaded = topology::load_file(options.file);
    if (!loaded) {
      print_diagnostics(globals, loaded.error());
      return report(globals,
                    Error{"cannot tell the lab's name from " + options.file,
                          "fix the file, or pass --lab NAME (see `ltb status`)", ExitCode::usage});
    }
    lab = loaded->name;
  }
  auto connection = connect(globals);
  if (!connection) {
    return report(globals, connection.error());
  }
  if (!options.all) {
    return down_one(globals, *connection, lab);
  }
  std::set<std::string> labs;
  auto recorded = connection->store->labs();
  if (!recorded) {
    return report(globals, recorded.error());
  }
  const auto who = caller();
  for (const auto &record : *recorded) {
    if (service::shows(who, {}, record.owner)) {
      labs.insert(record.name);
    }
  }
  int code = 0;
  for (const auto &name : labs) {
    code = std::max(code, down_one(globals, *connection, name));
  }
  if (labs.empty() && !globals.quiet) {
    fmt::print("no labs to remove\n");
  }
  return code;
}

} // namespace

void add_down(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<DownOptions>();
  auto *sub = app.add_subcommand("down", "Remove a lab and everything ltb made for it");
  sub->add_option("file", options->file,
                  "Topology file of the lab (default: the one *.clab.yml or *.clab.yaml file of "
                  "the current directory), or the lab's name when no such file exists")
      ->type_name("FILE");
  sub->add_option("--lab", options->lab, "Lab name (works without the file)")->type_name("NAME");
  sub->add_flag("--all", options->all, "Remove every lab of yours the state file records");
  sub->footer("Examples:\n  ltb down examples/frr-ospf.yaml\n  ltb down frr-ospf\n"
              "  ltb down --lab frr-ospf\n"
              "Finds what to remove from the state file and from runtime labels, so it works after "
              "a crash or with the topology file gone. --all takes only your labs that this state "
              "file records (other users' and other state files' labs stay); a lab left without "
              "any record is removed with --lab NAME.");
  registry.push_back({sub, [&globals, options] { return run_down(globals, *options); }});
}

} // namespace ltb::cli
