// containerlab's container node options in the model (issue 14): ports, network-mode,
// healthcheck, dns, sysctls, cap-add, devices, shm-size, env-files, stages/wait-for,
// startup-delay and settings.exec-failures; their errors, confinement, and the config hash.

#include "testutil.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <fstream>
#include <string>

namespace {

using namespace ltb::topology;
using ltb::test::TempDir;

LoadResult load(const TempDir &dir, const std::string &yaml, LoadOptions options = {}) {
  return load_text(yaml, "lab.clab.yml", dir.path.string(), options);
}

Topology load_ok(const TempDir &dir, const std::string &yaml, LoadOptions options = {}) {
  auto result = load(dir, yaml, options);
  if (!result) {
    FAIL(render(result.error(), false));
  }
  return *result;
}

std::string errors(const TempDir &dir, const std::string &yaml, LoadOptions options = {}) {
  auto result = load(dir, yaml, options);
  REQUIRE_MESSAGE(!result.has_value(), "the load was expected to fail");
  return render(result.error(), false);
}

bool has(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("clab nodes: every container option reaches the model") {
  TempDir dir;
  {
    std::ofstream(dir.path / "common.env")
        << "# defaults\nA=from-file\nexport B=\"quoted\"\n\nC=c\n";
    std::ofstream(dir.path / "node.env") << "C=node-file\n";
  }
  const auto t = load_ok(dir, R"(name: opts
mgmt:
  external-access: true
settings:
  exec-failures: fail
topology:
  defaults:
    env-files: [common.env]
    sysctls:
      net.ipv4.ip_forward: 1
  nodes:
    web:
      kind: linux
      image: alpine:3
      cmd: sh
      ports: ["8080:80", "127.0.0.1:5353:53/udp"]
      healthcheck:
        test: [CMD-SHELL, test -f /ready]
        interval: 1
        retries: 2
        start-period: 3
        timeout: 4
      dns:
        servers: [192.0.2.53]
        search: [lab.example]
        options: [ndots:1]
      sysctls:
        net.ipv6.conf.all.disable_ipv6: 0
      cap-add: [net_admin, CAP_SYS_TIME]
      devices: [/dev/null]
      shm-size: 128MiB
      env-files: [node.env]
      env:
        A: from-env
    side:
      kind: linux
      image: alpine:3
      network-mode: container:web
      startup-delay: 2
      stages:
        create:
          wait-for:
            - node: web
              stage: healthy
        configure:
          wait-for:
            - node: web
)");
  CHECK(t.exec_failures_fatal);
  const Node &web = *t.find_node("web");
  CHECK(web.ports == std::vector<std::string>{"8080:80", "127.0.0.1:5353:53/udp"});
  REQUIRE(web.healthcheck);
  CHECK(web.healthcheck->test == std::vector<std::string>{"CMD-SHELL", "test -f /ready"});
  CHECK(web.healthcheck->interval == 1);
  CHECK(web.healthcheck->retries == 2);
  CHECK(web.healthcheck->start_period == 3);
  CHECK(web.healthcheck->timeout == 4);
  CHECK(web.dns_servers == std::vector<std::string>{"192.0.2.53"});
  CHECK(web.dns_search == std::vector<std::string>{"lab.example"});
  CHECK(web.dns_options == std::vector<std::string>{"ndots:1"});
  CHECK(web.sysctls == std::map<std::string, std::string>{{"net.ipv4.ip_forward", "1"},
                                                          {"net.ipv6.conf.all.disable_ipv6", "0"}});
  CHECK(web.cap_add == std::vector<std::string>{"NET_ADMIN", "SYS_TIME"});
  CHECK(web.devices == std::vector<std::string>{"/dev/null"});
  CHECK(web.shm_size_bytes == 128 * 1024 * 1024);
  // env-files of every level, the node's last; env wins over them (containerlab's rule).
  CHECK(web.env.at("A") == "from-env");
  CHECK(web.env.at("B") == "quoted");
  CHECK(web.env.at("C") == "node-file");

  const Node &side = *t.find_node("side");
  CHECK(side.network_mode == "container:web");
  CHECK(side.startup_delay == 2);
  REQUIRE(side.wait_for.size() == 2);
  CHECK(side.wait_for[0].stage == "create");
  CHECK(side.wait_for[0].node == "web");
  CHECK(side.wait_for[0].its_stage == "healthy");
  CHECK(side.wait_for[1].stage == "configure");
  CHECK(side.wait_for[1].its_stage == "create");
  CHECK(side.sysctls.at("net.ipv4.ip_forward") == "1");
}

TEST_CASE("clab nodes: the options are part of the config hash, ordering is not") {
  Node node;
  node.kind = "linux";
  node.image = "alpine:3";
  const auto plain = node_config_hash(node);
  auto with = [&](auto change) {
    Node copy = node;
    change(copy);
    return node_config_hash(copy);
  };
  CHECK(with([](Node &n) { n.ports = {"8080:80"}; }) != plain);
  CHECK(with([](Node &n) { n.network_mode = "none"; }) != plain);
  CHECK(with([](Node &n) { n.healthcheck = Healthcheck{{"CMD", "true"}, 1, 0, 0, 0}; }) != plain);
  CHECK(with([](Node &n) { n.dns_servers = {"192.0.2.1"}; }) != plain);
  CHECK(with([](Node &n) { n.sysctls = {{"net.ipv4.ip_forward", "1"}}; }) != plain);
  CHECK(with([](Node &n) { n.cap_add = {"NET_ADMIN"}; }) != plain);
  CHECK(with([](Node &n) { n.devices = {"/dev/net/tun"}; }) != plain);
  CHECK(with([](Node &n) { n.shm_size_bytes = 1; }) != plain);
  CHECK(with([](Node &n) { n.startup_delay = 5; }) == plain);
  CHECK(with([](Node &n) { n.wait_for = {{"create", "x", "create", {}}}; }) == plain);
}

TEST_CASE("clab nodes: errors point at the value") {
  TempDir dir;
  const auto text = errors(dir, R"(name: bad
topology:
  nodes:
    a:
      kind: linux
      image: alpine:3
      ports: ["70000:80"]
      env-files: [missing.env]
      devices: [/dev/no-such-device]
      healthcheck:
        test: [echo, hi]
      stages:
        create:
          wait-for:
            - node: bb
    b:
      kind: linux
      image: alpine:3
      ports: ["8080:80"]
      stages:
        create:
          wait-for:
            - node: a
              stage: healthy
    c:
      kind: linux
      image: alpine:3
      ports: ["8080:81"]
      network-mode: container:c
)");
  CHECK(has(text, "lab.clab.yml:7:15: error: port mapping '70000:80' is not valid"));
  // Ports of an isolated management network are published by ltb's proxies: no error.
  CHECK_FALSE(has(text, "publishes ports, but the lab's management network is isolated"));
  CHECK(has(text, "lab.clab.yml:8:19: error: env-file 'missing.env' cannot be read: it does not "
                  "exist"));
  CHECK(has(text, "lab.clab.yml:9:17: error: device '/dev/no-such-device' does not exist"));
  CHECK(has(text, "lab.clab.yml:11:16: error: healthcheck test starts with 'echo'"));
  CHECK(has(text, "lab.clab.yml:15:21: error: node 'a' waits for unknown node 'bb'"));
  CHECK(has(text, "did you mean 'b'?"));
  CHECK(has(text, "lab.clab.yml:23:21: error: node 'b' waits for node 'a' to be healthy, but 'a' "
                  "has no healthcheck"));
  CHECK(has(text, "lab.clab.yml:28:15: error: host port 8080/tcp is already published by node "
                  "'b'"));
  CHECK(has(text, "lab.clab.yml:29:21: error: node 'c' cannot share its own namespace"));
}

TEST_CASE("clab nodes: wait-for cycles and links of a shared namespace are refused") {
  TempDir dir;
  const auto text = errors(dir, R"(name: cyc
topology:
  defaults: {kind: linux, image: alpine:3}
  nodes:
    a:
      stages: {create: {wait-for: [{node: b}]}}
    b:
      stages: {create: {wait-for: [{node: a}]}}
    c:
      network-mode: container:a
  links:
    - endpoints: ["a:eth1", "c:eth1"]
)");
  CHECK(has(text, "error: wait-for makes a cycle: a -> b -> a"));
  CHECK(has(text, "lab.clab.yml:12:29: error: node 'c' has network-mode container:a: it has no "
                  "links of its own"));
}

TEST_CASE("clab nodes: a confined lab gets what cannot leave its confinement") {
  TempDir dir;
  LoadOptions confined;
  confined.confined = true;
  // A node of the lab's own namespace, unprivileged ports, health, DNS: fine.
  const auto t = load_ok(dir, R"(name: ok
mgmt: {external-access: true}
topology:
  defaults: {kind: linux, image: alpine:3}
  nodes:
    a:
      ports: ["8080:80"]
      healthcheck: {test: [CMD, "true"]}
      dns: {servers: [192.0.2.1]}
    b:
      network-mode: container:a
    c:
      network-mode: none
)",
                         confined);
  CHECK(t.find_node("b")->network_mode == "container:a");

  const auto text = errors(dir, R"(name: esc
topology:
  defaults: {kind: linux, image: alpine:3}
  nodes:
    a:
      ports: ["80:80"]
      network-mode: host
    b:
      network-mode: container:some-other-container
    c:
      devices: [/dev/null]
      cap-add: [SYS_ADMIN]
)",
                           confined);
  CHECK(has(text, "lab.clab.yml:6:15: error: port mapping '80:80' publishes privileged host port "
                  "80"));
  CHECK(has(text, "lab.clab.yml:7:21: error: network-mode 'host' puts the node in the host's "
                  "network namespace"));
  CHECK(has(text, "lab.clab.yml:9:21: error: network-mode 'container:some-other-container' names "
                  "no node of this lab"));
  CHECK(has(text, "error: 'devices' gives the node host devices"));
  CHECK(has(text, "error: 'cap-add' gives the node more capabilities"));
}

