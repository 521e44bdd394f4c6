#include "cli/remote_capture.hpp"

#include "cli/remote.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace ltb::cli {
namespace {

struct CurlDeleter {
  void operator()(CURL *handle) const noexcept { curl_easy_cleanup(handle); }
};
struct UrlDeleter {
  void operator()(CURLU *url) const noexcept { curl_url_cleanup(url); }
};
struct SlistDeleter {
  void operator()(curl_slist *list) const noexcept { curl_slist_free_all(list); }
};

constexpr long k_connect_timeout_s = 15;
constexpr std::size_t k_error_body_limit = 65536;
constexpr const char *k_url_help =
    "give the daemon's base URL, the address `ltb serve --listen ADDR:PORT` serves "
    "(https://HOST:PORT with --tls-cert, else http://127.0.0.1:PORT)";
constexpr const char *k_token_help =
    "set LTB_TOKEN or give --token-file FILE with a token that `ltb user token create "
    "--expires 30d` made on the lab host (`ltb user token list` shows yours)";

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

/// A part of a parsed URL; nullopt when the URL has none.
std::optional<std::string> url_part(CURLU *url, CURLUPart part) {
  char *value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK || value == nullptr) {
    return std::nullopt;
  }
  std::string out = value;
  curl_free(value);
  return out;
}

bool loopback_host(std::string host) {
  host = lower(host);
  if (host == "localhost") {
    return true;
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

std::string escape(const std::string &value) {
  char *escaped = curl_easy_escape(nullptr, value.c_str(), static_cast<int>(value.size()));
  if (escaped == nullptr) {
    return "";
  }
  std::string out = escaped;
  curl_free(escaped);
  return out;
}

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return "";
  }
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

std::string join(const std::vector<std::string> &parts) {
  return fmt::format("{}", fmt::join(parts, "; "));
}

std::uint32_t read32(std::string_view bytes, std::size_t at, bool swapped) {
  std::uint32_t value = 0;
  std::memcpy(&value, bytes.data() + at, sizeof(value));
  return swapped ? __builtin_bswap32(value) : value;
}

} // namespace

Result<RemoteUrl> parse_remote_url(const std::string &url) {
  const auto usage = [&](const std::string &why) {
    return fail(Error{fmt::format("--remote {}: {}", url, why), k_url_help, ExitCode::usage});
  };
  const auto scheme_end = url.find("://");
  const auto scheme = lower(url.substr(0, scheme_end == std::string::npos ? 0 : scheme_end));
  if (scheme != "http" && scheme != "https") {
    return usage("not an http:// or https:// URL");
  }
  std::unique_ptr<CURLU, UrlDeleter> parsed{curl_url()};
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return usage("not a valid URL");
  }
  const auto host = url_part(parsed.get(), CURLUPART_HOST);
  if (!host || host->empty()) {
    return usage("no host");
  }
  if (url_part(parsed.get(), CURLUPART_USER)) {
    return usage("credentials do not go in the URL (the token comes from LTB_TOKEN or "
                 "--token-file)");
  }
  if (url_part(parsed.get(), CURLUPART_QUERY) || url_part(parsed.get(), CURLUPART_FRAGMENT)) {
    return usage("a base URL has no query or fragment (ltb adds /v1/capture?...)");
  }
  auto whole = url_part(parsed.get(), CURLUPART_URL);
  if (!whole) {
    return usage("not a valid URL");
  }
  RemoteUrl remote;
  remote.base = *whole;
  while (!remote.base.empty() && remote.base.back() == '/') {
    remote.base.pop_back();
  }
  remote.host = *host;
  remote.tls = scheme == "https";
  remote.loopback = loopback_host(*host);
  return remote;
}

