#include "schedule/units.hpp"

#include "schedule/scheduler.hpp"
#include "util/exec.hpp"

#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>
#include <unistd.h>

namespace ltb::schedule {

namespace {

namespace fs = std::filesystem;

constexpr const char *k_install_key = "schedule.install";

std::optional<std::string> read_text(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Writes through a temporary file and rename(2), so that systemd never reads half a drop-in.
Status write_atomic(const std::string &path, const std::string &text) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) {
    return fail(fmt::format("cannot create directory {}: {}", fs::path(path).parent_path().string(),
                            ec.message()),
                "run as root, or pass --root DIR");
  }
  const std::string tmp = fmt::format("{}.tmp{}", path, ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) {
      return fail(fmt::format("cannot write {}", tmp), "run as root, or pass --root DIR");
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return fail(fmt::format("cannot write {}: {}", path, ec.message()),
                "run as root, or pass --root DIR");
  }
  return {};
}

} // namespace

std::string calendar_spec(Instant t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string unit_word(const std::string &word) {
  std::string escaped;
  bool quote = word.empty();
  for (char c : word) {
    if (c == '%') {
      escaped += "%%";
      continue;
    }
    if (c == '"' || c == '\\') {
      escaped += '\\';
      quote = true;
    }
    if (c == ' ' || c == '\t' || c == '\'' || c == ';') {
      quote = true;
    }
    escaped += c;
  }
  return quote ? "\"" + escaped + "\"" : escaped;
}

std::string service_text(const std::string &ltb_path, const std::string &state_path) {
  return fmt::format(
      "# Written by `ltb schedule install`: one pass of the ltb scheduler (deploys the labs whose\n"
      "# reservations start, removes those whose reservations end), started by {}.\n"
      "[Unit]\n"
      "Description=ltb scheduler pass for reservations in {}\n"
      "Documentation=man:ltb(1)\n"
      "After=network-online.target docker.service openvswitch-switch.service libvirtd.service\n"
      "\n"
      "[Service]\n"
      "Type=oneshot\n"
      "ExecStart={} --state {} schedule run --once\n"
      "# Deploying a large lab can take minutes.\n"
      "TimeoutStartSec=1h\n",
      k_timer_name, state_path, unit_word(ltb_path), unit_word(state_path));
}

std::string timer_text(const std::string &state_path) {
  return fmt::format("# Written by `ltb schedule install`. ltb keeps the drop-in\n"
                     "# {}.d/{} in step with the next reservation event.\n"
                     "[Unit]\n"
                     "Description=Wake the ltb scheduler for reservations in {}\n"
                     "Documentation=man:ltb(1)\n"
                     "\n"
                     "[Timer]\n"
                     "Unit={}\n"
                     "# A first pass soon after the timer starts, then a safety pass every {} "
                     "minutes\n"
                     "# in case a wake-up was missed.\n"
                     "OnActiveSec=10s\n"
                     "OnUnitActiveSec={}min\n"
                     "# Events are to the second; the default accuracy is a minute.\n"
                     "AccuracySec=1s\n"
                     "Persistent=true\n"
                     "\n"
                     "[Install]\n"
                     "WantedBy=timers.target\n",
                     k_timer_name, k_dropin_name, state_path, k_service_name,
                     k_safety_interval / 60, k_safety_interval / 60);
}

std::string dropin_text(std::optional<Instant> next) {
  // No "OnCalendar=" reset line: an empty assignment clears every timer value of the unit,
  // the safety OnUnitActiveSec= too. The main unit has no OnCalendar= to reset.
  std::string text = "# Written by ltb whenever reservations change: the next event.\n"
                     "[Timer]\n";
  if (next) {
    text += fmt::format("OnCalendar={}\n", calendar_spec(*next));
  }
  return text;
}

std::string cron_text(const std::string &ltb_path, const std::string &state_path) {
  // cron.d lines go to /bin/sh: quote for the shell.
  auto sh = [](const std::string &word) {
    std::string out = "'";
    for (char c : word) {
      if (c == '\'') {
        out += "'\\''";
      } else if (c == '%') {
        out += "\\%"; // cron turns a bare % into a newline
      } else {
        out += c;
      }
    }
    return out + "'";
  };
  return fmt::format("# Written by `ltb schedule install --cron`: a scheduler pass every minute.\n"
                     "# cron wakes to the minute; for events to the second run `ltb schedule run`\n"
                     "# as a daemon or use the systemd timer instead.\n"
                     "SHELL=/bin/sh\n"
                     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
                     "* * * * * root {} --state {} --quiet schedule run --once\n",
                     sh(ltb_path), sh(state_path));
}

Result<std::optional<Installation>> installation(state::Store &store) {
  LTB_TRY(text, store.meta(k_install_key));
  if (!text || text->empty()) {
    return std::optional<Installation>();
  }
  auto json = nlohmann::json::parse(*text, nullptr, false);
  if (!json.is_object()) {
    return fail(fmt::format("the record of the installed scheduler timer (meta {}) in {} is "
                            "damaged",
                            k_install_key, store.path()),
                "run `ltb schedule install` again");
  }
  Installation out;
  out.kind = json.value("kind", "");
  out.root = json.value("root", "/");
  out.unit_dir = json.value("unit_dir", "");
  out.ltb_path = json.value("ltb_path", "");
  out.enabled = json.value("enabled", false);
  return std::optional<Installation>(out);
}

Status record_installation(state::Store &store, const Installation &installation) {
  nlohmann::json json = {{"kind", installation.kind},
                         {"root", installation.root},
                         {"unit_dir", installation.unit_dir},
                         {"ltb_path", installation.ltb_path},
                         {"enabled", installation.enabled}};
  return store.set_meta(k_install_key, json.dump());
}

bool systemd_running() {
  std::error_code ec;
  return fs::is_directory("/run/systemd/system", ec);
}

std::string dropin_path(const Installation &installation) {
  return (fs::path(installation.unit_dir) / (std::string(k_timer_name) + ".d") / k_dropin_name)
      .string();
}

Result<Refresh> refresh_wakeup(state::Store &store, Instant now) {
  Refresh refresh;
  LTB_TRY(installed, installation(store));
  if (!installed || installed->kind != "systemd") {
    return refresh;
  }
  refresh.installed = true;
  StoreBook book(store);
  LTB_TRY(reservations, book.reservations());
  LTB_TRY(holds, book.holds());
  refresh.next = next_wake(reservations, holds, now);
  // A time already due: the timer cannot fire in the past, and the pass that is due runs now or
  // at the safety wake-up; a second from now is the nearest future instant.
  if (refresh.next && *refresh.next <= now) {
    refresh.next = now + 1;
  }
  const std::string path = dropin_path(*installed);
  const std::string text = dropin_text(refresh.next);
  if (read_text(path) == text) {
    return refresh;
  }
  LTB_CHECK(write_atomic(path, text));
  refresh.changed = true;
  if (installed->enabled && installed->root == "/" && systemd_running()) {
    auto reload = util::run({"systemctl", "daemon-reload"});
    if (!reload || reload->exit_code != 0) {
      return fail("the scheduler's timer was rewritten but `systemctl daemon-reload` failed: " +
                      (reload ? reload->err : reload.error().message),
                  "run `systemctl daemon-reload` by hand");
    }
    // Restarting the timer makes it compute its next elapse from the new OnCalendar.
    auto restart = util::run({"systemctl", "try-restart", k_timer_name});
    if (!restart || restart->exit_code != 0) {
      return fail(fmt::format("cannot restart {}: {}", k_timer_name,
                              restart ? restart->err : restart.error().message),
                  fmt::format("run `systemctl restart {}` by hand", k_timer_name));
    }
    refresh.reloaded = true;
  }
  return refresh;
}

} // namespace ltb::schedule
