#include "cli/remote.hpp"

#include "server/command.hpp"
#include "server/frame.hpp"
#include "service/templates.hpp"
#include "topology/containerlab.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <set>
#include <sstream>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

namespace ltb::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char *k_default_socket = "/run/ltb/ltb.sock";

/// The kinds of value that name a file on the machine where ltb runs.
bool file_type(const std::string &type_name) {
  return type_name == "FILE" || type_name == "PATH" || type_name == "DIR";
}

const CLI::App *deepest(const CLI::App &app) {
  const CLI::App *current = &app;
  for (;;) {
    auto subs = current->get_subcommands();
    if (subs.empty()) {
      return current;
    }
    current = subs.front();
  }
}

std::string top_command(const CLI::App &app) {
  auto subs = app.get_subcommands();
  return subs.empty() ? std::string() : subs.front()->get_name();
}

struct FileOption {
  const CLI::Option *option;
  std::string value;
  bool positional;
};

std::vector<FileOption> file_options(const CLI::App &app) {
  std::vector<FileOption> out;
  // The global options (--state, --socket) are the daemon's business, not files of the command.
  for (const CLI::App *sub = deepest(app); sub != nullptr && sub->get_parent() != nullptr;
       sub = sub->get_parent()) {
    for (const auto *option : sub->get_options()) {
      if (option->count() == 0 || !file_type(option->get_type_name())) {
        continue;
      }
      for (const auto &value : option->results()) {
        out.push_back({option, value, !option->nonpositional()});
      }
    }
  }
  return out;
}

/// The index in argv of a file option's value; argv may be split ("--write=X" -> "--write" "X").
std::optional<std::size_t> value_index(std::vector<std::string> &argv, const FileOption &file,
                                       const std::set<std::size_t> &taken) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--") {
      break;
    }
    if (taken.count(i)) {
      continue;
    }
    if (file.positional) {
      if (argv[i] == file.value && (i == 0 || argv[i - 1].empty() || argv[i - 1][0] != '-' ||
                                    argv[i - 1].find('=') != std::string::npos)) {
        return i;
      }
      continue;
    }
    for (const auto &name : file.option->get_lnames()) {
      if (argv[i] == "--" + name && i + 1 < argv.size() && argv[i + 1] == file.value) {
        return i + 1;
      }
      if (argv[i] == "--" + name + "=" + file.value) {
        argv[i] = "--" + name;
        argv.insert(argv.begin() + static_cast<long>(i) + 1, file.value);
        return i + 1;
      }
    }
    for (const auto &name : file.option->get_snames()) {
      if (argv[i] == "-" + name && i + 1 < argv.size() && argv[i + 1] == file.value) {
        return i + 1;
      }
      if (argv[i] == "-" + name + file.value) {
        argv[i] = "-" + name;
        argv.insert(argv.begin() + static_cast<long>(i) + 1, file.value);
        return i + 1;
      }
    }
  }
  return std::nullopt;
}

