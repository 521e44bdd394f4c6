#include "server/child.hpp"

#include "server/forkserver.hpp"
#include "service/users.hpp"

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fmt/format.h>
#include <mutex>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

namespace ltb::server {

namespace fs = std::filesystem;

Result<RunningChild> start_child(const ChildRequest &request, const service::Caller &caller) {
  std::vector<std::string> argv{request.ltb_binary, "--state", request.state_path};
  argv.insert(argv.end(), request.argv.begin(), request.argv.end());
  util::SpawnOptions spawn;
  spawn.env = {fmt::format("LTB_CALLER_UID={}", caller.uid),
               "LTB_CALLER=" + service::caller_json(caller).dump(), "LTB_REMOTE=1"};
  if (!request.dir.empty()) {
    spawn.env.push_back("LTB_REMOTE_DIR=" + request.dir);
  }
  if (!request.cwd.empty()) {
    spawn.env.push_back("PWD=" + request.cwd);
  }
  if (!request.origins.empty()) {
    spawn.env.push_back("LTB_REMOTE_ORIGINS=" + nlohmann::json(request.origins).dump());
  }
  if (request.tty) {
    spawn.pty = true;
    spawn.rows = request.tty->rows;
    spawn.cols = request.tty->cols;
    spawn.env.push_back("TERM=xterm-256color");
  }
  RunningChild running;
  Result<util::Child> child = fail("not started");
  if (auto *forks = ForkServer::instance()) {
    // A fork of the pristine `ltb` the fork server holds: no exec, no loading (see forkserver).
    child = forks->spawn(argv, spawn, request.cwd.empty() ? "/" : request.cwd);
    running.wait = [forks](pid_t pid, bool block) { return forks->wait(pid, block); };
  } else {
    // spawn() runs the child from the daemon's own cwd, so that is the request's while it forks
    // (one at a time).
    static std::mutex cwd_mutex;
    std::lock_guard lock(cwd_mutex);
    std::error_code ec;
    const auto previous = fs::current_path(ec);
    if (!request.cwd.empty()) {
      fs::current_path(request.cwd, ec);
    }
    child = util::spawn(argv, spawn);
    fs::current_path(previous, ec);
    running.wait = util::wait_child;
  }
  if (!child) {
    return fail(child.error());
  }
  running.child = *child;
  return running;
}

void stop_child(RunningChild &running, std::chrono::milliseconds grace) {
  ::kill(-running.child.pid, SIGINT);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (running.wait(running.child.pid, false) != -2) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(-running.child.pid, SIGKILL);
  running.wait(running.child.pid, true);
}

ChildOutput collect_child(RunningChild &running, std::size_t limit, const std::atomic<bool> &stop,
                          std::chrono::milliseconds grace) {
  ChildOutput output;
  auto &child = running.child;
  if (child.in >= 0 && child.in != child.out) {
    ::close(child.in); // no input: a command that reads it sees its end
  }
  child.in = -1;
  int fds_open[2] = {child.out, child.err};
  std::string *sinks[2] = {&output.out, &output.err};
  bool stopped = false;
  while (fds_open[0] >= 0 || fds_open[1] >= 0) {
    if (stop.load() || output.truncated) {
      stop_child(running, grace);
      stopped = true;
      break;
    }
    pollfd fds[2];
    nfds_t count = 0;
    int which[2];
    for (int i = 0; i < 2; ++i) {
      if (fds_open[i] >= 0) {
        which[count] = i;
        fds[count++] = {fds_open[i], POLLIN, 0};
      }
    }
    if (::poll(fds, count, 200) <= 0) {
      continue;
    }
    for (nfds_t k = 0; k < count; ++k) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) {
        continue;
      }
      const int i = which[k];
      char data[65536];
      const ssize_t n = ::read(fds_open[i], data, sizeof(data));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        continue;
      }
      if (n <= 0) {
        ::close(fds_open[i]);
        fds_open[i] = -1;
        continue;
      }
      if (sinks[i]->size() + static_cast<std::size_t>(n) > limit) {
        output.truncated = true;
        continue;
      }
      sinks[i]->append(data, static_cast<std::size_t>(n));
    }
  }
  for (int &fd : fds_open) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
  child.out = child.err = -1;
  output.code = stopped ? 130 : running.wait(child.pid, true);
  // Closed only once it was reaped: the command writes its code there as it ends, and a closed
  // pipe would end it by SIGPIPE instead.
  if (child.status >= 0) {
    ::close(child.status);
    child.status = -1;
  }
  return output;
}

} // namespace ltb::server
