#include "net/port_proxy.hpp"

#include "util/exec.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <optional>
#include <poll.h>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char **environ;

namespace ltb::net {

namespace fs = std::filesystem;

std::string PublishedPort::line() const {
  return fmt::format("{} {} {} {} {} {}\n", node, protocol, host_ip, host_port, node_ip, port);
}

Result<std::vector<PublishedPort>> parse_published_ports(const std::string &text) {
  std::vector<PublishedPort> ports;
  std::istringstream lines(text);
  int number = 0;
  for (std::string line; std::getline(lines, line);) {
    ++number;
    if (line.empty()) {
      continue;
    }
    std::istringstream fields(line);
    PublishedPort port;
    std::string rest;
    if (!(fields >> port.node >> port.protocol >> port.host_ip >> port.host_port >> port.node_ip >>
          port.port) ||
        (fields >> rest) || (port.protocol != "tcp" && port.protocol != "udp") ||
        port.host_port < 1 || port.host_port > 65535 || port.port < 1 || port.port > 65535) {
      return fail(fmt::format("published port line {} is not valid: '{}'", number, line));
    }
    ports.push_back(std::move(port));
  }
  return ports;
}

namespace {

constexpr const char *k_dir = "ports";

/// Docker's proxy: where Debian's docker.io puts it, else on PATH.
std::string proxy_program() {
  for (const char *path :
       {"/usr/sbin/docker-proxy", "/usr/bin/docker-proxy", "/usr/libexec/docker/docker-proxy"}) {
    if (::access(path, X_OK) == 0) {
      return path;
    }
  }
  return "docker-proxy";
}

std::string read_file(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

fs::path pid_path(const std::string &lab_dir, const PublishedPort &port) {
  return fs::path(lab_dir) / k_dir /
         fmt::format("{}-{}-{}.pid", port.protocol, port.host_ip, port.host_port);
}

/// One pid file: the pid, then the line the proxy serves.
struct Entry {
  fs::path path;
  int pid = 0;
  std::optional<PublishedPort> port;
  bool alive = false;
};

/// Whether PID is a docker-proxy with exactly PORT's command line (a recycled pid is not).
bool is_proxy(int pid, const PublishedPort &port) {
  if (pid <= 1) {
    return false;
  }
  auto cmdline = read_file(fmt::format("/proc/{}/cmdline", pid));
  std::string expected;
  for (const auto &arg : docker_proxy_argv(port)) {
    expected += arg;
    expected.push_back('\0');
  }
  // argv[0] may be the path or the name: compare from the first flag on.
  auto flags = expected.find("-proto");
  auto at = cmdline.find("-proto");
  return at != std::string::npos && cmdline.find("docker-proxy") < at &&
         cmdline.substr(at) == expected.substr(flags);
}

std::vector<Entry> entries(const std::string &lab_dir) {
  std::vector<Entry> out;
  std::error_code ec;
  for (const auto &file : fs::directory_iterator(fs::path(lab_dir) / k_dir, ec)) {
    if (file.path().extension() != ".pid") {
      continue;
    }
    Entry entry;
    entry.path = file.path();
    auto text = read_file(file.path());
    auto newline = text.find('\n');
    try {
      entry.pid = std::stoi(text.substr(0, newline));
    } catch (...) {
      entry.pid = 0;
    }
    if (newline != std::string::npos) {
      if (auto parsed = parse_published_ports(text.substr(newline + 1));
          parsed && parsed->size() == 1) {
        entry.port = parsed->front();
        entry.alive = is_proxy(entry.pid, *entry.port);
      }
    }
    out.push_back(std::move(entry));
  }
  return out;
}

/// Ends a proxy by its pid (SIGTERM, SIGKILL after 2 s), reaping it when it is our child.
void end_proxy(const Entry &entry) {
  if (!entry.alive) {
    return;
  }
  ::kill(entry.pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    util::wait_child(entry.pid, false); // ours when this process started it
    if (!is_proxy(entry.pid, *entry.port)) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(entry.pid, SIGKILL);
  util::wait_child(entry.pid, false);
}

/// Starts one proxy and waits for its word on fd 3 ("0\n" once it listens, "1\nREASON" when it
/// cannot), as dockerd does.
Status start_proxy(const std::string &lab_dir, const PublishedPort &port) {
  const auto what = fmt::format("node '{}': cannot publish host port {}/{} on {}", port.node,
                                port.host_port, port.protocol, port.host_ip);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return fail(fmt::format("{}: {}", what, std::strerror(errno)));
  }
  const auto program = proxy_program();
  auto argv = docker_proxy_argv(port);
  argv[0] = program;
  std::vector<char *> args;
  for (auto &arg : argv) {
    args.push_back(arg.data());
  }
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attributes);
  // A session of its own (not ended with ltb's terminal or process group), no signal mask or
  // dispositions of ltb's; its streams to /dev/null; the write end of the pipe as fd 3, and no
  // other descriptor.
  sigset_t none;
  sigset_t all;
  ::sigemptyset(&none);
  ::sigfillset(&all);
  ::posix_spawnattr_setsigmask(&attributes, &none);
  ::posix_spawnattr_setsigdefault(&attributes, &all);
  ::posix_spawnattr_setflags(&attributes,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, fds[1], 3);
  // Nothing else of ltb's: a proxy outlives ltb, and an inherited descriptor would keep ltb's
  // Docker connection, a daemon request's pipe or a lock open for as long as it runs.
  ::posix_spawn_file_actions_addclosefrom_np(&actions, 4);
  pid_t pid = -1;
  const int spawned =
      ::posix_spawnp(&pid, program.c_str(), &actions, &attributes, args.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attributes);
  ::close(fds[1]);
  if (spawned != 0) {
    ::close(fds[0]);
    return fail(fmt::format("{}: cannot start {}: {}", what, program, std::strerror(spawned)),
                "install docker.io, which ships docker-proxy (scripts/setup.sh deps)");
  }
  std::string word;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd readable{fds[0], POLLIN, 0};
    if (left.count() <= 0 || ::poll(&readable, 1, static_cast<int>(left.count())) == 0) {
      break;
    }
    char buffer[512];
    const auto n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    word.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (word.rfind("0\n", 0) != 0) {
    ::kill(pid, SIGKILL);
    util::wait_child(pid);
    auto reason = word.rfind("1\n", 0) == 0 ? word.substr(2) : std::string();
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) {
      reason.pop_back();
    }
    return fail(
        fmt::format("{}: {}", what,
                    reason.empty() ? std::string("docker-proxy gave no word in 10 s") : reason),
        reason.find("address already in use") != std::string::npos
            ? "another program or lab listens there: choose another host port"
            : "");
  }
  std::ofstream out(pid_path(lab_dir, port), std::ios::trunc);
  out << pid << '\n' << port.line();
  if (!out.flush()) {
    end_proxy({pid_path(lab_dir, port), pid, port, true});
    return fail(fmt::format("{}: cannot write its pid file in {}", what, lab_dir),
                "check that the state directory is writable");
  }
  return {};
}

class RealPortProxies final : public PortProxies {
public:
  State state(const std::string &lab_dir) override {
    State state;
    std::vector<PublishedPort> running;
    for (const auto &entry : entries(lab_dir)) {
      state.present = true;
      if (entry.alive) {
        running.push_back(*entry.port);
      }
    }
    std::sort(running.begin(), running.end(),
              [](const auto &a, const auto &b) { return a.line() < b.line(); });
    for (const auto &port : running) {
      state.running += port.line();
    }
    return state;
  }

