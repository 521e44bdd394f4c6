#pragma once
// Finding a node and reaching it: which lab a node named without --lab is in (one rule for
// exec, ssh and console), and how a command gets into it (Docker's exec API for containers, ssh
// for VMs; a bridge has no shell).

#include "access/ssh.hpp"
#include "runtime/docker/docker_exec.hpp"
#include "runtime/libvirt/libvirt.hpp"
#include "service/service.hpp"
#include "state/store.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ltb::service {

/// "no lab named 'X'", with a did-you-mean over the labs the state file records.
Error unknown_lab(state::Store &store, const std::string &lab);

/// The caller's labs (owner = caller.name), those being removed left out.
Result<std::vector<state::LabRecord>> caller_labs(state::Store &store, const Caller &caller);

/// The lab of a node named without --lab. The rule:
///  1. among the caller's labs (caller_labs()), the one that has the node;
///  2. when several do, the one where both the lab and the node run;
///  3. else several: a usage error asking for --lab;
///  4. none of the caller's: an error naming other users' labs that have it (by name only: a
///     node of another user's lab is reached only with --lab), else a did-you-mean over the
///     caller's nodes.
Result<std::string> lab_of_node(state::Store &store, const Caller &caller, const std::string &node);

/// The lab for a command on several nodes without --lab: the caller's only lab, or only running
/// lab.
Result<std::string> only_lab(state::Store &store, const Caller &caller);

/// The record of `node` in `lab`, or an error with a did-you-mean.
Result<state::NodeRecord> find_node(state::Store &store, const std::string &lab,
                                    const std::string &node);

/// How a command reaches a node.
enum class Access {
  docker_exec, // a container: Docker's exec API
  ssh,         // a VM: no exec API, the command goes over ssh as one shell line
};

/// The way into a node that can run a command now; an error for a bridge (no shell) or a node
/// that is not running.
Result<Access> command_access(const std::string &lab, const state::NodeRecord &record);

/// Where a command's streams come from and go to.
struct CommandStreams {
  int stdin_fd = -1; // -1: none
  bool tty = false;
  int window_fd = -1;           // with tty: the terminal whose size the command gets
  std::vector<std::string> env; // with tty: TERM=... for a container
  runtime::OutputSink on_out;
  runtime::OutputSink on_err;
  /// Given: the token's interruption stops the command in a container, not only ltb (see
  /// runtime::AttachedExec::interrupted; a VM's ssh session ends with ltb).
  CancelToken *cancel = nullptr;
};

/// Runs `argv` in a node (see command_access()); returns the command's exit status.
Result<int> run_in_node(const Context &context, state::Store &store, const std::string &lab,
                        const state::NodeRecord &record, const std::vector<std::string> &argv,
                        const CommandStreams &streams);

/// The serial console of a VM node. open() finds the node (lab_of_node() without `lab`), checks
/// that it is a VM (a container gets a hint at `docker exec`) and connects to libvirt; attach()
/// then joins the given descriptors to the console until `escape` is read.
class Console {
public:
  static Result<Console> open(const Session &session, state::Store &store, const std::string &node,
                              const std::string &lab);
  const std::string &lab() const { return m_lab; }
  Status attach(int in_fd, int out_fd, char escape);

private:
  Console() = default;
  std::string m_lab;
  std::string m_node;
  std::unique_ptr<runtime::VmRuntime> m_vms;
};

/// After a failed ssh connection: whether the node's container or VM runs at all, asked only
/// now (the runtimes cost time that a working `ltb ssh` does not spend). nullopt when it runs or
/// nobody can tell.
std::optional<Error> not_running(const access::SshTarget &target);

struct SshRequest {
  std::string node;
  std::string lab; // "" = lab_of_node()
  int timeout_seconds = 10;
};

/// `ltb ssh`: finds the node's lab and login and opens an authenticated session. When the
/// connection fails because the node does not run, the error says that instead.
Result<access::SshSession> open_ssh(const Session &session, const SshRequest &request);

/// The nodes' labels as the lab's recorded topology gives them (inheritance resolved). When it
/// no longer loads, the labels Docker's containers carry, with a note to `events`.
Result<std::map<std::string, std::map<std::string, std::string>>>
node_labels(const Session &session, const state::LabRecord &lab);

} // namespace ltb::service
