#pragma once
// An SSH client for lab nodes, through libssh: the node's management address from state, the
// login from the topology (logins.json), the lab's key pair, the lab's known_hosts with ltb's
// rules (known_hosts.hpp). Never prompts: every failure is one line that says what to do.

#include "state/store.hpp"
#include "util/error.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace ltb::access {

struct SshTarget {
  std::string lab, node, host;
  int port = 22;
  std::string user, password, key_file, known_hosts_file, runtime_id;
  std::string kind;          // a kind of the registry (topology/kinds.hpp)
  std::string user_key_file; // the node's own key (topology ssh-key), tried before key_file
  std::string console_log;   // VMs: the serial console log, where the guest prints its host key
  int timeout_seconds = 10;  // for the TCP connection, the key exchange and authentication
};

/// How to reach a node of a lab, from state (address, credentials, key, known_hosts).
Result<SshTarget> ssh_target(state::Store &store, const std::string &lab_dir,
                             const std::string &lab, const std::string &node);

/// Runs `command` (a shell command line) on the node; chunks of stdout/stderr go to the callbacks
/// as they arrive; returns the remote exit status (128+N when signal N ended the command).
Result<int> ssh_exec(const SshTarget &target, const std::string &command,
                     const std::function<void(std::string_view)> &on_out,
                     const std::function<void(std::string_view)> &on_err);

/// Why a session could not be opened, for callers that want to say more (for example ask the
/// container runtime whether the node runs at all when it cannot be reached).
enum class SshFailure { unreachable, refused, timeout, host_key, auth, session };

struct SshError {
  SshFailure kind = SshFailure::session;
  Error error;
};

/// What a command's session does with the local streams and the terminal.
struct SessionIo {
  int in_fd = -1; // copied to the remote stdin until it ends; -1: the remote stdin is empty
  std::function<void(std::string_view)> on_out;
  std::function<void(std::string_view)> on_err;
  /// A PTY of the local terminal's size and TERM; with a terminal on in_fd: raw mode for the
  /// session (restored on every exit path, signals included) and window size changes passed on.
  bool pty = false;
};

/// A connected and authenticated session.
class SshSession {
public:
  static tl::expected<SshSession, SshError> open(const SshTarget &target);
  SshSession(SshSession &&other) noexcept;
  SshSession &operator=(SshSession &&other) noexcept;
  SshSession(const SshSession &) = delete;
  SshSession &operator=(const SshSession &) = delete;
  ~SshSession();

  /// Runs COMMAND (empty, with a PTY: the user's login shell) until the remote side closes the
  /// channel; returns its exit status, 128+N when signal N ended it.
  Result<int> run(const std::string &command, const SessionIo &io);

  /// The authentication method that worked: "none", "publickey (FILE)", "password", ...
  const std::string &auth_method() const;

private:
  struct Impl;
  explicit SshSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

/// The error for a TCP connection to the target that failed with errno ERR (ETIMEDOUT for a
/// timeout).
SshError connect_error(const SshTarget &target, int err);

/// 128 + the number of the signal called NAME ("TERM", "KILL", ...); 255 when unknown.
int signal_exit_status(std::string_view name);

} // namespace ltb::access
