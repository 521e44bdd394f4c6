// The template store: state (add, versions, no-op, rm), bundle collection, export/import, and
// `ltb up --template` on the fakes.

#include "fakes/connection.hpp"
#include "service/templates.hpp"
#include "state/store.hpp"
#include "testutil.hpp"
#include "topology/loader.hpp"
#include "util/archive.hpp"
#include "util/hash.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/stat.h>

namespace fs = std::filesystem;
using namespace ltb;

namespace {

std::string slurp(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class Notices : public service::NullSink {
public:
  void notice(const std::string &line) override { lines.push_back(line); }
  std::vector<std::string> lines;
};

/// A state file in a temporary directory, and a session over it.
struct Fixture {
  test::TempDir dir;
  std::unique_ptr<state::Store> store;
  service::Context context;
  service::Caller caller{0, "root", true, {}};
  service::CancelToken cancel;
  Notices events;
  service::Session session{context, caller, cancel, events};

  Fixture() {
    context.state_path = dir.file("state/state.db");
    auto opened = state::Store::open(context.state_path);
    REQUIRE(opened);
    store = std::move(*opened);
  }

  Result<service::AddedTemplate> add(const std::string &file, const std::string &name = {},
                                     const std::string &description = {}) {
    return service::add_template(session, *store, {dir.file(file), name, description});
  }
};

const char *k_lab = R"(name: class
topology:
  nodes:
    r1:
      kind: linux
      image: ltb/busybox:latest
      startup-config: configs/r1.conf
      binds:
        - files/motd:/etc/motd:ro
        - tree:/srv/tree
        - ../shared/banner.txt:/etc/banner
    r2:
      kind: linux
      image: ltb/busybox:latest
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
)";

void write_lab(const test::TempDir &dir) {
  dir.write("lab/lab.yaml", k_lab);
  dir.write("lab/configs/r1.conf", "hostname r1\n");
  dir.write("lab/files/motd", "welcome\n");
  dir.write("lab/tree/a.txt", "a\n");
  dir.write("lab/tree/sub/b.txt", "b\n");
  dir.write("shared/banner.txt", "banner\n");
  dir.write("lab/unrelated.txt", "not referenced\n");
}

std::vector<std::string> paths_of(const state::TemplateRecord &t) {
  std::vector<std::string> out;
  for (const auto &f : t.files) {
    out.push_back(f.path);
  }
  return out;
}

} // namespace

TEST_CASE("template store: add, the same content again, a change, versions, rm") {
  Fixture f;
  f.dir.write("a/lab.yaml", "name: one\ntopology:\n  nodes:\n    n1: {kind: linux, image: "
                            "ltb/busybox:latest}\n");
  auto first = f.add("a/lab.yaml", "", "first");
  REQUIRE(first);
  REQUIRE_FALSE(first->invalid);
  CHECK(first->added);
  CHECK(first->record.name == "one"); // the topology's name by default
  CHECK(first->record.version == 1);
  CHECK(first->record.created_by == "root");
  CHECK(first->record.description == "first");
  CHECK(paths_of(first->record) == std::vector<std::string>{"lab.yaml"});

  auto again = f.add("a/lab.yaml");
  REQUIRE(again);
  CHECK_FALSE(again->added);
  CHECK(again->record.version == 1);
  CHECK(again->record.digest == first->record.digest);

  f.dir.write("a/lab.yaml",
              "name: one\ntopology:\n  nodes:\n    n1: {kind: linux, image: "
              "ltb/busybox:latest}\n    n2: {kind: linux, image: ltb/busybox:latest}\n");
  auto changed = f.add("a/lab.yaml");
  REQUIRE(changed);
  CHECK(changed->added);
  CHECK(changed->record.version == 2);
  CHECK(changed->record.digest != first->record.digest);

  auto versions = f.store->templates("one");
  REQUIRE(versions);
  REQUIRE(versions->size() == 2);
  CHECK((*versions)[0].version == 1);
  CHECK((*versions)[1].version == 2);

  // The newest by default; a given version; blobs hold the content.
  auto newest = service::find_template(f.session, *f.store, {"one", 0});
  REQUIRE(newest);
  CHECK(newest->version == 2);
  auto v1 = service::find_template(f.session, *f.store, {"one", 1});
  REQUIRE(v1);
  REQUIRE(v1->files.size() == 1);
  auto blob = f.store->blob(v1->files[0].digest);
  REQUIRE(blob);
  REQUIRE(*blob);
  CHECK((*blob)->find("n2") == std::string::npos);
  CHECK(util::sha256_hex(**blob) == v1->files[0].digest);

  auto missing = service::find_template(f.session, *f.store, {"one", 7});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "template one has no version 7");
  auto typo = service::find_template(f.session, *f.store, {"onr", 0});
  REQUIRE_FALSE(typo);
  CHECK(typo.error().help == "did you mean 'one'?");

  // rm of one version frees its blobs; numbers are not reused.
  auto removed = service::remove_template(f.session, *f.store, {"one", 1});
  REQUIRE(removed);
  CHECK(removed->versions == std::vector<int>{1});
  CHECK_FALSE(*f.store->blob(v1->files[0].digest));
  f.dir.write("a/lab.yaml",
              "name: one\ntopology:\n  nodes:\n    n3: {kind: linux, image: ltb/busybox:latest}\n");
  auto third = f.add("a/lab.yaml");
  REQUIRE(third);
  CHECK(third->record.version == 3);
  auto all = service::remove_template(f.session, *f.store, {"one", 0});
  REQUIRE(all);
  CHECK(all->versions == std::vector<int>{2, 3});
  CHECK(f.store->templates("one")->empty());
  CHECK_FALSE(service::remove_template(f.session, *f.store, {"one", 0}));
}

