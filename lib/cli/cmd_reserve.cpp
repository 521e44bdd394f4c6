// ltb reserve create|list|show|update|delete
#include "cli/context.hpp"
#include "cli/remote.hpp"
#include "cli/table.hpp"
#include "schedule/admission.hpp"
#include "schedule/ledger.hpp"
#include "schedule/scheduler.hpp"
#include "schedule/units.hpp"
#include "service/deploy.hpp"
#include "service/owners.hpp"
#include "service/reservations.hpp"
#include "service/templates.hpp"
#include "topology/loader.hpp"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <unistd.h>

namespace ltb::cli {

namespace {

namespace fs = std::filesystem;
using schedule::Instant;
using schedule::Resources;

// A start this far in the past still counts as "now" (the time it took to type the command).
constexpr Instant k_past_slack = 60;

struct CreateOptions {
  std::string file;
  std::string template_name;
  std::string start;
  std::string end;
  std::string duration;
  std::string lab;
  int count = 1;
};

struct ListOptions {
  bool all = false;
  std::string owner;
  std::string format = "table";
};

struct ShowOptions {
  std::int64_t id = 0;
  std::string format = "table";
};

struct UpdateOptions {
  std::int64_t id = 0;
  std::string start;
  std::string end;
  std::string duration;
};

struct DeleteOptions {
  std::int64_t id = 0;
  bool yes = false;
};

using service::span;

Instant now_seconds() {
  return static_cast<Instant>(std::time(nullptr));
}

/// Validates the text as lab `lab`, printing diagnostics; nullopt when invalid.
std::optional<topology::Topology> validate(const Globals &globals, const service::Session &session,
                                           const service::ReservationSource &source,
                                           const std::string &lab) {
  topology::Diagnostics warnings;
  topology::LoadOptions options;
  options.lab_name = lab;
  options.warnings = &warnings;
  options = service::load_options(session, options);
  auto loaded = topology::load_text(source.text, source.file, source.base_dir, options);
  if (!loaded) {
    print_diagnostics(globals, loaded.error());
    return std::nullopt;
  }
  if (!warnings.items.empty() && !globals.quiet) {
    print_diagnostics(globals, warnings);
  }
  return *loaded;
}

// --- create --------------------------------------------------------------------------------------

int run_create(const Globals &globals, const CreateOptions &options) {
  if (options.file.empty() == options.template_name.empty()) {
    return report(globals, Error{"say what to reserve: a topology FILE or --template NAME (one "
                                 "of them)",
                                 "for example: ltb reserve create lab.yaml --start 09:00 ...",
                                 ExitCode::usage});
  }
  if (options.end.empty() == options.duration.empty()) {
    return report(globals,
                  Error{"say when the reservation ends: --end TIME or --for DURATION "
                        "(one of them)",
                        "for example: --start 2024-05-14T09:00 --for 2h", ExitCode::usage});
  }
  const Instant now = now_seconds();
  auto times =
      service::reservation_window(options.start, options.end, options.duration, now, now, now);
  if (!times) {
    return report(globals, times.error());
  }
  auto [start, end] = *times;
  if (start < now - k_past_slack) {
    return report(globals, Error{fmt::format("the reservation would start in the past ({})",
                                             schedule::format_local(start)),
                                 "give a --start in the future, or --start now", ExitCode::usage});
  }
  start = std::max(start, std::min(now, end - 1)); // a start a few seconds ago means now
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto source = service::reservation_source(session, **store, options.file, options.template_name);
  if (!source) {
    return report(globals, source.error());
  }
  if (auto origin = remote_origin(options.file); !origin.empty()) {
    source->source = origin; // the user's own path, not the daemon's copy
  }
  // The names first: NAME, or NAME-1 ... NAME-N for --count.
  auto first = validate(globals, session, *source, options.lab);
  if (!first) {
    return static_cast<int>(ExitCode::usage);
  }
  std::vector<std::string> labs;
  std::vector<topology::Topology> topologies;
  if (options.count == 1) {
    labs.push_back(first->name);
    topologies.push_back(*first);
  } else {
    if (!first->mgmt.ipv4_subnet.empty() || first->mgmt.network != "ltb-" + first->name) {
      return report(
          globals,
          Error{fmt::format("--count {} would deploy {} labs with the same management {}",
                            options.count, options.count,
                            first->mgmt.ipv4_subnet.empty() ? "network name" : "subnet"),
                "remove mgmt.ipv4-subnet and mgmt.network from the topology, so that ltb picks "
                "one per lab",
                ExitCode::usage});
    }
    for (int i = 1; i <= options.count; ++i) {
      labs.push_back(fmt::format("{}-{}", first->name, i));
      auto each = validate(globals, session, *source, labs.back());
      if (!each) {
        return static_cast<int>(ExitCode::usage);
      }
      topologies.push_back(std::move(*each));
    }
  }
  service::CreateReservations request;
  request.labs = labs;
  request.group = first->name;
  request.topology = &topologies.front();
  request.source = source->source;
  request.text = source->text;
  if (options.template_name.empty() && remote_input(options.file)) {
    request.keep_files = source->base_dir; // the request's copy goes when the command ends
  }
  request.start = start;
  request.end = end;
  auto created = service::create_reservations(session, **store, request);
  if (!created) {
    return report(globals, created.error());
  }
  for (std::size_t i = 0; i < labs.size(); ++i) {
    fmt::print("reservation {}: lab {}, {}, {}\n", created->ids[i], labs[i], span(start, end),
               schedule::format_resources(created->demand));
    if (created->deployed_now[i]) {
      print_notice(globals, fmt::format("note: lab {} is deployed now outside any reservation; "
                                        "remove it (`ltb down --lab {}`) before the start, or the "
                                        "scheduler cannot deploy the reservation",
                                        labs[i], labs[i]));
    }
  }
  service::refresh_timer(events, **store);
  print_notice(globals, "`ltb schedule` deploys it at the start and removes it at the end; see "
                        "`ltb schedule status`");
  return 0;
}

// --- list and show ------------------------------------------------------------------------------

std::string note(const state::ReservationRecord &r, Instant now) {
  if (!r.reason.empty() && (r.state == schedule::k_failed || r.state == schedule::k_pending)) {
    return r.reason;
  }
  if (r.state == schedule::k_active) {
    return schedule::format_time_left(r.end_at, now);
  }
  if (r.state == schedule::k_pending) {
    return r.start_at > now ? "starts in " + schedule::format_duration(r.start_at - now)
                            : "due now";
  }
  return r.reason;
}

nlohmann::json to_json(const state::ReservationRecord &r, bool with_text) {
  nlohmann::json j{
      {"id", r.id},
      {"lab", r.lab},
      {"owner", r.owner},
      {"source", r.source},
      {"start", schedule::format_utc(r.start_at)},
      {"end", schedule::format_utc(r.end_at)},
      {"state", r.state},
      {"reason", r.reason},
      {"attempts", r.attempts},
      {"demand",
       {{"cpus", r.demand_cpus},
        {"memory_bytes", r.demand_memory_bytes},
        {"disk_bytes", r.demand_disk_bytes}}},
      {"created", schedule::format_utc(r.created_at)},
      {"updated", schedule::format_utc(r.updated_at)},
  };
  if (r.next_attempt_at != 0) {
    j["next_attempt"] = schedule::format_utc(r.next_attempt_at);
  }
  if (with_text) {
    j["topology"] = r.topology_text;
  }
  return j;
}

int run_list(const Globals &globals, const ListOptions &options) {
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  auto all = (*store)->reservations();
  if (!all) {
    return report(globals, all.error());
  }
  const Instant now = now_seconds();
  // A user sees their own; an admin the host's whole calendar (or one user's with --owner).
  const auto who = caller();
  const service::OwnerFilter owners{who.admin && options.owner.empty(), options.owner};
  if (auto allowed = service::check_filter(who, owners); !allowed) {
    return report(globals, allowed.error());
  }
  std::vector<state::ReservationRecord> shown;
  for (auto r : *all) {
    if (!service::shows(who, owners, r.owner)) {
      continue;
    }
    r.lab = service::lab_shown(who, r.lab);
    if (options.all || schedule::holds_capacity(r, now)) {
      shown.push_back(r);
    }
  }
  if (json_format(options.format)) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto &r : shown) {
      out.push_back(to_json(r, false));
    }
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  if (shown.empty()) {
    if (!globals.quiet) {
      fmt::print("{}\n", options.all ? "no reservations"
                                     : "no pending or active reservations (--all shows the past)");
    }
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto &r : shown) {
    rows.push_back({std::to_string(r.id), r.lab, r.owner, schedule::format_local_short(r.start_at),
                    schedule::format_local_short(r.end_at), r.state, note(r, now)});
  }
  fmt::print("{}", format_table({"ID", "LAB", "OWNER", "START", "END", "STATE", "NOTE"}, rows));
  return 0;
}

int run_show(const Globals &globals, const ShowOptions &options) {
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  const auto who = caller();
  auto r = service::find_reservation(**store, who, options.id);
  if (!r) {
    return report(globals, r.error());
  }
  r->lab = service::lab_shown(who, r->lab);
  if (json_format(options.format)) {
    fmt::print("{}\n", to_json(*r, true).dump(2));
    return 0;
  }
  const Instant now = now_seconds();
  fmt::print("reservation {}\n", r->id);
  fmt::print("  lab:      {}\n", r->lab);
  fmt::print("  owner:    {}\n", r->owner);
  fmt::print("  source:   {}\n", r->source);
  fmt::print("  start:    {}\n", schedule::format_local(r->start_at));
  fmt::print("  end:      {}\n", schedule::format_local(r->end_at));
  fmt::print("  length:   {}\n", schedule::format_duration(r->end_at - r->start_at));
  fmt::print("  state:    {}{}\n", r->state,
             note(*r, now).empty() || note(*r, now) == r->reason ? "" : " (" + note(*r, now) + ")");
  if (!r->reason.empty()) {
    fmt::print("  reason:   {}\n", r->reason);
  }
  if (r->attempts > 0) {
    fmt::print("  attempts: {}{}\n", r->attempts,
               r->next_attempt_at > 0 ? ", next " + schedule::format_local_short(r->next_attempt_at)
                                      : std::string());
  }
  fmt::print("  demand:   {}\n", schedule::format_resources(schedule::demand_of(*r)));
  fmt::print("  created:  {}\n", schedule::format_local(r->created_at));
  fmt::print("topology:\n");
  std::istringstream text(r->topology_text);
  for (std::string line; std::getline(text, line);) {
    fmt::print("  {}\n", line);
  }
  return 0;
}

// --- update -------------------------------------------------------------------------------------

int run_update(const Globals &globals, const UpdateOptions &options) {
  if (options.start.empty() && options.end.empty() && options.duration.empty()) {
    return report(globals,
                  Error{"nothing to change", "pass --start, --end or --for", ExitCode::usage});
  }
  if (!options.end.empty() && !options.duration.empty()) {
    return report(globals, Error{"--end and --for both say when it ends", "pass one of them",
                                 ExitCode::usage});
  }
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto saved = service::update_reservation(
      session, **store, {options.id, options.start, options.end, options.duration});
  if (!saved) {
    return report(globals, saved.error());
  }
  fmt::print("reservation {}: lab {}, {}, {}\n", saved->id, saved->lab,
             span(saved->start_at, saved->end_at), saved->state);
  return 0;
}

// --- delete -------------------------------------------------------------------------------------

/// Asks on the terminal; false on anything but y or yes.
bool confirm(const std::string &question) {
  fmt::print(stderr, "{} [y/N] ", question);
  std::fflush(stderr);
  std::string answer;
  if (!std::getline(std::cin, answer)) {
    return false;
  }
  return answer == "y" || answer == "Y" || answer == "yes";
}

int run_delete(const Globals &globals, const DeleteOptions &options) {
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  auto prepared = service::prepare_delete(**store, caller(), options.id);
  if (!prepared) {
    return report(globals, prepared.error());
  }
  const auto &r = prepared->record;
  if (prepared->finished) {
    if (!globals.quiet) {
      fmt::print("reservation {} (lab {}) is {} already: nothing to do\n", r.id, r.lab, r.state);
    }
    return 0;
  }
  if (prepared->deployed && !options.yes) {
    const std::string what =
        fmt::format("reservation {} is {}: deleting it removes lab {} now", r.id, r.state, r.lab);
    if (isatty(STDIN_FILENO) == 0) {
      return report(
          globals, Error{what, "pass --yes to confirm (stdin is not a terminal)", ExitCode::usage});
    }
    if (!confirm(what + ". Continue?")) {
      fmt::print(stderr, "nothing changed\n");
      return static_cast<int>(ExitCode::failed);
    }
  }
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto deleted = service::delete_reservation(session, **store, *prepared);
  if (!deleted) {
    return report(globals, deleted.error());
  }
  if (!deleted->removed) {
    fmt::print("reservation {} (lab {}) is cancelled\n", r.id, r.lab);
    return 0;
  }
  fmt::print("reservation {} is cancelled and lab {} is removed ({} object{})\n", r.id, r.lab,
             deleted->objects, deleted->objects == 1 ? "" : "s");
  return 0;
}

} // namespace

