// Published ports on an isolated management network (issue 14, containerlab's `ports`): a proxy
// per port (net/port_proxy.hpp), planned, applied and recorded on the fakes; one that died is
// started again, a changed or removed port is followed, `ltb down` stops them all, a port another
// program holds fails the up with the reason. Also the lines' format and docker-proxy's argv.
#include "fakes/harness.hpp"
#include "net/port_proxy.hpp"

#include <doctest/doctest.h>

using namespace ltb;
using fakes::Harness;
using plan::ActionKind;

namespace {

std::size_t count(const plan::Plan &plan, ActionKind kind) {
  return static_cast<std::size_t>(std::count_if(plan.actions.begin(), plan.actions.end(),
                                                [&](const auto &a) { return a.kind == kind; }));
}

const plan::Action *find(const plan::Plan &plan, ActionKind kind) {
  for (const auto &action : plan.actions) {
    if (action.kind == kind) {
      return &action;
    }
  }
  return nullptr;
}

topology::Topology web_lab() {
  auto t = fakes::make_lab("pp");
  t.nodes = {fakes::container_node("web"), fakes::container_node("other")};
  t.nodes[0].ports = {"127.0.0.1:8080:80", "5353:53/udp"};
  return t;
}

std::vector<std::string> running(Harness &h, const std::string &lab) {
  std::vector<std::string> lines;
  std::lock_guard lock(h.fakes.world.mutex);
  auto it = h.fakes.world.proxies.find(h.lab_dir(lab));
  if (it != h.fakes.world.proxies.end()) {
    for (const auto &proxy : it->second) {
      lines.push_back(proxy.line + (proxy.running ? "" : " (dead)"));
    }
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

} // namespace

TEST_CASE("ports: a mapping's text, as containerlab and docker run -p write it") {
  using topology::parse_port_mapping;
  auto full = parse_port_mapping("127.0.0.1:2222:22/udp");
  REQUIRE(full);
  CHECK(full->host_ip == "127.0.0.1");
  CHECK(full->host_port == 2222);
  CHECK(full->port == 22);
  CHECK(full->protocol == "udp");
  auto plain = parse_port_mapping("8080:80");
  REQUIRE(plain);
  CHECK(plain->host_ip.empty());
  CHECK(plain->protocol == "tcp");
  for (const char *bad : {"80", "70000:80", "8080:0", "a:80", "1.2.3:80:80", "8080:80/sctp",
                          "1:2:3:4", "8080:", ":80", "123456:80"}) {
    INFO(bad);
    CHECK_FALSE(parse_port_mapping(bad));
  }
}

TEST_CASE("ports: the proxies' lines and docker-proxy's command line") {
  net::PublishedPort port{"web", "udp", "0.0.0.0", 5353, "172.31.9.2", 53};
  CHECK(port.line() == "web udp 0.0.0.0 5353 172.31.9.2 53\n");
  auto parsed = net::parse_published_ports(port.line() + "r1 tcp 127.0.0.1 2222 172.31.9.3 22\n");
  REQUIRE(parsed);
  REQUIRE(parsed->size() == 2);
  CHECK((*parsed)[0] == port);
  CHECK((*parsed)[1].host_port == 2222);
  CHECK(net::docker_proxy_argv(port) ==
        std::vector<std::string>{"docker-proxy", "-proto", "udp", "-host-ip", "0.0.0.0",
                                 "-host-port", "5353", "-container-ip", "172.31.9.2",
                                 "-container-port", "53"});
  for (const char *bad : {"web tcp 0.0.0.0 8080 172.31.9.2\n", "web sctp 0.0.0.0 1 1.1.1.1 1\n",
                          "web tcp 0.0.0.0 0 172.31.9.2 80\n", "web tcp 0.0.0.0 1 a 2 extra\n"}) {
    INFO(bad);
    auto refused = net::parse_published_ports(bad);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("published port line 1 is not valid") != std::string::npos);
  }
}

TEST_CASE("ports: an isolated lab publishes through proxies; Docker gets no bindings") {
  Harness h;
  auto t = web_lab();
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  CHECK(plan->ports_by_proxy);
  const auto address = plan->addresses.at("web");
  CHECK(plan->published_ports == fmt::format("web tcp 127.0.0.1 8080 {0} 80\n"
                                             "web udp 0.0.0.0 5353 {0} 53\n",
                                             address));
  const auto *publish = find(*plan, ActionKind::publish_ports);
  REQUIRE(publish);
  CHECK(plan::describe(*publish, *plan) ==
        "publish ports 127.0.0.1:8080->web:80/tcp, 0.0.0.0:5353->web:53/udp [new]");

  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  REQUIRE(report->ok());
  CHECK(running(h, "pp") ==
        std::vector<std::string>{fmt::format("web tcp 127.0.0.1 8080 {} 80\n", address),
                                 fmt::format("web udp 0.0.0.0 5353 {} 53\n", address)});
  {
    std::lock_guard lock(h.fakes.world.mutex);
    CHECK(h.fakes.world.containers.at(plan::container_name("pp", "web")).spec.ports.empty());
  }
  CHECK(fakes::problems(h, "pp", {t}).empty());
  auto objects = h.store->objects("pp");
  REQUIRE(objects);
  auto record = std::find_if(objects->begin(), objects->end(),
                             [](const auto &o) { return o.type == state::ObjectType::port_proxy; });
  REQUIRE(record != objects->end());
  CHECK(record->runtime_id == "2"); // how many run
  CHECK(record->status == state::RecordStatus::created);

  // Converged: nothing to do.
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK(count(*again, ActionKind::publish_ports) == 0);

  // With external access Docker publishes them: the proxies go, the container is made again
  // (its spec changes) with the bindings.
  auto open = t;
  open.mgmt.external_access = true;
  auto opened = h.plan_up(open);
  REQUIRE(opened);
  CHECK_FALSE(opened->ports_by_proxy);
  CHECK(opened->published_ports.empty());
  REQUIRE(count(*opened, ActionKind::remove_ports) == 1);
}

TEST_CASE("ports: a dead proxy is started again, a changed port followed, a removed one stopped") {
  Harness h;
  auto t = web_lab();
  REQUIRE(h.up(t));
  {
    std::lock_guard lock(h.fakes.world.mutex);
    h.fakes.world.proxies.at(h.lab_dir("pp")).front().running = false;
  }
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  const auto *publish = find(*plan, ActionKind::publish_ports);
  REQUIRE(publish);
  CHECK(plan::to_string(publish->why) == "port-proxy exited");
  CHECK(count(*plan, ActionKind::create_node) == 0); // the nodes stay
  auto report = h.up(t);
  REQUIRE(report);
  REQUIRE(report->ok());
  CHECK(running(h, "pp").size() == 2);
  for (const auto &line : running(h, "pp")) {
    CHECK(line.find("(dead)") == std::string::npos);
  }

  // A port of the file changes: its proxy follows (the node is made again: its options changed).
  t.nodes[0].ports = {"127.0.0.1:8081:80"};
  plan = h.plan_up(t);
  REQUIRE(plan);
  publish = find(*plan, ActionKind::publish_ports);
  REQUIRE(publish);
  CHECK(plan::to_string(publish->why) == "configuration changed");
  report = h.up(t);
  REQUIRE(report);
  REQUIRE(report->ok());
  REQUIRE(running(h, "pp").size() == 1);
  CHECK(running(h, "pp").front().find("web tcp 127.0.0.1 8081 ") == 0);

  // No port left: they stop, and the record goes.
  t.nodes[0].ports.clear();
  plan = h.plan_up(t);
  REQUIRE(plan);
  CHECK(count(*plan, ActionKind::remove_ports) == 1);
  CHECK(count(*plan, ActionKind::publish_ports) == 0);
  report = h.up(t);
  REQUIRE(report);
  REQUIRE(report->ok());
  CHECK(running(h, "pp").empty());
  auto objects = h.store->objects("pp");
  REQUIRE(objects);
  CHECK(std::none_of(objects->begin(), objects->end(),
                     [](const auto &o) { return o.type == state::ObjectType::port_proxy; }));
  CHECK(fakes::problems(h, "pp", {t}).empty());
}

TEST_CASE("ports: down stops the proxies, even when the record is all that is left") {
  Harness h;
  auto t = web_lab();
  REQUIRE(h.up(t));
  auto down = h.plan_down("pp");
  REQUIRE(down);
  const auto *remove = find(*down, ActionKind::remove_ports);
  REQUIRE(remove);
  CHECK(plan::describe(*remove, *down) == "stop the lab's port proxies [lab removed]");
  auto report = h.down("pp");
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  REQUIRE(report->ok());
  CHECK(h.fakes.world.empty());

  // Files gone but the record there (a crash between the record and the proxies' start).
  REQUIRE(h.up(t));
  {
    std::lock_guard lock(h.fakes.world.mutex);
    h.fakes.world.proxies.clear();
  }
  down = h.plan_down("pp");
  REQUIRE(down);
  CHECK(count(*down, ActionKind::remove_ports) == 1);
  report = h.down("pp");
  REQUIRE(report);
  REQUIRE(report->ok());
  CHECK(h.fakes.world.empty());
  auto objects = h.store->objects("pp");
  REQUIRE(objects);
  CHECK(objects->empty());
}

TEST_CASE("ports: a host port another program holds fails the up with the reason") {
  Harness h;
  auto t = web_lab();
  h.fakes.world.taken_ports.insert("udp 5353");
  auto report = h.up(t);
  REQUIRE(report);
  CHECK_FALSE(report->ok());
  CHECK(fakes::errors_of(*report).find("node 'web': cannot publish host port 5353/udp on 0.0.0.0: "
                                       "listen: address already in use") != std::string::npos);
  // What was made is recorded, and down leaves nothing.
  CHECK(fakes::problems(h, "pp", {t}).empty());
  auto down = h.down("pp");
  REQUIRE(down);
  CHECK(down->ok());
  CHECK(h.fakes.world.empty());
}

TEST_CASE("ports: a lab on a network it joins, or with network-mode, has no proxies") {
  auto t = web_lab();
  t.nodes[1].network_mode = "container:web";
  t.nodes[1].ports = {"9000:9000"}; // the loader refuses this; the planner skips it anyway
  const std::map<std::string, std::string> addresses{{"web", "172.31.9.2"},
                                                     {"other", "172.31.9.3"}};
  CHECK(plan::published_ports(t, addresses, false) ==
        "web tcp 127.0.0.1 8080 172.31.9.2 80\nweb udp 0.0.0.0 5353 172.31.9.2 53\n");
  CHECK(plan::published_ports(t, addresses, true).empty());
  t.mgmt.external_access = true;
  CHECK(plan::published_ports(t, addresses, false).empty());
}