  Status apply(const std::string &lab_dir, const std::string &text) override {
    LTB_TRY(wanted, parse_published_ports(text));
    std::error_code ec;
    fs::create_directories(fs::path(lab_dir) / k_dir, ec);
    if (ec) {
      return fail(
          fmt::format("cannot make {}: {}", (fs::path(lab_dir) / k_dir).string(), ec.message()));
    }
    std::vector<PublishedPort> running;
    for (const auto &entry : entries(lab_dir)) {
      const bool keep =
          entry.alive && std::find(wanted.begin(), wanted.end(), *entry.port) != wanted.end();
      if (keep) {
        running.push_back(*entry.port);
        continue;
      }
      end_proxy(entry);
      fs::remove(entry.path, ec);
    }
    for (const auto &port : wanted) {
      if (std::find(running.begin(), running.end(), port) == running.end()) {
        LTB_CHECK(start_proxy(lab_dir, port));
      }
    }
    return {};
  }

  Status stop(const std::string &lab_dir) override {
    std::error_code ec;
    for (const auto &entry : entries(lab_dir)) {
      end_proxy(entry);
      fs::remove(entry.path, ec);
    }
    fs::remove(fs::path(lab_dir) / k_dir, ec); // only when empty
    return {};
  }
};

} // namespace

std::vector<std::string> docker_proxy_argv(const PublishedPort &port) {
  return {"docker-proxy",
          "-proto",
          port.protocol,
          "-host-ip",
          port.host_ip,
          "-host-port",
          std::to_string(port.host_port),
          "-container-ip",
          port.node_ip,
          "-container-port",
          std::to_string(port.port)};
}

PortProxies &host_port_proxies() {
  static RealPortProxies real;
  return real;
}

} // namespace ltb::net
