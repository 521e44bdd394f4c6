// Tests of lib/service/catalog (and the device details of service/inspect): the catalog built
// from the kind registry, a fake Docker's images, a temporary VM images directory and a
// temporary state file; versions from labels and image.json, missing images, a Docker that does
// not answer, the labs and groups that use a kind or image, `catalog show`'s lookup, the running
// versions nodes report, and the JSON of `ltb catalog --format json`.

#include "cli/catalog_json.hpp"
#include "fakes/fakes.hpp"
#include "service/catalog.hpp"
#include "service/inspect.hpp"
#include "testutil.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <doctest/doctest.h>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

using ltb::test::TempDir;
namespace service = ltb::service;
namespace state = ltb::state;

namespace {

/// Sets an environment variable for the life of the object, then puts back what was there.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(std::string variable, const std::string &value) : name(std::move(variable)) {
    if (const char *current = std::getenv(name.c_str())) {
      old = current;
    }
    setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old) {
      setenv(name.c_str(), old->c_str(), 1);
    } else {
      unsetenv(name.c_str());
    }
  }
  ScopedEnv(const ScopedEnv &) = delete;
  ScopedEnv &operator=(const ScopedEnv &) = delete;
};

bool contains(const std::vector<std::string> &list, const std::string &item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

/// A state file with two labs, a VM images directory with two images (one with a version, one
/// whose image.json is broken) and a fake Docker with ltb's two images, labelled.
struct Fixture {
  TempDir tmp;
  service::Context context{tmp.file("state.db"), 5};
  service::Caller caller{1000, "alice", true, {}};
  service::CancelToken cancel;
  service::NullSink events;
  service::Session session{context, caller, cancel, events};
  ltb::fakes::World world;
  ltb::fakes::FakeDocker docker{world};
  std::unique_ptr<state::Store> store;
  std::string images_dir = tmp.file("images");
  ScopedEnv env{"LTB_IMAGES", images_dir};

  Fixture() {
    tmp.write("images/ltb-vm/image.json",
              R"({"kernel": "vmlinux", "initrd": "initrd.img", "version": "6.1.0-57-amd64"})");
    tmp.write("images/ltb-vm/vmlinux", "kernel");
    tmp.write("images/ltb-vm/initrd.img", "initrd");
    tmp.write("images/broken/image.json", "{not json");
    world.image_labels["ltb/frr:latest"] = {{"ltb.recipe", "aa"},
                                            {"org.opencontainers.image.version", "8.4.4"}};
    world.image_labels["ltb/busybox:latest"] = {{"ltb.recipe", "bb"},
                                                {"org.label-schema.version", "1.35.0"}};
    // A snapshot's image, committed on top of ltb/frr: it inherits the recipe's label.
    world.image_labels["ltb-snapshot:web.s1.r1-0123abcd"] = {
        {"ltb.recipe", "aa"}, {"ltb.snapshot", "s1"}, {"ltb.snapshot.lab", "web"}};
    world.images.insert("ltb-snapshot:web.s1.r1-0123abcd");
    auto opened = state::Store::open(context.state_path);
    REQUIRE(opened);
    store = std::move(*opened);
    // web: a router in group routers, a busybox host, a bridge, a VM on ltb-vm.
    add_lab("web", R"(name: web
topology:
  groups:
    routers:
      kind: frr
      labels: {role: core}
  nodes:
    r1: {group: routers}
    h1: {kind: linux, image: ltb/busybox, labels: {site: a}}
    sw: {kind: ovs-bridge}
    v1: {kind: vm}
)",
            {{"r1", "frr", "ltb/frr:latest", state::RecordStatus::running},
             {"h1", "linux", "ltb/busybox", state::RecordStatus::running},
             {"sw", "ovs-bridge", "", state::RecordStatus::running},
             {"v1", "vm", "", state::RecordStatus::stopped}});
    // old: a lab whose image Docker no longer has, with no recorded topology.
    add_lab("old", "", {{"a", "linux", "alpine:3", state::RecordStatus::running}});
  }

  struct NodeRow {
    std::string name, kind, image;
    state::RecordStatus status;
  };
  void add_lab(const std::string &name, const std::string &text, std::vector<NodeRow> nodes) {
    state::LabRecord lab;
    lab.name = name;
    lab.owner = "alice";
    lab.status = state::RecordStatus::running;
    lab.topology_text = text;
    lab.topology_file = text.empty() ? "" : tmp.file(name + ".yaml");
    REQUIRE(store->put_lab(lab));
    for (const auto &row : nodes) {
      state::NodeRecord n;
      n.lab = name;
      n.name = row.name;
      n.kind = row.kind;
      n.image = row.image;
      n.status = row.status;
      n.mgmt_ipv4 = row.kind == "ovs-bridge" ? "" : "172.20.0.9";
      n.runtime_id = row.kind == "ovs-bridge" ? "lbswitch" : "";
      REQUIRE(store->put_node(n));
    }
  }

  service::CatalogSources sources(bool with_docker = true) {
    service::CatalogSources s;
    s.store = store.get();
    s.docker = with_docker ? &docker : nullptr;
    s.docker_problem = with_docker ? "" : "cannot connect to /var/run/docker.sock";
    s.vm_images_dir = images_dir;
    return s;
  }
};

