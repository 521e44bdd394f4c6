#include "runtime/docker/docker_exec.hpp"

#include "runtime/docker/docker_json.hpp"
#include "util/exec.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <curl/curl.h>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sstream>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <thread>
#include <unistd.h>

namespace ltb::runtime {
namespace docker {

std::string exec_start_request(std::string_view api_prefix, std::string_view exec_id, bool tty) {
  const auto body = nlohmann::json{{"Detach", false}, {"Tty", tty}}.dump();
  // Upgrade: tcp asks for 101 instead of a 200 whose "body" is the stream (see the Engine API's
  // ContainerAttach "Hijacking"); both are the same raw socket afterwards.
  return fmt::format("POST {}/exec/{}/start HTTP/1.1\r\n"
                     "Host: docker\r\n"
                     "User-Agent: ltb\r\n"
                     "Content-Type: application/json\r\n"
                     "Connection: Upgrade\r\n"
                     "Upgrade: tcp\r\n"
                     "Content-Length: {}\r\n"
                     "\r\n"
                     "{}",
                     api_prefix, path_encode(exec_id), body.size(), body);
}

std::optional<ResponseHead> parse_response_head(std::string_view buffer) {
  const auto end = buffer.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    // A server that is not HTTP at all would make us wait for ever: decide on the first line.
    if (buffer.size() >= 5 && buffer.substr(0, 5) != "HTTP/") {
      return ResponseHead{};
    }
    return std::nullopt;
  }
  ResponseHead head;
  head.length = end + 4;
  auto rest = buffer.substr(0, end);
  const auto line_end = rest.find("\r\n");
  const auto status_line = rest.substr(0, line_end);
  if (status_line.substr(0, 5) != "HTTP/") {
    return ResponseHead{};
  }
  const auto space = status_line.find(' ');
  if (space == std::string_view::npos || space + 4 > status_line.size()) {
    return ResponseHead{};
  }
  int status = 0;
  for (std::size_t i = space + 1; i < space + 4; ++i) {
    const char c = status_line[i];
    if (c < '0' || c > '9') {
      return ResponseHead{};
    }
    status = status * 10 + (c - '0');
  }
  head.status = status;
  rest = line_end == std::string_view::npos ? std::string_view{} : rest.substr(line_end + 2);
  while (!rest.empty()) {
    const auto next = rest.find("\r\n");
    const auto line = rest.substr(0, next);
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue;
    }
    std::string name(line.substr(0, colon));
    for (auto &c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (name != "content-length") {
      continue;
    }
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
    std::size_t length = 0;
    bool digits = !value.empty();
    for (char c : value) {
      if (c < '0' || c > '9') {
        digits = false;
        break;
      }
      length = length * 10 + static_cast<std::size_t>(c - '0');
    }
    if (digits) {
      head.content_length = length;
    }
  }
  return head;
}

void FrameDemux::feed(std::string_view data) {
  while (!data.empty()) {
    if (m_remaining == 0) {
      const auto take = std::min(sizeof m_header - m_header_size, data.size());
      std::memcpy(m_header + m_header_size, data.data(), take);
      m_header_size += take;
      data.remove_prefix(take);
      if (m_header_size < sizeof m_header) {
        return;
      }
      m_header_size = 0;
      m_stream = m_header[0];
      m_remaining = (std::uint32_t{m_header[4]} << 24) | (std::uint32_t{m_header[5]} << 16) |
                    (std::uint32_t{m_header[6]} << 8) | std::uint32_t{m_header[7]};
      continue;
    }
    const auto take = std::min<std::size_t>(m_remaining, data.size());
    // 0 is stdin echoed back, which only a TTY does (and then there are no frames): keep it
    // with stdout rather than drop it.
    const auto &sink = m_stream == 2 ? m_on_err : m_on_out;
    if (sink) {
      sink(data.substr(0, take));
    }
    data.remove_prefix(take);
    m_remaining -= static_cast<std::uint32_t>(take);
  }
}

std::string attached_exec_create_body(const AttachedExec &spec) {
  nlohmann::json body{{"AttachStdin", spec.stdin_fd >= 0},
                      {"AttachStdout", true},
                      {"AttachStderr", true},
                      {"Tty", spec.tty},
                      {"Cmd", spec.argv}};
  if (!spec.env.empty()) {
    body["Env"] = spec.env;
  }
  return body.dump();
}

} // namespace docker

