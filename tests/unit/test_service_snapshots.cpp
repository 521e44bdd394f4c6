// Snapshots (service/snapshots) on the fakes: every running node paused while its state is taken
// and committed, resumed afterwards also when a step fails, nothing listed or left of a failed
// or killed snapshot; the restore text and the recorded state put back on a restored lab.
#include "fakes/harness.hpp"
#include "service/snapshots.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace ltb;
using fakes::Harness;

namespace {

const char *k_lab_text = R"(name: sn
mgmt:
  ipv4-subnet: 172.31.9.0/24
topology:
  nodes:
    r1: {kind: linux, image: ltb/busybox:latest}
    r2: {kind: linux, image: ltb/busybox:latest}
    r3: {kind: linux, image: ltb/busybox:latest}
    sw: {kind: ovs-bridge}
  links:
    - endpoints: [r1:eth1, r2:eth1]
    - endpoints: [r2:eth2, r3:eth1]
    - endpoints: [r3:eth2, sw:p1]
)";

struct Fixture {
  Harness h;
  service::Context context{h.dir.file("state.db"), 5};
  service::Caller caller{0, "root", true, {}}; // root's labs: ids are their names
  service::CancelToken cancel;
  service::NullSink events;
  service::Session session{context, caller, cancel, events};

  topology::Topology load(const std::string &text) {
    auto loaded = topology::load_text(text, h.dir.file("sn.yaml"), h.dir.path.string(), {});
    REQUIRE_MESSAGE(loaded, "the test's topology loads");
    return *loaded;
  }

  void up(const topology::Topology &t) {
    auto report = h.up(t);
    REQUIRE(report);
    REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
  }

  Result<service::SnapshotCreateOutcome> create(const std::string &name) {
    auto b = h.backends();
    return service::create_snapshot(session, b, {"sn", name, false, 4}, 1'800'000'000);
  }

  std::map<std::string, std::string> states() {
    std::lock_guard lock(h.fakes.world.mutex);
    std::map<std::string, std::string> out;
    for (const auto &[name, c] : h.fakes.world.containers) {
      out[name] = c.state;
    }
    return out;
  }

  std::size_t committed() {
    std::lock_guard lock(h.fakes.world.mutex);
    return h.fakes.world.committed.size();
  }

  std::string ns_of(const std::string &node) {
    std::lock_guard lock(h.fakes.world.mutex);
    return fmt::format("pid:{}", h.fakes.world.containers.at(plan::container_name("sn", node)).pid);
  }
};

void all_running(Fixture &f) {
  for (const auto &entry : f.states()) {
    // Not a structured binding: doctest's macros capture the names.
    CHECK_MESSAGE(entry.second == "running", entry.first << " is " << entry.second);
  }
}

} // namespace

TEST_CASE("snapshot create: every node paused at the commits, resumed after, images labelled") {
  Fixture f;
  f.up(f.load(k_lab_text));
  const auto r1_ns = f.ns_of("r1");
  {
    std::lock_guard lock(f.h.fakes.world.mutex);
    f.h.fakes.world.containers.at("ltb-sn-r1").changes = 500;
    f.h.fakes.world.ifaces.at({r1_ns, "eth1"}).addresses = {"10.0.12.1/30"};
  }
  // At every commit, no node of the lab runs: the snapshot is one instant.
  std::vector<std::string> running_at_commit;
  f.h.fakes.world.faults.on_call = [&](int, const std::string &call) {
    if (call == "commit_container") {
      for (const auto &[name, state] : f.states()) {
        if (state == "running") {
          running_at_commit.push_back(name);
        }
      }
    }
  };
  auto made = f.create("before");
  f.h.fakes.world.faults.on_call = nullptr;
  REQUIRE_MESSAGE(made, (made ? "" : made.error().message));
  CHECK(running_at_commit.empty());
  CHECK(f.h.fakes.world.faults.calls("commit_container") == 3);
  CHECK(made->nodes == std::vector<std::string>{"r1", "r2", "r3"});
  CHECK(made->size_bytes == 500); // r1's changes; r2 and r3 wrote nothing
  all_running(f);

  auto listed = f.h.store->snapshots("sn");
  REQUIRE(listed);
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().status == state::k_snapshot_complete);
  CHECK(listed->front().size_bytes == 500);
  {
    std::lock_guard lock(f.h.fakes.world.mutex);
    const auto &image = f.h.fakes.world.committed.at(service::snapshot_image("sn", "before", "r2"));
    CHECK(image.labels.at(service::k_label_snapshot_lab) == "sn");
    CHECK(image.labels.at(service::k_label_snapshot) == "before");
    CHECK(image.labels.at(service::k_label_snapshot_node) == "r2");
  }
  auto full = f.h.store->snapshot("sn", "before");
  REQUIRE(full);
  auto state = nlohmann::json::parse((*full)->state);
  CHECK(state["interfaces"]["r1"][0]["name"] == "eth1");
  CHECK(state["interfaces"]["r1"][0]["addresses"][0] == "10.0.12.1/30");
  CHECK(state["links"].size() == 3);

  SUBCASE("a name that exists is refused and changes nothing") {
    const int pauses = f.h.fakes.world.faults.calls("pause_container");
    auto again = f.create("before");
    REQUIRE_FALSE(again);
    CHECK(again.error().message.find("has a snapshot named 'before' already") != std::string::npos);
    CHECK(f.h.fakes.world.faults.calls("pause_container") == pauses);
  }
  SUBCASE("rm frees the images and the record") {
    auto b = f.h.backends();
    REQUIRE(service::remove_snapshot(f.session, b, "sn", "before"));
    CHECK(f.committed() == 0);
    CHECK(f.h.store->snapshots("sn")->empty());
    CHECK(f.h.store->snapshot_artifacts("sn", "before")->empty());
  }
  SUBCASE("a snapshot outlives ltb down of its lab") {
    auto down = f.h.down("sn");
    REQUIRE(down);
    REQUIRE(down->ok());
    CHECK(f.h.store->snapshots("sn")->size() == 1);
    CHECK(f.committed() == 3);
  }
}

