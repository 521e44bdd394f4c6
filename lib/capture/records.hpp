#pragma once
// A capture's records in the state file: the capture itself (so that `ltb inspect` lists it) and,
// for a segment, its mirror and mirror port, recorded before they are made. Each carries the
// capturing process's identity. When that process is gone the records are stale, and whoever
// comes next (another capture, `ltb up`, `ltb down`) removes the mirror they name.

#include "capture/mirror.hpp"
#include "state/store.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ltb::capture {

/// ObjectRecord types. capture: name = target, owner = user, parent = the interface captured.
/// mirror and capture-port: name = the mirror's (and its port's) name, owner = the segment node,
/// parent = the bridge. All three: runtime_id = the process token.
inline constexpr state::ObjectType k_type_capture = state::ObjectType::capture;
inline constexpr state::ObjectType k_type_mirror = state::ObjectType::mirror;
inline constexpr state::ObjectType k_type_port = state::ObjectType::capture_port;

/// "PID:START", START being the process's start time (/proc/PID/stat), so that a reused pid is
/// not taken for the capture. "" when there is no such process.
std::string process_token(int pid);
bool process_alive(const std::string &token);
int token_pid(const std::string &token);

using AliveFn = std::function<bool(const std::string &token)>;

/// What a capture records about itself.
struct CaptureInfo {
  std::string lab;
  std::string target;    // as shown to the user: "r1:eth1 (link r1-r2)", "segment sw1"
  std::string interface; // what it captures on: "r1:eth1", or a host interface
  std::string user;
  std::string segment; // segment captures: the ovs-bridge node,
  std::string bridge;  // its bridge,
  std::string mirror;  // and the mirror's (and mirror port's) name
};

/// The records of one running capture.
class Registration {
public:
  /// Records the capture, and its mirror and port when it has them, in one transaction.
  static Result<Registration> record(state::Store &store, const CaptureInfo &info,
                                     const std::string &token);
  /// After the mirror is made.
  Status created();
  /// After the mirror is removed.
  Status forget();

private:
  Registration(state::Store &store, std::string token)
      : m_store(&store), m_token(std::move(token)) {}
  state::Store *m_store;
  std::string m_token;
  std::vector<std::int64_t> m_ids;
};

struct ActiveCapture {
  std::string target;
  std::string interface;
  std::string user;
  std::string mirror; // "" for a link or interface
  int pid = 0;
};

/// The captures among a lab's objects whose process runs.
std::vector<ActiveCapture> active_captures(const std::vector<state::ObjectRecord> &objects,
                                           const AliveFn &alive = process_alive);

struct StaleCapture {
  std::string token;
  std::vector<std::int64_t> ids;                            // every record of it
  std::vector<std::pair<std::string, std::string>> mirrors; // (bridge, name) to remove
};

/// The captures among a lab's objects whose process is gone, with what to remove.
std::vector<StaleCapture> stale_captures(const std::vector<state::ObjectRecord> &objects,
                                         const AliveFn &alive = process_alive);

/// Removes the mirrors of the lab's stale captures and forgets their records. Returns how many
/// captures it cleaned. A mirror that cannot be removed keeps its records (and fails).
Result<int> clean_stale(state::Store &store, const std::string &lab,
                        const VsctlRunner &vsctl = real_vsctl(),
                        const AliveFn &alive = process_alive);

} // namespace ltb::capture
