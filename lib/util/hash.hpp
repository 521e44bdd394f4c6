#pragma once
#include <string>
#include <string_view>

namespace ltb::util {
/// SHA-256 of data as 64 lowercase hex digits (OpenSSL EVP).
std::string sha256_hex(std::string_view data);
} // namespace ltb::util
