// Backends against the real services of this machine: dockerd, Open vSwitch, netlink. Every object
// is named ltbtest-* and removed by an RAII guard, also when a check fails halfway.

#include "net/netlink.hpp"
#include "net/ovs.hpp"
#include "runtime/docker/docker.hpp"
#include "util/exec.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <doctest/doctest.h>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace ltb;

namespace {

const std::string k_image = "ltbtest/busybox:latest";
const std::map<std::string, std::string> k_labels{{"ltbtest", "backends"}};

/// Runs `undo` when it goes out of scope.
class Guard {
public:
  explicit Guard(std::function<void()> undo) : m_undo(std::move(undo)) {}
  Guard(const Guard &) = delete;
  Guard &operator=(const Guard &) = delete;
  ~Guard() {
    if (m_undo) {
      m_undo();
    }
  }

private:
  std::function<void()> m_undo;
};

std::unique_ptr<runtime::ContainerRuntime> docker() {
  auto connected = runtime::connect_docker();
  REQUIRE_MESSAGE(connected, (connected ? "" : connected.error().message));
  return std::move(*connected);
}

util::ExecResult must_run(const std::vector<std::string> &argv) {
  auto result = util::run(argv);
  REQUIRE_MESSAGE(result, (result ? "" : result.error().message));
  return *result;
}

// A tiny image from the host's static busybox, imported once and then kept as a cache (no
// registry is reachable here, and the test should not depend on other images).
void ensure_test_image(runtime::ContainerRuntime &rt) {
  auto present = rt.image_present(k_image);
  REQUIRE(present);
  if (*present) {
    return;
  }
  REQUIRE_MESSAGE(fs::exists("/bin/busybox"), "install busybox-static to build the test image");
  char pattern[] = "/tmp/ltbtest-image-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const fs::path dir = pattern;
  Guard remove_dir([&] { fs::remove_all(dir); });
  const auto bin = dir / "root" / "bin";
  fs::create_directories(bin);
  fs::create_directories(dir / "root" / "tmp");
  fs::copy_file("/bin/busybox", bin / "busybox");
  for (const char *applet : {"sh", "ip", "ping", "sleep", "cat", "echo", "ls", "true", "false"}) {
    fs::create_symlink("busybox", bin / applet);
  }
  const auto tar = (dir / "root.tar").string();
  auto packed = must_run({"tar", "-C", (dir / "root").string(), "-cf", tar, "."});
  REQUIRE_MESSAGE(packed.exit_code == 0, packed.err);
  auto imported =
      must_run({"docker", "import", "--change", R"(CMD ["/bin/sleep", "3600"])", tar, k_image});
  REQUIRE_MESSAGE(imported.exit_code == 0, imported.err);
}

// Removes leftovers of an earlier run that was killed before its guards ran.
void remove_leftovers(runtime::ContainerRuntime &rt) {
  auto containers = rt.list_containers(k_labels);
  REQUIRE(containers);
  for (const auto &container : *containers) {
    REQUIRE(rt.remove_container(container.id));
  }
  auto networks = rt.list_networks(k_labels);
  REQUIRE(networks);
  for (const auto &network : *networks) {
    REQUIRE(rt.remove_network(network.id));
  }
}

runtime::ContainerSpec busybox(const std::string &name, const std::string &network,
                               const std::string &ipv4) {
  runtime::ContainerSpec spec;
  spec.name = name;
  spec.hostname = name;
  spec.image = k_image;
  spec.cmd = {"/bin/sleep", "3600"};
  spec.labels = k_labels;
  spec.labels["ltbtest-node"] = name;
  spec.env = {{"LTBTEST", "1"}};
  spec.network = network;
  spec.ipv4 = ipv4;
  spec.memory_bytes = 64 * 1024 * 1024;
  spec.cpus = 0.5;
  return spec;
}

runtime::ExecOutput exec_ok(runtime::ContainerRuntime &rt, const std::string &id,
                            const std::vector<std::string> &argv) {
  auto result = rt.exec(id, argv);
  REQUIRE_MESSAGE(result, (result ? "" : result.error().message));
  CHECK_MESSAGE(result->exit_code == 0, argv.back() << ": " << result->out << result->err);
  return *result;
}

// Whether `ip link show NAME` in the container lists IFF_UP among the flags.
bool flags_up(const std::string &ip_link_output) {
  const auto open = ip_link_output.find('<');
  const auto close = ip_link_output.find('>', open);
  if (open == std::string::npos || close == std::string::npos) {
    return false;
  }
  const auto flags = "," + ip_link_output.substr(open + 1, close - open - 1) + ",";
  return flags.find(",UP,") != std::string::npos;
}

/// A running container with a guard that removes it.
struct Container {
  std::string id;
  runtime::ContainerInfo info;
};

Container start(runtime::ContainerRuntime &rt, const runtime::ContainerSpec &spec) {
  auto id = rt.create_container(spec);
  REQUIRE_MESSAGE(id, (id ? "" : id.error().message));
  auto started = rt.start_container(*id);
  REQUIRE_MESSAGE(started, (started ? "" : started.error().message));
  auto info = rt.inspect_container(*id);
  REQUIRE(info);
  return {*id, *info};
}

} // namespace

