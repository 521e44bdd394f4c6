// apply/ on fakes (tests/unit/fakes/): plan -> apply -> record -> plan again is empty, for labs of
// containers, VMs, OVS segments and all of them; failures leave state consistent and the next run
// converges; `down` leaves nothing behind.
#include "access/install.hpp"
#include "access/keys.hpp"
#include "fakes/harness.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <iterator>

using namespace ltb;
using fakes::Harness;

namespace {

topology::Topology containers_lab() {
  auto t = fakes::make_lab("ct");
  t.nodes = {fakes::container_node("r1"), fakes::container_node("r2"), fakes::container_node("h1")};
  t.nodes[0].exec = {"ip addr add 10.0.0.1/30 dev eth1"};
  t.links = {fakes::make_link("r1", "eth1", "r2", "eth1"),
             fakes::make_link("r1", "eth2", "h1", "eth1")};
  return t;
}

topology::Topology vms_lab() {
  auto t = fakes::make_lab("vm");
  t.nodes = {fakes::vm_node("v1"), fakes::vm_node("v2"), fakes::container_node("c1")};
  t.links = {fakes::make_link("v1", "eth1", "v2", "eth1"),
             fakes::make_link("v1", "eth2", "c1", "eth1")};
  return t;
}

topology::Topology segments_lab() {
  auto t = fakes::make_lab("seg");
  t.nodes = {fakes::bridge_node("sw1"), fakes::container_node("c1"), fakes::container_node("c2"),
             fakes::bridge_node("sw2")};
  t.links = {fakes::make_link("c1", "eth1", "sw1", "p1"),
             fakes::make_link("c2", "eth1", "sw1", "p2"),
             fakes::make_link("c1", "eth2", "sw2", "p1")};
  return t;
}

topology::Topology mixed_lab() {
  auto t = fakes::make_lab("mix");
  t.nodes = {fakes::container_node("r1"), fakes::vm_node("v1"), fakes::bridge_node("sw"),
             fakes::container_node("h1"), fakes::vm_node("v2")};
  t.nodes[0].exec = {"true"};
  t.links = {
      fakes::make_link("r1", "eth1", "v1", "eth1"), fakes::make_link("r1", "eth2", "sw", "p1"),
      fakes::make_link("v1", "eth2", "sw", "p2"),   fakes::make_link("h1", "eth1", "sw", "p3"),
      fakes::make_link("v1", "eth3", "v2", "eth1"), fakes::make_link("r1", "eth3", "h1", "eth2")};
  return t;
}

/// up, then plan again is empty, the state is consistent; down leaves the fakes empty.
void round_trip(Harness &h, const topology::Topology &t) {
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  CHECK(fakes::problems(h, t.name, {t}) == "");
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));
  auto lab = h.store->lab(t.name);
  REQUIRE(lab);
  REQUIRE(*lab);
  CHECK((*lab)->status == state::RecordStatus::running);
  auto nodes = h.store->nodes(t.name);
  REQUIRE(nodes);
  CHECK(nodes->size() == t.nodes.size());
  for (const auto &node : *nodes) {
    CHECK(node.status == state::RecordStatus::running);
  }

  auto down = h.down(t.name);
  REQUIRE(down);
  INFO(fakes::errors_of(*down));
  CHECK(down->ok());
  CHECK_MESSAGE(h.fakes.world.empty(), h.fakes.world.describe());
  auto gone = h.store->lab(t.name);
  REQUIRE(gone);
  CHECK(!*gone);
}

} // namespace

TEST_CASE("apply on fakes: a lab of containers converges and goes") {
  Harness h;
  auto t = containers_lab();
  auto report = h.up(t);
  REQUIRE(report);
  CHECK(report->ok());
  {
    auto &w = h.fakes.world;
    std::lock_guard lock(w.mutex);
    CHECK(w.containers.size() == 3);
    CHECK(w.networks.count("ltb-ct") == 1);
    // two veth pairs, each end in its container, and the management network's bridge
    CHECK(w.ifaces.size() == 5);
    CHECK(w.containers.at(plan::container_name("ct", "r1")).execs ==
          std::vector<std::string>{"ip addr add 10.0.0.1/30 dev eth1"});
  }
  auto links = h.store->links("ct");
  REQUIRE(links);
  CHECK(links->size() == 2);
  for (const auto &link : *links) {
    CHECK(link.status == state::RecordStatus::up);
    CHECK(!link.a_runtime_id.empty());
  }
  round_trip(h, t);
}