namespace {

using namespace docker;
using nlohmann::json;

struct CurlDeleter {
  void operator()(CURL *handle) const noexcept { curl_easy_cleanup(handle); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;

struct SlistDeleter {
  void operator()(curl_slist *list) const noexcept { curl_slist_free_all(list); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

constexpr long k_connect_timeout_s = 5;
constexpr long k_request_timeout_s = 60;
constexpr int k_head_timeout_ms = 60'000;
const char *const k_start_help = "start dockerd (see README: make setup) or check permissions";
const char *const k_default_socket = "/var/run/docker.sock";

struct Reply {
  long status = 0;
  std::string body;
  std::string api_version;
};

size_t collect_body(char *data, size_t size, size_t count, void *user) {
  static_cast<std::string *>(user)->append(data, size * count);
  return size * count;
}

size_t collect_version(char *data, size_t size, size_t count, void *user) {
  std::string_view line(data, size * count);
  constexpr std::string_view k_name = "api-version:";
  if (line.size() > k_name.size()) {
    std::string lower(line.substr(0, k_name.size()));
    for (auto &c : lower) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (lower == k_name) {
      auto value = line.substr(k_name.size());
      while (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
      }
      while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) {
        value.remove_suffix(1);
      }
      *static_cast<std::string *>(user) = std::string(value);
    }
  }
  return size * count;
}

std::string os_reason(CURL *handle, CURLcode code) {
  long os_errno = 0;
  curl_easy_getinfo(handle, CURLINFO_OS_ERRNO, &os_errno);
  return os_errno != 0 ? std::strerror(static_cast<int>(os_errno)) : curl_easy_strerror(code);
}

/// One short request on its own connection (the exec's own socket is busy with the stream).
Result<Reply> request(const std::string &socket, const std::string &method, const std::string &path,
                      const std::optional<std::string> &body = std::nullopt) {
  CurlPtr handle{curl_easy_init()};
  if (!handle) {
    return fail("cannot talk to Docker: libcurl could not create a handle",
                "the system may be out of memory; try again");
  }
  Reply reply;
  const auto url = "http://localhost" + path;
  curl_easy_setopt(handle.get(), CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  curl_easy_setopt(handle.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle.get(), CURLOPT_CONNECTTIMEOUT, k_connect_timeout_s);
  curl_easy_setopt(handle.get(), CURLOPT_TIMEOUT, k_request_timeout_s);
  curl_easy_setopt(handle.get(), CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(handle.get(), CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(handle.get(), CURLOPT_HEADERFUNCTION, collect_version);
  curl_easy_setopt(handle.get(), CURLOPT_HEADERDATA, &reply.api_version);
  SlistPtr headers{curl_slist_append(nullptr, "Expect:")};
  if (method == "POST") {
    curl_easy_setopt(handle.get(), CURLOPT_POST, 1L);
    const std::string &data = body ? *body : std::string();
    if (body) {
      headers.reset(curl_slist_append(headers.release(), "Content-Type: application/json"));
    }
    curl_easy_setopt(handle.get(), CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(data.size()));
    curl_easy_setopt(handle.get(), CURLOPT_COPYPOSTFIELDS, data.c_str());
  }
  curl_easy_setopt(handle.get(), CURLOPT_HTTPHEADER, headers.get());
  const CURLcode code = curl_easy_perform(handle.get());
  if (code != CURLE_OK) {
    return fail(fmt::format("cannot reach Docker at {}: {}", socket, os_reason(handle.get(), code)),
                k_start_help);
  }
  curl_easy_getinfo(handle.get(), CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

Error api_error(const std::string &what, const Reply &reply, std::string help = {}) {
  if (help.empty()) {
    help = "see the Docker daemon's log for details";
  }
  return Error{fmt::format("{}: {} (HTTP {})", what, api_error_message(reply.body), reply.status),
               std::move(help)};
}

/// SIGWINCH, turned into a readable pipe for the poll loop, for the life of the object.
class WinchPipe {
public:
  WinchPipe() {
    if (pipe2(s_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      s_fds[0] = s_fds[1] = -1;
      return;
    }
    struct sigaction action {};
    action.sa_handler = [](int) {
      const int saved = errno;
      const char byte = 'w';
      [[maybe_unused]] auto written = write(s_fds[1], &byte, 1);
      errno = saved;
    };
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    m_installed = sigaction(SIGWINCH, &action, &m_previous) == 0;
  }
  ~WinchPipe() {
    if (m_installed) {
      sigaction(SIGWINCH, &m_previous, nullptr);
    }
    for (int &fd : s_fds) {
      if (fd >= 0) {
        close(fd);
        fd = -1;
      }
    }
  }
  WinchPipe(const WinchPipe &) = delete;
  WinchPipe &operator=(const WinchPipe &) = delete;

  int fd() const { return s_fds[0]; }
  /// Empties the pipe; true when a signal came.
  bool drain() const {
    char buffer[64];
    bool any = false;
    while (read(s_fds[0], buffer, sizeof buffer) > 0) {
      any = true;
    }
    return any;
  }

private:
  static inline int s_fds[2] = {-1, -1};
  struct sigaction m_previous {};
  bool m_installed = false;
};

/// PID and every process below it, as /proc shows them now (a shell's children too: a terminal's
/// Ctrl-C reaches its whole foreground group, and a SIGKILL of the shell alone would leave them).
std::vector<pid_t> process_tree(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator("/proc", ec)) {
    const auto name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) {
      continue;
    }
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so after the last ')'.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) {
      continue;
    }
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    pid_t parent = 0;
    if (rest >> state >> parent) {
      children.emplace(parent, static_cast<pid_t>(std::stol(name)));
    }
  }
  std::vector<pid_t> tree{root};
  for (std::size_t i = 0; i < tree.size(); ++i) {
    auto [first, last] = children.equal_range(tree[i]);
    for (auto it = first; it != last; ++it) {
      tree.push_back(it->second);
    }
  }
  return tree;
}

/// AttachedExec::interrupted carried out on the command: `first` (SIGINT, SIGHUP with a terminal)
/// to its processes, SIGKILL 3 s later; step() is false 3 s after that, when it is time to stop
/// waiting for its stream. Shared by Docker's exec and the terminal runc makes.
class Escalation {
public:
  explicit Escalation(const std::atomic<bool> *interrupted) : m_interrupted(interrupted) {}

  /// One look, from the poll loop; `pid()` is the command's host pid now (0: ended or unknown).
  template <class Pid> bool step(Pid &&pid, int first) {
    if (!m_interrupted || !m_interrupted->load()) {
      return true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (m_signalled_at && now - *m_signalled_at < std::chrono::seconds(3)) {
      return true;
    }
    if (m_killed) {
      return false;
    }
    if (const pid_t root = pid(); root > 0) {
      for (const pid_t process : process_tree(root)) {
        ::kill(process, m_signalled_at ? SIGKILL : first);
      }
    }
    m_killed = m_signalled_at.has_value();
    m_signalled_at = now;
    return true;
  }

private:
  const std::atomic<bool> *m_interrupted;
  std::optional<std::chrono::steady_clock::time_point> m_signalled_at; // the first signal sent
  bool m_killed = false;                                               // SIGKILL sent
};

class Session {
public:
  Session(const AttachedExec &spec, std::string socket)
      : m_spec(spec), m_socket(std::move(socket)) {}

  Result<int> run() {
    static std::once_flag curl_initialised;
    std::call_once(curl_initialised, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });

    LTB_TRY(ping, request(m_socket, "GET", "/_ping"));
    if (ping.status != 200) {
      return fail(
          fmt::format("cannot reach Docker at {}: /_ping answered HTTP {}", m_socket, ping.status),
          k_start_help);
    }
    m_prefix = "/v" + negotiate_api_version(ping.api_version);

    const auto what =
        fmt::format("cannot run '{}' in container '{}'",
                    m_spec.argv.empty() ? std::string() : m_spec.argv.front(), m_spec.container);
    LTB_TRY(created, request(m_socket, "POST",
                             m_prefix + "/containers/" + path_encode(m_spec.container) + "/exec",
                             attached_exec_create_body(m_spec)));
    if (created.status == 404) {
      return fail(
          api_error(what, created, "it was removed outside ltb; run 'ltb up' to recreate it"));
    }
    if (created.status == 409) {
      return fail(api_error(what, created, "start it with 'ltb up'"));
    }
    if (created.status != 201) {
      return fail(api_error(what, created));
    }
    auto created_body = json::parse(created.body, nullptr, false);
    if (created_body.is_discarded() || !created_body.contains("Id")) {
      return fail(fmt::format("{}: Docker sent no exec id", what),
                  "check that the socket belongs to a Docker Engine");
    }
    m_exec_id = created_body.value("Id", "");

    LTB_CHECK(hijack(what));
    LTB_CHECK(pump(what));
    return exit_code(what);
  }

private:
  /// Connects with libcurl, sends the start request and reads the response head.
  Status hijack(const std::string &what) {
    m_handle.reset(curl_easy_init());
    if (!m_handle) {
      return fail("cannot talk to Docker: libcurl could not create a handle",
                  "the system may be out of memory; try again");
    }
    CURL *handle = m_handle.get();
    curl_easy_setopt(handle, CURLOPT_UNIX_SOCKET_PATH, m_socket.c_str());
    curl_easy_setopt(handle, CURLOPT_URL, "http://localhost/");
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, k_connect_timeout_s);
    // Only the connection: the request is ours to write, since the answer is not HTTP after the
    // head and curl would not hand us the socket otherwise.
    curl_easy_setopt(handle, CURLOPT_CONNECT_ONLY, 1L);
    if (const CURLcode code = curl_easy_perform(handle); code != CURLE_OK) {
      return fail(fmt::format("cannot reach Docker at {}: {}", m_socket, os_reason(handle, code)),
                  k_start_help);
    }
    curl_socket_t socket = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(handle, CURLINFO_ACTIVESOCKET, &socket) != CURLE_OK ||
        socket == CURL_SOCKET_BAD) {
      return fail(fmt::format("{}: libcurl gave no socket for the Docker connection", what),
                  "this is a bug in ltb; please report it");
    }
    m_socket_fd = socket;

    m_outgoing = exec_start_request(m_prefix, m_exec_id, m_spec.tty);
    while (!m_outgoing.empty()) {
      LTB_CHECK(wait_for(POLLOUT, k_head_timeout_ms, what));
      LTB_CHECK(send_pending(what));
    }
    std::string buffer;
    std::optional<ResponseHead> head;
    while (!(head = parse_response_head(buffer))) {
      LTB_CHECK(wait_for(POLLIN, k_head_timeout_ms, what));
      LTB_TRY(got, receive(what));
      if (!got) {
        return fail(fmt::format("{}: Docker closed the connection before answering", what),
                    "see the Docker daemon's log for details");
      }
      buffer += *got;
    }
    if (head->status == 101 || head->status == 200) {
      // Whatever came with the head is already the stream.
      deliver(std::string_view(buffer).substr(head->length));
      return {};
    }
    // An error: a small JSON body follows.
    Reply reply{head->status, buffer.substr(std::min(head->length, buffer.size())), {}};
    const auto want = head->content_length.value_or(64 * 1024);
    while (reply.body.size() < want && wait_for(POLLIN, 5000, what)) {
      auto got = receive(what);
      if (!got || !*got || (*got)->empty()) {
        break;
      }
      reply.body += **got;
    }
    if (head->status == 0) {
      return fail(fmt::format("{}: Docker's answer to starting the command is not HTTP", what),
                  "check that the socket belongs to a Docker Engine");
    }
    return fail(api_error(what, reply, head->status == 409 ? "start it with 'ltb up'" : ""));
  }

  /// Moves data until Docker closes the stream (the command ended).
  Status pump(const std::string &what) {
    std::optional<WinchPipe> winch;
    if (m_spec.tty && m_spec.window_fd >= 0) {
      winch.emplace();
      resize();
    }
    bool stdin_open = m_spec.stdin_fd >= 0;
    std::string stdin_buffer(16 * 1024, '\0');
    for (;;) {
      pollfd fds[3] = {};
      nfds_t count = 0;
      fds[count++] = {m_socket_fd, static_cast<short>(POLLIN | (m_outgoing.empty() ? 0 : POLLOUT)),
                      0};
      // More stdin only once the last piece is out: a command that does not read its stdin must
      // not make us block in send() while its output waits for us.
      const int stdin_slot = stdin_open && m_outgoing.empty() ? static_cast<int>(count) : -1;
      if (stdin_slot >= 0) {
        fds[count++] = {m_spec.stdin_fd, POLLIN, 0};
      }
      const int winch_slot = winch && winch->fd() >= 0 ? static_cast<int>(count) : -1;
      if (winch_slot >= 0) {
        fds[count++] = {winch->fd(), POLLIN, 0};
      }
      // Interruptible: a signal may land in another thread (`exec --all`), so look now and then.
      const int ready = poll(fds, count, m_spec.interrupted ? 100 : -1);
      const int poll_errno = errno;
      if (!stop_if_interrupted()) {
        return fail(fmt::format("{}: interrupted, and its stream did not end after SIGKILL", what),
                    "see the Docker daemon's log", ExitCode::interrupted);
      }
      if (ready < 0) {
        if (poll_errno == EINTR) {
          continue;
        }
        return fail(fmt::format("{}: waiting for the command's streams failed: {}", what,
                                std::strerror(poll_errno)));
      }
      if (winch_slot >= 0 && (fds[winch_slot].revents & POLLIN) && winch->drain()) {
        resize();
      }
      if (fds[0].revents & POLLOUT) {
        LTB_CHECK(send_pending(what));
        if (m_outgoing.empty() && m_close_after_send) {
          half_close();
        }
      }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        LTB_TRY(got, receive(what));
        if (!got) {
          break; // EOF: the command ended
        }
        deliver(*got);
      }
      if (stdin_slot >= 0 && (fds[stdin_slot].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
        const auto n = read(m_spec.stdin_fd, stdin_buffer.data(), stdin_buffer.size());
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
          continue;
        }
        if (n <= 0) {
          // EOF (or an unreadable stdin): the command sees its stdin end, output goes on.
          stdin_open = false;
          half_close();
          continue;
        }
        m_outgoing.assign(stdin_buffer.data(), static_cast<std::size_t>(n));
        LTB_CHECK(send_pending(what));
      }
    }
    if (!m_spec.tty && m_demux.incomplete()) {
      return fail(fmt::format("{}: the output stream from Docker ended inside a frame", what),
                  "see the Docker daemon's log for details");
    }
    return {};
  }

  Result<int> exit_code(const std::string &what) {
    m_handle.reset(); // closes the stream's socket
    // The stream ends as the process exits; the exit code can lag a moment behind.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      LTB_TRY(inspected, request(m_socket, "GET", m_prefix + "/exec/" + m_exec_id + "/json"));
      if (inspected.status != 200) {
        return fail(api_error(what, inspected));
      }
      auto state = json::parse(inspected.body, nullptr, false);
      if (state.is_discarded()) {
        return fail(fmt::format("{}: Docker sent a reply that is not JSON", what),
                    "check that the socket belongs to a Docker Engine");
      }
      const bool running = state.value("Running", false);
      if (!running && state.contains("ExitCode") && state["ExitCode"].is_number_integer()) {
        return state["ExitCode"].get<int>();
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return fail(fmt::format("{}: its output ended but Docker reports no exit code", what),
                    "see the Docker daemon's log for details");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  /// The interruption passed on to the command itself (see AttachedExec::interrupted); false
  /// when it is time to stop waiting for its stream (3 s after SIGKILL).
  bool stop_if_interrupted() {
    // Its pid on the host (the exec's process, as Docker inspects it; 0 once it ended).
    const auto pid = [this]() -> pid_t {
      auto inspected = request(m_socket, "GET", m_prefix + "/exec/" + m_exec_id + "/json");
      if (!inspected || inspected->status != 200) {
        return 0;
      }
      const auto state = json::parse(inspected->body, nullptr, false);
      return state.is_object() && state.value("Running", false) ? state.value("Pid", 0) : 0;
    };
    return m_escalation.step(pid, m_spec.tty ? SIGHUP : SIGINT);
  }

  void deliver(std::string_view data) {
    if (data.empty()) {
      return;
    }
    if (m_spec.tty) {
      if (m_spec.on_out) {
        m_spec.on_out(data);
      }
    } else {
      m_demux.feed(data);
    }
  }

  /// Passes the terminal's size on. Docker refuses a resize until the process runs, which can
  /// lag behind the 101 a moment: try a few times.
  void resize() {
    winsize size{};
    if (ioctl(m_spec.window_fd, TIOCGWINSZ, &size) != 0 || size.ws_row == 0 || size.ws_col == 0) {
      return;
    }
    const auto path =
        fmt::format("{}/exec/{}/resize?h={}&w={}", m_prefix, m_exec_id, size.ws_row, size.ws_col);
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto reply = request(m_socket, "POST", path);
      if (reply && (reply->status == 200 || reply->status == 201)) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10 * (attempt + 1)));
    }
  }

  void half_close() {
    if (!m_outgoing.empty()) {
      m_close_after_send = true;
      return;
    }
    if (!m_half_closed) {
      shutdown(m_socket_fd, SHUT_WR);
      m_half_closed = true;
    }
  }

  /// Waits until the socket is ready for `events`; fails after `timeout_ms`.
  Status wait_for(short events, int timeout_ms, const std::string &what) {
    for (;;) {
      pollfd fd{m_socket_fd, events, 0};
      const int ready = poll(&fd, 1, timeout_ms);
      if (ready > 0) {
        return {};
      }
      if (ready == 0) {
        return fail(fmt::format("{}: Docker did not answer within {} s", what, timeout_ms / 1000),
                    "check that dockerd is not stuck (see its log) and try again");
      }
      if (errno != EINTR) {
        return fail(fmt::format("{}: waiting for Docker failed: {}", what, std::strerror(errno)));
      }
    }
  }

  /// Sends what it can of m_outgoing without blocking.
  Status send_pending(const std::string &what) {
    while (!m_outgoing.empty()) {
      size_t sent = 0;
      const CURLcode code =
          curl_easy_send(m_handle.get(), m_outgoing.data(), m_outgoing.size(), &sent);
      if (code == CURLE_AGAIN) {
        return {};
      }
      if (code != CURLE_OK) {
        return fail(
            fmt::format("{}: sending to Docker failed: {}", what, os_reason(m_handle.get(), code)),
            "see the Docker daemon's log for details");
      }
      m_outgoing.erase(0, sent);
    }
    return {};
  }

  /// Data that arrived; an empty string when none was ready; nullopt at EOF.
  Result<std::optional<std::string>> receive(const std::string &what) {
    std::string buffer(32 * 1024, '\0');
    size_t got = 0;
    const CURLcode code = curl_easy_recv(m_handle.get(), buffer.data(), buffer.size(), &got);
    if (code == CURLE_AGAIN) {
      return std::optional<std::string>(std::string());
    }
    if (code != CURLE_OK) {
      long os_errno = 0;
      curl_easy_getinfo(m_handle.get(), CURLINFO_OS_ERRNO, &os_errno);
      if (os_errno == ECONNRESET) {
        return std::optional<std::string>(); // the daemon dropped the stream once it was done
      }
      return fail(
          fmt::format("{}: reading from Docker failed: {}", what, os_reason(m_handle.get(), code)),
          "see the Docker daemon's log for details");
    }
    if (got == 0) {
      return std::optional<std::string>();
    }
    buffer.resize(got);
    return std::optional<std::string>(std::move(buffer));
  }

  const AttachedExec &m_spec;
  std::string m_socket;
  std::string m_prefix;
  std::string m_exec_id;
  Escalation m_escalation{m_spec.interrupted};
  CurlPtr m_handle;
  int m_socket_fd = -1;
  std::string m_outgoing;
  bool m_close_after_send = false;
  bool m_half_closed = false;
  FrameDemux m_demux{m_spec.on_out, m_spec.on_err};
};

/// A terminal in the container without Docker in its path: runc (the runtime that runs the
/// container, with the container's own process spec: capabilities, seccomp, AppArmor, cgroup,
/// user) starts the command on a new pseudo-terminal and hands its master over a unix socket;
/// the bytes then go between the master and the caller with no relay process. Through Docker's
/// exec each byte crosses dockerd and the container's shim: with 100 terminals typing on 2 cores
/// that relay saturated the host (echo p99 11 s here) where the master alone answers in 26 ms.
class DirectTerminal {
public:
  explicit DirectTerminal(const AttachedExec &spec) : m_spec(spec) {}
  DirectTerminal(const DirectTerminal &) = delete;
  DirectTerminal &operator=(const DirectTerminal &) = delete;
  ~DirectTerminal() {
    if (m_master >= 0) {
      ::close(m_master);
    }
    if (!m_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(m_dir, ec);
    }
  }

  /// Starts the command; false (and nothing started) when this host cannot: not root, no runc,
  /// a container of another runtime or whose runc state is not where Docker keeps it.
  Result<bool> start(const std::string &socket, const std::string &what) {
    if (::geteuid() != 0) {
      return false;
    }
    LTB_TRY(inspected,
            request(socket, "GET", "/containers/" + path_encode(m_spec.container) + "/json"));
    if (inspected.status != 200) {
      return false; // Docker's exec says why, in its words
    }
    const auto container = json::parse(inspected.body, nullptr, false);
    if (!container.is_object() || !container.value("/State/Running"_json_pointer, false)) {
      return false;
    }
    const auto id = container.value("Id", std::string());
    const auto runtime = container.value("/HostConfig/Runtime"_json_pointer, std::string());
    const auto root = runc_root(id);
    if (id.empty() || (!runtime.empty() && runtime != "runc") || !root) {
      return false;
    }
    char dir[] = "/tmp/ltb-tty-XXXXXX"; // 0700: only root may connect and take the terminal
    if (::mkdtemp(dir) == nullptr) {
      return false;
    }
    m_dir = dir;
    const auto socket_path = m_dir + "/console.sock";
    const auto pid_file = m_dir + "/pid";
    const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path.c_str());
    if (listener < 0 ||
        ::bind(listener, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0 ||
        ::listen(listener, 1) != 0) {
      if (listener >= 0) {
        ::close(listener);
      }
      return false;
    }
    // The command is runc's child, and ours once runc (-d) has started it and gone: its exit
    // status is then ours to reap.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    std::vector<std::string> argv{
        "runc",     "--root",           *root,       "exec",       "--tty",
        "--detach", "--console-socket", socket_path, "--pid-file", pid_file};
    for (const auto &entry : m_spec.env) {
      argv.insert(argv.end(), {"--env", entry});
    }
    argv.push_back(id);
    argv.insert(argv.end(), m_spec.argv.begin(), m_spec.argv.end());
    auto ran = util::run(argv, {.timeout = std::chrono::seconds(30), .stdin_data = {}});
    if (!ran || ran->exit_code != 0) {
      ::close(listener);
      if (!ran) {
        return false; // no runc to run
      }
      auto reason = ran->err;
      while (!reason.empty() && std::isspace(static_cast<unsigned char>(reason.back()))) {
        reason.pop_back();
      }
      return fail(fmt::format("{}: {}", what, reason.empty() ? "runc exec failed" : reason),
                  "check the command (it runs in the container as `docker exec` would)");
    }
    m_master = receive_terminal(listener);
    ::close(listener);
    std::ifstream pid_in(pid_file);
    pid_in >> m_pid;
    if (m_master < 0 || m_pid <= 0) {
      if (m_pid > 0) {
        ::kill(m_pid, SIGKILL);
        ::waitpid(m_pid, nullptr, 0);
      }
      return fail(fmt::format("{}: runc started it but handed over no terminal", what),
                  "see `runc --root ROOT list` and the container's state");
    }
    ::fcntl(m_master, F_SETFL, ::fcntl(m_master, F_GETFL) | O_NONBLOCK);
    return true;
  }

  /// Moves bytes until the terminal closes (the command and whatever held it ended); its status.
  Result<int> run() {
    std::optional<WinchPipe> winch;
    if (m_spec.window_fd >= 0) {
      winch.emplace();
      resize();
    }
    bool stdin_open = m_spec.stdin_fd >= 0;
    std::string buffer(32 * 1024, '\0');
    std::string outgoing; // stdin not yet taken by the terminal
    for (;;) {
      pollfd fds[3] = {};
      nfds_t count = 0;
      fds[count++] = {m_master, static_cast<short>(POLLIN | (outgoing.empty() ? 0 : POLLOUT)), 0};
      const int stdin_slot = stdin_open && outgoing.empty() ? static_cast<int>(count) : -1;
      if (stdin_slot >= 0) {
        fds[count++] = {m_spec.stdin_fd, POLLIN, 0};
      }
      const int winch_slot = winch && winch->fd() >= 0 ? static_cast<int>(count) : -1;
      if (winch_slot >= 0) {
        fds[count++] = {winch->fd(), POLLIN, 0};
      }
      const int ready = ::poll(fds, count, m_spec.interrupted ? 100 : -1);
      const int poll_errno = errno;
      if (!stop_if_interrupted()) {
        break; // SIGKILL'd 3 s ago and something still holds the terminal
      }
      if (ready < 0) {
        if (poll_errno == EINTR) {
          continue;
        }
        return fail(fmt::format("waiting for the terminal of '{}' failed: {}", m_spec.container,
                                std::strerror(poll_errno)));
      }
      if (winch_slot >= 0 && (fds[winch_slot].revents & POLLIN) && winch->drain()) {
        resize();
      }
      if (fds[0].revents & POLLOUT) {
        const auto n = ::write(m_master, outgoing.data(), outgoing.size());
        if (n > 0) {
          outgoing.erase(0, static_cast<std::size_t>(n));
        }
      }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        const auto n = ::read(m_master, buffer.data(), buffer.size());
        if (n > 0) {
          if (m_spec.on_out) {
            m_spec.on_out(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
          }
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          break; // EIO: every end of the terminal in the container is closed
        }
      }
      if (stdin_slot >= 0 && (fds[stdin_slot].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
        const auto n = ::read(m_spec.stdin_fd, buffer.data(), buffer.size());
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
          continue;
        }
        if (n <= 0) {
          stdin_open = false;
          outgoing = "\x04"; // the terminal's end of input (VEOF), as a typed Ctrl-D
          continue;
        }
        outgoing.assign(buffer.data(), static_cast<std::size_t>(n));
        const auto written = ::write(m_master, outgoing.data(), outgoing.size());
        if (written > 0) {
          outgoing.erase(0, static_cast<std::size_t>(written));
        }
      }
    }
    const int status = util::wait_child(m_pid);
    if (status < 0) {
      return fail(fmt::format("the exit status of the terminal's command in '{}' is unknown",
                              m_spec.container),
                  "it was not this process's to reap (see PR_SET_CHILD_SUBREAPER)");
    }
    return status;
  }

private:
  /// Where runc keeps the container's state (state.json): Docker's own runc root, or the one of
  /// a containerd that Docker uses.
  static std::optional<std::string> runc_root(const std::string &id) {
    for (const char *root : {"/run/docker/runtime-runc/moby", "/run/containerd/runc/moby"}) {
      std::error_code ec;
      if (!id.empty() && std::filesystem::exists(fmt::format("{}/{}/state.json", root, id), ec)) {
        return std::string(root);
      }
    }
    return std::nullopt;
  }

  /// The master runc sends (SCM_RIGHTS) on the console socket; -1 when none came within 10 s.
  static int receive_terminal(int listener) {
    pollfd ready{listener, POLLIN, 0};
    if (::poll(&ready, 1, 10'000) != 1) {
      return -1;
    }
    const int connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) {
      return -1;
    }
    char name[256];
    iovec data{name, sizeof name};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    int master = -1;
    if (::recvmsg(connection, &message, MSG_CMSG_CLOEXEC) > 0) {
      for (cmsghdr *header = CMSG_FIRSTHDR(&message); header;
           header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS) {
          std::memcpy(&master, CMSG_DATA(header), sizeof master);
        }
      }
    }
    ::close(connection);
    return master;
  }