TEST_CASE("docker: version, and a socket that does not answer") {
  auto rt = docker();
  auto version = rt->server_version();
  REQUIRE(version);
  CHECK(version->find("(API 1.41)") != std::string::npos);

  auto none = runtime::connect_docker("/tmp/ltbtest-no-docker.sock");
  REQUIRE_FALSE(none);
  CHECK(none.error().message ==
        "cannot reach Docker at /tmp/ltbtest-no-docker.sock: No such file or directory");
  CHECK(none.error().help.find("make setup") != std::string::npos);
}

TEST_CASE("docker: a missing image is named in the error") {
  auto rt = docker();
  remove_leftovers(*rt);
  const std::string missing = "ltbtest/no-such-image:0";
  auto present = rt->image_present(missing);
  REQUIRE(present);
  CHECK_FALSE(*present);

  auto spec = busybox("ltbtest-noimage", "", "");
  spec.image = missing;
  Guard remove([&] { (void)rt->remove_container("ltbtest-noimage"); });
  auto created = rt->create_container(spec);
  REQUIRE_FALSE(created);
  CHECK(created.error().message.find("'ltbtest-noimage'") != std::string::npos);
  CHECK(created.error().message.find("'" + missing + "'") != std::string::npos);
  CHECK(created.error().help.find("make images") != std::string::npos);

  // No registry is reachable here, so a pull fails; it must say which image.
  std::vector<std::string> progress;
  auto pulled = rt->pull_image(missing, [&](const std::string &line) { progress.push_back(line); });
  REQUIRE_FALSE(pulled);
  CHECK(pulled.error().message.find("cannot pull image '" + missing + "'") == 0);
}

