#include "server/server.hpp"

// <utility> must come before boost/asio.hpp: GCC 12 with -std=c++20 fails otherwise (HOST.md).
// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on

#include "server/command.hpp"
#include "server/forkserver.hpp"
#include "server/frame.hpp"
#include "server/router.hpp"
#include "service/status.hpp"
#include "service/users.hpp"
#include "service/version.hpp"
#include "util/exec.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <grp.h>
#include <mutex>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <pwd.h>
#include <random>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace ltb::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using local = asio::local::stream_protocol;
using nlohmann::json;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct Peer {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
};

Response json_response(http::status status, const json &body, unsigned version, bool keep_alive) {
  Response res{status, version};
  res.set(http::field::server, "ltb/" LTB_VERSION);
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = body.dump() + "\n";
  res.prepare_payload();
  return res;
}

json error_json(const std::string &message, const std::string &help) {
  return {{"error", message}, {"help", help.empty() ? json(nullptr) : json(help)}};
}

/// A use case's error, with the exit code a direct run ends with (the client ends with it too).
json error_json(const Error &error) {
  auto out = error_json(error.message, error.help);
  out["exit"] = static_cast<int>(error.code);
  return out;
}

http::status status_of(const Error &error) {
  return error.code == ExitCode::usage ? http::status::bad_request
                                       : http::status::internal_server_error;
}

