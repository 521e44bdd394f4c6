#pragma once
// A service::Connection over the fakes of one World and a state file: what service/ use cases
// take (deploy_lab, deploy_template, ...), for plan -> apply -> record in unit tests.

#include "fakes.hpp"
#include "service/backends.hpp"
#include "state/store.hpp"

#include <doctest/doctest.h>
#include <string>

namespace ltb::fakes {

inline service::Connection fake_connection(World &world, const std::string &state_path) {
  service::Connection connection;
  auto opened = state::Store::open(state_path);
  REQUIRE(opened);
  connection.store = std::move(*opened);
  connection.docker = std::make_unique<FakeDocker>(world);
  connection.netlink = std::make_unique<FakeNetlink>(world);
  connection.ovs = std::make_unique<FakeOvs>(world);
  connection.firewall = std::make_unique<FakeFirewall>(world);
  return connection;
}

} // namespace ltb::fakes