TEST_CASE("docker: containers, networks, inspect and exec") {
  auto rt = docker();
  ensure_test_image(*rt);
  remove_leftovers(*rt);

  runtime::NetworkSpec net;
  net.name = "ltbtest-net";
  net.subnet = "10.213.77.0/24";
  net.gateway = "10.213.77.1";
  net.labels = k_labels;
  net.bridge_name = "ltbtest-br";
  auto network_id = rt->create_network(net);
  REQUIRE_MESSAGE(network_id, (network_id ? "" : network_id.error().message));
  Guard remove_network([&] { CHECK(rt->remove_network(net.name)); });

  auto networks = rt->list_networks(k_labels);
  REQUIRE(networks);
  REQUIRE(networks->size() == 1);
  CHECK(networks->front().id == *network_id);
  CHECK(networks->front().subnet == "10.213.77.0/24");
  auto bridge_there = net::make_netlink()->link_exists("ltbtest-br");
  REQUIRE(bridge_there);
  CHECK(*bridge_there);

  auto duplicate = rt->create_network(net);
  REQUIRE_FALSE(duplicate);
  CHECK(duplicate.error().message.find("(HTTP 409)") != std::string::npos);

  Guard remove_container([&] { CHECK(rt->remove_container("ltbtest-c1")); });
  auto c1 = start(*rt, busybox("ltbtest-c1", net.name, "10.213.77.10"));
  CHECK(c1.info.name == "ltbtest-c1");
  CHECK(c1.info.state == "running");
  CHECK(c1.info.pid > 0);
  CHECK(c1.info.ipv4 == "10.213.77.10");
  CHECK(c1.info.labels.at("ltbtest-node") == "ltbtest-c1");
  CHECK(c1.info.image == k_image);

  auto listed = rt->list_containers({{"ltbtest-node", "ltbtest-c1"}});
  REQUIRE(listed);
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().id == c1.id);
  CHECK(listed->front().state == "running");

  SUBCASE("exec separates the streams and reports the exit code") {
    auto result = rt->exec(c1.id, {"sh", "-c", "echo out; echo err >&2; exit 3"});
    REQUIRE(result);
    CHECK(result->exit_code == 3);
    CHECK(result->out == "out\n");
    CHECK(result->err == "err\n");

    auto env = exec_ok(*rt, c1.id, {"sh", "-c", "echo $LTBTEST; hostname"});
    CHECK(env.out == "1\nltbtest-c1\n");

    auto big = exec_ok(*rt, c1.id,
                       {"sh", "-c",
                        "i=0; while [ $i -lt 3000 ]; do echo "
                        "0123456789012345678901234567890123456789; "
                        "i=$((i+1)); done"});
    CHECK(big.out.size() == 3000 * 41);

    auto missing = rt->exec(c1.id, {"ltbtest-no-such-program"});
    REQUIRE(missing);
    CHECK(missing->exit_code != 0);
  }

  SUBCASE("several threads share the client") {
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 15; ++i) {
          auto info = rt->inspect_container(c1.id);
          if (!info || info->pid != c1.info.pid) {
            ++failures;
          }
        }
      });
    }
    for (auto &thread : threads) {
      thread.join();
    }
    CHECK(failures == 0);
  }

  SUBCASE("a second container of the same name is refused") {
    auto again = rt->create_container(busybox("ltbtest-c1", net.name, "10.213.77.12"));
    REQUIRE_FALSE(again);
    CHECK(again.error().message.find("(HTTP 409)") != std::string::npos);
    CHECK(again.error().help.find("docker rm -f ltbtest-c1") != std::string::npos);
  }

  SUBCASE("removing is idempotent, and exec needs a running container") {
    REQUIRE(rt->remove_container(c1.id));
    CHECK(rt->remove_container(c1.id));
    auto gone = rt->inspect_container(c1.id);
    REQUIRE_FALSE(gone);
    CHECK(gone.error().message.find("(HTTP 404)") != std::string::npos);
    auto exec = rt->exec(c1.id, {"true"});
    CHECK_FALSE(exec);
  }
}

TEST_CASE("netlink: a veth between two containers is up in both and carries ping") {
  auto rt = docker();
  ensure_test_image(*rt);
  remove_leftovers(*rt);
  auto nl = net::make_netlink();

  Guard remove_a([&] { CHECK(rt->remove_container("ltbtest-va")); });
  Guard remove_b([&] { CHECK(rt->remove_container("ltbtest-vb")); });
  auto a = start(*rt, busybox("ltbtest-va", "", ""));
  auto b = start(*rt, busybox("ltbtest-vb", "", ""));
  REQUIRE(a.info.pid > 0);
  REQUIRE(b.info.pid > 0);
  auto ns_a = net::Netns::of_pid(a.info.pid);
  auto ns_b = net::Netns::of_pid(b.info.pid);
  REQUIRE(ns_a);
  REQUIRE(ns_b);

  auto created = nl->create_veth({"eth1", ns_a->fd(), "va"}, {"eth1", ns_b->fd(), "vb"}, 1400);
  REQUIRE_MESSAGE(created, (created ? "" : created.error().message));
  Guard remove_link([&] { CHECK(nl->delete_link("eth1", ns_a->fd())); });

  for (const auto *c : {&a, &b}) {
    auto shown = exec_ok(*rt, c->id, {"ip", "link", "show", "eth1"});
    CHECK_MESSAGE(flags_up(shown.out), shown.out);
    CHECK(shown.out.find("mtu 1400") != std::string::npos);
  }
  auto in_a = nl->link_exists("eth1", ns_a->fd());
  REQUIRE(in_a);
  CHECK(*in_a);
  auto in_host = nl->link_exists("eth1");
  REQUIRE(in_host);
  CHECK_FALSE(*in_host);

  exec_ok(*rt, a.id, {"ip", "addr", "add", "10.99.0.1/30", "dev", "eth1"});
  exec_ok(*rt, b.id, {"ip", "addr", "add", "10.99.0.2/30", "dev", "eth1"});
  exec_ok(*rt, a.id, {"ping", "-c", "2", "-W", "3", "10.99.0.2"});

  auto again = nl->create_veth({"eth1", ns_a->fd(), "va"}, {"eth1", ns_b->fd(), "vb"}, 0);
  REQUIRE_FALSE(again);
  CHECK(again.error().message == "cannot create veth va:eth1 <-> vb:eth1: File exists");

  REQUIRE(nl->delete_link("eth1", ns_a->fd()));
  auto peer_left = nl->link_exists("eth1", ns_b->fd());
  REQUIRE(peer_left);
  CHECK_FALSE(*peer_left); // deleting one end removes the pair
  CHECK(nl->delete_link("eth1", ns_a->fd()));
}

