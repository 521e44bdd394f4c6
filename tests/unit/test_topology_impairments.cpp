// Link impairments in a lab file: units, inheritance (endpoint > link > node > group > kind >
// defaults), the rules between fields, located errors, and the state file's text.

#include "testutil.hpp"
#include "topology/impairments.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <string>

namespace {

using namespace ltb::topology;
using ltb::test::TempDir;

const char *k_head = "name: x\n"
                     "topology:\n"
                     "  nodes:\n"
                     "    r1: {kind: linux, image: alpine}\n"
                     "    r2: {kind: linux, image: alpine}\n";

Topology loaded(const std::string &yaml) {
  TempDir dir;
  auto result = load_text(yaml, "lab.yaml", dir.path.string());
  if (!result) {
    FAIL(render(result.error(), false));
  }
  return *result;
}

std::string errors(const std::string &yaml) {
  TempDir dir;
  auto result = load_text(yaml, "lab.yaml", dir.path.string());
  REQUIRE_MESSAGE(!result.has_value(), "the load was expected to fail");
  return render(result.error(), false);
}

} // namespace

TEST_CASE("impairments: units as people write them") {
  CHECK(parse_duration("50ms").value() == 50'000);
  CHECK(parse_duration("1s").value() == 1'000'000);
  CHECK(parse_duration("250us").value() == 250);
  CHECK(parse_duration("1.5ms").value() == 1'500);
  CHECK(parse_duration("0").value() == 0);
  CHECK(parse_percent("2%").value() == 2.0);
  CHECK(parse_percent("0.5%").value() == 0.5);
  CHECK(parse_percent("100%").value() == 100.0);
  CHECK(parse_rate("10mbit").value() == 10'000'000);
  CHECK(parse_rate("1gbit").value() == 1'000'000'000);
  CHECK(parse_rate("500kbit").value() == 500'000);
  CHECK(parse_rate("10Mbit").value() == 10'000'000);

  CHECK(parse_duration("50").error().message == "duration '50' has no unit");
  CHECK(parse_duration("50 parsecs").error().message ==
        "duration '50 parsecs' has an unknown unit 'parsecs'");
  CHECK(parse_duration("2min").error().help.find("us, ms or s") != std::string::npos);
  CHECK(parse_duration("61s").error().message == "duration '61s' is longer than 60s");
  CHECK(parse_percent("2").error().help == "write 2% (a percentage, 0 to 100)");
  CHECK(parse_percent("101%").error().message == "percentage '101%' is more than 100%");
  CHECK(parse_percent("lots").has_value() == false);
  CHECK(parse_rate("10mbps").error().help ==
        "tc reads 'mbps' as bytes per second, people mostly mean bits: write 10mbit for bits per "
        "second");
  CHECK(parse_rate("1bit").error().message == "rate '1bit' is out of range");
  CHECK(parse_rate("20gbit").has_value() == false);
}

TEST_CASE("impairments: formatting reads back") {
  CHECK(format_duration(50'000) == "50ms");
  CHECK(format_duration(1'500) == "1.5ms");
  CHECK(format_duration(250) == "250us");
  CHECK(format_duration(2'000'000) == "2s");
  CHECK(format_percent(0.5) == "0.5%");
  CHECK(format_rate(10'000'000) == "10mbit");
  CHECK(format_rate(1'500'000'000) == "1.5gbit");
  CHECK(format_rate(500'000) == "500kbit");
  Impairments i;
  CHECK(describe(i) == "none");
  i.delay_us = 50'000;
  i.jitter_us = 5'000;
  i.loss_pct = 2;
  i.rate_bps = 10'000'000;
  CHECK(describe(i) == "delay 50ms, jitter 5ms, loss 2%, rate 10mbit");
  CHECK(encode_impairments(i) == "delay=50000 jitter=5000 loss=2 rate=10000000");
  CHECK(decode_impairments(encode_impairments(i)).value() == i);
  i.corrupt_pct = 0.125;
  i.duplicate_pct = 1;
  i.reorder_pct = 25;
  CHECK(decode_impairments(encode_impairments(i)).value() == i);
  CHECK(encode_impairments(Impairments{}).empty());
  CHECK(decode_impairments("").value().empty());
  CHECK_FALSE(decode_impairments("delay=abc").has_value());
  CHECK_FALSE(decode_impairments("speed=3").has_value());
}

TEST_CASE("impairments: a link's apply to both directions, an endpoint's to its own") {
  auto t = loaded(std::string(k_head) + "  links:\n"
                                        "    - endpoints: [r1:eth1, r2:eth1]\n"
                                        "      impairments: {delay: 50ms, loss: 2%}\n"
                                        "    - endpoints:\n"
                                        "        - {node: r1, interface: eth2, impairments: "
                                        "{rate: 10mbit}}\n"
                                        "        - r2:eth2\n");
  REQUIRE(t.links.size() == 2);
  const auto &both = t.links[0];
  CHECK(both.impair_a.delay_us == 50'000);
  CHECK(both.impair_a.loss_pct == 2);
  CHECK(both.impair_b == both.impair_a);
  CHECK(both.impair_a_set);
  CHECK(both.impair_b_set);
  const auto &one = t.links[1];
  CHECK(one.impair_a.rate_bps == 10'000'000);
  CHECK(one.impair_a_set);
  CHECK(one.impair_b.empty());
  CHECK_FALSE(one.impair_b_set);
}

TEST_CASE("impairments: field by field, endpoint over link over node, group, kind, defaults") {
  auto t = loaded("name: x\n"
                  "topology:\n"
                  "  defaults: {impairments: {delay: 10ms, loss: 1%}}\n"
                  "  kinds: {frr: {impairments: {loss: 3%}}}\n"
                  "  groups: {wan: {impairments: {rate: 1gbit}}}\n"
                  "  nodes:\n"
                  "    r1: {kind: frr, group: wan}\n"
                  "    r2: {kind: linux, image: alpine, impairments: {delay: 0}}\n"
                  "  links:\n"
                  "    - endpoints: [r1:eth1, r2:eth1]\n"
                  "      impairments: {duplicate: 1%}\n"
                  "    - endpoints:\n"
                  "        - {node: r1, interface: eth2, impairments: {loss: 0.5%}}\n"
                  "        - r2:eth2\n");
  const auto &first = t.links[0];
  CHECK(first.impair_a.delay_us == 10'000);        // defaults
  CHECK(first.impair_a.loss_pct == 3);             // kind over defaults
  CHECK(first.impair_a.rate_bps == 1'000'000'000); // group
  CHECK(first.impair_a.duplicate_pct == 1);        // link
  CHECK(first.impair_b.duplicate_pct == 1);
  CHECK(first.impair_b.delay_us == 0); // r2 clears the delay the defaults give
  const auto &second = t.links[1];
  CHECK(second.impair_a.loss_pct == 0.5); // endpoint over kind
  CHECK(second.impair_a.delay_us == 10'000);
  CHECK(second.impair_b.delay_us == 0); // r2's own
  CHECK(second.impair_b.loss_pct == 1);
  CHECK(second.impair_b_set);
}

TEST_CASE("impairments: jitter without a delay is reported where the jitter is") {
  CHECK(errors(std::string(k_head) + "  links:\n"
                                     "    - endpoints: [r1:eth1, r2:eth1]\n"
                                     "      impairments: {jitter: 5ms}\n") ==
        "lab.yaml:8:29: error: jitter without delay on the packets leaving r1:eth1\n"
        "   8 |       impairments: {jitter: 5ms}\n"
        "     |                             ^\n"
        "help: jitter varies the delay: set a delay too, for example delay: 50ms, jitter: 5ms\n"
        "lab.yaml:8:29: error: jitter without delay on the packets leaving r2:eth1\n"
        "   8 |       impairments: {jitter: 5ms}\n"
        "     |                             ^\n"
        "help: jitter varies the delay: set a delay too, for example delay: 50ms, jitter: 5ms\n");
}

TEST_CASE("impairments: a bad unit is located, with what to write") {
  const auto text = errors(std::string(k_head) + "  links:\n"
                                                 "    - endpoints: [r1:eth1, r2:eth1]\n"
                                                 "      impairments:\n"
                                                 "        delay: 50\n"
                                                 "        loss: 2\n"
                                                 "        rate: 10mbps\n");
  CHECK(text.find("lab.yaml:9:16: error: delay: duration '50' has no unit\n") != std::string::npos);
  CHECK(text.find("help: write 50ms (or us, s)\n") != std::string::npos);
  CHECK(text.find("lab.yaml:10:15: error: loss: percentage '2' has no '%'\n") != std::string::npos);
  CHECK(text.find("lab.yaml:11:15: error: rate: rate '10mbps' has an unknown unit 'mbps'\n") !=
        std::string::npos);
}

TEST_CASE("impairments: an unknown field gets a did-you-mean") {
  const auto text = errors(std::string(k_head) + "  links:\n"
                                                 "    - endpoints: [r1:eth1, r2:eth1]\n"
                                                 "      impairments: {dealy: 5ms}\n");
  CHECK(text.find("lab.yaml:8:21:") != std::string::npos);
  CHECK(text.find("did you mean 'delay'?") != std::string::npos);
}

TEST_CASE("impairments: settings.impairments chooses the path") {
  auto t = loaded(std::string("settings: {impairments: relay}\n") + k_head);
  CHECK(t.impairment_path == ImpairmentPath::relay);
  CHECK(loaded(k_head).impairment_path == ImpairmentPath::automatic);
  CHECK(errors(std::string("settings: {impairments: netem}\n") + k_head).find("lab.yaml:1:25:") !=
        std::string::npos);
}

TEST_CASE("impairments: a bridge node may set them (its ports' egress)") {
  auto t = loaded("name: x\n"
                  "topology:\n"
                  "  nodes:\n"
                  "    sw: {kind: ovs-bridge, impairments: {delay: 5ms}}\n"
                  "    h1: {kind: linux, image: alpine}\n"
                  "  links:\n"
                  "    - endpoints: [sw:p1, h1:eth1]\n");
  CHECK(t.links[0].impair_a.delay_us == 5'000);
  CHECK(t.links[0].impair_b.empty());
}
