#include "service/users.hpp"

#include "schedule/ledger.hpp"
#include "service/owners.hpp"
#include "service/reservations.hpp"

#include <algorithm>
#include <ctime>
#include <fmt/format.h>
#include <grp.h>
#include <nlohmann/json.hpp>
#include <pwd.h>
#include <set>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

namespace ltb::service {

namespace {

using schedule::Instant;

constexpr const char *k_default_quotas = "quotas.default";

Instant now_seconds() {
  return static_cast<Instant>(std::time(nullptr));
}

std::string join(const std::vector<std::string> &words) {
  std::string out;
  for (const auto &word : words) {
    out += (out.empty() ? "" : ", ") + word;
  }
  return out;
}

class SystemAccounts : public Accounts {
public:
  std::optional<User> user_by_uid(uid_t uid) override {
    std::vector<char> buffer(buffer_size(_SC_GETPW_R_SIZE_MAX));
    passwd pw{};
    passwd *found = nullptr;
    while (getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found) == ERANGE) {
      buffer.resize(buffer.size() * 2);
    }
    if (found == nullptr) {
      return std::nullopt;
    }
    return User{pw.pw_name, pw.pw_uid, pw.pw_gid};
  }

  std::optional<User> user_by_name(const std::string &name) override {
    std::vector<char> buffer(buffer_size(_SC_GETPW_R_SIZE_MAX));
    passwd pw{};
    passwd *found = nullptr;
    while (getpwnam_r(name.c_str(), &pw, buffer.data(), buffer.size(), &found) == ERANGE) {
      buffer.resize(buffer.size() * 2);
    }
    if (found == nullptr) {
      return std::nullopt;
    }
    return User{pw.pw_name, pw.pw_uid, pw.pw_gid};
  }

  std::optional<Group> group_by_name(const std::string &name) override {
    std::vector<char> buffer(buffer_size(_SC_GETGR_R_SIZE_MAX));
    group gr{};
    group *found = nullptr;
    while (getgrnam_r(name.c_str(), &gr, buffer.data(), buffer.size(), &found) == ERANGE) {
      buffer.resize(buffer.size() * 2);
    }
    if (found == nullptr) {
      return std::nullopt;
    }
    return Group{gr.gr_name, gr.gr_gid};
  }

