// ltb user passwd NAME, ltb user token create|list|rm: a web password and API tokens, for the
// daemon's network listener (service/credentials).
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "schedule/time.hpp"
#include "service/credentials.hpp"

#include <cstdio>
#include <fmt/format.h>
#include <iostream>
#include <nlohmann/json.hpp>
#include <termios.h>
#include <unistd.h>

namespace ltb::cli {

namespace {

struct CredentialOptions {
  std::string name;
  bool stdin_password = false;
  std::string expires = "30d";
  std::string label;
  std::string id;
  std::string format = "table";
};

/// One line from standard input, without its newline; with a terminal, asked for with PROMPT and
/// not echoed.
std::optional<std::string> read_secret(const std::string &prompt) {
  const bool tty = ::isatty(STDIN_FILENO) != 0;
  termios saved{};
  if (tty) {
    fmt::print(stderr, "{}", prompt);
    std::fflush(stderr);
    ::tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  const bool got = static_cast<bool>(std::getline(std::cin, line));
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    fmt::print(stderr, "\n");
  }
  if (!got) {
    return std::nullopt;
  }
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  return line;
}

int run_passwd(const Globals &globals, const CredentialOptions &options) {
  const auto who = caller();
  const std::string user = options.name.empty() ? who.name : options.name;
  if (::isatty(STDIN_FILENO) == 0 && !options.stdin_password) {
    return report(globals,
                  Error{"no terminal to ask the password on",
                        "pass --stdin to read it from standard input (one line)", ExitCode::usage});
  }
  auto password = read_secret(fmt::format("web password for {}: ", user));
  if (!password) {
    return report(
        globals, Error{"no password given", "type it, or send one line on stdin", ExitCode::usage});
  }
  if (::isatty(STDIN_FILENO) != 0) {
    auto again = read_secret("again: ");
    if (!again || *again != *password) {
      return report(globals, Error{"the two passwords differ", "run it again", ExitCode::usage});
    }
  }
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  const CliSession cli(globals);
  if (auto set = service::set_web_password(cli.session, **store, user, *password); !set) {
    return report(globals, set.error());
  }
  print_notice(globals, fmt::format("web password of {} set", user));
  return 0;
}

int run_token_create(const Globals &globals, const CredentialOptions &options) {
  auto lifetime = schedule::parse_duration(options.expires);
  if (!lifetime) {
    return report(globals,
                  Error{fmt::format("--expires {}: {}", options.expires, lifetime.error().message),
                        "give a duration, like 30d, 12h or 90m", ExitCode::usage});
  }
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  const CliSession cli(globals);
  const std::string user = options.name.empty() ? cli.who.name : options.name;
  auto made = service::create_token(cli.session, **store, user, *lifetime, options.label);
  if (!made) {
    return report(globals, made.error());
  }
  if (options.format == "json") {
    fmt::print("{}\n", nlohmann::json{{"id", made->record.id},
                                      {"user", made->record.user},
                                      {"name", made->record.label},
                                      {"token", made->token},
                                      {"expires_at", made->record.expires_at}}
                           .dump(2));
    return 0;
  }
  fmt::print("{}\n", made->token);
  print_notice(globals,
               fmt::format("token {} of {}, expires {}; it is shown only now: send it as "
                           "`Authorization: Bearer TOKEN`",
                           made->record.id, user, schedule::format_local(made->record.expires_at)));
  return 0;
}

int run_token_list(const Globals &globals, const CredentialOptions &options) {
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  const CliSession cli(globals);
  auto tokens = service::list_tokens(cli.session, **store, options.name);
  if (!tokens) {
    return report(globals, tokens.error());
  }
  auto when = [](std::int64_t t) { return t == 0 ? std::string("-") : schedule::format_local(t); };
  if (options.format == "json") {
    auto list = nlohmann::json::array();
    for (const auto &t : *tokens) {
      list.push_back({{"id", t.id},
                      {"user", t.user},
                      {"name", t.label},
                      {"created_at", t.created_at},
                      {"expires_at", t.expires_at},
                      {"last_used_at", t.last_used_at}});
    }
    fmt::print("{}\n", nlohmann::json{{"tokens", list}}.dump(2));
    return 0;
  }
  if (tokens->empty()) {
    fmt::print("no tokens (make one: ltb user token create)\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto &t : *tokens) {
    rows.push_back({t.id, t.user, t.label.empty() ? "-" : t.label, when(t.created_at),
                    when(t.expires_at), when(t.last_used_at)});
  }
  fmt::print("{}", format_table({"ID", "USER", "NAME", "CREATED", "EXPIRES", "LAST USED"}, rows));
  return 0;
}

int run_token_rm(const Globals &globals, const CredentialOptions &options) {
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  const CliSession cli(globals);
  if (auto removed = service::remove_token(cli.session, **store, options.id); !removed) {
    return report(globals, removed.error());
  }
  print_notice(globals, fmt::format("token {} revoked", options.id));
  return 0;
}

} // namespace

void add_user_credentials(CLI::App &user, Globals &globals, Registry &registry) {
  auto passwd = std::make_shared<CredentialOptions>();
  auto *sub = user.add_subcommand("passwd", "Set a user's web password (for ltb serve --listen)");
  sub->add_option("name", passwd->name, "Unix user (default: yourself)")->type_name("NAME");
  sub->add_flag("--stdin", passwd->stdin_password,
                "Read the password from standard input (one line) instead of a terminal");
  registry.push_back({sub, [&globals, passwd] { return run_passwd(globals, *passwd); }});

  auto *token = user.add_subcommand("token", "API tokens: bearer credentials for scripts");
  token->require_subcommand(1);
  auto create = std::make_shared<CredentialOptions>();
  sub = token->add_subcommand("create", "Make a token (shown once) for a user");
  sub->add_option("name", create->name, "Unix user (default: yourself)")->type_name("NAME");
  sub->add_option("--expires", create->expires, "Lifetime, at most a year (default 30d)")
      ->type_name("DURATION");
  sub->add_option("--name", create->label, "What the token is for (shown by list)")
      ->type_name("TEXT");
  add_format_option(sub, create->format);
  registry.push_back({sub, [&globals, create] { return run_token_create(globals, *create); }});

  auto list = std::make_shared<CredentialOptions>();
  sub = token->add_subcommand("list", "A user's tokens (not their secrets)");
  sub->add_option("name", list->name, "Unix user (default: yourself)")->type_name("NAME");
  add_format_option(sub, list->format);
  registry.push_back({sub, [&globals, list] { return run_token_list(globals, *list); }});

  auto rm = std::make_shared<CredentialOptions>();
  sub = token->add_subcommand("rm", "Revoke a token");
  sub->add_option("id", rm->id, "Token id (ltb user token list)")->required()->type_name("ID");
  registry.push_back({sub, [&globals, rm] { return run_token_rm(globals, *rm); }});
}

} // namespace ltb::cli
