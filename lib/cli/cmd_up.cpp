// ltb up FILE [--lab NAME] [--dry-run] [--until TIME] | ltb up --all
#include "cli/context.hpp"
#include "cli/remote.hpp"
#include "service/deploy.hpp"
#include "service/owners.hpp"
#include "service/templates.hpp"
#include "topology/loader.hpp"

#include <chrono>
#include <cstdio>
#include <fmt/format.h>

namespace ltb::cli {

namespace {

struct UpOptions {
  std::string file;
  std::string template_ref; // --template NAME[@VERSION]: from the template store
  std::string lab;
  bool dry_run = false;
  int workers = 8;
  std::string until; // --until TIME: the lab is reserved (and removed by `ltb schedule`) then
  bool all = false;  // --all: every recorded lab of the caller's, from its recorded topology
};

/// Loads a topology file, printing its diagnostics (warnings too). nullopt = invalid (exit 2).
std::optional<topology::Topology> load(const Globals &globals, const service::Session &session,
                                       const std::string &file, const std::string &lab) {
  topology::Diagnostics warnings;
  auto loaded = topology::load_file(file, service::load_options(session, {lab, &warnings}));
  if (!loaded) {
    print_diagnostics(globals, loaded.error());
    return std::nullopt;
  }
  if (!warnings.items.empty() && !globals.quiet) {
    print_diagnostics(globals, warnings);
  }
  return *loaded;
}

/// Prints what deploying lab NAME did (COUNTS: "N nodes, M links, " when known); the exit code.
int print_outcome(const Globals &globals, const std::string &name,
                  const service::DeployOutcome &result, bool dry_run,
                  std::chrono::steady_clock::time_point start, const std::string &counts) {
  if (dry_run) {
    if (result.up_to_date) {
      fmt::print("lab {} is up to date: nothing to do\n", name);
    } else {
      fmt::print("lab {}: {} action{} (dry run, nothing changed)\n", name, result.planned.size(),
                 result.planned.size() == 1 ? "" : "s");
      for (const auto &line : result.planned) {
        fmt::print("  {}\n", line);
      }
    }
    return 0;
  }
  if (result.up_to_date) {
    if (!globals.quiet) {
      fmt::print("lab {} is up to date: nothing to do\n", name);
    }
    return 0;
  }
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto &error : result.errors) {
    report(globals, error);
  }
  if (result.interrupted) {
    fmt::print(stderr,
               "ltb: interrupted: {} of {} actions done; what was made is recorded. Run `ltb up` "
               "to resume or `ltb down` to remove it.\n",
               result.done, result.actions);
    return static_cast<int>(ExitCode::interrupted);
  }
  if (!result.ok()) {
    fmt::print(stderr,
               "help: {} action{} failed and {} {} skipped; fix the cause and run `ltb up` again "
               "(only what is missing is redone), or `ltb down` to remove the lab\n",
               result.failed, result.failed == 1 ? "" : "s", result.skipped,
               result.skipped == 1 ? "was" : "were");
    return static_cast<int>(ExitCode::failed);
  }
  if (!globals.quiet) {
    fmt::print("lab {} is up: {}management {} ({} action{} in {:.1f}s)\n", name, counts,
               result.subnet, result.done, result.done == 1 ? "" : "s", seconds);
  }
  if (!result.exec_failures.empty()) {
    fmt::print(stderr, "ltb: warning: {} exec command{} failed (the lab went on):\n",
               result.exec_failures.size(), result.exec_failures.size() == 1 ? "" : "s");
    for (const auto &failure : result.exec_failures) {
      fmt::print(stderr, "  {}\n", failure);
    }
    fmt::print(stderr,
               "help: fix them in the topology file's exec lists; `ltb status {}` shows "
               "them too\n",
               name);
  }
  return 0;
}

int up_all(const Globals &globals, const UpOptions &options);

int run_up(const Globals &globals, UpOptions options) {
  auto start = std::chrono::steady_clock::now();
  if (options.all) {
    return up_all(globals, options);
  }
  if (options.template_ref.empty()) {
    // No FILE, or a directory: its one *.clab.yml, as containerlab finds it.
    auto file = topology_argument(options.file);
    if (!file) {
      return report(globals, file.error());
    }
    options.file = *file;
  }
  if (options.file.empty() == options.template_ref.empty()) {
    return report(globals, Error{"say what to deploy: a topology FILE or --template "
                                 "NAME[@VERSION] (one of them)",
                                 "for example: ltb up lab.yaml, or ltb up --template class --lab "
                                 "class-7",
                                 ExitCode::usage});
  }
  PrintSink events(globals);
  const auto context = service_context(globals);
  const auto who = caller();
  const service::Session session{context, who, interrupt_token(), events};
  std::optional<service::TemplateRef> ref;
  std::optional<topology::Topology> desired;
  if (!options.template_ref.empty()) {
    auto parsed = service::parse_template_ref(options.template_ref);
    if (!parsed) {
      return report(globals, parsed.error());
    }
    ref = *parsed;
  } else {
    desired = load(globals, session, options.file, options.lab);
    if (!desired) {
      return static_cast<int>(ExitCode::usage);
    }
  }
  auto connection = connect(globals);
  if (!connection) {
    return report(globals, connection.error());
  }
  service::DeployRequest request;
  request.dry_run = options.dry_run;
  request.workers = options.workers;
  // Capacity: an unreserved lab must not leave an admitted reservation short.
  request.admit = true;
  request.until = options.until;
  // Through the daemon: the user's own path of the file, as the lab's source (the file itself is
  // the daemon's copy).
  request.source = ref ? std::string() : remote_origin(options.file);
  request.keep_files = !ref && remote_input(options.file);
  Result<service::DeployOutcome> outcome;
  if (ref) {
    auto deployed = service::deploy_template(session, *connection, *ref, options.lab, request);
    if (!deployed) {
      return report(globals, deployed.error());
    }
    if (deployed->invalid) {
      print_diagnostics(globals, *deployed->invalid);
      return static_cast<int>(ExitCode::usage);
    }
    desired = std::move(deployed->desired);
    outcome = std::move(deployed->outcome);
  } else {
    outcome = service::deploy_lab(session, *connection, *desired, request);
  }
  if (!outcome) {
    return report(globals, outcome.error());
  }
  const auto counts = fmt::format("{} node{}, {} link{}, ", desired->nodes.size(),
                                  desired->nodes.size() == 1 ? "" : "s", desired->links.size(),
                                  desired->links.size() == 1 ? "" : "s");
  return print_outcome(globals, desired->name, *outcome, options.dry_run, start, counts);
}

/// `ltb up --all`: every lab of the caller's that the state file records, brought back in line
/// with the topology its record keeps (after a reboot or a service that went away), one after
/// another in name order. The exit code is the worst of theirs.
int up_all(const Globals &globals, const UpOptions &options) {
  if (!options.file.empty() || !options.template_ref.empty() || !options.lab.empty() ||
      !options.until.empty()) {
    return report(globals, Error{"--all takes no FILE, --template, --lab or --until",
                                 "ltb up --all brings back every lab of yours from the topology "
                                 "the state file recorded for it",
                                 ExitCode::usage});
  }
  PrintSink events(globals);
  const auto context = service_context(globals);
  const auto who = caller();
  const service::Session session{context, who, interrupt_token(), events};
  auto connection = connect(globals);
  if (!connection) {
    return report(globals, connection.error());
  }
  auto recorded = connection->store->labs();
  if (!recorded) {
    return report(globals, recorded.error());
  }
  int code = 0;
  int labs = 0;
  for (const auto &lab : *recorded) {
    if (!service::shows(who, {}, lab.owner)) {
      continue;
    }
    labs += 1;
    const auto start = std::chrono::steady_clock::now();
    const auto name = service::lab_shown(who, lab.name);
    service::DeployRequest request;
    request.dry_run = options.dry_run;
    request.workers = options.workers;
    request.admit = true;
    auto outcome = service::redeploy_recorded(session, *connection, lab, request);
    if (!outcome) {
      code = std::max(code, report(globals, outcome.error()));
      continue;
    }
    code = std::max(code, print_outcome(globals, name, *outcome, options.dry_run, start, ""));
    if (outcome->interrupted) {
      break;
    }
  }
  if (labs == 0 && !globals.quiet) {
    fmt::print("no labs to bring up\n");
  }
  return code;
}

} // namespace

