// The relay's impairment engine against a fake clock (made-up times) and a seeded generator:
// statistics within binomial bounds, ordering and timing exactly.
#include "net/relay_engine.hpp"

#include <cmath>
#include <cstring>
#include <doctest/doctest.h>
#include <set>

using namespace ltb;
using net::Frame;
using net::ImpairedPath;

namespace {

constexpr std::int64_t k_ms = 1'000'000;

/// A frame whose first 4 bytes of payload number it; `header` bytes of vnet header before it.
Frame numbered(std::uint32_t n, std::size_t size = 100, std::uint16_t header = 0) {
  Frame frame;
  frame.bytes.assign(header + size, 0xA5);
  frame.offset = header;
  std::memcpy(frame.bytes.data() + header, &n, sizeof n);
  return frame;
}

std::uint32_t number(const Frame &frame) {
  std::uint32_t n = 0;
  std::memcpy(&n, frame.bytes.data() + frame.offset, sizeof n);
  return n;
}

struct Out {
  std::int64_t at;
  Frame frame;
};

/// Runs the fake clock from due time to due time until nothing is held or `until` is reached.
std::vector<Out> drain(ImpairedPath &path, std::int64_t until = INT64_MAX) {
  std::vector<Out> outs;
  std::int64_t clock = 0;
  while (auto due = path.next_due()) {
    if (*due > until) {
      break;
    }
    clock = std::max(clock, *due);
    std::vector<Frame> frames;
    path.pop_due(clock, frames);
    REQUIRE(!frames.empty()); // next_due never promises what pop_due does not give
    for (auto &frame : frames) {
      outs.push_back({clock, std::move(frame)});
    }
  }
  return outs;
}

/// The binomial 99.9 % two-sided interval for n trials at probability p (normal approximation,
/// z = 3.29; n p (1 - p) is well above 10 in every test here).
bool within_binomial(std::uint64_t count, std::uint64_t n, double p) {
  double mean = static_cast<double>(n) * p;
  double sd = std::sqrt(static_cast<double>(n) * p * (1 - p));
  return std::abs(static_cast<double>(count) - mean) <= 3.29 * sd;
}

} // namespace

TEST_CASE("the relay engine: without impairment frames leave when they arrive, in order") {
  ImpairedPath path;
  CHECK(path.idle());
  CHECK_FALSE(path.next_due());
  for (std::uint32_t i = 0; i < 5; ++i) {
    path.push(numbered(i), 7 * k_ms);
  }
  CHECK(path.next_due() == 7 * k_ms);
  std::vector<Frame> out;
  path.pop_due(7 * k_ms, out);
  REQUIRE(out.size() == 5);
  for (std::uint32_t i = 0; i < 5; ++i) {
    CHECK(number(out[i]) == i);
  }
  CHECK(path.idle());
  CHECK(path.stats().sent == 5);
}

