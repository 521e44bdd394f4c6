#pragma once
// What `ltb up` asks of reservations (cmd_reserve.cpp): whether an unreserved lab may start now
// beside the admitted reservations, and with --until, the booking that makes it a reserved lab.

#include "cli/context.hpp"
#include "topology/model.hpp"

#include <string>

namespace ltb::cli {

/// The capacity rule for `ltb up` of `desired` (see schedule::check_unreserved_up):
///  - a lab under a reservation now (active, or failed with its window open) is not checked;
///    with `until` the reservation's end moves there, admitted like `ltb reserve update --end`;
///  - an unreserved lab counts over [now, until), open-ended without `until`, and is refused
///    when it would leave an admitted reservation short; the error names the reservations and
///    proposes an --until that fits;
///  - an unreserved lab already recorded whose demand does not grow is not checked;
///  - with `until` (and not `dry_run`) an active reservation of the lab from now to `until` is
///    recorded, held for the scheduler, so that `ltb schedule` removes the lab at `until`.
/// `until` is the text given to --until ("" = none). Errors are ready to report.
Status admit_up(const Globals &globals, state::Store &store, const topology::Topology &desired,
                const std::string &until, bool dry_run);

} // namespace ltb::cli