const service::CatalogKind &kind_of(const service::Catalog &catalog, const std::string &name) {
  for (const auto &kind : catalog.kinds) {
    if (kind.kind->name == name) {
      return kind;
    }
  }
  FAIL("no kind " << name);
  throw std::logic_error("unreachable");
}

} // namespace

TEST_CASE("service catalog: kinds from the registry, images with versions from labels") {
  Fixture f;
  auto catalog = service::build_catalog(f.session, f.sources());
  REQUIRE(catalog);
  REQUIRE(catalog->kinds.size() == ltb::topology::kinds().size());
  CHECK(catalog->docker_problem.empty());

  const auto *frr = catalog->find_image("ltb/frr");
  REQUIRE(frr != nullptr);
  CHECK(frr->name == "ltb/frr:latest");
  CHECK(frr->state == service::ImageState::present);
  CHECK(frr->version == "8.4.4");
  CHECK(frr->version_from == "label org.opencontainers.image.version");
  CHECK(frr->kinds == std::vector<std::string>{"frr"});
  CHECK(frr->labs == std::vector<std::string>{"web"});
  CHECK(frr->groups == std::vector<std::string>{"routers"});
  CHECK(contains(frr->sources, "default of kind frr"));

  CHECK(catalog->find_image("ltb-snapshot:web.s1.r1-0123abcd") == nullptr); // not deployable

  const auto *busybox = catalog->find_image("ltb/busybox:latest");
  REQUIRE(busybox != nullptr);
  CHECK(busybox->version == "1.35.0"); // the older label-schema label
  CHECK(busybox->version_from == "label org.label-schema.version");
  CHECK(busybox->kinds == std::vector<std::string>{"linux"});
  CHECK(contains(busybox->sources, "built by `make images`"));

  // An image a lab records that Docker does not have: listed, not built, not an error.
  const auto *alpine = catalog->find_image("alpine:3");
  REQUIRE(alpine != nullptr);
  CHECK(alpine->state == service::ImageState::missing);
  CHECK(alpine->version.empty());
  CHECK(alpine->problem.find("make images") != std::string::npos);
  CHECK(alpine->labs == std::vector<std::string>{"old"});

  // VM images: version from image.json; a broken one is listed as invalid; the VM of lab web
  // uses ltb-vm (its kernel lies in the image's directory).
  const auto *vm = catalog->find_image("ltb-vm");
  REQUIRE(vm != nullptr);
  CHECK(vm->runtime == ltb::topology::Runtime::vm);
  CHECK(vm->state == service::ImageState::present);
  CHECK(vm->version == "6.1.0-57-amd64");
  CHECK(vm->version_from == "image.json");
  CHECK(vm->labs == std::vector<std::string>{"web"});
  const auto *broken = catalog->find_image("broken");
  REQUIRE(broken != nullptr);
  CHECK(broken->state == service::ImageState::invalid);
  CHECK(broken->problem.find("image.json") != std::string::npos);

  // Which labs use each kind; the kind's default image first.
  CHECK(kind_of(*catalog, "frr").labs == std::vector<std::string>{"web"});
  CHECK(kind_of(*catalog, "frr").images.front() == "ltb/frr:latest");
  CHECK(kind_of(*catalog, "linux").labs == std::vector<std::string>{"old", "web"});
  CHECK(kind_of(*catalog, "ovs-bridge").labs == std::vector<std::string>{"web"});
  CHECK(kind_of(*catalog, "vm").images.front() == "ltb-vm");

  // Rows: one per kind and image; a bridge has one row without an image; linux on busybox is
  // used by web, linux on alpine by old.
  int bridge_rows = 0;
  for (const auto &row : catalog->rows) {
    const std::string kind(row.kind->name);
    const std::string image = row.image ? catalog->images[*row.image].name : "";
    if (kind == "ovs-bridge") {
      ++bridge_rows;
      CHECK(image.empty());
      CHECK(row.demand.cpus == 0);
    }
    if (kind == "linux" && image == "ltb/busybox:latest") {
      CHECK(row.labs == std::vector<std::string>{"web"});
      CHECK(row.demand.cpus == doctest::Approx(0.5)); // `ltb config`'s container-cpus
      CHECK(row.demand.memory_bytes == 256LL << 20);
    }
    if (kind == "linux" && image == "alpine:3") {
      CHECK(row.labs == std::vector<std::string>{"old"});
    }
    if (kind == "vm" && image == "ltb-vm") {
      CHECK(row.demand.cpus == 1);
      CHECK(row.demand.disk_bytes == 0); // boots a kernel: no base disk
    }
  }
  CHECK(bridge_rows == 1);

  // Group and labels of each recorded node, from the recorded topology.
  const auto &r1 = catalog->nodes.at({"web", "r1"});
  CHECK(r1.topology);
  CHECK(r1.group == "routers");
  CHECK(r1.labels.at("role") == "core");
  CHECK(catalog->nodes.at({"web", "h1"}).labels.at("site") == "a");
  CHECK_FALSE(catalog->nodes.at({"old", "a"}).topology);
}

