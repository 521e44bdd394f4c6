// ltb save [LAB] [--node NODE ...] [-o DIR]
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "service/save.hpp"

#include <fmt/format.h>

namespace ltb::cli {

namespace {

struct SaveOptions {
  std::string lab;
  std::vector<std::string> nodes;
  std::string dir;
};

int run_save(const Globals &globals, const SaveOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  service::SaveRequest request;
  request.lab = options.lab;
  request.nodes = options.nodes;
  request.dir = options.dir;
  auto outcome = service::save_lab(session, request);
  if (!outcome) {
    return report(globals, outcome.error());
  }
  if (!globals.quiet) {
    std::vector<std::vector<std::string>> rows;
    for (const auto &saved : outcome->saved) {
      rows.push_back({saved.node, saved.file, saved.how});
    }
    if (!rows.empty()) {
      fmt::print("{}", format_table({"NODE", "SAVED TO", "FROM"}, rows));
    }
    for (const auto &skipped : outcome->skipped) {
      fmt::print("skipped {}: {}\n", skipped.node, skipped.reason);
    }
  }
  for (const auto &error : outcome->errors) {
    report(globals, error);
  }
  fmt::print("lab {}: {} node{} saved in {}; `ltb up {}` brings the lab back with them\n",
             outcome->lab, outcome->saved.size(), outcome->saved.size() == 1 ? "" : "s",
             outcome->dir, outcome->topology);
  return outcome->ok() ? 0 : static_cast<int>(ExitCode::failed);
}

} // namespace

void add_save(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<SaveOptions>();
  auto *sub = app.add_subcommand(
      "save", "Save the nodes' running configurations and a lab file that starts from them");
  sub->add_option("lab", options->lab, "Lab name (default: your only lab)")->type_name("LAB");
  sub->add_option("--node", options->nodes, "Save only this node (repeatable)")->type_name("NODE");
  sub->add_option("-o,--output", options->dir, "Directory to save into (default: ./LAB-saved)")
      ->type_name("PATH");
  sub->footer("Examples:\n  ltb save frr-ospf -o saved\n  ltb save frr-ospf --node r1 -o saved\n"
              "  ltb down --lab frr-ospf && ltb up saved/topology.yaml\n"
              "FRR nodes: `show running-config` into DIR/NODE/frr.conf (and `write memory`); other "
              "nodes: the file their startup-config names, as the node has it now.");
  registry.push_back({sub, [&globals, options] { return run_save(globals, *options); }});
}

} // namespace ltb::cli
