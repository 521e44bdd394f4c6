#pragma once
// The userspace impairment relay, for hosts whose kernel has no netem: one process per lab that
// joins the two host-side interfaces of each impaired point-to-point link (a container's veth peer
// on the host, a VM's tap) with AF_PACKET sockets and applies the link's impairments per
// direction (net/relay_engine.hpp). It is `ltb relay --lab-dir DIR`, a hidden subcommand of ltb
// itself, so that the relay is always the same version as the ltb that starts it. Its files live
// in the lab directory: relay.conf (the links it serves; what ltb reads back), relay.pid,
// relay.sock (the control socket: a change takes effect on one round trip), relay.log.
//
// A host-joined link that is not impaired is joined by tc redirects (net/redirect.hpp), with no
// process in its path; the first non-empty impairment moves it into the relay, and back.

#include "net/impairment.hpp"
#include "util/error.hpp"

#include <map>
#include <string>
#include <vector>

namespace ltb::net {

/// A direction of a link: a_to_b carries the frames that end a sends.
enum class Direction { a_to_b, b_to_a };

/// One point-to-point link as the relay sees it: its key and its ends' host-side interfaces.
struct RelayLink {
  std::string key;
  std::string a; // host-side interface of end a (frames end a sends arrive here)
  std::string b;
};

/// A relayed link with what it does each way.
struct RelayEntry {
  RelayLink link;
  Impairment a_to_b;
  Impairment b_to_a;

  bool empty() const { return a_to_b.empty() && b_to_a.empty(); }
  bool operator==(const RelayEntry &other) const {
    return link.key == other.link.key && link.a == other.link.a && link.b == other.link.b &&
           a_to_b == other.a_to_b && b_to_a == other.b_to_a;
  }
};

/// relay.conf: the links the lab's relay serves, by key.
using RelayConfig = std::map<std::string, RelayEntry>;

std::string format_relay_config(const RelayConfig &config);
/// Fails (naming the line) on text that format_relay_config did not write.
Result<RelayConfig> parse_relay_config(const std::string &text);

struct RelayState {
  bool running = false;
  int pid = 0;
  RelayConfig config; // what it serves (relay.conf), also when it is not running (it died)
};

/// The lab's relay behind one seam, so that apply/ and the link commands are unit-tested on a
/// fake (tests/unit/fakes/). Every call takes the lab's directory.
class Relay {
public:
  virtual ~Relay() = default;
  virtual RelayState state(const std::string &lab_dir) = 0;
  /// Sets one direction of one link and returns once the relay applies it (starting it when
  /// needed). Moves the link from its tc redirect into the relay, or back when both directions
  /// are empty (and stops the relay when it serves nothing).
  virtual Status set(const std::string &lab_dir, const RelayLink &link, Direction direction,
                     const Impairment &impairment) = 0;
  /// Takes a link out of the relay without joining its ends again (the link goes): stops the
  /// relay when it serves nothing else.
  virtual Status forget(const std::string &lab_dir, const std::string &key) = 0;
  /// Starts the relay again on its recorded configuration (after a crash); ok when it runs.
  virtual Status resume(const std::string &lab_dir) = 0;
  /// Stops the relay and removes its files. Ok when there is none.
  virtual Status stop(const std::string &lab_dir) = 0;
};

/// The real one (a process per lab). Stateless, so one instance serves all.
Relay &host_relay();

struct RelayServeOptions {
  std::string lab_dir;
  bool foreground = false; // stay attached (tests, benchmarks); else daemonise once ready
};

/// The relay process itself (`ltb relay`): serves relay.conf until told to stop. Returns when it
/// stops (foreground) or once the daemon is ready (or failed to start).
Status relay_serve(const RelayServeOptions &options);

} // namespace ltb::net
