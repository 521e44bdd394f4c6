// ltb exec NODE [--lab LAB] -- COMMAND...: a command in a node, through Docker's exec for
// containers and ssh for VMs; --all / --label run it on several nodes at once, each output line
// prefixed with the node's name.
#include "access/ssh.hpp"
#include "cli/context.hpp"
#include "cli/exec_prefix.hpp"
#include "cli/exec_select.hpp"
#include "cli/terminal.hpp"
#include "plan/names.hpp"
#include "runtime/docker/docker_exec.hpp"
#include "topology/loader.hpp"

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

constexpr const char *k_kind_vm = "vm";
constexpr const char *k_kind_bridge = "ovs-bridge";
// Enough to overlap the waiting of many nodes without a thread per node in a large lab.
constexpr std::size_t k_max_parallel = 16;

std::string join(const std::vector<std::string> &words) {
  std::string text;
  for (const auto &word : words) {
    text += (text.empty() ? "" : ", ") + word;
  }
  return text;
}

/// The lab for --all / --label without --lab: the caller's only lab (or only running lab).
Result<std::string> only_lab(state::Store &store) {
  LTB_TRY(mine, caller_labs(store));
  std::vector<std::string> names;
  std::vector<std::string> running;
  for (const auto &lab : mine) {
    names.push_back(lab.name);
    if (lab.status == "running") {
      running.push_back(lab.name);
    }
  }
  if (names.size() == 1) {
    return names.front();
  }
  if (running.size() == 1) {
    return running.front();
  }
  if (names.empty()) {
    return fail("you have no labs to run the command in",
                "deploy one with `ltb up FILE`, or name another user's with --lab LAB");
  }
  return fail(fmt::format("you have several labs ({})", join(names)), "say which with --lab LAB",
              ExitCode::usage);
}

/// Refuses nodes that cannot run a command now.
Status check_runnable(const std::string &lab, const state::NodeRecord &record) {
  if (record.kind == k_kind_bridge) {
    return fail(fmt::format("node '{}' of lab '{}' is an Open vSwitch bridge: it has no shell to "
                            "run a command in",
                            record.name, lab),
                fmt::format("run it on a node attached to the bridge, or use ovs-vsctl on the "
                            "host for bridge {}",
                            plan::bridge_name(lab, record.name)));
  }
  if (record.status != "running") {
    return fail(fmt::format("node '{}' of lab '{}' is not running (it is {})", record.name, lab,
                            record.status.empty() ? "unknown" : record.status),
                fmt::format("run `ltb up` for the lab; `ltb status {}` shows its nodes", lab));
  }
  return {};
}

/// Where a command's streams come from and go to.
struct Streams {
  int stdin_fd = -1; // -1: none
  bool tty = false;
  runtime::OutputSink on_out;
  runtime::OutputSink on_err;
};

Result<int> run_in_node(const Globals &globals, state::Store &store, const std::string &lab,
                        const state::NodeRecord &record, const std::vector<std::string> &argv,
                        const Streams &streams) {
  if (record.kind == k_kind_vm) {
    // A VM has no exec API: its command goes over ssh, as one shell line.
    LTB_TRY(target, access::ssh_target(store, lab_dir(globals, lab), lab, record.name));
    if (streams.stdin_fd < 0 && !streams.tty) {
      return access::ssh_exec(target, shell_join(argv), streams.on_out, streams.on_err);
    }
    auto session = access::SshSession::open(target);
    if (!session) {
      return fail(std::move(session.error().error));
    }
    // The session puts the terminal in raw mode itself when it asks for a PTY.
    access::SessionIo io;
    io.in_fd = streams.stdin_fd;
    io.on_out = streams.on_out;
    io.on_err = streams.on_err;
    io.pty = streams.tty;
    return session->run(shell_join(argv), io);
  }
  runtime::AttachedExec spec;
  spec.container = plan::container_name(lab, record.name);
  spec.argv = argv;
  spec.tty = streams.tty;
  spec.stdin_fd = streams.stdin_fd;
  spec.on_out = streams.on_out;
  spec.on_err = streams.on_err;
  if (streams.tty) {
    spec.window_fd = STDOUT_FILENO;
    if (const char *term = std::getenv("TERM"); term && *term) {
      spec.env.push_back(std::string("TERM=") + term);
    }
  }
  return runtime::exec_attached(spec);
}

/// True when stdin can be read: a closed descriptor 0 counts as no stdin.
bool stdin_usable() {
  return fcntl(STDIN_FILENO, F_GETFD) != -1;
}

