// The controlling side of the lab's relay: its configuration file, starting, asking and stopping
// the process. The process itself is relay_process.cpp.

#include "net/relay.hpp"

#include "net/redirect.hpp"
#include "net/relay_files.hpp"
#include "util/exec.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <mutex>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace ltb::net {

namespace fs = std::filesystem;

namespace {

void format_impairment(std::string &out, const Impairment &i) {
  out += fmt::format(" {} {} {} {} {} {} {}", i.delay_us, i.jitter_us, i.loss_pct, i.corrupt_pct,
                     i.duplicate_pct, i.reorder_pct, i.rate_bps);
}

bool parse_impairment(std::istringstream &in, Impairment &i) {
  return static_cast<bool>(in >> i.delay_us >> i.jitter_us >> i.loss_pct >> i.corrupt_pct >>
                           i.duplicate_pct >> i.reorder_pct >> i.rate_bps);
}

} // namespace

std::string format_relay_config(const RelayConfig &config) {
  std::string out = "# ltb relay: key a b, then a->b and b->a: delay_us jitter_us loss% corrupt% "
                    "duplicate% reorder% rate_bps\n";
  for (const auto &[key, entry] : config) {
    out += fmt::format("{} {} {}", key, entry.link.a, entry.link.b);
    format_impairment(out, entry.a_to_b);
    format_impairment(out, entry.b_to_a);
    out += '\n';
  }
  return out;
}

Result<RelayConfig> parse_relay_config(const std::string &text) {
  RelayConfig config;
  std::istringstream lines(text);
  int number = 0;
  for (std::string line; std::getline(lines, line);) {
    ++number;
    if (line.empty() || line[0] == '#') {
      continue;
    }
    std::istringstream in(line);
    RelayEntry entry;
    std::string rest;
    if (!(in >> entry.link.key >> entry.link.a >> entry.link.b) ||
        !parse_impairment(in, entry.a_to_b) || !parse_impairment(in, entry.b_to_a) ||
        (in >> rest)) {
      return fail(fmt::format("relay.conf:{}: not a relay link line: '{}'", number, line),
                  "the file is ltb's own: `ltb up` writes it again");
    }
    config[entry.link.key] = entry;
  }
  return config;
}

std::string relay_file(const std::string &dir, const char *name) {
  return (fs::path(dir) / name).string();
}

std::string read_text(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Status write_text(const std::string &path, const std::string &text) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) {
      return fail(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)),
                  "check that the state directory is writable");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    return fail(fmt::format("cannot write {}: {}", path, ec.message()));
  }
  return {};
}

std::string relay_dir_arg(const std::string &dir) {
  return "--lab-dir=" + dir;
}

int relay_live_pid(const std::string &dir) {
  int pid = 0;
  try {
    pid = std::stoi(read_text(relay_file(dir, k_relay_pid)));
  } catch (...) {
    return 0;
  }
  if (pid <= 1) {
    return 0;
  }
  // A recycled pid, or a zombie (empty command line), is not the lab's relay.
  auto cmdline = read_text(fmt::format("/proc/{}/cmdline", pid));
  if (cmdline.find(std::string("\0relay\0", 7)) == std::string::npos ||
      cmdline.find(relay_dir_arg(dir) + '\0') == std::string::npos) {
    return 0;
  }
  return pid;
}

namespace {

/// Whether a process runs: it exists and is not a zombie (init may be slow to reap it).
bool process_alive(int pid) {
  auto stat = read_text(fmt::format("/proc/{}/stat", pid));
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

/// One request on the control socket; the reply, read to its end.
Result<std::string> ask(const std::string &dir, const std::string &request) {
  auto path = relay_file(dir, k_relay_sock);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    return fail(fmt::format("the relay's socket path {} is too long", path),
                "use a shorter state directory (--state)");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return fail(fmt::format("cannot open a unix socket: {}", std::strerror(errno)));
  }
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  std::string reply;
  int saved = 0;
  if (::connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0 ||
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    saved = errno;
  } else {
    ::shutdown(fd, SHUT_WR);
    char buffer[4096];
    for (;;) {
      auto n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n < 0) {
        saved = errno;
        break;
      }
      if (n == 0) {
        break;
      }
      reply.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  if (saved != 0) {
    return fail(fmt::format("cannot reach the lab's relay at {}: {}", path, std::strerror(saved)),
                "`ltb up` starts it again");
  }
  return reply;
}

/// The reply to a (re)load: "ok" then one "error KEY message" line per link it cannot serve.
/// Fails when `key` is among them (the others are logged in relay.log).
Status judge(const std::string &reply, const std::string &key) {
  if (reply.rfind("ok", 0) != 0) {
    auto message = reply;
    while (!message.empty() && message.back() == '\n') {
      message.pop_back();
    }
    return fail(fmt::format("the lab's relay failed: {}", message.empty() ? "no reply" : message),
                "see relay.log in the lab directory");
  }
  std::istringstream lines(reply);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream in(line);
    std::string word;
    std::string which;
    if (in >> word >> which && word == "error" && !key.empty() && which == key) {
      std::string message;
      std::getline(in, message);
      return fail(fmt::format("the relay cannot serve link {}:{}", which, message),
                  "check that the link's host interfaces exist (`ltb up` makes them again)");
    }
  }
  return {};
}

Status start(const std::string &dir, const std::string &key) {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) {
    return fail(
        fmt::format("cannot find ltb's own executable to start the relay: {}", ec.message()));
  }
  // `ltb relay` daemonises once it serves its links, and says which it cannot.
  LTB_TRY(result,
          util::run({self.string(), "relay", relay_dir_arg(dir)}, {std::chrono::seconds(20), {}}));
  if (result.exit_code != 0) {
    auto message = result.err.empty() ? result.out : result.err;
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    return fail(
        fmt::format("cannot start the lab's impairment relay: {}",
                    message.empty() ? fmt::format("exit status {}", result.exit_code) : message),
        "see relay.log in the lab directory");
  }
  return judge(result.out, key);
}

