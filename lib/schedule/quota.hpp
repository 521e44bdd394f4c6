#pragma once
// Quotas: how much of the host one user may hold, per user and per Unix group with a system
// default. Resolution per quota: the user's own setting, else the first of the user's groups that
// sets it, else the default, else unlimited (as Ludus does). An admin has only the quotas set on
// their own row. Pure functions over plain structs (no Store): the service reads the rows and the
// usage, these decide and word the refusal, with what would fit.

#include "schedule/capacity.hpp"
#include "schedule/time.hpp"
#include "util/error.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ltb::schedule {

enum class Quota {
  labs,
  nodes,
  vcpus,
  memory,
  disk,
  snapshot_disk,
  hours_per_week,
  longest,
  ahead
};

struct QuotaInfo {
  Quota quota = Quota::labs;
  std::string name; // as typed: "hours-per-week"
  std::string description;
  enum class Kind { count, cpus, bytes, seconds } kind = Kind::count;
};

/// Every quota, in display order.
const std::vector<QuotaInfo> &quota_infos();
const QuotaInfo &quota_info(Quota quota);

/// The limits set on one user, group or the default: counts, vCPUs, bytes or seconds.
using QuotaSet = std::map<Quota, double>;

/// One K=V of --quota; `limit` nullopt clears it (`K=` or `K=unlimited`).
struct QuotaChange {
  Quota quota = Quota::labs;
  std::optional<double> limit;
};

/// Parses "labs=2,memory=4GiB,hours-per-week=10h,longest=": counts as whole numbers, vcpus as a
/// decimal, sizes as the size parser takes them (512MiB, 2G), durations as `2h`, `1d`, `90m`
/// (hours-per-week also as a plain number of hours). 0 is a limit (none allowed). Unknown names
/// get a did-you-mean; errors exit 2.
Result<std::vector<QuotaChange>> parse_quota_changes(const std::string &text);
void apply_changes(QuotaSet &set, const std::vector<QuotaChange> &changes);

/// The JSON the state file keeps ({"labs": 2, "memory": 4294967296}); unknown names in it are
/// ignored (a newer ltb may have written them).
std::string quotas_json(const QuotaSet &set);
Result<QuotaSet> parse_quotas_json(const std::string &text);

/// A limit or an amount as people read it: "2", "1.5", "4 GiB", "10h".
std::string format_quota(Quota quota, double value);

/// Where a user's quotas come from.
struct QuotaLayers {
  bool admin = false;
  QuotaSet user;
  std::vector<std::pair<std::string, QuotaSet>> groups; // in the order they count
  QuotaSet defaults;
};

/// One resolved quota: the limit (nullopt: unlimited) and where it was set: "user",
/// "group NAME", "default", "unlimited" ("admin" for an admin's unset ones).
struct Limit {
  std::optional<double> value;
  std::string source = "unlimited";
};
using Limits = std::map<Quota, Limit>;

/// Resolution user -> group -> default -> unlimited, per quota; admins: their own row only.
Limits resolve_quotas(const QuotaLayers &layers);

/// True when no quota limits anything (the common case: checks are skipped).
bool unlimited(const Limits &limits);

/// One thing a user holds over [start, end): a lab (open-ended from now) or a reservation.
struct Holding {
  std::string lab;
  Instant start = 0;
  Instant end = k_forever;
  int labs = 1; // a group of --count reservations holds several
  int nodes = 0;
  Resources demand;
};

/// What a user holds at the busiest instant of [start, end), and which labs hold it then.
struct QuotaUsage {
  int labs = 0;
  int nodes = 0;
  Resources resources;
  std::vector<std::string> lab_names; // sorted, without duplicates
};
QuotaUsage peak_usage(const std::vector<Holding> &held, Instant start, Instant end);

/// Checks `candidate` (a lab to deploy or start, or reservations to make) beside the user's
/// other holdings over its window against labs, nodes, vcpus, memory and disk. `what` starts
/// the message ("cannot deploy lab x"). A refusal names the quota, the usage, the limit and
/// what would fit; it exits 1.
Status check_lab_quotas(const Limits &limits, const std::vector<Holding> &others,
                        const Holding &candidate, const std::string &what);

/// A reservation's window (one per lab of a --count group).
struct Window {
  Instant start = 0;
  Instant end = 0;
};

/// Checks new or moved reservations over [start, end) (`count` of them) against longest, ahead
/// and hours-per-week; `others` are the user's other reservations. Weeks are ISO weeks in local
/// time (Monday 00:00 to Monday 00:00).
Status check_reservation_quotas(const Limits &limits, const std::vector<Window> &others,
                                Instant start, Instant end, int count, Instant now,
                                const std::string &what);

/// The start of the ISO week (local Monday 00:00) holding t.
Instant week_start(Instant t);
/// Seconds of the windows inside [from, to).
std::int64_t seconds_within(const std::vector<Window> &windows, Instant from, Instant to);

/// The snapshot-disk quota: `used` bytes of the user's snapshots and `need` more.
Status check_snapshot_quota(const Limits &limits, std::int64_t used, std::int64_t need,
                            const std::string &what);

} // namespace ltb::schedule