  std::vector<std::string> groups_of(const User &user) override {
    int count = 32;
    std::vector<gid_t> gids(static_cast<std::size_t>(count));
    while (getgrouplist(user.name.c_str(), user.gid, gids.data(), &count) == -1) {
      gids.resize(static_cast<std::size_t>(count) + 32);
      count = static_cast<int>(gids.size());
    }
    gids.resize(static_cast<std::size_t>(count));
    // The primary group first, then the others in the order the database gives them.
    std::stable_partition(gids.begin(), gids.end(), [&](gid_t g) { return g == user.gid; });
    std::vector<std::string> names;
    std::vector<char> buffer(buffer_size(_SC_GETGR_R_SIZE_MAX));
    for (const gid_t gid : gids) {
      group gr{};
      group *found = nullptr;
      while (getgrgid_r(gid, &gr, buffer.data(), buffer.size(), &found) == ERANGE) {
        buffer.resize(buffer.size() * 2);
      }
      if (found != nullptr && std::find(names.begin(), names.end(), gr.gr_name) == names.end()) {
        names.emplace_back(gr.gr_name);
      }
    }
    return names;
  }

private:
  static std::size_t buffer_size(int which) {
    const long size = sysconf(which);
    return size > 0 ? static_cast<std::size_t>(size) : 16384;
  }
};

/// "ask an ltb admin (alice, a member of group staff)" or "ask root", for refusals.
std::string admins_to_ask(state::Store &store) {
  std::vector<std::string> admins;
  if (auto rows = store.users()) {
    for (const auto &row : *rows) {
      if (row.role == "admin" && row.kind == state::k_user && row.name != "root") {
        admins.push_back(row.name);
      } else if (row.role == "admin" && row.kind == state::k_group) {
        admins.push_back("a member of group " + row.name);
      }
    }
  }
  return admins.empty() ? std::string("ask root")
                        : fmt::format("ask an ltb admin ({})", join(admins));
}

Status require_admin(const Session &session, state::Store &store, const std::string &what) {
  if (session.caller.admin) {
    return {};
  }
  return fail(
      fmt::format("only an ltb admin can {}; you ({}) are a user", what, session.caller.name),
      admins_to_ask(store) + " to do it");
}

std::string kind_word(const UserChange &change) {
  return change.group ? "group" : "user";
}

/// The user's reservations that count against hours-per-week: those holding capacity, and the
/// ended ones up to their end (or when they ended early).
std::vector<schedule::Window> reserved_windows(const std::vector<state::ReservationRecord> &all,
                                               const std::string &name, Instant now,
                                               std::int64_t skip) {
  std::vector<schedule::Window> windows;
  for (const auto &r : all) {
    if (r.owner != name || r.id == skip) {
      continue;
    }
    if (schedule::holds_capacity(r, now)) {
      windows.push_back({r.start_at, r.end_at});
    } else if (r.state == schedule::k_ended) {
      windows.push_back({r.start_at, std::max(r.start_at, std::min(r.end_at, r.updated_at))});
    }
  }
  return windows;
}

Result<std::vector<schedule::Holding>> holdings(state::Store &store, const std::string &name,
                                                Instant now,
                                                const schedule::DemandDefaults &defaults,
                                                const std::string &skip_lab, bool with_reservations,
                                                std::int64_t skip_reservation) {
  std::vector<schedule::Holding> out;
  std::set<std::string> reserved_now; // labs whose reservation counts for them
  if (with_reservations) {
    LTB_TRY(all, store.reservations());
    for (const auto &r : all) {
      if (r.owner != name || r.id == skip_reservation || !schedule::holds_capacity(r, now)) {
        continue;
      }
      // Named in refusals to their owner: by the names the owner sees.
      out.push_back({lab_shown(Caller{0, name, true, {}}, r.lab), r.start_at, r.end_at, 1,
                     nodes_in_text(r.topology_text), schedule::demand_of(r)});
      if (r.start_at <= now && now < r.end_at) {
        reserved_now.insert(r.lab);
      }
    }
  }
  LTB_TRY(labs, store.labs());
  for (const auto &lab : labs) {
    if (lab.owner != name || lab.name == skip_lab || reserved_now.count(lab.name) ||
        lab.status == state::RecordStatus::removing) {
      continue;
    }
    LTB_TRY(nodes, store.nodes(lab.name));
    out.push_back({lab_shown(Caller{0, name, true, {}}, lab.name), now, schedule::k_forever, 1,
                   static_cast<int>(nodes.size()),
                   schedule::recorded_lab_demand(store, lab, defaults)});
  }
  return out;
}

} // namespace

/// The nodes a stored topology text declares (0 when it does not parse).
int nodes_in_text(const std::string &text) {
  try {
    auto root = YAML::Load(text);
    auto nodes = root["topology"]["nodes"];
    return nodes && nodes.IsMap() ? static_cast<int>(nodes.size()) : 0;
  } catch (const YAML::Exception &) {
    return 0;
  }
}

Accounts &system_accounts() {
  static SystemAccounts accounts;
  return accounts;
}

Result<Caller> identify(state::Store &store, Accounts &accounts, uid_t uid) {
  auto user = accounts.user_by_uid(uid);
  if (uid == 0) {
    return Caller{0, user ? user->name : "root", true, {}};
  }
  if (!user) {
    return fail(fmt::format("uid {} has no Unix user: ltb cannot tell who it is", uid),
                "run ltb as a user of this machine");
  }
  LTB_TRY(rows, store.users());
  const state::UserRecord *own = nullptr;
  std::map<std::string, const state::UserRecord *> groups;
  for (const auto &row : rows) {
    if (row.kind == state::k_user && row.name == user->name) {
      own = &row;
    } else if (row.kind == state::k_group) {
      groups[row.name] = &row;
    }
  }
  Caller caller{uid, user->name, false, {}};
  const state::UserRecord *first_group = nullptr;
  for (const auto &name : accounts.groups_of(*user)) {
    if (auto it = groups.find(name); it != groups.end()) {
      caller.groups.push_back(name);
      if (first_group == nullptr) {
        first_group = it->second;
      }
    }
  }
  if (own == nullptr && first_group == nullptr) {
    return fail(fmt::format("user '{}' is not an ltb user", user->name),
                fmt::format("{} to run `ltb user add {}`", admins_to_ask(store), user->name));
  }
  caller.admin = (own ? own->role : first_group->role) == "admin";
  return caller;
}

