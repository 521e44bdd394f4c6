#pragma once
// How users reach a lab's nodes: ssh through libssh (ssh.hpp), the lab's key pair (here), the
// lab's known_hosts (known_hosts.hpp), the access files ltb writes for other tools
// (access_files.hpp), and putting the lab's key into nodes (install.hpp). Everything lives in the
// lab directory, <state dir>/labs/<lab>/. Depends on topology/, state/, runtime/ and util/.

#include "util/error.hpp"

#include <string>

namespace ltb::access {

/// Files of the lab directory that this folder owns.
struct LabPaths {
  std::string dir;
  std::string private_key() const { return dir + "/id_ed25519"; }
  std::string public_key() const { return dir + "/id_ed25519.pub"; }
  std::string known_hosts() const { return dir + "/known_hosts"; }
  std::string logins() const { return dir + "/logins.json"; } // ltb's own record (passwords)
  std::string ssh_config() const { return dir + "/ssh_config"; }
  std::string inventory() const { return dir + "/inventory.yml"; }
  std::string topology_data() const { return dir + "/topology-data.json"; }
  std::string console_log(const std::string &node) const {
    return dir + "/" + node + "/console.log";
  }
};

/// The lab's ed25519 key pair: made on the first `ltb up` (both files mode 0600), kept by later
/// ones, removed by `ltb down`. Returns the public key as an authorized_keys line.
Result<std::string> ensure_lab_key(const std::string &lab_dir, const std::string &lab);

/// The lab's public key as an authorized_keys line; empty when the lab has none (yet).
std::string lab_public_key(const std::string &lab_dir);

/// Removes the keys, known_hosts and access files of a lab directory (the directory stays).
void remove_access_files(const std::string &lab_dir);

/// Writes CONTENT to PATH with MODE, atomically (a temporary file renamed over it), so that a
/// reader never sees half a file and a secret is never readable by others, not even briefly.
Status write_private_file(const std::string &path, const std::string &content, int mode = 0600);

} // namespace ltb::access