TEST_CASE("netlink: host-side veths, names and listing") {
  auto nl = net::make_netlink();
  auto pid_ns = net::Netns::of_pid(999999999);
  REQUIRE_FALSE(pid_ns);
  CHECK(pid_ns.error().message.find("999999999") != std::string::npos);

  auto too_long = nl->create_veth({"ltbtest-0123456789"}, {"ltbtest-b"}, 0);
  REQUIRE_FALSE(too_long);
  CHECK(too_long.error().message.find("ltbtest-0123456789") != std::string::npos);

  REQUIRE(nl->create_veth({"ltbtest-h1"}, {"ltbtest-h2"}, 0));
  Guard remove([&] { CHECK(nl->delete_link("ltbtest-h1")); });
  auto listed = nl->list_links("ltbtest-h");
  REQUIRE(listed);
  CHECK(*listed == std::vector<std::string>{"ltbtest-h1", "ltbtest-h2"});
  auto shown = must_run({"ip", "-o", "link", "show", "ltbtest-h2"});
  CHECK_MESSAGE(flags_up(shown.out), shown.out);
}

TEST_CASE("ovs: a netdev bridge with veth ports, found again by its external_ids") {
  auto ovs = net::make_ovs();
  auto nl = net::make_netlink();
  auto version = ovs->version();
  REQUIRE(version);
  CHECK(version->rfind("ovs-vsctl (Open vSwitch) ", 0) == 0);

  const std::map<std::string, std::string> ids{{"ltbtest", "ovs"}, {"ltb-lab", "ltbtest:lab"}};
  const std::string bridge = "ltbtest-ovs";
  Guard remove_bridge([&] { CHECK(ovs->del_bridge(bridge)); });
  auto added = ovs->add_bridge(bridge, net::Datapath::netdev, ids);
  REQUIRE_MESSAGE(added, (added ? "" : added.error().message));
  auto internal = must_run({"ip", "-o", "link", "show", bridge});
  CHECK_MESSAGE(flags_up(internal.out), internal.out);

  REQUIRE(nl->create_veth({"ltbtest-o1"}, {"ltbtest-o1p"}, 0));
  Guard remove_o1([&] { CHECK(nl->delete_link("ltbtest-o1")); });
  REQUIRE(nl->create_veth({"ltbtest-o2"}, {"ltbtest-o2p"}, 0));
  Guard remove_o2([&] { CHECK(nl->delete_link("ltbtest-o2")); });

  auto ports =
      ovs->add_ports(bridge, {{"ltbtest-o1", {{"ltb-owner", "r1:eth1"}}}, {"ltbtest-o2", {}}});
  REQUIRE_MESSAGE(ports, (ports ? "" : ports.error().message));
  // may-exist: adding again is fine
  REQUIRE(ovs->add_ports(bridge, {{"ltbtest-o2", {}}}));

  auto found = ovs->bridges({{"ltbtest", "ovs"}});
  REQUIRE(found);
  REQUIRE(found->size() == 1);
  const auto &b = found->front();
  CHECK(b.name == bridge);
  CHECK(b.datapath_type == "netdev");
  CHECK(b.external_ids == ids);
  CHECK(b.ports == std::vector<std::string>{"ltbtest-o1", "ltbtest-o2"});
  CHECK(b.port_external_ids.at("ltbtest-o1").at("ltb-owner") == "r1:eth1");

  auto all = ovs->bridges({});
  REQUIRE(all);
  CHECK(std::any_of(all->begin(), all->end(), [&](const auto &x) { return x.name == bridge; }));
  auto other = ovs->bridges({{"ltbtest", "none-such"}});
  REQUIRE(other);
  CHECK(other->empty());

  auto missing_port = ovs->add_ports(bridge, {{"ltbtest-nodev", {}}});
  REQUIRE_FALSE(missing_port);
  CHECK(missing_port.error().message.find("ltbtest-nodev") != std::string::npos);
  REQUIRE(ovs->del_ports(bridge, {"ltbtest-nodev"}));

  REQUIRE(ovs->del_ports(bridge, {"ltbtest-o1", "ltbtest-o2"}));
  CHECK(ovs->del_ports(bridge, {"ltbtest-o1"})); // if-exists
  found = ovs->bridges({{"ltbtest", "ovs"}});
  REQUIRE(found);
  REQUIRE(found->size() == 1);
  CHECK(found->front().ports.empty());

  REQUIRE(ovs->del_bridge(bridge));
  CHECK(ovs->del_bridge(bridge));
  found = ovs->bridges({{"ltbtest", "ovs"}});
  REQUIRE(found);
  CHECK(found->empty());
}

