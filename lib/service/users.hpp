#pragma once
// ltb's users, groups and quotas (`ltb user`): who a uid is to ltb (identify), managing the user
// table, and the quota checks of admission, `ltb up`, `ltb start`, `ltb reserve` and snapshots.
// The system's user and group database sits behind `Accounts` (a fake in tests/unit/fakes/).

#include "schedule/quota.hpp"
#include "service/service.hpp"
#include "state/store.hpp"
#include "topology/model.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ltb::service {

/// The system's users and groups (getpwuid_r, getgrnam_r, getgrouplist).
class Accounts {
public:
  struct User {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
  };
  struct Group {
    std::string name;
    gid_t gid = 0;
  };
  virtual ~Accounts() = default;
  virtual std::optional<User> user_by_uid(uid_t uid) = 0;
  virtual std::optional<User> user_by_name(const std::string &name) = 0;
  virtual std::optional<Group> group_by_name(const std::string &name) = 0;
  /// The names of the user's groups, the primary one first.
  virtual std::vector<std::string> groups_of(const User &user) = 0;
};

/// The real database of this machine.
Accounts &system_accounts();

/// The Caller for `uid`: its Unix name; root is always an admin (no row needed); a user row gives
/// the role, else the first group row (by the user's Unix groups) ltb knows. A uid neither knows
/// is refused with the admins to ask.
Result<Caller> identify(state::Store &store, Accounts &accounts, uid_t uid);
/// The same with the state file of `context` (root needs no state file).
Result<Caller> identify(const Context &context, uid_t uid);

/// A Caller as JSON (`GET /v1/whoami`'s answer: uid, name, admin, groups), and back: the daemon
/// hands its child the caller it identified, so that the child does not identify it again.
nlohmann::json caller_json(const Caller &caller);
/// nullopt when TEXT is not such an object.
std::optional<Caller> caller_from_json(const std::string &text);

/// The quotas that apply to `caller` (user -> group -> default -> unlimited; admins: their own).
Result<schedule::Limits> quotas_of(state::Store &store, const Caller &caller);

/// What `name` holds now: each lab it owns (open-ended from now, stopped nodes counting their
/// disk only) and each reservation holding capacity; `skip_lab` left out. Reserved labs running
/// count through their reservation.
Result<std::vector<schedule::Holding>> holdings_of(state::Store &store, const std::string &name,
                                                   schedule::Instant now,
                                                   const schedule::DemandDefaults &defaults,
                                                   const std::string &skip_lab = {});

/// Quota checks of `session.caller` against `limits` (quotas_of; skip them when
/// schedule::unlimited). `nodes`, `demand`: of one lab; `labs`: a reservation group's labs.
Status check_up_quotas(const Session &session, state::Store &store, const schedule::Limits &limits,
                       const std::string &lab, int nodes, const schedule::Resources &demand,
                       const schedule::DemandDefaults &defaults, const std::string &what);
Status check_reservation_quotas(const Session &session, state::Store &store,
                                const schedule::Limits &limits,
                                const std::vector<std::string> &labs, int nodes,
                                const schedule::Resources &demand, schedule::Instant start,
                                schedule::Instant end, std::int64_t skip_reservation,
                                const schedule::DemandDefaults &defaults, const std::string &what);
/// The quotas of a lab deployed outside `ltb up`'s admission (a snapshot restored, possibly as
/// a new lab): as an unreserved `ltb up` of `desired`.
Status check_deploy_quotas(const Session &session, state::Store &store,
                           const topology::Topology &desired);
/// The snapshot-disk quota (quotas_of itself; a no-op when unlimited).
Status check_snapshot_quota(const Session &session, state::Store &store, std::int64_t need,
                            const std::string &what);

/// The nodes a stored topology text declares (0 when it does not parse).
int nodes_in_text(const std::string &text);

/// The bytes of `name`'s snapshots (a snapshot is its lab owner's).
Result<std::int64_t> snapshot_usage(state::Store &store, const std::string &name);

/// `ltb user add|set|rm`: a user (NAME), a group (--group) or the default quotas (--default).
struct UserChange {
  std::string name;
  bool group = false;
  bool defaults = false;           // set only
  std::optional<std::string> role; // "admin" or "user"
  std::string quota;               // --quota text ("" = unchanged)
  bool force = false;              // rm: also when the user owns labs, reservations, ...
};

Result<state::UserRecord> add_user(const Session &session, state::Store &store, Accounts &accounts,
                                   const UserChange &change);
/// The record as saved (for --default: kind "default", name "").
Result<state::UserRecord> set_user(const Session &session, state::Store &store, Accounts &accounts,
                                   const UserChange &change);

/// What a user owns, by kind ("labs: a, b"); empty when nothing.
struct Owned {
  std::vector<std::string> labs, reservations, templates, snapshots;
  bool empty() const;
};
Result<Owned> owned_by(state::Store &store, const std::string &name);

Status remove_user(const Session &session, state::Store &store, const UserChange &change);

/// Users and groups (admins only).
Result<std::vector<state::UserRecord>> list_users(const Session &session, state::Store &store);

/// `ltb user show`: one quota as resolved, with the usage against it.
struct QuotaLine {
  schedule::Quota quota = schedule::Quota::labs;
  std::optional<double> limit;
  std::string source;          // user, group NAME, default, unlimited, admin
  std::optional<double> usage; // nullopt: no usage of its own (longest, ahead)
};

struct UserReport {
  std::string name;
  std::int64_t uid = 0;
  std::string role;
  std::string role_source; // "root", "user", "group NAME"
  std::vector<std::string> groups;
  std::vector<QuotaLine> quotas;
  std::vector<std::string> labs;
};

/// The report of `name` ("" = the caller). Admins may show anyone, users themselves.
Result<UserReport> show_user(const Session &session, state::Store &store, Accounts &accounts,
                             const std::string &name);

/// The system's default quotas (meta "quotas.default").
Result<schedule::QuotaSet> default_quotas(state::Store &store);

} // namespace ltb::service
