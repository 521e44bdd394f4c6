#pragma once
// Web passwords and API token secrets: hashing with yescrypt through libxcrypt (crypt_r), and
// random secrets from the kernel (getrandom).

#include "util/error.hpp"

#include <string>

namespace ltb::util {

/// PASSWORD hashed with yescrypt and a fresh salt: "$y$...".
Result<std::string> hash_password(const std::string &password);

/// Whether PASSWORD is the one HASH was made from (in constant time over the hashes).
bool verify_password(const std::string &password, const std::string &hash);

/// BYTES random bytes from the kernel, as lowercase hex (2 * BYTES characters).
Result<std::string> random_hex(std::size_t bytes);

/// Whether A and B are equal, in a time that does not depend on where they differ.
bool equal_in_constant_time(const std::string &a, const std::string &b);

} // namespace ltb::util