TEST_CASE("service catalog: without Docker its images are unknown, the rest is there") {
  Fixture f;
  auto catalog = service::build_catalog(f.session, f.sources(false));
  REQUIRE(catalog);
  CHECK(catalog->docker_problem.find("docker.sock") != std::string::npos);
  const auto *frr = catalog->find_image("ltb/frr:latest");
  REQUIRE(frr != nullptr);
  CHECK(frr->state == service::ImageState::unknown);
  CHECK(frr->problem.find("Docker not reachable") != std::string::npos);
  // The images only Docker's listing names (busybox) are not known; VM images still are.
  CHECK(catalog->find_image("ltb/busybox:latest") != nullptr); // recorded by lab web
  CHECK(catalog->find_image("ltb-vm")->version == "6.1.0-57-amd64");

  // An image Docker fails to look up is unknown too, with Docker's words.
  f.world.faults.inject("inspect_image", "ltb/frr");
  auto failing = service::build_catalog(f.session, f.sources());
  REQUIRE(failing);
  CHECK(failing->find_image("ltb/frr:latest")->state == service::ImageState::unknown);
  CHECK(failing->find_image("ltb/busybox:latest")->state == service::ImageState::present);
}

TEST_CASE("service catalog: an image not built is listed as such") {
  Fixture f;
  f.world.images.erase("ltb/frr:latest");
  auto catalog = service::build_catalog(f.session, f.sources());
  REQUIRE(catalog);
  const auto *frr = catalog->find_image("ltb/frr:latest");
  REQUIRE(frr != nullptr); // the default of kind frr
  CHECK(frr->state == service::ImageState::missing);
  CHECK(service::to_string(frr->state) == "not built");
}

