// Tests of lib/schedule/admission: windows, the sweep, proposals, the rule for `ltb up` of an
// unreserved lab, and random reservation sets checked against a brute-force model.

#include "schedule/admission.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <random>
#include <set>
#include <vector>

using namespace ltb::schedule;

namespace {

constexpr std::int64_t k_mib = 1LL << 20;

Booking booking(std::int64_t id, Instant start, Instant end, double cpus,
                std::int64_t memory_mib = 0, std::int64_t disk_mib = 0) {
  return {id, "lab" + std::to_string(id), start, end,
          Resources{cpus, memory_mib * k_mib, disk_mib * k_mib}};
}

const Resources k_capacity{4, 1024 * k_mib, 1024 * k_mib};

/// Brute force: the total demand at instant t.
Resources total_at(const std::vector<Booking> &bookings, Instant t) {
  Resources sum;
  for (const auto &b : bookings) {
    if (b.start <= t && t < b.end) {
      sum += b.demand;
    }
  }
  return sum;
}

/// Brute force: does `candidate` fit beside `bookings` at every instant of its window? The total
/// only changes at a start or an end, so checking those instants (and the window's start) is
/// checking every instant.
bool fits_everywhere(const std::vector<Booking> &bookings, const Booking &candidate,
                     const Resources &capacity) {
  std::set<Instant> points{candidate.start};
  for (const auto &b : bookings) {
    points.insert(b.start);
    points.insert(b.end);
  }
  for (Instant t : points) {
    if (t < candidate.start || t >= candidate.end) {
      continue;
    }
    Resources sum = total_at(bookings, t);
    sum += candidate.demand;
    if (!sum.fits_in(capacity)) {
      return false;
    }
  }
  return true;
}

std::vector<std::int64_t> ids(const std::vector<Booking> &bookings) {
  std::vector<std::int64_t> out;
  for (const auto &b : bookings) {
    out.push_back(b.id);
  }
  return out;
}

} // namespace

TEST_CASE("admission: an empty host admits what fits and refuses what never fits") {
  auto small = admit({}, booking(1, 100, 200, 4, 1024, 1024), k_capacity);
  CHECK(small.admitted);
  CHECK(small.peak == Resources{4, 1024 * k_mib, 1024 * k_mib});
  CHECK(small.peak_at == 100);
  auto big = admit({}, booking(1, 100, 200, 4.001), k_capacity);
  CHECK(!big.admitted);
  CHECK(big.short_of == std::vector<std::string>{"cpus"});
  CHECK(big.conflicts.empty());
  CHECK(!big.proposed_start);
  auto lines = describe_refusal(big, booking(1, 100, 200, 4.001), k_capacity);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].find("alone needs more") != std::string::npos);
}

TEST_CASE("admission: back-to-back windows do not overlap") {
  std::vector<Booking> existing{booking(1, 0, 100, 4, 1024, 1024)};
  CHECK(admit(existing, booking(2, 100, 200, 4, 1024, 1024), k_capacity).admitted);
  CHECK(admit(existing, booking(2, -100, 0, 4, 1024, 1024), k_capacity).admitted);
  auto overlap = admit(existing, booking(2, 99, 200, 0.001), k_capacity);
  CHECK(!overlap.admitted);
  CHECK(ids(overlap.conflicts) == std::vector<std::int64_t>{1});
  REQUIRE(overlap.proposed_start);
  CHECK(*overlap.proposed_start == 100);
  Timeline timeline(existing);
  CHECK(timeline.usage_at(99).cpus == 4);
  CHECK(timeline.usage_at(100).cpus == 0);
  CHECK(timeline.usage_at(-1).cpus == 0);
}

TEST_CASE("admission: refusal lists only the bookings at overflowing instants and proposes") {
  // 0..100: 3 vCPU; 50..150: 1 vCPU; 200..300: 2 vCPU. Capacity 4.
  std::vector<Booking> existing{booking(1, 0, 100, 3), booking(2, 50, 150, 1),
                                booking(3, 200, 300, 2), booking(4, 400, 500, 4)};
  auto a = admit(existing, booking(9, 40, 240, 2), k_capacity);
  CHECK(!a.admitted);
  CHECK(a.short_of == std::vector<std::string>{"cpus"});
  // 40..50: 3+2=5 over; 50..100: 6 over; 100..150: 3 fits; 200..240: 4 fits.
  CHECK(ids(a.conflicts) == std::vector<std::int64_t>{1, 2});
  CHECK(a.peak.cpus == doctest::Approx(6));
  CHECK(a.peak_at == 50);
  REQUIRE(a.proposed_start);
  // From 100 a 200 s window meets 1 (to 150) and 2 (200..300) and 4 (400): 100..300 fits.
  CHECK(*a.proposed_start == 100);
  auto moved = booking(9, 100, 300, 2);
  CHECK(admit(existing, moved, k_capacity).admitted);
  // A window long enough to reach the full booking 4 must pass it.
  auto longer = admit(existing, booking(9, 40, 440, 2), k_capacity);
  REQUIRE(longer.proposed_start);
  CHECK(*longer.proposed_start == 500);
  auto lines = describe_refusal(a, booking(9, 40, 240, 2), k_capacity);
  CHECK(lines.front().find("6 of 4 vCPU") != std::string::npos);
  CHECK(lines.size() == 3);
  CHECK(lines[1].find("reservation 1 (lab lab1)") != std::string::npos);
  auto capped = describe_refusal(a, booking(9, 40, 240, 2), k_capacity, 1);
  REQUIRE(capped.size() == 3);
  CHECK(capped[2] == "  and 1 more");
  CHECK(describe_refusal(a, booking(9, 40, 240, 2), k_capacity, 0).size() == 1);
}