Result<Caller> identify(const Context &context, uid_t uid) {
  if (uid == 0) {
    auto root = system_accounts().user_by_uid(0);
    return Caller{0, root ? root->name : "root", true, {}};
  }
  LTB_TRY(store, state::Store::open(context.state_path));
  return identify(*store, system_accounts(), uid);
}

Result<schedule::QuotaSet> default_quotas(state::Store &store) {
  LTB_TRY(text, store.meta(k_default_quotas));
  if (!text) {
    return schedule::QuotaSet{};
  }
  return schedule::parse_quotas_json(*text);
}

Result<schedule::Limits> quotas_of(state::Store &store, const Caller &caller) {
  schedule::QuotaLayers layers;
  layers.admin = caller.admin;
  LTB_TRY(own, store.user(state::k_user, caller.name));
  if (own) {
    LTB_TRY(set, schedule::parse_quotas_json(own->quotas));
    layers.user = set;
  }
  if (!caller.admin) {
    for (const auto &name : caller.groups) {
      LTB_TRY(row, store.user(state::k_group, name));
      if (row) {
        LTB_TRY(set, schedule::parse_quotas_json(row->quotas));
        layers.groups.emplace_back(name, set);
      }
    }
    LTB_TRY(defaults, default_quotas(store));
    layers.defaults = defaults;
  }
  return schedule::resolve_quotas(layers);
}

Result<std::vector<schedule::Holding>> holdings_of(state::Store &store, const std::string &name,
                                                   Instant now,
                                                   const schedule::DemandDefaults &defaults,
                                                   const std::string &skip_lab) {
  return holdings(store, name, now, defaults, skip_lab, true, 0);
}

Status check_up_quotas(const Session &session, state::Store &store, const schedule::Limits &limits,
                       const std::string &lab, int nodes, const schedule::Resources &demand,
                       const schedule::DemandDefaults &defaults, const std::string &what) {
  if (schedule::unlimited(limits)) {
    return {};
  }
  const Instant now = now_seconds();
  // What runs now: the caller's other labs (a lab deploys now and stays).
  LTB_TRY(others, holdings(store, session.caller.name, now, defaults, lab, false, 0));
  return schedule::check_lab_quotas(limits, others,
                                    {lab, now, schedule::k_forever, 1, nodes, demand}, what);
}

Status check_deploy_quotas(const Session &session, state::Store &store,
                           const topology::Topology &desired) {
  LTB_TRY(limits, quotas_of(store, session.caller));
  if (schedule::unlimited(limits)) {
    return {};
  }
  LTB_TRY(config, schedule::load_config(store));
  return check_up_quotas(session, store, limits, desired.name,
                         static_cast<int>(desired.nodes.size()),
                         schedule::lab_demand(desired, config.defaults), config.defaults,
                         fmt::format("cannot deploy lab {}", desired.name));
}

Status check_reservation_quotas(const Session &session, state::Store &store,
                                const schedule::Limits &limits,
                                const std::vector<std::string> &labs, int nodes,
                                const schedule::Resources &demand, Instant start, Instant end,
                                std::int64_t skip_reservation,
                                const schedule::DemandDefaults &defaults, const std::string &what) {
  if (schedule::unlimited(limits)) {
    return {};
  }
  const Instant now = now_seconds();
  const int count = static_cast<int>(labs.size());
  LTB_TRY(all, store.reservations());
  LTB_CHECK(schedule::check_reservation_quotas(
      limits, reserved_windows(all, session.caller.name, now, skip_reservation), start, end, count,
      now, what));
  LTB_TRY(others, holdings(store, session.caller.name, now, defaults,
                           count == 1 ? labs.front() : std::string(), true, skip_reservation));
  schedule::Holding candidate{count == 1 ? labs.front() : "",
                              std::max(start, now),
                              end,
                              count,
                              nodes * count,
                              demand * count};
  return schedule::check_lab_quotas(limits, others, candidate, what);
}