TEST_CASE("snapshot create: a failure in the middle resumes every node and lists nothing") {
  Fixture f;
  f.up(f.load(k_lab_text));
  SUBCASE("a commit fails") {
    f.h.fakes.world.faults.inject("commit_container", "", 1);
  }
  SUBCASE("a pause fails after others succeeded") {
    std::string r3;
    {
      std::lock_guard lock(f.h.fakes.world.mutex);
      r3 = f.h.fakes.world.containers.at("ltb-sn-r3").id;
    }
    f.h.fakes.world.faults.inject("pause_container", r3, -1);
  }
  SUBCASE("reading an interface fails while paused") {
    f.h.fakes.world.faults.inject("snapshot_link", "eth1", 1);
  }
  auto made = f.create("broken");
  REQUIRE_FALSE(made);
  CHECK(made.error().message.find("injected failure") != std::string::npos);
  all_running(f);
  CHECK(f.h.store->snapshots()->empty());
  CHECK(f.committed() == 0);
  CHECK_FALSE(std::filesystem::exists(service::snapshot_dir(f.context, "sn", "broken")));
}

TEST_CASE("snapshot create: refused before anything is paused") {
  Fixture f;
  f.up(f.load(k_lab_text));
  SUBCASE("not enough disk") {
    REQUIRE(f.h.store->set_meta("config.disk", "1000"));
    {
      std::lock_guard lock(f.h.fakes.world.mutex);
      f.h.fakes.world.containers.at("ltb-sn-r2").changes = 5000;
    }
    auto made = f.create("big");
    REQUIRE_FALSE(made);
    CHECK(made.error().message.find("not enough disk") != std::string::npos);
  }
  SUBCASE("a lab that does not run") {
    auto b = f.h.backends();
    auto made = service::create_snapshot(f.session, b, {"nolab", "x", false, 4}, 1);
    REQUIRE_FALSE(made);
    CHECK(made.error().message == "lab 'nolab' is not running: there is nothing to snapshot");
  }
  SUBCASE("an invalid name") {
    auto made = f.create("../x");
    REQUIRE_FALSE(made);
    CHECK(made.error().code == ExitCode::usage);
  }
  CHECK(f.h.fakes.world.faults.calls("pause_container") == 0);
  CHECK(f.h.store->snapshots()->empty());
  all_running(f);
}

TEST_CASE("snapshot recovery: a killed create's paused nodes resume and its half snapshot goes") {
  Fixture f;
  f.up(f.load(k_lab_text));
  // What a create killed between its commits leaves: a row 'creating', a recorded image made,
  // nodes paused.
  state::SnapshotRecord half;
  half.lab = "sn";
  half.name = "killed";
  REQUIRE(f.h.store->add_snapshot(half));
  const auto image = service::snapshot_image("sn", "killed", "r1");
  REQUIRE(f.h.store->add_snapshot_artifact({"sn", "killed", "r1", "image", image, 0}));
  auto b = f.h.backends();
  REQUIRE(b.docker->pause_container("ltb-sn-r1"));
  REQUIRE(b.docker->pause_container("ltb-sn-r2"));
  REQUIRE(b.docker->commit_container("ltb-sn-r1", image, {}));
  REQUIRE(f.committed() == 1);

  REQUIRE(service::recover_snapshots(f.session, b));
  all_running(f);
  CHECK(f.h.store->snapshots()->empty());
  CHECK(f.committed() == 0);
}