TEST_CASE("apply on fakes: root's key is a bind, another login's an exec, the user's binds win") {
  Harness h;
  auto t = fakes::make_lab("keys");
  t.nodes = {fakes::container_node("r1"), fakes::container_node("r2"), fakes::container_node("r3"),
             fakes::container_node("r4")};
  t.nodes[0].username = "root";
  t.nodes[1].username = "admin";
  t.nodes[2].username = "root";
  t.nodes[2].binds = {"/srv/keys:/root/.ssh:ro"};
  t.nodes[3].username = "root";
  const auto key = access::ensure_lab_key(h.lab_dir(t.name), t.name);
  REQUIRE(key);
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  const auto &script = access::authorized_keys_script();
  auto &w = h.fakes.world;
  std::lock_guard lock(w.mutex);
  for (const std::string node : {"r1", "r4"}) {
    const auto &c = w.containers.at(plan::container_name(t.name, node));
    const auto source = h.lab_dir(t.name) + "/" + node + "/authorized_keys";
    CHECK(std::count(c.spec.binds.begin(), c.spec.binds.end(),
                     source + ":/root/.ssh/authorized_keys") == 1);
    CHECK(c.execs.empty()); // nothing run in the container for the key
    std::ifstream in(source);
    std::string line;
    CHECK(std::getline(in, line));
    CHECK(line == *key);
  }
  const auto &admin = w.containers.at(plan::container_name(t.name, "r2"));
  CHECK(admin.execs == std::vector<std::string>{script});
  CHECK(admin.spec.binds.empty());
  const auto &own = w.containers.at(plan::container_name(t.name, "r3"));
  CHECK(own.execs == std::vector<std::string>{script});
  CHECK(own.spec.binds == std::vector<std::string>{"/srv/keys:/root/.ssh:ro"});
}

