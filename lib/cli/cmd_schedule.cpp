// ltb schedule run [--once] | install [--systemd | --cron] [--root DIR] | status
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "schedule/daemon.hpp"
#include "schedule/ledger.hpp"
#include "schedule/scheduler.hpp"
#include "schedule/units.hpp"
#include "service/schedule.hpp"
#include "util/exec.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace ltb::cli {

namespace {

namespace fs = std::filesystem;

struct RunOptions {
  bool once = false;
};

struct InstallOptions {
  bool systemd = false;
  bool cron = false;
  std::string root = "/";
};

struct ScheduleStatusOptions {
  std::string format = "table";
  int limit = 10;
};

/// The scheduler's output is its log (stdout, one line per action): the service's notices are
/// left out (as with --quiet), and the applier's own notices go to stderr.
class SchedulerSink : public service::EventSink {
public:
  void notice(const std::string &) override {}
  std::unique_ptr<event::Progress> progress(const std::vector<std::string> &) override {
    return std::make_unique<NoticesOnly>();
  }

private:
  class NoticesOnly : public event::Progress {
  public:
    void node(const std::string &, event::Phase, const std::string &) override {}
    void notice(const std::string &line) override { fmt::print(stderr, "{}\n", line); }
    void finish() override {}
  };
};

void log_line(const std::string &text) {
  std::string line = text;
  std::replace(line.begin(), line.end(), '\n', ' '); // one line per action, whatever Docker says
  const auto now = schedule::SystemClock().now_ms();
  fmt::print("{}.{:03} {}\n", schedule::format_local(now / 1000).substr(0, 19), now % 1000, line);
  std::fflush(stdout);
}

/// "2024-05-14 09:00:05": local time to the second (events are to the second).
std::string local_seconds(schedule::Instant at) {
  auto text = schedule::format_local(at).substr(0, 19);
  text[10] = ' ';
  return text;
}

std::string when_text(schedule::Instant at, schedule::Instant now) {
  if (at <= now) {
    return "due now";
  }
  return "in " + schedule::format_duration(at - now);
}

/// After a pass: the timer's drop-in follows the next event. A failure is a notice: the safety
/// wake-up still comes.
void refresh(state::Store &store, bool log) {
  auto refreshed = schedule::refresh_wakeup(store, schedule::SystemClock().now());
  if (!refreshed) {
    log_line(fmt::format("warning: {}{}", refreshed.error().message,
                         refreshed.error().help.empty() ? "" : "; " + refreshed.error().help));
  } else if (log && refreshed->changed) {
    log_line(refreshed->next ? "timer set to " + schedule::format_local(*refreshed->next)
                             : "timer cleared: no events");
  }
}

int run_schedule(const Globals &globals, const RunOptions &options) {
  if (auto allowed = service::require_admin(caller(), "running the scheduler"); !allowed) {
    return report(globals, allowed.error());
  }
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  auto lock = schedule::SchedulerLock::acquire(globals.state_path);
  if (!lock) {
    return report(globals, lock.error());
  }
  const std::atomic<bool> *stop = interrupt_token().watch();
  // The scheduler's output is its log: one line per action, no progress display.
  SchedulerSink events;
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  schedule::StoreBook book(**store);
  service::ScheduleDeployer deployer(session);
  schedule::SystemClock clock;
  schedule::Scheduler scheduler(book, deployer, clock, log_line, stop);

  if (options.once) {
    auto pass = scheduler.run_due();
    if (!pass) {
      return report(globals, pass.error());
    }
    refresh(**store, false);
    if (pass->interrupted) {
      return static_cast<int>(ExitCode::interrupted);
    }
    if (!globals.quiet && pass->changed == 0 && pass->deployed == 0 && pass->removed == 0 &&
        pass->failed == 0) {
      fmt::print("nothing due; {}\n",
                 pass->next_wake ? "next event at " + schedule::format_local(*pass->next_wake)
                                 : std::string("no events scheduled"));
    }
    return pass->failed > 0 ? static_cast<int>(ExitCode::failed) : 0;
  }

  auto waiter = schedule::Waiter::open(globals.state_path);
  if (!waiter) {
    return report(globals, waiter.error());
  }
  log_line(fmt::format("scheduler started on {} (pid {})", globals.state_path, ::getpid()));
  for (;;) {
    // Read before the pass: a change made while it runs then still wakes the next wait.
    auto version = (*store)->reservations_version();
    if (!version) {
      return report(globals, version.error());
    }
    auto pass = scheduler.run_due();
    std::int64_t now_ms = clock.now_ms();
    std::int64_t wake_ms = now_ms + schedule::k_safety_interval * 1000;
    if (!pass) {
      // A locked or broken state file: say so and try again soon, as a timer would.
      log_line(fmt::format("error: {}{}; trying again in {} s", pass.error().message,
                           pass.error().help.empty() ? "" : " (" + pass.error().help + ")",
                           schedule::backoff_seconds(1)));
      wake_ms = now_ms + schedule::backoff_seconds(1) * 1000;
    } else {
      if (pass->interrupted) {
        break;
      }
      if (pass->next_wake) {
        wake_ms = std::min(wake_ms, *pass->next_wake * 1000);
      }
      refresh(**store, false);
    }
    bool stopped = false;
    for (;;) {
      auto woke = waiter->wait(wake_ms, stop);
      if (!woke) {
        return report(globals, woke.error());
      }
      if (*woke == schedule::WakeReason::stopped) {
        stopped = true;
        break;
      }
      if (*woke == schedule::WakeReason::time) {
        break;
      }
      auto now_version = (*store)->reservations_version();
      if (!now_version || *now_version != *version) {
        break; // reservations changed (or the state file cannot be read: let the pass say why)
      }
    }
    if (stopped) {
      break;
    }
  }
  log_line("scheduler stopped");
  return 0;
}

// --- install -------------------------------------------------------------------------------------

std::string self_path() {
  std::error_code ec;
  auto path = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("/usr/local/bin/ltb") : path.string();
}

std::string pid1_name() {
  std::ifstream in("/proc/1/comm");
  std::string name;
  std::getline(in, name);
  return name.empty() ? "unknown" : name;
}

Status write_file(const std::string &path, const std::string &text) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) {
    return fail(fmt::format("cannot create directory {}: {}", fs::path(path).parent_path().string(),
                            ec.message()),
                "run as root, or pass --root DIR to write the files elsewhere");
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    return fail(fmt::format("cannot write {}", path),
                "run as root, or pass --root DIR to write the files elsewhere");
  }
  return {};
}

