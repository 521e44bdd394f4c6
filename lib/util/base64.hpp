#pragma once
// Base64 (RFC 4648, with padding): file contents inside JSON bodies.

#include "util/error.hpp"

#include <string>
#include <string_view>

namespace ltb::util {

std::string base64_encode(std::string_view bytes);
/// Fails on a character outside the alphabet or a bad length.
Result<std::string> base64_decode(std::string_view text);

} // namespace ltb::util
