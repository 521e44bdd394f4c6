#include "server/forkserver.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <iostream>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ltb::server {

namespace {

using json = nlohmann::json;

constexpr std::size_t k_max_message = 1 << 20;
constexpr int k_max_fds = 3;

bool send_message(int socket, const std::string &payload, const std::vector<int> &fds = {}) {
  iovec iov{const_cast<char *>(payload.data()), payload.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * k_max_fds)] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n = 0;
  do {
    n = ::sendmsg(socket, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(payload.size());
}

/// One message and the descriptors it carries; false at the end of the connection.
bool receive_message(int socket, std::string &payload, std::vector<int> &fds) {
  payload.assign(k_max_message, '\0');
  iovec iov{payload.data(), payload.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * k_max_fds)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = 0;
  do {
    n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    return false;
  }
  payload.resize(static_cast<std::size_t>(n));
  fds.clear();
  for (cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
      const auto count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
        fds.push_back(fd);
      }
    }
  }
  return true;
}

int exit_code(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

/// What ps shows of the command: its name (`ltb exec`, what ps -e and top show; always) and its
/// command line (`ltb --state S exec r1 -- ip route`, not the daemon's `ltb serve` it was forked
/// from; root may point the kernel at a new one with PR_SET_MM, given CAP_SYS_RESOURCE, which
/// some containers drop: then the daemon's stays).
void show_command_line(const std::vector<std::string> &args) {
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--state" || args[i] == "--socket" || args[i] == "--wait") {
      ++i;
    } else if (!args[i].empty() && args[i].front() != '-') {
      ::prctl(PR_SET_NAME, ("ltb " + args[i]).substr(0, 15).c_str(), 0, 0, 0);
      break;
    }
  }
  std::string line;
  for (const auto &arg : args) {
    line += arg;
    line += '\0';
  }
  // Never freed: the kernel reads it for the process's life.
  auto *buffer = new char[line.size()];
  std::memcpy(buffer, line.data(), line.size());
  const auto start = reinterpret_cast<unsigned long>(buffer);
  const auto end = start + line.size();
  // The kernel checks start <= end at each step: the buffer is on the heap, below the stack
  // where the old one is, so the start goes first.
  if (::prctl(PR_SET_MM, PR_SET_MM_ARG_START, start, 0, 0) == 0) {
    ::prctl(PR_SET_MM, PR_SET_MM_ARG_END, end, 0, 0);
  }
}

/// In the forked command: becomes what an exec of `ltb ARGV` would have made, then runs it.
[[noreturn]] void run_command(const json &request, const std::vector<int> &fds,
                              ForkServer::Entry entry, pid_t server) {
  // As util::spawn does: what the daemon's own start ignored (SIGINT, in a shell's background
  // job) is the command's to handle.
  for (int signal : {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) {
    ::signal(signal, SIG_DFL);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // The daemon gone (its fork server ends with it) is as a Ctrl-C: a command cancels at its next
  // safe point, a stream (`ltb events`, which may wait for hours for an event to write) ends,
  // instead of living on with nobody to answer. A command on a terminal gets the terminal's
  // hangup as its daemon's end closes it.
  ::prctl(PR_SET_PDEATHSIG, SIGINT);
  if (::getppid() != server) {
    ::_exit(130); // gone already, before the line above
  }
  const bool pty = request.value("pty", false);
  if (pty) {
    ::setsid();
    ::ioctl(fds[0], TIOCSCTTY, 0);
    for (int target = 0; target < 3; ++target) {
      ::dup2(fds[0], target);
    }
  } else {
    ::setpgid(0, 0);
    for (int target = 0; target < 3; ++target) {
      ::dup2(fds[static_cast<std::size_t>(target)], target);
    }
  }
  // The exit code's pipe becomes fd 3, closed on exec (a program the command runs does not get it).
  ::dup2(fds.back(), 3);
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  ::close_range(4, ~0U, 0);
  const auto cwd = request.value("cwd", std::string());
  if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
    fmt::print(stderr, "ltb: error: cannot enter {}: {}\n", cwd, std::strerror(errno));
    std::_Exit(127);
  }
  ::clearenv();
  for (const auto &entry_value : request.at("env")) {
    ::putenv(::strdup(entry_value.get<std::string>().c_str()));
  }
  std::vector<std::string> args = request.at("argv").get<std::vector<std::string>>();
  show_command_line(args);
  std::vector<char *> argv;
  for (auto &arg : args) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  const pid_t self = ::getpid();
  const int code = entry(static_cast<int>(args.size()), argv.data());
  // Not from a copy of this process that the command forked and that returned here as well.
  if (::getpid() == self) {
    std::cout.flush(); // what it printed is in the pipes before its code is known
    std::cerr.flush();
    std::fflush(nullptr);
    (void)!::write(3, &code, sizeof(code));
    // Its streams end now, not after the teardown of a whole ltb (static destructors, library
    // cleanups: about 10 ms): the daemon answers as soon as it has the code and their ends.
    if (const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC); null >= 0) {
      for (int target = 0; target < 3; ++target) {
        ::dup2(null, target);
      }
      ::close(null);
    }
  }
  std::exit(code);
}