void add_up(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<UpOptions>();
  auto *sub = app.add_subcommand("up", "Deploy a lab, or bring it in line with its file");
  sub->add_option("file", options->file,
                  "Topology file (default: the one *.clab.yml or *.clab.yaml file of the current "
                  "directory, or of FILE when it is a directory)")
      ->type_name("FILE");
  sub->add_option("--template", options->template_ref,
                  "Deploy a version from the template store (ltb template) instead of a file")
      ->type_name("NAME[@VERSION]");
  sub->add_option("--lab", options->lab, "Lab name (overrides the file's `name`)")
      ->type_name("NAME");
  sub->add_flag("-n,--dry-run", options->dry_run, "Print the actions without performing them");
  sub->add_option("-j,--jobs", options->workers, "Actions performed in parallel (default 8)")
      ->type_name("N")
      ->check(CLI::Range(1, 64));
  sub->add_option("--until", options->until,
                  "Keep the lab until TIME, then `ltb schedule` removes it (it counts against "
                  "reservations only until then)")
      ->type_name("TIME");
  sub->add_flag("--all", options->all,
                "Bring every lab of yours that the state file records back in line with the "
                "topology it recorded (after a reboot, say)");
  sub->footer("Examples:\n  ltb up examples/frr-ospf.yaml\n  ltb up lab.yaml --dry-run\n"
              "  ltb up --all\n"
              "A second `ltb up` of an unchanged file changes nothing; after an edit only the "
              "difference is applied.");
  registry.push_back({sub, [&globals, options] { return run_up(globals, *options); }});
}

} // namespace ltb::cli
