#pragma once
// What every command shares: global options, the state file, the backends, printing of errors.

#include "event/progress.hpp"
#include "service/backends.hpp"
#include "service/owners.hpp"
#include "service/service.hpp"
#include "state/store.hpp"
#include "topology/diagnostics.hpp"
#include "util/error.hpp"

#include <CLI/CLI.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ltb::cli {

struct Globals {
  std::string state_path;
  std::string socket_path; // --socket: the daemon's (ltb serve, and the client of a user)
  bool quiet = false;
  bool color = false; // stderr may carry colour
  bool stdout_tty = false;
  bool stderr_tty = false;
  int wait_seconds = 60; // for the per-lab lock
};

/// A registered command: its CLI11 subcommand and the function that runs it after parsing; and,
/// for a command that a plain API request of `ltb serve` answers, how a user who is not root runs
/// it (given the daemon's socket; nullopt where that request cannot, and the daemon runs the
/// command instead).
struct Command {
  CLI::App *app = nullptr;
  std::function<int()> run;
  std::function<std::optional<int>(const std::string &socket)> remote = {};
};

using Registry = std::vector<Command>;

/// Marks a word after `--` that CLI11 would otherwise read as a list (see main()).
inline constexpr char k_word_mark = '\x1f';

/// The words of a command given after `--`, as they were typed (the marks main() set removed).
std::vector<std::string> command_words(std::vector<std::string> words);
std::string command_word(std::string word);

/// Prints `ltb: error: MESSAGE` and a help line to stderr; returns the error's exit code.
int report(const Globals &globals, const Error &error);
void print_notice(const Globals &globals, const std::string &line);

/// Prints rendered diagnostics to stderr.
void print_diagnostics(const Globals &globals, const topology::Diagnostics &diagnostics);

Result<std::unique_ptr<state::Store>> open_store(const Globals &globals);

using service::Connection;
/// service::connect() with the global options' state file.
Result<Connection> connect(const Globals &globals, bool docker = true);

/// What the service needs of the global options.
service::Context service_context(const Globals &globals);

/// Who the command runs for (service::identify of the process's uid, or of LTB_CALLER_UID when
/// root runs it: the daemon's child for a request); refuses a user ltb does not know. main()
/// calls it once before a command that acts for someone.
Status identify_caller(const Globals &globals);

/// The caller identify_caller() found (the process's own uid before it ran).
service::Caller caller();

/// The process's one cancellation token: SIGINT and SIGTERM set it once a cancellable phase has
/// started (its handler is installed then, see service::CancelToken).
service::CancelToken &interrupt_token();

/// Prints the service's events: notices per --quiet, progress as a live block on a terminal,
/// timestamped lines otherwise.
class PrintSink : public service::EventSink {
public:
  explicit PrintSink(const Globals &globals) : m_globals(globals) {}
  void notice(const std::string &line) override;
  std::unique_ptr<event::Progress> progress(const std::vector<std::string> &nodes) override;

private:
  const Globals &m_globals;
};

/// What a command hands the service: the context of its global options, its caller, a sink that
/// prints and the CLI's cancellation token (call after identification).
struct CliSession {
  explicit CliSession(const Globals &globals)
      : context(service_context(globals)), who(caller()),
        events(globals), session{context, who, interrupt_token(), events} {}
  service::Context context;
  service::Caller who;
  PrintSink events;
  service::Session session;
};

/// The per-lab directory beside the state file (inline configs, later access files).
std::string lab_dir(const Globals &globals, const std::string &lab);

/// The Unix name of the process's uid.
std::string current_user();

/// Checks a --format value.
bool json_format(const std::string &format);

/// Adds `--format table|json` (every listing has it).
void add_format_option(CLI::App *command, std::string &format);

/// `--all` and `--owner NAME` of a listing (admins: every user's, or one user's).
void add_owner_options(CLI::App *command, service::OwnerFilter &filter);

/// "no lab named 'X'", with a did-you-mean over the labs the state file records.
Error unknown_lab(state::Store &store, const std::string &lab);

void add_up(CLI::App &app, Globals &globals, Registry &registry);
void add_down(CLI::App &app, Globals &globals, Registry &registry);
void add_status(CLI::App &app, Globals &globals, Registry &registry);
void add_lifecycle(CLI::App &app, Globals &globals, Registry &registry);
void add_inspect(CLI::App &app, Globals &globals, Registry &registry);
void add_catalog(CLI::App &app, Globals &globals, Registry &registry);
void add_validate(CLI::App &app, Globals &globals, Registry &registry);
void add_version(CLI::App &app, Globals &globals, Registry &registry);
void add_completion(CLI::App &app, Globals &globals, Registry &registry);
void add_console(CLI::App &app, Globals &globals, Registry &registry);
void add_ssh(CLI::App &app, Globals &globals, Registry &registry);
void add_capture(CLI::App &app, Globals &globals, Registry &registry);
void add_events(CLI::App &app, Globals &globals, Registry &registry);
void add_top(CLI::App &app, Globals &globals, Registry &registry);
void add_exec(CLI::App &app, Globals &globals, Registry &registry);
void add_schedule(CLI::App &app, Globals &globals, Registry &registry);
void add_reserve(CLI::App &app, Globals &globals, Registry &registry);
void add_template(CLI::App &app, Globals &globals, Registry &registry);
void add_config(CLI::App &app, Globals &globals, Registry &registry);
void add_graph(CLI::App &app, Globals &globals, Registry &registry);
void add_save(CLI::App &app, Globals &globals, Registry &registry);
void add_serve(CLI::App &app, Globals &globals, Registry &registry);
void add_relay(CLI::App &app, Globals &globals, Registry &registry);
void add_link(CLI::App &app, Globals &globals, Registry &registry);
void add_snapshot(CLI::App &app, Globals &globals, Registry &registry);
void add_user(CLI::App &app, Globals &globals, Registry &registry);
/// `ltb user passwd` and `ltb user token` (cmd_credentials.cpp), under `ltb user`.
void add_user_credentials(CLI::App &user, Globals &globals, Registry &registry);
/// Resumes nodes a killed `ltb snapshot` left paused and finishes or removes what it left half
/// made (service::recover_snapshots); a failure is a notice only.
void finish_interrupted_snapshots(const Globals &globals);

} // namespace ltb::cli
