#pragma once
// The relay's impairment engine for one direction of one link: pure (no sockets, no clock), so
// that unit tests drive it with a seeded random generator and made-up arrival times. Frames go
// through netem's stage first (loss, duplication, corruption, delay with jitter, reordering),
// then through a token bucket (tbf: rate in bits, a byte-bounded queue that drops when full).

#include "net/impairment.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace ltb::net {

/// One frame as the relay holds it: `bytes[offset..]` is the Ethernet frame; the bytes before it
/// (a virtio-net header) are carried along untouched and not counted.
struct Frame {
  std::vector<std::uint8_t> bytes;
  std::uint16_t offset = 0;

  std::size_t size() const { return bytes.size() - offset; }
};

/// A small, portable generator (splitmix64): the same seed gives the same decisions everywhere.
class Rng {
public:
  explicit Rng(std::uint64_t seed) : m_state(seed) {}
  std::uint64_t next();
  /// Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// True with probability pct / 100.
  bool chance(double pct) { return pct > 0 && unit() * 100.0 < pct; }

private:
  std::uint64_t m_state;
};

struct PathStats {
  std::uint64_t received = 0;
  std::uint64_t sent = 0;
  std::uint64_t lost = 0;       // dropped by `loss`
  std::uint64_t overflowed = 0; // dropped by a full rate queue
  std::uint64_t corrupted = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;
};

/// One direction: frames go in with their arrival time and come out when due. Times are
/// nanoseconds on any monotonic clock; calls must not go back in time.
class ImpairedPath {
public:
  explicit ImpairedPath(const Impairment &impairment = {}, std::uint64_t seed = 1);

  /// Changes the impairment at once. Frames already delayed keep their times; a changed rate
  /// applies to the frames still queued.
  void set(const Impairment &impairment);
  const Impairment &impairment() const { return m_impairment; }

  /// A frame arrived at `now`.
  void push(Frame frame, std::int64_t now);

  /// A frame of `size` bytes (without the header carried along) arriving at `now` that leaves at
  /// once, as push() then pop_due(now) would send it, without being held: true when nothing is
  /// held, only a rate applies and the bucket has the frame's tokens. It is then counted and its
  /// tokens taken, and the caller sends it as it is; false changes nothing (push it).
  bool pass(std::size_t size, std::int64_t now);

  /// When the next frame is due (it may be in the past); nullopt when nothing is held.
  std::optional<std::int64_t> next_due() const;

  /// Appends every frame due at or before `now`, in the order the link sends them.
  void pop_due(std::int64_t now, std::vector<Frame> &out);

  /// True when nothing is held, so a frame pushed now leaves at once.
  bool idle() const { return m_delayed.empty() && m_queue.empty(); }
  const PathStats &stats() const { return m_stats; }

  /// The token bucket's depth and the queue's limit in bytes for a rate (see the .cpp).
  static std::uint64_t burst_bytes(std::uint64_t rate_bps);
  static std::uint64_t limit_bytes(std::uint64_t rate_bps);

private:
  void delay(Frame frame, std::int64_t now, bool reordered);
  void enqueue(Frame frame, std::int64_t when);
  std::optional<std::int64_t> queue_due() const;
  void refill(std::int64_t when);

  Impairment m_impairment;
  Rng m_rng;
  PathStats m_stats;
  std::uint64_t m_sequence = 0;
  // netem's time-ordered queue: a binary min-heap on (time to send, arrival sequence), in a
  // vector, so that holding a frame allocates nothing once the vector has grown.
  struct Held {
    std::int64_t when;
    std::uint64_t sequence;
    Frame frame;
  };
  static bool later(const Held &x, const Held &y) {
    return x.when != y.when ? x.when > y.when : x.sequence > y.sequence;
  }
  std::vector<Held> m_delayed;
  // tbf: the queue, its bytes, the tokens (bits x 1e9, so integer arithmetic stays exact).
  std::deque<Frame> m_queue;
  std::uint64_t m_queued_bytes = 0;
  __int128 m_tokens = 0;
  std::int64_t m_tokens_at = 0;
  bool m_tokens_started = false;
};

} // namespace ltb::net