// --- registration
// ---------------------------------------------------------------------------------

void add_reserve(CLI::App &app, Globals &globals, Registry &registry) {
  auto *reserve = app.add_subcommand("reserve", "Book host capacity for a lab ahead of time");
  reserve->require_subcommand(1);
  reserve->footer("Times: ISO 8601 (2024-05-14T09:00, local time unless it has Z or an offset), "
                  "`now`, or +30m, +2h, +1d. Durations: 90m, 2h, 1h30m, 1d. `ltb schedule` "
                  "deploys each reservation's lab at its start and removes it at its end.");

  auto create = std::make_shared<CreateOptions>();
  auto *sub = reserve->add_subcommand("create", "Reserve capacity for a lab over a time window");
  sub->add_option("file", create->file, "Topology file (its text is stored with the reservation)")
      ->type_name("FILE");
  sub->add_option("--template", create->template_name,
                  "Reserve a version from the template store (ltb template) instead of a file; "
                  "the reservation pins it")
      ->type_name("NAME[@VERSION]");
  sub->add_option("--start", create->start, "When the lab deploys")->required()->type_name("TIME");
  sub->add_option("--end", create->end, "When the lab is removed")->type_name("TIME");
  sub->add_option("--for", create->duration, "How long it stays (instead of --end)")
      ->type_name("DURATION");
  sub->add_option("--lab", create->lab, "Lab name (overrides the file's `name`)")
      ->type_name("NAME");
  sub->add_option("--count", create->count, "Book N instances NAME-1 ... NAME-N (default 1)")
      ->type_name("N")
      ->check(CLI::Range(1, 500));
  sub->footer("Examples:\n  ltb reserve create class.yaml --start 2024-05-14T09:00 --end "
              "2024-05-14T11:00 --count 20\n  ltb reserve create lab.yaml --start +30m --for 2h\n"
              "Refused when the host's capacity would be exceeded at any instant of the window; "
              "the error names what is in the way and the earliest start that fits.");
  registry.push_back({sub, [&globals, create] { return run_create(globals, *create); }});

  auto list = std::make_shared<ListOptions>();
  sub = reserve->add_subcommand("list", "List pending and active reservations");
  sub->add_flag("--all", list->all, "Also ended, cancelled and failed ones");
  sub->add_option("--owner", list->owner, "That user's only (admins; a user sees their own)")
      ->type_name("USER");
  add_format_option(sub, list->format);
  registry.push_back({sub, [&globals, list] { return run_list(globals, *list); }});

  auto show = std::make_shared<ShowOptions>();
  sub = reserve->add_subcommand("show", "Show one reservation and its stored topology");
  sub->add_option("id", show->id, "Reservation id")->required()->type_name("ID");
  add_format_option(sub, show->format);
  registry.push_back({sub, [&globals, show] { return run_show(globals, *show); }});

  auto update = std::make_shared<UpdateOptions>();
  sub = reserve->add_subcommand("update", "Move or resize a reservation's window");
  sub->add_option("id", update->id, "Reservation id")->required()->type_name("ID");
  sub->add_option("--start", update->start, "New start (not of an active one)")->type_name("TIME");
  sub->add_option("--end", update->end, "New end")->type_name("TIME");
  sub->add_option("--for", update->duration, "New length from the start")->type_name("DURATION");
  sub->footer("An active reservation may be extended when capacity permits, or shortened.");
  registry.push_back({sub, [&globals, update] { return run_update(globals, *update); }});

  auto del = std::make_shared<DeleteOptions>();
  sub = reserve->add_subcommand("delete", "Cancel a reservation (an active one's lab is removed)");
  sub->add_option("id", del->id, "Reservation id")->required()->type_name("ID");
  sub->add_flag("-y,--yes", del->yes, "Remove an active reservation's lab without asking");
  registry.push_back({sub, [&globals, del] { return run_delete(globals, *del); }});
}

} // namespace ltb::cli
