#pragma once
// The daemon's fork server: a process forked at the very start of `ltb serve`, before main's
// work (nothing parsed, no thread, no handler, only the program's static initialisation), that
// forks a fresh `ltb` for each request. A request's command then starts with the libraries loaded
// and relocated, saving the exec's ~15 ms (tests/bench/serve.sh), and is still a process of its
// own (a crash or a leak stays in it, its cancellation is the CLI's own). What it gets is what an
// exec would give it: argv, the environment, the working directory and its three standard
// streams (pipes, or a terminal); signals at their defaults.

#include "util/error.hpp"
#include "util/exec.hpp"

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace ltb::server {

class ForkServer {
public:
  using Entry = int (*)(int argc, char **argv);
  using Warm = void (*)();

  /// Forks the server; ENTRY is what each forked command runs (ltb::cli::main). The server runs
  /// WARM first, if given: what every command would do at its start and may do once for all
  /// (load the name-service modules, initialise libraries), so that the copies inherit it.
  static Result<std::unique_ptr<ForkServer>> start(Entry entry, Warm warm = nullptr);
  /// In main(), before anything else: starts the server of this process when its command line is
  /// `ltb [global options] serve ...` (not `serve install`) run as root.
  static void start_if_serving(int argc, char **argv, Entry entry, Warm warm = nullptr);
  /// The server start_if_serving started, or nullptr.
  static ForkServer *instance();

  ForkServer(const ForkServer &) = delete;
  ForkServer &operator=(const ForkServer &) = delete;
  ~ForkServer();

  /// util::spawn's work, done by the server: ARGV (argv[0] is ignored: the program is this one)
  /// in CWD with ltb's environment plus OPTIONS.env, on pipes or a terminal (OPTIONS.pty); in
  /// a process group (a session with a terminal) of its own.
  Result<util::Child> spawn(const std::vector<std::string> &argv, const util::SpawnOptions &options,
                            const std::string &cwd);
  /// util::wait_child's answer for a process spawn() started: -2 while it runs, its exit code,
  /// or 128 + the signal that ended it; BLOCK waits for it.
  int wait(pid_t pid, bool block);

private:
  ForkServer(int socket, pid_t pid);
  void read_loop();

  int m_socket;
  pid_t m_pid;
  std::mutex m_spawn_mutex; // one spawn at a time: its answer is the next "pid" message
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::map<pid_t, int> m_exits;
  std::vector<std::string> m_answers; // spawn answers not yet taken
  bool m_gone = false;                // the server ended
  std::thread m_reader;
};

} // namespace ltb::server
