// ltb exec NODE [--lab LAB] -- COMMAND...: a command in a node, through Docker's exec for
// containers and ssh for VMs; --all / --label run it on several nodes at once, each output line
// prefixed with the node's name.
#include "cli/context.hpp"
#include "cli/exec_prefix.hpp"
#include "cli/exec_select.hpp"
#include "cli/terminal.hpp"
#include "plan/names.hpp"
#include "service/nodes.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <termios.h>
#include <thread>
#include <unistd.h>

namespace ltb::cli {

namespace {

struct ExecOptions {
  // Two positionals, since CLI11 hands `--` to the parent app once every positional has its
  // minimum. With --all / --label there is no NODE: the first word of the command lands in it.
  std::string node;
  std::vector<std::string> command;
  std::string lab;
  bool all = false;
  std::vector<std::string> labels;
  bool no_stdin = false;
};

// Enough to overlap the waiting of many nodes without a thread per node in a large lab.
constexpr std::size_t k_max_parallel = 16;

std::string join(const std::vector<std::string> &words) {
  std::string text;
  for (const auto &word : words) {
    text += (text.empty() ? "" : ", ") + word;
  }
  return text;
}

/// True when stdin can be read: a closed descriptor 0 counts as no stdin.
bool stdin_usable() {
  return fcntl(STDIN_FILENO, F_GETFD) != -1;
}

int run_single(const Globals &globals, state::Store &store, const std::string &lab,
               const std::string &node, const std::vector<std::string> &argv,
               const ExecOptions &options) {
  auto record = service::find_node(store, lab, node);
  if (!record) {
    return report(globals, record.error());
  }
  auto access = service::command_access(lab, *record);
  if (!access) {
    return report(globals, access.error());
  }
  LockedWriter out(STDOUT_FILENO);
  LockedWriter err(STDERR_FILENO);
  service::CommandStreams streams;
  streams.on_out = [&out](std::string_view data) { out.write(data); };
  streams.on_err = [&err](std::string_view data) { err.write(data); };
  streams.cancel = &interrupt_token(); // Ctrl-C stops the command in the node too
  if (!options.no_stdin && stdin_usable()) {
    streams.stdin_fd = STDIN_FILENO;
    streams.tty = isatty(STDIN_FILENO) != 0 && isatty(STDOUT_FILENO) != 0;
  }
  if (streams.tty) {
    streams.window_fd = STDOUT_FILENO;
    if (const char *term = std::getenv("TERM"); term && *term) {
      streams.env.push_back(std::string("TERM=") + term);
    }
  }
  Result<int> status = 0;
  {
    std::optional<RawTerminal> raw;
    // Over ssh the session puts the terminal in raw mode itself when it asks for a PTY.
    if (streams.tty && *access == service::Access::docker_exec) {
      raw.emplace(STDIN_FILENO);
    }
    status = service::run_in_node(service_context(globals), store, lab, *record, argv, streams);
  }
  if (!status) {
    return report(globals, status.error());
  }
  return *status;
}

std::string error_text(const Globals &globals, const Error &error) {
  const char *red = globals.color ? "\033[1;31m" : "";
  const char *cyan = globals.color ? "\033[36m" : "";
  const char *reset = globals.color ? "\033[0m" : "";
  auto text = fmt::format("ltb: {}error:{} {}\n", red, reset, error.message);
  if (!error.help.empty()) {
    text += fmt::format("{}help:{} {}\n", cyan, reset, error.help);
  }
  return text;
}

int run_multi(const Globals &globals, state::Store &store, const state::LabRecord &lab,
              const std::vector<std::string> &argv, const std::vector<LabelFilter> &filters) {
  auto records = store.nodes(lab.name);
  if (!records) {
    return report(globals, records.error());
  }
  std::vector<ExecCandidate> candidates;
  if (!filters.empty()) {
    PrintSink events(globals);
    const service::Session session{service_context(globals), caller(), interrupt_token(), events};
    auto labels = service::node_labels(session, lab);
    if (!labels) {
      return report(globals, labels.error());
    }
    for (const auto &record : *records) {
      candidates.push_back({record.name, record.kind, (*labels)[record.name]});
    }
  } else {
    for (const auto &record : *records) {
      candidates.push_back({record.name, record.kind, {}});
    }
  }
  const auto selection = select_nodes(candidates, filters);
  if (!selection.bridges.empty() && !globals.quiet) {
    print_notice(globals,
                 fmt::format("note: skipping Open vSwitch bridge node{} {}: no shell to "
                             "run a command in",
                             selection.bridges.size() == 1 ? "" : "s", join(selection.bridges)));
  }
  if (selection.nodes.empty()) {
    std::vector<std::string> shown;
    for (const auto &filter : filters) {
      shown.push_back(filter.key + "=" + filter.value);
    }
    return report(globals,
                  Error{filters.empty()
                            ? fmt::format("lab '{}' has no node to run a command in", lab.name)
                            : fmt::format("no node of lab '{}' has the label{} {}", lab.name,
                                          filters.size() == 1 ? "" : "s", join(shown)),
                        "labels come from the topology (node, group, kind or defaults)"});
  }

  LockedWriter out(STDOUT_FILENO);
  LockedWriter err(STDERR_FILENO);
  const auto width = prefix_width(selection.nodes);
  std::vector<int> statuses(selection.nodes.size(), 0);
  std::atomic<std::size_t> next{0};
  const auto worker = [&] {
    for (std::size_t i = next++; i < selection.nodes.size(); i = next++) {
      const auto &node = selection.nodes[i];
      const auto prefix = node_prefix(node, width);
      LinePrefixer out_lines(prefix, [&out](std::string_view line) { out.write(line); });
      LinePrefixer err_lines(prefix, [&err](std::string_view line) { err.write(line); });
      service::CommandStreams streams;
      streams.on_out = [&out_lines](std::string_view data) { out_lines.feed(data); };
      streams.on_err = [&err_lines](std::string_view data) { err_lines.feed(data); };
      streams.cancel = &interrupt_token();
      Result<int> status = 0;
      const auto record = std::find_if(
          records->begin(), records->end(),
          [&node](const state::NodeRecord &candidate) { return candidate.name == node; });
      status =
          service::run_in_node(service_context(globals), store, lab.name, *record, argv, streams);
      out_lines.finish();
      err_lines.finish();
      if (status) {
        statuses[i] = *status;
      } else {
        err.write(error_text(globals, status.error()));
        statuses[i] = static_cast<int>(ExitCode::failed);
      }
    }
  };
  interrupt_token().watch(); // armed once, before the threads share it
  std::vector<std::thread> threads;
  const auto count = std::min(k_max_parallel, selection.nodes.size());
  for (std::size_t i = 0; i < count; ++i) {
    threads.emplace_back(worker);
  }
  for (auto &thread : threads) {
    thread.join();
  }
  return *std::max_element(statuses.begin(), statuses.end());
}

int run_exec(const Globals &globals, const ExecOptions &options) {
  const bool multi = options.all || !options.labels.empty();
  std::string node = command_word(options.node);
  std::vector<std::string> argv = command_words(options.command);
  if (multi && !node.empty()) {
    argv.insert(argv.begin(), node);
    node.clear();
  }
  if (!multi && node.empty()) {
    return report(globals, Error{"no node given", "ltb exec NODE -- COMMAND..., or --all / --label",
                                 ExitCode::usage});
  }
  if (argv.empty()) {
    return report(globals,
                  Error{multi ? "no command given to run" : "no command given to run in " + node,
                        multi
                            ? "put it after --, e.g. ltb exec --all -- ip -br addr"
                            : fmt::format("put it after --, e.g. ltb exec {} -- ip -br addr", node),
                        ExitCode::usage});
  }
  auto filters = parse_label_filters(options.labels);
  if (!filters) {
    return report(globals, filters.error());
  }
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  std::string lab = options.lab;
  if (lab.empty()) {
    auto found = multi ? service::only_lab(**store, caller())
                       : service::lab_of_node(**store, caller(), node);
    if (!found) {
      return report(globals, found.error());
    }
    lab = *found;
  }
  auto record = service::resolve_lab(**store, caller(), lab);
  if (!record) {
    return report(globals, record.error());
  }
  if (multi) {
    return run_multi(globals, **store, *record, argv, *filters);
  }
  return run_single(globals, **store, record->name, node, argv, options);
}

} // namespace

void add_exec(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<ExecOptions>();
  auto *sub = app.add_subcommand(
      "exec", "Run a command in a node: containers through Docker, VMs through ssh");
  sub->add_option("node", options->node,
                  "The node (left out with --all or --label: the command comes first)")
      ->type_name("NODE");
  sub->add_option("command", options->command, "The command and its arguments, after --")
      ->type_name("-- COMMAND...");
  sub->add_option("--lab", options->lab,
                  "Lab of the node(s) (needed when the node is in several of your labs)")
      ->type_name("LAB");
  auto *all = sub->add_flag("--all", options->all, "Run on every node of the lab, in parallel");
  sub->add_option("--label", options->labels,
                  "Run on the nodes whose topology labels include KEY=VALUE (repeat: all must "
                  "match), in parallel")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false)
      ->excludes(all);
  sub->add_flag("-n,--no-stdin", options->no_stdin,
                "Do not pass stdin on (the command reads an empty input)");
  sub->footer(
      "Examples:\n"
      "  ltb exec r1 -- vtysh -c 'show ip ospf neighbor'\n"
      "  ltb exec r1 -- sh                      # interactive: a TTY when stdin and stdout are "
      "terminals\n"
      "  echo hi | ltb exec h1 -- cat\n"
      "  ltb exec --all --lab frr-ospf -- ip -br addr\n"
      "  ltb exec --label role=core -- uptime\n"
      "\n"
      "Exit status: the command's. With --all or --label, the highest of the nodes' statuses;\n"
      "a node where the command could not be run counts as 1. ltb's own errors: 1, usage: 2.\n"
      "With --all or --label, stdin is not passed on and each output line starts with the\n"
      "node's name (stderr lines on stderr). VMs are reached over ssh (ltb ssh's login).");
  registry.push_back({sub, [&globals, options] { return run_exec(globals, *options); }});
}

} // namespace ltb::cli
