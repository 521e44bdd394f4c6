#include "access/install.hpp"

#include "access/keys.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

namespace ltb::access {

const std::string &authorized_keys_script() {
  // Only POSIX sh and tools busybox has too. The key is appended once, however often `ltb up`
  // installs it; the user's home comes from /etc/passwd (getent is not everywhere).
  static const std::string k_script =
      "set -e\n"
      "user=$1 key=$2\n"
      "home=$(awk -F: -v u=\"$user\" '$1 == u { print $6; exit }' /etc/passwd)\n"
      "if [ -z \"$home\" ]; then echo \"no user $user in /etc/passwd\" >&2; exit 3; fi\n"
      "umask 077\n"
      "mkdir -p \"$home/.ssh\"\n"
      "file=$home/.ssh/authorized_keys\n"
      "touch \"$file\"\n"
      "grep -qxF \"$key\" \"$file\" || printf '%s\\n' \"$key\" >>\"$file\"\n"
      "chmod 700 \"$home/.ssh\"\n"
      "chmod 600 \"$file\"\n"
      "chown \"$user\" \"$home/.ssh\" \"$file\" 2>/dev/null || true\n";
  return k_script;
}

Status install_lab_key(runtime::ContainerRuntime &docker, const std::string &lab_dir,
                       const std::string &container_id, const std::string &user) {
  const std::string key = lab_public_key(lab_dir);
  if (key.empty() || user.empty()) {
    return {};
  }
  LTB_TRY(result,
          docker.exec(container_id, {"sh", "-c", authorized_keys_script(), "ltb-key", user, key}));
  if (result.exit_code != 0) {
    std::string why = result.err.empty() ? result.out : result.err;
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) {
      why.pop_back();
    }
    return fail(fmt::format("could not add the lab's ssh key for user {} (exit status {}{}{}); "
                            "ltb ssh falls back to the password",
                            user, result.exit_code, why.empty() ? "" : ": ", why));
  }
  return {};
}

std::string vm_key_parameter(const std::string &lab_dir) {
  const std::string line = lab_public_key(lab_dir) + "\n";
  if (line.size() <= 1) {
    return {};
  }
  std::string encoded(4 * ((line.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(encoded.data()),
                                reinterpret_cast<const unsigned char *>(line.data()),
                                static_cast<int>(line.size()));
  encoded.resize(static_cast<std::size_t>(n > 0 ? n : 0));
  return " ltb.sshkey=" + encoded;
}

} // namespace ltb::access
