// Tests of lib/service/config on a temporary state file: set, get, unset and the capacity.

#include "service/config.hpp"
#include "testutil.hpp"

#include <doctest/doctest.h>

using ltb::test::TempDir;
namespace service = ltb::service;

TEST_CASE("service config: set, get, the capacity it gives, unset back to the measured value") {
  TempDir tmp;
  service::Context context{tmp.file("state.db"), 5};
  service::Caller caller{1000, "alice", true, {}};
  service::CancelToken cancel;
  service::NullSink events;
  const service::Session session{context, caller, cancel, events};

  auto set = service::config_set(session, "memory", "4GiB");
  REQUIRE(set);
  CHECK(*set == "4294967296");
  REQUIRE(service::config_set(session, "cpus", "3"));
  REQUIRE(service::config_set(session, "cpu-overcommit", "2"));
  auto got = service::config_get(session, "memory");
  REQUIRE(got);
  CHECK(*got == "4294967296");

  auto view = service::read_config(session, true);
  REQUIRE(view);
  CHECK(view->capacity.cpus == 6);
  CHECK(view->capacity.memory_bytes == 4294967296);
  const auto origin = [&](const std::string &name) {
    for (const auto &row : view->settings) {
      if (row.setting->name == name) {
        return row.origin;
      }
    }
    return std::string("missing");
  };
  CHECK(origin("cpus") == "set");
  CHECK(origin("disk") == "measured");
  CHECK(origin("memory-overcommit") == "default");

  REQUIRE(service::config_unset(session, "cpus"));
  view = service::read_config(session, false);
  REQUIRE(view);
  CHECK(origin("cpus") == "measured");
}

TEST_CASE("service config: unknown names and bad values are usage errors with a did-you-mean") {
  TempDir tmp;
  service::Context context{tmp.file("state.db"), 5};
  service::Caller caller{1000, "alice", true, {}};
  service::CancelToken cancel;
  service::NullSink events;
  const service::Session session{context, caller, cancel, events};
  auto unknown = service::config_get(session, "cpu-overcomit");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == ltb::ExitCode::usage);
  CHECK(unknown.error().help.find("did you mean 'cpu-overcommit'") != std::string::npos);
  auto bad = service::config_set(session, "memory", "lots");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("invalid value 'lots' for memory") == 0);
  CHECK_FALSE(service::config_unset(session, "nope"));
}