Result<std::int64_t> snapshot_usage(state::Store &store, const std::string &name) {
  LTB_TRY(snapshots, store.snapshots());
  std::int64_t total = 0;
  for (const auto &s : snapshots) {
    if (s.owner == name) { // its own owner: a snapshot outlives its lab
      total += s.size_bytes;
    }
  }
  return total;
}

Status check_snapshot_quota(const Session &session, state::Store &store, std::int64_t need,
                            const std::string &what) {
  LTB_TRY(limits, quotas_of(store, session.caller));
  if (schedule::unlimited(limits)) {
    return {};
  }
  LTB_TRY(used, snapshot_usage(store, session.caller.name));
  return schedule::check_snapshot_quota(limits, used, need, what);
}

bool Owned::empty() const {
  return labs.empty() && reservations.empty() && templates.empty() && snapshots.empty();
}

Result<Owned> owned_by(state::Store &store, const std::string &name) {
  Owned owned;
  const Instant now = now_seconds();
  LTB_TRY(labs, store.labs());
  for (const auto &lab : labs) {
    if (lab.owner == name) {
      owned.labs.push_back(lab.name);
    }
  }
  LTB_TRY(reservations, store.reservations());
  for (const auto &r : reservations) {
    if (r.owner == name && schedule::holds_capacity(r, now)) {
      owned.reservations.push_back(std::to_string(r.id));
    }
  }
  LTB_TRY(templates, store.templates());
  for (const auto &t : templates) {
    if (t.owner == name && std::find(owned.templates.begin(), owned.templates.end(), t.name) ==
                               owned.templates.end()) {
      owned.templates.push_back(t.name);
    }
  }
  LTB_TRY(snapshots, store.snapshots());
  for (const auto &s : snapshots) {
    if (s.owner == name) {
      owned.snapshots.push_back(s.lab + "/" + s.name);
    }
  }
  return owned;
}

namespace {

Status check_role(const std::optional<std::string> &role) {
  if (role && *role != "admin" && *role != "user") {
    return fail(fmt::format("invalid role '{}'", *role), "a role is admin or user",
                ExitCode::usage);
  }
  return {};
}

} // namespace

Result<state::UserRecord> add_user(const Session &session, state::Store &store, Accounts &accounts,
                                   const UserChange &change) {
  LTB_CHECK(require_admin(session, store, "add users"));
  LTB_CHECK(check_role(change.role));
  state::UserRecord record;
  record.kind = change.group ? state::k_group : state::k_user;
  record.name = change.name;
  if (change.group) {
    auto group = accounts.group_by_name(change.name);
    if (!group) {
      return fail(fmt::format("there is no Unix group named '{}'", change.name),
                  fmt::format("ltb adds existing Unix groups: create it first (groupadd {}), or "
                              "check the name (getent group {})",
                              change.name, change.name),
                  ExitCode::usage);
    }
    record.id = group->gid;
  } else {
    auto user = accounts.user_by_name(change.name);
    if (!user) {
      return fail(fmt::format("there is no Unix user named '{}'", change.name),
                  fmt::format("ltb adds existing Unix users: create it first (useradd {}), or "
                              "check the name (getent passwd {})",
                              change.name, change.name),
                  ExitCode::usage);
    }
    record.id = user->uid;
  }
  record.role = change.role.value_or("user");
  schedule::QuotaSet quotas;
  if (!change.quota.empty()) {
    LTB_TRY(changes, schedule::parse_quota_changes(change.quota));
    schedule::apply_changes(quotas, changes);
  }
  record.quotas = schedule::quotas_json(quotas);
  record.created_at = now_seconds();
  std::optional<Error> exists;
  LTB_CHECK(store.transaction([&]() -> Status {
    LTB_TRY(existing, store.user(record.kind, record.name));
    if (existing) {
      exists =
          Error{fmt::format("{} '{}' is an ltb {} already", record.kind, record.name, record.kind),
                fmt::format("change it with `ltb user set {}{} ...`",
                            change.group ? "--group " : "", record.name),
                ExitCode::failed, ErrorKind::already_exists};
      return {};
    }
    return store.put_user(record);
  }));
  if (exists) {
    return fail(*exists);
  }
  return record;
}