TEST_CASE("template store: an invalid topology gives every diagnostic, and nothing is stored") {
  Fixture f;
  f.dir.write("bad.yaml", "name: bad\ntopology:\n  nodes:\n    n1: {kind: nope}\n    n2: {kind: "
                          "linux, startup-config: missing.conf}\n");
  auto added = f.add("bad.yaml");
  REQUIRE(added);
  REQUIRE(added->invalid);
  int errors = 0;
  for (const auto &d : added->invalid->items) {
    errors += d.severity == topology::Severity::error ? 1 : 0;
    CHECK(d.file.find("bad.yaml") != std::string::npos);
  }
  CHECK(errors >= 2);
  CHECK(f.store->templates()->empty());
}

TEST_CASE("template store: a user's template may not use what only admins may, refused at add") {
  Fixture f;
  f.dir.write("lab/lab.yaml",
              "name: class\ntopology:\n  nodes:\n    n1:\n      kind: linux\n"
              "      image: ltb/busybox:latest\n      binds: [\"/etc:/host-etc\"]\n");
  const service::Caller alice{1000, "alice", false, {}};
  service::Session as_alice{f.context, alice, f.cancel, f.events};
  auto added = service::add_template(as_alice, *f.store, {f.dir.file("lab/lab.yaml"), "c", ""});
  REQUIRE(added);
  REQUIRE(added->invalid);
  bool located = false;
  for (const auto &d : added->invalid->items) {
    located = located || (d.severity == topology::Severity::error && d.loc.line == 7 &&
                          d.file.find("lab.yaml") != std::string::npos);
  }
  CHECK(located);
  CHECK(f.store->templates()->empty());
  // An admin's template may.
  auto admins = f.add("lab/lab.yaml", "c");
  REQUIRE(admins);
  CHECK_FALSE(admins->invalid);
}