/// Writes a whole buffer to a blocking fd; false when the peer is gone.
/// Sends all of DATA. The connection's socket is non-blocking (asio made it so for the request's
/// timeouts): a full send buffer waits for the client to read, up to a minute.
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd pfd{fd, POLLOUT, 0};
      if (::poll(&pfd, 1, 60000) <= 0 || (pfd.revents & (POLLERR | POLLHUP))) {
        return false; // a client that reads nothing for a minute is gone
      }
      continue;
    }
    if (n <= 0) {
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// A request's private directory under the socket's directory: /run/ltb/req-XXXX.
std::string request_dir(const ServeOptions &options) {
  static std::mt19937_64 random{std::random_device{}()};
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  return (fs::path(options.socket_path).parent_path() / fmt::format("req-{:016x}", random()))
      .string();
}

class Daemon {
public:
  Daemon(const ServeOptions &options, const Identify &identify, const std::atomic<bool> &stop,
         const std::function<void(const std::string &)> &log)
      : m_options(options), m_identify(identify), m_stop(stop), m_log(log) {
    m_context.state_path = options.state_path;
    m_context.wait_seconds = options.wait_seconds;
  }

  void connection(int fd);

private:
  /// Serves one request; false ends the connection.
  bool serve_one(local::socket &socket, beast::flat_buffer &buffer, asio::io_context &io,
                 const Peer &peer);
  Response handle(const Request &request, const RouteMatch &match, const Peer &peer);
  void command(local::socket &socket, const Request &request, beast::flat_buffer &buffer,
               const Peer &peer);

  const ServeOptions &m_options;
  const Identify &m_identify;
  const std::atomic<bool> &m_stop;
  const std::function<void(const std::string &)> &m_log;
  service::Context m_context;
};

/// Runs an async operation on the connection's own io_context until it completes or `timeout`
/// passes; then it is cancelled (the socket stays open, for the 408) and `beast::error::timeout`
/// returned.
template <class Start>
beast::error_code run_op(asio::io_context &io, local::socket &socket,
                         std::chrono::milliseconds timeout, Start start) {
  beast::error_code result = asio::error::would_block;
  start([&result](beast::error_code ec, std::size_t) { result = ec; });
  io.restart();
  io.run_for(timeout);
  if (result == asio::error::would_block) {
    beast::error_code ignored;
    socket.cancel(ignored);
    io.restart();
    io.run();
    return beast::error::timeout;
  }
  return result;
}

void Daemon::connection(int fd) {
  Peer peer;
  struct ucred cred {};
  socklen_t length = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) {
    ::close(fd);
    return;
  }
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  peer.pid = cred.pid;
  asio::io_context io;
  local::socket socket(io);
  beast::error_code ec;
  socket.assign(local(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  beast::flat_buffer buffer;
  while (!m_stop.load() && serve_one(socket, buffer, io, peer)) {
  }
  socket.shutdown(local::socket::shutdown_both, ec);
  socket.close(ec);
}

bool Daemon::serve_one(local::socket &socket, beast::flat_buffer &buffer, asio::io_context &io,
                       const Peer &peer) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(m_options.header_limit);
  parser.body_limit(m_options.body_limit);
  auto reply = [&](const Response &res) {
    run_op(io, socket, std::chrono::seconds(30),
           [&](auto handler) { http::async_write(socket, res, handler); });
  };
  // An error answer, after which the connection ends (what else the client sent is not read).
  auto refuse = [&](http::status status, const std::string &message, const std::string &help,
                    unsigned version = 11) {
    reply(json_response(status, error_json(message, help), version, false));
    return false;
  };
  const auto too_large = [&] {
    return refuse(http::status::payload_too_large,
                  fmt::format("the request's body is over {} MiB", m_options.body_limit >> 20),
                  "send smaller files (a lab's files, not images)");
  };
  auto ec = run_op(io, socket, m_options.header_timeout,
                   [&](auto handler) { http::async_read_header(socket, buffer, parser, handler); });
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset) {
    return false; // the client closed between requests
  }
  if (ec == beast::error::timeout) {
    return refuse(http::status::request_timeout, "the request's head did not arrive in time",
                  "send the whole request head at once");
  }
  if (ec == http::error::header_limit) {
    return refuse(http::status::request_header_fields_too_large,
                  fmt::format("the request's head is over {} bytes", m_options.header_limit),
                  "send shorter headers");
  }
  if (ec == http::error::body_limit) {
    return too_large();
  }
  if (ec) {
    return refuse(http::status::bad_request,
                  fmt::format("malformed HTTP request: {}", ec.message()),
                  "send HTTP/1.1 (see schemas/ltb-api.openapi.json)");
  }
  const auto &head = parser.get();
  const std::string method(head.method_string());
  const std::string target(head.target());
  const auto match = match_route(method, target);
  if (!match.route) {
    const bool path = match.path_matched;
    // The body (if any) is not read: the connection ends after the answer.
    return refuse(path ? http::status::method_not_allowed : http::status::not_found,
                  path ? fmt::format("{} is not allowed on {}", method, target)
                       : fmt::format("no route {} {}", method, target),
                  "the routes are in schemas/ltb-api.openapi.json", head.version());
  }
  if (!parser.is_done()) {
    ec = run_op(io, socket, m_options.body_timeout,
                [&](auto handler) { http::async_read(socket, buffer, parser, handler); });
    if (ec == http::error::body_limit) {
      return too_large();
    }
    if (ec == beast::error::timeout) {
      return refuse(http::status::request_timeout, "the request's body did not arrive in time",
                    "send the body without pauses");
    }
    if (ec == http::error::partial_message || ec == asio::error::eof ||
        ec == asio::error::connection_reset) {
      return false; // the client went away in the middle
    }
    if (ec) {
      return refuse(http::status::bad_request,
                    fmt::format("malformed HTTP request body: {}", ec.message()),
                    "send HTTP/1.1 (see schemas/ltb-api.openapi.json)");
    }
  }
  const Request request = parser.release();
  if (match.route->id == RouteId::commands) {
    command(socket, request, buffer, peer);
    return false;
  }
  const auto res = handle(request, match, peer);
  reply(res);
  return res.keep_alive();
}

Response Daemon::handle(const Request &request, const RouteMatch &match, const Peer &peer) {
  const auto version = request.version();
  const bool keep = request.keep_alive();
  if (match.route->id == RouteId::version) {
    return json_response(http::status::ok, {{"ltb", LTB_VERSION}, {"api", "v1"}}, version, keep);
  }
  auto caller = m_identify(m_context, peer.uid);
  if (!caller) {
    return json_response(http::status::forbidden, error_json(caller.error()), version, keep);
  }
  if (match.route->id == RouteId::whoami) {
    return json_response(http::status::ok, service::caller_json(*caller), version, keep);
  }
  service::CancelToken cancel;
  service::NullSink sink;
  const service::Session session{m_context, *caller, cancel, sink};
  if (match.route->id == RouteId::labs) {
    // ?all=true and ?owner=NAME: `ltb status --all`, `--owner NAME`
    const auto query = query_params(std::string(request.target()));
    const auto refuse_query = [&](const std::string &message) {
      return json_response(http::status::bad_request,
                           error_json(message, "GET /v1/labs takes all=true|false and owner=NAME"),
                           version, keep);
    };
    if (!query) {
      return refuse_query("malformed query (a bad %-escape)");
    }
    service::OwnerFilter filter;
    for (const auto &[name, value] : *query) {
      if (name == "all" && (value == "true" || value == "false")) {
        filter.all = value == "true";
      } else if (name == "owner" && !value.empty()) {
        filter.owner = value;
      } else {
        return refuse_query(fmt::format("unknown query parameter {}={}", name, value));
      }
    }
    auto overview = service::status_all(session, filter);
    if (!overview) {
      return json_response(status_of(overview.error()), error_json(overview.error()), version,
                           keep);
    }
    return json_response(http::status::ok, service::status_json(*overview), version, keep);
  }
  auto status = service::status_lab(session, match.params.at("lab"));
  if (!status) {
    const bool missing = status.error().message.rfind("no lab named", 0) == 0;
    return json_response(missing ? http::status::not_found : status_of(status.error()),
                         error_json(status.error()), version, keep);
  }
  return json_response(http::status::ok, service::status_json(*status), version, keep);
}

