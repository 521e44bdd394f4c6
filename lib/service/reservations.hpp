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

namespace ltb::service {

/// The host's capacity under the state file's settings, and the demand defaults.
struct HostCapacity {
  schedule::CapacityConfig config;
  schedule::Resources capacity;
};
Result<HostCapacity> host_capacity(const Context &context, state::Store &store);

/// One reservation by id; "no reservation ID" otherwise.
Result<state::ReservationRecord> find_reservation(state::Store &store, std::int64_t id);

/// "2024-05-14 09:00 to 2024-05-14 11:00 (2h)".
std::string span(schedule::Instant start, schedule::Instant end);

/// The refusal of `candidate` as an error: what overflows, who is in the way, what would fit.
Error refusal(const std::string &what, const schedule::Admission &admission,
              const schedule::Booking &candidate, const schedule::Resources &capacity);

/// After a change of reservations: brings an installed timer's next wake-up forward to the next
/// event (schedule/units.hpp). Its failure is a notice: the change itself is made.
void refresh_timer(EventSink &events, state::Store &store);

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
