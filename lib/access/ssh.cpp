#include "access/ssh.hpp"

#include "access/access_files.hpp"
#include "access/keys.hpp"
#include "access/known_hosts.hpp"
#include "topology/diagnostics.hpp"
#include "topology/kinds.hpp"
#include "topology/loader.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <poll.h>
#include <sstream>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <vector>

namespace ltb::access {

namespace {

namespace fs = std::filesystem;

struct SessionFree {
  void operator()(ssh_session session) const {
    ssh_disconnect(session);
    ssh_free(session);
  }
};
using SessionPtr = std::unique_ptr<ssh_session_struct, SessionFree>;

struct ChannelFree {
  void operator()(ssh_channel channel) const { ssh_channel_free(channel); }
};
using ChannelPtr = std::unique_ptr<ssh_channel_struct, ChannelFree>;

struct KeyFree {
  void operator()(ssh_key key) const { ssh_key_free(key); }
};
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyFree>;

struct EventFree {
  void operator()(ssh_event event) const { ssh_event_free(event); }
};
using EventPtr = std::unique_ptr<ssh_event_struct, EventFree>;

std::string read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return in ? out.str() : std::string();
}

std::string node_label(const SshTarget &target) {
  return fmt::format("node '{}' ({})", target.node, host_field(target.host, target.port));
}

SshError ssh_error(SshFailure kind, std::string message, std::string help = {}) {
  return {kind, Error{std::move(message), std::move(help), ExitCode::failed}};
}

// --- the TCP connection ---------------------------------------------------------------------

/// A TCP connection to HOST:PORT within TIMEOUT seconds; the errno of the failure otherwise
/// (ETIMEDOUT when the time ran out).
tl::expected<int, int> tcp_connect(const std::string &host, int port, int timeout_seconds) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    return tl::unexpected(EADDRNOTAVAIL);
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return tl::unexpected(errno);
  }
  auto failed = [fd](int err) {
    ::close(fd);
    return tl::unexpected(err);
  };
  if (::connect(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address) != 0) {
    if (errno != EINPROGRESS) {
      return failed(errno);
    }
    pollfd pfd{fd, POLLOUT, 0};
    int rc = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    do {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      rc = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(left, 0)));
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
      return failed(ETIMEDOUT);
    }
    int err = 0;
    socklen_t length = sizeof err;
    if (rc < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &length) != 0) {
      return failed(errno);
    }
    if (err != 0) {
      return failed(err);
    }
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// --- the terminal ---------------------------------------------------------------------------

/// Raw mode on a terminal for the life of the object. The saved settings come back on every
/// exit path: the destructor, and SIGTERM/SIGHUP/SIGINT/SIGQUIT (restored, then re-raised with
/// the default action, so that ltb still dies of the signal).
class RawTerminal {
public:
  explicit RawTerminal(int fd) : m_fd(fd) {
    if (!isatty(fd) || tcgetattr(fd, &m_saved) != 0) {
      return;
    }
    s_fd = fd;
    s_saved = m_saved;
    struct sigaction action {};
    action.sa_handler = [](int signal) {
      tcsetattr(s_fd, TCSAFLUSH, &s_saved);
      ::signal(signal, SIG_DFL);
      ::raise(signal);
    };
    sigemptyset(&action.sa_mask);
    for (std::size_t i = 0; i < k_signals.size(); ++i) {
      sigaction(k_signals[i], &action, &m_old[i]);
    }
    termios raw = m_saved;
    cfmakeraw(&raw);
    m_active = tcsetattr(fd, TCSAFLUSH, &raw) == 0;
  }
  ~RawTerminal() {
    if (!m_active) {
      return;
    }
    tcsetattr(m_fd, TCSAFLUSH, &m_saved);
    for (std::size_t i = 0; i < k_signals.size(); ++i) {
      sigaction(k_signals[i], &m_old[i], nullptr);
    }
  }
  RawTerminal(const RawTerminal &) = delete;
  RawTerminal &operator=(const RawTerminal &) = delete;

private:
  static constexpr std::array<int, 4> k_signals{SIGTERM, SIGHUP, SIGINT, SIGQUIT};
  static inline int s_fd = -1;
  static inline termios s_saved{};
  int m_fd;
  termios m_saved{};
  std::array<struct sigaction, 4> m_old{};
  bool m_active = false;
};