std::string capture_url(const RemoteUrl &remote, const CaptureQuery &query) {
  std::string url = remote.base + "/v1/capture?target=" + escape(query.target);
  const auto add = [&](const char *name, const std::string &value) {
    if (!value.empty()) {
      url += fmt::format("&{}={}", name, escape(value));
    }
  };
  add("lab", query.lab);
  add("filter", query.filter);
  add("count", query.count > 0 ? std::to_string(query.count) : "");
  add("port", query.port);
  return url;
}

Error capture_refusal(long status, const std::string &body, const std::string &base) {
  if (status == 401) {
    return Error{fmt::format("the ltb daemon at {} did not accept the API token (HTTP 401): it is "
                             "unknown, expired or revoked",
                             base),
                 k_token_help, ExitCode::failed};
  }
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (!json.is_object() || !json.contains("error") || !json["error"].is_string()) {
    if (status == 404) {
      return Error{fmt::format("{} has no capture route (HTTP 404)", base), k_url_help,
                   ExitCode::failed};
    }
    return Error{fmt::format("{} answered HTTP {}, not a capture", base, status),
                 "is it the ltb daemon (`ltb serve --listen`)? " + std::string(k_url_help),
                 ExitCode::failed};
  }
  Error error{"", "", status == 400 ? ExitCode::usage : ExitCode::failed};
  // A command's refusal carries what it printed: its `ltb: error:` and `help:` lines.
  std::vector<std::string> messages;
  std::vector<std::string> helps;
  const auto text = json["error"].get<std::string>();
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    const auto line = trim(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    if (starts_with(line, "ltb: error: ")) {
      messages.push_back(line.substr(12));
    } else if (starts_with(line, "help: ")) {
      helps.push_back(line.substr(6));
    }
  }
  error.message = messages.empty() ? trim(text) : join(messages);
  if (error.message.empty()) {
    error.message = fmt::format("the ltb daemon at {} refused the capture (HTTP {})", base, status);
  }
  if (json.contains("help") && json["help"].is_string()) {
    error.help = json["help"].get<std::string>();
  } else {
    error.help = join(helps);
  }
  if (json.contains("exit") && json["exit"].is_number_integer()) {
    const int code = json["exit"].get<int>();
    if (code == 1 || code == 2 || code == 130) {
      error.code = static_cast<ExitCode>(code);
    }
  }
  return error;
}