/// The command's streams and the client's frames, until the command ends or the client goes.
class CommandSession {
public:
  CommandSession(int socket, const util::Child &child, bool pty, std::chrono::milliseconds grace,
                 const std::atomic<bool> &stop, std::function<int(pid_t, bool)> wait)
      : m_socket(socket), m_child(child), m_pty(pty), m_grace(grace), m_stop(stop),
        m_wait(std::move(wait)) {}

  CommandSession(const CommandSession &) = delete;
  CommandSession &operator=(const CommandSession &) = delete;
  /// Reaps the command if its code came through its status pipe (after the answer was sent).
  ~CommandSession() {
    if (m_child.status >= 0) {
      ::close(m_child.status);
    }
    if (!m_reaped) {
      reap(true);
    }
  }

  /// The exit code, or nullopt when the client went away (the command was stopped then).
  std::optional<int> run(const std::string &early_bytes);
  bool send(Stream stream, std::string_view payload) {
    return write_all(m_socket, encode(stream, payload));
  }

private:
  void stop_child();
  /// m_wait's answer (-2: it still runs); remembers that the command was reaped.
  int reap(bool block) {
    const int code = m_wait(m_child.pid, block);
    m_reaped = m_reaped || code != -2;
    return code;
  }
  enum class Read { ok, eof, bad };
  Read from_client();

  int m_socket;
  util::Child m_child;
  bool m_pty;
  std::chrono::milliseconds m_grace;
  const std::atomic<bool> &m_stop;
  std::function<int(pid_t, bool)> m_wait; // util::wait_child, or the fork server's
  Decoder m_decoder;
  std::string m_stdin; // waiting for the child to read
  bool m_stdin_eof = false;
  std::optional<int> m_code;
  bool m_reaped = false;
  // The client half-closed (its Ctrl-C, or it is gone): the command was interrupted then, and
  // gets the grace period to end before SIGKILL.
  std::optional<std::chrono::steady_clock::time_point> m_interrupted_at;
};

void CommandSession::stop_child() {
  // The command's own cancellation: SIGINT to its process group (as Ctrl-C would), then SIGKILL.
  // Once only: a second SIGINT would reach what the command runs to clean up (an ovs-vsctl
  // removing a capture's mirror) and leave its objects behind.
  if (!m_interrupted_at) {
    ::kill(-m_child.pid, SIGINT);
    m_interrupted_at = std::chrono::steady_clock::now();
  }
  const auto deadline = *m_interrupted_at + m_grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (m_reaped || reap(false) != -2) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(-m_child.pid, SIGKILL);
  reap(true);
}

CommandSession::Read CommandSession::from_client() {
  char data[65536];
  const ssize_t n = ::recv(m_socket, data, sizeof(data), 0);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
    return Read::ok;
  }
  if (n == 0) {
    return Read::eof;
  }
  if (n < 0) {
    return Read::bad;
  }
  m_decoder.feed(std::string_view(data, static_cast<std::size_t>(n)));
  for (;;) {
    auto frame = m_decoder.next();
    if (!frame) {
      return Read::bad;
    }
    if (!*frame) {
      return Read::ok;
    }
    const auto &f = **frame;
    if (f.stream == Stream::stdin_data && !m_stdin_eof) {
      m_stdin += f.payload;
    } else if (f.stream == Stream::stdin_eof) {
      m_stdin_eof = true;
      if (m_pty) {
        m_stdin += '\x04'; // the terminal's end-of-file character
      }
    } else if (f.stream == Stream::resize && m_pty) {
      auto size = json::parse(f.payload, nullptr, false);
      if (size.is_object() && size.value("rows", 0) > 0 && size.value("cols", 0) > 0) {
        util::set_terminal_size(m_child.in, static_cast<unsigned short>(size.value("rows", 24)),
                                static_cast<unsigned short>(size.value("cols", 80)));
      }
    }
  }
}