/// SIGWINCH turned into a readable pipe for the event loop, for the life of the object.
class WinchPipe {
public:
  WinchPipe() {
    if (::pipe2(m_fds.data(), O_CLOEXEC | O_NONBLOCK) != 0) {
      m_fds = {-1, -1};
      return;
    }
    s_write_fd.store(m_fds[1]);
    struct sigaction action {};
    action.sa_handler = [](int) {
      const int saved = errno;
      const char byte = 'w';
      [[maybe_unused]] auto n = ::write(s_write_fd.load(), &byte, 1);
      errno = saved;
    };
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &action, &m_old);
  }
  ~WinchPipe() {
    if (m_fds[0] < 0) {
      return;
    }
    sigaction(SIGWINCH, &m_old, nullptr);
    s_write_fd.store(-1);
    ::close(m_fds[0]);
    ::close(m_fds[1]);
  }
  WinchPipe(const WinchPipe &) = delete;
  WinchPipe &operator=(const WinchPipe &) = delete;
  int read_fd() const { return m_fds[0]; }
  void drain() const {
    char buffer[64];
    while (::read(m_fds[0], buffer, sizeof buffer) > 0) {
    }
  }

private:
  static inline std::atomic<int> s_write_fd{-1};
  std::array<int, 2> m_fds{-1, -1};
  struct sigaction m_old {};
};

/// The window size of the first terminal among the local streams; 80x24 when there is none.
std::pair<int, int> window_size(int in_fd) {
  for (int fd : {in_fd, STDOUT_FILENO, STDERR_FILENO}) {
    winsize size{};
    if (fd >= 0 && ::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0 && size.ws_row > 0) {
      return {size.ws_col, size.ws_row};
    }
  }
  return {80, 24};
}

// --- logins -----------------------------------------------------------------------------------

/// A node's login: as recorded at `ltb up` (logins.json), else from the recorded topology text,
/// else the kind's default.
NodeLogin login_of(const state::LabRecord &lab, const state::NodeRecord &node,
                   const std::string &lab_dir) {
  const auto logins = parse_logins(read_file(LabPaths{lab_dir}.logins()));
  if (auto it = logins.find(node.name); it != logins.end()) {
    return it->second;
  }
  if (!lab.topology_text.empty()) {
    topology::Diagnostics ignored;
    topology::LoadOptions options;
    options.warnings = &ignored;
    auto loaded =
        topology::load_recorded(lab.topology_text, lab.topology_file, lab.name, {}, options);
    if (loaded) {
      if (const auto *desired = loaded->find_node(node.name)) {
        return {desired->username, desired->password, desired->ssh_key, has_sshd(*desired)};
      }
    }
  }
  const auto login = topology::default_login(node.kind);
  return {login.username, login.password, {}};
}

// --- channel callbacks --------------------------------------------------------------------------

struct ChannelState {
  const SessionIo *io = nullptr;
  ssh_channel channel = nullptr;
  bool closed = false;
  bool have_status = false;
  int exit_status = -1;
  std::string exit_signal;
  // The local input: read into `pending` only while it is empty, written from there as far as the
  // remote channel window allows. The remote stdin gets its EOF once the input has ended and all
  // of it is written.
  std::string pending;
  bool input_ended = false;
  bool eof_sent = false;
  std::string write_error;
};

int on_channel_data(ssh_session, ssh_channel, void *data, std::uint32_t length, int is_stderr,
                    void *userdata) {
  auto *state = static_cast<ChannelState *>(userdata);
  const std::string_view chunk(static_cast<const char *>(data), length);
  const auto &sink = is_stderr ? state->io->on_err : state->io->on_out;
  if (sink) {
    sink(chunk);
  }
  return static_cast<int>(length);
}

