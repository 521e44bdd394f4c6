#include "util/exec.hpp"

// <utility> must come before boost/asio.hpp: GCC 12 with -std=c++20 fails otherwise (HOST.md),
// and clang-format would sort it after.
// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on

#include <algorithm>
#include <array>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <mutex>
#include <optional>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace ltb::util {
namespace {

namespace bp = boost::process;
namespace asio = boost::asio;

// Where the programs ltb runs come from, so that "not found" says what to install.
std::string package_for(const std::string &program) {
  static const std::array<std::pair<const char *, const char *>, 14> k_packages{{
      {"ovs-vsctl", "openvswitch-switch"},
      {"ovs-ofctl", "openvswitch-switch"},
      {"docker", "docker.io"},
      {"virsh", "libvirt-clients"},
      {"qemu-img", "qemu-utils"},
      {"mmdebstrap", "mmdebstrap"},
      {"tcpdump", "tcpdump"},
      {"ip", "iproute2"},
      {"tar", "tar"},
      {"ssh", "openssh-client"},
      {"cpio", "cpio"},
      {"mke2fs", "e2fsprogs"},
      {"busybox", "busybox-static"},
      {"scdoc", "scdoc"},
  }};
  for (const auto &[name, package] : k_packages) {
    if (program == name) {
      return package;
    }
  }
  return {};
}

// Runs in the forked child just before execve. Descriptors that other threads of ltb hold open
// (pipes of concurrent runs, curl and netlink sockets) would otherwise leak into the child and, for
// pipes, keep another run's reader from ever seeing EOF. Marking them close-on-exec rather than
// closing them keeps Boost's own exec-error pipe working. Only async-signal-safe calls here.
struct CloseOtherFds : bp::extend::handler {
  template <class Executor> void on_exec_setup(Executor & /*exec*/) const {
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      const long max_fd = ::sysconf(_SC_OPEN_MAX);
      for (int fd = 3; fd < (max_fd > 0 && max_fd < 65536 ? max_fd : 65536); ++fd) {
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      }
    }
    // ltb ignores SIGPIPE (see ignore_sigpipe); an ignored disposition survives execve, and
    // programs such as `yes | head` expect the default.
    ::signal(SIGPIPE, SIG_DFL);
  }
};

// Writing stdin_data to a child that exits without reading it raises SIGPIPE, which would kill
// ltb. Ignore it (the write then fails with EPIPE, which we treat as "child did not want input").
// Only SIGPIPE: SIGCHLD must keep its default or waitpid() loses exit codes (HOST.md).
void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      ::signal(SIGPIPE, SIG_IGN);
    }
  });
}

Result<std::string> find_program(const std::string &program) {
  if (program.empty()) {
    return fail("cannot run a program with an empty name",
                "this is a bug in ltb; please report it");
  }
  if (program.find('/') != std::string::npos) {
    if (::access(program.c_str(), X_OK) != 0) {
      return fail(fmt::format("cannot run '{}': not an executable file", program),
                  "check the path and its permissions");
    }
    return program;
  }
  const auto found = bp::search_path(program);
  if (found.empty()) {
    const auto package = package_for(program);
    return fail(
        fmt::format("cannot run '{}': not found in PATH", program),
        package.empty()
            ? fmt::format("install '{}' or add its directory to PATH", program)
            : fmt::format("install it (apt-get install {}) or add its directory to PATH", package));
  }
  return found.string();
}

// Appends what arrives on a pipe to `sink` until EOF. Reads into its own buffer so that `sink`
// only ever holds bytes really read, also when reading stops early (asio's dynamic_buffer grows
// the string before a read completes).
class PipeReader {
public:
  PipeReader(bp::async_pipe &pipe, std::string &sink) : m_pipe(pipe), m_sink(sink) {}
  void start() {
    m_pipe.async_read_some(asio::buffer(m_buffer),
                           [this](const boost::system::error_code &error, std::size_t size) {
                             m_sink.append(m_buffer.data(), size);
                             if (!error) {
                               start();
                             }
                           });
  }

private:
  bp::async_pipe &m_pipe;
  std::string &m_sink;
  std::array<char, 16384> m_buffer{};
};

