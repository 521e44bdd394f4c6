#include "server/server.hpp"

// <utility> must come before boost/asio.hpp: GCC 12 with -std=c++20 fails otherwise (HOST.md).
// clang-format off
#include <utility>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
// clang-format on

#include "server/child.hpp"
#include "server/command.hpp"
#include "server/forkserver.hpp"
#include "server/frame.hpp"
#include "server/router.hpp"
#include "server/static_files.hpp"
#include "server/terminal.hpp"
#include "server/web_auth.hpp"
#include "service/container_cache.hpp"
#include "service/credentials.hpp"
#include "service/metrics.hpp"
#include "service/status.hpp"
#include "service/users.hpp"
#include "service/version.hpp"
#include "util/base64.hpp"
#include "util/exec.hpp"
#include "util/password.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <grp.h>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <pwd.h>
#include <random>
#include <set>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <variant>

namespace ltb::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace fs = std::filesystem;
using local = asio::local::stream_protocol;
using tcp = asio::ip::tcp;
using nlohmann::json;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

/// Who is at the other end of a connection: a local process (its uid from SO_PEERCRED) or a
/// network client (who it is comes with each request: a session cookie or a bearer token).
struct Peer {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  bool network = false;
  bool tls = false;
  std::string address; // a network client's IP address
};

/// The caller of one request, and the browser session it came with (cookie authentication).
struct Authed {
  service::Caller caller;
  std::optional<WebSession> session;
};

Response json_response(http::status status, const json &body, unsigned version, bool keep_alive) {
  Response res{status, version};
  res.set(http::field::server, "ltb/" LTB_VERSION);
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  // A command's output need not be UTF-8: what is not becomes U+FFFD rather than no answer.
  res.body() = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  res.prepare_payload();
  return res;
}

/// The security headers every answer carries (web_auth's list).
template <class Message> void secure(Message &message, const Peer &peer, bool page) {
  for (const auto &[name, value] : security_headers(peer.tls, page)) {
    message.set(name, value);
  }
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

/// Removes a request's directory (and what its command left there) when the request ends.
struct RequestDir {
  std::string path;
  explicit RequestDir(std::string dir) : path(std::move(dir)) {}
  RequestDir(const RequestDir &) = delete;
  RequestDir &operator=(const RequestDir &) = delete;
  ~RequestDir() {
    std::error_code ec;
    if (!path.empty()) {
      fs::remove_all(path, ec);
    }
  }
  /// The directory, now the caller's to remove (a web terminal's outlives its request).
  std::string release() { return std::exchange(path, std::string()); }
};

/// A request's command, started: its private directory (removed with this), the files the
/// request brought written there, and the command.
struct StartedRequest {
  std::unique_ptr<RequestDir> dir;
  Workspace workspace;
  RunningChild running;
};

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
         const std::function<void(const std::string &)> &log, asio::ssl::context *tls)
      : m_options(options), m_identify(identify), m_stop(stop), m_log(log), m_tls(tls),
        m_sessions(options.session_lifetime) {
    m_context.state_path = options.state_path;
    m_context.wait_seconds = options.wait_seconds;
    // Docker's container listings kept between requests, and forgotten at each of Docker's events
    // of a lab's container: a lab's status asks Docker nothing while its containers do not change.
    m_context.container_cache = std::make_shared<service::ContainerCache>();
    m_cache_thread =
        std::thread([this] { service::follow_docker(*m_context.container_cache, m_stop); });
  }
  ~Daemon() {
    if (m_cache_thread.joinable()) {
      m_cache_thread.join();
    }
  }
  Daemon(const Daemon &) = delete;
  Daemon &operator=(const Daemon &) = delete;

  /// A connection on the unix socket.
  void connection(int fd);
  /// A connection on the network listener, from ADDRESS.
  void network_connection(int fd, const std::string &address);

private:
  template <class Stream> void serve_connection(Stream &stream, asio::io_context &io, Peer &peer);
  /// Serves one request; false ends the connection.
  template <class Stream>
  bool serve_one(Stream &stream, beast::flat_buffer &buffer, asio::io_context &io,
                 const Peer &peer);
  /// The caller of a request, or the answer that refuses it (401, 403).
  std::variant<Authed, Response> authenticate(const Request &request, const RouteMatch &match,
                                              const Peer &peer);
  Response handle(const Request &request, const RouteMatch &match, const Authed &who,
                  const Peer &peer);
  Response login(const Request &request, const Peer &peer);
  /// The caller a user name of the network stands for (the Unix user's uid, then identify as
  /// for a socket's peer); nullopt when no such Unix user exists.
  Result<std::optional<service::Caller>> caller_named(const std::string &user);
  /// Writes REQUEST's files under a new private directory and starts its command there for
  /// CALLER (on a terminal of request.tty's size when given). materialize's errors keep their
  /// code (usage: the request's own fault).
  Result<StartedRequest> start_request(const CommandRequest &request,
                                       const service::Caller &caller);
  Response buffered_command(const Request &request, const Authed &who);
  /// An answer streamed from a command's standard output (events, a capture) until it ends or
  /// the client goes.
  template <class Stream>
  void stream_command(Stream &stream, const Request &request, const Peer &peer, const Authed &who,
                      const std::vector<std::string> &argv, bool events,
                      const std::string &filename);
  /// GET /v1/terminal: a node's shell over a WebSocket (terminal.hpp's sessions).
  template <class Stream>
  void terminal(Stream &stream, asio::io_context &io, const Request &request, const Peer &peer,
                const Authed &who);
  template <class Stream>
  void static_answer(Stream &stream, asio::io_context &io, const Request &request,
                     const Peer &peer);
  void command(local::socket &socket, const Request &request, beast::flat_buffer &buffer,
               const Peer &peer, const service::Caller &caller);

  const ServeOptions &m_options;
  const Identify &m_identify;
  const std::atomic<bool> &m_stop;
  const std::function<void(const std::string &)> &m_log;
  asio::ssl::context *m_tls; // null: plain HTTP on the network listener
  service::Context m_context;
  std::thread m_cache_thread;
  Sessions m_sessions;
  LoginLimiter m_limiter;
  TerminalHub m_terminals;
  /// How long the API's answers took, per route, method and status class (GET /metrics).
  void observe(const Route &route, unsigned status, Clock::time_point began);
  std::mutex m_request_mutex;
  std::map<std::tuple<std::string, std::string, std::string>, service::Histogram> m_request_seconds;
};

