#include "cli/app.hpp"

#include "cli/completion.hpp"
#include "cli/context.hpp"
#include "cli/remote.hpp"

#include <cstdlib>
#include <curl/curl.h>
#include <exception>
#include <filesystem>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <set>
#include <sqlite3.h>
#include <string>
#include <unistd.h>

namespace ltb::cli {

std::unique_ptr<CLI::App> build_app(Globals &globals, Registry &registry) {
  auto app = std::make_unique<CLI::App>(
      "ltb, the lab topology builder: turns a topology file into a running network lab of "
      "containers, links and Open vSwitch segments, and keeps it that way.",
      "ltb");
  app->require_subcommand(1);
  app->fallthrough();
  app->footer("Run `ltb COMMAND --help` for a command's options. Manual: ltb(1), ltb-topology(5).");
  app->set_version_flag("--version", std::string("ltb ") + LTB_VERSION);
  app->add_option("--state", globals.state_path,
                  "State file (default: $LTB_STATE, else /var/lib/ltb/state.db)")
      ->type_name("PATH");
  app->add_option("--socket", globals.socket_path,
                  "The ltb daemon's socket (default: $LTB_SOCKET, else /run/ltb/ltb.sock)")
      ->type_name("SOCKET");
  app->add_flag("-q,--quiet", globals.quiet, "Print only errors and results");
  app->add_option("--wait", globals.wait_seconds,
                  "Seconds to wait for another ltb working on the same lab (default 60)")
      ->type_name("SECONDS");
  add_up(*app, globals, registry);
  add_down(*app, globals, registry);
  add_status(*app, globals, registry);
  add_lifecycle(*app, globals, registry);
  add_inspect(*app, globals, registry);
  add_catalog(*app, globals, registry);
  add_console(*app, globals, registry);
  add_ssh(*app, globals, registry);
  add_capture(*app, globals, registry);
  add_graph(*app, globals, registry);
  add_save(*app, globals, registry);
  add_snapshot(*app, globals, registry);
  add_events(*app, globals, registry);
  add_top(*app, globals, registry);
  add_link(*app, globals, registry);
  add_exec(*app, globals, registry);
  add_reserve(*app, globals, registry);
  add_template(*app, globals, registry);
  add_schedule(*app, globals, registry);
  add_config(*app, globals, registry);
  add_user(*app, globals, registry);
  add_validate(*app, globals, registry);
  add_version(*app, globals, registry);
  add_completion(*app, globals, registry);
  add_serve(*app, globals, registry);
  add_relay(*app, globals, registry); // hidden
  return app;
}

void warm_up() {
  if (const passwd *root = ::getpwuid(0)) {
    const std::string name = root->pw_name;
    const gid_t gid = root->pw_gid;
    gid_t groups[8];
    int count = 8;
    (void)::getgrouplist(name.c_str(), gid, groups, &count);
  }
  (void)::getgrgid(0);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  sqlite3_initialize();
}

int main(int argc, char **argv) {
  Globals globals;
  globals.state_path = state::default_state_path();
  globals.stdout_tty = isatty(STDOUT_FILENO) != 0;
  globals.stderr_tty = isatty(STDERR_FILENO) != 0;
  const char *no_color = std::getenv("NO_COLOR");
  const char *term = std::getenv("TERM");
  globals.color =
      globals.stderr_tty && !(no_color && *no_color) && !(term && std::string(term) == "dumb");
  Registry registry;
  auto app = build_app(globals, registry);
  // CLI11 reads a word in brackets ('[ -f x ]') as a list and drops its brackets: after `--`,
  // such words are marked so that they reach the command whole (command_words() unmarks them).
  std::vector<std::string> words(argv, argv + argc);
  bool dashes = false;
  for (std::size_t i = 1; i < words.size(); ++i) {
    if (!dashes && words[i] == "--") {
      dashes = true;
    } else if (dashes && words[i].size() >= 2 && words[i].front() == '[' &&
               words[i].back() == ']') {
      words[i].insert(0, 1, k_word_mark);
    }
  }
  std::vector<char *> marked;
  for (auto &word : words) {
    marked.push_back(word.data());
  }
  try {
    app->parse(argc, marked.data());
    // The lab directories live beside the state file, and their paths go into bind mounts:
    // a relative --state (or LTB_STATE) is taken from the current directory once, here.
    if (std::error_code ec; !globals.state_path.empty()) {
      auto absolute = std::filesystem::absolute(globals.state_path, ec);
      if (!ec) {
        globals.state_path = absolute.lexically_normal().string();
      }
    }
  } catch (const CLI::CallForHelp &e) {
    return app->exit(e);
  } catch (const CLI::CallForAllHelp &e) {
    return app->exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app->exit(e);
  } catch (const CLI::ParseError &e) {
    app->exit(e);
    return static_cast<int>(ExitCode::usage);
  }
  // A user who is not root runs commands through the daemon; the daemon's own child takes file
  // arguments only from what that client sent.
  if (goes_remote(*app)) {
    const auto socket = daemon_socket(globals.socket_path);
    for (auto &command : registry) {
      if (command.app->parsed() && command.remote) {
        if (auto code = command.remote(socket)) {
          return *code;
        }
      }
    }
    return run_remote(globals, *app, std::vector<std::string>(argv + 1, argv + argc), socket);
  }
  if (const char *remote = std::getenv("LTB_REMOTE");
      remote && std::string(remote) == "1" && getuid() == 0) {
    if (auto checked = check_remote_files(*app); !checked) {
      return report(globals, checked.error());
    }
  }
  try {
    for (auto &command : registry) {
      if (command.app->parsed()) {
        // A killed `ltb snapshot` is finished by whatever ltb runs next (but those that touch no
        // lab).
        const CLI::App *top = command.app;
        while (top->get_parent() != nullptr && top->get_parent()->get_parent() != nullptr) {
          top = top->get_parent();
        }
        static const std::set<std::string> k_no_recovery{"completion", "version", "validate",
                                                         "relay", "__complete"};
        if (!k_no_recovery.count(top->get_name()) && !network_client(*app)) {
          // Who asks, before anything is done for them: a user ltb does not know is refused.
          if (auto identified = identify_caller(globals); !identified) {
            return report(globals, identified.error());
          }
          finish_interrupted_snapshots(globals);
        }
        return command.run();
      }
    }
    return report(globals, Error{"no command given", "run `ltb --help`", ExitCode::usage});
  } catch (const std::exception &e) {
    return report(globals, Error{e.what(),
                                 "this is a bug in ltb; please report it with the "
                                 "command you ran",
                                 ExitCode::failed});
  }
}

} // namespace ltb::cli