/// The server's loop: a request -> fork -> its pid; a child's end -> its exit code. It ends
/// with its connection (the daemon gone).
[[noreturn]] void serve_forks(int socket, ForkServer::Entry entry, ForkServer::Warm warm) {
  ::setsid(); // not the terminal's: a Ctrl-C of `ltb serve` reaches the daemon only
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (warm) {
    warm();
  }
  sigset_t children;
  ::sigemptyset(&children);
  ::sigaddset(&children, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &children, nullptr);
  const int signals = ::signalfd(-1, &children, SFD_CLOEXEC | SFD_NONBLOCK);
  std::string payload;
  std::vector<int> fds;
  for (;;) {
    pollfd watched[2] = {{socket, POLLIN, 0}, {signals, POLLIN, 0}};
    if (::poll(watched, 2, -1) < 0) {
      continue;
    }
    if (watched[1].revents & POLLIN) {
      signalfd_siginfo info{};
      while (::read(signals, &info, sizeof(info)) == sizeof(info)) {
      }
      int status = 0;
      pid_t pid = 0;
      while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
        send_message(socket, json{{"exit", pid}, {"code", exit_code(status)}}.dump());
      }
    }
    if (!(watched[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      continue;
    }
    if (!receive_message(socket, payload, fds)) {
      std::_Exit(0);
    }
    auto request = json::parse(payload, nullptr, false);
    const bool pty = request.is_object() && request.value("pty", false);
    // The streams (one terminal, or stdin, stdout, stderr), then the exit code's pipe.
    if (!request.is_object() || !request.contains("argv") || !request.contains("env") ||
        fds.size() != (pty ? 2U : 4U)) {
      send_message(socket, json{{"error", "a malformed spawn request"}}.dump());
    } else {
      const pid_t server = ::getpid();
      const pid_t pid = ::fork();
      if (pid == 0) {
        run_command(request, fds, entry, server);
      }
      // Its process group (its session with a terminal) exists before the daemon hears of it, so
      // that a signal to the group reaches it from the start.
      if (pid > 0 && !pty) {
        ::setpgid(pid, pid);
      }
      for (int i = 0; pid > 0 && i < 2000 && ::getpgid(pid) != pid; ++i) {
        ::usleep(100);
      }
      send_message(socket, pid > 0 ? json{{"pid", pid}}.dump()
                                   : json{{"error", std::strerror(errno)}}.dump());
    }
    for (int fd : fds) {
      ::close(fd);
    }
  }
}

std::unique_ptr<ForkServer> &the_instance() {
  static std::unique_ptr<ForkServer> instance;
  return instance;
}

} // namespace

Result<std::unique_ptr<ForkServer>> ForkServer::start(Entry entry, Warm warm) {
  // Nothing buffered goes along into the copies (each command would write it again at its exit).
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  int pair[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return fail(fmt::format("cannot start the fork server: {}", std::strerror(errno)));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int saved = errno;
    ::close(pair[0]);
    ::close(pair[1]);
    return fail(fmt::format("cannot start the fork server: {}", std::strerror(saved)));
  }
  if (pid == 0) {
    ::close(pair[0]);
    serve_forks(pair[1], entry, warm);
  }
  ::close(pair[1]);
  return std::unique_ptr<ForkServer>(new ForkServer(pair[0], pid));
}