std::optional<int> CommandSession::run(const std::string &early_bytes) {
  m_decoder.feed(early_bytes);
  int out = m_child.out;
  int err = m_child.err;
  int in = m_child.in;
  ::fcntl(in, F_SETFL, ::fcntl(in, F_GETFL) | O_NONBLOCK);
  auto close_in = [&] {
    if (in >= 0 && in != out) {
      ::close(in);
    }
    in = -1;
  };
  std::optional<std::chrono::steady_clock::time_point> exited_at;
  // Readable when the command ends, so that its end wakes the loop at once (without it, the
  // poll's timeout would add up to 100 ms to every command).
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, m_child.pid, 0));
  struct PidfdCloser {
    int &fd;
    ~PidfdCloser() {
      if (fd >= 0) {
        ::close(fd);
      }
    }
  } pidfd_closer{pidfd};
  bool client = true;
  for (;;) {
    if (m_stop.load()) {
      client = false;
    }
    if (!client) {
      break;
    }
    if (!m_pty && m_stdin_eof && m_stdin.empty() && in >= 0) {
      close_in();
    }
    if (!exited_at) {
      const int code = reap(false);
      if (code != -2) {
        m_code = m_code.value_or(code); // the command's own word, if it said it
        exited_at = std::chrono::steady_clock::now();
      }
    }
    // What the command's background children keep open does not hold the answer back long.
    if ((out < 0 && err < 0 && m_code) ||
        (exited_at &&
         std::chrono::steady_clock::now() - *exited_at > std::chrono::milliseconds(200))) {
      break;
    }
    if (m_interrupted_at && !m_code &&
        std::chrono::steady_clock::now() - *m_interrupted_at > m_grace) {
      ::kill(-m_child.pid, SIGKILL);
    }
    pollfd fds[6];
    nfds_t count = 0;
    fds[count++] = {m_socket, static_cast<short>(m_interrupted_at ? 0 : POLLIN), 0};
    const nfds_t out_at = out >= 0 ? count : 99;
    if (out >= 0) {
      fds[count++] = {out, POLLIN, 0};
    }
    const nfds_t err_at = err >= 0 ? count : 99;
    if (err >= 0) {
      fds[count++] = {err, POLLIN, 0};
    }
    const nfds_t in_at = in >= 0 && !m_stdin.empty() && !m_pty ? count : 99;
    if (in_at != 99) {
      fds[count++] = {in, POLLOUT, 0};
    }
    const nfds_t pidfd_at = pidfd >= 0 && !exited_at ? count : 99;
    if (pidfd_at != 99) {
      fds[count++] = {pidfd, POLLIN, 0};
    }
    const nfds_t status_at = m_child.status >= 0 && !m_code ? count : 99;
    if (status_at != 99) {
      fds[count++] = {m_child.status, POLLIN, 0};
    }
    if (m_pty && !m_stdin.empty() && in >= 0) {
      fds[out_at].events |= POLLOUT;
    }
    ::poll(fds, count, m_code ? 20 : 100);
    if (status_at != 99 && (fds[status_at].revents & (POLLIN | POLLHUP | POLLERR))) {
      // The command's own word on its code, written as it exits: no wait for the fork server's
      // reap and its message (the reap comes after the answer). Nothing there (a signal ended
      // it): the reap tells.
      int code = 0;
      if (::read(m_child.status, &code, sizeof(code)) == sizeof(code)) {
        m_code = code; // its output still comes, until its end closes the pipes
      }
      ::close(m_child.status);
      m_child.status = -1;
    }
    if (pidfd_at != 99 && (fds[pidfd_at].revents & POLLIN)) {
      // It ended: its code is the reaper's to tell, at once (the fork server's comes by message),
      // unless the command said it already.
      if (!m_code) {
        m_code = reap(true);
      }
      exited_at = std::chrono::steady_clock::now();
    }
    if (!m_interrupted_at && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      const auto read = from_client();
      if (read == Read::bad) {
        client = false;
        break;
      }
      if (read == Read::eof) {
        // The command's own cancellation, as Ctrl-C: what it still writes, its output files
        // and its exit code follow, if the client still reads.
        ::kill(-m_child.pid, SIGINT);
        m_interrupted_at = std::chrono::steady_clock::now();
        if (in >= 0 && !m_pty) {
          m_stdin.clear();
          close_in();
        }
      }
    }
    auto drain = [&](int &fd, nfds_t at, Stream stream) {
      if (at == 99 || !(fds[at].revents & (POLLIN | POLLHUP | POLLERR))) {
        return true;
      }
      char data[65536];
      const ssize_t n = ::read(fd, data, sizeof(data));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return true;
      }
      if (n <= 0) { // EOF, or EIO from a pty whose last holder closed it
        if (fd == in) {
          in = -1;
        }
        ::close(fd);
        fd = -1;
        return true;
      }
      return send(stream, std::string_view(data, static_cast<std::size_t>(n)));
    };
    if (m_pty && out_at != 99 && (fds[out_at].revents & POLLOUT) && !m_stdin.empty()) {
      const ssize_t n = ::write(out, m_stdin.data(), m_stdin.size());
      if (n > 0) {
        m_stdin.erase(0, static_cast<std::size_t>(n));
      }
    }
    if (in_at != 99 && (fds[in_at].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t n = ::write(in, m_stdin.data(), m_stdin.size());
      if (n > 0) {
        m_stdin.erase(0, static_cast<std::size_t>(n));
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        m_stdin.clear(); // the command does not read its input any more
        close_in();
      }
    }
    if (!drain(out, out_at, Stream::stdout_data) || !drain(err, err_at, Stream::stderr_data)) {
      client = false;
      break;
    }
  }
  for (int fd : {out, err, in}) {
    if (fd >= 0 && !(fd == in && in == out)) {
      ::close(fd);
    }
  }
  if (!client) {
    if (!m_code) {
      stop_child();
    }
    return std::nullopt;
  }
  return m_code;
}

