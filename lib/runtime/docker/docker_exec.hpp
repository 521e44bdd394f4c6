#pragma once
// An attached Docker exec: the command's stdin, stdout and stderr stream live over a hijacked
// connection to dockerd (POST /exec/ID/start with `Upgrade: tcp`), as `docker exec -i [-t]` does.
// Separate from ContainerRuntime because it streams and blocks for the command's life; the
// pure parts (request text, response head, frame demultiplexer) are declared below for the unit
// tests. Depends on util/ and runtime/docker only.

#include "util/error.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::runtime {

using OutputSink = std::function<void(std::string_view)>;

/// What an attached exec runs and where its streams go.
struct AttachedExec {
  std::string container; // name or id
  std::vector<std::string> argv;
  std::vector<std::string> env; // "KEY=VALUE", added to the container's
  /// A pseudo-terminal in the container: one raw stream (stderr arrives on on_out).
  bool tty = false;
  /// Read until EOF and passed on; then the connection is half-closed so the command sees EOF.
  /// -1: no stdin attached.
  int stdin_fd = -1;
  OutputSink on_out;
  OutputSink on_err;
  /// With a TTY: the terminal whose size is passed on at start and on every SIGWINCH (-1: none).
  /// SIGWINCH is handled for the duration of the call, so only one exec at a time may set it.
  int window_fd = -1;
  /// Set (by the caller's SIGINT/SIGTERM handler) to stop the command: Docker does not end an
  /// exec whose client went away, so it gets SIGINT (SIGHUP with a TTY) at its host pid, and
  /// SIGKILL 3 s later if it still runs; its output goes on to the end and the status is its
  /// own (130 for SIGINT). Null: not interruptible (the process's default handling applies).
  const std::atomic<bool> *interrupted = nullptr;
};

/// Runs the command and waits for it; returns its exit status (128+N when killed by signal N,
/// as Docker reports it). Fails when the container is missing or not running, or the command
/// could not be started.
Result<int> exec_attached(const AttachedExec &spec,
                          const std::string &socket_path = "/var/run/docker.sock");

namespace docker {

/// The request that starts an exec and hijacks the connection (HTTP/1.1, `Upgrade: tcp`).
/// `api_prefix` is "/v1.41" or empty.
std::string exec_start_request(std::string_view api_prefix, std::string_view exec_id, bool tty);

/// The head of an HTTP response: status code and where the head ends in the buffer.
struct ResponseHead {
  int status = 0;
  std::size_t length = 0; // bytes of the head including the blank line; the stream starts there
  std::optional<std::size_t> content_length;
};

/// nullopt while the head is incomplete; a status of 0 when it is not HTTP at all.
std::optional<ResponseHead> parse_response_head(std::string_view buffer);

/// Splits Docker's multiplexed stream (8-byte headers: stream, 0, 0, 0, big-endian size) as it
/// arrives, cut anywhere, headers included, and hands each payload piece on at once.
class FrameDemux {
public:
  FrameDemux(OutputSink on_out, OutputSink on_err)
      : m_on_out(std::move(on_out)), m_on_err(std::move(on_err)) {}
  void feed(std::string_view data);
  /// True when the stream ended inside a frame (truncated output).
  bool incomplete() const { return m_header_size != 0 || m_remaining != 0; }

private:
  OutputSink m_on_out;
  OutputSink m_on_err;
  unsigned char m_header[8] = {};
  std::size_t m_header_size = 0;
  std::uint32_t m_remaining = 0; // payload bytes left in the current frame
  int m_stream = 1;
};

/// Body of POST /containers/ID/exec for an attached exec.
std::string attached_exec_create_body(const AttachedExec &spec);

} // namespace docker
} // namespace ltb::runtime