void on_channel_close(ssh_session, ssh_channel, void *userdata) {
  static_cast<ChannelState *>(userdata)->closed = true;
}

void on_exit_status(ssh_session, ssh_channel, int status, void *userdata) {
  auto *state = static_cast<ChannelState *>(userdata);
  state->have_status = true;
  state->exit_status = status;
}

void on_exit_signal(ssh_session, ssh_channel, const char *signal, int, const char *, const char *,
                    void *userdata) {
  static_cast<ChannelState *>(userdata)->exit_signal = signal ? signal : "";
}

/// Reads one chunk of the local input, and no more until it is written: writing happens in the
/// event loop, never here. A blocking ssh_channel_write in this callback waited for the remote
/// window inside the event's own poll (re-entering this callback and libssh's socket handler),
/// gave up after the session timeout and dropped input, or lost the connection: large input to
/// a command that reads it slowly (a VM's dropbear has a small window) lost lines.
int on_stdin(socket_t fd, int revents, void *userdata) {
  auto *state = static_cast<ChannelState *>(userdata);
  if (state->input_ended || !state->pending.empty() || !(revents & (POLLIN | POLLHUP | POLLERR))) {
    return 0;
  }
  char buffer[65536];
  ssize_t n = 0;
  do {
    n = ::read(fd, buffer, sizeof buffer);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    return 0;
  }
  if (n > 0) {
    state->pending.assign(buffer, static_cast<std::size_t>(n));
    return 0;
  }
  // End of input (or an error, or a hang-up without data).
  state->input_ended = true;
  return 0;
}

/// Writes what the remote channel window takes of the pending input, without waiting for the
/// window to open (the event loop waits, and reads the node's output meanwhile); then the EOF
/// once the input has ended and all of it is written.
void send_pending(ChannelState &state) {
  while (!state.pending.empty() && !state.closed) {
    const std::uint32_t window = ssh_channel_window_size(state.channel);
    if (window == 0) {
      return;
    }
    const auto length =
        static_cast<std::uint32_t>(std::min<std::size_t>(window, state.pending.size()));
    const int written = ssh_channel_write(state.channel, state.pending.data(), length);
    if (written == SSH_ERROR) {
      state.write_error = "cannot send the input to the node";
      state.pending.clear();
      state.input_ended = true;
      return;
    }
    if (written <= 0) {
      return;
    }
    state.pending.erase(0, static_cast<std::size_t>(written));
  }
  if (state.input_ended && state.pending.empty() && !state.eof_sent && !state.closed) {
    ssh_channel_send_eof(state.channel);
    state.eof_sent = true;
  }
}

struct WinchContext {
  const WinchPipe *pipe;
  ssh_channel channel;
  int in_fd;
};

int on_winch(socket_t, int, void *userdata) {
  auto *context = static_cast<WinchContext *>(userdata);
  context->pipe->drain();
  const auto [columns, rows] = window_size(context->in_fd);
  ssh_channel_change_pty_size(context->channel, columns, rows);
  return 0;
}

} // namespace

// --- errors -----------------------------------------------------------------------------------

SshError connect_error(const SshTarget &target, int err) {
  const std::string where = node_label(target);
  switch (err) {
  case ECONNREFUSED:
    return ssh_error(
        SshFailure::refused,
        fmt::format("connection refused by {}: no ssh server listens on port {}", where,
                    target.port),
        topology::runtime_of_kind(target.kind) == topology::Runtime::vm
            ? std::string("a VM starts its ssh server at the end of its boot; wait a few "
                          "seconds and try again, or watch it with `ltb console`")
            : std::string("the node's image may have no ssh server (an ltb/frr node has one; "
                          "a linux node has one only if its image does), or it is still "
                          "starting"));
  case ETIMEDOUT:
    return ssh_error(
        SshFailure::timeout,
        fmt::format("timed out after {} s connecting to {}", target.timeout_seconds, where),
        "the node may be overloaded or still booting (a VM takes 10 to 20 s under "
        "software emulation); try again, or give more time with --timeout");
  case EHOSTUNREACH:
  case ENETUNREACH:
  case EHOSTDOWN:
    return ssh_error(SshFailure::unreachable, fmt::format("no route to {}", where),
                     fmt::format("nothing answers at that address: the node may be stopped or "
                                 "still booting; see `ltb status {}`",
                                 target.lab));
  default:
    return ssh_error(SshFailure::unreachable,
                     fmt::format("cannot connect to {}: {}", where, std::strerror(err)),
                     fmt::format("see `ltb status {}`", target.lab));
  }
}

