#include "cli/context.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

namespace ltb::cli {

namespace {
std::atomic<bool> g_interrupted{false};

void on_signal(int) { g_interrupted.store(true); }
} // namespace

int report(const Globals &globals, const Error &error) {
  const char *red = globals.color ? "\033[1;31m" : "";
  const char *cyan = globals.color ? "\033[36m" : "";
  const char *reset = globals.color ? "\033[0m" : "";
  fmt::print(stderr, "ltb: {}error:{} {}\n", red, reset, error.message);
  if (!error.help.empty()) {
    fmt::print(stderr, "{}help:{} {}\n", cyan, reset, error.help);
  }
  return static_cast<int>(error.code);
}

void print_notice(const Globals &globals, const std::string &line) {
  if (!globals.quiet) {
    fmt::print(stderr, "{}\n", line);
  }
}

void print_diagnostics(const Globals &globals, const topology::Diagnostics &diagnostics) {
  auto text = topology::render(diagnostics, globals.color);
  std::fputs(text.c_str(), stderr);
}

Result<std::unique_ptr<state::Store>> open_store(const Globals &globals) {
  return state::Store::open(globals.state_path);
}

Result<Connection> connect(const Globals &globals, bool docker) {
  Connection connection;
  LTB_TRY(store, open_store(globals));
  connection.store = std::move(store);
  if (docker) {
    LTB_TRY(client, runtime::connect_docker());
    connection.docker = std::move(client);
  }
  connection.netlink = net::make_netlink();
  connection.ovs = net::make_ovs();
  return connection;
}

Status Connection::connect_vms(bool required) {
  if (vms) {
    return {};
  }
  auto client = runtime::connect_libvirt();
  if (!client) {
    if (required) {
      return fail(client.error());
    }
    return {};
  }
  vms = std::move(*client);
  return {};
}

std::string lab_dir(const Globals &globals, const std::string &lab) {
  auto parent = std::filesystem::path(globals.state_path).parent_path();
  return (parent / "labs" / lab).string();
}

std::string current_user() {
  if (const char *sudo = std::getenv("SUDO_USER"); sudo && *sudo) {
    return sudo;
  }
  if (const auto *pw = getpwuid(getuid())) {
    return pw->pw_name;
  }
  return std::to_string(getuid());
}

const std::atomic<bool> *install_interrupt_handler() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  return &g_interrupted;
}

bool json_format(const std::string &format) { return format == "json"; }

void add_format_option(CLI::App *command, std::string &format) {
  command->add_option("--format", format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->type_name("table|json");
}

Error unknown_lab(state::Store &store, const std::string &lab) {
  std::vector<std::string> names;
  if (auto labs = store.labs()) {
    for (const auto &known : *labs) {
      names.push_back(known.name);
    }
  }
  auto guess = topology::did_you_mean(lab, names);
  return Error{fmt::format("no lab named '{}'", lab),
               guess.empty() ? "see `ltb status` for the labs there are"
                             : fmt::format("did you mean '{}'?", guess),
               ExitCode::failed};
}

} // namespace ltb::cli
