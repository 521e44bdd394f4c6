#include "access/install.hpp"

#include "access/keys.hpp"

#include <filesystem>
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

Result<std::optional<std::string>> lab_key_bind(const std::string &lab_dir, const std::string &node,
                                                const std::string &user,
                                                const std::vector<std::string> &binds) {
  constexpr std::string_view k_target = "/root/.ssh/authorized_keys";
  const std::string key = lab_public_key(lab_dir);
  if (key.empty() || user != "root" || lab_dir.find(':') != std::string::npos) {
    return std::optional<std::string>{};
  }
  for (const auto &bind : binds) {
    // "SOURCE:TARGET[:OPTIONS]": a target that is /root, /root/.ssh or below, or a parent of
    // them, is the user's choice; ltb's bind would hide it or be hidden.
    const auto first = bind.find(':');
    std::string target = first == std::string::npos ? bind : bind.substr(first + 1);
    target = target.substr(0, target.find(':'));
    while (target.size() > 1 && target.back() == '/') {
      target.pop_back();
    }
    const bool parent = target == "/" || k_target.starts_with(target + "/");
    const bool inside = target == "/root/.ssh" || target.starts_with("/root/.ssh/");
    if (parent || inside) {
      return std::optional<std::string>{};
    }
  }
  const auto dir = std::filesystem::path(lab_dir) / node;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return fail(fmt::format("cannot create {}: {}", dir.string(), ec.message()),
                "check that the state directory is writable");
  }
  const std::string source = (dir / "authorized_keys").string();
  LTB_CHECK(write_private_file(source, key + "\n"));
  return std::optional<std::string>{source + ":" + std::string(k_target)};
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