int signal_exit_status(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, int>, 15> k_signals{{
      {"HUP", SIGHUP},
      {"INT", SIGINT},
      {"QUIT", SIGQUIT},
      {"ILL", SIGILL},
      {"ABRT", SIGABRT},
      {"FPE", SIGFPE},
      {"KILL", SIGKILL},
      {"USR1", SIGUSR1},
      {"SEGV", SIGSEGV},
      {"USR2", SIGUSR2},
      {"PIPE", SIGPIPE},
      {"ALRM", SIGALRM},
      {"TERM", SIGTERM},
      {"BUS", SIGBUS},
      {"TRAP", SIGTRAP},
  }};
  if (name.substr(0, 3) == "SIG") {
    name.remove_prefix(3);
  }
  for (const auto &[signal_name, number] : k_signals) {
    if (signal_name == name) {
      return 128 + number;
    }
  }
  return 255;
}

// --- targets ----------------------------------------------------------------------------------

Result<SshTarget> ssh_target(state::Store &store, const std::string &lab_dir,
                             const std::string &lab, const std::string &node) {
  LTB_TRY(lab_record, store.lab(lab));
  if (!lab_record) {
    std::vector<std::string> names;
    if (auto labs = store.labs()) {
      for (const auto &known : *labs) {
        names.push_back(known.name);
      }
    }
    const auto guess = topology::did_you_mean(lab, names);
    return fail(fmt::format("no lab named '{}'", lab),
                guess.empty() ? "see `ltb status` for the labs there are"
                              : fmt::format("did you mean '{}'?", guess));
  }
  LTB_TRY(nodes, store.nodes(lab));
  const state::NodeRecord *record = nullptr;
  std::vector<std::string> names;
  for (const auto &candidate : nodes) {
    names.push_back(candidate.name);
    if (candidate.name == node) {
      record = &candidate;
    }
  }
  if (!record) {
    const auto guess = topology::did_you_mean(node, names);
    return fail(fmt::format("lab '{}' has no node '{}'", lab, node),
                guess.empty() ? fmt::format("see `ltb inspect {}` for its nodes", lab)
                              : fmt::format("did you mean '{}'?", guess));
  }
  if (!topology::is_workload(topology::runtime_of_kind(record->kind))) {
    const bool ovs = topology::runtime_of_kind(record->kind) == topology::Runtime::ovs_bridge;
    return fail(fmt::format("node '{}' of lab '{}' is {}: there is nothing to log in to", node, lab,
                            ovs ? std::string("an Open vSwitch bridge")
                                : fmt::format("of kind {}", record->kind)),
                "log in to one of the nodes attached to it");
  }
  if ((record->status != state::RecordStatus::running &&
       record->status != state::RecordStatus::created) ||
      record->mgmt_ipv4.empty()) {
    return fail(fmt::format("node '{}' of lab '{}' is not running (its status is '{}')", node, lab,
                            state::to_string(record->status)),
                fmt::format("run `ltb up` with the lab's file to bring it up; `ltb status {}` "
                            "shows the lab",
                            lab));
  }
  const LabPaths paths{lab_dir};
  const NodeLogin login = login_of(*lab_record, *record, lab_dir);
  if (!login.sshd) {
    return fail(fmt::format("node '{}' of lab '{}' runs no ssh server (kind {}, image {})", node,
                            lab, record->kind, record->image.empty() ? "-" : record->image),
                fmt::format("run commands in it with `ltb exec {} -- sh` (Docker's exec); a node "
                            "whose image has one gets the label ltb-sshd: \"true\"",
                            node));
  }
  SshTarget target;
  target.lab = lab;
  target.node = node;
  target.host = record->mgmt_ipv4;
  target.user = login.username.empty() ? "root" : login.username;
  target.password = login.password;
  target.user_key_file = login.ssh_key;
  std::error_code ec;
  if (fs::exists(paths.private_key(), ec)) {
    target.key_file = paths.private_key();
  }
  target.known_hosts_file = paths.known_hosts();
  target.runtime_id = record->runtime_id;
  target.kind = record->kind;
  if (topology::runtime_of_kind(record->kind) == topology::Runtime::vm) {
    target.console_log = paths.console_log(node);
  }
  return target;
}