Status systemctl(const std::vector<std::string> &args) {
  std::vector<std::string> argv{"systemctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  LTB_TRY(result, util::run(argv));
  if (result.exit_code != 0) {
    std::string err = result.err;
    while (!err.empty() && err.back() == '\n') {
      err.pop_back();
    }
    return fail(fmt::format("`systemctl {}` failed: {}", fmt::join(args, " "), err),
                "see `journalctl -xe`; the unit files are written and can be enabled by hand");
  }
  return {};
}

int run_install(const Globals &globals, const InstallOptions &options) {
  if (auto allowed = service::require_admin(caller(), "installing the scheduler"); !allowed) {
    return report(globals, allowed.error());
  }
  if (options.systemd && options.cron) {
    return report(globals,
                  Error{"--systemd and --cron exclude each other", "pick one", ExitCode::usage});
  }
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  std::error_code ec;
  const std::string state_path = fs::absolute(globals.state_path, ec).lexically_normal().string();
  const std::string root = options.root.empty() ? "/" : options.root;
  const bool live = fs::equivalent(root, "/", ec);
  schedule::Installation installation;
  installation.root = live ? "/" : fs::absolute(root, ec).lexically_normal().string();
  installation.ltb_path = self_path();
  if (options.cron) {
    installation.kind = "cron";
    installation.unit_dir = (fs::path(installation.root) / "etc/cron.d").string();
    const std::string file = (fs::path(installation.unit_dir) / schedule::k_cron_name).string();
    if (auto written = write_file(file, schedule::cron_text(installation.ltb_path, state_path));
        !written) {
      return report(globals, written.error());
    }
    if (auto recorded = schedule::record_installation(**store, installation); !recorded) {
      return report(globals, recorded.error());
    }
    fmt::print("wrote {}: cron runs `ltb schedule run --once` every minute (events are caught "
               "up to the minute; for events to the second run `ltb --state {} schedule run` as "
               "a daemon instead)\n",
               file, state_path);
    if (!live) {
      fmt::print("it is under {}, not /: copy it to /etc/cron.d to use it\n", installation.root);
    }
    return 0;
  }
  installation.kind = "systemd";
  installation.unit_dir = (fs::path(installation.root) / "etc/systemd/system").string();
  const fs::path dir = installation.unit_dir;
  const std::string service = (dir / schedule::k_service_name).string();
  const std::string timer = (dir / schedule::k_timer_name).string();
  for (const auto &[path, text] :
       {std::pair{service, schedule::service_text(installation.ltb_path, state_path)},
        std::pair{timer, schedule::timer_text(state_path)}}) {
    if (auto written = write_file(path, text); !written) {
      return report(globals, written.error());
    }
  }
  const bool systemd = live && schedule::systemd_running();
  installation.enabled = false;
  if (auto recorded = schedule::record_installation(**store, installation); !recorded) {
    return report(globals, recorded.error());
  }
  // The drop-in with the next event (its first version; every reservation change rewrites it).
  auto refreshed = schedule::refresh_wakeup(**store, schedule::SystemClock().now());
  if (!refreshed) {
    return report(globals, refreshed.error());
  }
  const std::string next = refreshed->next ? schedule::format_local(*refreshed->next) : "none";
  if (systemd) {
    for (const auto &args : {std::vector<std::string>{"daemon-reload"},
                             std::vector<std::string>{"enable", "--now", schedule::k_timer_name}}) {
      if (auto ran = systemctl(args); !ran) {
        return report(globals, ran.error());
      }
    }
    installation.enabled = true;
    if (auto recorded = schedule::record_installation(**store, installation); !recorded) {
      return report(globals, recorded.error());
    }
    fmt::print("installed and started {} ({} and {} in {}); next event: {}\n",
               schedule::k_timer_name, schedule::k_service_name, schedule::k_timer_name,
               dir.string(), next);
    return 0;
  }
  fmt::print("wrote {}, {} and {}.d/{} (next event: {})\n", service, timer, timer,
             schedule::k_dropin_name, next);
  if (!live) {
    fmt::print("they are under {}, not /: nothing was enabled. To use them, copy them to "
               "/etc/systemd/system, then run: systemctl daemon-reload && systemctl enable --now "
               "{}\n",
               installation.root, schedule::k_timer_name);
  } else {
    fmt::print("systemd is not running here (PID 1 is {}), so nothing was enabled. Run the "
               "scheduler as a daemon instead, under your init system or for example:\n"
               "  nohup {} --state {} schedule run >>/var/log/ltb-schedule.log 2>&1 &\n"
               "or install a cron line: ltb schedule install --cron\n",
               pid1_name(), installation.ltb_path, state_path);
  }
  return 0;
}

// --- status --------------------------------------------------------------------------------------

int run_schedule_status(const Globals &globals, const ScheduleStatusOptions &options) {
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  schedule::StoreBook book(**store);
  auto reservations = book.reservations();
  if (!reservations) {
    return report(globals, reservations.error());
  }
  auto holds = book.holds();
  if (!holds) {
    return report(globals, holds.error());
  }
  auto installed = schedule::installation(**store);
  if (!installed) {
    return report(globals, installed.error());
  }
  const auto now = schedule::SystemClock().now();
  auto events = schedule::upcoming(*reservations, *holds, now);
  const bool more = static_cast<int>(events.size()) > options.limit;
  if (more) {
    events.resize(static_cast<std::size_t>(options.limit));
  }
  auto pid = schedule::SchedulerLock::holder(globals.state_path);

  // What is installed, and whether its files are there.
  std::string timer_line = "not installed (see `ltb schedule install`)";
  nlohmann::json timer = {{"installed", false}};
  if (*installed) {
    const auto &inst = **installed;
    std::error_code ec;
    std::string file = inst.kind == "cron"
                           ? (fs::path(inst.unit_dir) / schedule::k_cron_name).string()
                           : (fs::path(inst.unit_dir) / schedule::k_timer_name).string();
    const bool present = fs::exists(file, ec);
    std::string active;
    if (inst.kind == "systemd" && inst.root == "/" && schedule::systemd_running()) {
      auto result = util::run({"systemctl", "is-active", schedule::k_timer_name});
      active = result ? result->out : "unknown";
      while (!active.empty() && active.back() == '\n') {
        active.pop_back();
      }
    }
    std::string next_calendar;
    if (inst.kind == "systemd") {
      std::ifstream dropin(schedule::dropin_path(inst));
      std::string line;
      while (std::getline(dropin, line)) {
        if (line.rfind("OnCalendar=", 0) == 0 && line.size() > 11) {
          next_calendar = line.substr(11);
        }
      }
    }
    timer = {{"installed", true},
             {"kind", inst.kind},
             {"file", file},
             {"file_present", present},
             {"enabled", inst.enabled},
             {"active", active},
             {"next_calendar", next_calendar}};
    timer_line = fmt::format(
        "{} {}{}{}{}", inst.kind == "cron" ? "cron line" : "systemd timer", file,
        present ? "" : " (MISSING: run `ltb schedule install` again)",
        inst.kind == "systemd"
            ? (inst.enabled ? fmt::format(", enabled{}", active.empty() ? "" : ", " + active)
                            : std::string(", not enabled (systemd does not run it here)"))
            : std::string(),
        next_calendar.empty() ? "" : ", wakes at " + next_calendar);
  }
  if (json_format(options.format)) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto &event : events) {
      list.push_back({{"at", schedule::format_utc(event.at)},
                      {"in_seconds", std::max<std::int64_t>(0, event.at - now)},
                      {"reservation", event.reservation},
                      {"lab", event.lab},
                      {"event", event.what}});
    }
    nlohmann::json out = {{"scheduler", {{"running", pid.has_value()}, {"pid", pid.value_or(0)}}},
                          {"timer", timer},
                          {"events", list},
                          {"more_events", more}};
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  fmt::print("scheduler: {}\n",
             pid ? fmt::format("running (pid {})", *pid)
                 : std::string("not running (start it with `ltb schedule run`, or install a "
                               "timer)"));
  fmt::print("timer: {}\n", timer_line);
  if (events.empty()) {
    fmt::print("no events scheduled\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto &event : events) {
    rows.push_back({local_seconds(event.at), when_text(event.at, now),
                    event.reservation ? std::to_string(event.reservation) : "-", event.lab,
                    event.what});
  }
  fmt::print("{}", format_table({"WHEN", "IN", "RESERVATION", "LAB", "EVENT"}, rows));
  if (more) {
    fmt::print("(more events follow; --limit N shows more)\n");
  }
  return 0;
}

} // namespace

