#pragma once
// The web terminal's sessions: a node's shell on a pty (the command `ltb exec`, `ssh` or
// `console` run for the caller), that outlives the browser's WebSocket for a grace period so that
// a reload reattaches to it, with its recent output replayed; one writer, and read-only watchers
// who hold its share token. Flow control: the pty is not read while the writer has more than
// k_unacked_limit bytes it has not acknowledged, so a flood waits in the node, not in the daemon.
// No HTTP here: the WebSocket side is a TerminalClient.

#include "server/child.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ltb::server {

inline constexpr std::size_t k_unacked_limit = std::size_t{1} << 20;
inline constexpr std::size_t k_scrollback = 64 * 1024;

struct TerminalInfo {
  std::string id;    // the owner's handle to reattach
  std::string share; // a watcher's handle (read-only)
  std::string owner; // ltb's name of the user who opened it
  std::string lab;
  std::string node;
  std::string via;         // exec, ssh or console
  std::string request_dir; // the command's private directory, removed with the session
};

/// One end of a session: called from the session's thread; must not block.
class TerminalClient {
public:
  virtual ~TerminalClient() = default;
  virtual void output(std::string_view bytes) = 0;
  virtual void ended(int code) = 0;
  /// Another client became the writer (a second tab of the owner).
  virtual void replaced() = 0;
};

/// A text message of the web terminal's WebSocket: {"type": "resize", "rows": R, "cols": C}
/// (each 1..1000) or {"type": "ack", "bytes": N} (N > 0); anything else is ignored (none).
struct TerminalMessage {
  enum class Type { none, resize, ack };
  Type type = Type::none;
  unsigned short rows = 0;
  unsigned short cols = 0;
  std::size_t bytes = 0;
};
TerminalMessage parse_terminal_message(std::string_view text);

class TerminalSession {
public:
  TerminalSession(TerminalInfo info, RunningChild child, std::chrono::milliseconds stop_grace);
  ~TerminalSession();
  TerminalSession(const TerminalSession &) = delete;
  TerminalSession &operator=(const TerminalSession &) = delete;

  const TerminalInfo &info() const { return m_info; }
  /// Attaches a client after replaying the recent output to it (and the end, if it ended).
  void attach(const std::shared_ptr<TerminalClient> &client, bool writer);
  void detach(const TerminalClient *client);
  void input(const TerminalClient *client, std::string_view bytes);
  void resize(const TerminalClient *client, unsigned short rows, unsigned short cols);
  void ack(const TerminalClient *client, std::size_t bytes);
  /// Whether the hub may drop it: its command ended and nobody watches, or nobody has written
  /// to it (no writer attached) for GRACE.
  bool expired(std::chrono::steady_clock::time_point now, std::chrono::seconds grace);
  /// Bytes the writer has not acknowledged (for tests and metrics).
  std::size_t unacked();

private:
  void pump();

  TerminalInfo m_info;
  RunningChild m_child;
  std::chrono::milliseconds m_stop_grace;
  std::mutex m_mutex;
  std::condition_variable m_acked;
  std::string m_recent; // the last k_scrollback bytes
  std::shared_ptr<TerminalClient> m_writer;
  std::vector<std::shared_ptr<TerminalClient>> m_watchers;
  std::size_t m_unacked = 0;
  std::optional<int> m_code;
  std::chrono::steady_clock::time_point m_detached_at;
  bool m_stopping = false;
  std::thread m_thread;
};

/// Every session of the daemon, by id and share token; drops expired ones every second.
class TerminalHub {
public:
  explicit TerminalHub(std::chrono::seconds grace = std::chrono::seconds(60));
  ~TerminalHub();
  TerminalHub(const TerminalHub &) = delete;
  TerminalHub &operator=(const TerminalHub &) = delete;

  std::shared_ptr<TerminalSession> add(TerminalInfo info, RunningChild child,
                                       std::chrono::milliseconds stop_grace);
  std::shared_ptr<TerminalSession> find(const std::string &id);
  std::shared_ptr<TerminalSession> find_share(const std::string &share);
  std::size_t size();

private:
  void sweep();

  std::chrono::seconds m_grace;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stop = false;
  std::map<std::string, std::shared_ptr<TerminalSession>> m_sessions;
  std::thread m_sweeper;
};

} // namespace ltb::server