// --- the session --------------------------------------------------------------------------------

struct SshSession::Impl {
  SessionPtr session;
  int fd = -1;     // the TCP connection, handed to libssh
  ino_t inode = 0; // of that socket, to know it again
  std::string auth_method;
  ~Impl() {
    // libssh closes a socket it was given (SSH_OPTIONS_FD) on some paths and forgets it on
    // others (ssh_disconnect before the handshake ends). Closing a descriptor number that another
    // thread has reused meanwhile would close theirs: close it only while it is our socket.
    session.reset();
    struct stat info {};
    if (fd >= 0 && ::fstat(fd, &info) == 0 && info.st_ino == inode) {
      ::close(fd);
    }
  }
};

SshSession::SshSession(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
SshSession::SshSession(SshSession &&other) noexcept = default;
SshSession &SshSession::operator=(SshSession &&other) noexcept = default;
SshSession::~SshSession() = default;

const std::string &SshSession::auth_method() const {
  return m_impl->auth_method;
}

namespace {

/// Checks the server's host key against the lab's known_hosts (ltb's rules).
tl::expected<void, SshError> check_server_key(ssh_session session, const SshTarget &target) {
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(session, &raw) != SSH_OK || !raw) {
    return tl::unexpected(ssh_error(SshFailure::session,
                                    fmt::format("{} did not show a host key", node_label(target))));
  }
  KeyPtr key(raw);
  char *b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key.get(), &b64) != SSH_OK || !b64) {
    return tl::unexpected(ssh_error(
        SshFailure::session, fmt::format("cannot read the host key of {}", node_label(target))));
  }
  HostKey presented{ssh_key_type_to_char(ssh_key_type(key.get())), b64};
  ssh_string_free_char(b64);
  const std::string host = host_field(target.host, target.port);
  std::optional<HostKey> vouched;
  if (!target.console_log.empty()) {
    // Read only when the key is not the recorded one: a console log can be long.
    const auto current = read_known_hosts(target.known_hosts_file);
    const bool known = std::any_of(current.lines.begin(), current.lines.end(), [&](const auto &l) {
      return l.matches(host) && l.key == presented;
    });
    if (!known) {
      vouched = console_host_key(read_file(target.console_log));
    }
  }
  auto verdict = verify_host_key(target.known_hosts_file, host, presented, target.node,
                                 target.runtime_id, vouched);
  if (!verdict) {
    return tl::unexpected(SshError{SshFailure::host_key, verdict.error()});
  }
  return {};
}

/// Answers every keyboard-interactive prompt with the password (servers that offer only that).
int password_by_kbdint(ssh_session session, const std::string &password) {
  int rc = ssh_userauth_kbdint(session, nullptr, nullptr);
  for (int rounds = 0; rc == SSH_AUTH_INFO && rounds < 5; ++rounds) {
    const int prompts = ssh_userauth_kbdint_getnprompts(session);
    for (int i = 0; i < prompts; ++i) {
      ssh_userauth_kbdint_setanswer(session, static_cast<unsigned>(i), password.c_str());
    }
    rc = ssh_userauth_kbdint(session, nullptr, nullptr);
  }
  return rc;
}

