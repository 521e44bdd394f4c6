// What ltb reads back from net/'s tools and files: ovs-vsctl's JSON tables and its stderr,
// `iptables -S` listings, and the files it writes itself (published ports, relay.conf), which
// must read back the same after they are written again.

#include "net/host_firewall.hpp"
#include "net/ovs_cmd.hpp"
#include "net/port_proxy.hpp"
#include "net/relay.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

void check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace ltb::net;
  const std::string text(reinterpret_cast<const char *>(data), size);

  (void)ovs::parse_bridges(text);
  (void)ovs::setup_errors(text);
  (void)parse_firewall_listing(text, "lab1");

  if (const auto ports = parse_published_ports(text)) {
    std::string written;
    for (const auto &port : *ports) {
      written += port.line();
    }
    const auto again = parse_published_ports(written);
    check(again && *again == *ports);
  }
  if (const auto config = parse_relay_config(text)) {
    const auto again = parse_relay_config(format_relay_config(*config));
    check(again && *again == *config);
  }
  return 0;
}
