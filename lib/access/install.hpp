#pragma once
// Putting the lab's public key into nodes as `ltb up` makes them, so that `ltb ssh` and the
// generated ssh_config need no password: containers through docker exec, VMs of the ltb-vm image
// through their kernel command line.

#include "runtime/docker/docker.hpp"
#include "util/error.hpp"

#include <optional>
#include <string>
#include <vector>

namespace ltb::access {

/// The shell script that adds a key ($2) to the authorized_keys of a user ($1), run with
/// `sh -c SCRIPT ltb-key USER KEY`. Exits 3 when the user does not exist.
const std::string &authorized_keys_script();

/// Adds the lab's public key to USER's ~/.ssh/authorized_keys in a running container. Ok, doing
/// nothing, when the lab has no key. An error says why it could not (no such user, no shell):
/// the caller shows it as a notice, since the node is usable without it.
Status install_lab_key(runtime::ContainerRuntime &docker, const std::string &lab_dir,
                       const std::string &container_id, const std::string &user);

/// The bind ("SOURCE:/root/.ssh/authorized_keys") that gives a container whose login is root the
/// lab's key with nothing run in it (an exec costs the Docker daemon as much CPU as creating a
/// container): SOURCE is LAB_DIR/NODE/authorized_keys, written now with the key alone (mode 0600),
/// mounted read-write so that the node may change it like any file. Nothing when the lab has no
/// key, the login is not root (only the image's /etc/passwd knows another user's home:
/// install_lab_key then), the node's own binds cover /root/.ssh, or LAB_DIR holds a ':'.
Result<std::optional<std::string>> lab_key_bind(const std::string &lab_dir, const std::string &node,
                                                const std::string &user,
                                                const std::vector<std::string> &binds);

/// " ltb.sshkey=BASE64" (the authorized_keys line, base64) for a VM's kernel command line, which
/// the ltb-vm image installs for root; empty when the lab has no key.
std::string vm_key_parameter(const std::string &lab_dir);

} // namespace ltb::access