Result<state::UserRecord> set_user(const Session &session, state::Store &store, Accounts &accounts,
                                   const UserChange &change) {
  (void)accounts;
  LTB_CHECK(require_admin(session, store, "change users and quotas"));
  LTB_CHECK(check_role(change.role));
  if (!change.role && change.quota.empty()) {
    return fail("nothing to change", "pass --role admin|user or --quota NAME=VALUE,...",
                ExitCode::usage);
  }
  std::vector<schedule::QuotaChange> changes;
  if (!change.quota.empty()) {
    LTB_TRY(parsed, schedule::parse_quota_changes(change.quota));
    changes = parsed;
  }
  if (change.defaults) {
    if (change.role) {
      return fail("the default has quotas only, no role",
                  "set roles on users and groups: `ltb user set NAME --role admin`",
                  ExitCode::usage);
    }
    state::UserRecord saved{"default", "", 0, "", "{}", 0};
    LTB_CHECK(store.transaction([&]() -> Status {
      LTB_TRY(set, default_quotas(store));
      schedule::apply_changes(set, changes);
      saved.quotas = schedule::quotas_json(set);
      return store.set_meta(k_default_quotas, saved.quotas);
    }));
    return saved;
  }
  const std::string kind = change.group ? state::k_group : state::k_user;
  std::optional<Error> missing;
  state::UserRecord saved;
  LTB_CHECK(store.transaction([&]() -> Status {
    LTB_TRY(existing, store.user(kind, change.name));
    if (!existing) {
      missing = Error{fmt::format("{} '{}' is not an ltb {}", kind, change.name, kind),
                      fmt::format("add it first: `ltb user add {}{}`",
                                  change.group ? "--group " : "", change.name),
                      ExitCode::failed};
      return {};
    }
    saved = *existing;
    if (change.role) {
      saved.role = *change.role;
    }
    LTB_TRY(set, schedule::parse_quotas_json(saved.quotas));
    schedule::apply_changes(set, changes);
    saved.quotas = schedule::quotas_json(set);
    return store.put_user(saved);
  }));
  if (missing) {
    return fail(*missing);
  }
  return saved;
}

Status remove_user(const Session &session, state::Store &store, const UserChange &change) {
  LTB_CHECK(require_admin(session, store, "remove users"));
  const std::string kind = kind_word(change);
  LTB_TRY(existing, store.user(kind, change.name));
  if (!existing) {
    return fail(fmt::format("{} '{}' is not an ltb {}", kind, change.name, kind),
                "see the ones there are with `ltb user list`");
  }
  if (!change.group && !change.force) {
    LTB_TRY(owned, owned_by(store, change.name));
    if (!owned.empty()) {
      std::vector<std::string> parts;
      const auto part = [&](const char *what, const std::vector<std::string> &names) {
        if (!names.empty()) {
          parts.push_back(fmt::format("{} {}", what, join(names)));
        }
      };
      part("labs", owned.labs);
      part("reservations", owned.reservations);
      part("templates", owned.templates);
      part("snapshots", owned.snapshots);
      return fail(fmt::format("user '{}' still owns {}", change.name,
                              [&] {
                                std::string text;
                                for (const auto &p : parts) {
                                  text += (text.empty() ? "" : "; ") + p;
                                }
                                return text;
                              }()),
                  fmt::format("remove them first, or pass --force to remove the user and keep "
                              "what they own (admins can still act on it; `ltb user add {}` "
                              "gives it back)",
                              change.name));
    }
  }
  return store.delete_user(kind, change.name);
}

