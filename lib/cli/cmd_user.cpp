// ltb user add|list|show|set|rm: ltb's users, groups, roles and quotas
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "service/users.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ltb::cli {

namespace {

struct UserOptions {
  std::string name;
  std::string group;
  bool defaults = false;
  std::string role;
  std::string quota;
  bool force = false;
  std::string format = "table";
};

service::UserChange change_of(const UserOptions &options) {
  service::UserChange change;
  change.group = !options.group.empty();
  change.name = change.group ? options.group : options.name;
  change.defaults = options.defaults;
  if (!options.role.empty()) {
    change.role = options.role;
  }
  change.quota = options.quota;
  change.force = options.force;
  return change;
}

/// Exactly one of NAME, --group and (where allowed) --default.
Status check_target(const UserOptions &options, bool defaults_allowed) {
  const int given = static_cast<int>(!options.name.empty()) +
                    static_cast<int>(!options.group.empty()) + static_cast<int>(options.defaults);
  if (given != 1) {
    return fail(defaults_allowed ? "name one of: a user (NAME), a group (--group GROUP) or the "
                                   "default quotas (--default)"
                                 : "name one of: a user (NAME) or a group (--group GROUP)",
                "see `ltb user --help`", ExitCode::usage);
  }
  return {};
}

nlohmann::json quotas_object(const std::string &text) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  return json.is_discarded() ? nlohmann::json::object() : json;
}

/// "labs=2, memory=4 GiB" for tables; "-" when none.
std::string quotas_text(const std::string &json) {
  auto set = schedule::parse_quotas_json(json);
  if (!set || set->empty()) {
    return "-";
  }
  std::string out;
  for (const auto &[quota, value] : *set) {
    out += fmt::format("{}{}={}", out.empty() ? "" : ", ", schedule::quota_info(quota).name,
                       schedule::format_quota(quota, value));
  }
  return out;
}

int run_add(const Globals &globals, const UserOptions &options) {
  if (auto ok = check_target(options, false); !ok) {
    return report(globals, ok.error());
  }
  CliSession user(globals);
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  auto added =
      service::add_user(user.session, **store, service::system_accounts(), change_of(options));
  if (!added) {
    return report(globals, added.error());
  }
  if (!globals.quiet) {
    fmt::print("{} {} (id {}) added as {}{}\n", added->kind, added->name, added->id, added->role,
               added->quotas == "{}" ? "" : ", quotas " + quotas_text(added->quotas));
  }
  return 0;
}

int run_set(const Globals &globals, const UserOptions &options) {
  if (auto ok = check_target(options, true); !ok) {
    return report(globals, ok.error());
  }
  CliSession user(globals);
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  auto saved =
      service::set_user(user.session, **store, service::system_accounts(), change_of(options));
  if (!saved) {
    return report(globals, saved.error());
  }
  if (!globals.quiet) {
    if (options.defaults) {
      fmt::print("default quotas: {}\n", quotas_text(saved->quotas));
    } else {
      fmt::print("{} {}: role {}, quotas {}\n", saved->kind, saved->name, saved->role,
                 quotas_text(saved->quotas));
    }
  }
  return 0;
}

int run_rm(const Globals &globals, const UserOptions &options) {
  if (auto ok = check_target(options, false); !ok) {
    return report(globals, ok.error());
  }
  CliSession user(globals);
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  const auto change = change_of(options);
  if (auto removed = service::remove_user(user.session, **store, change); !removed) {
    return report(globals, removed.error());
  }
  if (!globals.quiet) {
    fmt::print("{} {} removed\n", change.group ? "group" : "user", change.name);
  }
  return 0;
}

int run_list(const Globals &globals, const UserOptions &options) {
  CliSession user(globals);
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  auto rows = service::list_users(user.session, **store);
  if (!rows) {
    return report(globals, rows.error());
  }
  auto defaults = service::default_quotas(**store);
  if (!defaults) {
    return report(globals, defaults.error());
  }
  if (json_format(options.format)) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto &row : *rows) {
      list.push_back({{"kind", row.kind},
                      {"name", row.name},
                      {"id", row.id},
                      {"role", row.role},
                      {"quotas", quotas_object(row.quotas)},
                      {"created_at", row.created_at}});
    }
    nlohmann::json out{{"users", list},
                       {"default_quotas", quotas_object(schedule::quotas_json(*defaults))}};
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  std::vector<std::vector<std::string>> table;
  for (const auto &row : *rows) {
    table.push_back(
        {row.name, row.kind, std::to_string(row.id), row.role, quotas_text(row.quotas)});
  }
  fmt::print("{}", format_table({"NAME", "KIND", "ID", "ROLE", "QUOTAS"}, table));
  fmt::print("\ndefault quotas: {}\n", quotas_text(schedule::quotas_json(*defaults)));
  return 0;
}