TEST_CASE("clab nodes: the corpus files of these options load") {
  const std::string corpus = std::string(LTB_SOURCE_DIR) + "/tests/data/containerlab/";
  for (const char *file :
       {"cmd-shell.clab.yml", "exec-failure.clab.yml", "network-mode.clab.yml",
        "healthcheck.clab.yml", "wait-for.clab.yml", "container-options.clab.yml", "ports.clab.yml",
        "mgmt-default-subnet.clab.yml"}) {
    CAPTURE(file);
    auto loaded = load_file(corpus + file);
    if (!loaded) {
      // /dev/net/tun is the one device the corpus names; a host without it says so here.
      FAIL(render(loaded.error(), false));
    }
  }
  auto defaulted = load_file(corpus + "mgmt-default-subnet.clab.yml");
  REQUIRE(defaulted);
  CHECK(defaulted->mgmt.ipv4_subnet == "172.20.20.0/24");
}

TEST_CASE("clab nodes: a startup-config given as a URL is refused at its place, with what to do") {
  TempDir dir;
  const auto text = errors(dir, R"(name: url
topology:
  nodes:
    a:
      kind: linux
      image: alpine:3
      startup-config: https://example.invalid/configs/a.cfg
    b:
      kind: linux
      image: alpine:3
      startup-config: scp://user@192.0.2.1:2222/config/b.json
)");
  CHECK(has(text, "lab.clab.yml:7:23: error: startup-config "
                  "'https://example.invalid/configs/a.cfg' is a URL; ltb reads startup configs "
                  "from files"));
  CHECK(has(text, "lab.clab.yml:11:23: error: startup-config "
                  "'scp://user@192.0.2.1:2222/config/b.json' is a URL"));
  CHECK(has(text, "ltb fetches nothing from the network when it deploys"));
}