void Daemon::observe(const Route &route, unsigned status, Clock::time_point began) {
  const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  std::lock_guard lock(m_request_mutex);
  auto key = std::make_tuple(std::string(route.path), std::string(route.method),
                             fmt::format("{}xx", status / 100));
  auto it = m_request_seconds.find(key);
  if (it == m_request_seconds.end()) {
    it = m_request_seconds
             .emplace(key, service::Histogram({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                               0.5, 1, 2.5, 5, 10, 30, 60}))
             .first;
  }
  it->second.observe(seconds);
}

/// Runs an async operation on the connection's own io_context until it completes or `timeout`
/// passes; then it is cancelled (the socket stays open, for the 408) and `beast::error::timeout`
/// returned.
template <class Stream, class Start>
beast::error_code run_op(asio::io_context &io, Stream &stream, std::chrono::milliseconds timeout,
                         Start start) {
  beast::error_code result = asio::error::would_block;
  start([&result](beast::error_code ec, std::size_t) { result = ec; });
  io.restart();
  io.run_for(timeout);
  if (result == asio::error::would_block) {
    beast::error_code ignored;
    beast::get_lowest_layer(stream).cancel(ignored);
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
  serve_connection(socket, io, peer);
  socket.shutdown(local::socket::shutdown_both, ec);
  socket.close(ec);
}

void Daemon::network_connection(int fd, const std::string &address) {
  Peer peer;
  peer.network = true;
  peer.address = address;
  peer.tls = m_tls != nullptr;
  asio::io_context io;
  sockaddr_storage local_address{};
  socklen_t size = sizeof(local_address);
  ::getsockname(fd, reinterpret_cast<sockaddr *>(&local_address), &size);
  const auto protocol = local_address.ss_family == AF_INET6 ? tcp::v6() : tcp::v4();
  beast::error_code ec;
  // Terminals send keystrokes and echoes of a byte or two: no Nagle delay on them.
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (!m_tls) {
    tcp::socket socket(io);
    socket.assign(protocol, fd, ec);
    if (ec) {
      ::close(fd);
      return;
    }
    serve_connection(socket, io, peer);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    return;
  }
  asio::ssl::stream<tcp::socket> stream(io, *m_tls);
  stream.next_layer().assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  ec = run_op(io, stream, m_options.header_timeout, [&](auto handler) {
    stream.async_handshake(asio::ssl::stream_base::server,
                           [handler](beast::error_code e) mutable { handler(e, 0); });
  });
  if (!ec) {
    serve_connection(stream, io, peer);
    run_op(io, stream, std::chrono::seconds(2), [&](auto handler) {
      stream.async_shutdown([handler](beast::error_code e) mutable { handler(e, 0); });
    });
  }
  stream.next_layer().shutdown(tcp::socket::shutdown_both, ec);
  stream.next_layer().close(ec);
}

template <class Stream>
void Daemon::serve_connection(Stream &stream, asio::io_context &io, Peer &peer) {
  beast::flat_buffer buffer;
  while (!m_stop.load() && serve_one(stream, buffer, io, peer)) {
  }
}

template <class Stream>
bool Daemon::serve_one(Stream &stream, beast::flat_buffer &buffer, asio::io_context &io,
                       const Peer &peer) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(m_options.header_limit);
  parser.body_limit(m_options.body_limit);
  auto reply = [&](Response res) {
    secure(res, peer, false);
    run_op(io, stream, std::chrono::seconds(30),
           [&](auto handler) { http::async_write(stream, res, handler); });
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
  auto ec = run_op(io, stream, m_options.header_timeout,
                   [&](auto handler) { http::async_read_header(stream, buffer, parser, handler); });
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated) {
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
    const bool api =
        target.rfind("/v1/", 0) == 0 || target == "/v1" || target.rfind("/metrics", 0) == 0;
    if (!api && !match.path_matched && (method == "GET" || method == "HEAD") &&
        !m_options.web_root.empty()) {
      static_answer(stream, io, parser.get(), peer);
      return parser.get().keep_alive();
    }
    const bool path = match.path_matched;
    // The body (if any) is not read: the connection ends after the answer.
    return refuse(path ? http::status::method_not_allowed : http::status::not_found,
                  path ? fmt::format("{} is not allowed on {}", method, target)
                       : fmt::format("no route {} {}", method, target),
                  "the routes are in schemas/ltb-api.openapi.json", head.version());
  }
  if (!parser.is_done()) {
    ec = run_op(io, stream, m_options.body_timeout,
                [&](auto handler) { http::async_read(stream, buffer, parser, handler); });
    if (ec == http::error::body_limit) {
      return too_large();
    }
    if (ec == beast::error::timeout) {
      return refuse(http::status::request_timeout, "the request's body did not arrive in time",
                    "send the body without pauses");
    }
    if (ec == http::error::partial_message || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated) {
      return false; // the client went away in the middle
    }
    if (ec) {
      return refuse(http::status::bad_request,
                    fmt::format("malformed HTTP request body: {}", ec.message()),
                    "send HTTP/1.1 (see schemas/ltb-api.openapi.json)");
    }
  }
  const Request request = parser.release();
  const auto id = match.route->id;
  const auto began = Clock::now();
  // An answer of the API, timed for GET /metrics (the streams are not: they last).
  const auto answered = [&](Response res) {
    const auto code = res.result_int();
    const bool keep = res.keep_alive();
    reply(std::move(res));
    observe(*match.route, code, began);
    return keep;
  };
  if (id == RouteId::login) {
    return answered(login(request, peer));
  }
  if (id == RouteId::version && !peer.network) {
    // The one route a local process needs no ltb user for (the CLI's compatibility check).
    return answered(handle(request, match, Authed{}, peer));
  }
  auto authed = authenticate(request, match, peer);
  if (auto *refusal = std::get_if<Response>(&authed)) {
    answered(std::move(*refusal));
    return false;
  }
  const auto &who = std::get<Authed>(authed);
  const auto version = request.version();
  if (id == RouteId::commands) {
    if (request[http::field::upgrade].empty()) {
      return answered(buffered_command(request, who));
    }
    if constexpr (std::is_same_v<Stream, local::socket>) {
      command(stream, request, buffer, peer, who.caller);
      return false;
    } else {
      return refuse(http::status::not_implemented,
                    "a streamed command (Upgrade: ltb-stream/1) runs on the unix socket only",
                    "run ltb on the host itself; over the network, send POST /v1/commands "
                    "without Upgrade for its whole output, or open GET /v1/terminal",
                    version);
    }
  }
  if (id == RouteId::events || id == RouteId::capture) {
    const auto query = query_params(std::string(request.target()));
    if (!query) {
      return refuse(http::status::bad_request, "malformed query (a bad %-escape)",
                    "escape the query's values");
    }
    const auto get = [&](const std::string &name) {
      auto it = query->find(name);
      return it == query->end() ? std::string() : it->second;
    };
    for (const auto &[name, value] : *query) {
      static const std::set<std::string> k_events{"lab", "initial"};
      static const std::set<std::string> k_capture{"lab", "target", "filter", "count", "port"};
      if (!(id == RouteId::events ? k_events : k_capture).contains(name)) {
        return refuse(
            http::status::bad_request, fmt::format("unknown query parameter {}={}", name, value),
            id == RouteId::events ? "GET /v1/events/stream takes lab=LAB and initial=true"
                                  : "GET /v1/capture takes lab, target, filter, count and port");
      }
    }
    std::vector<std::string> argv;
    std::string filename;
    if (id == RouteId::events) {
      argv = {"events", "--format", "json"};
      if (get("initial") == "true") {
        argv.emplace_back("--initial-state");
      }
      if (!get("lab").empty()) {
        argv.push_back(get("lab"));
      }
    } else {
      if (get("target").empty()) {
        return refuse(http::status::bad_request, "GET /v1/capture needs target=TARGET",
                      "a link (r1-r2), NODE:IFACE or a segment, as `ltb capture` takes");
      }
      // "--" ends the options: a target that starts with '-' is a target, not a flag.
      argv = {"capture", "-w", "-"};
      for (const char *flag : {"lab", "filter", "count", "port"}) {
        if (!get(flag).empty()) {
          argv.push_back(fmt::format("--{}", flag));
          argv.push_back(get(flag));
        }
      }
      argv.emplace_back("--");
      argv.push_back(get("target"));
      std::string name = get("lab").empty() ? get("target") : get("lab") + "-" + get("target");
      for (char &c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
          c = '_';
        }
      }
      filename = name + ".pcap";
    }
    stream_command(stream, request, peer, who, argv, id == RouteId::events, filename);
    return false;
  }
  if (id == RouteId::terminal) {
    terminal(stream, io, request, peer, who);
    return false;
  }
  return answered(handle(request, match, who, peer));
}

