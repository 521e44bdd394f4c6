#include "access/known_hosts.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sstream>
#include <sys/file.h>
#include <unistd.h>

namespace ltb::access {

namespace {

constexpr std::string_view k_node_tag = "ltb-node=";
constexpr std::string_view k_runtime_tag = "ltb-runtime-id=";

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) {
      ++pos;
    }
    std::size_t end = pos;
    while (end < text.size() && text[end] != ' ' && text[end] != '\t') {
      ++end;
    }
    if (end > pos) {
      out.emplace_back(text.substr(pos, end - pos));
    }
    pos = end;
  }
  return out;
}

std::vector<std::string> split_hosts(const std::string &field) {
  std::vector<std::string> hosts;
  std::size_t start = 0;
  while (start <= field.size()) {
    std::size_t comma = field.find(',', start);
    if (comma == std::string::npos) {
      comma = field.size();
    }
    if (comma > start) {
      hosts.push_back(field.substr(start, comma - start));
    }
    start = comma + 1;
  }
  return hosts;
}

KnownHostLine parse_line(std::string_view text) {
  KnownHostLine line;
  line.text = std::string(text);
  const auto fields = words(text);
  if (fields.size() < 3 || fields[0].empty() || fields[0][0] == '#' || fields[0][0] == '|' ||
      fields[0][0] == '@') {
    return line; // comment, hashed host, marker: kept as it is
  }
  line.hosts = split_hosts(fields[0]);
  line.key = {fields[1], fields[2]};
  for (std::size_t i = 3; i < fields.size(); ++i) {
    const std::string_view word = fields[i];
    if (word.substr(0, k_node_tag.size()) == k_node_tag) {
      line.node = std::string(word.substr(k_node_tag.size()));
    } else if (word.substr(0, k_runtime_tag.size()) == k_runtime_tag) {
      line.runtime_id = std::string(word.substr(k_runtime_tag.size()));
    }
  }
  return line;
}

/// LINE without HOST among its hosts; nullopt when HOST was its only one.
std::optional<KnownHostLine> without_host(const KnownHostLine &line, const std::string &host) {
  KnownHostLine out = line;
  out.hosts.erase(std::remove(out.hosts.begin(), out.hosts.end(), host), out.hosts.end());
  if (out.hosts.empty()) {
    return std::nullopt;
  }
  std::string hosts;
  for (const auto &h : out.hosts) {
    hosts += (hosts.empty() ? "" : ",") + h;
  }
  // The rest of the line (key and comment) stays as written.
  const auto fields = words(line.text);
  const std::size_t rest = line.text.find(fields.size() > 1 ? fields[1] : std::string());
  out.text = hosts + " " + (rest == std::string::npos ? "" : line.text.substr(rest));
  return out;
}

const NodeIdentity *by_host(const std::vector<NodeIdentity> &nodes, const std::string &host,
                            int port) {
  for (const auto &node : nodes) {
    if (!node.address.empty() && host_field(node.address, port) == host) {
      return &node;
    }
  }
  return nullptr;
}

/// Reads the whole of FD from its start.
std::string read_fd(int fd) {
  std::string text;
  char buffer[8192];
  off_t offset = 0;
  while (true) {
    const ssize_t n = ::pread(fd, buffer, sizeof buffer, offset);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    text.append(buffer, static_cast<std::size_t>(n));
    offset += n;
  }
  return text;
}

Status rewrite_fd(int fd, const std::string &text, const std::string &path) {
  if (::ftruncate(fd, 0) != 0) {
    return fail(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n =
        ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return fail(fmt::format("cannot write {}: {}", path, std::strerror(errno)),
                  "check the free space of the state directory");
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

/// The file at PATH opened and exclusively locked for the life of the object.
class LockedFile {
public:
  static Result<LockedFile> open(const std::string &path, bool create) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (fd < 0) {
      if (!create && errno == ENOENT) {
        return LockedFile(-1);
      }
      return fail(fmt::format("cannot open {}: {}", path, std::strerror(errno)),
                  "check that the state directory is writable");
    }
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        const int saved = errno;
        ::close(fd);
        return fail(fmt::format("cannot lock {}: {}", path, std::strerror(saved)));
      }
    }
    return LockedFile(fd);
  }
  LockedFile(LockedFile &&other) noexcept : m_fd(other.m_fd) { other.m_fd = -1; }
  LockedFile(const LockedFile &) = delete;
  LockedFile &operator=(const LockedFile &) = delete;
  LockedFile &operator=(LockedFile &&) = delete;
  ~LockedFile() {
    if (m_fd >= 0) {
      ::close(m_fd); // releases the lock
    }
  }
  int fd() const { return m_fd; }

private:
  explicit LockedFile(int fd) : m_fd(fd) {}
  int m_fd;
};

} // namespace

