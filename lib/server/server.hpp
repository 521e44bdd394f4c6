#pragma once
// `ltb serve`: the privileged part of ltb on a shared host. Listens on a unix socket (group-owned,
// 0660), takes the caller's identity from SO_PEERCRED only, and serves the versioned HTTP/1.1 +
// JSON API of schemas/ltb-api.openapi.json with Boost.Beast. `POST /v1/commands` runs one CLI
// command as a child `ltb` (see ARCHITECTURE.md, "The daemon") and carries its streams in frames
// (frame.hpp). May use service/, state/, event/, util/; never cli/.

#include "service/service.hpp"
#include "util/error.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace ltb::server {

struct ServeOptions {
  std::string socket_path = "/run/ltb/ltb.sock";
  std::string group = "ltb";
  std::string state_path;
  std::string ltb_binary = "/proc/self/exe"; // what runs a request's command
  int wait_seconds = 60;
  std::size_t max_connections = 256;
  std::uint32_t header_limit = 16 * 1024;
  std::uint64_t body_limit = std::uint64_t{256} << 20;
  std::chrono::seconds header_timeout{10}; // a slow client's request head
  std::chrono::seconds body_timeout{300};  // and its body (an upload of up to body_limit)
  // SIGINT to SIGKILL for a gone client's command: time to end its current step and record it.
  std::chrono::milliseconds grace{20000};
  bool schedule = false; // run `ltb schedule run` beside the daemon
  // The network listener (`--listen ADDR:PORT`, "" = none): the same API, for callers who log in
  // (a session cookie) or send a bearer token; HTTPS with a certificate and its key.
  std::string listen;
  std::string tls_cert;
  std::string tls_key;
  bool allow_plain_http = false; // plain HTTP on an address that is not loopback
  std::string web_root;          // the web UI's files ("" = none)
  std::chrono::seconds session_lifetime{12 * 3600};
  std::size_t output_limit = std::size_t{64} << 20; // a buffered command's stdout, and stderr
};

/// The caller the daemon serves for a peer uid (name from the passwd database; root is admin).
using Identify = std::function<Result<service::Caller>(const service::Context &, uid_t)>;

/// The caller of a uid by the passwd database alone (root is the admin).
Result<service::Caller> passwd_caller(const service::Context &context, uid_t uid);

/// Prepares the socket (its directory 0755, the socket 0660 root:GROUP) and the network listener
/// when asked, then serves until *stop is set. Fails before serving when the group is missing, a
/// daemon already answers there, the address cannot be bound, the certificate or key does not
/// load, or plain HTTP is asked for on an address other than loopback without allow_plain_http.
Status serve(const ServeOptions &options, const Identify &identify, const std::atomic<bool> &stop,
             const std::function<void(const std::string &)> &log);

} // namespace ltb::server