Result<std::string> read_whole(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(fmt::format("cannot read {}: {}", path, std::strerror(errno)),
                "check the path and its permissions");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// An input file as the client sends it: a topology with what it references, or the file alone.
Result<server::FileArg> input_file(const std::string &path, int index) {
  server::FileArg file;
  file.index = index;
  const auto ext = fs::path(path).extension().string();
  if (ext == ".yaml" || ext == ".yml" || ext == ".json") {
    auto bundle = service::bundle_topology(path);
    if (bundle && !bundle->invalid) {
      file.main = bundle->topology;
      for (auto &[name, data] : bundle->contents) {
        file.entries.push_back({name, std::move(data), static_cast<int>(bundle->modes[name])});
      }
      return file;
    }
    // An invalid topology goes alone: the daemon's ltb reports its diagnostics.
  }
  LTB_TRY(data, read_whole(path));
  file.main = fs::path(path).filename().string();
  if (file.main.empty() || file.main == "." || file.main == "..") {
    file.main = "file";
  }
  file.entries.push_back({file.main, std::move(data), 0644});
  return file;
}

/// The terminal's raw mode while a remote command runs on it; restored on every way out.
class RawTerminal {
public:
  void enter() {
    if (::tcgetattr(STDIN_FILENO, &m_saved) == 0) {
      termios raw = m_saved;
      ::cfmakeraw(&raw);
      ::tcsetattr(STDIN_FILENO, TCSADRAIN, &raw);
      m_active = true;
    }
  }
  ~RawTerminal() {
    if (m_active) {
      ::tcsetattr(STDIN_FILENO, TCSADRAIN, &m_saved);
    }
  }

private:
  termios m_saved{};
  bool m_active = false;
};

int g_signal_pipe[2] = {-1, -1};

void on_signal(int sig) {
  const char byte = static_cast<char>(sig);
  [[maybe_unused]] auto n = ::write(g_signal_pipe[1], &byte, 1);
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool write_fd(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

Result<int> connect_daemon(const std::string &socket) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0) {
    return fd;
  }
  const int saved = errno;
  ::close(fd);
  if (saved == EACCES || saved == EPERM) {
    const char *user = std::getenv("USER");
    return fail(fmt::format("cannot reach the ltb daemon at {}: permission denied (not in group "
                            "ltb)",
                            socket),
                fmt::format("ask an admin: usermod -aG ltb {} (then log in again)",
                            user && *user ? user : "USER"));
  }
  return fail(fmt::format("cannot reach the ltb daemon at {}: {}", socket, std::strerror(saved)),
              "ask an admin to start it (`ltb serve`, or `systemctl start ltb`)");
}

/// Reads the response head (and, when it is not an upgrade, the body) of the daemon's answer.
struct Answer {
  int status = 0;
  std::string body;
  std::string rest; // bytes after the head (frames, when upgraded)
};

Result<Answer> read_answer(int fd) {
  std::string data;
  char buffer[65536];
  std::size_t end = std::string::npos;
  while ((end = data.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0 || data.size() > 65536) {
      return fail("the ltb daemon closed the connection without an answer",
                  "see the daemon's log (journalctl -u ltb, or its stderr)");
    }
    data.append(buffer, static_cast<std::size_t>(n));
  }
  Answer answer;
  const auto head = data.substr(0, end);
  answer.rest = data.substr(end + 4);
  if (head.rfind("HTTP/1.1 ", 0) != 0 || head.size() < 12) {
    return fail("the ltb daemon's answer is not HTTP/1.1", "is something else on that socket?");
  }
  answer.status = std::atoi(head.c_str() + 9);
  if (answer.status == 101) {
    return answer;
  }
  std::size_t length = 0;
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (auto at = lower.find("content-length:"); at != std::string::npos) {
    length = static_cast<std::size_t>(std::strtoull(lower.c_str() + at + 15, nullptr, 10));
  }
  while (answer.rest.size() < length) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) {
      break;
    }
    answer.rest.append(buffer, static_cast<std::size_t>(n));
  }
  answer.body = answer.rest;
  return answer;
}

struct Output {
  fs::path path; // where the user named it
};

} // namespace

std::string daemon_socket(const std::string &option) {
  if (!option.empty()) {
    return option;
  }
  if (const char *env = std::getenv("LTB_SOCKET"); env && *env) {
    return env;
  }
  return k_default_socket;
}

bool network_client(const CLI::App &app) {
  const auto *remote = deepest(app)->get_option_no_throw("--remote");
  return remote != nullptr && remote->count() > 0;
}

bool goes_remote(const CLI::App &app) {
  if (::geteuid() == 0 || app.get_option("--state")->count() > 0 || network_client(app)) {
    return false;
  }
  static const std::set<std::string> k_local{"validate", "completion", "serve", "relay"};
  return !k_local.count(top_command(app));
}

