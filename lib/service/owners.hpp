#pragma once
// Who may see and act on what: labs, reservations, templates and snapshots each have an owner (a
// user name). A user sees and acts on their own; an admin on everything. Lab names are unique per
// owner: the lab's id (the state file's key and the base of every runtime name) is its name for
// root's labs and OWNER__NAME for any other owner's, and a user sees and types the plain name.

#include "service/service.hpp"
#include "state/store.hpp"
#include "util/error.hpp"

#include <string>
#include <vector>

namespace ltb::service {

/// Between an owner and a lab name in a lab id.
inline constexpr const char *k_owner_separator = "__";

/// The id of `owner`'s lab `name`: `name` for root ("" too: labs recorded before owners), else
/// OWNER__NAME (kept as it is when `name` already starts with that prefix).
std::string lab_id(const std::string &owner, const std::string &name);

/// The name `viewer` sees for the lab `id`: the id without the viewer's own prefix. Other users'
/// labs keep their whole id, which is also how an admin names them.
std::string lab_shown(const Caller &viewer, const std::string &id);

/// Whose lab the id names: the user before its separator, or "root" for an id without one.
std::string lab_id_owner(const std::string &id);

/// Whether `caller` may see and act on something `owner` owns: an admin always; a user on their
/// own.
bool may_act(const Caller &caller, const std::string &owner);

/// "admin" or "user".
std::string role_name(const Caller &caller);

/// The lab the caller means by `named`, which is a lab name the caller owns, or (an admin) a lab
/// id or OWNER/NAME. A lab the caller may not act on is "no lab named X" (its existence is not
/// told), with a did-you-mean over the caller's own labs.
Result<state::LabRecord> resolve_lab(state::Store &store, const Caller &caller,
                                     const std::string &named);

/// The id `named` resolves to, also when nothing is recorded under it (a lab that only runtime
/// labels know of, or one about to be made): resolve_lab()'s answer when there is a record,
/// else the caller's own id for the name (an admin's OWNER/NAME or id kept as given).
Result<std::string> resolve_lab_id(state::Store &store, const Caller &caller,
                                   const std::string &named);

/// Which owners' things a listing shows.
struct OwnerFilter {
  bool all = false;  // --all: every owner's (admins only)
  std::string owner; // --owner NAME: that user's (admins only; a user may name themself)
};

/// Checks a listing's filter against the caller: a user asking for others' gets a refusal that
/// says why.
Status check_filter(const Caller &caller, const OwnerFilter &filter);

/// Whether a listing with `filter` shows something `owner` owns: the named owner's, every
/// owner's, or by default the caller's own.
bool shows(const Caller &caller, const OwnerFilter &filter, const std::string &owner);

/// An admin's work (host settings, the scheduler, ltb's internal commands): a refusal for a user
/// that names `what` and whom to ask.
Status require_admin(const Caller &caller, const std::string &what);

/// "you have no lab named X" and friends: a refusal for what the caller may not act on reads as if
/// it were not there, so that no user learns another's names.
Error not_yours(const std::string &what, const std::string &name, const std::string &help);

} // namespace ltb::service