int run_show(const Globals &globals, const UserOptions &options) {
  CliSession user(globals);
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  auto shown = service::show_user(user.session, **store, service::system_accounts(), options.name);
  if (!shown) {
    return report(globals, shown.error());
  }
  if (json_format(options.format)) {
    nlohmann::json quotas = nlohmann::json::array();
    for (const auto &line : shown->quotas) {
      quotas.push_back({{"name", schedule::quota_info(line.quota).name},
                        {"limit", line.limit ? nlohmann::json(*line.limit) : nlohmann::json()},
                        {"source", line.source},
                        {"usage", line.usage ? nlohmann::json(*line.usage) : nlohmann::json()}});
    }
    nlohmann::json out{{"name", shown->name},     {"uid", shown->uid},
                       {"role", shown->role},     {"role_from", shown->role_source},
                       {"groups", shown->groups}, {"labs", shown->labs},
                       {"quotas", quotas}};
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  fmt::print("user:   {} (uid {})\n", shown->name, shown->uid);
  const std::string &from = shown->role_source;
  fmt::print("role:   {}{}\n", shown->role,
             from == "root"   ? " (root always is)"
             : from == "user" ? " (set on the user)"
                              : " (from " + from + ")");
  fmt::print(
      "groups: {}\n", shown->groups.empty() ? std::string("-") : [&] {
        std::string text;
        for (const auto &g : shown->groups) {
          text += (text.empty() ? "" : ", ") + g;
        }
        return text;
      }());
  std::vector<std::vector<std::string>> table;
  for (const auto &line : shown->quotas) {
    table.push_back({schedule::quota_info(line.quota).name,
                     line.usage ? schedule::format_quota(line.quota, *line.usage) : "-",
                     line.limit ? schedule::format_quota(line.quota, *line.limit) : "unlimited",
                     line.source});
  }
  fmt::print("\n{}", format_table({"QUOTA", "USED", "LIMIT", "FROM"}, table));
  return 0;
}

} // namespace

void add_user(CLI::App &app, Globals &globals, Registry &registry) {
  auto *user = app.add_subcommand("user", "Manage ltb's users, groups, roles and quotas");
  user->require_subcommand(1);
  user->footer("Users and groups are Unix ones that ltb knows; root is always an admin. Quotas: "
               "labs, nodes, vcpus, memory, disk, snapshot-disk, hours-per-week, longest, ahead; "
               "each resolved user -> group -> default -> unlimited (admins: their own only).");

  auto add = std::make_shared<UserOptions>();
  auto *sub = user->add_subcommand("add", "Let a Unix user (or a whole Unix group) use ltb");
  sub->add_option("name", add->name, "Unix user")->type_name("NAME");
  sub->add_option("--group", add->group,
                  "A Unix group instead: each member gets its role and "
                  "quotas")
      ->type_name("GROUP");
  sub->add_option("--role", add->role, "admin or user (default user)")
      ->check(CLI::IsMember({"admin", "user"}))
      ->type_name("admin|user");
  sub->add_option("--quota", add->quota, "Quotas, like labs=2,memory=4GiB,hours-per-week=10h")
      ->type_name("K=V,...");
  registry.push_back({sub, [&globals, add] { return run_add(globals, *add); }});

  auto list = std::make_shared<UserOptions>();
  sub = user->add_subcommand("list", "ltb's users and groups, and the default quotas");
  add_format_option(sub, list->format);
  registry.push_back({sub, [&globals, list] { return run_list(globals, *list); }});

  auto show = std::make_shared<UserOptions>();
  sub = user->add_subcommand("show", "A user's role, groups, and usage against each quota");
  sub->add_option("name", show->name, "Unix user (default: yourself)")->type_name("NAME");
  add_format_option(sub, show->format);
  registry.push_back({sub, [&globals, show] { return run_show(globals, *show); }});

  auto set = std::make_shared<UserOptions>();
  sub = user->add_subcommand("set", "Change a user's or group's role or quotas, or the default "
                                    "quotas");
  sub->add_option("name", set->name, "Unix user")->type_name("NAME");
  sub->add_option("--group", set->group, "A group instead")->type_name("GROUP");
  sub->add_flag("--default", set->defaults, "The system's default quotas instead");
  sub->add_option("--role", set->role, "admin or user")
      ->check(CLI::IsMember({"admin", "user"}))
      ->type_name("admin|user");
  sub->add_option("--quota", set->quota, "Quotas to set; K= or K=unlimited removes one")
      ->type_name("K=V,...");
  sub->footer("Examples:\n  ltb user set alice --quota labs=3,memory=8GiB\n  ltb user set "
              "--group students --quota hours-per-week=10h,longest=3h\n  ltb user set --default "
              "--quota labs=1\n  ltb user set alice --quota memory=");
  registry.push_back({sub, [&globals, set] { return run_set(globals, *set); }});

  auto rm = std::make_shared<UserOptions>();
  sub = user->add_subcommand("rm", "Remove a user or group from ltb");
  sub->add_option("name", rm->name, "Unix user")->type_name("NAME");
  sub->add_option("--group", rm->group, "A group instead")->type_name("GROUP");
  sub->add_flag("--force", rm->force,
                "Also when the user still owns labs, reservations, templates or snapshots (they "
                "stay)");
  registry.push_back({sub, [&globals, rm] { return run_rm(globals, *rm); }});

  add_user_credentials(*user, globals, registry);
}

} // namespace ltb::cli