TEST_CASE("service catalog: show finds a kind or an image, else suggests a name") {
  Fixture f;
  auto catalog = service::build_catalog(f.session, f.sources());
  REQUIRE(catalog);
  auto kind = service::find_in_catalog(*catalog, "frr");
  REQUIRE(kind);
  CHECK(kind->kind.has_value());
  CHECK_FALSE(kind->image.has_value());
  auto image = service::find_in_catalog(*catalog, "ltb/busybox");
  REQUIRE(image);
  CHECK(image->catalog.images[*image->image].name == "ltb/busybox:latest");
  CHECK(service::find_in_catalog(*catalog, "ltb-vm"));
  auto unknown = service::find_in_catalog(*catalog, "ltb/frrr");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message == "no kind or image named 'ltb/frrr' in the catalog");
  CHECK(unknown.error().help == "did you mean 'ltb/frr'?");
  auto far = service::find_in_catalog(*catalog, "cisco-ios");
  REQUIRE_FALSE(far);
  CHECK(far.error().help.find("ltb catalog") != std::string::npos);
}

TEST_CASE("service catalog: image references and version labels") {
  CHECK(service::image_reference("ltb/frr") == "ltb/frr:latest");
  CHECK(service::image_reference("ltb/frr:8") == "ltb/frr:8");
  CHECK(service::image_reference("localhost:5000/frr") == "localhost:5000/frr:latest");
  CHECK(service::image_reference("frr@sha256:abc") == "frr@sha256:abc");
  CHECK_FALSE(service::image_version({{"ltb.recipe", "x"}}));
  auto both = service::image_version(
      {{"org.label-schema.version", "1"}, {"org.opencontainers.image.version", "2"}});
  REQUIRE(both);
  CHECK(both->first == "2");
}

TEST_CASE("service catalog: running versions asked of running nodes at once") {
  std::vector<state::NodeRecord> nodes(5);
  const std::vector<std::pair<std::string, std::string>> names{
      {"r1", "frr"}, {"h1", "linux"}, {"h2", "linux"}, {"sw", "ovs-bridge"}, {"v1", "vm"}};
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].lab = "web";
    nodes[i].name = names[i].first;
    nodes[i].kind = names[i].second;
    nodes[i].status = state::RecordStatus::running;
  }
  nodes[4].status = state::RecordStatus::stopped;
  std::vector<std::string> asked;
  std::mutex mutex;
  const service::NodeCommand run =
      [&](const state::NodeRecord &node,
          const std::vector<std::string> &argv) -> ltb::Result<std::string> {
    {
      std::lock_guard lock(mutex);
      asked.push_back(node.name + ": " + argv.front());
    }
    if (node.name == "r1") {
      return std::string("\nFRRouting 8.4.4 (r1) on Linux(6.1.0-57-amd64).\nCopyright 1996-2005\n");
    }
    if (node.name == "h1") {
      return std::string("NAME=\"ltb busybox\"\nPRETTY_NAME=\"ltb busybox (BusyBox 1.35.0)\"\n");
    }
    return ltb::fail("container web-h2 is not running (HTTP 409)");
  };
  const auto versions = service::running_versions(nodes, run);
  REQUIRE(versions.size() == 5);
  CHECK(versions[0].version == "FRRouting 8.4.4");
  CHECK(versions[1].version == "ltb busybox (BusyBox 1.35.0)");
  CHECK(versions[2].version.empty());
  CHECK(versions[2].note.find("not running (HTTP 409)") != std::string::npos);
  CHECK(versions[3].note == "not reported by kind ovs-bridge");
  CHECK(versions[4].note == "stopped");
  std::sort(asked.begin(), asked.end());
  CHECK(asked == std::vector<std::string>{"h1: cat", "h2: cat", "r1: vtysh"});
}

TEST_CASE("service catalog: running versions are asked in parallel") {
  // Each question waits until another one is out too: asked one after the other, none would
  // see a second (they give up after 10 s so that such a failure does not hang).
  std::vector<state::NodeRecord> nodes(4);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].name = "h" + std::to_string(i);
    nodes[i].kind = "linux";
    nodes[i].status = state::RecordStatus::running;
  }
  std::mutex mutex;
  std::condition_variable changed;
  int out = 0;
  int together = 0;
  const service::NodeCommand run =
      [&](const state::NodeRecord &, const std::vector<std::string> &) -> ltb::Result<std::string> {
    std::unique_lock lock(mutex);
    ++out;
    changed.notify_all();
    if (changed.wait_for(lock, std::chrono::seconds(10), [&] { return out >= 2; })) {
      ++together;
    }
    return std::string("PRETTY_NAME=x\n");
  };
  const auto versions = service::running_versions(nodes, run);
  CHECK(versions[3].version == "x");
  CHECK(together == 4);
}