TEST_CASE("admission: memory and disk count as well as cpus") {
  std::vector<Booking> existing{booking(1, 0, 100, 0, 1000, 0), booking(2, 0, 100, 0, 0, 1000)};
  auto memory = admit(existing, booking(3, 50, 60, 0, 25, 0), k_capacity);
  CHECK(memory.short_of == std::vector<std::string>{"memory"});
  CHECK(ids(memory.conflicts) == std::vector<std::int64_t>{1, 2});
  auto disk = admit(existing, booking(3, 50, 60, 0, 0, 25), k_capacity);
  CHECK(disk.short_of == std::vector<std::string>{"disk"});
  auto both = admit(existing, booking(3, 50, 60, 5, 25, 25), k_capacity);
  CHECK(both.short_of == std::vector<std::string>{"cpus", "memory", "disk"});
  CHECK(!both.proposed_start); // 5 vCPU never fit
  CHECK(admit(existing, booking(3, 50, 60, 4, 24, 24), k_capacity).admitted);
}

TEST_CASE("admission: an update is checked against the others, not against itself") {
  std::vector<Booking> existing{booking(1, 0, 100, 3), booking(2, 100, 200, 1)};
  // Extending 1 to 150 beside 2 (1 vCPU) needs 4: fits; counting itself twice it would not.
  CHECK(admit(existing, booking(1, 0, 150, 3), k_capacity).admitted);
  CHECK(!admit(existing, booking(1, 0, 150, 3.5), k_capacity).admitted);
}

TEST_CASE("admission: fractions of a vCPU add up exactly") {
  std::vector<Booking> existing;
  for (int i = 0; i < 39; ++i) {
    existing.push_back(booking(i + 1, 0, 100, 0.1));
  }
  CHECK(admit(existing, booking(100, 0, 100, 0.1), k_capacity).admitted);
  CHECK(!admit(existing, booking(100, 0, 100, 0.101), k_capacity).admitted);
}

TEST_CASE("admission: open-ended bookings and proposals") {
  // A running lab without an end (id 0) takes 3 vCPU from 50 on.
  std::vector<Booking> existing{booking(0, 50, k_forever, 3)};
  auto a = admit(existing, booking(1, 0, 100, 2), k_capacity);
  CHECK(!a.admitted);
  CHECK(!a.proposed_start); // it never ends
  CHECK(admit(existing, booking(1, 0, 50, 2), k_capacity).admitted);
  // An open-ended candidate fits only if it fits forever.
  CHECK(!admit({booking(1, 1000, 2000, 4)}, booking(0, 0, k_forever, 1), k_capacity).admitted);
  auto open = admit({booking(1, 1000, 2000, 4)}, booking(0, 0, k_forever, 1), k_capacity);
  REQUIRE(open.proposed_start);
  CHECK(*open.proposed_start == 2000);
}

TEST_CASE("admission: unreserved up is refused only where a reservation would be short") {
  const Resources cap{4, 1024 * k_mib, 1024 * k_mib};
  // Running unreserved labs already use 3 vCPU; a reservation of 2 vCPU from 1000 to 2000
  // (admitted earlier, when those labs were not running).
  std::vector<Booking> others{booking(0, 0, k_forever, 3), booking(7, 1000, 2000, 1)};
  // Before the reservation, an unreserved lab may overfill the host: that is the user's business.
  CHECK(check_unreserved_up(others, booking(0, 0, 1000, 2), cap).admitted);
  // Through the reservation's window it would leave it short.
  auto open = check_unreserved_up(others, booking(0, 0, k_forever, 1), cap);
  CHECK(!open.admitted);
  CHECK(ids(open.conflicts) == std::vector<std::int64_t>{7}); // only reservations are named
  CHECK(open.short_of == std::vector<std::string>{"cpus"});
  CHECK(open.peak.cpus == doctest::Approx(5));
  CHECK(open.peak_at == 1000);
  // --until before the start: fine; until the start exactly: fine (half-open); one second more:
  // refused.
  CHECK(check_unreserved_up(others, booking(0, 0, 1000, 1), cap).admitted);
  CHECK(!check_unreserved_up(others, booking(0, 0, 1001, 1), cap).admitted);
  // A lab small enough to fit beside the reservation passes.
  CHECK(
      check_unreserved_up({booking(7, 1000, 2000, 1)}, booking(0, 0, k_forever, 3), cap).admitted);
  // After the reservation ended, nothing is checked.
  CHECK(check_unreserved_up(others, booking(0, 2000, k_forever, 10), cap).admitted);
}