/// Makes the running relay (or a new one) serve `config`, now in relay.conf.
Status apply_config(const std::string &dir, const RelayConfig &config, const std::string &key) {
  LTB_CHECK(write_text(relay_file(dir, k_relay_conf), format_relay_config(config)));
  if (relay_live_pid(dir) == 0) {
    return start(dir, key);
  }
  LTB_TRY(reply, ask(dir, "reload\n"));
  return judge(reply, key);
}

Result<RelayConfig> read_config(const std::string &dir) {
  auto path = relay_file(dir, k_relay_conf);
  if (!fs::exists(path)) {
    return RelayConfig{};
  }
  return parse_relay_config(read_text(path));
}

} // namespace

RelayState relay_state(const std::string &dir) {
  RelayState state;
  state.pid = relay_live_pid(dir);
  state.running = state.pid != 0;
  if (auto config = read_config(dir)) {
    state.config = *config;
  }
  return state;
}

Status relay_set(const std::string &dir, const RelayLink &link, Direction direction,
                 const Impairment &impairment) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  LTB_TRY(config, read_config(dir));
  bool relayed = config.count(link.key) != 0;
  RelayEntry entry = relayed ? config[link.key] : RelayEntry{link, {}, {}};
  entry.link = link;
  (direction == Direction::a_to_b ? entry.a_to_b : entry.b_to_a) = impairment;
  if (!entry.empty()) {
    // The redirect would forward every frame too (a packet socket sees frames before tc
    // ingress): it goes first, even when the link was relayed (a rewired link got it back).
    LTB_CHECK(unredirect(link.a));
    LTB_CHECK(unredirect(link.b));
    config[link.key] = entry;
    return apply_config(dir, config, link.key);
  }
  if (!relayed) {
    return {}; // unimpaired, and joined by its redirect already
  }
  config.erase(link.key);
  if (config.empty()) {
    LTB_CHECK(relay_stop(dir));
  } else {
    LTB_CHECK(apply_config(dir, config, ""));
  }
  return redirect_pair(link.a, link.b);
}

Status relay_forget(const std::string &dir, const std::string &key) {
  LTB_TRY(config, read_config(dir));
  if (config.erase(key) == 0) {
    return {};
  }
  if (config.empty()) {
    return relay_stop(dir);
  }
  return apply_config(dir, config, "");
}

Status relay_resume(const std::string &dir) {
  if (relay_live_pid(dir) != 0) {
    return {};
  }
  LTB_TRY(config, read_config(dir));
  if (config.empty()) {
    return {};
  }
  return start(dir, "");
}

Status relay_stop(const std::string &dir) {
  if (int pid = relay_live_pid(dir); pid != 0) {
    (void)ask(dir, "stop\n");
    // It is not our child (it daemonised): wait for it to go by polling its /proc entry.
    for (int i = 0; i < 100 && process_alive(pid); ++i) {
      if (i == 50) {
        ::kill(pid, SIGKILL);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  std::error_code ec;
  for (const char *name : {k_relay_conf, k_relay_pid, k_relay_sock, k_relay_log}) {
    fs::remove(relay_file(dir, name), ec);
  }
  return {};
}

namespace {

/// relay.conf is read, changed and written whole: the actions of one run that wire links at once
/// change it one at a time (other processes wait for the lab's lock).
class RealRelay final : public Relay {
public:
  RelayState state(const std::string &dir) override {
    std::lock_guard lock(m_mutex);
    return relay_state(dir);
  }
  Status set(const std::string &dir, const RelayLink &link, Direction direction,
             const Impairment &impairment) override {
    std::lock_guard lock(m_mutex);
    return relay_set(dir, link, direction, impairment);
  }
  Status forget(const std::string &dir, const std::string &key) override {
    std::lock_guard lock(m_mutex);
    return relay_forget(dir, key);
  }
  Status resume(const std::string &dir) override {
    std::lock_guard lock(m_mutex);
    return relay_resume(dir);
  }
  Status stop(const std::string &dir) override {
    std::lock_guard lock(m_mutex);
    return relay_stop(dir);
  }

private:
  std::mutex m_mutex;
};

} // namespace

Relay &host_relay() {
  static RealRelay real;
  return real;
}

} // namespace ltb::net
