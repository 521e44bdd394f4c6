// ltb ssh NODE [--lab LAB] [-t] [-n] [--timeout SECONDS] [-- COMMAND...]
#include "cli/context.hpp"
#include "cli/exec_select.hpp"
#include "service/nodes.hpp"
#include "util/shell_split.hpp"

#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <optional>
#include <string_view>
#include <unistd.h>

namespace ltb::cli {

namespace {

/// ltb's own failures (no such node, cannot connect, authentication): 255, as OpenSSH's ssh, so
/// that they are told apart from the remote command's exit status.
constexpr int k_ssh_failed = 255;

struct SshOptions {
  std::string node;
  std::string lab;
  std::vector<std::string> command;
  bool tty = false;
  bool no_stdin = false;
  int timeout = 10;
};

/// Writes all of DATA to FD (a terminal or a pipe).
void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return; // the reader went away; the session ends on its own
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

int run_ssh(const Globals &globals, const SshOptions &options) {
  PrintSink events(globals);
  const service::Session service_session{service_context(globals), caller(), interrupt_token(),
                                         events};
  auto session = service::open_ssh(service_session, {options.node, options.lab, options.timeout});
  if (!session) {
    report(globals, session.error());
    return k_ssh_failed;
  }

  // One argument is a command line for the remote shell (`-- 'ls | wc -l'`); several are words,
  // quoted so that the remote shell sees exactly them (`-- vtysh -c 'show ip route'`).
  std::string command;
  const auto words = command_words(options.command);
  if (words.size() == 1) {
    command = words.front();
  } else if (!words.empty()) {
    command = util::shell_join(words);
  }
  const bool stdin_open = fcntl(STDIN_FILENO, F_GETFD) != -1;
  access::SessionIo io;
  io.in_fd = options.no_stdin || !stdin_open ? -1 : STDIN_FILENO;
  // As OpenSSH: a terminal for a login shell when stdin is one, for a command only with -t.
  io.pty = options.tty || (command.empty() && io.in_fd >= 0 && isatty(io.in_fd));
  io.on_out = [](std::string_view chunk) { write_all(STDOUT_FILENO, chunk); };
  io.on_err = [](std::string_view chunk) { write_all(STDERR_FILENO, chunk); };
  auto status = session->run(command, io);
  if (!status) {
    report(globals, status.error());
    return k_ssh_failed;
  }
  return *status;
}

} // namespace

void add_ssh(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<SshOptions>();
  auto *sub = app.add_subcommand("ssh", "Log in to a node, or run a command on it, over ssh");
  sub->add_option("node", options->node, "Node to log in to")->required()->type_name("NODE");
  sub->add_option("command", options->command,
                  "Command to run (after --); none: an interactive login shell")
      ->type_name("COMMAND...");
  sub->add_option("--lab", options->lab,
                  "Lab of the node (needed when several of your labs have it)")
      ->type_name("LAB");
  sub->add_flag("-t,--tty", options->tty, "Give the command a terminal (PTY), as ssh -t");
  sub->add_flag("-n,--no-stdin", options->no_stdin,
                "Do not send stdin to the command (it reads an empty input)");
  sub->add_option("--timeout", options->timeout,
                  "Seconds to wait for the node's ssh server (default 10)")
      ->type_name("SECONDS")
      ->check(CLI::Range(1, 3600));
  sub->footer(
      "Examples:\n  ltb ssh r1\n  ltb ssh r1 -- vtysh -c 'show ip ospf neighbor'\n"
      "  ltb ssh vm1 --lab mixed-vm -- 'dmesg | tail'\n"
      "Logs in with the lab's own key (installed in the nodes by `ltb up`), then the node's "
      "password from the topology file; never prompts. Host keys are checked against the lab's "
      "known_hosts. Exit status: the remote command's, or 255 when ltb could not run it.");
  registry.push_back({sub, [&globals, options] { return run_ssh(globals, *options); }});
}

} // namespace ltb::cli
