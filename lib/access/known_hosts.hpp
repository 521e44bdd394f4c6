#pragma once
// The lab's known_hosts file, kept by ltb and read by OpenSSH too (the generated ssh_config names
// it). ltb writes each host key with a comment naming the node and the runtime id (container id or
// domain uuid) it had when the key was recorded: a changed key is accepted only when the node has
// a different runtime id now, that is when ltb has recreated it. The decisions are pure functions;
// verify_host_key() and sync_known_hosts_file() do the file work under a lock.

#include "util/error.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::access {

struct HostKey {
  std::string type; // "ssh-ed25519", "ecdsa-sha2-nistp256", ...
  std::string key;  // base64 of the key blob
  bool operator==(const HostKey &other) const = default;
};

/// One line of a known_hosts file. Lines ltb does not understand (comments, hashed host names,
/// @cert-authority/@revoked markers) have no hosts and are written back unchanged.
struct KnownHostLine {
  std::string text; // the line as read (used when written back unchanged)
  std::vector<std::string> hosts;
  HostKey key;
  std::string node;       // from the "ltb-node=" comment; empty when OpenSSH wrote the line
  std::string runtime_id; // from the "ltb-runtime-id=" comment
  bool matches(const std::string &host) const;
};

struct KnownHosts {
  std::vector<KnownHostLine> lines;
};

KnownHosts parse_known_hosts(std::string_view text);
std::string format_known_hosts(const KnownHosts &file);

/// A line as ltb writes it: "HOST TYPE KEY ltb-node=NODE ltb-runtime-id=ID".
KnownHostLine known_host_line(const std::string &host, const HostKey &key, const std::string &node,
                              const std::string &runtime_id);

/// The host field OpenSSH uses: "ADDRESS" on port 22, "[ADDRESS]:PORT" otherwise.
std::string host_field(const std::string &address, int port);

/// OpenSSH's fingerprint of a key: "SHA256:" and the unpadded base64 of the blob's digest.
std::string fingerprint(const HostKey &key);

enum class Verdict {
  known,     // the recorded key
  first_use, // nothing recorded for the host: trusted and recorded
  recreated, // a different key, and the node has a different runtime id: ltb recreated it
  vouched,   // a different key that the VM printed on its serial console at boot
  refused,   // a different key for the same node instance
};

struct HostKeyCheck {
  Verdict verdict = Verdict::refused;
  bool changed = false; // `updated` differs from the file and must be written
  KnownHosts updated;   // the file with the key recorded (unchanged when refused)
  HostKey recorded;     // when refused: the key on record
  std::size_t line = 0; // when refused: its line number (1-based)
};

/// What to do with the key a node presents. `vouched` is the key the node is known to have from
/// another channel (a VM prints its key on the serial console); empty when there is none.
HostKeyCheck check_host_key(const KnownHosts &file, const std::string &host,
                            const HostKey &presented, const std::string &node,
                            const std::string &runtime_id, const std::optional<HostKey> &vouched);

/// A node of the lab as known_hosts cares about it.
struct NodeIdentity {
  std::string name;
  std::string address; // management IPv4
  std::string runtime_id;
};

/// After `ltb up` (BEFORE and AFTER are the lab's nodes on either side of it): drops keys of
/// nodes ltb recreated or removed, so that OpenSSH (through the generated ssh_config) accepts the
/// new node's key instead of refusing it; lines OpenSSH added for nodes that stayed get ltb's
/// comment. Lines for other hosts stay as they are.
KnownHosts sync_known_hosts(const KnownHosts &file, const std::vector<NodeIdentity> &before,
                            const std::vector<NodeIdentity> &after, int port = 22);

/// The host key the ltb-vm image prints on its serial console at boot ("ssh host key: TYPE KEY"),
/// the last one in LOG; nullopt when there is none.
std::optional<HostKey> console_host_key(std::string_view log);

/// Host key algorithms for libssh, those of the keys recorded for HOST first, so that the server
/// shows the key type that is on record.
std::string host_key_algorithms(const KnownHosts &file, const std::string &host);

/// Reads PATH (missing = empty), checks PRESENTED and writes the file when the check changed it,
/// under an exclusive lock (several `ltb ssh` may run at once). A refusal is an error that names
/// the node, both fingerprints and the line to delete.
Result<Verdict> verify_host_key(const std::string &path, const std::string &host,
                                const HostKey &presented, const std::string &node,
                                const std::string &runtime_id,
                                const std::optional<HostKey> &vouched);

/// sync_known_hosts() on the file at PATH, under the same lock. A missing file stays missing.
Status sync_known_hosts_file(const std::string &path, const std::vector<NodeIdentity> &before,
                             const std::vector<NodeIdentity> &after);

/// The file's content (empty when it does not exist), for choosing host key algorithms.
KnownHosts read_known_hosts(const std::string &path);

} // namespace ltb::access
