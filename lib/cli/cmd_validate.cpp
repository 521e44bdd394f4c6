// ltb validate FILE...
#include "cli/context.hpp"
#include "topology/loader.hpp"

#include <fmt/format.h>

namespace ltb::cli {

namespace {

struct ValidateOptions {
  std::vector<std::string> files;
  bool confined = false;
  bool unconfined = false;
};

int run_validate(const Globals &globals, const ValidateOptions &options) {
  int code = 0;
  // As the lab would deploy: confined for a user who is not root (an admin who is not root
  // passes --unconfined), or as asked.
  const bool confined = options.confined || (!options.unconfined && !caller().admin);
  for (const auto &file : options.files) {
    topology::Diagnostics warnings;
    topology::LoadOptions load{{}, &warnings};
    load.confined = confined;
    auto loaded = topology::load_file(file, load);
    if (loaded && !warnings.items.empty()) {
      print_diagnostics(globals, warnings);
    }
    if (!loaded) {
      print_diagnostics(globals, loaded.error());
      code = static_cast<int>(ExitCode::usage);
      continue;
    }
    if (!globals.quiet) {
      fmt::print("{}: valid: lab {}, {} node{}, {} link{}\n", file, loaded->name,
                 loaded->nodes.size(), loaded->nodes.size() == 1 ? "" : "s", loaded->links.size(),
                 loaded->links.size() == 1 ? "" : "s");
    }
  }
  return code;
}

} // namespace

void add_validate(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<ValidateOptions>();
  auto *sub = app.add_subcommand("validate", "Check topology files and report every problem");
  sub->add_option("files", options->files, "Topology files")->required()->type_name("FILE");
  auto *confined = sub->add_flag(
      "--confined", options->confined,
      "Check as a confined lab: what a user who is not an ltb admin may deploy (the default for "
      "users who are not root)");
  sub->add_flag("--unconfined", options->unconfined,
                "Check as an admin's lab (binds, devices and host paths allowed)")
      ->excludes(confined);
  sub->footer("Example:\n  ltb validate examples/frr-ospf.yaml\n"
              "Exit status 2 when a file has errors; each is shown as FILE:LINE:COL with the "
              "source line and a hint.");
  registry.push_back({sub, [&globals, options] { return run_validate(globals, *options); }});
}

} // namespace ltb::cli