Result<std::string> read_token(const std::string &token_file, const char *env_token) {
  std::string token;
  std::string from = "LTB_TOKEN";
  if (!token_file.empty()) {
    from = token_file;
    const int fd = ::open(token_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return fail(
          fmt::format("cannot read the token file {}: {}", token_file, std::strerror(errno)),
          "check the path and its permissions", ExitCode::usage);
    }
    struct stat info {};
    const bool stated = ::fstat(fd, &info) == 0;
    if (stated && (info.st_mode & 077) != 0) {
      ::close(fd);
      return fail(fmt::format("the token file {} may be read or changed by other users (mode "
                              "{:04o}); the token opens your labs to whoever holds it",
                              token_file, info.st_mode & 07777),
                  fmt::format("chmod 600 {}", token_file), ExitCode::usage);
    }
    char data[4096];
    ssize_t n = 0;
    do {
      n = ::read(fd, data, sizeof(data));
    } while (n < 0 && errno == EINTR);
    ::close(fd);
    if (n < 0 || !stated) {
      return fail(
          fmt::format("cannot read the token file {}: {}", token_file, std::strerror(errno)),
          "check the path and its permissions", ExitCode::usage);
    }
    const std::string_view text(data, static_cast<std::size_t>(n));
    token = trim(text.substr(0, text.find('\n')));
  } else if (env_token != nullptr) {
    token = trim(env_token);
  }
  if (token.empty()) {
    return fail(token_file.empty()
                    ? std::string("no API token: LTB_TOKEN is not set and no --token-file given")
                    : fmt::format("the token file {} has no token on its first line", token_file),
                k_token_help, ExitCode::usage);
  }
  // It goes into a header: nothing that could end the line or add another.
  const bool printable =
      std::all_of(token.begin(), token.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
  if (!printable) {
    return fail(fmt::format("the token in {} has characters no token has (spaces, control or "
                            "non-ASCII characters)",
                            from),
                "copy the first line that `ltb user token create` printed", ExitCode::usage);
  }
  return token;
}

void PcapCounter::feed(std::string_view bytes) {
  while (!bytes.empty() && !m_unknown) {
    if (m_left > 0) {
      const auto n = std::min<std::uint64_t>(m_left, bytes.size());
      m_left -= n;
      bytes.remove_prefix(n);
    }
    if (m_left == 0 && m_in_packet) {
      m_in_packet = false;
      ++m_packets;
    }
    if (bytes.empty()) {
      return;
    }
    const std::size_t want = m_file_header ? 16 : 24;
    const auto n = std::min(want - m_head.size(), bytes.size());
    m_head.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
    if (m_head.size() < want) {
      return;
    }
    if (!m_file_header) {
      // Microsecond or nanosecond timestamps, written in either byte order.
      const auto magic = read32(m_head, 0, false);
      m_swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
      m_unknown = !m_swapped && magic != 0xa1b2c3d4 && magic != 0xa1b23c4d;
      m_file_header = true;
    } else {
      m_left = read32(m_head, 8, m_swapped); // the captured length
      m_in_packet = true;
      if (m_left == 0) {
        m_in_packet = false;
        ++m_packets;
      }
    }
    m_head.clear();
  }
}

namespace {

/// One transfer's state, shared with libcurl's callbacks.
struct Transfer {
  CURL *handle = nullptr;
  std::string write; // "" or "-": standard output
  int fd = -1;
  bool decided = false;   // the answer's status and type are known
  bool streaming = false; // a 200 with pcap: its body goes out
  long status = 0;
  std::string content_type;
  std::string body; // a refusal's
  PcapCounter counter;
  std::optional<Error> failure;
  bool reader_closed = false;
  bool stopped = false;
};

bool to_stdout(const std::string &write) {
  return write.empty() || write == "-";
}

bool pcap_type(const std::string &type) {
  return starts_with(lower(type), "application/vnd.tcpdump.pcap");
}

bool open_output(Transfer &transfer) {
  if (to_stdout(transfer.write)) {
    transfer.fd = STDOUT_FILENO;
    return true;
  }
  transfer.fd = ::open(transfer.write.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (transfer.fd < 0) {
    transfer.failure =
        Error{fmt::format("cannot write {}: {}", transfer.write, std::strerror(errno)),
              "check the directory and its permissions", ExitCode::failed};
    return false;
  }
  return true;
}

void decide(Transfer &transfer) {
  if (transfer.decided) {
    return;
  }
  transfer.decided = true;
  curl_easy_getinfo(transfer.handle, CURLINFO_RESPONSE_CODE, &transfer.status);
  char *type = nullptr;
  curl_easy_getinfo(transfer.handle, CURLINFO_CONTENT_TYPE, &type);
  transfer.content_type = type != nullptr ? type : "";
  if (transfer.status == 200 && pcap_type(transfer.content_type)) {
    transfer.streaming = open_output(transfer);
  }
}

/// Each piece goes out as it comes (no buffering of ours), so that a reader sees packets live.
size_t on_data(char *data, size_t size, size_t count, void *user) {
  auto &transfer = *static_cast<Transfer *>(user);
  const size_t total = size * count;
  decide(transfer);
  if (transfer.failure) {
    return 0;
  }
  if (!transfer.streaming) {
    if (transfer.body.size() < k_error_body_limit) {
      transfer.body.append(data, std::min(total, k_error_body_limit - transfer.body.size()));
    }
    return total;
  }
  for (std::string_view left(data, total); !left.empty();) {
    const ssize_t n = ::write(transfer.fd, left.data(), left.size());
    if (n < 0 && errno == EINTR) {
      if (interrupt_token().cancelled()) {
        transfer.stopped = true;
        return 0;
      }
      continue;
    }
    if (n < 0) {
      if (errno == EPIPE) {
        transfer.reader_closed = true;
      } else {
        transfer.failure =
            Error{fmt::format("cannot write {}: {}",
                              to_stdout(transfer.write) ? "standard output" : transfer.write,
                              std::strerror(errno)),
                  "", ExitCode::failed};
      }
      return 0;
    }
    left.remove_prefix(static_cast<std::size_t>(n));
  }
  transfer.counter.feed(std::string_view(data, total));
  return total;
}

/// Called at least once a second, also while nothing arrives: Ctrl-C, and a reader that closed
/// its end of the pipe (Wireshark quit) although no packet was written since.
int on_progress(void *user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto &transfer = *static_cast<Transfer *>(user);
  if (interrupt_token().cancelled()) {
    transfer.stopped = true;
    return 1;
  }
  if (to_stdout(transfer.write)) {
    pollfd out{STDOUT_FILENO, 0, 0};
    if (::poll(&out, 1, 0) > 0 && (out.revents & (POLLERR | POLLHUP)) != 0) {
      transfer.reader_closed = true;
      return 1;
    }
  }
  return 0;
}

/// A transfer that failed before or during the answer, in words.
Error transfer_error(CURLcode code, const char *detail, const RemoteUrl &remote,
                     const RemoteCaptureOptions &options, const Transfer &transfer) {
  const std::string reason = detail[0] != '\0' ? detail : curl_easy_strerror(code);
  if (transfer.streaming) {
    return Error{fmt::format("the capture from {} broke off after {} packet{}: {}", remote.base,
                             transfer.counter.packets(), transfer.counter.packets() == 1 ? "" : "s",
                             reason),
                 "the daemon or the network went away; start the capture again", ExitCode::failed};
  }
  switch (code) {
  case CURLE_COULDNT_RESOLVE_HOST:
    return Error{fmt::format("cannot resolve {}: {}", remote.host, reason),
                 "check the host name in --remote", ExitCode::failed};
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
    return Error{fmt::format("cannot connect to {}: {}", remote.base, reason),
                 "is `ltb serve --listen` running there, on that port?", ExitCode::failed};
  case CURLE_PEER_FAILED_VERIFICATION:
    return Error{fmt::format("the certificate of {} is not trusted: {}", remote.base, reason),
                 options.cacert.empty()
                     ? std::string("a daemon with a self-signed certificate: give that "
                                   "certificate with --cacert FILE")
                     : fmt::format("is {} the certificate the daemon serves (ltb serve "
                                   "--tls-cert)?",
                                   options.cacert),
                 ExitCode::failed};
  case CURLE_SSL_CACERT_BADFILE:
    return Error{fmt::format("cannot use --cacert {}: {}", options.cacert, reason),
                 "give a PEM file with the daemon's certificate (or its CA's)", ExitCode::usage};
  case CURLE_SSL_CONNECT_ERROR:
    return Error{fmt::format("the TLS handshake with {} failed: {}", remote.base, reason),
                 "does the daemon serve HTTPS (ltb serve --tls-cert)? If not, use http://",
                 ExitCode::failed};
  case CURLE_GOT_NOTHING:
  case CURLE_RECV_ERROR:
    return Error{fmt::format("{} closed the connection without an answer: {}", remote.base, reason),
                 remote.tls ? std::string(k_url_help)
                            : "a daemon with --tls-cert speaks only HTTPS: use https://",
                 ExitCode::failed};
  default:
    return Error{fmt::format("cannot fetch the capture from {}: {}", remote.base, reason),
                 k_url_help, ExitCode::failed};
  }
}

} // namespace

int run_remote_capture(const Globals &globals, const RemoteCaptureOptions &options) {
  if (remote_mode()) {
    return report(globals,
                  Error{"--remote is for a client on another machine, not a command the daemon "
                        "runs",
                        "run `ltb capture --remote URL` on your own machine", ExitCode::usage});
  }
  auto remote = parse_remote_url(options.url);
  if (!remote) {
    return report(globals, remote.error());
  }
  auto token = read_token(options.token_file, std::getenv("LTB_TOKEN"));
  if (!token) {
    return report(globals, token.error());
  }
  if (!remote->tls && !remote->loopback) {
    // Shown even with --quiet: the token can be read on the way.
    fmt::print(stderr,
               "warning: plain http:// to {}: the API token crosses the network in clear text; "
               "use https:// (ltb serve --tls-cert FILE --tls-key FILE)\n",
               remote->host);
  }
  const auto url = capture_url(*remote, options.query);
  std::unique_ptr<CURL, CurlDeleter> handle{curl_easy_init()};
  if (!handle) {
    return report(globals, Error{"libcurl could not make a handle",
                                 "the system may be out of memory; try again", ExitCode::failed});
  }
  const std::string authorization = "Authorization: Bearer " + *token;
  std::unique_ptr<curl_slist, SlistDeleter> headers{
      curl_slist_append(nullptr, authorization.c_str())};
  headers.reset(curl_slist_append(headers.release(),
                                  "Accept: application/vnd.tcpdump.pcap, application/json"));
  Transfer transfer;
  transfer.handle = handle.get();
  transfer.write = options.write;
  char detail[CURL_ERROR_SIZE] = {};
  CURL *h = handle.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); // the token stays with the host it was for
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, k_connect_timeout_s);
  // A capture may be silent for long: no overall timeout, but keepalives find a dead peer.
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.cacert.empty()) {
    curl_easy_setopt(h, CURLOPT_CAINFO, options.cacert.c_str());
  }
  curl_easy_setopt(h, CURLOPT_USERAGENT, "ltb/" LTB_VERSION);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);
  const CURLcode code = curl_easy_perform(h);
  const bool own_file = transfer.fd >= 0 && transfer.fd != STDOUT_FILENO;
  if (own_file && ::close(transfer.fd) != 0 && !transfer.failure) {
    transfer.failure =
        Error{fmt::format("cannot write {}: {}", options.write, std::strerror(errno)), "",
              ExitCode::failed};
  }
  const auto received = [&] {
    const auto packets = transfer.counter.packets();
    print_notice(globals, fmt::format("{} packet{} received from {}", packets,
                                      packets == 1 ? "" : "s", remote->base));
  };
  if (transfer.failure) {
    return report(globals, *transfer.failure);
  }
  if (transfer.stopped || transfer.reader_closed) {
    received();
    return 0;
  }
  if (code != CURLE_OK) {
    return report(globals, transfer_error(code, detail, *remote, options, transfer));
  }
  decide(transfer); // an answer with no body calls no write callback
  if (transfer.failure) {
    return report(globals, *transfer.failure);
  }
  if (transfer.streaming) {
    received();
    return 0;
  }
  if (transfer.status >= 300 && transfer.status < 400) {
    char *location = nullptr;
    curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &location);
    return report(globals,
                  Error{fmt::format("{} redirects (HTTP {}) to {}", remote->base, transfer.status,
                                    location != nullptr ? location : "another address"),
                        "give that address with --remote: ltb does not follow redirects, so "
                        "that the token goes only where you sent it",
                        ExitCode::failed});
  }
  if (transfer.status == 200) {
    return report(globals, Error{fmt::format("{} answered with {}, not a pcap stream", remote->base,
                                             transfer.content_type.empty() ? "no content type"
                                                                           : transfer.content_type),
                                 k_url_help, ExitCode::failed});
  }
  return report(globals, capture_refusal(transfer.status, transfer.body, remote->base));
}

} // namespace ltb::cli