bool remote_mode() {
  const char *remote = std::getenv("LTB_REMOTE");
  return remote && std::string(remote) == "1" && ::getuid() == 0;
}

namespace {

/// Whether PATH lies under DIR (both resolved), the request's directory.
bool inside_dir(const fs::path &dir, const fs::path &path) {
  std::error_code ec;
  const auto rel = fs::weakly_canonical(fs::absolute(path), ec)
                       .lexically_relative(fs::weakly_canonical(dir, ec));
  return !ec && !rel.empty() && *rel.begin() != "..";
}

} // namespace

Result<std::string> topology_argument(const std::string &argument) {
  if (argument.empty() && remote_mode()) {
    return tl::unexpected(Error{"no topology file given",
                                "through the ltb daemon, name the FILE: ltb finds a lab's "
                                ".clab.yml by itself only when it runs as root",
                                ExitCode::usage});
  }
  return topology::find_topology_file(argument);
}

std::string remote_origin(const std::string &path) {
  const char *origins = std::getenv("LTB_REMOTE_ORIGINS");
  if (!remote_mode() || path.empty()) {
    return "";
  }
  if (!origins) {
    // A client that names no origin (the web UI's upload): the name it gave, relative to the
    // request's directory, rather than the daemon's copy, which is gone after the request.
    std::error_code ec;
    const auto relative =
        fs::absolute(path, ec).lexically_normal().lexically_relative(fs::current_path(ec));
    const char *dir = std::getenv("LTB_REMOTE_DIR");
    if (!dir || !inside_dir(dir, path) || relative.empty() || *relative.begin() == "..") {
      return "";
    }
    return relative.string();
  }
  const auto map = nlohmann::json::parse(origins, nullptr, false);
  std::error_code ec;
  const auto key = fs::absolute(path, ec).lexically_normal().string();
  if (!map.is_object() || !map.contains(key) || !map[key].is_string()) {
    return "";
  }
  return map[key].get<std::string>();
}

bool remote_input(const std::string &path) {
  const char *dir = std::getenv("LTB_REMOTE_DIR");
  std::error_code ec;
  return remote_mode() && dir && *dir && !path.empty() && inside_dir(dir, path) &&
         fs::is_regular_file(path, ec);
}

Error daemon_refusal(int status, const std::string &body) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  Error error{fmt::format("the ltb daemon refused the command ({})", status), "",
              status == 400 || status == 413 ? ExitCode::usage : ExitCode::failed};
  if (json.is_object() && json.contains("error") && json["error"].is_string()) {
    error.message = json["error"].get<std::string>();
    if (json.contains("help") && json["help"].is_string()) {
      error.help = json["help"].get<std::string>();
    }
    // The exit code a direct run ends with, where the daemon says (usage errors are 2).
    if (json.contains("exit") && json["exit"].is_number_integer()) {
      const int code = json["exit"].get<int>();
      if (code == 1 || code == 2 || code == 130) {
        error.code = static_cast<ExitCode>(code);
      }
    }
  }
  return error;
}

Result<DaemonReply> daemon_get(const std::string &socket, const std::string &target) {
  LTB_TRY(fd, connect_daemon(socket));
  const auto request =
      fmt::format("GET {} HTTP/1.1\r\nHost: ltb\r\nConnection: close\r\n\r\n", target);
  if (!send_all(fd, request)) {
    ::shutdown(fd, SHUT_WR); // it may have answered already: read what it said
  }
  auto answer = read_answer(fd);
  ::close(fd);
  if (!answer) {
    return fail(answer.error());
  }
  return DaemonReply{answer->status, std::move(answer->body)};
}

