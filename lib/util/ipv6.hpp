#pragma once
// IPv6 addresses and subnets (the management network's, in dual stack), as 16 bytes.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ltb::util {

using Ipv6 = std::array<std::uint8_t, 16>;

/// An address as inet_pton(3) reads it (no prefix length, no zone); nullopt otherwise.
std::optional<Ipv6> parse_ipv6(std::string_view text);
/// The canonical text (RFC 5952, as inet_ntop(3) writes it).
std::string format_ipv6(const Ipv6 &address);

struct Subnet6 {
  Ipv6 network{}; // host bits cleared
  int prefix = 0;
  bool contains(const Ipv6 &address) const;
  /// The n-th address after the network address (1 = the first host, Docker's gateway).
  Ipv6 host(std::uint64_t n) const;
  std::string to_string() const; // "network/prefix", canonical
};

/// Parses "address/prefix". `strict` refuses host bits set; otherwise they are cleared.
std::optional<Subnet6> parse_subnet6(std::string_view text, bool strict = true);

} // namespace ltb::util
