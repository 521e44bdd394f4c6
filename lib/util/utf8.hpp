#pragma once
// UTF-8 well-formedness (Unicode's table 3-7: no overlong forms, no surrogates, nothing above
// U+10FFFF): text that ltb puts into JSON must be UTF-8, or nlohmann::json's dump() throws.

#include <cstddef>
#include <optional>
#include <string_view>

namespace ltb::util {

/// The offset of the first byte that does not start a well-formed UTF-8 sequence, or nullopt
/// when all of TEXT is UTF-8.
std::optional<std::size_t> invalid_utf8(std::string_view text);

} // namespace ltb::util