  void resize() {
    winsize size{};
    if (::ioctl(m_spec.window_fd, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 && size.ws_col > 0) {
      ::ioctl(m_master, TIOCSWINSZ, &size);
    }
  }

  /// As Session's: SIGHUP to the command's processes, SIGKILL 3 s later; false 3 s after that.
  bool stop_if_interrupted() {
    return m_escalation.step([this] { return m_pid; }, SIGHUP);
  }

  const AttachedExec &m_spec;
  std::string m_dir;
  int m_master = -1;
  pid_t m_pid = -1;
  Escalation m_escalation{m_spec.interrupted};
};

} // namespace

Result<int> exec_attached(const AttachedExec &spec, const std::string &socket_path) {
  if (spec.argv.empty()) {
    return fail(fmt::format("no command to run in container '{}'", spec.container),
                "give the command after --", ExitCode::usage);
  }
  if (spec.tty && socket_path == k_default_socket && !std::getenv("LTB_DOCKER_EXEC")) {
    DirectTerminal direct(spec);
    LTB_TRY(started, direct.start(socket_path, fmt::format("cannot run '{}' in container '{}'",
                                                           spec.argv.front(), spec.container)));
    if (started) {
      return direct.run();
    }
  }
  Session session(spec, socket_path);
  return session.run();
}

} // namespace ltb::runtime
