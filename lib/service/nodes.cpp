#include "service/nodes.hpp"

#include "access/ssh.hpp"
#include "plan/names.hpp"
#include "runtime/docker/docker.hpp"
#include "runtime/libvirt/libvirt.hpp"
#include "service/backends.hpp"
#include "service/owners.hpp"
#include "topology/diagnostics.hpp"
#include "topology/kinds.hpp"
#include "topology/loader.hpp"
#include "util/shell_split.hpp"

#include <filesystem>
#include <fmt/format.h>

namespace ltb::service {

namespace {

std::string join_words(const std::vector<std::string> &words) {
  std::string text;
  for (const auto &word : words) {
    text += (text.empty() ? "" : ", ") + word;
  }
  return text;
}

} // namespace

Error unknown_lab(state::Store &store, const std::string &lab) {
  std::vector<std::string> names;
  if (auto labs = store.labs()) {
    for (const auto &known : *labs) {
      names.push_back(known.name);
    }
  }
  auto guess = topology::did_you_mean(lab, names);
  return Error{fmt::format("no lab named '{}'", lab),
               guess.empty() ? "see `ltb status` for the labs there are"
                             : fmt::format("did you mean '{}'?", guess),
               ExitCode::failed};
}

Result<std::vector<state::LabRecord>> caller_labs(state::Store &store, const Caller &caller) {
  LTB_TRY(labs, store.labs());
  std::vector<state::LabRecord> mine;
  for (auto &lab : labs) {
    if (lab.owner == caller.name && lab.status != state::RecordStatus::removing) {
      mine.push_back(std::move(lab));
    }
  }
  return mine;
}

Result<std::string> lab_of_node(state::Store &store, const Caller &caller,
                                const std::string &node) {
  LTB_TRY(mine, caller_labs(store, caller));
  std::vector<std::string> found;
  std::vector<std::string> running;
  std::vector<std::string> names;
  for (const auto &lab : mine) {
    LTB_TRY(nodes, store.nodes(lab.name));
    for (const auto &record : nodes) {
      names.push_back(record.name);
      if (record.name == node) {
        found.push_back(lab.name);
        if (lab.status == state::RecordStatus::running &&
            record.status == state::RecordStatus::running) {
          running.push_back(lab.name);
        }
      }
    }
  }
  if (found.size() == 1) {
    return found.front();
  }
  if (running.size() == 1) {
    return running.front();
  }
  if (found.size() > 1) {
    for (auto &name : found) {
      name = lab_shown(caller, name);
    }
    return fail(fmt::format("node '{}' is in several of your labs ({})", node, join_words(found)),
                "say which with --lab LAB", ExitCode::usage);
  }
  // Not among the caller's labs: another user's lab may have it, told to an admin only (a user
  // learns nothing of other users' labs).
  LTB_TRY(labs, store.labs());
  std::vector<std::string> elsewhere;
  for (const auto &lab : labs) {
    if (lab.owner == caller.name || !may_act(caller, lab.owner)) {
      continue;
    }
    LTB_TRY(nodes, store.nodes(lab.name));
    for (const auto &record : nodes) {
      if (record.name == node) {
        elsewhere.push_back(fmt::format("{} (owner {})", lab.name, lab.owner));
      }
    }
  }
  if (!elsewhere.empty()) {
    return fail(fmt::format("none of your labs has a node '{}'; other users' labs do: {}", node,
                            join_words(elsewhere)),
                "say which lab with --lab LAB");
  }
  auto guess = topology::did_you_mean(node, names);
  return fail(fmt::format("no node named '{}' in any of your labs", node),
              guess.empty() ? "see `ltb status` for your labs and `ltb status LAB` for their nodes"
                            : fmt::format("did you mean '{}'?", guess));
}

Result<std::string> only_lab(state::Store &store, const Caller &caller) {
  LTB_TRY(mine, caller_labs(store, caller));
  std::vector<std::string> names;
  std::vector<std::string> running;
  for (const auto &lab : mine) {
    names.push_back(lab.name);
    if (lab.status == state::RecordStatus::running) {
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
                caller.admin ? "deploy one with `ltb up FILE`, or name another user's with --lab "
                               "LAB"
                             : "deploy one with `ltb up FILE`");
  }
  for (auto &name : names) {
    name = lab_shown(caller, name);
  }
  return fail(fmt::format("you have several labs ({})", join_words(names)),
              "say which with --lab LAB", ExitCode::usage);
}

Result<state::NodeRecord> find_node(state::Store &store, const std::string &lab,
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

Result<Access> command_access(const std::string &lab, const state::NodeRecord &record) {
  const auto runtime = topology::runtime_of_kind(record.kind);
  if (runtime == topology::Runtime::ovs_bridge) {
    return fail(fmt::format("node '{}' of lab '{}' is an Open vSwitch bridge: it has no shell to "
                            "run a command in",
                            record.name, lab),
                fmt::format("run it on a node attached to the bridge, or use ovs-vsctl on the "
                            "host for bridge {}",
                            plan::bridge_name(lab, record.name)));
  }
  if (runtime == topology::Runtime::external) {
    return fail(fmt::format("node '{}' of lab '{}' is an ext-container, a container that ltb did "
                            "not make",
                            record.name, lab),
                fmt::format("run the command with `docker exec {}`", record.name));
  }
  if (!topology::is_workload(runtime)) {
    return fail(fmt::format("node '{}' of lab '{}' is a Linux bridge on the host: it has no shell "
                            "to run a command in",
                            record.name, lab),
                fmt::format("run it on a node attached to the bridge, or look at the bridge on "
                            "the host ('ip link show master {}')",
                            record.name));
  }
  if (record.status != state::RecordStatus::running) {
    return fail(fmt::format("node '{}' of lab '{}' is not running (it is {})", record.name, lab,
                            state::to_string(record.status)),
                fmt::format("run `ltb up` for the lab; `ltb status {}` shows its nodes", lab));
  }
  return runtime == topology::Runtime::vm ? Access::ssh : Access::docker_exec;
}

Result<int> run_in_node(const Context &context, state::Store &store, const std::string &lab,
                        const state::NodeRecord &record, const std::vector<std::string> &argv,
                        const CommandStreams &streams) {
  LTB_TRY(access, command_access(lab, record));
  if (access == Access::ssh) {
    LTB_TRY(target, access::ssh_target(store, context.lab_dir(lab), lab, record.name));
    if (streams.stdin_fd < 0 && !streams.tty) {
      return access::ssh_exec(target, util::shell_join(argv), streams.on_out, streams.on_err);
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
    return session->run(util::shell_join(argv), io);
  }
  runtime::AttachedExec spec;
  // By the id ltb recorded: the container's name depends on the lab's prefix.
  spec.container =
      record.runtime_id.empty() ? plan::container_name(lab, record.name) : record.runtime_id;
  spec.argv = argv;
  spec.tty = streams.tty;
  spec.stdin_fd = streams.stdin_fd;
  spec.on_out = streams.on_out;
  spec.on_err = streams.on_err;
  if (streams.tty) {
    spec.window_fd = streams.window_fd;
    spec.env = streams.env;
  }
  if (streams.cancel) {
    spec.interrupted = streams.cancel->watch();
  }
  return runtime::exec_attached(spec);
}

Result<std::map<std::string, std::map<std::string, std::string>>>
node_labels(const Session &session, const state::LabRecord &lab) {
  std::map<std::string, std::map<std::string, std::string>> labels;
  auto loaded = topology::load_recorded(lab.topology_text, lab.topology_file, lab.name,
                                        session.context.lab_dir(lab.name));
  if (loaded) {
    for (const auto &node : loaded->nodes) {
      labels[node.name] = node.labels;
    }
    return labels;
  }
  session.events.notice(fmt::format("note: the recorded topology of lab '{}' no longer loads; "
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

Result<Console> Console::open(const Session &session, state::Store &store, const std::string &node,
                              const std::string &lab_name) {
  std::string lab = lab_name;
  if (lab.empty()) {
    LTB_TRY(found, lab_of_node(store, session.caller, node));
    lab = found;
  } else {
    LTB_TRY(owned, resolve_lab(store, session.caller, lab));
    lab = owned.name;
  }
  LTB_TRY(nodes, store.nodes(lab));
  const state::NodeRecord *record = nullptr;
  for (const auto &candidate : nodes) {
    if (candidate.name == node) {
      record = &candidate;
    }
  }
  if (!record) {
    return fail(fmt::format("lab '{}' has no node '{}'", lab, node), "see `ltb status " + lab + "`",
                ExitCode::failed);
  }
  if (topology::runtime_of_kind(record->kind) != topology::Runtime::vm) {
    LTB_TRY(lab_record, store.lab(lab));
    return fail(
        fmt::format("node '{}' is a {} node; only VMs have a serial console", node, record->kind),
        fmt::format("for a shell in it: ltb exec {} sh, or docker exec -it {} sh", node,
                    plan::container_name(lab, node,
                                         lab_record ? lab_record->container_prefix : std::nullopt)),
        ExitCode::failed);
  }
  LTB_TRY(vms, runtime::connect_libvirt());
  Console console;
  console.m_lab = lab;
  console.m_node = node;
  console.m_vms = std::move(vms);
  return console;
}

Status Console::attach(int in_fd, int out_fd, char escape) {
  return m_vms->console(plan::container_name(m_lab, m_node), in_fd, out_fd, escape);
}

std::optional<Error> not_running(const access::SshTarget &target) {
  std::string name = plan::container_name(target.lab, target.node);
  std::string state;
  const bool vm = topology::runtime_of_kind(target.kind) == topology::Runtime::vm;
  if (vm) {
    auto vms = runtime::connect_libvirt();
    if (!vms) {
      return std::nullopt;
    }
    auto info = (*vms)->info(name);
    state = info ? info->state : "missing";
  } else {
    auto docker = runtime::connect_docker();
    if (!docker) {
      return std::nullopt;
    }
    auto found = (*docker)->list_containers(
        {{plan::k_label_lab, target.lab}, {plan::k_label_node, target.node}});
    if (!found) {
      return std::nullopt;
    }
    state = found->empty() ? "missing" : found->front().state;
    if (!found->empty()) {
      name = found->front().name; // under the lab's prefix
    }
  }
  if (state == "running") {
    return std::nullopt;
  }
  return Error{fmt::format("node '{}' of lab '{}' is not running: its {} {} is {}", target.node,
                           target.lab, vm ? "VM" : "container", name, state),
               "run `ltb up` with the lab's file: it recreates what is missing", ExitCode::failed};
}

Result<access::SshSession> open_ssh(const Session &session, const SshRequest &request) {
  access::SshTarget target;
  {
    // No state file handle held for the whole session.
    LTB_TRY(store, open_store(session.context));
    std::string lab = request.lab;
    if (lab.empty()) {
      LTB_TRY(found, lab_of_node(*store, session.caller, request.node));
      lab = found;
    } else {
      LTB_TRY(owned, resolve_lab(*store, session.caller, lab));
      lab = owned.name;
    }
    LTB_TRY(found, access::ssh_target(*store, session.context.lab_dir(lab), lab, request.node));
    target = std::move(found);
  }
  target.timeout_seconds = request.timeout_seconds;
  auto opened = access::SshSession::open(target);
  if (!opened) {
    const auto kind = opened.error().kind;
    if (kind == access::SshFailure::unreachable || kind == access::SshFailure::refused ||
        kind == access::SshFailure::timeout) {
      if (auto stopped = not_running(target)) {
        return fail(*stopped);
      }
    }
    return fail(opened.error().error);
  }
  return std::move(*opened);
}

} // namespace ltb::service
