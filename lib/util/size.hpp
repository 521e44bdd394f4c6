#pragma once
// Sizes as people write them: "512MiB", "2G" (binary), "10GB" (decimal), "1.5g", or plain bytes.
// Shared by the topology loader (memory, disk-size) and the capacity settings.

#include <cstdint>
#include <optional>
#include <string_view>

namespace ltb::util {

/// Bytes, or nullopt when the text is not a size (no number, an unknown unit, too large).
std::optional<std::int64_t> parse_size(std::string_view text);

} // namespace ltb::util
