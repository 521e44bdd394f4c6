#include "util/password.hpp"

#include <cerrno>
#include <crypt.h>
#include <cstring>
#include <fmt/format.h>
#include <memory>
#include <sys/random.h>

namespace ltb::util {

Result<std::string> hash_password(const std::string &password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  // Count 0: libxcrypt's default cost for yescrypt; random bytes from the kernel.
  if (::crypt_gensalt_rn("$y$", 0, nullptr, 0, salt, sizeof(salt)) == nullptr) {
    return fail(fmt::format("cannot make a password salt: {}", std::strerror(errno)),
                "this libcrypt lacks yescrypt; install libcrypt1 4.4 or newer");
  }
  auto data = std::make_unique<crypt_data>();
  const char *hashed = ::crypt_r(password.c_str(), salt, data.get());
  if (hashed == nullptr || hashed[0] == '*') {
    return fail("cannot hash the password", "this libcrypt lacks yescrypt");
  }
  return std::string(hashed);
}

bool verify_password(const std::string &password, const std::string &hash) {
  if (hash.empty() || hash[0] != '$') {
    return false;
  }
  auto data = std::make_unique<crypt_data>();
  const char *hashed = ::crypt_r(password.c_str(), hash.c_str(), data.get());
  return hashed != nullptr && hashed[0] != '*' && equal_in_constant_time(hashed, hash);
}

Result<std::string> random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  std::size_t got = 0;
  while (got < bytes) {
    const ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail(fmt::format("cannot read random bytes: {}", std::strerror(errno)));
    }
    got += static_cast<std::size_t>(n);
  }
  std::string hex;
  hex.reserve(bytes * 2);
  for (unsigned char c : raw) {
    hex += fmt::format("{:02x}", c);
  }
  return hex;
}

bool equal_in_constant_time(const std::string &a, const std::string &b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

} // namespace ltb::util
