// Snapshot export and import (service/snapshot_transfer) on the fakes: the archive's manifest and
// members, a round trip under the same and another lab name (images named and labelled for the
// importing lab, files in its folder, VM disk layers pointed at each other and at the base
// image), and the refusals, each of which records and leaves nothing.
#include "fakes/harness.hpp"
#include "raw_tar.hpp"
#include "service/snapshot_transfer.hpp"
#include "service/snapshots.hpp"
#include "topology/loader.hpp"
#include "util/archive.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace ltb;
using fakes::Harness;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const char *k_lab_text = R"(name: sn
mgmt:
  ipv4-subnet: 172.31.9.0/24
topology:
  nodes:
    r1: {kind: frr}
    h1: {kind: linux, image: ltb/busybox:latest}
  links:
    - endpoints: [r1:eth1, h1:eth1]
)";

const char *k_frr_config = "frr version 8.4.4\n!\ninterface lo\n ip address 10.255.0.1/32\nexit\n";

struct Fixture {
  Harness h;
  service::Context context{h.dir.file("state.db"), 5};
  service::Caller caller{0, "root", true, {}}; // root's labs: ids are their names
  service::CancelToken cancel;
  service::NullSink events;
  service::Session session{context, caller, cancel, events};

  Fixture() {
    auto loaded = topology::load_text(k_lab_text, h.dir.file("sn.yaml"), h.dir.path.string(), {});
    REQUIRE(loaded);
    auto report = h.up(*loaded);
    REQUIRE(report);
    REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
    h.fakes.world.exec_reply = [](const std::string &, const std::vector<std::string> &) {
      return runtime::ExecOutput{0, k_frr_config, ""};
    };
    {
      std::lock_guard lock(h.fakes.world.mutex);
      h.fakes.world.containers.at("ltb-sn-h1").changes = 700;
    }
    auto b = h.backends();
    auto made = service::create_snapshot(session, b, {"sn", "s1", false, 4}, 1'800'000'000);
    REQUIRE_MESSAGE(made, (made ? "" : made.error().message));
  }

  Result<service::SnapshotExportOutcome> export_to(const std::string &file) {
    auto b = h.backends();
    return service::export_snapshot(session, b, {"sn", "s1", file});
  }

  Result<service::SnapshotImportOutcome> import(const std::string &file,
                                                const std::string &lab = {}) {
    auto b = h.backends();
    return service::import_snapshot(session, b, {file, lab}, 1'800'000'100);
  }

  std::string exported() {
    const auto file = h.dir.file("s1.tar");
    auto done = export_to(file);
    REQUIRE_MESSAGE(done, (done ? "" : done.error().message));
    return file;
  }

  std::size_t images() {
    std::lock_guard lock(h.fakes.world.mutex);
    return h.fakes.world.committed.size();
  }
};

json manifest_of(const std::string &file) {
  auto entries = util::read_tar(file);
  REQUIRE(entries);
  for (const auto &entry : *entries) {
    if (entry.name == service::k_snapshot_manifest) {
      return json::parse(entry.data);
    }
  }
  FAIL("the archive has no manifest");
  return {};
}

/// Writes `entries` as a tar at `file` (an archive made by hand or altered).
void write_archive(const std::string &file, const std::vector<util::TarEntry> &entries) {
  REQUIRE(util::write_tar(file, entries));
}

/// The entries of `file`, with `manifest` in place of its manifest.
std::vector<util::TarEntry> with_manifest(const std::string &file, const json &manifest) {
  auto entries = util::read_tar(file);
  REQUIRE(entries);
  for (auto &entry : *entries) {
    if (entry.name == service::k_snapshot_manifest) {
      entry.data = manifest.dump();
    }
  }
  return *entries;
}

} // namespace

TEST_CASE("snapshot export: a manifest with the snapshot's record and every artifact's member") {
  Fixture f;
  const auto file = f.exported();
  auto manifest = manifest_of(file);
  CHECK(manifest["format"] == service::k_snapshot_archive_format);
  CHECK(manifest["ltb_version"] == LTB_VERSION);
  const auto &snapshot = manifest["snapshot"];
  CHECK(snapshot["lab"] == "sn");
  CHECK(snapshot["name"] == "s1");
  CHECK(snapshot["created_at"] == 1'800'000'000);
  CHECK(snapshot["memory"] == false);
  CHECK(snapshot["topology_text"] == k_lab_text);
  CHECK(snapshot["topology_file"] == f.h.dir.file("sn.yaml"));
  CHECK(snapshot["state"]["nodes"].size() == 2);
  CHECK(snapshot["size_bytes"].get<std::int64_t>() > 0);

  auto entries = util::read_tar(file);
  REQUIRE(entries);
  std::map<std::string, std::string> members;
  for (const auto &entry : *entries) {
    members[entry.name] = entry.data;
  }
  std::multiset<std::string> types;
  for (const auto &artifact : manifest["artifacts"]) {
    types.insert(artifact["type"].get<std::string>());
    const std::string member = artifact["member"];
    REQUIRE_MESSAGE(members.count(member), member);
    if (artifact["type"] == "image") {
      // `docker save` of the image, by id.
      const auto saved_tar = f.h.dir.file("saved.tar");
      std::ofstream(saved_tar, std::ios::binary) << members[member];
      auto saved_entries = util::read_tar(saved_tar);
      REQUIRE(saved_entries);
      REQUIRE(saved_entries->size() == 2);
      auto saved = json::parse(saved_entries->at(1).data);
      CHECK(saved["fake-docker-save"] == artifact["image_id"]);
      CHECK(saved["labels"][service::k_label_snapshot_lab] == "sn");
      CHECK(artifact["ref"] == service::snapshot_image("sn", "s1", artifact["node"]));
    } else {
      CHECK(artifact["type"] == "file");
      CHECK(artifact["node"] == "r1");
      CHECK(members[member] == std::string(k_frr_config));
    }
  }
  CHECK(types == std::multiset<std::string>{"file", "image", "image"});
  CHECK(members.size() == 4); // the manifest and three artifacts
  // The images were saved beside the snapshot and are gone again.
  CHECK_FALSE(fs::exists(fs::path(service::snapshot_dir(f.context, "sn", "s1")) / ".export"));
}

TEST_CASE("snapshot export: refusals leave no file") {
  Fixture f;
  const auto file = f.h.dir.file("out.tar");
  SUBCASE("no such snapshot") {
    auto b = f.h.backends();
    auto done = service::export_snapshot(f.session, b, {"sn", "nope", file});
    REQUIRE_FALSE(done);
    CHECK(done.error().message == "lab 'sn' has no snapshot named 'nope'");
  }
  SUBCASE("a snapshot not complete") {
    state::SnapshotRecord half;
    half.lab = "sn";
    half.name = "half";
    REQUIRE(f.h.store->add_snapshot(half));
    auto b = f.h.backends();
    auto done = service::export_snapshot(f.session, b, {"sn", "half", file});
    REQUIRE_FALSE(done);
    CHECK(done.error().message.find("is not complete") != std::string::npos);
  }
  SUBCASE("an image removed outside ltb") {
    REQUIRE(f.h.fakes.docker.remove_image(service::snapshot_image("sn", "s1", "h1")));
    auto done = f.export_to(file);
    REQUIRE_FALSE(done);
    CHECK(done.error().message.find("lost its image") != std::string::npos);
  }
  SUBCASE("docker save fails half-way") {
    f.h.fakes.world.faults.inject("save_image", "", -1);
    auto done = f.export_to(file);
    REQUIRE_FALSE(done);
  }
  CHECK_FALSE(fs::exists(file));
  for (const auto &entry : fs::directory_iterator(f.h.dir.path)) {
    CHECK_MESSAGE(entry.path().filename().string().find("out.tar") == std::string::npos,
                  entry.path());
  }
}

namespace {

/// What nothing but the snapshot sn/s1 the fixture made is left, after a refused import into
/// `lab` (the images of s1, its record, no folder of the import).
void only_the_original(Fixture &f, const std::string &lab, std::size_t images) {
  auto all = f.h.store->snapshots();
  REQUIRE(all);
  REQUIRE(all->size() == 1);
  CHECK(all->front().lab == "sn");
  CHECK(all->front().name == "s1");
  CHECK(f.images() == images);
  if (lab != "sn") {
    CHECK_FALSE(fs::exists(service::snapshot_dir(f.context, lab, "s1")));
  }
  std::lock_guard lock(f.h.fakes.world.mutex);
  for (const auto &entry : f.h.fakes.world.containers) {
    const std::string &name = entry.first; // doctest's macros cannot capture a structured binding
    CHECK_MESSAGE(name.rfind("ltb-import-", 0) != 0, name);
  }
}

std::string slurp(const std::string &file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

TEST_CASE("snapshot import: the round trip, under its own lab name and under another") {
  Fixture f;
  const auto file = f.exported();
  const auto images = f.images(); // the snapshot's two

  SUBCASE("its own lab, after the original is removed: the same names") {
    auto b = f.h.backends();
    REQUIRE(service::remove_snapshot(f.session, b, "sn", "s1"));
    REQUIRE(f.images() == 0);
    auto imported = f.import(file);
    REQUIRE_MESSAGE(imported, (imported ? "" : imported.error().message));
    CHECK(imported->lab == "sn");
    CHECK(imported->from_lab == "sn");
    CHECK(imported->artifacts == 3);
    auto listed = service::list_snapshots(f.session, "sn");
    REQUIRE(listed);
    REQUIRE(listed->size() == 1);
    CHECK(listed->front().created_at == 1'800'000'000);
    // Each image once, as the loaded image's child (the untagged parent Docker keeps with it).
    CHECK(f.images() == 4);
    auto artifacts = f.h.store->snapshot_artifacts("sn", "s1");
    REQUIRE(artifacts);
    for (const auto &artifact : *artifacts) {
      if (artifact.type == "image") {
        CHECK(artifact.ref == service::snapshot_image("sn", "s1", artifact.node));
      }
    }
  }
  SUBCASE("another lab, beside the original: names and labels of the importing lab") {
    auto imported = f.import(file, "other");
    REQUIRE_MESSAGE(imported, (imported ? "" : imported.error().message));
    CHECK(imported->lab == "other");
    CHECK(imported->from_lab == "sn");
    auto artifacts = f.h.store->snapshot_artifacts("other", "s1");
    REQUIRE(artifacts);
    REQUIRE(artifacts->size() == 3);
    for (const auto &artifact : *artifacts) {
      if (artifact.type == "image") {
        CHECK(artifact.ref == service::snapshot_image("other", "s1", artifact.node));
        std::lock_guard lock(f.h.fakes.world.mutex);
        const auto &image = f.h.fakes.world.committed.at(artifact.ref);
        CHECK(image.labels.at(service::k_label_snapshot_lab) == "other");
        CHECK(image.labels.at(service::k_label_snapshot) == "s1");
        CHECK(image.labels.at(service::k_label_snapshot_node) == artifact.node);
        CHECK(image.labels.at(plan::k_label_lab) == "other");
      } else {
        CHECK(artifact.type == "file");
        CHECK(artifact.ref ==
              (fs::path(service::snapshot_dir(f.context, "other", "s1")) / "r1.startup-config")
                  .string());
        CHECK(slurp(artifact.ref) == std::string(k_frr_config));
      }
    }
    auto snapshot = f.h.store->snapshot("other", "s1");
    REQUIRE(snapshot);
    REQUIRE(*snapshot);
    CHECK((*snapshot)->status == state::k_snapshot_complete);
    CHECK((*snapshot)->topology_text == k_lab_text);
    CHECK(json::parse((*snapshot)->state)["lab"] == "other");
    // Nothing of the import's work is left in the snapshot's folder.
    CHECK_FALSE(fs::exists(fs::path(service::snapshot_dir(f.context, "other", "s1")) / ".import"));
    {
      std::lock_guard lock(f.h.fakes.world.mutex);
      for (const auto &entry : f.h.fakes.world.containers) {
        const std::string &name =
            entry.first; // doctest's macros cannot capture a structured binding
        CHECK_MESSAGE(name.rfind("ltb-import-", 0) != 0, name);
      }
    }
    // The restore of the import: the imported images and startup-config.
    auto text = service::restore_text(**snapshot, *artifacts, "", "1");
    REQUIRE(text);
    CHECK(text->find(service::snapshot_image("other", "s1", "h1")) != std::string::npos);
    CHECK(service::check_bind_sources(**snapshot, *text, f.h.dir.path.string()));

    // rm frees the import's images and leaves the original's.
    auto b = f.h.backends();
    REQUIRE(service::remove_snapshot(f.session, b, "other", "s1"));
    CHECK(f.images() == images);
    CHECK(f.h.store->snapshot("sn", "s1").value().has_value());
  }
}

TEST_CASE("snapshot import: refusals record nothing and leave nothing") {
  Fixture f;
  const auto file = f.exported();
  const auto images = f.images();
  const auto manifest = manifest_of(file);
  const auto broken = f.h.dir.file("broken.tar");
  std::string lab = "other";
  std::string expected;

  SUBCASE("a lab and name that exist") {
    lab = "sn";
    auto imported = f.import(file);
    REQUIRE_FALSE(imported);
    CHECK(imported.error().message == "lab 'sn' has a snapshot named 's1' already");
    CHECK(imported.error().help.find("--lab NEWLAB") != std::string::npos);
    CHECK(imported.error().help.find("ltb snapshot rm sn s1") != std::string::npos);
  }
  SUBCASE("a manifest that is not JSON") {
    auto entries = with_manifest(file, manifest);
    entries.front().data = "{ not json";
    for (auto &entry : entries) {
      if (entry.name == service::k_snapshot_manifest) {
        entry.data = "{ not json";
      }
    }
    write_archive(broken, entries);
    expected = "manifest.json is not a JSON object";
  }
  SUBCASE("a format this ltb does not read") {
    auto changed = manifest;
    changed["format"] = 2;
    write_archive(broken, with_manifest(file, changed));
    expected = "its format is 2 (this ltb reads format 1)";
  }
  SUBCASE("a record without its state") {
    auto changed = manifest;
    changed["snapshot"].erase("state");
    write_archive(broken, with_manifest(file, changed));
    expected = "its snapshot record lacks a field";
  }
  SUBCASE("an invalid name") {
    auto changed = manifest;
    changed["snapshot"]["name"] = "../../x";
    write_archive(broken, with_manifest(file, changed));
    expected = "is not a valid name";
  }
  SUBCASE("an artifact of an unknown type") {
    auto changed = manifest;
    changed["artifacts"][0]["type"] = "tape";
    write_archive(broken, with_manifest(file, changed));
    expected = "type 'tape', which this ltb does not know";
  }
  SUBCASE("a member missing") {
    auto entries = with_manifest(file, manifest);
    entries.erase(std::remove_if(entries.begin(), entries.end(),
                                 [](const auto &e) { return e.name.rfind("images/", 0) == 0; }),
                  entries.end());
    write_archive(broken, entries);
    expected = "is not in the archive";
  }
  SUBCASE("a member no artifact names") {
    auto entries = with_manifest(file, manifest);
    entries.push_back({"files/extra", "x", {}, 0644});
    write_archive(broken, entries);
    expected = "member 'files/extra' is named by no artifact";
  }
  SUBCASE("a file name that would leave the snapshot's folder") {
    auto changed = manifest;
    for (auto &artifact : changed["artifacts"]) {
      if (artifact["type"] == "file") {
        artifact["ref"] = "/x/..";
      }
    }
    write_archive(broken, with_manifest(file, changed));
    expected = "has a file name ('..') that cannot be kept";
  }
  SUBCASE("an unsafe archive: a member ../x") {
    auto entries = util::read_tar(file);
    REQUIRE(entries);
    std::vector<raw_tar::Raw> raw;
    for (const auto &entry : *entries) {
      raw.push_back(raw_tar::file(entry.name, entry.data));
    }
    raw.push_back(raw_tar::file("../x", "escaped"));
    raw_tar::write_raw(broken, raw);
    expected = "refusing entry '../x'";
    CHECK_FALSE(fs::exists(f.h.dir.path.parent_path() / "x"));
  }
  SUBCASE("an image that would take over a name of this host's (RepoTags)") {
    auto entries = with_manifest(file, manifest);
    const auto image_tar = f.h.dir.file("tagged-image.tar");
    REQUIRE(
        util::write_tar(image_tar, {{"manifest.json",
                                     R"([{"Config":"c.json","RepoTags":["ltb/busybox:latest"]}])",
                                     {},
                                     0644}}));
    for (auto &entry : entries) {
      if (entry.name.rfind("images/", 0) == 0) {
        entry.data.clear();
        entry.source = image_tar;
      }
    }
    write_archive(broken, entries);
    expected = "it names images ([\"ltb/busybox:latest\"]), which loading it would take over here";
  }
  SUBCASE("an archive that is not a tar") {
    std::ofstream(broken) << "not a tar at all";
    expected = "as a tar archive";
  }
  if (!expected.empty()) {
    auto imported = f.import(broken, lab);
    REQUIRE_FALSE(imported);
    CHECK_MESSAGE(imported.error().message.find(expected) != std::string::npos,
                  imported.error().message);
  }
  CHECK(f.h.fakes.world.faults.calls("load_image") == 0);
  only_the_original(f, lab, images);
}

TEST_CASE("snapshot import: a failure half-way removes what it made and lists nothing") {
  Fixture f;
  const auto file = f.exported();
  const auto images = f.images();
  // The second of a kind fails: the first one's image was made and must go again.
  auto fail_second = [&](const std::string &call) {
    auto seen = std::make_shared<int>(0);
    f.h.fakes.world.faults.on_call = [&f, seen, call](int, const std::string &made) {
      if (made == call && ++*seen == 1) {
        f.h.fakes.world.faults.inject(call, "", 1);
      }
    };
  };
  SUBCASE("docker load fails for the second image") {
    fail_second("load_image");
  }
  SUBCASE("the second relabelling commit fails") {
    fail_second("commit_container");
  }
  SUBCASE("not enough disk") {
    REQUIRE(f.h.store->set_meta("config.disk", "10"));
  }
  auto imported = f.import(file, "other");
  f.h.fakes.world.faults.on_call = nullptr;
  REQUIRE_FALSE(imported);
  CHECK_MESSAGE((imported.error().message.find("injected failure") != std::string::npos ||
                 imported.error().message.find("not enough disk") != std::string::npos),
                imported.error().message);
  only_the_original(f, "other", images);
  CHECK(f.h.store->snapshot_artifacts("other", "s1")->empty());
}

namespace {

/// A qcow2 header (version 3) with the given incompatible feature bits, and some data.
std::string qcow2(std::uint64_t incompatible = 0) {
  std::string out("QFI\xfb", 4);
  out += std::string("\0\0\0\3", 4);
  out += std::string(64, '\0');
  for (int shift = 56; shift >= 0; shift -= 8) {
    out += static_cast<char>((incompatible >> shift) & 0xff);
  }
  out += std::string(64, 'd');
  return out;
}

/// An archive of a VM snapshot as another host exported it: two disk layers of vm1 (top first)
/// and its memory state; the base image at `base`.
std::vector<util::TarEntry> vm_archive(const std::string &base, const std::string &top_layer) {
  json manifest{{"format", 1},
                {"snapshot",
                 {{"lab", "vmlab"},
                  {"name", "v1"},
                  {"created_at", 1},
                  {"memory", true},
                  {"topology_file", "/elsewhere/vm.yaml"},
                  {"topology_text", "name: vmlab\n"},
                  {"state",
                   {{"lab", "vmlab"},
                    {"nodes", {{{"name", "vm1"}, {"runtime", "vm"}, {"image", base}}}},
                    {"vms", {{"vm1", {{"layer", "/old/disk-layers/vmlab/top.qcow2"}}}}}}},
                  {"size_bytes", 10}}},
                {"artifacts",
                 {{{"node", "vm1"},
                   {"type", "disk"},
                   {"ref", "/old/disk-layers/vmlab/top.qcow2"},
                   {"member", "disks/0-vm1.qcow2"}},
                  {{"node", "vm1"},
                   {"type", "disk"},
                   {"ref", "/old/disk-layers/vmlab/older.qcow2"},
                   {"member", "disks/1-vm1.qcow2"}},
                  {{"node", "vm1"},
                   {"type", "memory"},
                   {"ref", "/old/snapshots/vmlab/v1/vm1.memory"},
                   {"member", "memory/2-vm1.memory"}}}}};
  return {{service::k_snapshot_manifest, manifest.dump(), {}, 0644},
          {"disks/0-vm1.qcow2", top_layer, {}, 0644},
          {"disks/1-vm1.qcow2", qcow2(), {}, 0644},
          {"memory/2-vm1.memory", "saved memory", {}, 0644}};
}

} // namespace

TEST_CASE("snapshot import: VM disk layers pointed at each other and at the base image") {
  Fixture f;
  const auto base = f.h.dir.file("base.qcow2");
  const auto archive = f.h.dir.file("vm.tar");
  const auto layers = fs::path(f.h.dir.path) / "disk-layers";

  SUBCASE("imported: layers renamed, chained, the memory file in the snapshot's folder") {
    std::ofstream(base) << qcow2();
    write_archive(archive, vm_archive(base, qcow2()));
    auto imported = f.import(archive, "vmcopy");
    REQUIRE_MESSAGE(imported, (imported ? "" : imported.error().message));
    auto artifacts = f.h.store->snapshot_artifacts("vmcopy", "v1");
    REQUIRE(artifacts);
    REQUIRE(artifacts->size() == 3);
    const auto &top = (*artifacts)[0];
    const auto &older = (*artifacts)[1];
    const auto &memory = (*artifacts)[2];
    CHECK(top.type == "disk");
    CHECK(older.type == "disk");
    CHECK(fs::path(top.ref).parent_path() == layers / "vmcopy");
    CHECK(fs::path(older.ref).parent_path() == layers / "vmcopy");
    CHECK(top.ref != older.ref);
    CHECK(slurp(top.ref) == qcow2());
    {
      std::lock_guard lock(f.h.fakes.world.mutex);
      CHECK(f.h.fakes.world.rebased ==
            std::map<std::string, std::string>{{top.ref, older.ref}, {older.ref, base}});
    }
    CHECK(memory.type == "memory");
    CHECK(memory.ref ==
          (fs::path(service::snapshot_dir(f.context, "vmcopy", "v1")) / "vm1.memory").string());
    CHECK(slurp(memory.ref) == "saved memory");
    auto snapshot = f.h.store->snapshot("vmcopy", "v1");
    REQUIRE(snapshot);
    REQUIRE(*snapshot);
    CHECK((*snapshot)->memory);
    auto state = json::parse((*snapshot)->state);
    CHECK(state["vms"]["vm1"]["layer"] == top.ref); // the exporter's path of it, rewritten
    CHECK(state["lab"] == "vmcopy");
  }
  SUBCASE("refused: the base image is not on this host") {
    write_archive(archive, vm_archive(base, qcow2()));
    auto imported = f.import(archive, "vmcopy");
    REQUIRE_FALSE(imported);
    CHECK(imported.error().message ==
          fmt::format("cannot import snapshot 'v1' of lab 'vmlab': VM node 'vm1' builds on the "
                      "base image {}, which does not exist on this host",
                      base));
    CHECK(imported.error().help.find("copy that image to the same path") != std::string::npos);
  }
  SUBCASE("refused: a layer that names an external data file") {
    std::ofstream(base) << qcow2();
    write_archive(archive, vm_archive(base, qcow2(0x4)));
    auto imported = f.import(archive, "vmcopy");
    REQUIRE_FALSE(imported);
    CHECK(imported.error().message.find("disk layer 'disks/0-vm1.qcow2' of node 'vm1': it names "
                                        "an external data file") != std::string::npos);
  }
  SUBCASE("refused: a layer that is not qcow2") {
    std::ofstream(base) << qcow2();
    write_archive(archive, vm_archive(base, "plain bytes, no header"));
    auto imported = f.import(archive, "vmcopy");
    REQUIRE_FALSE(imported);
    CHECK(imported.error().message.find("it is not a qcow2 file") != std::string::npos);
  }
  if (!f.h.store->snapshot("vmcopy", "v1").value()) {
    CHECK(f.h.store->snapshot_artifacts("vmcopy", "v1")->empty());
    CHECK_FALSE(fs::exists(service::snapshot_dir(f.context, "vmcopy", "v1")));
    std::error_code ec;
    CHECK((!fs::exists(layers / "vmcopy", ec) || fs::is_empty(layers / "vmcopy", ec)));
  }
}

TEST_CASE("snapshot import: what a killed import left goes with the next ltb command") {
  Fixture f;
  // A kill between the relabelling container's create and its commit: the snapshot recorded
  // 'creating' with its image artifact, the image loaded (untagged) and the container made.
  const auto saved = f.h.dir.file("h1.tar");
  const auto image = service::snapshot_image("sn", "s1", "h1");
  REQUIRE(f.h.fakes.docker.save_image(image, saved));
  auto b = f.h.backends();
  REQUIRE(service::remove_snapshot(f.session, b, "sn", "s1"));
  REQUIRE(f.images() == 0);
  auto loaded = f.h.fakes.docker.load_image(saved);
  REQUIRE(loaded);
  const auto ref = service::snapshot_image("other", "s1", "h1");
  runtime::ContainerSpec spec;
  spec.name = service::relabel_container(ref);
  spec.image = loaded->front();
  REQUIRE(f.h.fakes.docker.create_container(spec));
  state::SnapshotRecord half;
  half.lab = "other";
  half.name = "s1";
  REQUIRE(f.h.store->add_snapshot(half));
  REQUIRE(f.h.store->add_snapshot_artifact({"other", "s1", "h1", "image", ref, 0}));
  REQUIRE(f.images() == 1);

  REQUIRE(service::recover_snapshots(f.session, b));
  CHECK(f.h.store->snapshots()->empty());
  CHECK(f.images() == 0);
  std::lock_guard lock(f.h.fakes.world.mutex);
  CHECK_FALSE(f.h.fakes.world.containers.count(spec.name));
}

TEST_CASE("snapshot restore: a bind source missing on this host is named, not made empty") {
  Fixture f;
  fs::create_directories(f.h.dir.path / "shared");
  state::SnapshotRecord snapshot;
  snapshot.lab = "sn";
  snapshot.name = "s1";
  const std::string text = "name: sn\ntopology:\n  nodes:\n    a: {kind: linux, image: "
                           "ltb/busybox:latest, binds: ['shared:/shared', 'gone/x:/x:ro']}\n";
  auto checked = service::check_bind_sources(snapshot, text, f.h.dir.path.string());
  REQUIRE_FALSE(checked);
  CHECK(checked.error().message ==
        fmt::format("cannot restore snapshot 's1' of lab 'sn': node 'a' binds {} from the host, "
                    "which does not exist here",
                    (f.h.dir.path / "gone/x").string()));
  fs::create_directories(f.h.dir.path / "gone" / "x");
  CHECK(service::check_bind_sources(snapshot, text, f.h.dir.path.string()));
}
