// apply/ on fakes for containerlab's node options (issue 14): the options reach Docker's spec, a
// network-mode node joins the other's namespace without an address, and a wait for a healthy
// node holds the creation until Docker says so.
#include "fakes/harness.hpp"

#include <doctest/doctest.h>
#include <thread>

using namespace ltb;
using fakes::Harness;

TEST_CASE("apply clab: the options reach Docker, a shared namespace has no address") {
  Harness h;
  auto t = fakes::make_lab("op");
  t.mgmt.external_access = true; // Docker publishes the ports (an isolated lab: test_ports.cpp)
  t.nodes = {fakes::container_node("web"), fakes::container_node("side")};
  auto &web = t.nodes[0];
  web.ports = {"127.0.0.1:8080:80", "5353:53/udp"};
  web.healthcheck = topology::Healthcheck{{"CMD-SHELL", "true"}, 1, 2, 3, 4};
  web.dns_servers = {"192.0.2.53"};
  web.sysctls = {{"net.ipv4.ip_forward", "1"}};
  web.cap_add = {"NET_ADMIN"};
  web.devices = {"/dev/null"};
  web.shm_size_bytes = 1024;
  t.nodes[1].network_mode = "container:web";
  t.nodes[1].wait_for = {{"create", "web", "healthy", {}}};
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  std::lock_guard lock(h.fakes.world.mutex);
  const auto &spec = h.fakes.world.containers.at(plan::container_name("op", "web")).spec;
  REQUIRE(spec.ports.size() == 2);
  CHECK(spec.ports[0].host_ip == "127.0.0.1");
  CHECK(spec.ports[0].host_port == 8080);
  CHECK(spec.ports[0].port == 80);
  CHECK(spec.ports[0].protocol == "tcp");
  CHECK(spec.ports[1].host_ip.empty());
  CHECK(spec.ports[1].protocol == "udp");
  REQUIRE(spec.healthcheck);
  CHECK(spec.healthcheck->interval_ns == 1000000000);
  CHECK(spec.healthcheck->timeout_ns == 2000000000);
  CHECK(spec.healthcheck->start_period_ns == 3000000000);
  CHECK(spec.healthcheck->retries == 4);
  CHECK(spec.dns_servers == std::vector<std::string>{"192.0.2.53"});
  CHECK(spec.sysctls.at("net.ipv4.ip_forward") == "1");
  CHECK(spec.cap_add == std::vector<std::string>{"NET_ADMIN"});
  CHECK(spec.devices == std::vector<std::string>{"/dev/null"});
  CHECK(spec.shm_size_bytes == 1024);
  const auto &side = h.fakes.world.containers.at(plan::container_name("op", "side")).spec;
  CHECK(side.network_mode == "container:" + plan::container_name("op", "web"));
  CHECK(side.ipv4.empty());
}

TEST_CASE("apply clab: a node that waits for an unhealthy one fails, the rest comes up") {
  Harness h;
  auto t = fakes::make_lab("hw");
  t.nodes = {fakes::container_node("db"), fakes::container_node("app"),
             fakes::container_node("other")};
  t.nodes[0].healthcheck = topology::Healthcheck{{"CMD", "false"}, 1, 1, 0, 1};
  t.nodes[1].wait_for = {{"create", "db", "healthy", {}}};
  // The fake's db is unhealthy as soon as it runs.
  h.fakes.world.health_of_new = "unhealthy";
  auto started = std::chrono::steady_clock::now();
  // The wait's limit is 300 s: interrupt it from here after the first polls instead.
  std::atomic<bool> stop{false};
  std::thread interrupter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    stop = true;
  });
  auto report = h.up(t, &stop);
  interrupter.join();
  REQUIRE(report);
  CHECK_FALSE(report->ok());
  CHECK(fakes::errors_of(*report).find("node app: interrupted while it waited to start") !=
        std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
  std::lock_guard lock(h.fakes.world.mutex);
  CHECK(h.fakes.world.containers.count(plan::container_name("hw", "other")) == 1);
  CHECK(h.fakes.world.containers.count(plan::container_name("hw", "app")) == 0);
}
