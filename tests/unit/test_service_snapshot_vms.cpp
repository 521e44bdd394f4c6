// Snapshots of VMs (service/snapshots) on the fakes: a running VM is paused with the containers,
// its disk's active layer is kept under the snapshot's name and the VM goes on over a new layer,
// its memory is saved with --memory; a restore makes it again over the kept layer, from its
// memory in place; layers go when nothing records or builds on them any more.
#include "fakes/harness.hpp"
#include "service/snapshots.hpp"
#include "topology/diagnostics.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace ltb;
using fakes::Harness;

namespace {

const char *k_lab_text = R"(name: sv
mgmt:
  ipv4-subnet: 172.31.19.0/24
topology:
  nodes:
    vm1: {kind: vm, image: ./base.qcow2, kernel: ./vmlinux, initrd: ./initrd.img}
    c1: {kind: linux, image: ltb/busybox:latest}
  links:
    - endpoints: [vm1:eth1, c1:eth1]
)";

struct Fixture {
  Harness h;
  service::Context context{h.dir.file("state.db"), 5};
  service::Caller caller{0, "root", true, {}}; // root's labs: ids are their names
  service::CancelToken cancel;
  service::NullSink events;
  service::Session session{context, caller, cancel, events};

  Fixture() {
    for (const auto *file : {"base.qcow2", "vmlinux", "initrd.img"}) {
      std::ofstream(h.dir.file(file)) << "x";
    }
  }

  topology::Topology load(const std::string &text) {
    auto loaded = topology::load_text(text, h.dir.file("sv.yaml"), h.dir.path.string(), {});
    REQUIRE_MESSAGE(loaded, (loaded ? std::string() : topology::render(loaded.error(), false)));
    return *loaded;
  }

  void up(const topology::Topology &t) {
    auto report = h.up(t);
    REQUIRE(report);
    REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
  }

  Result<service::SnapshotCreateOutcome> create(const std::string &name, bool memory) {
    auto b = h.backends();
    return service::create_snapshot(session, b, {"sv", name, memory, 4}, 1'800'000'000);
  }

  fakes::Domain vm1() {
    std::lock_guard lock(h.fakes.world.mutex);
    return h.fakes.world.domains.at("ltb-sv-vm1");
  }

  std::string backing(const std::string &file) {
    std::lock_guard lock(h.fakes.world.mutex);
    auto it = h.fakes.world.backing.find(file);
    return it == h.fakes.world.backing.end() ? "" : it->second;
  }

  std::vector<std::string> layers() {
    auto b = h.backends();
    auto files = b.overlays->files_under(h.dir.file("disk-layers"));
    REQUIRE(files);
    return *files;
  }

  std::string disk() const { return h.dir.file("labs/sv/vm1/disk.qcow2"); }
};

} // namespace