int exit_code_of(int native_status) {
  if (WIFEXITED(native_status)) {
    return WEXITSTATUS(native_status);
  }
  return -1;
}

} // namespace

Result<ExecResult> run(const std::vector<std::string> &argv, const ExecOptions &options) {
  if (argv.empty()) {
    return fail("cannot run a program: empty command line",
                "this is a bug in ltb; please report it");
  }
  LTB_TRY(exe, find_program(argv[0]));
  ignore_sigpipe();

  asio::io_context io;
  bp::async_pipe out_pipe(io);
  bp::async_pipe err_pipe(io);
  bp::async_pipe in_pipe(io);
  ExecResult result;

  std::error_code spawn_error;
  const std::vector<std::string> args(argv.begin() + 1, argv.end());
  bp::child child(bp::exe = exe, bp::args = args, bp::std_out > out_pipe, bp::std_err > err_pipe,
                  bp::std_in < in_pipe, CloseOtherFds{}, spawn_error);
  if (spawn_error) {
    return fail(fmt::format("cannot run '{}': {}", argv[0], spawn_error.message()),
                "check that the program is installed and executable");
  }

  // Both outputs are read concurrently: a child blocked on a full stderr pipe while we wait for
  // stdout EOF would deadlock.
  PipeReader out_reader(out_pipe, result.out);
  PipeReader err_reader(err_pipe, result.err);
  out_reader.start();
  err_reader.start();
  if (options.stdin_data.empty()) {
    in_pipe.close();
  } else {
    asio::async_write(in_pipe, asio::buffer(options.stdin_data),
                      [&in_pipe](const boost::system::error_code &, std::size_t) {
                        boost::system::error_code ignored;
                        in_pipe.close(ignored);
                      });
  }

  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + options.timeout;
  // A grandchild the program left running in the background (a daemon that kept its stdout) can
  // hold the pipes open long after the child exited: then stop reading shortly after the exit.
  constexpr auto k_linger = std::chrono::milliseconds(200);
  std::optional<Clock::time_point> exited_at;
  auto poll = std::chrono::microseconds(200);
  std::error_code wait_error;
  bool finished = false;
  while (Clock::now() < deadline) {
    if (!io.stopped()) {
      io.run_for(std::min<Clock::duration>(std::chrono::milliseconds(20), deadline - Clock::now()));
    }
    if (!exited_at && !child.running(wait_error)) {
      exited_at = Clock::now();
    }
    if (exited_at && (io.stopped() || Clock::now() - *exited_at > k_linger)) {
      finished = true;
      break;
    }
    if (io.stopped()) {
      // Outputs closed, child still running (or not yet reaped): wait for it, briefly at first.
      std::this_thread::sleep_for(poll);
      poll = std::min<std::chrono::microseconds>(poll * 2, std::chrono::milliseconds(10));
    }
  }

  if (!finished) {
    result.timed_out = true;
    std::error_code ignored;
    child.terminate(ignored); // SIGKILL; Boost reaps it only if it is dead already (WNOHANG)
    // So wait for it here: a killed child is dead at once, and no zombie is left behind.
    int status = 0;
    ::waitpid(child.id(), &status, 0);
    // Keep what the child wrote before it died, but do not wait for grandchildren that still
    // hold the pipes open.
    io.restart();
    io.run_for(std::chrono::milliseconds(200));
    result.exit_code = -1;
    return result;
  }

  // running() reaped the child; its status is cached.
  result.exit_code = exit_code_of(child.native_exit_code());
  return result;
}

std::vector<std::string> environment_with(const std::vector<std::string> &added) {
  std::vector<std::string> out;
  for (char **e = environ; e && *e; ++e) {
    const std::string entry(*e);
    const auto key = entry.substr(0, entry.find('='));
    const bool replaced = std::any_of(
        added.begin(), added.end(), [&](const auto &v) { return v.substr(0, v.find('=')) == key; });
    if (!replaced) {
      out.push_back(entry);
    }
  }
  out.insert(out.end(), added.begin(), added.end());
  return out;
}