std::string methods_text(int methods) {
  std::string out;
  auto add = [&](int bit, const char *name) {
    if (methods & bit) {
      out += (out.empty() ? "" : ",") + std::string(name);
    }
  };
  add(SSH_AUTH_METHOD_PUBLICKEY, "publickey");
  add(SSH_AUTH_METHOD_PASSWORD, "password");
  add(SSH_AUTH_METHOD_INTERACTIVE, "keyboard-interactive");
  add(SSH_AUTH_METHOD_HOSTBASED, "hostbased");
  add(SSH_AUTH_METHOD_GSSAPI_MIC, "gssapi-with-mic");
  return out.empty() ? "none" : out;
}

/// Keys, then the password; never a prompt. Returns the method that worked.
tl::expected<std::string, SshError> authenticate(ssh_session session, const SshTarget &target) {
  auto lost = [&]() {
    return tl::unexpected(ssh_error(
        SshFailure::session, fmt::format("{} closed the connection during authentication: {}",
                                         node_label(target), ssh_get_error(session))));
  };
  int rc = ssh_userauth_none(session, nullptr);
  if (rc == SSH_AUTH_SUCCESS) {
    return std::string("none");
  }
  if (rc == SSH_AUTH_ERROR) {
    return lost();
  }
  const int methods = ssh_userauth_list(session, nullptr);
  std::vector<std::string> tried;
  std::vector<std::pair<std::string, std::string>> keys; // file, what it is
  if (!target.user_key_file.empty()) {
    keys.emplace_back(target.user_key_file, "the node's ssh-key");
  }
  if (!target.key_file.empty()) {
    keys.emplace_back(target.key_file, "the lab's key");
  }
  if (methods & SSH_AUTH_METHOD_PUBLICKEY) {
    for (const auto &[file, what] : keys) {
      ssh_key raw = nullptr;
      // No passphrase and no callback: ltb never prompts, an encrypted key is skipped.
      if (ssh_pki_import_privkey_file(file.c_str(), nullptr, nullptr, nullptr, &raw) != SSH_OK) {
        tried.push_back(
            fmt::format("publickey with {} {} (unreadable, or it has a passphrase)", what, file));
        continue;
      }
      KeyPtr key(raw);
      rc = ssh_userauth_publickey(session, nullptr, key.get());
      if (rc == SSH_AUTH_SUCCESS) {
        return fmt::format("publickey ({})", file);
      }
      if (rc == SSH_AUTH_ERROR) {
        return lost();
      }
      tried.push_back(fmt::format("publickey with {}", what));
    }
  }
  if (!target.password.empty()) {
    if (methods & SSH_AUTH_METHOD_PASSWORD) {
      rc = ssh_userauth_password(session, nullptr, target.password.c_str());
      if (rc == SSH_AUTH_SUCCESS) {
        return std::string("password");
      }
      if (rc == SSH_AUTH_ERROR) {
        return lost();
      }
      tried.push_back("password");
    } else if (methods & SSH_AUTH_METHOD_INTERACTIVE) {
      rc = password_by_kbdint(session, target.password);
      if (rc == SSH_AUTH_SUCCESS) {
        return std::string("keyboard-interactive");
      }
      if (rc == SSH_AUTH_ERROR) {
        return lost();
      }
      tried.push_back("keyboard-interactive with the password");
    }
  }
  std::string list;
  for (const auto &item : tried) {
    list += (list.empty() ? "" : ", ") + item;
  }
  return tl::unexpected(ssh_error(
      SshFailure::auth,
      fmt::format("authentication failed for {}@{} ({}): tried {}; the node accepts {}",
                  target.user, target.node, host_field(target.host, target.port),
                  list.empty() ? "nothing it accepts" : list, methods_text(methods)),
      fmt::format("check username, password and ssh-key of node '{}' in the topology file; ltb "
                  "puts the lab's key in a container when it creates it (a notice of `ltb up` "
                  "says when it could not)",
                  target.node)));
}

} // namespace