std::variant<Authed, Response> Daemon::authenticate(const Request &request, const RouteMatch &match,
                                                    const Peer &peer) {
  const auto version = request.version();
  const bool keep = request.keep_alive();
  if (!peer.network) {
    auto caller = m_identify(m_context, peer.uid);
    if (!caller) {
      return json_response(http::status::forbidden, error_json(caller.error()), version, keep);
    }
    return Authed{*caller, std::nullopt};
  }
  const auto unauthorized = [&](const std::string &message) {
    auto res = json_response(
        http::status::unauthorized,
        error_json(message, "log in (POST /v1/login with the web password `ltb user passwd` "
                            "sets), or send Authorization: Bearer TOKEN (`ltb user token "
                            "create`)"),
        version, false);
    res.set(http::field::www_authenticate, "Bearer realm=\"ltb\"");
    return res;
  };
  std::string user;
  std::optional<WebSession> session;
  const auto token = bearer_token(std::string(request[http::field::authorization]));
  if (!token.empty()) {
    auto store = state::Store::open(m_context.state_path);
    if (!store) {
      return json_response(http::status::internal_server_error, error_json(store.error()), version,
                           false);
    }
    auto named = service::token_user(**store, token, std::time(nullptr));
    if (!named) {
      return json_response(http::status::internal_server_error, error_json(named.error()), version,
                           false);
    }
    if (!*named) {
      return unauthorized("the bearer token is unknown, revoked or expired");
    }
    user = **named;
  } else if (auto cookie =
                 cookie_value(std::string(request[http::field::cookie]), k_session_cookie)) {
    session = m_sessions.find(*cookie, Clock::now());
    if (!session) {
      return unauthorized("the session has ended (logged out, expired, or the daemon restarted)");
    }
    user = session->user;
  } else {
    return unauthorized("no credentials: log in first");
  }
  auto caller = caller_named(user);
  if (!caller) {
    return json_response(http::status::forbidden, error_json(caller.error()), version, false);
  }
  if (!*caller) {
    return unauthorized(fmt::format("user {} no longer exists on this host", user));
  }
  if (session) {
    // A browser sends its cookie with any site's request: a change needs the session's CSRF
    // token too, which only the UI's own pages can read; a WebSocket's Origin must be ours.
    const bool change = request.method() != http::verb::get && request.method() != http::verb::head;
    if (change &&
        !util::equal_in_constant_time(std::string(request[k_csrf_header]), session->csrf)) {
      return json_response(http::status::forbidden,
                           error_json("missing or wrong X-CSRF-Token",
                                      "send the csrf_token of POST /v1/login or GET /v1/whoami "
                                      "in the X-CSRF-Token header"),
                           version, false);
    }
    if (match.route->id == RouteId::terminal || match.route->id == RouteId::events ||
        match.route->id == RouteId::capture) {
      const std::string origin(request[http::field::origin]);
      const std::string host(request[http::field::host]);
      const bool same = origin.empty() || origin == "http://" + host || origin == "https://" + host;
      if (!same) {
        return json_response(http::status::forbidden,
                             error_json(fmt::format("origin {} is not this server's", origin),
                                        "open the web UI from this server's own address"),
                             version, false);
      }
    }
  }
  return Authed{**caller, session};
}

Result<std::optional<service::Caller>> Daemon::caller_named(const std::string &user) {
  const auto account = service::system_accounts().user_by_name(user);
  if (!account) {
    return std::optional<service::Caller>();
  }
  LTB_TRY(caller, m_identify(m_context, account->uid));
  return std::optional<service::Caller>(std::move(caller));
}

