#include "cli/context.hpp"

#include "service/nodes.hpp"
#include "service/users.hpp"

#include <charconv>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <unistd.h>

namespace ltb::cli {

namespace {
void on_signal(int) {
  interrupt_token().cancel();
}

void install_handler() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // A hangup (the terminal or the ssh session that ran ltb went away, or the daemon ended a web
  // terminal) is an interruption too: without it, ltb died at once and an `ltb exec` shell was
  // left running in the node.
  sigaction(SIGHUP, &action, nullptr);
}
} // namespace

service::CancelToken &interrupt_token() {
  static service::CancelToken token(install_handler);
  return token;
}

service::Context service_context(const Globals &globals) {
  return {globals.state_path, globals.wait_seconds};
}

namespace {
std::optional<service::Caller> &identified() {
  static std::optional<service::Caller> who;
  return who;
}

/// The uid the command runs for: LTB_CALLER_UID when root runs it (the daemon's child for a
/// request), else the process's own.
Result<uid_t> caller_uid() {
  const char *text = std::getenv("LTB_CALLER_UID");
  if (text == nullptr || *text == '\0') {
    return getuid();
  }
  if (getuid() != 0) {
    return fail("LTB_CALLER_UID is set, and only root (the ltb daemon) may act for another user",
                "unset LTB_CALLER_UID: ltb runs as you", ExitCode::usage);
  }
  const std::string value = text;
  uid_t uid = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), uid);
  if (ec != std::errc() || ptr != value.data() + value.size()) {
    return fail(fmt::format("LTB_CALLER_UID '{}' is not a uid", value),
                "set it to a number, like LTB_CALLER_UID=1000", ExitCode::usage);
  }
  return uid;
}
} // namespace

Status identify_caller(const Globals &globals) {
  LTB_TRY(uid, caller_uid());
  // The daemon's child: the daemon identified the caller already (LTB_CALLER, trusted from root
  // only, as LTB_CALLER_UID is), so the passwd and group lookups are not made twice.
  const char *given = ::getuid() == 0 ? std::getenv("LTB_CALLER") : nullptr;
  auto passed = given ? service::caller_from_json(given) : std::nullopt;
  ::unsetenv("LTB_CALLER");
  if (passed && passed->uid == uid) {
    identified() = std::move(*passed);
  } else {
    LTB_TRY(who, service::identify(service_context(globals), uid));
    identified() = who;
  }
  // What this process starts for the request (the relay, helpers) is ltb's own work, run as
  // root: it must not pass for the caller's request again.
  ::unsetenv("LTB_CALLER_UID");
  return {};
}

service::Caller caller() {
  if (identified()) {
    return *identified();
  }
  // A command that identifies nobody (validate, completion): the process itself.
  return {getuid(), current_user(), getuid() == 0, {}};
}

void PrintSink::notice(const std::string &line) {
  print_notice(m_globals, line);
}

std::unique_ptr<event::Progress> PrintSink::progress(const std::vector<std::string> &nodes) {
  return event::make_progress(nodes, {m_globals.stderr_tty, m_globals.quiet, m_globals.color});
}

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
  return service::open_store(service_context(globals));
}

Result<Connection> connect(const Globals &globals, bool docker) {
  return service::connect(service_context(globals), docker);
}

std::string lab_dir(const Globals &globals, const std::string &lab) {
  return service_context(globals).lab_dir(lab);
}

std::string command_word(std::string word) {
  if (!word.empty() && word.front() == k_word_mark) {
    word.erase(0, 1);
  }
  return word;
}

std::vector<std::string> command_words(std::vector<std::string> words) {
  for (auto &word : words) {
    word = command_word(std::move(word));
  }
  return words;
}

std::string current_user() {
  if (auto user = service::system_accounts().user_by_uid(getuid())) {
    return user->name;
  }
  return std::to_string(getuid());
}

bool json_format(const std::string &format) {
  return format == "json";
}

void add_format_option(CLI::App *command, std::string &format) {
  command->add_option("--format", format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->type_name("table|json");
}

void add_owner_options(CLI::App *command, service::OwnerFilter &filter) {
  command->add_flag("--all", filter.all, "Every user's (admins)");
  command->add_option("--owner", filter.owner, "That user's (admins)")->type_name("USER");
}

Error unknown_lab(state::Store &store, const std::string &lab) {
  return service::unknown_lab(store, lab);
}

} // namespace ltb::cli