TEST_CASE("template store: the bundle holds what the topology references, rewritten") {
  Fixture f;
  write_lab(f.dir);
  auto added = f.add("lab/lab.yaml");
  REQUIRE(added);
  REQUIRE_FALSE(added->invalid);
  CHECK(paths_of(added->record) == std::vector<std::string>{"configs/r1.conf", "files/motd",
                                                            "lab.yaml", "outside/banner.txt",
                                                            "tree/a.txt", "tree/sub/b.txt"});
  REQUIRE(added->moved.size() == 1);
  CHECK(added->moved[0].find("shared/banner.txt -> outside/banner.txt") != std::string::npos);
  CHECK(added->host_paths.empty());

  auto m = service::materialize_template(f.session, *f.store, {"class", 0});
  REQUIRE(m);
  // Relative references stay as written; the one from outside points into the bundle.
  CHECK(m->text.find("startup-config: configs/r1.conf") != std::string::npos);
  CHECK(m->text.find("- files/motd:/etc/motd:ro") != std::string::npos);
  CHECK(m->text.find("\"outside/banner.txt:/etc/banner\"") != std::string::npos);
  CHECK(m->text.find("../shared") == std::string::npos);
  CHECK(slurp(fs::path(m->dir) / "outside/banner.txt") == "banner\n");
  CHECK(slurp(fs::path(m->dir) / "tree/sub/b.txt") == "b\n");
  CHECK_FALSE(fs::exists(fs::path(m->dir) / "unrelated.txt"));
  CHECK(m->source == "template:class@1");
  CHECK(fs::path(m->dir).filename() == added->record.digest);
  // Read-only, and loads from where it is.
  struct stat st {};
  REQUIRE(::stat(m->dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0222) == 0);
  REQUIRE(::stat(m->file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0222) == 0);

  // Editing the original does not change what was stored.
  f.dir.write("lab/configs/r1.conf", "hostname changed\n");
  auto again = service::materialize_template(f.session, *f.store, {"class", 1});
  REQUIRE(again);
  CHECK(slurp(fs::path(again->dir) / "configs/r1.conf") == "hostname r1\n");
  // ... until it is added again: a new version, whose other files share their blobs.
  auto v2 = f.add("lab/lab.yaml");
  REQUIRE(v2);
  CHECK(v2->record.version == 2);
}

TEST_CASE("template store: VM images and host directories are not bundled") {
  Fixture f;
  f.dir.write("lab/lab.yaml", fmt::format(R"(name: vms
topology:
  nodes:
    v1:
      kind: vm
      image: {}
    c1:
      kind: linux
      image: ltb/busybox:latest
      binds:
        - {}:/host
)",
                                          f.dir.file("images/disk.qcow2"), f.dir.file("hostdir")));
  f.dir.write("images/disk.qcow2", "QFI\xfb not really");
  f.dir.write("hostdir/x", "x");
  auto added = f.add("lab/lab.yaml");
  REQUIRE(added);
  if (added->invalid) {
    FAIL(topology::render(*added->invalid, false));
  }
  CHECK(paths_of(added->record) == std::vector<std::string>{"lab.yaml"});
  CHECK(std::find(added->host_paths.begin(), added->host_paths.end(),
                  f.dir.file("images/disk.qcow2")) != added->host_paths.end());
  CHECK(std::find(added->host_paths.begin(), added->host_paths.end(), f.dir.file("hostdir")) !=
        added->host_paths.end());
}