void ForkServer::start_if_serving(int argc, char **argv, Entry entry, Warm warm) {
  if (::geteuid() != 0) {
    return;
  }
  // The command is the first word that is neither an option nor a global option's value.
  bool serving = false;
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "-h" || word == "--help" || word == "--version") {
      return;
    }
    if (word == "--state" || word == "--socket" || word == "--wait") {
      ++i;
      continue;
    }
    if (!word.empty() && word.front() == '-') {
      continue;
    }
    if (!serving) {
      if (word != "serve") {
        return;
      }
      serving = true;
      continue;
    }
    if (word == "install") {
      return;
    }
  }
  if (serving) {
    if (auto started = start(entry, warm)) {
      the_instance() = std::move(*started);
    } // else the daemon execs its commands, as without a fork server
  }
}

ForkServer *ForkServer::instance() {
  return the_instance().get();
}

ForkServer::ForkServer(int socket, pid_t pid)
    : m_socket(socket), m_pid(pid), m_reader([this] { read_loop(); }) {}

ForkServer::~ForkServer() {
  ::shutdown(m_socket, SHUT_RDWR);
  if (m_reader.joinable()) {
    m_reader.join();
  }
  ::close(m_socket);
  int status = 0;
  ::waitpid(m_pid, &status, 0);
}

void ForkServer::read_loop() {
  std::string payload;
  std::vector<int> fds;
  while (receive_message(m_socket, payload, fds)) {
    for (int fd : fds) {
      ::close(fd);
    }
    auto message = json::parse(payload, nullptr, false);
    if (!message.is_object()) {
      continue;
    }
    std::lock_guard lock(m_mutex);
    if (message.contains("exit")) {
      m_exits[message.value("exit", 0)] = message.value("code", -1);
    } else {
      m_answers.push_back(payload);
    }
    m_changed.notify_all();
  }
  std::lock_guard lock(m_mutex);
  m_gone = true;
  m_changed.notify_all();
}

Result<util::Child> ForkServer::spawn(const std::vector<std::string> &argv,
                                      const util::SpawnOptions &options, const std::string &cwd) {
  std::lock_guard spawning(m_spawn_mutex);
  const json env = util::environment_with(options.env);
  LTB_TRY(streams, util::make_streams(argv.at(0), options));
  int status[2] = {-1, -1};
  if (::pipe2(status, O_CLOEXEC) != 0) {
    const auto why = std::strerror(errno);
    streams.close_all();
    return fail(fmt::format("cannot run '{}': {}", argv.at(0), why), "see the daemon's log");
  }
  auto undo = [&](const std::string &why) {
    streams.close_all();
    ::close(status[0]);
    ::close(status[1]);
    return fail(fmt::format("cannot run '{}': {}", argv.at(0), why),
                "see the daemon's log; restarting it starts its fork server again");
  };
  const json request{{"argv", argv}, {"env", env}, {"cwd", cwd}, {"pty", options.pty}};
  auto fds = streams.theirs;
  fds.push_back(status[1]);
  if (!send_message(m_socket, request.dump(), fds)) {
    return undo(fmt::format("the fork server does not answer ({})", std::strerror(errno)));
  }
  std::unique_lock lock(m_mutex);
  m_changed.wait_for(lock, std::chrono::seconds(10), [&] { return !m_answers.empty() || m_gone; });
  if (m_answers.empty()) {
    lock.unlock();
    return undo("the fork server does not answer");
  }
  auto answer = json::parse(m_answers.front(), nullptr, false);
  m_answers.erase(m_answers.begin());
  lock.unlock();
  if (!answer.is_object() || !answer.contains("pid")) {
    return undo(answer.is_object() ? answer.value("error", "no answer") : "no answer");
  }
  for (int fd : fds) { // the command has its own copies now
    ::close(fd);
  }
  util::Child child = streams.ours;
  child.pid = answer.value("pid", -1);
  child.status = status[0];
  return child;
}

int ForkServer::wait(pid_t pid, bool block) {
  std::unique_lock lock(m_mutex);
  for (;;) {
    if (auto found = m_exits.find(pid); found != m_exits.end()) {
      const int code = found->second;
      m_exits.erase(found);
      return code;
    }
    if (m_gone) {
      return -1;
    }
    if (!block) {
      return -2;
    }
    m_changed.wait(lock);
  }
}

} // namespace ltb::server