TEST_CASE("the relay engine: delay holds every frame exactly that long") {
  ImpairedPath path({.delay_us = 50'000});
  path.push(numbered(0), 0);
  path.push(numbered(1), 1 * k_ms);
  path.push(numbered(2), 2 * k_ms);
  CHECK(path.next_due() == 50 * k_ms);
  std::vector<Frame> out;
  path.pop_due(50 * k_ms - 1, out);
  CHECK(out.empty());
  path.pop_due(50 * k_ms, out);
  REQUIRE(out.size() == 1);
  CHECK(number(out[0]) == 0);
  CHECK(path.next_due() == 51 * k_ms);
  path.pop_due(52 * k_ms, out);
  REQUIRE(out.size() == 3);
  CHECK(number(out[1]) == 1);
  CHECK(number(out[2]) == 2);
}

TEST_CASE("the relay engine: jitter spreads the delay uniformly within +- jitter") {
  ImpairedPath path({.delay_us = 50'000, .jitter_us = 10'000}, 42);
  constexpr int n = 2000;
  for (int i = 0; i < n; ++i) {
    path.push(numbered(i), 0);
  }
  auto outs = drain(path);
  REQUIRE(outs.size() == n);
  double sum = 0;
  std::int64_t low = INT64_MAX;
  std::int64_t high = 0;
  bool reordered = false;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    CHECK(outs[i].at >= 40 * k_ms);
    CHECK(outs[i].at <= 60 * k_ms);
    sum += static_cast<double>(outs[i].at);
    low = std::min(low, outs[i].at);
    high = std::max(high, outs[i].at);
    if (i > 0 && number(outs[i].frame) < number(outs[i - 1].frame)) {
      reordered = true; // netem's time-sorted queue lets jitter reorder
    }
  }
  // Uniform on [40, 60] ms: sd 5.77 ms, so the mean of 2000 is within 0.42 ms (99.9 %).
  CHECK(std::abs(sum / n - 50.0 * k_ms) < 0.42 * k_ms);
  CHECK(low < 41 * k_ms);
  CHECK(high > 59 * k_ms);
  CHECK(reordered);
}

TEST_CASE("the relay engine: loss drops within the binomial 99.9 % bounds") {
  for (std::uint64_t seed : {1, 2, 3}) {
    ImpairedPath path({.loss_pct = 20}, seed);
    constexpr int n = 2000;
    for (int i = 0; i < n; ++i) {
      path.push(numbered(i), i * k_ms);
    }
    auto outs = drain(path);
    CAPTURE(seed);
    CHECK(path.stats().lost + outs.size() == n);
    CHECK(within_binomial(path.stats().lost, n, 0.20));
    CHECK(path.stats().lost > 0);
    for (std::size_t i = 1; i < outs.size(); ++i) {
      CHECK(number(outs[i].frame) > number(outs[i - 1].frame)); // survivors keep their order
    }
  }
  ImpairedPath all({.loss_pct = 100});
  all.push(numbered(0), 0);
  CHECK(all.idle());
  CHECK(all.stats().lost == 1);
}

TEST_CASE("the relay engine: corruption flips exactly one bit of the frame, never the header") {
  ImpairedPath path({.corrupt_pct = 10}, 7);
  constexpr int n = 3000;
  for (int i = 0; i < n; ++i) {
    path.push(numbered(i, 64, 10), 0);
  }
  auto outs = drain(path);
  REQUIRE(outs.size() == n);
  std::uint64_t changed = 0;
  for (std::size_t k = 0; k < outs.size(); ++k) {
    const auto &out = outs[k];
    auto expected = numbered(static_cast<std::uint32_t>(k), 64, 10); // no delay: order kept
    REQUIRE(out.frame.bytes.size() == expected.bytes.size());
    int bits = 0;
    for (std::size_t i = 0; i < expected.bytes.size(); ++i) {
      bits += __builtin_popcount(static_cast<unsigned>(out.frame.bytes[i] ^ expected.bytes[i]));
      if (i < 10) {
        CHECK(out.frame.bytes[i] == 0xA5); // the vnet header is carried untouched
      }
    }
    CHECK(bits <= 1);
    changed += bits;
  }
  CHECK(changed == path.stats().corrupted);
  CHECK(within_binomial(changed, n, 0.10));
}

TEST_CASE("the relay engine: duplication sends a second, identical copy") {
  ImpairedPath path({.duplicate_pct = 10}, 11);
  constexpr int n = 3000;
  for (int i = 0; i < n; ++i) {
    path.push(numbered(i), i * k_ms);
  }
  auto outs = drain(path);
  CHECK(outs.size() == n + path.stats().duplicated);
  CHECK(within_binomial(path.stats().duplicated, n, 0.10));
  std::multiset<std::uint32_t> seen;
  for (const auto &out : outs) {
    seen.insert(number(out.frame));
    CHECK(out.at == static_cast<std::int64_t>(number(out.frame)) * k_ms);
  }
  std::uint64_t twice = 0;
  for (int i = 0; i < n; ++i) {
    auto count = seen.count(i);
    CHECK((count == 1 || count == 2));
    twice += count == 2;
  }
  CHECK(twice == path.stats().duplicated);
}

TEST_CASE("the relay engine: reordered frames go at once, ahead of the delayed ones") {
  ImpairedPath path({.delay_us = 10'000, .reorder_pct = 25}, 5);
  constexpr int n = 2000;
  std::vector<Out> outs;
  std::vector<Frame> frames;
  // One frame per millisecond; the clock ticks each millisecond, sending what is due.
  for (std::int64_t t = 0; t < (n + 20) * k_ms; t += k_ms) {
    if (t < n * k_ms) {
      path.push(numbered(static_cast<std::uint32_t>(t / k_ms)), t);
    }
    frames.clear();
    path.pop_due(t, frames);
    for (auto &frame : frames) {
      outs.push_back({t, std::move(frame)});
    }
  }
  REQUIRE(outs.size() == n);
  CHECK(path.idle());
  std::uint64_t early = 0;
  for (const auto &out : outs) {
    auto sent = static_cast<std::int64_t>(number(out.frame)) * k_ms;
    if (out.at == sent) {
      ++early;
    } else {
      CHECK(out.at == sent + 10 * k_ms);
    }
  }
  CHECK(early == path.stats().reordered);
  CHECK(within_binomial(early, n, 0.25));
  // Within one tick, a reordered frame leaves before the delayed frames due then (pushed 10 ms
  // earlier): netem puts it at the head of the queue.
  for (std::size_t i = 1; i < outs.size(); ++i) {
    if (outs[i].at == outs[i - 1].at && number(outs[i].frame) + 10 == number(outs[i - 1].frame)) {
      FAIL("a delayed frame left before a reordered one of the same tick");
    }
  }
  // Without delay, reorder has nothing to overtake (as in netem).
  ImpairedPath plain({.reorder_pct = 50});
  plain.push(numbered(0), 0);
  CHECK(plain.stats().reordered == 0);
}

TEST_CASE("the relay engine: the rate's token bucket paces frames exactly and drops when full") {
  // 1 Mbit/s: a 1000-byte frame is 8 ms of line. Burst 3028 bytes (two full frames), queue limit
  // 50 ms of rate (6250 bytes) + burst = 9278 bytes.
  CHECK(ImpairedPath::burst_bytes(1'000'000) == 3028);
  CHECK(ImpairedPath::limit_bytes(1'000'000) == 9278);
  ImpairedPath path({.rate_bps = 1'000'000});
  for (std::uint32_t i = 0; i < 20; ++i) {
    path.push(numbered(i, 1000), 0);
  }
  auto outs = drain(path);
  // Three fit the full bucket at once; nine wait in the queue (9000 bytes); eight overflow.
  REQUIRE(outs.size() == 12);
  CHECK(path.stats().overflowed == 8);
  for (std::uint32_t i = 0; i < 3; ++i) {
    CHECK(number(outs[i].frame) == i);
    CHECK(outs[i].at == 0);
  }
  // 28 bytes of tokens are left: the fourth waits for 7972 more bytes... (8000 - 28) x 8 bits.
  for (std::uint32_t i = 3; i < 12; ++i) {
    CHECK(number(outs[i].frame) == i);
    CHECK(outs[i].at == 7'776'000 + (static_cast<std::int64_t>(i) - 3) * 8 * k_ms);
  }
  // An idle second refills the bucket to its depth, no more.
  path.push(numbered(100, 1000), 2000 * k_ms);
  path.push(numbered(101, 1000), 2000 * k_ms);
  path.push(numbered(102, 1000), 2000 * k_ms);
  path.push(numbered(103, 1000), 2000 * k_ms);
  outs = drain(path);
  REQUIRE(outs.size() == 4);
  CHECK(outs[2].at == 2000 * k_ms);
  CHECK(outs[3].at == 2000 * k_ms + 7'776'000);
}

TEST_CASE("the relay engine: a frame larger than the bucket passes and leaves it in debt") {
  ImpairedPath path({.rate_bps = 8'000'000}); // 1 byte per microsecond; burst 10000 bytes
  path.push(numbered(0, 60000), 0);           // a GSO frame
  path.push(numbered(1, 1000), 0);
  auto outs = drain(path);
  REQUIRE(outs.size() == 2);
  CHECK(outs[0].at == 0);
  // The debt: 60000 - 10000 bytes, then 1000 more for the next: 51 ms at 1 byte/us.
  CHECK(outs[1].at == 51 * k_ms);
}

TEST_CASE("the relay engine: delay then rate, as netem with a tbf child") {
  ImpairedPath path({.delay_us = 20'000, .rate_bps = 1'000'000});
  for (std::uint32_t i = 0; i < 5; ++i) {
    path.push(numbered(i, 1000), 0);
  }
  auto outs = drain(path);
  REQUIRE(outs.size() == 5);
  CHECK(outs[0].at == 20 * k_ms);
  CHECK(outs[2].at == 20 * k_ms);
  CHECK(outs[3].at == 20 * k_ms + 7'776'000);
  CHECK(outs[4].at == 20 * k_ms + 15'776'000);
}

TEST_CASE("the relay engine: a change applies to new frames; held frames keep their time") {
  ImpairedPath path({.delay_us = 50'000});
  path.push(numbered(0), 0);
  path.set({});
  path.push(numbered(1), 1 * k_ms);
  std::vector<Frame> out;
  path.pop_due(1 * k_ms, out);
  REQUIRE(out.size() == 1);
  CHECK(number(out[0]) == 1);
  CHECK(path.next_due() == 50 * k_ms);
  // Lifting a rate lets the queue go at once.
  ImpairedPath shaped({.rate_bps = 1'000'000});
  for (std::uint32_t i = 0; i < 6; ++i) {
    shaped.push(numbered(i, 1000), 0);
  }
  out.clear();
  shaped.pop_due(0, out);
  CHECK(out.size() == 3);
  shaped.set({});
  shaped.pop_due(1, out);
  CHECK(out.size() == 6);
  CHECK(shaped.idle());
}

TEST_CASE("the relay engine: the generator is the same for a seed and differs between seeds") {
  net::Rng a(9);
  net::Rng b(9);
  net::Rng c(10);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    auto x = a.next();
    CHECK(x == b.next());
    differs = differs || x != c.next();
    auto u = a.unit();
    b.unit();
    CHECK(u >= 0.0);
    CHECK(u < 1.0);
  }
  CHECK(differs);
}

TEST_CASE("the relay engine: a frame passed at once leaves as pushing it would, tokens and all") {
  // The same arrivals through two paths at 2 Mbit/s (a 1000-byte frame is 4 ms of line): one
  // passes each frame it can and pushes the rest, the other pushes all; they send the same frames
  // at the same times and count the same.
  ImpairedPath passing({.rate_bps = 2'000'000});
  ImpairedPath pushing({.rate_bps = 2'000'000});
  std::vector<std::pair<std::int64_t, std::uint32_t>> sent_passing;
  std::vector<std::pair<std::int64_t, std::uint32_t>> sent_pushing;
  std::uint32_t passed = 0;
  auto send_due = [](ImpairedPath &path, std::int64_t now, auto &sent) {
    std::vector<Frame> frames;
    path.pop_due(now, frames);
    for (const auto &frame : frames) {
      sent.emplace_back(now, number(frame));
    }
  };
  std::int64_t now = 0;
  for (std::uint32_t i = 0; i < 200; ++i) {
    // Bursts of 5 every 30 ms (3 fit the bucket, 2 wait), and one of 30 that overflows.
    now += (i % 5 == 0 && (i < 100 || i >= 130)) ? 30 * k_ms : 0;
    send_due(passing, now, sent_passing);
    send_due(pushing, now, sent_pushing);
    if (passing.pass(1000, now)) {
      sent_passing.emplace_back(now, i);
      ++passed;
    } else {
      passing.push(numbered(i, 1000), now);
    }
    send_due(passing, now, sent_passing);
    pushing.push(numbered(i, 1000), now);
    send_due(pushing, now, sent_pushing);
  }
  for (auto *path : {&passing, &pushing}) {
    auto &sent = path == &passing ? sent_passing : sent_pushing;
    for (auto &out : drain(*path)) {
      sent.emplace_back(std::max(out.at, now), number(out.frame));
    }
  }
  CHECK(passed > 20); // some went at once, some waited
  CHECK(passing.stats().sent > passed);
  CHECK(passing.stats().overflowed > 0);
  CHECK(sent_passing == sent_pushing);
  CHECK(passing.stats().received == pushing.stats().received);
  CHECK(passing.stats().sent == pushing.stats().sent);
  CHECK(passing.stats().overflowed == pushing.stats().overflowed);

  // Anything but a rate, or a frame held already, is never passed.
  ImpairedPath delayed({.delay_us = 1, .rate_bps = 1'000'000});
  CHECK_FALSE(delayed.pass(100, 0));
  ImpairedPath lossy({.loss_pct = 1, .rate_bps = 1'000'000});
  CHECK_FALSE(lossy.pass(100, 0));
  ImpairedPath unlimited;
  CHECK_FALSE(unlimited.pass(100, 0));
  CHECK(delayed.stats().received == 0);
}
