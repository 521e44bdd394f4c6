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
};

/// The caller the daemon serves for a peer uid (name from the passwd database; root is admin).
using Identify = std::function<Result<service::Caller>(const service::Context &, uid_t)>;

/// The caller of a uid by the passwd database alone (root is the admin).
Result<service::Caller> passwd_caller(const service::Context &context, uid_t uid);

/// Prepares the socket (its directory 0755, the socket 0660 root:GROUP), then serves until *stop
/// is set. Fails before serving when the group is missing or a daemon already answers there.
Status serve(const ServeOptions &options, const Identify &identify, const std::atomic<bool> &stop,
             const std::function<void(const std::string &)> &log);

} // namespace ltb::server