int run_remote(const Globals &globals, const CLI::App &app, const std::vector<std::string> &words,
               const std::string &socket) {
  server::CommandRequest request;
  request.argv = words;
  std::set<std::size_t> taken;
  std::map<int, Output> outputs;
  for (const auto &file : file_options(app)) {
    auto index = value_index(request.argv, file, taken);
    if (!index) {
      continue;
    }
    taken.insert(*index);
    // Indices after an insertion moved: recompute the taken ones is not needed (inserts happen
    // only at the option being handled, after which later options are searched afresh).
    if (file.positional) {
      std::error_code ec;
      if (!fs::is_regular_file(file.value, ec)) {
        continue; // not a file here (a lab's name for `ltb graph`): sent as typed
      }
      auto input = input_file(file.value, static_cast<int>(*index));
      if (!input) {
        return report(globals, input.error());
      }
      std::error_code absolute_ec;
      input->origin = fs::absolute(file.value, absolute_ec).lexically_normal().string();
      request.files.push_back(std::move(*input));
    } else {
      server::FileArg out;
      out.index = static_cast<int>(*index);
      out.output = true;
      outputs[static_cast<int>(request.files.size())] = {fs::absolute(file.value)};
      request.files.push_back(std::move(out));
    }
  }
  const bool tty = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
  if (tty) {
    winsize size{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 0) {
      request.tty = server::Terminal{size.ws_row, size.ws_col};
    } else {
      request.tty = server::Terminal{};
    }
  }
  auto fd = connect_daemon(socket);
  if (!fd) {
    return report(globals, fd.error());
  }
  const auto body = server::to_json(request);
  const auto head = fmt::format("POST /v1/commands HTTP/1.1\r\nHost: ltb\r\nConnection: Upgrade\r\n"
                                "Upgrade: ltb-stream/1\r\nContent-Type: application/json\r\n"
                                "Content-Length: {}\r\n\r\n",
                                body.size());
  if (!send_all(*fd, head) || !send_all(*fd, body)) {
    // The daemon may have answered already (a body over its limit): read what it said.
    ::shutdown(*fd, SHUT_WR);
  }
  auto answer = read_answer(*fd);
  if (!answer) {
    ::close(*fd);
    return report(globals, answer.error());
  }
  if (answer->status != 101) {
    ::close(*fd);
    return report(globals, daemon_refusal(answer->status, answer->body));
  }

  RawTerminal raw;
  if (request.tty) {
    raw.enter();
  }
  if (::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) == 0) {
    struct sigaction action {};
    action.sa_handler = on_signal;
    ::sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    ::sigaction(SIGWINCH, &action, nullptr);
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
    ::sigaction(SIGHUP, &action, nullptr);
  }
  server::Decoder decoder;
  decoder.feed(answer->rest);
  std::map<std::pair<int, std::string>, int> open_files;
  bool stdin_open = true;
  int interrupts = 0;
  std::optional<int> code;
  auto finish_files = [&] {
    for (auto &[key, out_fd] : open_files) {
      ::close(out_fd);
    }
    open_files.clear();
  };
  auto handle = [&](const server::Frame &frame) -> Status {
    switch (frame.stream) {
    case server::Stream::stdout_data:
      write_fd(STDOUT_FILENO, frame.payload);
      break;
    case server::Stream::stderr_data:
      write_fd(STDERR_FILENO, frame.payload);
      break;
    case server::Stream::exit: {
      auto json = nlohmann::json::parse(frame.payload, nullptr, false);
      code = json.is_object() ? json.value("code", 1) : 1;
      break;
    }
    case server::Stream::file_out: {
      LTB_TRY(chunk, server::parse_file_out(frame.payload));
      fs::path target;
      if (chunk.file < 0) {
        LTB_CHECK(server::check_relative(chunk.path));
        target = fs::current_path() / chunk.path;
      } else if (outputs.count(chunk.file)) {
        target = outputs[chunk.file].path;
        if (!chunk.path.empty()) {
          LTB_CHECK(server::check_relative(chunk.path));
          target /= chunk.path;
        }
      } else {
        return fail("the daemon sent a file nobody asked for", "this is a bug in ltb");
      }
      const auto key = std::make_pair(chunk.file, chunk.path);
      if (!open_files.count(key)) {
        std::error_code ec;
        fs::create_directories(target.parent_path(), ec);
        const int out = ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0) {
          return fail(fmt::format("cannot write {}: {}", target.string(), std::strerror(errno)),
                      "check the path and its permissions");
        }
        open_files[key] = out;
      }
      write_fd(open_files[key], chunk.bytes);
      break;
    }
    default:
      break;
    }
    return {};
  };
  auto send_size = [&] {
    winsize size{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 0) {
      send_all(*fd,
               server::encode(server::Stream::resize,
                              nlohmann::json{{"rows", size.ws_row}, {"cols", size.ws_col}}.dump()));
    }
  };
  Status failed;
  while (!code) {
    while (!code) {
      auto frame = decoder.next();
      if (!frame) {
        failed = fail(frame.error());
        break;
      }
      if (!*frame) {
        break;
      }
      if (auto done = handle(**frame); !done) {
        failed = done;
        break;
      }
    }
    if (code || !failed) {
      break;
    }
    pollfd fds[3] = {{*fd, POLLIN, 0}, {g_signal_pipe[0], POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    ::poll(fds, stdin_open ? 3 : 2, -1);
    if (fds[1].revents & POLLIN) {
      char sig = 0;
      while (::read(g_signal_pipe[0], &sig, 1) == 1) {
        if (sig == SIGWINCH) {
          send_size();
        } else if (++interrupts == 1) {
          // The command's own cancellation: the daemon interrupts it and still sends what it
          // wrote and its exit code. A second signal leaves at once.
          ::shutdown(*fd, SHUT_WR);
          stdin_open = false;
        } else {
          finish_files();
          ::close(*fd);
          return static_cast<int>(ExitCode::interrupted);
        }
      }
    }
    if (stdin_open && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      char data[65536];
      const ssize_t n = ::read(STDIN_FILENO, data, sizeof(data));
      if (n > 0) {
        send_all(*fd, server::encode(server::Stream::stdin_data,
                                     std::string_view(data, static_cast<std::size_t>(n))));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        stdin_open = false;
        send_all(*fd, server::encode(server::Stream::stdin_eof, ""));
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char data[65536];
      const ssize_t n = ::recv(*fd, data, sizeof(data), 0);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        failed = fail("the ltb daemon closed the connection before the command ended",
                      "see the daemon's log (journalctl -u ltb, or its stderr)");
        break;
      }
      decoder.feed(std::string_view(data, static_cast<std::size_t>(n)));
    }
  }
  finish_files();
  ::close(*fd);
  if (!code) {
    return report(globals, failed
                               ? Error{"the ltb daemon closed the connection", "", ExitCode::failed}
                               : failed.error());
  }
  return *code;
}

Status check_remote_files(const CLI::App &app) {
  const char *dir_env = std::getenv("LTB_REMOTE_DIR");
  if (!dir_env || !*dir_env) {
    return fail("remote mode without its request directory", "this is a bug in ltb");
  }
  std::error_code ec;
  for (const auto &file : file_options(app)) {
    if (!inside_dir(dir_env, file.value)) {
      return fail(fmt::format("{}: through the ltb daemon, a command reads and writes only the "
                              "files its client sent",
                              file.value),
                  "name a file of your own: the ltb command sends it", ExitCode::usage);
    }
    const auto ext = fs::path(file.value).extension().string();
    if (file.positional && fs::is_regular_file(file.value, ec) &&
        (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
      auto bundle = service::bundle_topology(file.value);
      if (bundle && !bundle->invalid && !bundle->moved.empty()) {
        return fail(fmt::format("{}: references files outside its directory ({})", file.value,
                                bundle->moved.front()),
                    "through the ltb daemon, a topology references only the files its client "
                    "sent",
                    ExitCode::usage);
      }
    }
  }
  return {};
}

} // namespace ltb::cli
