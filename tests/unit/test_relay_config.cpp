// The relay's configuration file (what ltb reads back to know what the relay serves) and how
// ltb tells whether a lab's relay runs, without starting one (tests/integration/test_relay.sh
// runs the real process).
#include "net/relay.hpp"
#include "testutil.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

using namespace ltb;

TEST_CASE("relay.conf: what is written is read back, and anything else is refused by line") {
  net::RelayConfig config;
  config["r1:eth1|r2:eth1"] = {{"r1:eth1|r2:eth1", "lvaaaaaa000001", "lvaaaaaa000002"},
                               {.delay_us = 50'000, .jitter_us = 5'000, .loss_pct = 2.5},
                               {.corrupt_pct = 0.1, .reorder_pct = 25, .rate_bps = 10'000'000}};
  config["r1:eth2|v1:eth1"] = {
      {"r1:eth2|v1:eth1", "lvaaaaaa000003", "lvaaaaaa000004"}, {.duplicate_pct = 1}, {}};
  auto text = net::format_relay_config(config);
  auto parsed = net::parse_relay_config(text);
  REQUIRE(parsed);
  CHECK(*parsed == config);
  CHECK(net::parse_relay_config("")->empty());

  auto bad = net::parse_relay_config(text + "r3:eth1|r4:eth1 lv1 lv2 1 2 3\n");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("relay.conf:4:") != std::string::npos);
  CHECK_FALSE(net::parse_relay_config("k a b 1 2 3 4 5 6 7 1 2 3 4 5 6 7 extra\n"));
  CHECK_FALSE(net::parse_relay_config("k a b x 2 3 4 5 6 7 1 2 3 4 5 6 7\n"));
}

TEST_CASE("a relay counts as running only when its pid is that lab's relay") {
  test::TempDir dir;
  auto &relay = net::host_relay();
  CHECK_FALSE(relay.state(dir.path.string()).running);
  // A live process that is not this lab's relay (a recycled pid): not ours.
  dir.write("relay.pid", std::to_string(::getpid()) + "\n");
  dir.write("relay.conf", "k a b 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
  auto state = relay.state(dir.path.string());
  CHECK_FALSE(state.running);
  CHECK(state.pid == 0);
  CHECK(state.config.size() == 1); // what it served is still known: `ltb up` starts it again
  dir.write("relay.pid", "nonsense\n");
  CHECK_FALSE(relay.state(dir.path.string()).running);
  // Stopping when none runs is fine and removes the files.
  CHECK(relay.stop(dir.path.string()));
  CHECK_FALSE(std::filesystem::exists(dir.path / "relay.pid"));
  CHECK_FALSE(std::filesystem::exists(dir.path / "relay.conf"));
  CHECK(relay.state(dir.path.string()).config.empty());
}
