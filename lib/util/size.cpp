#include "util/size.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <limits>
#include <string>

namespace ltb::util {

std::optional<std::int64_t> parse_size(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[pos])) || text[pos] == '.')) {
    ++pos;
  }
  const std::string number(text.substr(0, pos));
  if (number.empty() || std::count(number.begin(), number.end(), '.') > 1 ||
      number.front() == '.' || number.back() == '.') {
    return std::nullopt;
  }
  std::string unit;
  for (char c : text.substr(pos)) {
    if (c != ' ') {
      unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  struct Unit {
    std::string_view name;
    long double factor;
  };
  constexpr long double k = 1024.0L;
  static constexpr std::array<Unit, 14> k_units{{
      {"", 1},
      {"b", 1},
      {"k", k},
      {"kib", k},
      {"kb", 1e3L},
      {"m", k * k},
      {"mib", k * k},
      {"mb", 1e6L},
      {"g", k * k * k},
      {"gib", k * k * k},
      {"gb", 1e9L},
      {"t", k * k * k * k},
      {"tib", k * k * k * k},
      {"tb", 1e12L},
  }};
  for (const auto &u : k_units) {
    if (u.name == unit) {
      const long double bytes = std::floor(std::stold(number) * u.factor);
      if (bytes > static_cast<long double>(std::numeric_limits<std::int64_t>::max())) {
        return std::nullopt;
      }
      return static_cast<std::int64_t>(bytes);
    }
  }
  return std::nullopt;
}

} // namespace ltb::util
