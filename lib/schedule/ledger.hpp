#pragma once
// Where admission's bookings come from: the reservations in the state file that hold capacity,
// and the labs running without one. Reads the Store; the decisions stay in admission.hpp.

#include "schedule/admission.hpp"
#include "state/store.hpp"

#include <string>
#include <vector>

namespace ltb::schedule {

/// Reservation states.
inline constexpr const char *k_pending = "pending";
inline constexpr const char *k_active = "active";
inline constexpr const char *k_ended = "ended";
inline constexpr const char *k_failed = "failed";
inline constexpr const char *k_cancelled = "cancelled";

/// Whether a reservation holds capacity at `now`: pending and active ones, and failed ones whose
/// window is still open (the scheduler retries them).
bool holds_capacity(const state::ReservationRecord &reservation, Instant now);

/// The reservation as a booking (its stored demand over [start_at, end_at)).
Booking booking_of(const state::ReservationRecord &reservation);

/// The stored demand as Resources.
Resources demand_of(const state::ReservationRecord &reservation);

/// The directory a reservation's stored topology resolves relative paths against (binds,
/// startup-config): its kept copy of the files (files_dir) when it has one, else the file's
/// directory for a file, <state dir>/templates for "template:NAME".
std::string reservation_base_dir(const state::ReservationRecord &reservation,
                                 const std::string &state_path);

/// <state dir>/templates: where `ltb reserve create --template NAME` reads NAME.yaml.
std::string templates_dir(const std::string &state_path);

/// The demand of a recorded lab: from its recorded topology text when it still loads, else from
/// its recorded nodes' kinds at the defaults. A node stopped by `ltb stop` counts its disk only
/// (it keeps its disk, not its CPUs and memory), unless `as_running`: what the lab needs once
/// `ltb start` has started it all.
Resources recorded_lab_demand(state::Store &store, const state::LabRecord &lab,
                              const DemandDefaults &defaults, bool as_running = false);

/// Every claim on capacity at `now`: the reservations that hold capacity (id != 0), and each
/// recorded lab that no active reservation covers, open-ended from `now` (id 0), and the disk
/// every snapshot holds (lab "snapshots", id 0).
/// `skip_lab`: a lab left out (the one being deployed or re-checked).
Result<std::vector<Booking>> current_bookings(state::Store &store, Instant now,
                                              const DemandDefaults &defaults,
                                              const std::string &skip_lab = {});

} // namespace ltb::schedule
