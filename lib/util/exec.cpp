#include "util/exec.hpp"

// <utility> must come before boost/asio.hpp: GCC 12 with -std=c++20 fails otherwise (HOST.md).
#include <utility>

#include <array>
#include <cerrno>
#include <csignal>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <fmt/format.h>

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
    return fail("cannot run a program with an empty name", "this is a bug in ltb; please report it");
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
    return fail(fmt::format("cannot run '{}': not found in PATH", program),
                package.empty()
                    ? fmt::format("install '{}' or add its directory to PATH", program)
                    : fmt::format("install it (apt-get install {}) or add its directory to PATH",
                                  package));
  }
  return found.string();
}

int exit_code_of(int native_status) {
  if (WIFEXITED(native_status)) {
    return WEXITSTATUS(native_status);
  }
  return -1;
}

} // namespace

Result<ExecResult> run(const std::vector<std::string> &argv, const ExecOptions &options) {
  if (argv.empty()) {
    return fail("cannot run a program: empty command line", "this is a bug in ltb; please report it");
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
  asio::async_read(out_pipe, asio::dynamic_buffer(result.out),
                   [](const boost::system::error_code &, std::size_t) {});
  asio::async_read(err_pipe, asio::dynamic_buffer(result.err),
                   [](const boost::system::error_code &, std::size_t) {});
  if (options.stdin_data.empty()) {
    in_pipe.close();
  } else {
    asio::async_write(in_pipe, asio::buffer(options.stdin_data),
                      [&in_pipe](const boost::system::error_code &, std::size_t) {
                        boost::system::error_code ignored;
                        in_pipe.close(ignored);
                      });
  }

  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  io.run_until(deadline);
  bool finished = io.stopped();

  // The pipes are closed; the child may still be running (it closed them itself, or handed them
  // on). Wait for it within what is left of the timeout.
  std::error_code wait_error;
  while (finished && child.running(wait_error)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      finished = false;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  if (!finished) {
    result.timed_out = true;
    std::error_code ignored;
    child.terminate(ignored); // SIGKILL, then reaps it
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

} // namespace ltb::util