void Daemon::command(local::socket &socket, const Request &request, beast::flat_buffer &buffer,
                     const Peer &peer) {
  const auto version = request.version();
  const int fd = socket.native_handle();
  auto refuse = [&](http::status status, const std::string &message, const std::string &help) {
    const auto res = json_response(status, error_json(message, help), version, false);
    std::ostringstream text;
    text << res;
    write_all(fd, text.str());
  };
  auto upgrade = request[http::field::upgrade];
  if (!beast::iequals(upgrade, "ltb-stream/1")) {
    refuse(http::status::upgrade_required, "POST /v1/commands upgrades the connection",
           "send Connection: Upgrade and Upgrade: ltb-stream/1");
    return;
  }
  auto caller = m_identify(m_context, peer.uid);
  if (!caller) {
    refuse(http::status::forbidden, caller.error().message, caller.error().help);
    return;
  }
  auto parsed = parse_command_request(request.body());
  if (!parsed) {
    refuse(http::status::bad_request, parsed.error().message, parsed.error().help);
    return;
  }
  if (auto refusal = refuse_argv(parsed->argv)) {
    refuse(http::status::forbidden, refusal->message, refusal->help);
    return;
  }
  const auto dir = request_dir(m_options);
  auto workspace = materialize(*parsed, dir);
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};
  if (!workspace) {
    refuse(http::status::internal_server_error, workspace.error().message, workspace.error().help);
    return;
  }
  std::vector<std::string> argv{m_options.ltb_binary, "--state", m_options.state_path};
  argv.insert(argv.end(), workspace->argv.begin(), workspace->argv.end());
  util::SpawnOptions spawn;
  spawn.env = {fmt::format("LTB_CALLER_UID={}", peer.uid),
               "LTB_CALLER=" + service::caller_json(*caller).dump(), "LTB_REMOTE=1",
               "LTB_REMOTE_DIR=" + dir, "PWD=" + workspace->cwd};
  if (!workspace->origins.empty()) {
    spawn.env.push_back("LTB_REMOTE_ORIGINS=" + json(workspace->origins).dump());
  }
  if (parsed->tty) {
    spawn.pty = true;
    spawn.rows = parsed->tty->rows;
    spawn.cols = parsed->tty->cols;
    spawn.env.push_back("TERM=xterm-256color");
  }
  // The child starts in the request's working directory: spawn() runs it from the daemon's, so
  // the daemon's own cwd is the request's while it forks (one at a time).
  static std::mutex cwd_mutex;
  Result<util::Child> child = fail("not started");
  auto *forks = ForkServer::instance();
  std::function<int(pid_t, bool)> wait = util::wait_child;
  if (forks) {
    // A fork of the pristine `ltb` the fork server holds: no exec, no loading (see forkserver).
    child = forks->spawn(argv, spawn, workspace->cwd);
    wait = [forks](pid_t pid, bool block) { return forks->wait(pid, block); };
  } else {
    std::lock_guard lock(cwd_mutex);
    const auto previous = fs::current_path();
    std::error_code ec;
    fs::current_path(workspace->cwd, ec);
    child = util::spawn(argv, spawn);
    fs::current_path(previous, ec);
  }
  if (!child) {
    refuse(http::status::internal_server_error, child.error().message, child.error().help);
    return;
  }
  write_all(fd,
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ltb-stream/1\r\n"
            "Server: ltb/" LTB_VERSION "\r\n\r\n");
  const std::string early(static_cast<const char *>(buffer.data().data()), buffer.size());
  buffer.consume(buffer.size());
  m_log(fmt::format("uid {} ({}): ltb {}", peer.uid, caller->name, fmt::join(parsed->argv, " ")));
  CommandSession session(fd, *child, spawn.pty, m_options.grace, m_stop, wait);
  const auto code = session.run(early);
  if (!code) {
    m_log(fmt::format("uid {}: client gone; command stopped (pid {})", peer.uid, child->pid));
    return;
  }
  for (const auto &output : collect_outputs(*workspace)) {
    std::ifstream in(output.abs, std::ios::binary);
    std::string chunk(256 * 1024, '\0');
    bool first = true;
    while (in || first) {
      in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      const auto got = static_cast<std::size_t>(in.gcount());
      if (got == 0 && !first) {
        break;
      }
      if (!session.send(Stream::file_out, file_out_payload(output.file, output.path,
                                                           std::string_view(chunk.data(), got)))) {
        return;
      }
      first = false;
    }
  }
  session.send(Stream::exit, json{{"code", *code}}.dump());
}