TEST_CASE("ovs: the system datapath either works or fails detectably, leaving nothing") {
  auto ovs = net::make_ovs();
  const std::string bridge = "ltbtest-sys";
  Guard remove_bridge([&] { CHECK(ovs->del_bridge(bridge)); });
  auto added = ovs->add_bridge(bridge, net::Datapath::system, {{"ltbtest", "sys"}});
  if (added) {
    MESSAGE("kernel datapath present on this host");
    return;
  }
  CHECK_MESSAGE(added.error().message.find(net::k_no_kernel_datapath) != std::string::npos,
                added.error().message);
  CHECK(added.error().message.find("'" + bridge + "'") != std::string::npos);
  auto found = ovs->bridges({{"ltbtest", "sys"}});
  REQUIRE(found);
  CHECK(found->empty());
}

TEST_CASE("ovs + docker: containers on a netdev bridge reach each other") {
  auto rt = docker();
  ensure_test_image(*rt);
  remove_leftovers(*rt);
  auto nl = net::make_netlink();
  auto ovs = net::make_ovs();

  const std::string bridge = "ltbtest-seg";
  Guard remove_bridge([&] { CHECK(ovs->del_bridge(bridge)); });
  auto added = ovs->add_bridge(bridge, net::Datapath::netdev, {{"ltbtest", "seg"}});
  REQUIRE_MESSAGE(added, (added ? "" : added.error().message));

  Guard remove_a([&] { CHECK(rt->remove_container("ltbtest-sa")); });
  Guard remove_b([&] { CHECK(rt->remove_container("ltbtest-sb")); });
  auto a = start(*rt, busybox("ltbtest-sa", "", ""));
  auto b = start(*rt, busybox("ltbtest-sb", "", ""));
  auto ns_a = net::Netns::of_pid(a.info.pid);
  auto ns_b = net::Netns::of_pid(b.info.pid);
  REQUIRE(ns_a);
  REQUIRE(ns_b);
  REQUIRE(nl->create_veth({"ltbtest-sa1"}, {"eth1", ns_a->fd(), "sa"}, 0));
  Guard remove_la([&] { CHECK(nl->delete_link("ltbtest-sa1")); });
  REQUIRE(nl->create_veth({"ltbtest-sb1"}, {"eth1", ns_b->fd(), "sb"}, 0));
  Guard remove_lb([&] { CHECK(nl->delete_link("ltbtest-sb1")); });
  REQUIRE(ovs->add_ports(bridge, {{"ltbtest-sa1", {}}, {"ltbtest-sb1", {}}}));

  exec_ok(*rt, a.id, {"ip", "addr", "add", "10.99.1.1/24", "dev", "eth1"});
  exec_ok(*rt, b.id, {"ip", "addr", "add", "10.99.1.2/24", "dev", "eth1"});
  exec_ok(*rt, a.id, {"ping", "-c", "2", "-W", "3", "10.99.1.2"});
}