Response Daemon::login(const Request &request, const Peer &peer) {
  const auto version = request.version();
  const bool keep = request.keep_alive();
  if (!peer.network) {
    return json_response(http::status::bad_request,
                         error_json("logging in is for the network listener",
                                    "on this host, the socket's peer is who you are"),
                         version, keep);
  }
  const auto body = json::parse(request.body(), nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("user") ||
      !body["user"].is_string() || !body.contains("password") || !body["password"].is_string()) {
    return json_response(http::status::bad_request,
                         error_json("the body must be {\"user\": NAME, \"password\": PASSWORD}",
                                    "send the user's name and web password as JSON"),
                         version, keep);
  }
  const auto user = body["user"].get<std::string>();
  const auto password = body["password"].get<std::string>();
  const auto now = Clock::now();
  if (auto wait = m_limiter.blocked(user, peer.address, now)) {
    auto res =
        json_response(http::status::too_many_requests,
                      error_json("too many failed logins",
                                 fmt::format("wait {} s before trying again", wait->count())),
                      version, false);
    res.set(http::field::retry_after, std::to_string(wait->count()));
    return res;
  }
  auto store = state::Store::open(m_context.state_path);
  if (!store) {
    return json_response(http::status::internal_server_error, error_json(store.error()), version,
                         false);
  }
  const auto wrong = [&] {
    m_limiter.failed(user, peer.address, now);
    m_log(fmt::format("{}: failed login as {}", peer.address, user.substr(0, 64)));
    return json_response(http::status::unauthorized,
                         error_json("wrong user name or password",
                                    "an admin sets a web password with `ltb user passwd NAME`"),
                         version, keep);
  };
  auto right = service::check_web_password(**store, user, password);
  if (!right) {
    return json_response(http::status::internal_server_error, error_json(right.error()), version,
                         false);
  }
  if (!*right) {
    return wrong();
  }
  auto named = caller_named(user);
  if (!named) {
    return json_response(http::status::forbidden, error_json(named.error()), version, keep);
  }
  if (!*named) {
    return wrong();
  }
  const auto &caller = **named;
  m_limiter.succeeded(user);
  const auto session = m_sessions.open(caller.name, now);
  m_log(fmt::format("{}: {} logged in", peer.address, caller.name));
  auto res =
      json_response(http::status::ok,
                    {{"user", caller.name}, {"admin", caller.admin}, {"csrf_token", session.csrf}},
                    version, keep);
  res.set(http::field::set_cookie, session_cookie(session.id, peer.tls, m_sessions.lifetime()));
  return res;
}