Result<state::NodeRecord> find_record(state::Store &store, const std::string &lab,
                                      const std::string &node) {
  LTB_TRY(nodes, store.nodes(lab));
  std::vector<std::string> names;
  for (const auto &record : nodes) {
    if (record.name == node) {
      return record;
    }
    names.push_back(record.name);
  }
  auto guess = topology::did_you_mean(node, names);
  return fail(fmt::format("lab '{}' has no node '{}'", lab, node),
              guess.empty() ? fmt::format("`ltb status {}` lists its nodes", lab)
                            : fmt::format("did you mean '{}'?", guess));
}

int run_single(const Globals &globals, state::Store &store, const std::string &lab,
               const std::string &node, const std::vector<std::string> &argv,
               const ExecOptions &options) {
  auto record = find_record(store, lab, node);
  if (!record) {
    return report(globals, record.error());
  }
  if (auto runnable = check_runnable(lab, *record); !runnable) {
    return report(globals, runnable.error());
  }
  LockedWriter out(STDOUT_FILENO);
  LockedWriter err(STDERR_FILENO);
  Streams streams;
  streams.on_out = [&out](std::string_view data) { out.write(data); };
  streams.on_err = [&err](std::string_view data) { err.write(data); };
  if (!options.no_stdin && stdin_usable()) {
    streams.stdin_fd = STDIN_FILENO;
    streams.tty = isatty(STDIN_FILENO) != 0 && isatty(STDOUT_FILENO) != 0;
  }
  Result<int> status = 0;
  {
    std::optional<RawTerminal> raw;
    if (streams.tty && record->kind != k_kind_vm) {
      raw.emplace(STDIN_FILENO);
    }
    status = run_in_node(globals, store, lab, *record, argv, streams);
  }
  if (!status) {
    return report(globals, status.error());
  }
  return *status;
}

/// Node labels as the topology gives them (inheritance resolved). When the recorded topology no
/// longer loads (a startup-config file was removed, say), the labels Docker's containers carry.
Result<std::map<std::string, std::map<std::string, std::string>>>
node_labels(const Globals &globals, const state::LabRecord &lab) {
  std::map<std::string, std::map<std::string, std::string>> labels;
  const auto base_dir = lab.topology_file.empty()
                            ? lab_dir(globals, lab.name)
                            : std::filesystem::path(lab.topology_file).parent_path().string();
  topology::LoadOptions load_options;
  load_options.lab_name = lab.name;
  auto loaded = topology::load_text(
      lab.topology_text, lab.topology_file.empty() ? "<recorded topology>" : lab.topology_file,
      base_dir, load_options);
  if (loaded) {
    for (const auto &node : loaded->nodes) {
      labels[node.name] = node.labels;
    }
    return labels;
  }
  print_notice(globals, fmt::format("note: the recorded topology of lab '{}' no longer loads; "
                                    "selecting by the labels of its containers (VMs have none)",
                                    lab.name));
  LTB_TRY(docker, runtime::connect_docker());
  LTB_TRY(containers, docker->list_containers({{plan::k_label_lab, lab.name}}));
  for (const auto &container : containers) {
    const auto node = container.labels.find(plan::k_label_node);
    if (node == container.labels.end()) {
      continue;
    }
    auto &mine = labels[node->second];
    for (const auto &[key, value] : container.labels) {
      if (key.rfind("ltb.", 0) != 0) {
        mine[key] = value;
      }
    }
  }
  return labels;
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
    auto labels = node_labels(globals, lab);
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
      Streams streams;
      streams.on_out = [&out_lines](std::string_view data) { out_lines.feed(data); };
      streams.on_err = [&err_lines](std::string_view data) { err_lines.feed(data); };
      Result<int> status = 0;
      const auto record = std::find_if(
          records->begin(), records->end(),
          [&node](const state::NodeRecord &candidate) { return candidate.name == node; });
      if (auto runnable = check_runnable(lab.name, *record); !runnable) {
        status = tl::unexpected(runnable.error());
      } else {
        status = run_in_node(globals, store, lab.name, *record, argv, streams);
      }
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
  std::string node = options.node;
  std::vector<std::string> argv = options.command;
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
    auto found = multi ? only_lab(**store) : lab_of_node(**store, node);
    if (!found) {
      return report(globals, found.error());
    }
    lab = *found;
  }
  auto record = (*store)->lab(lab);
  if (!record) {
    return report(globals, record.error());
  }
  if (!*record) {
    return report(globals, unknown_lab(**store, lab));
  }
  if (multi) {
    return run_multi(globals, **store, **record, argv, *filters);
  }
  return run_single(globals, **store, lab, node, argv, options);
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