bool KnownHostLine::matches(const std::string &host) const {
  return std::find(hosts.begin(), hosts.end(), host) != hosts.end();
}

KnownHosts parse_known_hosts(std::string_view text) {
  KnownHosts file;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    file.lines.push_back(parse_line(line));
    start = end + 1;
  }
  return file;
}

std::string format_known_hosts(const KnownHosts &file) {
  std::string out;
  for (const auto &line : file.lines) {
    out += line.text;
    out += '\n';
  }
  return out;
}

KnownHostLine known_host_line(const std::string &host, const HostKey &key, const std::string &node,
                              const std::string &runtime_id) {
  KnownHostLine line;
  line.hosts = {host};
  line.key = key;
  line.node = node;
  line.runtime_id = runtime_id;
  line.text = fmt::format("{} {} {} {}{} {}{}", host, key.type, key.key, k_node_tag, node,
                          k_runtime_tag, runtime_id);
  return line;
}

std::string host_field(const std::string &address, int port) {
  return port == 22 ? address : fmt::format("[{}]:{}", address, port);
}

std::string fingerprint(const HostKey &key) {
  std::string blob(key.key.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(blob.data()),
                                reinterpret_cast<const unsigned char *>(key.key.data()),
                                static_cast<int>(key.key.size()));
  if (n < 0) {
    return "(not base64)";
  }
  std::size_t length = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the padding as data.
  for (auto it = key.key.rbegin(); it != key.key.rend() && *it == '=' && length > 0; ++it) {
    --length;
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char *>(blob.data()), length, digest);
  std::string encoded(4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(encoded.data()), digest,
                                      SHA256_DIGEST_LENGTH);
  encoded.resize(static_cast<std::size_t>(std::max(written, 0)));
  while (!encoded.empty() && encoded.back() == '=') {
    encoded.pop_back();
  }
  return "SHA256:" + encoded;
}

HostKeyCheck check_host_key(const KnownHosts &file, const std::string &host,
                            const HostKey &presented, const std::string &node,
                            const std::string &runtime_id, const std::optional<HostKey> &vouched) {
  HostKeyCheck check;
  check.updated = file;
  std::optional<std::size_t> same_key;
  std::optional<std::size_t> same_type;
  std::optional<std::size_t> any;
  for (std::size_t i = 0; i < file.lines.size(); ++i) {
    const auto &line = file.lines[i];
    if (!line.matches(host)) {
      continue;
    }
    if (!any) {
      any = i;
    }
    if (line.key.type == presented.type) {
      if (line.key.key == presented.key && !same_key) {
        same_key = i;
      }
      if (!same_type) {
        same_type = i;
      }
    }
  }
  auto &lines = check.updated.lines;
  if (same_key) {
    check.verdict = Verdict::known;
    const auto &line = lines[*same_key];
    // The same key: the same node instance, or a new one that kept its key. Either way the line
    // now names what runs (OpenSSH writes lines without ltb's comment).
    if ((line.node != node || line.runtime_id != runtime_id) && line.hosts.size() == 1) {
      lines[*same_key] = known_host_line(host, presented, node, runtime_id);
      check.changed = true;
    }
    return check;
  }
  if (!any) {
    check.verdict = Verdict::first_use;
    // Keep a file that ends without an empty line tidy: drop a trailing blank one first.
    if (!lines.empty() && lines.back().text.empty()) {
      lines.pop_back();
    }
    lines.push_back(known_host_line(host, presented, node, runtime_id));
    check.changed = true;
    return check;
  }
  const std::size_t on_record = same_type ? *same_type : *any;
  const auto &record = lines[on_record];
  if (vouched && *vouched == presented) {
    check.verdict = Verdict::vouched;
  } else if ((!record.node.empty() && record.node != node) ||
             (!record.runtime_id.empty() && !runtime_id.empty() &&
              record.runtime_id != runtime_id)) {
    check.verdict = Verdict::recreated;
  } else {
    check.verdict = Verdict::refused;
    check.recorded = record.key;
    check.line = on_record + 1;
    return check;
  }
  std::vector<KnownHostLine> kept;
  for (const auto &line : lines) {
    if (!line.matches(host)) {
      kept.push_back(line);
    } else if (auto rest = without_host(line, host)) {
      kept.push_back(*rest);
    }
  }
  if (!kept.empty() && kept.back().text.empty()) {
    kept.pop_back();
  }
  kept.push_back(known_host_line(host, presented, node, runtime_id));
  lines = std::move(kept);
  check.changed = true;
  return check;
}