TEST_CASE("admission: Timeline::add gives the same steps as building from scratch") {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<Instant> when(0, 1000);
  std::uniform_int_distribution<int> len(1, 300);
  std::uniform_int_distribution<int> tenths(1, 20);
  std::vector<Booking> all;
  Timeline incremental;
  for (int i = 0; i < 300; ++i) {
    const Instant start = when(rng);
    const Instant end = i % 50 == 0 ? k_forever : start + len(rng);
    all.push_back(booking(i + 1, start, end, tenths(rng) / 10.0, tenths(rng), tenths(rng)));
    incremental.add(all.back());
  }
  Timeline built(all);
  for (Instant t = -1; t <= 1400; ++t) {
    CAPTURE(t);
    REQUIRE(incremental.usage_at(t) == built.usage_at(t));
    const Resources brute = total_at(all, t);
    REQUIRE(std::llround(built.usage_at(t).cpus * 1000) == std::llround(brute.cpus * 1000));
    REQUIRE(built.usage_at(t).memory_bytes == brute.memory_bytes);
  }
}

TEST_CASE("admission: random sets: admitted sets never overflow, proposals fit and are earliest") {
  std::mt19937_64 rng(20240514);
  const Resources cap{8, 8192 * k_mib, 4096 * k_mib};
  std::uniform_int_distribution<Instant> when(0, 10000);
  std::uniform_int_distribution<int> len(1, 2000);
  std::uniform_int_distribution<int> halves(1, 8); // 0.5 .. 4 vCPU
  std::uniform_int_distribution<int> mem(1, 16);   // 256 MiB steps
  std::uniform_int_distribution<int> disk(0, 4);   // 512 MiB steps
  int refused = 0;
  int proposed = 0;
  for (int round = 0; round < 40; ++round) {
    std::vector<Booking> admitted;
    Timeline timeline;
    for (int i = 0; i < 80; ++i) {
      const Instant start = when(rng);
      Booking candidate = booking(round * 1000 + i + 1, start, start + len(rng), halves(rng) / 2.0,
                                  mem(rng) * 256, disk(rng) * 512);
      // Now and then a lab that alone exceeds capacity, or a window that touches another.
      if (i % 17 == 16) {
        candidate.demand.cpus = 9;
      }
      if (i % 13 == 12 && !admitted.empty()) {
        const auto &prev = admitted[static_cast<std::size_t>(i) % admitted.size()];
        candidate.start = prev.end;
        candidate.end = prev.end + len(rng);
      }
      const Admission a = timeline.check(candidate, cap);
      const Admission b = admit(admitted, candidate, cap);
      REQUIRE(a.admitted == b.admitted);
      REQUIRE(a.admitted == fits_everywhere(admitted, candidate, cap));
      if (a.admitted) {
        admitted.push_back(candidate);
        timeline.add(candidate);
        continue;
      }
      ++refused;
      // Every conflict overlaps the window.
      for (const auto &c : a.conflicts) {
        REQUIRE(c.start < candidate.end);
        REQUIRE(c.end > candidate.start);
      }
      CHECK(!a.short_of.empty());
      if (!a.proposed_start) {
        // Only when the lab alone is too big (no open-ended bookings in this test).
        REQUIRE(!candidate.demand.fits_in(cap));
        continue;
      }
      ++proposed;
      const Instant p = *a.proposed_start;
      REQUIRE(p >= candidate.start);
      Booking moved = candidate;
      moved.start = p;
      moved.end = p + (candidate.end - candidate.start);
      REQUIRE(fits_everywhere(admitted, moved, cap));
      REQUIRE(timeline.check(moved, cap).admitted);
      // Earliest: a fitting start is the requested one or the end of some booking, and none of
      // those before p fits.
      for (const auto &other : admitted) {
        if (other.end >= candidate.start && other.end < p) {
          Booking earlier = candidate;
          earlier.start = other.end;
          earlier.end = other.end + (candidate.end - candidate.start);
          REQUIRE_FALSE(fits_everywhere(admitted, earlier, cap));
        }
      }
    }
    // The admitted set never exceeds capacity at any instant.
    for (const auto &b : admitted) {
      REQUIRE(total_at(admitted, b.start).fits_in(cap));
    }
  }
  // The generator must really exercise refusals and proposals.
  CHECK(refused > 100);
  CHECK(proposed > 50);
}
