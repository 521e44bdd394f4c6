// The hidden `ltb relay` (the lab's impairment relay process, started by ltb itself) and
// `ltb relay-set` / `ltb relay-stop` (one link's impairment straight into a lab directory's
// relay, for tests and benchmarks).
#include "cli/context.hpp"
#include "service/owners.hpp"
#include "service/relay.hpp"

#include <cstdlib>
#include <filesystem>

namespace ltb::cli {

namespace {

struct RelayOptions {
  std::string lab_dir;
  bool foreground = false;
};

struct RelaySetOptions {
  std::string lab_dir;
  std::string key;
  std::string a;
  std::string b;
  std::string direction = "both";
  net::Impairment impairment;
};

std::string absolute(const std::string &path) {
  std::error_code ec;
  auto full = std::filesystem::absolute(path, ec);
  return ec ? path : full.lexically_normal().string();
}

/// The relay commands are ltb's own (it starts the relay as root on a lab's directory), never a
/// user's, who could name any directory: refused for a request the daemon runs for a user
/// (`relay` identifies nobody, so the daemon's LTB_CALLER_UID is still there) and for users.
Status internal_only(bool identified) {
  if (!identified && std::getenv("LTB_CALLER_UID") != nullptr) {
    return fail(Error{"`ltb relay` is ltb's own command, run for labs by ltb itself",
                      "change a link's impairments with `ltb link set`", ExitCode::usage});
  }
  return service::require_admin(caller(), "ltb's internal relay commands");
}

int run_relay(const Globals &globals, const RelayOptions &options) {
  if (auto allowed = internal_only(false); !allowed) {
    return report(globals, allowed.error());
  }
  if (auto served = service::run_relay(absolute(options.lab_dir), options.foreground); !served) {
    return report(globals, served.error());
  }
  return 0;
}

int run_relay_set(const Globals &globals, const RelaySetOptions &options) {
  if (auto allowed = internal_only(true); !allowed) {
    return report(globals, allowed.error());
  }
  service::RelaySetRequest request{absolute(options.lab_dir),
                                   {options.key, options.a, options.b},
                                   options.direction == "b" ? net::Direction::b_to_a
                                                            : net::Direction::a_to_b,
                                   options.direction == "both",
                                   options.impairment};
  if (auto set = service::relay_set(request); !set) {
    return report(globals, set.error());
  }
  return 0;
}

} // namespace

void add_relay(CLI::App &app, Globals &globals, Registry &registry) {
  auto relay = std::make_shared<RelayOptions>();
  auto *serve = app.add_subcommand("relay", "");
  serve->group(""); // hidden: ltb starts it
  serve->add_option("--lab-dir", relay->lab_dir)->required();
  serve->add_flag("--foreground", relay->foreground);
  registry.push_back({serve, [&globals, relay] { return run_relay(globals, *relay); }});

  auto set = std::make_shared<RelaySetOptions>();
  auto *setter = app.add_subcommand("relay-set", "");
  setter->group("");
  setter->add_option("--lab-dir", set->lab_dir)->required();
  setter->add_option("key", set->key)->required();
  setter->add_option("a", set->a)->required();
  setter->add_option("b", set->b)->required();
  setter->add_option("--direction", set->direction)->check(CLI::IsMember({"a", "b", "both"}));
  setter->add_option("--delay-us", set->impairment.delay_us);
  setter->add_option("--jitter-us", set->impairment.jitter_us);
  setter->add_option("--loss", set->impairment.loss_pct);
  setter->add_option("--corrupt", set->impairment.corrupt_pct);
  setter->add_option("--duplicate", set->impairment.duplicate_pct);
  setter->add_option("--reorder", set->impairment.reorder_pct);
  setter->add_option("--rate-bps", set->impairment.rate_bps);
  registry.push_back({setter, [&globals, set] { return run_relay_set(globals, *set); }});

  auto stop_dir = std::make_shared<std::string>();
  auto *stopper = app.add_subcommand("relay-stop", "");
  stopper->group("");
  stopper->add_option("--lab-dir", *stop_dir)->required();
  registry.push_back({stopper, [&globals, stop_dir] {
                        if (auto allowed = internal_only(true); !allowed) {
                          return report(globals, allowed.error());
                        }
                        if (auto stopped = service::relay_stop(absolute(*stop_dir)); !stopped) {
                          return report(globals, stopped.error());
                        }
                        return 0;
                      }});
}

} // namespace ltb::cli