void ChildStreams::close_all() {
  for (int fd : theirs) {
    ::close(fd);
  }
  for (int fd : {ours.in, ours.out == ours.in ? -1 : ours.out, ours.err}) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

Result<ChildStreams> make_streams(const std::string &program, const SpawnOptions &options) {
  ChildStreams streams;
  if (options.pty) {
    int master = -1;
    int slave = -1;
    struct winsize size {};
    size.ws_row = options.rows;
    size.ws_col = options.cols;
    if (::openpty(&master, &slave, nullptr, nullptr, &size) != 0) {
      return fail(fmt::format("cannot open a terminal for '{}': {}", program, std::strerror(errno)),
                  "check /dev/ptmx and the devpts mount");
    }
    ::fcntl(master, F_SETFD, FD_CLOEXEC);
    ::fcntl(slave, F_SETFD, FD_CLOEXEC);
    streams.ours.in = master;
    streams.ours.out = master;
    streams.theirs = {slave};
    return streams;
  }
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    const int saved = errno;
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
    return fail(fmt::format("cannot run '{}': {}", program, std::strerror(saved)),
                "too many open files? check ulimit -n");
  }
  streams.ours.in = in[1];
  streams.ours.out = out[0];
  streams.ours.err = err[0];
  streams.theirs = {in[0], out[1], err[1]};
  return streams;
}

Result<Child> spawn(const std::vector<std::string> &argv, const SpawnOptions &options) {
  if (argv.empty()) {
    return fail("cannot run a program: empty command line",
                "this is a bug in ltb; please report it");
  }
  LTB_TRY(exe, find_program(argv[0]));
  ignore_sigpipe();
  // Everything the child needs is made before fork(): after it, only async-signal-safe calls.
  std::vector<std::string> env_strings = environment_with(options.env);
  std::vector<char *> envp;
  for (auto &e : env_strings) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  std::vector<std::string> args(argv);
  std::vector<char *> argp;
  for (auto &a : args) {
    argp.push_back(a.data());
  }
  argp.push_back(nullptr);

  LTB_TRY(streams, make_streams(argv[0], options));
  const auto &theirs = streams.theirs;
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int saved = errno;
    streams.close_all();
    return fail(fmt::format("cannot run '{}': {}", argv[0], std::strerror(saved)),
                "the host is out of processes or memory");
  }
  if (pid == 0) {
    if (options.dies_with_parent &&
        (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent)) {
      ::_exit(127); // the parent is gone already
    }
    if (options.pty) {
      ::setsid();
      ::ioctl(theirs[0], TIOCSCTTY, 0);
      ::dup2(theirs[0], 0);
      ::dup2(theirs[0], 1);
      ::dup2(theirs[0], 2);
    } else {
      ::setpgid(0, 0);
      ::dup2(theirs[0], 0);
      if (!options.inherit_output) {
        ::dup2(theirs[1], 1);
        ::dup2(theirs[2], 2);
      }
    }
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int fd = 3; fd < 65536; ++fd) {
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      }
    }
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(exe.c_str(), argp.data(), envp.data());
    ::_exit(127);
  }
  for (int fd : theirs) {
    ::close(fd);
  }
  Child child = streams.ours;
  child.pid = pid;
  if (options.inherit_output) {
    ::close(child.out);
    ::close(child.err);
    child.out = -1;
    child.err = -1;
  }
  return child;
}

int wait_child(pid_t pid, bool block) {
  int status = 0;
  pid_t got = 0;
  do {
    got = ::waitpid(pid, &status, block ? 0 : WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == 0) {
    return -2;
  }
  if (got < 0) {
    return -1;
  }
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

void set_terminal_size(int fd, unsigned short rows, unsigned short cols) {
  struct winsize size {};
  size.ws_row = rows;
  size.ws_col = cols;
  ::ioctl(fd, TIOCSWINSZ, &size);
}

} // namespace ltb::util