void add_schedule(CLI::App &app, Globals &globals, Registry &registry) {
  auto *group = app.add_subcommand("schedule", "Deploy and remove reserved labs on time");
  group->require_subcommand(1);
  group->footer("Reservations are made with `ltb reserve`. A scheduler runs as a daemon (`ltb "
                "schedule run`) or from a timer (`ltb schedule install`).");

  auto run = std::make_shared<RunOptions>();
  auto *run_cmd = group->add_subcommand(
      "run", "Deploy the labs whose reservations start and remove those that end");
  run_cmd->add_flag("--once", run->once, "Do what is due now and exit (for timers and cron)");
  run_cmd->footer(
      "Examples:\n  ltb schedule run\n  ltb schedule run --once\n"
      "Without --once it stays running: it sleeps until the next event or until reservations "
      "change, and stops on SIGINT or SIGTERM. Missed events are caught up: a start that passed "
      "deploys late while the window is open, an end that passed removes at once. A failed "
      "deploy is retried after 10 s, 30 s, 1 min, 2 min, then every 5 min while the window is "
      "open. One scheduler per state file.");
  registry.push_back({run_cmd, [&globals, run] { return run_schedule(globals, *run); }});

  auto install = std::make_shared<InstallOptions>();
  auto *install_cmd =
      group->add_subcommand("install", "Install a systemd timer (or a cron line) that runs it");
  install_cmd->add_flag("--systemd", install->systemd,
                        "ltb-schedule.service and ltb-schedule.timer (the default)");
  install_cmd->add_flag("--cron", install->cron, "A line in /etc/cron.d (every minute)");
  install_cmd->add_option("--root", install->root, "Write under DIR instead of / (nothing enabled)")
      ->type_name("DIR");
  install_cmd->footer(
      "Examples:\n  ltb schedule install\n  ltb schedule install --cron\n"
      "The timer wakes at the next reservation event (a drop-in that ltb rewrites whenever "
      "reservations change) and every 5 minutes besides. Where systemd is not PID 1 the files "
      "are written and nothing is enabled: run `ltb schedule run` as a daemon instead.");
  registry.push_back({install_cmd, [&globals, install] { return run_install(globals, *install); }});

  auto status = std::make_shared<ScheduleStatusOptions>();
  auto *status_cmd = group->add_subcommand(
      "status", "Show the next events and whether a scheduler or timer is there");
  add_format_option(status_cmd, status->format);
  status_cmd->add_option("--limit", status->limit, "Events shown (default 10)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  status_cmd->footer("Examples:\n  ltb schedule status\n  ltb schedule status --format json");
  registry.push_back(
      {status_cmd, [&globals, status] { return run_schedule_status(globals, *status); }});
}

} // namespace ltb::cli