TEST_CASE("snapshot restore: the restore text and the recorded state put back") {
  Fixture f;
  auto t = f.load(k_lab_text);
  f.up(t);
  {
    const auto r1_ns = f.ns_of("r1");
    std::lock_guard lock(f.h.fakes.world.mutex);
    f.h.fakes.world.ifaces.at({r1_ns, "eth1"}).addresses = {"10.0.12.1/30", "10.99.0.1/32"};
  }
  REQUIRE(f.create("s1"));
  auto snapshot = f.h.store->snapshot("sn", "s1");
  REQUIRE(snapshot);
  REQUIRE(*snapshot);
  auto artifacts = f.h.store->snapshot_artifacts("sn", "s1");
  REQUIRE(artifacts);

  SUBCASE("as a new lab: renamed, no pinned subnet, the snapshot's images, MACs its own") {
    auto text = service::restore_text(**snapshot, *artifacts, "copy", "1");
    REQUIRE(text);
    auto copy = topology::load_text(*text, f.h.dir.file("copy.yaml"), f.h.dir.path.string(), {});
    REQUIRE(copy);
    CHECK(copy->name == "copy");
    CHECK(copy->mgmt.ipv4_subnet.empty());
    for (const auto &node : copy->nodes) {
      if (node.name != "sw") {
        CHECK(node.image == service::snapshot_image("sn", "s1", node.name));
      }
    }
  }
  SUBCASE("in place: the nodes come back from the images with the recorded addresses") {
    auto text = service::restore_text(**snapshot, *artifacts, "", "1");
    REQUIRE(text);
    auto restored = f.load(*text);
    CHECK(restored.name == "sn");
    CHECK(restored.mgmt.ipv4_subnet == "172.31.9.0/24");
    f.up(restored); // on the running lab: every container made again
    const auto r1_ns = f.ns_of("r1");
    {
      std::lock_guard lock(f.h.fakes.world.mutex);
      CHECK(f.h.fakes.world.containers.at("ltb-sn-r2")
                .spec.labels.at(service::k_label_snapshot_restored) == "s1@1");
      CHECK(f.h.fakes.world.containers.at("ltb-sn-r2").spec.image ==
            service::snapshot_image("sn", "s1", "r2"));
      CHECK(f.h.fakes.world.ifaces.at({r1_ns, "eth1"}).addresses.empty());
    }
    auto b = f.h.backends();
    REQUIRE(service::apply_recorded_state(f.session, b, **snapshot, "sn", true));
    std::lock_guard lock(f.h.fakes.world.mutex);
    CHECK(f.h.fakes.world.ifaces.at({r1_ns, "eth1"}).addresses ==
          std::vector<std::string>{"10.0.12.1/30", "10.99.0.1/32"});
  }
}

TEST_CASE("snapshot create: a router's running configuration is kept as its startup-config") {
  Fixture f;
  f.up(f.load(R"(name: sn
mgmt:
  ipv4-subnet: 172.31.9.0/24
topology:
  nodes:
    r1: {kind: frr}
    h1: {kind: linux, image: ltb/busybox:latest}
  links:
    - endpoints: [r1:eth1, h1:eth1]
)"));
  // What vtysh prints: a banner, then the configuration, with what was told at the prompt.
  std::vector<std::string> shown_by;
  f.h.fakes.world.exec_reply = [&](const std::string &container,
                                   const std::vector<std::string> &argv) {
    shown_by.push_back(container);
    CHECK(argv.front() == "vtysh");
    return runtime::ExecOutput{
        0,
        "Building configuration...\n\nCurrent configuration:\nfrr version 8.4.4\n!\ninterface lo\n"
        " ip address 10.255.0.1/32\nexit\n!\nend\n",
        ""};
  };

  SUBCASE("asked before the pause, kept without the banner, started from at a restore") {
    auto made = f.create("s1");
    REQUIRE_MESSAGE(made, (made ? "" : made.error().message));
    CHECK(shown_by == std::vector<std::string>{"ltb-sn-r1"}); // a linux node has no such command
    auto artifacts = f.h.store->snapshot_artifacts("sn", "s1");
    REQUIRE(artifacts);
    std::string kept;
    for (const auto &artifact : *artifacts) {
      if (artifact.type == "file") {
        CHECK(artifact.node == "r1");
        kept = artifact.ref;
      }
    }
    REQUIRE_FALSE(kept.empty());
    std::ifstream in(kept);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text.rfind("frr version 8.4.4\n", 0) == 0);
    CHECK(text.find(" ip address 10.255.0.1/32\n") != std::string::npos);

    auto snapshot = f.h.store->snapshot("sn", "s1");
    REQUIRE(snapshot);
    REQUIRE(*snapshot);
    auto restored_text = service::restore_text(**snapshot, *artifacts, "", "1");
    REQUIRE(restored_text);
    auto restored = f.load(*restored_text);
    for (const auto &node : restored.nodes) {
      if (node.name == "r1") {
        CHECK(node.startup_config_text == text);
      }
    }
  }
  SUBCASE("a router that cannot say fails the snapshot before anything is paused") {
    f.h.fakes.world.exec_reply = [](const std::string &, const std::vector<std::string> &) {
      return runtime::ExecOutput{1, "", "Exiting: failed to connect to any daemons.\n"};
    };
    auto made = f.create("s2");
    REQUIRE_FALSE(made);
    CHECK(made.error().message.find("running configuration of node 'r1'") != std::string::npos);
    CHECK(made.error().message.find("failed to connect to any daemons") != std::string::npos);
    CHECK(f.h.fakes.world.faults.calls("pause_container") == 0);
    auto listed = f.h.store->snapshots("sn");
    REQUIRE(listed);
    CHECK(listed->empty());
    all_running(f);
  }
}
