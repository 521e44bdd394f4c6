#pragma once
// What a link does to the packets that cross it in one direction: delay, jitter, loss,
// corruption, duplication, reordering and a rate limit. The kernel applies it with netem and tbf
// where it has them; elsewhere ltb's userspace relay does the same. The topology's model has its
// own type; apply/ turns one into the other.

#include <cstdint>

namespace ltb::net {

struct Impairment {
  std::uint64_t delay_us = 0;  // added to every packet
  std::uint64_t jitter_us = 0; // delay varies uniformly by +- this much (needs delay)
  double loss_pct = 0;         // 0..100: packets dropped at random
  double corrupt_pct = 0;      // 0..100: packets with one random bit flipped
  double duplicate_pct = 0;    // 0..100: packets sent twice
  double reorder_pct = 0;      // 0..100: packets sent at once, ahead of delayed ones (needs delay)
  std::uint64_t rate_bps = 0;  // bits per second; 0: no limit

  /// True when it changes nothing (a link without impairments).
  bool empty() const {
    return delay_us == 0 && jitter_us == 0 && loss_pct == 0 && corrupt_pct == 0 &&
           duplicate_pct == 0 && reorder_pct == 0 && rate_bps == 0;
  }
  bool operator==(const Impairment &) const = default;
};

} // namespace ltb::net