TEST_CASE("apply on fakes: a startup-config is the node's own writable copy in the lab directory") {
  Harness h;
  auto t = fakes::make_lab("cfg");
  t.nodes = {fakes::container_node("r1"), fakes::container_node("r2"), fakes::container_node("r3")};
  const auto file = h.lab_dir(t.name) + "-r1.conf";
  std::filesystem::create_directories(h.lab_dir(t.name));
  std::ofstream(file) << "hostname r1\n";
  t.nodes[0].startup_config_path = "/etc/frr/frr.conf";
  t.nodes[0].startup_config = file;
  t.nodes[1].startup_config_path = "/etc/ltb/startup-config";
  t.nodes[1].startup_config_text = "ip addr add 10.0.0.2/30 dev eth1\n";
  t.nodes[2].startup_config_path =
      "/etc/frr/frr.conf"; // the kind's place, but nothing to put there
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  auto content = [](const std::string &path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto &w = h.fakes.world;
  std::lock_guard lock(w.mutex);
  const auto r1_copy = h.lab_dir(t.name) + "/r1/startup-config";
  CHECK(w.containers.at(plan::container_name(t.name, "r1")).spec.binds ==
        std::vector<std::string>{r1_copy + ":/etc/frr/frr.conf"});
  CHECK(content(r1_copy) == "hostname r1\n");
  const auto r2_copy = h.lab_dir(t.name) + "/r2/startup-config";
  CHECK(w.containers.at(plan::container_name(t.name, "r2")).spec.binds ==
        std::vector<std::string>{r2_copy + ":/etc/ltb/startup-config"});
  CHECK(content(r2_copy) == "ip addr add 10.0.0.2/30 dev eth1\n");
  CHECK(w.containers.at(plan::container_name(t.name, "r3")).spec.binds.empty());
}

TEST_CASE("apply on fakes: a missing startup-config file fails its node with the path") {
  Harness h;
  auto t = fakes::make_lab("nocfg");
  t.nodes = {fakes::container_node("r1")};
  t.nodes[0].startup_config_path = "/etc/frr/frr.conf";
  t.nodes[0].startup_config = h.lab_dir(t.name) + "-gone.conf";
  auto report = h.up(t);
  REQUIRE(report);
  CHECK(!report->ok());
  CHECK(fakes::errors_of(*report).find("gone.conf") != std::string::npos);
}

TEST_CASE("apply on fakes: a lab of VMs converges and goes") {
  Harness h;
  auto t = vms_lab();
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  {
    auto &w = h.fakes.world;
    std::lock_guard lock(w.mutex);
    CHECK(w.domains.size() == 2);
    CHECK(w.overlays.size() == 2);
    CHECK(w.dhcp.size() == 1);
    CHECK(w.redirects.size() == 4); // two links, both directions
  }
  auto accel = h.store->meta("vm.accel");
  REQUIRE(accel);
  CHECK(*accel == std::optional<std::string>("qemu")); // the fake has no KVM
  round_trip(h, t);
}

TEST_CASE("apply on fakes: a lab of OVS segments converges and goes") {
  Harness h;
  auto t = segments_lab();
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  {
    auto &w = h.fakes.world;
    std::lock_guard lock(w.mutex);
    REQUIRE(w.bridges.size() == 2);
    CHECK(w.bridges.at(plan::bridge_name("seg", "sw1")).ports.size() == 2);
    CHECK(w.bridges.at(plan::bridge_name("seg", "sw1")).datapath == net::Datapath::netdev);
  }
  // No kernel datapath in the fake, as on this machine: the fallback is noticed and remembered.
  CHECK(std::any_of(h.progress.notices.begin(), h.progress.notices.end(), [](const auto &n) {
    return n.find("userspace datapath") != std::string::npos;
  }));
  auto datapath = h.store->meta("ovs.datapath");
  REQUIRE(datapath);
  CHECK(*datapath == std::optional<std::string>("netdev"));
  round_trip(h, t);
}

TEST_CASE("apply on fakes: a mixed lab converges and goes") {
  Harness h;
  round_trip(h, mixed_lab());
}

TEST_CASE("apply on fakes: down removes the tap a bridge left when ovs-vswitchd was not running") {
  Harness h;
  auto t = mixed_lab();
  auto report = h.up(t);
  REQUIRE(report);
  REQUIRE(report->ok());
  const auto bridge = plan::bridge_name(t.name, "sw");
  {
    // The bridge left the database while ovs-vswitchd was stopped: its userspace datapath's
    // device stays in the kernel, and so does ltb's record of the bridge.
    std::lock_guard lock(h.fakes.world.mutex);
    h.fakes.world.bridges.erase(bridge);
    h.fakes.world.ifaces[{"", bridge}] = fakes::Iface{"tun", "", ""};
  }
  auto down = h.down(t.name);
  REQUIRE(down);
  INFO(fakes::errors_of(*down));
  CHECK(down->ok());
  std::lock_guard lock(h.fakes.world.mutex);
  CHECK_FALSE(h.fakes.world.ifaces.count({"", bridge}));
  CHECK(h.fakes.world.ifaces.empty());
}

TEST_CASE("apply on fakes: Docker not answering about an image is not called a missing image") {
  Harness h;
  auto t = mixed_lab();
  // dockerd stopped after the plan: the image check fails as Docker failed, not as "not
  // available" with the help to build the image.
  h.fakes.world.faults.inject("image_present");
  auto report = h.up(t);
  REQUIRE(report);
  CHECK_FALSE(report->ok());
  const auto errors = fakes::errors_of(*report);
  CHECK(errors.find("injected failure of image_present") != std::string::npos);
  CHECK(errors.find("is not available") == std::string::npos);
  CHECK(fakes::problems(h, t.name, {t}) == "");
  h.fakes.world.faults.clear();
  round_trip(h, t);
}

TEST_CASE("apply on fakes: a failed create leaves consistent state; the next up converges") {
  Harness h;
  auto t = mixed_lab();
  h.fakes.world.faults.inject("create_container", "-h1", 1);
  auto report = h.up(t);
  REQUIRE(report);
  CHECK(!report->ok());
  CHECK(report->failed == 1);
  CHECK(report->skipped > 0); // h1's links and what waits for them
  CHECK(fakes::errors_of(*report).find("injected failure of create_container") !=
        std::string::npos);
  CHECK(fakes::problems(h, t.name, {t}) == "");
  auto lab = h.store->lab(t.name);
  REQUIRE(lab);
  CHECK((*lab)->status == state::RecordStatus::failed);
  round_trip(h, t);
}

TEST_CASE("apply on fakes: a changed node is recreated and its links rewired") {
  Harness h;
  auto t = containers_lab();
  auto first = h.up(t);
  REQUIRE(first);
  REQUIRE(first->ok());
  std::string old_id;
  {
    std::lock_guard lock(h.fakes.world.mutex);
    old_id = h.fakes.world.containers.at(plan::container_name("ct", "r2")).id;
  }
  t.nodes[1].image = "ltb/frr:latest";
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  CHECK(!plan->empty());
  auto second = h.up(t);
  REQUIRE(second);
  INFO(fakes::errors_of(*second));
  CHECK(second->ok());
  {
    std::lock_guard lock(h.fakes.world.mutex);
    const auto &r2 = h.fakes.world.containers.at(plan::container_name("ct", "r2"));
    CHECK(r2.id != old_id);
    CHECK(r2.spec.image == "ltb/frr:latest");
    CHECK(h.fakes.world.ifaces.size() == 5); // and the management network's bridge
  }
  round_trip(h, t);
}

TEST_CASE("apply on fakes: a node removed from the file goes, with its links") {
  Harness h;
  auto t = mixed_lab();
  auto first = h.up(t);
  REQUIRE(first);
  REQUIRE(first->ok());
  auto smaller = t;
  smaller.nodes.pop_back(); // v2
  smaller.links.erase(smaller.links.begin() + 4);
  auto second = h.up(smaller);
  REQUIRE(second);
  INFO(fakes::errors_of(*second));
  CHECK(second->ok());
  CHECK(fakes::problems(h, t.name, {t, smaller}) == "");
  {
    std::lock_guard lock(h.fakes.world.mutex);
    CHECK(h.fakes.world.domains.size() == 1);
  }
  round_trip(h, smaller);
}