KnownHosts sync_known_hosts(const KnownHosts &file, const std::vector<NodeIdentity> &before,
                            const std::vector<NodeIdentity> &after, int port) {
  KnownHosts out;
  for (const auto &line : file.lines) {
    if (line.hosts.size() != 1) {
      out.lines.push_back(line); // not a line ltb or the generated ssh_config writes
      continue;
    }
    const std::string &host = line.hosts.front();
    const NodeIdentity *now = by_host(after, host, port);
    const NodeIdentity *then = by_host(before, host, port);
    if (!now && !then) {
      out.lines.push_back(line);
      continue;
    }
    if (!now || now->runtime_id.empty()) {
      continue; // the node is gone (or not made yet): whatever answers there next is new
    }
    if (!line.node.empty() || !line.runtime_id.empty()) {
      if (line.node == now->name && line.runtime_id == now->runtime_id) {
        out.lines.push_back(line);
      }
      continue;
    }
    // Written by OpenSSH: it belongs to the node that was there before this `ltb up`.
    if (then && then->name == now->name && then->runtime_id == now->runtime_id) {
      out.lines.push_back(known_host_line(host, line.key, now->name, now->runtime_id));
    }
  }
  return out;
}

std::optional<HostKey> console_host_key(std::string_view log) {
  constexpr std::string_view k_marker = "ssh host key: ";
  const std::size_t at = log.rfind(k_marker);
  if (at == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view rest = log.substr(at + k_marker.size());
  rest = rest.substr(0, rest.find_first_of("\r\n"));
  const auto fields = words(rest);
  if (fields.size() < 2 ||
      !(fields[0].rfind("ssh-", 0) == 0 || fields[0].rfind("ecdsa-", 0) == 0)) {
    return std::nullopt;
  }
  return HostKey{fields[0], fields[1]};
}

std::string host_key_algorithms(const KnownHosts &file, const std::string &host) {
  // ssh-rsa (SHA-1 signatures) is left out, as OpenSSH does.
  const std::vector<std::string> defaults{"ssh-ed25519",         "ecdsa-sha2-nistp256",
                                          "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                                          "rsa-sha2-512",        "rsa-sha2-256"};
  std::vector<std::string> order;
  auto add = [&](const std::string &algorithm) {
    if (std::find(order.begin(), order.end(), algorithm) == order.end()) {
      order.push_back(algorithm);
    }
  };
  for (const auto &line : file.lines) {
    if (!line.matches(host)) {
      continue;
    }
    if (line.key.type == "ssh-rsa") {
      add("rsa-sha2-512");
      add("rsa-sha2-256");
    } else if (std::find(defaults.begin(), defaults.end(), line.key.type) != defaults.end()) {
      add(line.key.type);
    }
  }
  for (const auto &algorithm : defaults) {
    add(algorithm);
  }
  std::string out;
  for (const auto &algorithm : order) {
    out += (out.empty() ? "" : ",") + algorithm;
  }
  return out;
}

Result<Verdict> verify_host_key(const std::string &path, const std::string &host,
                                const HostKey &presented, const std::string &node,
                                const std::string &runtime_id,
                                const std::optional<HostKey> &vouched) {
  LTB_TRY(file, LockedFile::open(path, true));
  const KnownHosts current = parse_known_hosts(read_fd(file.fd()));
  const HostKeyCheck check = check_host_key(current, host, presented, node, runtime_id, vouched);
  if (check.verdict == Verdict::refused) {
    return fail(fmt::format("the host key of node '{}' ({}) has changed, but ltb has not "
                            "recreated the node: not connecting",
                            node, host),
                fmt::format("someone may be intercepting the connection, or the node's key was "
                            "replaced by hand. It shows {} {}; {} line {} records {}. If the "
                            "change is expected, delete that line and connect again",
                            presented.type, fingerprint(presented), path, check.line,
                            fingerprint(check.recorded)));
  }
  if (check.changed) {
    LTB_CHECK(rewrite_fd(file.fd(), format_known_hosts(check.updated), path));
  }
  return check.verdict;
}

Status sync_known_hosts_file(const std::string &path, const std::vector<NodeIdentity> &before,
                             const std::vector<NodeIdentity> &after) {
  LTB_TRY(file, LockedFile::open(path, false));
  if (file.fd() < 0) {
    return {};
  }
  const std::string text = read_fd(file.fd());
  const std::string synced =
      format_known_hosts(sync_known_hosts(parse_known_hosts(text), before, after));
  if (synced != text) {
    LTB_CHECK(rewrite_fd(file.fd(), synced, path));
  }
  return {};
}

KnownHosts read_known_hosts(const std::string &path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return {};
  }
  KnownHosts file = parse_known_hosts(read_fd(fd));
  ::close(fd);
  return file;
}

} // namespace ltb::access