TEST_CASE("template store: export and import round trip, and altered archives refused") {
  Fixture f;
  write_lab(f.dir);
  REQUIRE(f.add("lab/lab.yaml", "class", "the class lab"));
  const auto tar = f.dir.path / "class.tar";
  auto exported = service::export_template(f.session, *f.store, {"class", 0}, tar.string());
  REQUIRE(exported);

  // Into another state file: the same digest, description and files.
  Fixture other;
  auto imported = service::import_template(other.session, *other.store, {tar.string(), ""});
  REQUIRE(imported);
  REQUIRE_FALSE(imported->invalid);
  CHECK(imported->added);
  CHECK(imported->record.name == "class");
  CHECK(imported->record.version == 1);
  CHECK(imported->record.description == "the class lab");
  CHECK(imported->record.digest == exported->digest);
  CHECK(paths_of(imported->record) == paths_of(*exported));
  // Again: nothing changes. Under another name: a template of its own.
  auto twice = service::import_template(other.session, *other.store, {tar.string(), ""});
  REQUIRE(twice);
  CHECK_FALSE(twice->added);
  auto renamed = service::import_template(other.session, *other.store, {tar.string(), "copy"});
  REQUIRE(renamed);
  CHECK(renamed->record.name == "copy");

  SUBCASE("a file that does not match its digest") {
    auto entries = util::read_tar(tar);
    REQUIRE(entries);
    for (auto &e : *entries) {
      if (e.name == "files/configs/r1.conf") {
        e.data = "hostname evil\n";
      }
    }
    REQUIRE(util::write_tar(f.dir.path / "altered.tar", *entries));
    Fixture third;
    auto refused = service::import_template(third.session, *third.store,
                                            {(f.dir.path / "altered.tar").string(), ""});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("files/configs/r1.conf does not match its sha256") !=
          std::string::npos);
    CHECK(third.store->templates()->empty());
  }
  SUBCASE("a file not listed, and no manifest") {
    auto entries = util::read_tar(tar);
    REQUIRE(entries);
    entries->push_back({"files/extra", "x", {}, 0644});
    REQUIRE(util::write_tar(f.dir.path / "extra.tar", *entries));
    Fixture third;
    auto extra = service::import_template(third.session, *third.store,
                                          {(f.dir.path / "extra.tar").string(), ""});
    REQUIRE_FALSE(extra);
    CHECK(extra.error().message.find("files/extra is not listed") != std::string::npos);
    REQUIRE(util::write_tar(f.dir.path / "bare.tar", {{"files/lab.yaml", "name: x\n", {}, 0644}}));
    auto bare = service::import_template(third.session, *third.store,
                                         {(f.dir.path / "bare.tar").string(), ""});
    REQUIRE_FALSE(bare);
    CHECK(bare.error().message.find("no ltb-template.json") != std::string::npos);
    CHECK(third.store->templates()->empty());
  }
  SUBCASE("an invalid topology inside is reported in the bundled file") {
    auto entries = util::read_tar(tar);
    REQUIRE(entries);
    auto manifest = nlohmann::json::parse((*entries)[0].data);
    const std::string bad = "name: class\ntopology:\n  nodes:\n    r1: {kind: nope}\n";
    for (auto &file : manifest["files"]) {
      if (file["path"] == "lab.yaml") {
        file["sha256"] = util::sha256_hex(bad);
      }
    }
    (*entries)[0].data = manifest.dump();
    for (auto &e : *entries) {
      if (e.name == "files/lab.yaml") {
        e.data = bad;
      }
    }
    REQUIRE(util::write_tar(f.dir.path / "invalid.tar", *entries));
    Fixture third;
    auto invalid = service::import_template(third.session, *third.store,
                                            {(f.dir.path / "invalid.tar").string(), ""});
    REQUIRE(invalid);
    REQUIRE(invalid->invalid);
    CHECK(invalid->invalid->items.front().file.find("lab.yaml") != std::string::npos);
    CHECK(invalid->invalid->items.front().loc.line == 4);
    CHECK(third.store->templates()->empty());
  }
  SUBCASE("a topology that names a file of the importing host, by '..' or absolute") {
    // What an export never writes: the import would copy the host's file into the store.
    f.dir.write("host-secret", "secret of the importing host\n");
    const std::string secret = f.dir.file("host-secret");
    const std::string climb = "../../../../../../../../../.." + secret;
    for (const auto &[case_name, reference] : std::vector<std::pair<std::string, std::string>>{
             {"startup-config, absolute", "startup-config: " + secret},
             {"startup-config, '..'", "startup-config: " + climb},
             {"bind source", "binds: [\"" + climb + ":/etc/x\"]"}}) {
      // CAPTURE makes a lambda, and clang 14 cannot capture a structured binding in one.
      const std::string name = case_name;
      CAPTURE(name);
      auto entries = util::read_tar(tar);
      REQUIRE(entries);
      auto manifest = nlohmann::json::parse((*entries)[0].data);
      const std::string evil = "name: class\ntopology:\n  nodes:\n    r1:\n      kind: linux\n"
                               "      image: ltb/busybox:latest\n      " +
                               reference + "\n";
      for (auto &file : manifest["files"]) {
        if (file["path"] == "lab.yaml") {
          file["sha256"] = util::sha256_hex(evil);
        }
      }
      (*entries)[0].data = manifest.dump();
      for (auto &e : *entries) {
        if (e.name == "files/lab.yaml") {
          e.data = evil;
        }
      }
      REQUIRE(util::write_tar(f.dir.path / "evil.tar", *entries));
      Fixture third;
      auto refused = service::import_template(third.session, *third.store,
                                              {(f.dir.path / "evil.tar").string(), ""});
      REQUIRE_FALSE(refused);
      CHECK(refused.error().message.find("node r1: ") == 0);
      CHECK(refused.error().message.find(secret + " is outside the archive") != std::string::npos);
      CHECK(refused.error().help.find("do not import it") != std::string::npos);
      CHECK(third.store->templates()->empty());
    }
  }
}