Response Daemon::handle(const Request &request, const RouteMatch &match, const Authed &who,
                        const Peer &peer) {
  const auto version = request.version();
  const bool keep = request.keep_alive();
  const auto id = match.route->id;
  if (id == RouteId::version) {
    return json_response(http::status::ok, {{"ltb", LTB_VERSION}, {"api", "v1"}}, version, keep);
  }
  if (id == RouteId::whoami) {
    auto out = service::caller_json(who.caller);
    if (who.session) {
      out["csrf_token"] = who.session->csrf;
    }
    return json_response(http::status::ok, out, version, keep);
  }
  if (id == RouteId::logout) {
    if (who.session) {
      m_sessions.close(who.session->id);
    }
    auto res = json_response(http::status::ok, json::object(), version, keep);
    res.set(http::field::set_cookie, session_cookie("", peer.tls, std::chrono::seconds(0)));
    return res;
  }
  service::CancelToken cancel;
  service::NullSink sink;
  const service::Session session{m_context, who.caller, cancel, sink};
  if (id == RouteId::top || id == RouteId::metrics) {
    const auto query = query_params(std::string(request.target()));
    std::optional<std::string> lab;
    if (query) {
      for (const auto &[name, value] : *query) {
        if (name == "lab" && id == RouteId::top && !value.empty()) {
          lab = value;
        } else {
          return json_response(http::status::bad_request,
                               error_json(fmt::format("unknown query parameter {}={}", name, value),
                                          id == RouteId::top ? "GET /v1/top takes lab=LAB"
                                                             : "GET /metrics takes no query"),
                               version, keep);
        }
      }
    } else {
      return json_response(http::status::bad_request,
                           error_json("malformed query (a bad %-escape)", "escape its values"),
                           version, keep);
    }
    auto snapshot = service::collect_metrics(session, lab);
    if (!snapshot) {
      const bool missing = snapshot.error().message.rfind("no lab named", 0) == 0;
      return json_response(missing ? http::status::not_found : status_of(snapshot.error()),
                           error_json(snapshot.error()), version, keep);
    }
    if (id == RouteId::top) {
      return json_response(http::status::ok, service::metrics_json(*snapshot), version, keep);
    }
    std::string text = service::prometheus_text(*snapshot);
    {
      std::lock_guard lock(m_request_mutex);
      std::vector<std::pair<service::MetricLabels, service::Histogram>> series;
      for (const auto &[key, histogram] : m_request_seconds) {
        const auto &[path, method, code] = key;
        series.push_back({{{"route", path}, {"method", method}, {"code", code}}, histogram});
      }
      if (!series.empty()) {
        text += service::prometheus_histograms(
            "ltb_api_request_duration_seconds",
            "How long the daemon took to answer API requests (streams not counted).", series);
      }
    }
    Response res{http::status::ok, version};
    res.set(http::field::server, "ltb/" LTB_VERSION);
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.keep_alive(keep);
    res.body() = std::move(text);
    res.prepare_payload();
    return res;
  }
  if (id == RouteId::labs) {
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

Result<StartedRequest> Daemon::start_request(const CommandRequest &request,
                                             const service::Caller &caller) {
  StartedRequest started;
  started.dir = std::make_unique<RequestDir>(request_dir(m_options));
  LTB_TRY(workspace, materialize(request, started.dir->path));
  started.workspace = std::move(workspace);
  ChildRequest child_request{m_options.ltb_binary, m_options.state_path,  started.workspace.argv,
                             started.dir->path,    started.workspace.cwd, started.workspace.origins,
                             request.tty};
  LTB_TRY(running, start_child(child_request, caller));
  started.running = std::move(running);
  return started;
}

Response Daemon::buffered_command(const Request &request, const Authed &who) {
  const auto version = request.version();
  const bool keep = request.keep_alive();
  const auto refuse = [&](http::status status, const std::string &message,
                          const std::string &help) {
    return json_response(status, error_json(message, help), version, keep);
  };
  auto parsed = parse_command_request(request.body());
  if (!parsed) {
    return refuse(http::status::bad_request, parsed.error().message, parsed.error().help);
  }
  if (parsed->tty) {
    return refuse(http::status::bad_request, "a command with a terminal streams",
                  "send tty: null for the whole output at once, or open GET /v1/terminal");
  }
  if (auto refusal = refuse_argv(parsed->argv)) {
    return refuse(http::status::forbidden, refusal->message, refusal->help);
  }
  auto started = start_request(*parsed, who.caller);
  if (!started) {
    return refuse(started.error().code == ExitCode::usage ? http::status::bad_request
                                                          : http::status::internal_server_error,
                  started.error().message, started.error().help);
  }
  auto &running = started->running;
  m_log(fmt::format("{}: ltb {} (buffered)", who.caller.name, fmt::join(parsed->argv, " ")));
  auto output = collect_child(running, m_options.output_limit, m_stop, m_options.grace);
  if (output.truncated) {
    return refuse(http::status::insufficient_storage,
                  fmt::format("the command's output is over {} MiB; it was stopped",
                              m_options.output_limit >> 20),
                  "ask for less (a filter, one lab), or run it on the host");
  }
  json files = json::array();
  std::size_t total = 0;
  for (const auto &file : collect_outputs(started->workspace)) {
    std::ifstream in(file.abs, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    total += data.size();
    if (total > m_options.output_limit) {
      return refuse(
          http::status::insufficient_storage,
          fmt::format("the command's files are over {} MiB", m_options.output_limit >> 20),
          "run it on the host, or through the unix socket");
    }
    files.push_back(
        {{"file", file.file}, {"path", file.path}, {"data", util::base64_encode(data)}});
  }
  return json_response(
      http::status::ok,
      {{"exit", output.code}, {"stdout", output.out}, {"stderr", output.err}, {"files", files}},
      version, keep);
}

/// Whether a connection's client has gone (closed or reset) while it sends nothing more.
bool client_gone(int fd) {
  pollfd pfd{fd, POLLRDHUP, 0};
  return ::poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

template <class Stream>
void Daemon::stream_command(Stream &stream, const Request &request, const Peer &peer,
                            const Authed &who, const std::vector<std::string> &argv, bool events,
                            const std::string &filename) {
  const auto version = request.version();
  beast::error_code ec;
  auto answer = [&](Response res) {
    secure(res, peer, false);
    http::write(stream, res, ec);
  };
  // A request directory, even with no files: remote mode takes file arguments (`-w -` is none)
  // only from under it.
  CommandRequest command_request;
  command_request.argv = argv;
  auto launched = start_request(command_request, who.caller);
  if (!launched) {
    answer(json_response(http::status::internal_server_error, error_json(launched.error()), version,
                         false));
    return;
  }
  auto *running = &launched->running;
  auto &child = running->child;
  if (child.in >= 0) {
    ::close(child.in);
  }
  // child.status stays open until the reap: the command writes its code there as it ends.
  struct StatusPipe {
    int &fd;
    ~StatusPipe() {
      if (fd >= 0) {
        ::close(fd);
      }
    }
  } status_pipe{child.status};
  m_log(fmt::format("{}: ltb {} (streamed)", who.caller.name, fmt::join(argv, " ")));
  const int socket_fd = beast::get_lowest_layer(stream).native_handle();
  std::string err;
  std::string pending; // events: a line not yet whole
  bool started = false;
  bool out_open = true;
  bool err_open = true;
  auto last_write = std::chrono::steady_clock::now();
  auto start = [&] {
    http::response<http::empty_body> res{http::status::ok, version};
    res.set(http::field::server, "ltb/" LTB_VERSION);
    if (events) {
      res.set(http::field::content_type, "text/event-stream");
    } else {
      res.set(http::field::content_type, "application/vnd.tcpdump.pcap");
      res.set(http::field::content_disposition,
              fmt::format("attachment; filename=\"{}\"", filename));
    }
    res.keep_alive(false);
    res.chunked(true);
    secure(res, peer, false);
    http::response_serializer<http::empty_body> serializer{res};
    http::write_header(stream, serializer, ec);
    started = true;
    return !ec;
  };
  auto send = [&](std::string_view data) {
    if (data.empty()) {
      return true;
    }
    asio::write(stream, http::make_chunk(asio::buffer(data.data(), data.size())), ec);
    last_write = std::chrono::steady_clock::now();
    return !ec;
  };
  if (events && !start()) {
    stop_child(*running, m_options.grace);
    ::close(child.out);
    ::close(child.err);
    return;
  }
  bool client = true;
  while (out_open && client) {
    if (m_stop.load() || client_gone(socket_fd)) {
      client = false;
      break;
    }
    pollfd fds[2] = {{child.out, POLLIN, 0}, {err_open ? child.err : -1, POLLIN, 0}};
    ::poll(fds, 2, 500);
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      char data[16384];
      const ssize_t n = ::read(child.err, data, sizeof(data));
      if (n <= 0) {
        err_open = false;
      } else if (err.size() < 65536) {
        err.append(data, static_cast<std::size_t>(n));
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char data[65536];
      const ssize_t n = ::read(child.out, data, sizeof(data));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        continue;
      }
      if (n <= 0) {
        out_open = false;
        break;
      }
      if (!started && !start()) {
        client = false;
        break;
      }
      std::string_view bytes(data, static_cast<std::size_t>(n));
      if (!events) {
        client = send(bytes);
        continue;
      }
      pending.append(bytes);
      std::string framed;
      for (auto end = pending.find('\n'); end != std::string::npos; end = pending.find('\n')) {
        framed += "data: " + pending.substr(0, end) + "\n\n";
        pending.erase(0, end + 1);
      }
      client = send(framed);
    } else if (events && std::chrono::steady_clock::now() - last_write > std::chrono::seconds(15)) {
      client = send(": keepalive\n\n"); // proxies and browsers keep an idle stream open
    }
  }
  if (!client) {
    stop_child(*running, m_options.grace);
    ::close(child.out);
    ::close(child.err);
    return;
  }
  // Its output ended: the rest of its errors, and its code.
  for (char data[16384]; err_open;) {
    const ssize_t n = ::read(child.err, data, sizeof(data));
    if (n <= 0) {
      break;
    }
    if (err.size() < 65536) {
      err.append(data, static_cast<std::size_t>(n));
    }
  }
  ::close(child.out);
  ::close(child.err);
  const int code = running->wait(child.pid, true);
  if (started) {
    if (events && code != 0) {
      send("event: error\ndata: " + json{{"exit", code}, {"stderr", err}}.dump() + "\n\n");
    }
    asio::write(stream, http::make_chunk_last(), ec);
    return;
  }
  // It ended before any output: its error, as the CLI would have said it.
  const auto status = code == 2 ? http::status::bad_request : http::status::unprocessable_entity;
  answer(
      json_response(status,
                    {{"error", err.empty() ? fmt::format("the command ended with {}", code) : err},
                     {"help", nullptr},
                     {"exit", code}},
                    version, false));
}

/// A WebSocket's side of a terminal session: what the session's thread hands it is posted to the
/// connection's own io_context and written there, one message at a time, in order.
template <class Ws>
class WsClient : public TerminalClient, public std::enable_shared_from_this<WsClient<Ws>> {
public:
  WsClient(Ws &ws, asio::io_context &io) : m_ws(ws), m_io(io) {}

  void output(std::string_view bytes) override { post(false, std::string(bytes), false); }
  void ended(int code) override { post(true, json{{"type", "exit"}, {"code", code}}.dump(), true); }
  void replaced() override {
    post(true,
         json{{"type", "error"},
              {"error", "this terminal was opened again elsewhere (another tab or window)"},
              {"help", "use that one, or reload this page to take it back"}}
             .dump(),
         true);
  }
  /// From the connection's thread.
  void send(bool text, std::string data, bool close_after) {
    m_queue.push_back({text, std::move(data), close_after});
    if (!m_writing) {
      write_next();
    }
  }
  bool closing() const { return m_closing; }

private:
  struct Message {
    bool text;
    std::string data;
    bool close_after;
  };
  void post(bool text, std::string data, bool close_after) {
    asio::post(m_io, [self = this->shared_from_this(), text, data = std::move(data),
                      close_after]() mutable { self->send(text, std::move(data), close_after); });
  }
  void write_next() {
    if (m_queue.empty() || m_closing) {
      return;
    }
    m_writing = true;
    m_ws.text(m_queue.front().text);
    m_ws.async_write(asio::buffer(m_queue.front().data), [self = this->shared_from_this()](
                                                             beast::error_code ec, std::size_t) {
      self->m_writing = false;
      const bool close = self->m_queue.front().close_after;
      self->m_queue.pop_front();
      if (ec) {
        self->m_closing = true;
        return;
      }
      if (close) {
        self->m_closing = true;
        self->m_ws.async_close(websocket::close_code::normal, [self](beast::error_code) {});
        return;
      }
      self->write_next();
    });
  }

  Ws &m_ws;
  asio::io_context &m_io;
  std::deque<Message> m_queue;
  bool m_writing = false;
  bool m_closing = false;
};

template <class Stream>
void Daemon::terminal(Stream &stream, asio::io_context &io, const Request &request,
                      const Peer &peer, const Authed &who) {
  const auto version = request.version();
  beast::error_code ec;
  auto answer = [&](http::status status, const std::string &message, const std::string &help) {
    auto res = json_response(status, error_json(message, help), version, false);
    secure(res, peer, false);
    http::write(stream, res, ec);
  };
  if (!websocket::is_upgrade(request)) {
    answer(http::status::upgrade_required, "GET /v1/terminal is a WebSocket",
           "open it with new WebSocket(...) from the web UI, or send Upgrade: websocket");
    return;
  }
  const auto query = query_params(std::string(request.target()));
  if (!query) {
    answer(http::status::bad_request, "malformed query (a bad %-escape)", "escape its values");
    return;
  }
  const auto get = [&](const std::string &name) {
    auto it = query->find(name);
    return it == query->end() ? std::string() : it->second;
  };
  for (const auto &[name, value] : *query) {
    static const std::set<std::string> k_names{"lab",   "node", "via", "session",
                                               "watch", "rows", "cols"};
    if (!k_names.contains(name)) {
      answer(http::status::bad_request, fmt::format("unknown query parameter {}={}", name, value),
             "GET /v1/terminal takes lab and node (and via=console for a VM's console), "
             "session=ID to reattach, or watch=SHARE");
      return;
    }
  }
  std::shared_ptr<TerminalSession> session;
  bool writer = true;
  if (!get("session").empty()) {
    session = m_terminals.find(get("session"));
    // Another user's session reads as missing, as every other object does.
    if (!session || session->info().owner != who.caller.name) {
      answer(http::status::not_found, "no such terminal session (it ended, or is not yours)",
             "open a new one: GET /v1/terminal?lab=LAB&node=NODE");
      return;
    }
  } else if (!get("watch").empty()) {
    session = m_terminals.find_share(get("watch"));
    if (!session) {
      answer(http::status::not_found, "no terminal session is shared under that link",
             "ask its owner for the current link (it ends with the session)");
      return;
    }
    writer = false;
  } else {
    if (get("lab").empty() || get("node").empty()) {
      answer(http::status::bad_request, "GET /v1/terminal needs lab and node",
             "GET /v1/terminal?lab=LAB&node=NODE, or session=ID to reattach");
      return;
    }
    service::CancelToken cancel;
    service::NullSink sink;
    const service::Session use{m_context, who.caller, cancel, sink};
    auto status = service::status_lab(use, get("lab"));
    if (!status) {
      answer(http::status::not_found, status.error().message, status.error().help);
      return;
    }
    const auto node = std::find_if(status->nodes.begin(), status->nodes.end(),
                                   [&](const auto &n) { return n.record.name == get("node"); });
    if (node == status->nodes.end()) {
      answer(http::status::not_found,
             fmt::format("lab {} has no node {}", status->lab.name, get("node")),
             "open a terminal on one of the lab's nodes");
      return;
    }
    const auto &runtime = node->record.runtime;
    std::string via = get("via");
    if (via.empty()) {
      via = runtime == state::k_runtime_vm ? "ssh" : "exec";
    }
    std::vector<std::string> argv;
    if (runtime == state::k_runtime_container && via == "exec") {
      // The node's best shell: bash where the image has it, in a UTF-8 locale unless the
      // image sets one (a browser's terminal is UTF-8; readline in the C locale mangles it).
      argv = {"exec",
              "--lab",
              status->lab.name,
              node->record.name,
              "--",
              "sh",
              "-c",
              ": \"${LANG:=C.UTF-8}\"; export LANG; command -v bash >/dev/null 2>&1 && exec "
              "bash -l; exec sh -l"};
    } else if (runtime == state::k_runtime_vm && (via == "ssh" || via == "console")) {
      argv = {via, "--lab", status->lab.name, node->record.name};
    } else {
      answer(http::status::bad_request,
             fmt::format("node {} ({}) has no terminal through {}", node->record.name,
                         runtime.empty() ? "?" : runtime, via),
             "containers: via=exec (the default); VMs: via=ssh (the default) or via=console; an "
             "ovs-bridge has no shell");
      return;
    }
    const auto size = [&](const std::string &name, unsigned fallback) {
      const auto text = get(name);
      unsigned value = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      return error == std::errc{} && end == text.data() + text.size() && value > 0 && value <= 1000
                 ? static_cast<unsigned short>(value)
                 : static_cast<unsigned short>(fallback);
    };
    CommandRequest command_request;
    command_request.argv = argv;
    command_request.tty = Terminal{size("rows", 24), size("cols", 80)};
    auto started = start_request(command_request, who.caller);
    if (!started) {
      answer(http::status::internal_server_error, started.error().message, started.error().help);
      return;
    }
    auto id = util::random_hex(16);
    auto share = util::random_hex(16);
    if (!id || !share) {
      stop_child(started->running, m_options.grace);
      answer(http::status::internal_server_error, "no random bytes for a session id",
             "check the host's kernel");
      return;
    }
    m_log(fmt::format("{}: terminal on {} {} via {}", who.caller.name, status->lab.name,
                      node->record.name, via));
    session = m_terminals.add(TerminalInfo{*id, *share, who.caller.name, status->lab.name,
                                           node->record.name, via, started->dir->release()},
                              std::move(started->running), std::chrono::milliseconds(3000));
  }
  websocket::stream<Stream &> ws(stream);
  ws.read_message_max(std::size_t{1} << 20);
  ws.set_option(websocket::stream_base::decorator([&](websocket::response_type &res) {
    res.set(http::field::server, "ltb/" LTB_VERSION);
    secure(res, peer, false);
  }));
  ws.accept(request, ec);
  if (ec) {
    return;
  }
  const auto &info = session->info();
  ws.text(true);
  ws.write(asio::buffer(json{{"type", "hello"},
                             {"session", writer ? info.id : ""},
                             {"share", writer ? info.share : ""},
                             {"mode", writer ? "rw" : "ro"},
                             {"via", info.via},
                             {"lab", info.lab},
                             {"node", info.node}}
                            .dump()),
           ec);
  if (ec) {
    return;
  }
  auto client = std::make_shared<WsClient<websocket::stream<Stream &>>>(ws, io);
  io.restart();
  session->attach(client, writer);
  beast::flat_buffer buffer;
  bool done = false;
  std::function<void()> read_next = [&] {
    ws.async_read(buffer, [&](beast::error_code error, std::size_t) {
      if (error) {
        done = true;
        return;
      }
      const std::string data = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      if (!ws.got_text()) {
        session->input(client.get(), data);
      } else {
        const auto message = parse_terminal_message(data);
        if (message.type == TerminalMessage::Type::resize) {
          session->resize(client.get(), message.rows, message.cols);
        } else if (message.type == TerminalMessage::Type::ack) {
          session->ack(client.get(), message.bytes);
        }
      }
      read_next();
    });
  };
  read_next();
  // The daemon's end closes the WebSocket too.
  asio::steady_timer timer(io);
  std::function<void()> watch_stop = [&] {
    timer.expires_after(std::chrono::milliseconds(500));
    timer.async_wait([&](beast::error_code error) {
      if (error || done) {
        return;
      }
      if (m_stop.load()) {
        beast::get_lowest_layer(ws).cancel();
        return;
      }
      watch_stop();
    });
  };
  watch_stop();
  while (!done) {
    io.run_one();
  }
  timer.cancel();
  // What the session posted meanwhile is dropped with the connection's io_context.
  session->detach(client.get());
}

template <class Stream>
void Daemon::static_answer(Stream &stream, asio::io_context &io, const Request &request,
                           const Peer &peer) {
  const auto file = static_file(m_options.web_root, std::string(request.target()));
  beast::error_code ec;
  if (!file) {
    auto res = json_response(http::status::not_found,
                             error_json(fmt::format("no page {}", std::string(request.target())),
                                        "the web UI is at / (installed by make up or make web)"),
                             request.version(), request.keep_alive());
    secure(res, peer, false);
    run_op(io, stream, std::chrono::seconds(30),
           [&](auto handler) { http::async_write(stream, res, handler); });
    return;
  }
  // A precompressed copy to a client that takes gzip (the bundle's text files have one).
  const bool gzip =
      !file->gzip_path.empty() && accepts_gzip(std::string(request[http::field::accept_encoding]));
  http::response<http::file_body> res{http::status::ok, request.version()};
  res.body().open(gzip ? file->gzip_path.c_str() : file->path.c_str(), beast::file_mode::scan, ec);
  if (ec) {
    return;
  }
  res.set(http::field::server, "ltb/" LTB_VERSION);
  res.set(http::field::content_type, file->content_type);
  if (!file->gzip_path.empty()) {
    res.set(http::field::vary, "Accept-Encoding");
  }
  if (gzip) {
    res.set(http::field::content_encoding, "gzip");
  }
  res.keep_alive(request.keep_alive());
  res.prepare_payload();
  secure(res, peer, true);
  res.set(http::field::cache_control, file->cache_control);
  if (request.method() == http::verb::head) {
    http::response<http::empty_body> head{http::status::ok, request.version()};
    head.base() = res.base();
    head.content_length(res.body().size());
    run_op(io, stream, std::chrono::seconds(30),
           [&](auto handler) { http::async_write(stream, head, handler); });
    return;
  }
  run_op(io, stream, std::chrono::seconds(300),
         [&](auto handler) { http::async_write(stream, res, handler); });
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
      if (const auto size = parse_resize(f.payload)) {
        util::set_terminal_size(m_child.in, size->rows, size->cols);
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
                     const Peer &peer, const service::Caller &caller) {
  const auto version = request.version();
  const int fd = socket.native_handle();
  auto refuse = [&](http::status status, const std::string &message, const std::string &help) {
    auto res = json_response(status, error_json(message, help), version, false);
    secure(res, peer, false);
    std::ostringstream text;
    text << res;
    write_all(fd, text.str());
  };
  auto upgrade = request[http::field::upgrade];
  if (!beast::iequals(upgrade, "ltb-stream/1")) {
    refuse(http::status::upgrade_required, "POST /v1/commands upgrades to ltb-stream/1",
           "send Connection: Upgrade and Upgrade: ltb-stream/1, or no Upgrade for the whole "
           "output at once");
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
  auto started = start_request(*parsed, caller);
  if (!started) {
    refuse(http::status::internal_server_error, started.error().message, started.error().help);
    return;
  }
  auto *running = &started->running;
  const auto *child = &running->child;
  const bool pty = parsed->tty.has_value();
  const auto wait = running->wait;
  write_all(fd,
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ltb-stream/1\r\n"
            "Server: ltb/" LTB_VERSION "\r\n\r\n");
  const std::string early(static_cast<const char *>(buffer.data().data()), buffer.size());
  buffer.consume(buffer.size());
  m_log(fmt::format("uid {} ({}): ltb {}", peer.uid, caller.name, fmt::join(parsed->argv, " ")));
  CommandSession session(fd, *child, pty, m_options.grace, m_stop, wait);
  const auto code = session.run(early);
  if (!code) {
    m_log(fmt::format("uid {}: client gone; command stopped (pid {})", peer.uid, child->pid));
    return;
  }
  for (const auto &output : collect_outputs(started->workspace)) {
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

/// The network listener's socket, bound to ADDRESS.
Result<int> listen_network(const ListenAddress &address) {
  sockaddr_storage storage{};
  socklen_t size = 0;
  boost::system::error_code error;
  const auto ip = asio::ip::make_address(address.host, error);
  if (ip.is_v6()) {
    auto *in6 = reinterpret_cast<sockaddr_in6 *>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(address.port);
    const auto bytes = ip.to_v6().to_bytes();
    std::memcpy(&in6->sin6_addr, bytes.data(), bytes.size());
    size = sizeof(sockaddr_in6);
  } else {
    auto *in4 = reinterpret_cast<sockaddr_in *>(&storage);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(address.port);
    const auto bytes = ip.to_v4().to_bytes();
    std::memcpy(&in4->sin_addr, bytes.data(), bytes.size());
    size = sizeof(sockaddr_in);
  }
  const int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr *>(&storage), size) != 0 ||
      ::listen(fd, 512) != 0) {
    const int saved = errno;
    if (fd >= 0) {
      ::close(fd);
    }
    return fail(
        fmt::format("cannot listen on {}:{}: {}", address.host, address.port, std::strerror(saved)),
        saved == EADDRINUSE ? "something else listens there: pick another port"
                            : "check the address (one of this host's) and the port");
  }
  return fd;
}

/// The TLS server context of --tls-cert and --tls-key (TLS 1.2 and later).
Result<std::unique_ptr<asio::ssl::context>> tls_context(const ServeOptions &options) {
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  boost::system::error_code error;
  context->use_certificate_chain_file(options.tls_cert, error);
  if (error) {
    return fail(fmt::format("--tls-cert {}: {}", options.tls_cert, error.message()),
                "give a PEM certificate (chain) file readable by root", ExitCode::usage);
  }
  context->use_private_key_file(options.tls_key, asio::ssl::context::pem, error);
  if (error) {
    return fail(fmt::format("--tls-key {}: {}", options.tls_key, error.message()),
                "give the PEM private key of --tls-cert's certificate", ExitCode::usage);
  }
  return context;
}

/// The client's address of an accepted network connection.
std::string peer_address(const sockaddr_storage &storage) {
  char text[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6 *>(&storage)->sin6_addr, text,
                sizeof(text));
  } else {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in *>(&storage)->sin_addr, text,
                sizeof(text));
  }
  return text;
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
  std::optional<ListenAddress> network;
  std::unique_ptr<asio::ssl::context> tls;
  if (!options.listen.empty()) {
    LTB_TRY(address, parse_listen(options.listen));
    if (options.tls_cert.empty() != options.tls_key.empty()) {
      return fail("--tls-cert and --tls-key go together",
                  "give both: the certificate and its private key", ExitCode::usage);
    }
    if (options.tls_cert.empty() && !address.loopback && !options.allow_plain_http) {
      return fail(fmt::format("--listen {} without TLS would send passwords and session "
                              "cookies in clear over the network",
                              options.listen),
                  "give --tls-cert FILE --tls-key FILE, listen on loopback (127.0.0.1) behind a "
                  "TLS proxy, or pass --allow-plain-http if the network is yours",
                  ExitCode::usage);
    }
    if (!options.tls_cert.empty()) {
      LTB_TRY(context, tls_context(options));
      tls = std::move(context);
    }
    network = address;
  } else if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    return fail("--tls-cert and --tls-key are for the network listener",
                "add --listen ADDRESS:PORT", ExitCode::usage);
  }
  int network_listener = -1;
  if (network) {
    LTB_TRY(fd, listen_network(*network));
    network_listener = fd;
  }
  // systemd's socket (ltb.socket) when it started the daemon, else one of its own.
  const int activated = activated_socket();
  int listener = activated;
  if (activated < 0) {
    LTB_TRY(made, listen_on(options));
    listener = made;
  }
  log(fmt::format("ltb {} serving on {}{} (group {}, state {})", LTB_VERSION, options.socket_path,
                  activated < 0 ? "" : " (from systemd)", options.group, options.state_path));
  if (network) {
    log(fmt::format("and on {}://{}{}{}:{}{}", tls ? "https" : "http",
                    network->host.find(':') != std::string::npos ? "[" : "", network->host,
                    network->host.find(':') != std::string::npos ? "]" : "", network->port,
                    options.web_root.empty() ? "" : " (web UI from " + options.web_root + ")"));
  }
  Daemon daemon(options, identify, stop, log, tls.get());
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
    pollfd pfds[2] = {{listener, POLLIN, 0}, {network_listener, POLLIN, 0}};
    if (::poll(pfds, network_listener >= 0 ? 2 : 1, 200) <= 0) {
      continue;
    }
    const bool from_network = network_listener >= 0 && (pfds[1].revents & POLLIN);
    sockaddr_storage client{};
    socklen_t client_size = sizeof(client);
    const int fd = from_network ? ::accept4(network_listener, reinterpret_cast<sockaddr *>(&client),
                                            &client_size, SOCK_CLOEXEC)
                                : ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
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
    if (from_network) {
      std::thread([&daemon, &active, fd, address = peer_address(client)] {
        daemon.network_connection(fd, address);
        --active;
      }).detach();
      continue;
    }
    std::thread([&daemon, &active, fd] {
      daemon.connection(fd);
      --active;
    }).detach();
  }
  ::close(listener);
  if (network_listener >= 0) {
    ::close(network_listener);
  }
  std::error_code ec;
  if (activated < 0) { // systemd's socket stays systemd's
    fs::remove(options.socket_path, ec);
  }
  // Connections see the stop flag and stop their commands: SIGTERM, SIGKILL after the grace.
  const auto deadline = std::chrono::steady_clock::now() + options.grace + std::chrono::seconds(5);
  while (active.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (active.load() > 0) {
    log(fmt::format("{} connection(s) did not end within the grace of {} s; stopping anyway",
                    active.load(),
                    std::chrono::duration_cast<std::chrono::seconds>(options.grace).count() + 5));
  }
  if (scheduler) {
    ::kill(scheduler->pid, SIGTERM);
    util::wait_child(scheduler->pid, true);
  }
  return {};
}

} // namespace ltb::server
