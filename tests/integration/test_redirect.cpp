// tc mirred joins of host interfaces (VM links), against the real kernel: two network namespaces
// whose veths meet only through redirect_pair() must reach each other.
#include <doctest/doctest.h>

#include "net/netlink.hpp"
#include "net/redirect.hpp"
#include "util/exec.hpp"

using namespace ltb;

namespace {

int sh(const std::vector<std::string> &argv) {
  auto result = util::run(argv);
  return result ? result->exit_code : -1;
}

struct Namespaces {
  Namespaces() {
    for (const auto *ns : {"ltbtest-rd1", "ltbtest-rd2"}) {
      sh({"ip", "netns", "add", ns});
    }
  }
  ~Namespaces() {
    for (const auto *ns : {"ltbtest-rd1", "ltbtest-rd2"}) {
      sh({"ip", "netns", "del", ns});
    }
    sh({"ip", "link", "del", "ltbtest-rda"});
    sh({"ip", "link", "del", "ltbtest-rdb"});
    sh({"ip", "link", "del", "ltbtest-tap"});
  }
};

} // namespace

TEST_CASE("redirect_pair joins two veths back to back, and again after a re-redirect") {
  Namespaces guard;
  REQUIRE(sh({"ip", "link", "add", "ltbtest-rda", "type", "veth", "peer", "name", "eth1", "netns",
              "ltbtest-rd1"}) == 0);
  REQUIRE(sh({"ip", "link", "add", "ltbtest-rdb", "type", "veth", "peer", "name", "eth1", "netns",
              "ltbtest-rd2"}) == 0);
  for (const auto *dev : {"ltbtest-rda", "ltbtest-rdb"}) {
    REQUIRE(sh({"ip", "link", "set", dev, "up"}) == 0);
  }
  REQUIRE(sh({"ip", "-n", "ltbtest-rd1", "addr", "add", "10.251.0.1/30", "dev", "eth1"}) == 0);
  REQUIRE(sh({"ip", "-n", "ltbtest-rd2", "addr", "add", "10.251.0.2/30", "dev", "eth1"}) == 0);
  REQUIRE(sh({"ip", "-n", "ltbtest-rd1", "link", "set", "eth1", "up"}) == 0);
  REQUIRE(sh({"ip", "-n", "ltbtest-rd2", "link", "set", "eth1", "up"}) == 0);
  // Not joined yet: nothing gets across.
  CHECK(sh({"ip", "netns", "exec", "ltbtest-rd1", "ping", "-c", "1", "-W", "1", "10.251.0.2"}) != 0);
  auto joined = net::redirect_pair("ltbtest-rda", "ltbtest-rdb");
  REQUIRE_MESSAGE(joined, (joined ? "" : joined.error().message));
  CHECK(sh({"ip", "netns", "exec", "ltbtest-rd1", "ping", "-c", "2", "-W", "2", "10.251.0.2"}) == 0);
  // Redirecting again replaces the filters rather than failing.
  REQUIRE(net::redirect_pair("ltbtest-rda", "ltbtest-rdb"));
  CHECK(sh({"ip", "netns", "exec", "ltbtest-rd2", "ping", "-c", "1", "-W", "2", "10.251.0.1"}) == 0);
}

TEST_CASE("create_tap makes a persistent tap that is up, and is idempotent") {
  Namespaces guard;
  REQUIRE(net::create_tap("ltbtest-tap"));
  REQUIRE(net::create_tap("ltbtest-tap"));
  auto exists = net::make_netlink()->link_exists("ltbtest-tap");
  REQUIRE(exists);
  CHECK(*exists);
  auto shown = util::run({"ip", "-o", "link", "show", "ltbtest-tap"});
  REQUIRE(shown);
  CHECK(shown->out.find("UP") != std::string::npos);
  CHECK(!net::redirect_pair("ltbtest-tap", "ltbtest-nonexistent"));
}