TEST_CASE("template store: a plain-file template is imported on first use, with a notice") {
  Fixture f;
  f.dir.write("state/templates/old.yaml",
              "name: old\ntopology:\n  nodes:\n    n1: {kind: "
              "linux, image: ltb/busybox:latest, startup-config: n1.conf}\n");
  f.dir.write("state/templates/n1.conf", "hostname n1\n");
  auto found = service::find_template(f.session, *f.store, {"old", 0});
  REQUIRE(found);
  CHECK(found->version == 1);
  CHECK(paths_of(*found) == std::vector<std::string>{"n1.conf", "old.yaml"});
  REQUIRE(f.events.lines.size() == 1);
  CHECK(f.events.lines[0].find("imported the plain-file template") != std::string::npos);
  // Once: the store's copy is used from then on.
  REQUIRE(service::find_template(f.session, *f.store, {"old", 0}));
  CHECK(f.events.lines.size() == 1);
  CHECK(f.store->templates("old")->size() == 1);
}

TEST_CASE("template store: references and sources") {
  CHECK(service::parse_template_ref("class")->version == 0);
  CHECK(service::parse_template_ref("class@12")->version == 12);
  CHECK(service::parse_template_ref("class@12")->name == "class");
  CHECK_FALSE(service::parse_template_ref("class@"));
  CHECK_FALSE(service::parse_template_ref("class@0"));
  CHECK_FALSE(service::parse_template_ref("class@x"));
  CHECK_FALSE(service::parse_template_ref("../x"));
  CHECK_FALSE(service::parse_template_ref(""));
  CHECK(service::template_source("class", 3) == "template:class@3");
  auto parsed = service::parse_template_source("template:class@3");
  REQUIRE(parsed);
  CHECK(parsed->name == "class");
  CHECK(parsed->version == 3);
  CHECK_FALSE(service::parse_template_source("template:class"));
  CHECK_FALSE(service::parse_template_source("/labs/x.yaml"));
}

TEST_CASE("template store: up --template on the fakes records the source and pins the version") {
  Fixture f;
  f.dir.write("lab/lab.yaml", "name: class\ntopology:\n  nodes:\n    n1:\n      kind: linux\n"
                              "      image: ltb/busybox:latest\n      startup-config: n1.conf\n");
  f.dir.write("lab/n1.conf", "hello\n");
  REQUIRE(f.add("lab/lab.yaml"));

  fakes::World world;
  auto connection = fakes::fake_connection(world, f.context.state_path);

  std::set<std::string> subnets;
  std::set<std::string> dirs;
  for (const char *lab : {"class-1", "class-2"}) {
    auto deployed = service::deploy_template(f.session, connection, {"class", 0}, lab);
    REQUIRE(deployed);
    REQUIRE_FALSE(deployed->invalid);
    REQUIRE(deployed->outcome);
    for (const auto &e : deployed->outcome->errors) {
      MESSAGE(e.message);
    }
    CHECK(deployed->outcome->ok());
    CHECK(deployed->desired.name == lab);
    subnets.insert(deployed->outcome->subnet);
    dirs.insert(deployed->from.dir);
    auto record = connection.store->lab(lab);
    REQUIRE(record);
    REQUIRE(*record);
    CHECK((*record)->source == "template:class@1");
    CHECK((*record)->topology_file == deployed->from.file);
  }
  CHECK(subnets.size() == 2);
  CHECK(dirs.size() == 1); // one bundle directory for both
  CHECK(world.containers.count("ltb-class-1-n1"));
  CHECK(world.containers.count("ltb-class-2-n1"));

  // A lab deployed from it holds the version.
  auto refused = service::remove_template(f.session, *f.store, {"class", 1});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("lab class-1 was deployed from class@1") != std::string::npos);
  CHECK(refused.error().help.find("ltb down --lab class-2") != std::string::npos);
  CHECK(f.store->templates("class")->size() == 1);

  // A plain file deployed over the same lab name clears its source.
  service::DeployRequest plain;
  auto text = topology::load_file(f.dir.file("lab/lab.yaml"), {"class-1", nullptr});
  REQUIRE(text);
  REQUIRE(service::deploy_lab(f.session, connection, *text, plain));
  CHECK((*connection.store->lab("class-1"))->source.empty());

  // A pending reservation pins it too.
  state::ReservationRecord r;
  r.lab = "later";
  r.source = "template:class@1";
  r.start_at = 4000000000;
  r.end_at = 4000003600;
  REQUIRE(f.store->add_reservation(r));
  auto users = service::template_users(*f.store, f.caller, "class", 1);
  REQUIRE(users);
  CHECK(users->reservations.size() == 1);
  CHECK(users->labs == std::vector<std::string>{"class-2"});
}