/// Whether something answers on the socket (another daemon).
bool answering(const std::string &path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

/// The listening socket systemd passed (socket activation, sd_listen_fds(3)'s protocol: fd 3
/// when LISTEN_PID is this process); -1 when there is none. The variables are dropped so that the
/// daemon's children do not take the socket for theirs.
int activated_socket() {
  const char *pid = std::getenv("LISTEN_PID");
  const char *fds = std::getenv("LISTEN_FDS");
  const bool ours = pid && fds && std::strtol(pid, nullptr, 10) == ::getpid() &&
                    std::strtol(fds, nullptr, 10) >= 1;
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!ours) {
    return -1;
  }
  constexpr int k_first = 3; // SD_LISTEN_FDS_START
  int domain = 0;
  int listening = 0;
  socklen_t size = sizeof(int);
  if (::getsockopt(k_first, SOL_SOCKET, SO_DOMAIN, &domain, &size) != 0 || domain != AF_UNIX ||
      ::getsockopt(k_first, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0 || !listening) {
    return -1;
  }
  ::fcntl(k_first, F_SETFD, FD_CLOEXEC);
  return k_first;
}

Result<int> listen_on(const ServeOptions &options) {
  if (options.socket_path.size() >= sizeof(sockaddr_un::sun_path)) {
    return fail(fmt::format("socket path {} is too long", options.socket_path),
                "use a shorter --socket PATH", ExitCode::usage);
  }
  const auto *group = ::getgrnam(options.group.c_str());
  if (!group) {
    return fail(fmt::format("group '{}' does not exist", options.group),
                fmt::format("create it (groupadd {0}; make up does) and add the users who may use "
                            "ltb (usermod -aG {0} USER), or pass --group NAME",
                            options.group),
                ExitCode::usage);
  }
  const gid_t gid = group->gr_gid;
  const fs::path dir = fs::path(options.socket_path).parent_path();
  std::error_code ec;
  if (!fs::exists(dir)) {
    fs::create_directories(dir, ec);
    if (ec) {
      return fail(fmt::format("cannot make {}: {}", dir.string(), ec.message()),
                  "run ltb serve as root");
    }
    ::chmod(dir.c_str(), 0755);
  }
  if (fs::exists(fs::symlink_status(options.socket_path))) {
    if (answering(options.socket_path)) {
      return fail(fmt::format("a daemon already answers at {}", options.socket_path),
                  "stop it first, or pass another --socket PATH");
    }
    fs::remove(options.socket_path, ec);
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, options.socket_path.c_str(), sizeof(addr.sun_path) - 1);
  // Made 0600 and opened to the group only once it belongs to it.
  const mode_t old = ::umask(0177);
  const int bound = ::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr));
  ::umask(old);
  if (bound != 0 || ::chown(options.socket_path.c_str(), 0, gid) != 0 ||
      ::chmod(options.socket_path.c_str(), 0660) != 0 || ::listen(fd, 512) != 0) {
    const int saved = errno;
    ::close(fd);
    return fail(fmt::format("cannot listen on {}: {}", options.socket_path, std::strerror(saved)),
                "run ltb serve as root, and check the directory");
  }
  return fd;
}

} // namespace

