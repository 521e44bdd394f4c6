#pragma once
// Reservations and the capacity rule: what `ltb reserve` and `ltb up` ask of the host's capacity.
// Decisions come from schedule/ (admission, ledger); this layer reads and writes the state file
// in IMMEDIATE transactions and turns refusals into errors that say what is in the way.

#include "schedule/admission.hpp"
#include "schedule/capacity.hpp"
#include "service/service.hpp"
#include "state/store.hpp"
#include "topology/model.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ltb::service {

/// The host's capacity under the state file's settings, and the demand defaults.
struct HostCapacity {
  schedule::CapacityConfig config;
  schedule::Resources capacity;
};
Result<HostCapacity> host_capacity(const Context &context, state::Store &store);

/// One reservation by id; "no reservation ID" otherwise.
Result<state::ReservationRecord> find_reservation(state::Store &store, std::int64_t id);
/// The same for a caller: another user's reservation is "no reservation ID" to a user.
Result<state::ReservationRecord> find_reservation(state::Store &store, const Caller &caller,
                                                  std::int64_t id);

/// Bookings as `caller` may read them in a refusal: their own labs by the names they see, other
/// users' as "a lab of another user" (their names and reservations are not told to a user).
std::vector<schedule::Booking> as_seen_by(const Caller &caller,
                                          std::vector<schedule::Booking> bookings);

/// "2024-05-14 09:00 to 2024-05-14 11:00 (2h)".
std::string span(schedule::Instant start, schedule::Instant end);

/// The refusal of `candidate` as an error: what overflows, who is in the way, what would fit.
Error refusal(const std::string &what, const schedule::Admission &admission,
              const schedule::Booking &candidate, const schedule::Resources &capacity);

/// After a change of reservations: brings an installed timer's next wake-up forward to the next
/// event (schedule/units.hpp). Its failure is a notice: the change itself is made.
void refresh_timer(EventSink &events, state::Store &store);

/// The window from --start and --end or --for (texts; "" = not given): `start_text` empty keeps
/// `start`, `end_text` and `duration_text` empty keep `end`. Usage errors when it ends before it
/// starts or in the past.
Result<std::pair<schedule::Instant, schedule::Instant>>
reservation_window(const std::string &start_text, const std::string &end_text,
                   const std::string &duration_text, schedule::Instant start, schedule::Instant end,
                   schedule::Instant now);

/// New reservations of one topology: one lab, or the instances NAME-1 ... NAME-N of --count.
struct CreateReservations {
  std::vector<std::string> labs; // as the caller names them (recorded by id, owners.hpp)
  std::string group;             // NAME, for the message about several instances
  const topology::Topology *topology = nullptr; // the first instance: its demand is each one's
  std::string source;                           // recorded: absolute path or "template:NAME"
  std::string text;                             // the topology text that deploys
  schedule::Instant start = 0;
  schedule::Instant end = 0;
  /// The directory of the topology's files when they are the daemon's per-request copy: the
  /// reservations keep a copy of their own (keep_reservation_files()). "" = none.
  std::string keep_files;
};

struct CreatedReservations {
  std::vector<std::int64_t> ids;  // one per lab, in order
  schedule::Resources demand;     // of each
  std::vector<bool> deployed_now; // per lab: a lab of that name runs outside any reservation
};

/// Admits the instances together (one booking of N times the demand) and records them pending,
/// in one IMMEDIATE transaction under the admission lock: two creates, or a create and an
/// unreserved `ltb up`, cannot both take the last free capacity. A refusal names what is in the
/// way and proposes the earliest start that fits. Call refresh_timer() after printing.
Result<CreatedReservations> create_reservations(const Session &session, state::Store &store,
                                                const CreateReservations &request);

struct UpdateReservation {
  std::int64_t id = 0;
  std::string start; // texts as given ("" = unchanged)
  std::string end;
  std::string duration;
};

/// Moves or resizes a reservation's window, admitted against the others (an active one keeps its
/// start); a failed one becomes pending again. Refreshes the timer. Returns the saved record.
Result<state::ReservationRecord> update_reservation(const Session &session, state::Store &store,
                                                    const UpdateReservation &request);

/// What deleting a reservation means, asked before it is done (the CLI confirms when `deployed`).
struct DeleteReservation {
  state::ReservationRecord record;
  bool finished = false; // cancelled or ended already: nothing to do
  bool deployed = false; // active, or its lab is held by the scheduler for it: the lab goes too
  bool held = false;
};
Result<DeleteReservation> prepare_delete(state::Store &store, const Caller &caller,
                                         std::int64_t id);

struct DeletedReservation {
  bool removed = false; // its lab was removed
  int objects = 0;      // objects removed with it
};

/// Cancels the reservation (unless it changed since `prepared`), refreshes the timer, and removes
/// its lab when it is deployed. Errors say what is cancelled and what is left to do.
Result<DeletedReservation> delete_reservation(const Session &session, state::Store &store,
                                              const DeleteReservation &prepared);

/// After `ltb down` of `lab`: a reservation under which it ran ends early (its capacity is free,
/// and the scheduler does not deploy it again); pending ones stay. Notices name each one.
Status end_reservations_of(const Session &session, state::Store &store, const std::string &lab);

/// The answer of admit_up(). While `lock` is held, no other lab is admitted: the caller records
/// the lab's claim (its lab record, status deploying, with the topology text whose demand later
/// admissions count), then releases it.
struct UpAdmission {
  std::optional<state::LabLock> lock;
  bool claim = false; // the lab's claim must be recorded before `lock` is released
};

/// The capacity rule for `ltb up` of `desired` (see schedule::check_unreserved_up):
///  - a lab under a reservation now (active, or failed with its window open) is not checked;
///    with `until` the reservation's end moves there, admitted like `ltb reserve update --end`;
///  - an unreserved lab counts over [now, until), open-ended without `until`, and is refused
///    when it would leave an admitted reservation short; the error names the reservations and
///    proposes an --until that fits;
///  - an unreserved lab already recorded whose demand does not grow is not checked;
///  - with `until` (and not `dry_run`) an active reservation of the lab from now to `until` is
///    recorded, held for the scheduler, so that `ltb schedule` removes the lab at `until`.
/// Admission and the claim are atomic across labs: the host-wide admission lock is taken first
/// (after the lab's own lock) and, when the answer has `claim`, still held. `until` is the text
/// given to --until ("" = none). Errors are ready to report.
Result<UpAdmission> admit_up(const Session &session, state::Store &store,
                             const topology::Topology &desired, const std::string &until,
                             bool dry_run);

} // namespace ltb::service
