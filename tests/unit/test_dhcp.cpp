// The VMs' DHCP server: its command line, and how ltb tells whether it runs (without starting one:
// tests/integration/test_vm_mixed.sh runs the real dnsmasq).
#include "net/dhcp.hpp"
#include "testutil.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <string>
#include <unistd.h>

using namespace ltb;

namespace {
bool has(const std::vector<std::string> &argv, const std::string &arg) {
  return std::find(argv.begin(), argv.end(), arg) != argv.end();
}
} // namespace

TEST_CASE("dnsmasq serves only reservations on the lab's bridge, no DNS, no router when isolated") {
  net::DhcpServerSpec spec{"/var/lib/ltb/labs/x", "lmabc123", "172.20.7.0/24", "",
                           "52:54:00:00:00:01,172.20.7.2,vm1\n52:54:00:00:00:02,172.20.7.3,vm2\n"};
  auto argv = net::dnsmasq_argv(spec);
  REQUIRE(!argv.empty());
  CHECK(argv[0] == "dnsmasq");
  CHECK(has(argv, "--conf-file=/dev/null"));
  CHECK(has(argv, "--port=0"));
  CHECK(has(argv, "--interface=lmabc123"));
  CHECK(has(argv, "--bind-dynamic"));
  CHECK(has(argv, "--dhcp-range=172.20.7.0,static,255.255.255.0,12h"));
  CHECK(has(argv, "--dhcp-host=52:54:00:00:00:01,172.20.7.2,vm1"));
  CHECK(has(argv, "--dhcp-host=52:54:00:00:00:02,172.20.7.3,vm2"));
  CHECK(has(argv, "--pid-file=/var/lib/ltb/labs/x/dnsmasq.pid"));
  CHECK(has(argv, "--dhcp-option=option:router"));

  spec.subnet = "10.1.0.0/16";
  spec.router = "10.1.0.1";
  argv = net::dnsmasq_argv(spec);
  CHECK(has(argv, "--dhcp-range=10.1.0.0,static,255.255.0.0,12h"));
  CHECK(has(argv, "--dhcp-option=option:router,10.1.0.1"));
}

TEST_CASE("a DHCP server counts as running only when its pid is that lab's dnsmasq") {
  test::TempDir dir;
  CHECK_FALSE(net::dhcp_server_state(dir.path.string()).running);

  // A pid file naming a live process that is not this lab's dnsmasq (a recycled pid): not ours.
  dir.write("dnsmasq.pid", std::to_string(::getpid()) + "\n");
  dir.write("dnsmasq.hosts", "52:54:00:00:00:01,172.20.7.2,vm1\n");
  auto state = net::dhcp_server_state(dir.path.string());
  CHECK_FALSE(state.running);
  CHECK(state.hosts_text.empty());

  dir.write("dnsmasq.pid", "not a pid\n");
  CHECK_FALSE(net::dhcp_server_state(dir.path.string()).running);

  // Stopping when none runs is fine and removes the files.
  CHECK(net::dhcp_server_stop(dir.path.string()));
  CHECK_FALSE(std::filesystem::exists(dir.path / "dnsmasq.hosts"));
  CHECK_FALSE(std::filesystem::exists(dir.path / "dnsmasq.pid"));
}
