#include "cli/context.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <pwd.h>
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
}
} // namespace

service::CancelToken &interrupt_token() {
  static service::CancelToken token(install_handler);
  return token;
}

service::Context service_context(const Globals &globals) {
  return {globals.state_path, globals.wait_seconds};
}

service::Caller caller() {
  return {getuid(), current_user()};
}

void PrintSink::notice(const std::string &line) {
  print_notice(m_globals, line);
}

std::unique_ptr<apply::Progress> PrintSink::progress(const std::vector<std::string> &nodes) {
  return apply::make_progress(nodes, {m_globals.stderr_tty, m_globals.quiet, m_globals.color});
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

std::string current_user() {
  if (const char *sudo = std::getenv("SUDO_USER"); sudo && *sudo) {
    return sudo;
  }
  if (const auto *pw = getpwuid(getuid())) {
    return pw->pw_name;
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

namespace {
std::string join_words(const std::vector<std::string> &words) {
  std::string text;
  for (const auto &word : words) {
    text += (text.empty() ? "" : ", ") + word;
  }
  return text;
}
} // namespace

/// The caller's labs (see current_user()), those being removed left out.
Result<std::vector<state::LabRecord>> caller_labs(state::Store &store) {
  LTB_TRY(labs, store.labs());
  const auto user = current_user();
  std::vector<state::LabRecord> mine;
  for (auto &lab : labs) {
    if (lab.owner == user && lab.status != "removing") {
      mine.push_back(std::move(lab));
    }
  }
  return mine;
}

/// The lab of a node given without --lab: the one lab of the caller's that has it (the one where
/// it runs, when several have it).
Result<std::string> lab_of_node(state::Store &store, const std::string &node) {
  LTB_TRY(mine, caller_labs(store));
  std::vector<std::string> found;
  std::vector<std::string> running;
  std::vector<std::string> names;
  for (const auto &lab : mine) {
    LTB_TRY(nodes, store.nodes(lab.name));
    for (const auto &record : nodes) {
      names.push_back(record.name);
      if (record.name == node) {
        found.push_back(lab.name);
        if (lab.status == "running" && record.status == "running") {
          running.push_back(lab.name);
        }
      }
    }
  }
  if (found.size() == 1) {
    return found.front();
  }
  if (running.size() == 1) {
    return running.front();
  }
  if (found.size() > 1) {
    return fail(fmt::format("node '{}' is in several of your labs ({})", node, join_words(found)),
                "say which with --lab LAB", ExitCode::usage);
  }
  // Not among the caller's labs: another user's lab may have it, but only by name.
  LTB_TRY(labs, store.labs());
  std::vector<std::string> elsewhere;
  for (const auto &lab : labs) {
    if (lab.owner == current_user()) {
      continue;
    }
    LTB_TRY(nodes, store.nodes(lab.name));
    for (const auto &record : nodes) {
      if (record.name == node) {
        elsewhere.push_back(fmt::format("{} (owner {})", lab.name, lab.owner));
      }
    }
  }
  if (!elsewhere.empty()) {
    return fail(fmt::format("none of your labs has a node '{}'; other users' labs do: {}", node,
                            join_words(elsewhere)),
                "say which lab with --lab LAB");
  }
  auto guess = topology::did_you_mean(node, names);
  return fail(fmt::format("no node named '{}' in any of your labs", node),
              guess.empty() ? "see `ltb status` for your labs and `ltb status LAB` for their nodes"
                            : fmt::format("did you mean '{}'?", guess));
}

} // namespace ltb::cli