TEST_CASE("template store: a template is its owner's until shared; two users deploy it as one "
          "lab name") {
  Fixture f;
  f.dir.write("lab/lab.yaml", "name: class\ntopology:\n  nodes:\n    n1:\n      kind: linux\n"
                              "      image: ltb/busybox:latest\n");
  const service::Caller alice{1000, "alice", false, {}};
  const service::Caller bob{1001, "bob", false, {}};
  service::Session as_alice{f.context, alice, f.cancel, f.events};
  service::Session as_bob{f.context, bob, f.cancel, f.events};
  auto added = service::add_template(as_alice, *f.store, {f.dir.file("lab/lab.yaml"), "ospf", ""});
  REQUIRE(added);
  CHECK(added->record.owner == "alice");
  CHECK_FALSE(added->record.shared);

  // Private: bob neither sees, deploys, removes, exports nor shares it.
  CHECK(service::list_templates(as_bob, *f.store)->empty());
  auto unseen = service::find_template(as_bob, *f.store, {"ospf", 0});
  REQUIRE_FALSE(unseen);
  CHECK(unseen.error().message == "no template named 'ospf'");
  CHECK_FALSE(service::remove_template(as_bob, *f.store, {"ospf", 0}));
  CHECK_FALSE(service::share_template(as_bob, *f.store, "ospf", true));
  // Nor adds a version to alice's name.
  auto taken = service::add_template(as_bob, *f.store, {f.dir.file("lab/lab.yaml"), "ospf", ""});
  REQUIRE_FALSE(taken);
  CHECK(taken.error().message == "the template name 'ospf' is taken by another user");
  CHECK(f.store->templates("ospf")->size() == 1);

  // Shared: bob sees and deploys it, still cannot remove it.
  REQUIRE(service::share_template(as_alice, *f.store, "ospf", true));
  REQUIRE(service::list_templates(as_bob, *f.store)->size() == 1);
  auto refused = service::remove_template(as_bob, *f.store, {"ospf", 0});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message ==
        "template ospf is alice's: only its owner or an admin may remove it");

  fakes::World world;
  auto connection = fakes::fake_connection(world, f.context.state_path);
  for (const auto *session : {&as_alice, &as_bob}) {
    auto deployed = service::deploy_template(*session, connection, {"ospf", 0}, "");
    REQUIRE(deployed);
    REQUIRE(deployed->outcome);
    CHECK(deployed->outcome->ok());
    CHECK(deployed->outcome->lab == "class"); // as each of them sees it
  }
  // One lab name each, runtime names unique on the host, each recorded as its owner's.
  CHECK(world.containers.count("ltb-alice__class-n1"));
  CHECK(world.containers.count("ltb-bob__class-n1"));
  CHECK((*connection.store->lab("alice__class"))->owner == "alice");
  CHECK((*connection.store->lab("bob__class"))->owner == "bob");
}
