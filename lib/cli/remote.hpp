#pragma once
// The transparent client of `ltb serve`: a user who is not root runs the same `ltb` commands, and
// they run in the daemon (same output, same exit codes, streams included); and the other side,
// the child `ltb` the daemon runs for a request, which takes file arguments only from the files
// the client sent (remote mode, LTB_REMOTE=1).

#include "cli/context.hpp"

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ltb::cli {

/// The socket of the daemon: --socket, else $LTB_SOCKET, else /run/ltb/ltb.sock.
std::string daemon_socket(const std::string &option);

/// Whether this parsed command goes to the daemon: ltb runs as a user who is not root, was given
/// no --state, and the command needs state or privilege (not validate, completion, version's
/// --version flag, serve).
bool goes_remote(const CLI::App &app);

/// Whether the parsed command talks to a daemon on the network itself (`ltb capture --remote
/// URL`): it goes neither through the unix socket nor to the state file, and needs no caller ltb
/// knows on this machine.
bool network_client(const CLI::App &app);

/// Remote mode: this process is the daemon's child for a request (root, LTB_REMOTE=1).
bool remote_mode();

/// The topology file a command (up, down) means by ARGUMENT: topology::find_topology_file's
/// containerlab rule, except in the daemon's child, which reads only the files its client sent
/// and so never looks for one.
Result<std::string> topology_argument(const std::string &argument);

/// Runs the parsed command (argv as typed, without the program name) through the daemon at
/// `socket`; returns the exit code to end with.
int run_remote(const Globals &globals, const CLI::App &app, const std::vector<std::string> &argv,
               const std::string &socket);

/// A plain request to the daemon (no upgrade): GET TARGET, its HTTP status and body.
struct DaemonReply {
  int status = 0;
  std::string body;
};
Result<DaemonReply> daemon_get(const std::string &socket, const std::string &target);

/// The daemon's refusal (a body of error, help and exit code) as the Error a direct run reports.
Error daemon_refusal(int status, const std::string &body);

/// In remote mode (the daemon's child): the client's own path of a file argument the client
/// sent (display only: recorded as a lab's or reservation's source); "" otherwise.
std::string remote_origin(const std::string &path);

/// In remote mode (the daemon's child): PATH is a file the client sent (under the request's
/// directory LTB_REMOTE_DIR), a copy that goes when the command ends.
bool remote_input(const std::string &path);

/// In remote mode (the daemon's child): every file argument (FILE, PATH, DIR options) must lie
/// under the request's directory LTB_REMOTE_DIR, and a topology must not reference files outside
/// it. A usage error otherwise.
Status check_remote_files(const CLI::App &app);

} // namespace ltb::cli