tl::expected<SshSession, SshError> SshSession::open(const SshTarget &target) {
  auto impl = std::make_unique<Impl>();
  auto fd = tcp_connect(target.host, target.port, target.timeout_seconds);
  if (!fd) {
    return tl::unexpected(connect_error(target, fd.error()));
  }
  impl->fd = *fd;
  struct stat info {};
  if (::fstat(impl->fd, &info) == 0) {
    impl->inode = info.st_ino;
  }
  impl->session.reset(ssh_new());
  ssh_session session = impl->session.get();
  if (!session) {
    return tl::unexpected(ssh_error(SshFailure::session, "cannot create an ssh session"));
  }
  const long timeout = target.timeout_seconds;
  const bool process_config = false;
  const int yes = 1;
  const std::string algorithms = host_key_algorithms(read_known_hosts(target.known_hosts_file),
                                                     host_field(target.host, target.port));
  const unsigned port = static_cast<unsigned>(target.port);
  socket_t socket = impl->fd;
  // The user's ssh configuration and known_hosts files play no part: the lab's are ltb's.
  if (ssh_options_set(session, SSH_OPTIONS_PROCESS_CONFIG, &process_config) < 0 ||
      ssh_options_set(session, SSH_OPTIONS_HOST, target.host.c_str()) < 0 ||
      ssh_options_set(session, SSH_OPTIONS_PORT, &port) < 0 ||
      ssh_options_set(session, SSH_OPTIONS_USER,
                      target.user.empty() ? "root" : target.user.c_str()) < 0 ||
      ssh_options_set(session, SSH_OPTIONS_FD, &socket) < 0 ||
      ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout) < 0 ||
      ssh_options_set(session, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") < 0 ||
      ssh_options_set(session, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0 ||
      ssh_options_set(session, SSH_OPTIONS_HOSTKEYS, algorithms.c_str()) < 0 ||
      ssh_options_set(session, SSH_OPTIONS_NODELAY, &yes) < 0) {
    return tl::unexpected(
        ssh_error(SshFailure::session, fmt::format("cannot set up an ssh session to {}: {}",
                                                   node_label(target), ssh_get_error(session))));
  }
  if (ssh_connect(session) != SSH_OK) {
    const std::string why = ssh_get_error(session);
    if (why.find("imeout") != std::string::npos) {
      return tl::unexpected(connect_error(target, ETIMEDOUT));
    }
    return tl::unexpected(
        ssh_error(SshFailure::session,
                  fmt::format("ssh handshake with {} failed: {}", node_label(target), why),
                  "the node's ssh server may still be starting; try again in a few seconds"));
  }
  if (auto checked = check_server_key(session, target); !checked) {
    return tl::unexpected(checked.error());
  }
  auto method = authenticate(session, target);
  if (!method) {
    return tl::unexpected(method.error());
  }
  impl->auth_method = *method;
  return SshSession(std::move(impl));
}

Result<int> SshSession::run(const std::string &command, const SessionIo &io) {
  ssh_session session = m_impl->session.get();
  // Declared before the channel, so that they outlive it: freeing a channel may still run its
  // callbacks.
  ChannelState state;
  ssh_channel_callbacks_struct callbacks{};
  ChannelPtr channel(ssh_channel_new(session));
  if (!channel || ssh_channel_open_session(channel.get()) != SSH_OK) {
    return fail(fmt::format("cannot open an ssh channel: {}", ssh_get_error(session)));
  }
  state.io = &io;
  state.channel = channel.get();
  callbacks.userdata = &state;
  callbacks.channel_data_function = on_channel_data;
  callbacks.channel_close_function = on_channel_close;
  callbacks.channel_exit_status_function = on_exit_status;
  callbacks.channel_exit_signal_function = on_exit_signal;
  ssh_callbacks_init(&callbacks);
  ssh_set_channel_callbacks(channel.get(), &callbacks);

  const bool terminal = io.pty && io.in_fd >= 0 && isatty(io.in_fd);
  if (io.pty) {
    const char *term = std::getenv("TERM");
    const auto [columns, rows] = window_size(io.in_fd);
    if (ssh_channel_request_pty_size(channel.get(), term && *term ? term : "xterm", columns,
                                     rows) != SSH_OK) {
      return fail(fmt::format("the node refused a terminal (PTY): {}", ssh_get_error(session)));
    }
  }
  const int requested = command.empty() ? ssh_channel_request_shell(channel.get())
                                        : ssh_channel_request_exec(channel.get(), command.c_str());
  if (requested != SSH_OK) {
    return fail(fmt::format("the node refused to run {}: {}",
                            command.empty() ? std::string("a shell") : "`" + command + "`",
                            ssh_get_error(session)));
  }

  EventPtr event(ssh_event_new());
  if (!event || ssh_event_add_session(event.get(), session) != SSH_OK) {
    return fail("cannot watch the ssh session");
  }
  // The input is watched only while there is room for more: while a chunk waits for the remote
  // window, the loop polls the session alone (output, window adjustments).
  bool stdin_watched = false;
  if (io.in_fd < 0) {
    state.input_ended = true;
  }
  auto watch_stdin = [&](bool wanted) {
    if (wanted == stdin_watched) {
      return;
    }
    if (!wanted) {
      ssh_event_remove_fd(event.get(), io.in_fd);
      stdin_watched = false;
    } else if (ssh_event_add_fd(event.get(), io.in_fd, POLLIN, on_stdin, &state) == SSH_OK) {
      stdin_watched = true;
    } else {
      state.input_ended = true;
    }
  };
  std::optional<WinchPipe> winch;
  std::optional<RawTerminal> raw;
  WinchContext winch_context{nullptr, channel.get(), io.in_fd};
  if (terminal) {
    winch.emplace();
    if (winch->read_fd() >= 0) {
      winch_context.pipe = &*winch;
      ssh_event_add_fd(event.get(), winch->read_fd(), POLLIN, on_winch, &winch_context);
    }
    raw.emplace(io.in_fd);
  }

  std::string error;
  while (!state.closed && !ssh_channel_is_closed(channel.get())) {
    // Removed and added here, not in its callback: the event is being walked while callbacks run.
    if (state.input_ended || !state.pending.empty()) {
      watch_stdin(false);
    }
    send_pending(state);
    watch_stdin(!state.input_ended && state.pending.empty());
    errno = 0;
    const int rc = ssh_event_dopoll(event.get(), 1000);
    if (rc == SSH_ERROR) {
      if (errno == EINTR) {
        continue;
      }
      if (!(ssh_get_status(session) & (SSH_CLOSED | SSH_CLOSED_ERROR))) {
        continue;
      }
      error = ssh_get_error(session);
      break;
    }
    if (ssh_get_status(session) & (SSH_CLOSED | SSH_CLOSED_ERROR)) {
      error = ssh_get_error(session);
      break;
    }
  }
  watch_stdin(false);
  if (winch && winch->read_fd() >= 0) {
    ssh_event_remove_fd(event.get(), winch->read_fd());
  }
  ssh_event_remove_session(event.get(), session);
  raw.reset(); // the terminal comes back before anything is printed about the end
  if (!state.closed && !state.have_status) {
    return fail(
        fmt::format("the connection to the node was lost{}{}", error.empty() ? "" : ": ", error),
        "the node may have been stopped or recreated; see `ltb status`");
  }
  ssh_channel_close(channel.get());
  if (state.have_status) {
    return state.exit_status;
  }
  if (!state.exit_signal.empty()) {
    return signal_exit_status(state.exit_signal);
  }
  return fail("the node closed the session without an exit status",
              "the command may have been killed; its status is unknown");
}

Result<int> ssh_exec(const SshTarget &target, const std::string &command,
                     const std::function<void(std::string_view)> &on_out,
                     const std::function<void(std::string_view)> &on_err) {
  auto session = SshSession::open(target);
  if (!session) {
    return fail(session.error().error);
  }
  SessionIo io;
  io.on_out = on_out;
  io.on_err = on_err;
  return session->run(command, io);
}

} // namespace ltb::access
