#include "access/keys.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <libssh/libssh.h>
#include <memory>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace ltb::access {

namespace {

namespace fs = std::filesystem;

struct KeyFree {
  void operator()(ssh_key key) const { ssh_key_free(key); }
};
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyFree>;

struct CharFree {
  void operator()(char *text) const { ssh_string_free_char(text); }
};
using SshChars = std::unique_ptr<char, CharFree>;

std::string read_text(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return in ? out.str() : std::string();
}

/// "TYPE BASE64 COMMENT" for the public half of KEY.
Result<std::string> public_line(ssh_key key, const std::string &comment) {
  char *b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK || !b64) {
    return fail("cannot export the lab's public key");
  }
  SshChars owned(b64);
  const char *type = ssh_key_type_to_char(ssh_key_type(key));
  return fmt::format("{} {} {}", type ? type : "ssh-ed25519", b64, comment);
}

} // namespace

Status write_private_file(const std::string &path, const std::string &content, int mode) {
  const std::string temp = path + ".tmp";
  ::unlink(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return fail(fmt::format("cannot write {}: {}", path, std::strerror(errno)),
                "check that the state directory is writable");
  }
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const int saved = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      return fail(fmt::format("cannot write {}: {}", path, std::strerror(saved)),
                  "check the free space of the state directory");
    }
    done += static_cast<std::size_t>(n);
  }
  // The umask may have taken bits away from MODE; a public file should still be readable.
  ::fchmod(fd, static_cast<mode_t>(mode));
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    return fail(fmt::format("cannot write {}: {}", path, std::strerror(saved)));
  }
  return {};
}

Result<std::string> ensure_lab_key(const std::string &lab_dir, const std::string &lab) {
  const LabPaths paths{lab_dir};
  const std::string comment = "ltb-lab-" + lab;
  std::error_code ec;
  fs::create_directories(lab_dir, ec);
  if (ec) {
    return fail(fmt::format("cannot create the lab directory {}: {}", lab_dir, ec.message()),
                "check that the state directory is writable");
  }
  if (fs::exists(paths.private_key(), ec)) {
    if (std::string line = lab_public_key(lab_dir); !line.empty()) {
      return line;
    }
    // The public half went missing: derive it again rather than replacing a key that nodes
    // already accept.
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(paths.private_key().c_str(), nullptr, nullptr, nullptr, &key) ==
        SSH_OK) {
      KeyPtr owned(key);
      LTB_TRY(line, public_line(key, comment));
      LTB_CHECK(write_private_file(paths.public_key(), line + "\n"));
      return line;
    }
    // Unreadable: make a new pair; `ltb up` installs it in the nodes it creates from now on.
  }
  ssh_key key = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK || !key) {
    return fail(fmt::format("cannot generate an ssh key pair for lab {}", lab),
                "libssh could not make an ed25519 key; check the libssh installation");
  }
  KeyPtr owned(key);
  char *pem = nullptr;
  if (ssh_pki_export_privkey_base64(key, nullptr, nullptr, nullptr, &pem) != SSH_OK || !pem) {
    return fail(fmt::format("cannot export the ssh key of lab {}", lab));
  }
  SshChars owned_pem(pem);
  LTB_TRY(line, public_line(key, comment));
  std::string private_text = pem;
  if (!private_text.empty() && private_text.back() != '\n') {
    private_text += '\n';
  }
  LTB_CHECK(write_private_file(paths.private_key(), private_text));
  LTB_CHECK(write_private_file(paths.public_key(), line + "\n"));
  return line;
}

std::string lab_public_key(const std::string &lab_dir) {
  std::string text = read_text(LabPaths{lab_dir}.public_key());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text.rfind("ssh-", 0) == 0 ? text : std::string();
}

void remove_access_files(const std::string &lab_dir) {
  const LabPaths paths{lab_dir};
  std::error_code ec;
  for (const auto &file :
       {paths.private_key(), paths.public_key(), paths.known_hosts(), paths.logins(),
        paths.ssh_config(), paths.inventory(), paths.topology_data()}) {
    fs::remove(file, ec);
    fs::remove(file + ".tmp", ec);
  }
}

} // namespace ltb::access
