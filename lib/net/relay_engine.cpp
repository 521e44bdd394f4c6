#include "net/relay_engine.hpp"

#include <algorithm>

namespace ltb::net {

namespace {

constexpr std::int64_t k_ns_per_s = 1'000'000'000;
constexpr std::uint64_t k_max_frame = 1514; // an Ethernet frame at MTU 1500, without FCS

/// Tokens are bits x 1e9, so that `rate (bits/s) x elapsed (ns)` adds them exactly.
__int128 tokens_of(std::uint64_t bytes) {
  return static_cast<__int128>(bytes) * 8 * k_ns_per_s;
}

} // namespace

std::uint64_t Rng::next() {
  std::uint64_t z = (m_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

ImpairedPath::ImpairedPath(const Impairment &impairment, std::uint64_t seed)
    : m_impairment(impairment), m_rng(seed) {}

// As tbf wants at least one full frame of burst, and a shaper at a high rate needs more to keep
// its pace across the relay's timer granularity: 10 ms of the rate.
std::uint64_t ImpairedPath::burst_bytes(std::uint64_t rate_bps) {
  return std::max<std::uint64_t>(2 * k_max_frame, rate_bps / 8 / 100);
}

// tbf's `latency 50ms`: a frame waits at most 50 ms in the queue (plus the burst).
std::uint64_t ImpairedPath::limit_bytes(std::uint64_t rate_bps) {
  return rate_bps / 8 / 20 + burst_bytes(rate_bps);
}

void ImpairedPath::set(const Impairment &impairment) {
  if (impairment.rate_bps != m_impairment.rate_bps && impairment.rate_bps != 0) {
    m_tokens = std::min(m_tokens, tokens_of(burst_bytes(impairment.rate_bps)));
  }
  m_impairment = impairment;
}

void ImpairedPath::push(Frame frame, std::int64_t now) {
  ++m_stats.received;
  // netem's order: duplicate, then loss (of one of the copies), then corruption of the original.
  int copies = 1;
  if (m_rng.chance(m_impairment.duplicate_pct)) {
    ++copies;
    ++m_stats.duplicated;
  }
  if (m_rng.chance(m_impairment.loss_pct)) {
    --copies;
    ++m_stats.lost;
  }
  if (copies == 0) {
    return;
  }
  std::optional<Frame> copy;
  if (copies == 2) {
    copy = frame;
  }
  if (m_rng.chance(m_impairment.corrupt_pct) && frame.size() > 0) {
    auto bit = m_rng.next() % (frame.size() * 8);
    frame.bytes[frame.offset + bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
    ++m_stats.corrupted;
  }
  bool delays = m_impairment.delay_us > 0 || m_impairment.jitter_us > 0;
  bool reordered = delays && m_rng.chance(m_impairment.reorder_pct);
  delay(std::move(frame), now, reordered);
  if (copy) {
    delay(std::move(*copy), now, delays && m_rng.chance(m_impairment.reorder_pct));
  }
}

bool ImpairedPath::pass(std::size_t size, std::int64_t now) {
  const auto &impairment = m_impairment;
  if (!idle() || impairment.rate_bps == 0 || impairment.delay_us != 0 ||
      impairment.jitter_us != 0 || impairment.loss_pct > 0 || impairment.corrupt_pct > 0 ||
      impairment.duplicate_pct > 0 || impairment.reorder_pct > 0) {
    return false;
  }
  // What enqueue() and queue_due() decide for a frame alone in the queue at `now`.
  refill(now);
  if (size > limit_bytes(impairment.rate_bps) ||
      m_tokens < std::min(tokens_of(size), tokens_of(burst_bytes(impairment.rate_bps)))) {
    return false;
  }
  m_tokens -= tokens_of(size);
  ++m_stats.received;
  ++m_stats.sent;
  return true;
}

void ImpairedPath::delay(Frame frame, std::int64_t now, bool reordered) {
  std::int64_t when = now;
  if (reordered) {
    ++m_stats.reordered; // netem sends it at once, ahead of the delayed ones
  } else {
    auto delay = static_cast<std::int64_t>(m_impairment.delay_us) * 1000;
    if (m_impairment.jitter_us > 0) {
      auto jitter = static_cast<double>(m_impairment.jitter_us) * 1000;
      delay += static_cast<std::int64_t>((m_rng.unit() * 2 - 1) * jitter);
    }
    when += std::max<std::int64_t>(delay, 0);
  }
  m_delayed.push_back(Held{when, m_sequence++, std::move(frame)});
  std::push_heap(m_delayed.begin(), m_delayed.end(), later);
}

void ImpairedPath::refill(std::int64_t when) {
  auto burst = tokens_of(burst_bytes(m_impairment.rate_bps));
  if (!m_tokens_started) {
    m_tokens_started = true;
    m_tokens = burst; // tbf starts with a full bucket
    m_tokens_at = when;
    return;
  }
  if (when <= m_tokens_at) {
    return;
  }
  auto added = static_cast<__int128>(when - m_tokens_at) * m_impairment.rate_bps;
  m_tokens = std::min(burst, m_tokens + added);
  m_tokens_at = when;
}

void ImpairedPath::enqueue(Frame frame, std::int64_t when) {
  refill(when);
  if (m_impairment.rate_bps != 0 &&
      m_queued_bytes + frame.size() > limit_bytes(m_impairment.rate_bps)) {
    ++m_stats.overflowed;
    return;
  }
  m_queued_bytes += frame.size();
  m_queue.push_back(std::move(frame));
}

std::optional<std::int64_t> ImpairedPath::queue_due() const {
  if (m_queue.empty()) {
    return std::nullopt;
  }
  if (m_impairment.rate_bps == 0) {
    return m_tokens_at; // the limit was lifted: what waits goes now
  }
  // A frame larger than the bucket goes when the bucket is full and leaves it in debt, so that
  // big (GSO) frames neither stall nor beat the rate.
  auto need =
      std::min(tokens_of(m_queue.front().size()), tokens_of(burst_bytes(m_impairment.rate_bps)));
  if (m_tokens >= need) {
    return m_tokens_at;
  }
  auto rate = static_cast<__int128>(m_impairment.rate_bps);
  return m_tokens_at + static_cast<std::int64_t>((need - m_tokens + rate - 1) / rate);
}

std::optional<std::int64_t> ImpairedPath::next_due() const {
  std::optional<std::int64_t> due = queue_due();
  if (!m_delayed.empty()) {
    auto delayed = m_delayed.front().when;
    due = due ? std::min(*due, delayed) : delayed;
  }
  return due;
}

void ImpairedPath::pop_due(std::int64_t now, std::vector<Frame> &out) {
  for (;;) {
    auto queued = queue_due();
    std::optional<std::int64_t> delayed;
    if (!m_delayed.empty()) {
      delayed = m_delayed.front().when;
    }
    if (queued && *queued <= now && (!delayed || *queued <= *delayed)) {
      refill(*queued);
      auto &front = m_queue.front();
      m_tokens -= tokens_of(front.size());
      m_queued_bytes -= front.size();
      out.push_back(std::move(front));
      m_queue.pop_front();
      ++m_stats.sent;
      continue;
    }
    if (!delayed || *delayed > now) {
      return;
    }
    std::pop_heap(m_delayed.begin(), m_delayed.end(), later);
    Frame frame = std::move(m_delayed.back().frame);
    m_delayed.pop_back();
    if (m_impairment.rate_bps == 0 && m_queue.empty()) {
      out.push_back(std::move(frame));
      ++m_stats.sent;
    } else {
      enqueue(std::move(frame), *delayed);
    }
  }
}

} // namespace ltb::net
