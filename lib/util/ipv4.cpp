#include "util/ipv4.hpp"

#include <charconv>

namespace ltb::util {

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
  std::uint32_t address = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (text.empty() || text.front() != '.') {
        return std::nullopt;
      }
      text.remove_prefix(1);
    }
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    auto digits = static_cast<std::size_t>(end - text.data());
    if (ec != std::errc{} || value > 255 || digits == 0 || digits > 3 ||
        (digits > 1 && text.front() == '0')) {
      return std::nullopt;
    }
    address = (address << 8) | value;
    text.remove_prefix(digits);
  }
  if (!text.empty()) {
    return std::nullopt;
  }
  return address;
}

std::string format_ipv4(std::uint32_t address) {
  return std::to_string(address >> 24) + "." + std::to_string((address >> 16) & 0xff) + "." +
         std::to_string((address >> 8) & 0xff) + "." + std::to_string(address & 0xff);
}

bool Subnet::overlaps(const Subnet &other) const {
  int shorter = prefix < other.prefix ? prefix : other.prefix;
  std::uint32_t m = shorter == 0 ? 0 : ~std::uint32_t{0} << (32 - shorter);
  return (network & m) == (other.network & m);
}

std::string Subnet::to_string() const { return format_ipv4(network) + "/" + std::to_string(prefix); }

std::optional<Subnet> parse_subnet(std::string_view text, bool strict) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  auto address = parse_ipv4(text.substr(0, slash));
  auto bits = text.substr(slash + 1);
  int prefix = 0;
  auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
  if (!address || ec != std::errc{} || end != bits.data() + bits.size() || bits.empty() ||
      prefix < 0 || prefix > 32) {
    return std::nullopt;
  }
  Subnet subnet{*address, prefix};
  if ((subnet.network & subnet.mask()) != subnet.network) {
    if (strict) {
      return std::nullopt;
    }
    subnet.network &= subnet.mask();
  }
  return subnet;
}

} // namespace ltb::util
