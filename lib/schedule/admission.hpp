#pragma once
// Capacity admission: does a booking fit beside the others at every instant of its window, and if
// not, what is in the way and when would it fit. Pure functions over plain structs (no Store), so
// the scheduler, `ltb reserve`, `ltb up` and the tests share them. Windows are half-open
// [start, end): a booking that ends at 10:00 and one that starts at 10:00 never overlap.
//
// Sweep over event points: the bookings become a step function of total demand (sorted once), a
// window is checked by walking the steps it covers, and the earliest fitting start is found by
// sliding the window forward from one violating step's end to the next (linear in the steps).

#include "schedule/capacity.hpp"
#include "schedule/time.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ltb::schedule {

/// One claim on capacity over [start, end).
struct Booking {
  std::int64_t id = 0; // reservation id; 0 for a running lab without a reservation
  std::string lab;     // for messages
  Instant start = 0;
  Instant end = k_forever; // k_forever: open-ended (a running lab with no end)
  Resources demand;
};

/// The answer for one candidate booking.
struct Admission {
  bool admitted = false;
  /// Highest total demand (the others plus the candidate) at an instant of the window, and the
  /// first instant where it is reached. When refused: the peak among the instants that overflow.
  Resources peak;
  Instant peak_at = 0;
  /// Which resources overflow ("cpus", "memory", "disk"); empty when admitted.
  std::vector<std::string> short_of;
  /// The bookings active at an overflowing instant of the window, by start then id.
  std::vector<Booking> conflicts;
  /// Earliest start >= the requested one where the whole window (same length) fits; nullopt when
  /// it never does (the candidate alone exceeds capacity, or an open-ended booking is in the way).
  std::optional<Instant> proposed_start;
};

/// The bookings as a step function of total demand, built once and queried many times.
class Timeline {
public:
  Timeline() = default;
  explicit Timeline(const std::vector<Booking> &bookings);

  /// Adds one booking (O(steps)); for admitting several candidates in turn.
  void add(const Booking &booking);

  /// Total demand at instant t.
  Resources usage_at(Instant t) const;

  /// The highest total demand over [start, end) (componentwise maximum).
  Resources peak(Instant start, Instant end) const;

  /// Checks `candidate` against `capacity`. The candidate's own id is not excluded: build the
  /// timeline without it (see admit()) when re-checking an existing booking.
  Admission check(const Booking &candidate, const Resources &capacity) const;

  /// Earliest start >= candidate.start where [start, start + length) fits; nullopt when none.
  std::optional<Instant> earliest_fit(const Booking &candidate, const Resources &capacity) const;

  const std::vector<Booking> &bookings() const { return m_bookings; }

private:
  // Demand in integer units (milli-vCPUs, bytes) so that adding and removing 0.1 vCPU a
  // thousand times leaves exactly zero.
  struct Amount {
    std::int64_t milli_cpus = 0;
    std::int64_t memory = 0;
    std::int64_t disk = 0;
  };
  struct Step {
    Instant at = 0;
    Amount used; // total demand on [at, next step's at)
  };
  static Amount amount(const Resources &r);
  static Resources resources(const Amount &a);
  static bool fits(const Amount &used, const Amount &extra, const Amount &limit);
  std::size_t step_index(Instant t) const; // the step covering t; m_steps.size() if none
  void rebuild();

  std::vector<Booking> m_bookings;
  std::vector<Step> m_steps; // sorted by at; the first step starts at the earliest booking
};

/// Checks `candidate` beside `existing` (entries with the candidate's non-zero id are left out,
/// so an update is checked against the others only).
Admission admit(const std::vector<Booking> &existing, const Booking &candidate,
                const Resources &capacity);

/// The rule for `ltb up` of a lab that no reservation covers: it counts over [now, until) (until
/// = k_forever without --until) and is refused only when, at some instant of that window where
/// an admitted reservation is active (a booking with id != 0), the total would exceed capacity:
/// it must never leave an admitted reservation short. Where no reservation is active, capacity is
/// not checked (running unreserved labs are the user's business, as before reservations existed).
/// `others` holds the reservations and the other running labs; the result's conflicts list only
/// reservations. proposed_start is not computed (a lab deploys now or not at all).
Admission check_unreserved_up(const std::vector<Booking> &others, const Booking &lab,
                              const Resources &capacity);

/// A refusal as text: the overflowing resources with the peak and capacity, the conflicting
/// bookings (at most `max_conflicts`, then "and N more"; none with 0). One line each; the
/// proposal is left to the caller, who knows which option to suggest.
std::vector<std::string> describe_refusal(const Admission &admission, const Booking &candidate,
                                          const Resources &capacity,
                                          std::size_t max_conflicts = 10);

} // namespace ltb::schedule