Result<std::vector<state::UserRecord>> list_users(const Session &session, state::Store &store) {
  LTB_CHECK(require_admin(session, store, "list users"));
  return store.users();
}

Result<UserReport> show_user(const Session &session, state::Store &store, Accounts &accounts,
                             const std::string &name) {
  Caller target = session.caller;
  if (!name.empty() && name != session.caller.name) {
    if (!session.caller.admin) {
      return fail(fmt::format("only an ltb admin can see another user ('{}')", name),
                  "`ltb user show` shows yourself");
    }
    auto user = accounts.user_by_name(name);
    if (!user) {
      return fail(fmt::format("there is no Unix user named '{}'", name),
                  "see ltb's users with `ltb user list`");
    }
    LTB_TRY(found, identify(store, accounts, user->uid));
    target = found;
  }
  UserReport report;
  report.name = target.name;
  report.uid = target.uid;
  report.role = target.admin ? "admin" : "user";
  report.groups = target.groups;
  LTB_TRY(own, store.user(state::k_user, target.name));
  if (target.uid == 0) {
    report.role_source = "root";
  } else if (own) {
    report.role_source = "user";
  } else if (!target.groups.empty()) {
    report.role_source = "group " + target.groups.front();
  }
  LTB_TRY(limits, quotas_of(store, target));
  LTB_TRY(config, schedule::load_config(store));
  const Instant now = now_seconds();
  LTB_TRY(held, holdings(store, target.name, now, config.defaults, {}, false, 0));
  const auto usage = schedule::peak_usage(held, now, now + 1);
  report.labs = usage.lab_names;
  LTB_TRY(snapshots, snapshot_usage(store, target.name));
  LTB_TRY(all, store.reservations());
  const Instant monday = schedule::week_start(now);
  const auto week = schedule::seconds_within(reserved_windows(all, target.name, now, 0), monday,
                                             schedule::week_start(monday + 8 * 86400));
  for (const auto &info : schedule::quota_infos()) {
    QuotaLine line;
    line.quota = info.quota;
    const auto &limit = limits[info.quota];
    line.limit = limit.value;
    line.source = limit.source;
    switch (info.quota) {
    case schedule::Quota::labs:
      line.usage = usage.labs;
      break;
    case schedule::Quota::nodes:
      line.usage = usage.nodes;
      break;
    case schedule::Quota::vcpus:
      line.usage = usage.resources.cpus;
      break;
    case schedule::Quota::memory:
      line.usage = static_cast<double>(usage.resources.memory_bytes);
      break;
    case schedule::Quota::disk:
      line.usage = static_cast<double>(usage.resources.disk_bytes);
      break;
    case schedule::Quota::snapshot_disk:
      line.usage = static_cast<double>(snapshots);
      break;
    case schedule::Quota::hours_per_week:
      line.usage = static_cast<double>(week);
      break;
    default:
      break;
    }
    report.quotas.push_back(line);
  }
  return report;
}

nlohmann::json caller_json(const Caller &caller) {
  return {{"uid", caller.uid},
          {"name", caller.name},
          {"admin", caller.admin},
          {"groups", caller.groups}};
}

std::optional<Caller> caller_from_json(const std::string &text) {
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_object() || !json.contains("uid") || !json["uid"].is_number_unsigned() ||
      !json.contains("name") || !json["name"].is_string() || !json.contains("admin") ||
      !json["admin"].is_boolean() || !json.contains("groups") || !json["groups"].is_array()) {
    return std::nullopt;
  }
  Caller caller;
  caller.uid = json["uid"].get<uid_t>();
  caller.name = json["name"].get<std::string>();
  caller.admin = json["admin"].get<bool>();
  for (const auto &group : json["groups"]) {
    if (!group.is_string()) {
      return std::nullopt;
    }
    caller.groups.push_back(group.get<std::string>());
  }
  return caller;
}

} // namespace ltb::service
