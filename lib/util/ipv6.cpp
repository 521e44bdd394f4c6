#include "util/ipv6.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>

namespace ltb::util {

std::optional<Ipv6> parse_ipv6(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  Ipv6 address{};
  const std::string copy(text);
  if (inet_pton(AF_INET6, copy.c_str(), address.data()) != 1) {
    return std::nullopt;
  }
  return address;
}

std::string format_ipv6(const Ipv6 &address) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, address.data(), text, sizeof text);
  return text;
}

namespace {
Ipv6 masked(Ipv6 address, int prefix) {
  for (int i = 0; i < 16; ++i) {
    const int bits = std::clamp(prefix - i * 8, 0, 8);
    address[i] &= static_cast<std::uint8_t>(bits == 0 ? 0 : 0xff << (8 - bits));
  }
  return address;
}
} // namespace

bool Subnet6::contains(const Ipv6 &address) const {
  return masked(address, prefix) == network;
}

Ipv6 Subnet6::host(std::uint64_t n) const {
  Ipv6 address = network;
  for (int i = 15; i >= 8 && n != 0; --i) {
    const unsigned sum = address[i] + static_cast<unsigned>(n & 0xff);
    address[i] = static_cast<std::uint8_t>(sum & 0xff);
    n = (n >> 8) + (sum >> 8);
  }
  return address;
}

std::string Subnet6::to_string() const {
  return format_ipv6(network) + "/" + std::to_string(prefix);
}

std::optional<Subnet6> parse_subnet6(std::string_view text, bool strict) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  const auto length = text.substr(slash + 1);
  if (length.empty() || length.size() > 3) {
    return std::nullopt;
  }
  int prefix = 0;
  for (char c : length) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
    prefix = prefix * 10 + (c - '0');
  }
  const auto address = parse_ipv6(text.substr(0, slash));
  if (!address || prefix > 128) {
    return std::nullopt;
  }
  Subnet6 subnet{masked(*address, prefix), prefix};
  if (strict && subnet.network != *address) {
    return std::nullopt;
  }
  return subnet;
}

} // namespace ltb::util
