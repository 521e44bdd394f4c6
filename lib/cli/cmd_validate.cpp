// ltb validate [FILE...] [--containerlab]
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "topology/containerlab.hpp"
#include "topology/loader.hpp"

#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace ltb::cli {

namespace {

struct ValidateOptions {
  std::vector<std::string> files;
  bool confined = false;
  bool unconfined = false;
  bool containerlab = false; // --containerlab: the containerlab features each file uses
  std::string format = "table";
};

std::string place_text(const std::string &file, topology::SourceLoc loc) {
  return loc.line == 0 ? file : fmt::format("{}:{}:{}", file, loc.line, loc.column);
}

/// `--containerlab`: which of containerlab's features FILE uses and whether ltb supports each.
/// 0 when every one is, 1 when one is not, 2 when the file cannot be read as YAML.
int report_containerlab(const Globals &globals, const ValidateOptions &options,
                        const std::string &file, nlohmann::json &out) {
  const auto text = topology::read_topology_file(file);
  if (!text) {
    print_diagnostics(globals, text.error());
    return static_cast<int>(ExitCode::usage);
  }
  const auto result = topology::containerlab_report(*text, file);
  if (!result.parsed) {
    print_diagnostics(globals, result.problems);
    return static_cast<int>(ExitCode::usage);
  }
  if (json_format(options.format)) {
    nlohmann::json features = nlohmann::json::array();
    for (const auto &use : result.used) {
      nlohmann::json places = nlohmann::json::array();
      for (const auto &loc : use.places) {
        places.push_back({{"line", loc.line}, {"column", loc.column}});
      }
      features.push_back({{"feature", use.feature->id},
                          {"title", use.feature->title},
                          {"supported", topology::support_name(use.feature->support)},
                          {"note", use.feature->note},
                          {"documentation", use.feature->doc},
                          {"places", places}});
    }
    out.push_back(
        {{"file", file}, {"all_supported", result.all_supported()}, {"features", features}});
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto &use : result.used) {
      std::string where = place_text(file, use.places.front());
      if (use.places.size() > 1) {
        where += fmt::format(" (+{})", use.places.size() - 1);
      }
      rows.push_back(
          {std::string(use.feature->id), std::string(topology::support_name(use.feature->support)),
           where, std::string(use.feature->note.empty() ? use.feature->title : use.feature->note)});
    }
    fmt::print("{}", format_table({"FEATURE", "LTB", "USED AT", "NOTE"}, rows));
    std::size_t missing = 0;
    for (const auto &use : result.used) {
      missing += use.feature->support == topology::Support::unsupported ? 1 : 0;
    }
    if (!globals.quiet) {
      fmt::print("{}: {} containerlab feature{} used, {}\n", file, result.used.size(),
                 result.used.size() == 1 ? "" : "s",
                 missing == 0 ? std::string("all supported by ltb")
                              : fmt::format("{} not supported by ltb", missing));
    }
  }
  return result.all_supported() ? 0 : static_cast<int>(ExitCode::failed);
}

int run_validate(const Globals &globals, ValidateOptions options) {
  int code = 0;
  if (options.files.empty()) {
    // As containerlab does: the one *.clab.yml or *.clab.yaml file of the current directory.
    auto file = topology::find_topology_file("");
    if (!file) {
      return report(globals, file.error());
    }
    options.files.push_back(*file);
  }
  if (options.containerlab) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto &file : options.files) {
      code = std::max(code, report_containerlab(globals, options, file, out));
    }
    if (json_format(options.format)) {
      fmt::print("{}\n", out.dump(2));
    }
    return code;
  }
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
  sub->add_option("files", options->files,
                  "Topology files (default: the one *.clab.yml or *.clab.yaml file of the "
                  "current directory)")
      ->type_name("FILE");
  sub->add_flag("--containerlab", options->containerlab,
                "Report which of containerlab's features each file uses and whether ltb "
                "supports each (exit 1 when one is not)");
  add_format_option(sub, options->format);
  auto *confined = sub->add_flag(
      "--confined", options->confined,
      "Check as a confined lab: what a user who is not an ltb admin may deploy (the default for "
      "users who are not root)");
  sub->add_flag("--unconfined", options->unconfined,
                "Check as an admin's lab (binds, devices and host paths allowed)")
      ->excludes(confined);
  sub->footer("Examples:\n  ltb validate examples/frr-ospf.yaml\n"
              "  ltb validate --containerlab lab.clab.yml\n"
              "Exit status 2 when a file has errors; each is shown as FILE:LINE:COL with the "
              "source line and a hint.");
  registry.push_back({sub, [&globals, options] { return run_validate(globals, *options); }});
}

} // namespace ltb::cli
