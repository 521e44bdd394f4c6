// IPv6 addresses and subnets (util/ipv6): parsing, canonical text, containment, host addresses.
#include "util/ipv6.hpp"

#include <doctest/doctest.h>

using namespace ltb::util;

TEST_CASE("ipv6: addresses parse and print canonically") {
  auto a = parse_ipv6("3fff:0172:0020:0020:0:0:0:0011");
  REQUIRE(a);
  CHECK(format_ipv6(*a) == "3fff:172:20:20::11");
  CHECK(!parse_ipv6(""));
  CHECK(!parse_ipv6("10.0.0.1"));
  CHECK(!parse_ipv6("3fff::1/64"));
  CHECK(!parse_ipv6("3fff:::1"));
}

TEST_CASE("ipv6: subnets") {
  auto s = parse_subnet6("3fff:172:20:20::/64");
  REQUIRE(s);
  CHECK(s->prefix == 64);
  CHECK(s->to_string() == "3fff:172:20:20::/64");
  CHECK(s->contains(*parse_ipv6("3fff:172:20:20::abcd")));
  CHECK(!s->contains(*parse_ipv6("3fff:172:20:21::1")));
  CHECK(format_ipv6(s->host(1)) == "3fff:172:20:20::1");
  CHECK(format_ipv6(s->host(0x1ff)) == "3fff:172:20:20::1ff");
  // Host bits: refused when strict, cleared otherwise.
  CHECK(!parse_subnet6("3fff:1::5/64"));
  CHECK(parse_subnet6("3fff:1::5/64", false)->to_string() == "3fff:1::/64");
  CHECK(parse_subnet6("3fff:1:2:3:4::/66", false)->to_string() == "3fff:1:2:3::/66");
  CHECK(!parse_subnet6("3fff::/129"));
  CHECK(!parse_subnet6("3fff::"));
  CHECK(!parse_subnet6("3fff::/6x"));
  CHECK(!parse_subnet6("172.20.0.0/24"));
}