TEST_CASE("snapshot of a VM: paused with the lab, its layer kept, running on a new one") {
  Fixture f;
  f.up(f.load(k_lab_text));
  REQUIRE(f.vm1().spec.disk == f.disk());
  const auto base = f.backing(f.disk());
  REQUIRE(!base.empty());

  // When the VM's disk and memory are taken, nothing of the lab runs: one instant.
  std::vector<std::string> running_at_snapshot;
  f.h.fakes.world.faults.on_call = [&](int, const std::string &call) {
    if (call != "snapshot_domain") {
      return;
    }
    std::lock_guard lock(f.h.fakes.world.mutex);
    for (const auto &[name, c] : f.h.fakes.world.containers) {
      if (c.state == "running") {
        running_at_snapshot.push_back(name);
      }
    }
    for (const auto &[name, d] : f.h.fakes.world.domains) {
      if (d.state == "running") {
        running_at_snapshot.push_back(name);
      }
    }
  };
  auto made = f.create("s1", true);
  f.h.fakes.world.faults.on_call = nullptr;
  REQUIRE_MESSAGE(made, (made ? "" : made.error().message));
  CHECK(running_at_snapshot.empty());
  CHECK(made->nodes == std::vector<std::string>{"c1", "vm1"});

  // The VM runs again, on a new layer over the kept one, which builds on the image.
  const auto vm = f.vm1();
  CHECK(vm.state == "running");
  CHECK(vm.spec.disk != f.disk());
  CHECK(std::filesystem::path(vm.spec.disk).parent_path() ==
        std::filesystem::path(f.disk()).parent_path());
  auto layers = f.layers();
  REQUIRE(layers.size() == 1);
  CHECK(layers.front().rfind(f.h.dir.file("disk-layers/sv/vm1."), 0) == 0);
  CHECK(f.backing(vm.spec.disk) == layers.front());
  CHECK(f.backing(layers.front()) == base);

  auto artifacts = f.h.store->snapshot_artifacts("sv", "s1");
  REQUIRE(artifacts);
  std::map<std::string, std::string> vm_artifacts;
  for (const auto &artifact : *artifacts) {
    if (artifact.node == "vm1") {
      vm_artifacts[artifact.type] = artifact.ref;
    }
  }
  CHECK(vm_artifacts["disk"] == layers.front());
  REQUIRE(!vm_artifacts["memory"].empty());
  {
    std::lock_guard lock(f.h.fakes.world.mutex);
    REQUIRE(f.h.fakes.world.saved.count(vm_artifacts["memory"]));
    CHECK(f.h.fakes.world.saved.at(vm_artifacts["memory"]).spec.disk == f.disk());
  }

  SUBCASE("restored in place: from its memory, on a new disk over the kept layer") {
    auto snapshot = f.h.store->snapshot("sv", "s1");
    REQUIRE(snapshot);
    REQUIRE(*snapshot);
    auto text = service::restore_text(**snapshot, *artifacts, "", "7");
    REQUIRE(text);
    f.h.vm_restores = service::vm_restores(**snapshot, *artifacts, true);
    f.up(f.load(*text));
    const auto restored = f.vm1();
    CHECK(restored.restored_from == vm_artifacts["memory"]);
    CHECK(restored.spec.disk == f.disk());
    CHECK(f.backing(f.disk()) == layers.front());
    CHECK(restored.spec.metadata.at(plan::k_label_lab) == "sv");
    // The layers the VM wrote to after the snapshot went with it; the kept one stays.
    CHECK(!f.backing(vm.spec.disk).size());
    CHECK(f.layers() == layers);

    // A second snapshot records the chain: its own layer, then the first one's.
    auto second = f.create("s2", false);
    REQUIRE_MESSAGE(second, (second ? "" : second.error().message));
    auto second_artifacts = f.h.store->snapshot_artifacts("sv", "s2");
    REQUIRE(second_artifacts);
    std::vector<std::string> disks;
    for (const auto &artifact : *second_artifacts) {
      if (artifact.node == "vm1" && artifact.type == "disk") {
        disks.push_back(artifact.ref);
      }
    }
    REQUIRE(disks.size() == 2);
    CHECK(disks[1] == layers.front());
    CHECK(f.backing(disks[0]) == layers.front());

    // rm of the second: its layer stays, as the running VM goes on over it.
    auto b = f.h.backends();
    REQUIRE(service::remove_snapshot(f.session, b, "sv", "s2"));
    CHECK(f.layers().size() == 2);
    // Down: the VM's layers go, and with them the second snapshot's; the first's is recorded.
    auto down = f.h.down("sv");
    REQUIRE(down);
    REQUIRE(down->ok());
    REQUIRE(service::collect_disk_layers(f.context, b));
    CHECK(f.layers() == layers);
    REQUIRE(service::remove_snapshot(f.session, b, "sv", "s1"));
    CHECK(f.layers().empty());
    std::lock_guard lock(f.h.fakes.world.mutex);
    CHECK(f.h.fakes.world.overlays.empty());
  }
  SUBCASE("as a new lab: booted on a new disk over the kept layer, memory not used") {
    auto snapshot = f.h.store->snapshot("sv", "s1");
    REQUIRE(snapshot);
    bool dropped = false;
    auto restores = service::vm_restores(**snapshot, *artifacts, false, &dropped);
    CHECK(dropped);
    REQUIRE(restores.count("vm1"));
    CHECK(restores["vm1"].memory_file.empty());
    CHECK(restores["vm1"].layer == layers.front());
  }
  SUBCASE("the snapshot outlives ltb down; rm then frees its layer") {
    auto down = f.h.down("sv");
    REQUIRE(down);
    REQUIRE(down->ok());
    auto b = f.h.backends();
    REQUIRE(service::collect_disk_layers(f.context, b));
    CHECK(f.layers() == layers);
    REQUIRE(service::remove_snapshot(f.session, b, "sv", "s1"));
    CHECK(f.layers().empty());
  }
}

TEST_CASE("snapshot of a VM: a failure resumes everything and keeps nothing") {
  Fixture f;
  f.up(f.load(k_lab_text));
  f.h.fakes.world.faults.inject("snapshot_domain", "ltb-sv-vm1", 1);
  auto made = f.create("s1", true);
  f.h.fakes.world.faults.clear();
  REQUIRE(!made);
  CHECK(made.error().message.find("vm1") != std::string::npos);
  CHECK(f.vm1().state == "running");
  CHECK(f.vm1().spec.disk == f.disk());
  CHECK(f.layers().empty());
  CHECK(f.h.store->snapshots()->empty());
  std::lock_guard lock(f.h.fakes.world.mutex);
  for (const auto &[name, c] : f.h.fakes.world.containers) {
    const std::string shown = name; // doctest's macros cannot capture a structured binding
    CHECK_MESSAGE(c.state == "running", shown);
  }
  // Only the VM's own disk is left in its folder.
  for (const auto &file : f.h.fakes.world.overlays) {
    CHECK(file == f.disk());
  }
}

TEST_CASE("snapshot of a stopped VM: its disk is kept, its name goes on a new layer") {
  Fixture f;
  auto t = f.load(k_lab_text);
  f.up(t);
  auto stopped = f.h.lifecycle("sv", {"vm1"}, true, &t);
  REQUIRE(stopped);
  REQUIRE(stopped->ok());
  const auto base = f.backing(f.disk());
  auto made = f.create("s1", true);
  REQUIRE_MESSAGE(made, (made ? "" : made.error().message));
  CHECK(f.vm1().state == "shutoff");
  CHECK(f.vm1().spec.disk == f.disk()); // its definition still names its disk
  auto layers = f.layers();
  REQUIRE(layers.size() == 1);
  CHECK(f.backing(f.disk()) == layers.front());
  CHECK(f.backing(layers.front()) == base);
  auto artifacts = f.h.store->snapshot_artifacts("sv", "s1");
  REQUIRE(artifacts);
  for (const auto &artifact : *artifacts) {
    CHECK_MESSAGE(artifact.type != "memory", "a VM that is off has no memory to keep");
  }
}

TEST_CASE("snapshot recovery: a killed create's suspended VMs run again") {
  Fixture f;
  f.up(f.load(k_lab_text));
  state::SnapshotRecord half;
  half.lab = "sv";
  half.name = "killed";
  REQUIRE(f.h.store->add_snapshot(half));
  auto b = f.h.backends();
  REQUIRE(b.vms->suspend("ltb-sv-vm1"));
  REQUIRE(service::recover_snapshots(f.session, b));
  CHECK(f.vm1().state == "running");
  CHECK(f.h.store->snapshots()->empty());
}
