// The access files ltb reads back: a lab's known_hosts (which OpenSSH writes too) through every
// decision made on it, the host key a VM prints on its console, and logins.json. A line that a
// decision rewrote must read back as the hosts and key it was given.

#include "access/access_files.hpp"
#include "access/known_hosts.hpp"

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace {

void check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

std::string without_cr(std::string text) {
  while (!text.empty() && text.back() == '\r') {
    text.pop_back();
  }
  return text;
}

/// Every line with hosts reads back as what it says.
void check_lines(const ltb::access::KnownHosts &file) {
  for (const auto &line : file.lines) {
    const auto again = ltb::access::parse_known_hosts(line.text);
    if (line.hosts.empty()) {
      continue;
    }
    check(again.lines.size() == 1 && again.lines[0].hosts == line.hosts &&
          again.lines[0].key.type == line.key.type &&
          without_cr(again.lines[0].key.key) == without_cr(line.key.key));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace ltb::access;
  const std::string text(reinterpret_cast<const char *>(data), size);

  // Written back, the file says the same. Its bytes may differ: a line's last CR goes each
  // time (a CRLF file becomes LF), so a last word ending in CRs may lose one.
  const KnownHosts file = parse_known_hosts(text);
  const KnownHosts again = parse_known_hosts(format_known_hosts(file));
  check(again.lines.size() == file.lines.size());
  for (std::size_t i = 0; i < file.lines.size(); ++i) {
    const auto &a = file.lines[i];
    const auto &b = again.lines[i];
    check(a.hosts == b.hosts && a.key.type == b.key.type &&
          without_cr(a.key.key) == without_cr(b.key.key) &&
          without_cr(a.node) == without_cr(b.node) &&
          without_cr(a.runtime_id) == without_cr(b.runtime_id));
  }

  std::vector<std::string> hosts{"172.20.20.2", "[172.20.20.3]:2222"};
  for (const auto &line : file.lines) {
    (void)fingerprint(line.key);
    if (!line.hosts.empty() && hosts.size() < 4) {
      hosts.push_back(line.hosts.front());
    }
  }
  const HostKey presented{"ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIFuzzFuzzFuzzFuzzFuzzFuzzFuzz"};
  const std::optional<HostKey> vouched = console_host_key(text);
  for (const auto &host : hosts) {
    (void)host_key_algorithms(file, host);
    for (const auto &node : {"r1", "r2"}) {
      const auto result = check_host_key(file, host, presented, node, "id-2", vouched);
      check_lines(result.updated);
      check(result.verdict != Verdict::refused || !result.changed);
    }
  }
  const std::vector<NodeIdentity> before{{"r1", "172.20.20.2", "id-1"},
                                         {"r2", "172.20.20.3", "id-1"}};
  const std::vector<NodeIdentity> after{{"r1", "172.20.20.2", "id-2"}};
  check_lines(sync_known_hosts(file, before, after));
  check_lines(sync_known_hosts(file, before, after, 2222));

  (void)parse_logins(text);
  return 0;
}
