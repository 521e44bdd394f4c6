#pragma once
// `ltb capture`: start a capture on a link, an interface or a segment (an Open vSwitch mirror made
// for it), write its packets as pcap, and undo what it made when it stops. Every path out after
// start() goes through stop(): the state file records the capture until then, so that a killed
// one is cleaned up by the next capture, `ltb up` or `ltb down`.

#include "capture/live.hpp"
#include "capture/mirror.hpp"
#include "capture/records.hpp"
#include "capture/target.hpp"
#include "event/event.hpp"
#include "net/netlink.hpp"
#include "service/service.hpp"
#include "state/store.hpp"

#include <memory>
#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <vector>

namespace ltb::service {

struct CaptureRequest {
  std::string target; // a link, NODE:IFACE or a segment
  std::string lab;    // "" = the one of the caller's running labs that has the target
  std::string filter; // BPF
  std::string port;   // segment only: one node's ports
};

class Capture;

/// Why start() failed: the error, and the error of undoing what it had made (when that failed
/// too; the records then stay for the next run to clean up).
struct CaptureFailure {
  Error error;
  std::optional<Error> cleanup;
};

class Capture {
public:
  /// Chooses the lab, resolves the target, cleans stale mirrors, records the capture, makes the
  /// mirror of a segment and opens the interface; then tells `events` that it captures.
  static tl::expected<std::unique_ptr<Capture>, CaptureFailure>
  start(const Session &session, state::Store &store, const CaptureRequest &request);

  /// Writes packets to `path` ("" or "-" = standard output) until `count` (0 = no limit), the
  /// session's cancel token, the reader closing, or the source going away; the handle is closed
  /// after. Fails only when the output cannot be opened.
  Result<capture::WriteResult> write(const std::string &path, std::uint64_t count);

  /// Undoes what start() made: the mirror, then the record. The error when it could not.
  std::optional<Error> stop();

  const capture::Target &target() const { return m_target; }
  const std::string &lab() const { return m_target.lab; }

  Capture(const Capture &) = delete;
  Capture &operator=(const Capture &) = delete;
  ~Capture();

private:
  Capture() = default;
  event::Event capture_event(event::Action action) const;
  const Session *m_session = nullptr;
  state::Store *m_store = nullptr;
  bool m_announced = false; // "capture started" was recorded: stop() records "capture stopped"
  capture::Target m_target;
  capture::CaptureInfo m_info;
  std::optional<net::Netns> m_netns;
  int m_pid = 0; // the container's init: while it runs the namespace is the node's
  std::optional<capture::Registration> m_registration;
  std::optional<capture::LiveCapture> m_live;
  capture::VsctlRunner m_vsctl;
  bool m_stopped = false;
};

} // namespace ltb::service
