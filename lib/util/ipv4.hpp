#pragma once
// IPv4 addresses and subnets, as plain numbers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ltb::util {

std::optional<std::uint32_t> parse_ipv4(std::string_view text);
std::string format_ipv4(std::uint32_t address);

struct Subnet {
  std::uint32_t network = 0; // host bits cleared
  int prefix = 0;
  std::uint32_t mask() const { return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix); }
  std::uint32_t broadcast() const { return network | ~mask(); }
  bool contains(std::uint32_t address) const { return (address & mask()) == network; }
  bool overlaps(const Subnet &other) const;
  /// The n-th address after the network address (1 = first host, the gateway by convention).
  std::uint32_t host(std::uint32_t n) const { return network + n; }
  std::uint32_t size() const { return prefix == 0 ? 0 : std::uint32_t{1} << (32 - prefix); }
  std::string to_string() const;
};

/// Parses "a.b.c.d/n". `strict` refuses host bits set ("10.0.0.1/24").
std::optional<Subnet> parse_subnet(std::string_view text, bool strict = true);

} // namespace ltb::util