TEST_CASE("service inspect: each node's device details") {
  Fixture f;
  service::DeviceSources devices;
  devices.catalog = f.sources();
  devices.run = [](const state::NodeRecord &node,
                   const std::vector<std::string> &) -> ltb::Result<std::string> {
    return node.kind == "frr" ? std::string("FRRouting 8.4.4 (r1) on Linux(6.1).\n")
                              : std::string("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n");
  };
  auto details = service::inspect_lab(f.session, "web", devices);
  REQUIRE(details);
  std::map<std::string, const service::NodeDetails *> by_name;
  for (const auto &node : details->nodes) {
    by_name[node.record.name] = &node;
  }
  const auto &r1 = by_name.at("r1")->device;
  CHECK(r1.group == "routers");
  CHECK(r1.labels.at("role") == "core");
  REQUIRE(r1.image);
  CHECK(r1.image->name == "ltb/frr:latest");
  CHECK(r1.image->version == "8.4.4");
  CHECK(r1.running.version == "FRRouting 8.4.4");
  const auto &h1 = by_name.at("h1")->device;
  CHECK(h1.image->version == "1.35.0");
  CHECK(h1.running.version == "Debian GNU/Linux 12 (bookworm)");
  const auto &v1 = by_name.at("v1")->device;
  REQUIRE(v1.image);
  CHECK(v1.image->name == "ltb-vm");
  CHECK(v1.running.note == "stopped");
  CHECK_FALSE(by_name.at("sw")->device.image);
}

TEST_CASE("cli catalog: the JSON of ltb catalog --format json") {
  Fixture f;
  auto catalog = service::build_catalog(f.session, f.sources());
  REQUIRE(catalog);
  const auto json = ltb::cli::catalog_json(*catalog);
  REQUIRE(json["kinds"].is_array());
  REQUIRE(json["images"].is_array());
  REQUIRE(json["rows"].is_array());
  CHECK(json["docker"]["reachable"] == true);
  CHECK(json["docker"]["problem"].is_null());
  const auto &frr_kind = json["kinds"][1];
  CHECK(frr_kind["name"] == "frr");
  CHECK(frr_kind["runtime"] == "container");
  CHECK(frr_kind["default_image"] == "ltb/frr:latest");
  CHECK(frr_kind["login"]["user"] == "root");
  CHECK(frr_kind["login"]["password"] == "ltb");
  CHECK(frr_kind["defaults"]["cpus"] == 0.5);
  CHECK(frr_kind["version_command"] == nlohmann::json::array({"vtysh", "-c", "show version"}));
  CHECK(frr_kind["labs"] == nlohmann::json::array({"web"}));
  CHECK(frr_kind["groups"] == nlohmann::json::array({"routers"}));
  bool seen_frr = false;
  for (const auto &image : json["images"]) {
    CHECK(image.contains("name"));
    CHECK(image.contains("state"));
    CHECK(image.contains("version"));
    if (image["name"] == "ltb/frr:latest") {
      seen_frr = true;
      CHECK(image["version"] == "8.4.4");
      CHECK(image["state"] == "present");
      CHECK(image["labels"]["ltb.recipe"] == "aa");
    }
    if (image["name"] == "alpine:3") {
      CHECK(image["state"] == "not built");
      CHECK(image["version"].is_null());
    }
  }
  CHECK(seen_frr);
  for (const auto &row : json["rows"]) {
    CHECK(row["defaults"].contains("memory_bytes"));
  }
  auto entry = service::find_in_catalog(*catalog, "ltb-vm");
  REQUIRE(entry);
  const auto shown = ltb::cli::catalog_entry_json(*entry);
  CHECK_FALSE(shown.contains("kind"));
  CHECK(shown["image"]["version"] == "6.1.0-57-amd64");
  CHECK(shown["image"]["runtime"] == "vm");
}
