// ltb completion bash|zsh|fish, and the hidden `ltb __complete labs|nodes LAB` used by the scripts.
#include "cli/completion.hpp"
#include "cli/context.hpp"

#include <fmt/format.h>

namespace ltb::cli {

namespace {

struct CompletionOptions {
  std::string shell;
};

struct CompleteOptions {
  std::string what;
  std::string lab;
};

int run_completion(Globals &, const CompletionOptions &options) {
  Globals scratch;
  Registry registry;
  auto app = build_app(scratch, registry);
  auto script = completion_script(*app, options.shell);
  fmt::print("{}", script);
  return 0;
}

/// Prints lab or node names from the state file, one a line; silent on any error.
int run_complete(const Globals &globals, const CompleteOptions &options) {
  auto store = open_store(globals);
  if (!store) {
    return 0;
  }
  const auto who = caller();
  if (options.what == "labs") {
    if (auto labs = (*store)->labs()) {
      for (const auto &lab : *labs) {
        if (service::shows(who, {}, lab.owner)) {
          fmt::print("{}\n", service::lab_shown(who, lab.name));
        }
      }
    }
  } else if (options.what == "nodes") {
    std::vector<std::string> labs;
    if (!options.lab.empty()) {
      if (auto id = service::resolve_lab(**store, who, options.lab)) {
        labs.push_back(id->name);
      }
    } else if (auto all = (*store)->labs()) {
      for (const auto &lab : *all) {
        if (service::shows(who, {}, lab.owner)) {
          labs.push_back(lab.name);
        }
      }
    }
    for (const auto &lab : labs) {
      if (auto nodes = (*store)->nodes(lab)) {
        for (const auto &node : *nodes) {
          fmt::print("{}\n", node.name);
        }
      }
    }
  }
  return 0;
}

} // namespace

void add_completion(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<CompletionOptions>();
  auto *sub = app.add_subcommand("completion", "Print a shell completion script");
  sub->add_option("shell", options->shell, "Shell")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}))
      ->type_name("bash|zsh|fish");
  sub->footer("Examples:\n  ltb completion bash > /etc/bash_completion.d/ltb\n"
              "  ltb completion fish > ~/.config/fish/completions/ltb.fish");
  registry.push_back({sub, [&globals, options] { return run_completion(globals, *options); }});

  auto complete = std::make_shared<CompleteOptions>();
  auto *hidden = app.add_subcommand("__complete", "");
  hidden->group(""); // hidden from --help
  hidden->add_option("what", complete->what)->required();
  hidden->add_option("lab", complete->lab);
  registry.push_back({hidden, [&globals, complete] { return run_complete(globals, *complete); }});
}

} // namespace ltb::cli