Result<service::Caller> passwd_caller(const service::Context &, uid_t uid) {
  service::Caller caller;
  caller.uid = uid;
  caller.admin = uid == 0;
  if (const auto *pw = ::getpwuid(uid)) {
    caller.name = pw->pw_name;
  } else {
    return fail(fmt::format("uid {} has no user name on this host", uid),
                "ask an admin to make a Unix user for it");
  }
  return caller;
}

Status serve(const ServeOptions &options, const Identify &identify, const std::atomic<bool> &stop,
             const std::function<void(const std::string &)> &log) {
  ::signal(SIGPIPE, SIG_IGN);
  // systemd's socket (ltb.socket) when it started the daemon, else one of its own.
  const int activated = activated_socket();
  int listener = activated;
  if (activated < 0) {
    LTB_TRY(made, listen_on(options));
    listener = made;
  }
  log(fmt::format("ltb {} serving on {}{} (group {}, state {})", LTB_VERSION, options.socket_path,
                  activated < 0 ? "" : " (from systemd)", options.group, options.state_path));
  Daemon daemon(options, identify, stop, log);
  std::atomic<std::size_t> active{0};
  std::optional<util::Child> scheduler;
  auto start_scheduler = [&] {
    // Its lines go to the daemon's log (a closed pipe would end it at its first line).
    util::SpawnOptions spawn;
    spawn.inherit_output = true;
    spawn.dies_with_parent = true; // a daemon killed outright leaves no scheduler behind
    auto child =
        util::spawn({options.ltb_binary, "--state", options.state_path, "schedule", "run"}, spawn);
    if (child) {
      ::close(child->in);
      scheduler = *child;
    } else {
      log("cannot start the scheduler: " + child.error().message);
    }
  };
  if (options.schedule) {
    start_scheduler();
  }
  while (!stop.load()) {
    if (scheduler && util::wait_child(scheduler->pid, false) != -2) {
      log("the scheduler ended; starting it again");
      std::this_thread::sleep_for(std::chrono::seconds(1));
      start_scheduler();
    }
    pollfd pfd{listener, POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) {
      continue;
    }
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    if (active.load() >= options.max_connections) {
      const std::string body =
          R"({"error":"the daemon serves too many connections","help":"try again shortly"})"
          "\n";
      write_all(fd, fmt::format("HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                                "application/json\r\nConnection: close\r\nContent-Length: "
                                "{}\r\n\r\n{}",
                                body.size(), body));
      ::close(fd);
      continue;
    }
    ++active;
    std::thread([&daemon, &active, fd] {
      daemon.connection(fd);
      --active;
    }).detach();
  }
  ::close(listener);
  std::error_code ec;
  if (activated < 0) { // systemd's socket stays systemd's
    fs::remove(options.socket_path, ec);
  }
  // Connections see the stop flag and stop their commands.
  for (int i = 0; i < 500 && active.load() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (scheduler) {
    ::kill(scheduler->pid, SIGTERM);
    util::wait_child(scheduler->pid, true);
  }
  return {};
}

} // namespace ltb::server
