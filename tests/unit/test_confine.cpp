// Confinement of a non-admin's lab (ltb-topology(5), CONFINEMENT): what the loader refuses, with
// its place in the file; what Docker is asked for (capabilities, privileges, security options);
// how the service derives it from the caller and keeps it on the lab and its reservations.

#include "fakes/connection.hpp"
#include "fakes/harness.hpp"
#include "runtime/docker/docker_json.hpp"
#include "runtime/libvirt/domain_xml.hpp"
#include "service/deploy.hpp"
#include "service/reservations.hpp"
#include "state/store.hpp"
#include "testutil.hpp"
#include "topology/kinds.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fmt/format.h>
#include <set>
#include <string>

namespace {

namespace fs = std::filesystem;
using namespace ltb;
using test::TempDir;

topology::LoadResult load(const TempDir &dir, const std::string &yaml, bool confined) {
  topology::LoadOptions options;
  options.confined = confined;
  topology::Diagnostics warnings;
  options.warnings = &warnings;
  return topology::load_text(yaml, dir.file("lab.yaml"), dir.path.string(), options);
}

/// The errors of a confined load, as "LINE:COL message".
std::set<std::string> confined_errors(const TempDir &dir, const std::string &yaml) {
  auto loaded = load(dir, yaml, true);
  REQUIRE_FALSE(loaded.has_value());
  std::set<std::string> out;
  for (const auto &d : loaded.error().items) {
    if (d.severity == topology::Severity::error) {
      CHECK_FALSE(d.help.empty());
      out.insert(fmt::format("{}:{} {}", d.loc.line, d.loc.column, d.message));
    }
  }
  return out;
}

bool has(const std::set<std::string> &errors, const std::string &prefix, const std::string &part) {
  for (const auto &e : errors) {
    if (e.rfind(prefix, 0) == 0 && e.find(part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

} // namespace

TEST_CASE("confine: a non-admin's file may not bind host paths or ask for host devices") {
  TempDir dir;
  dir.write("r1.conf", "hostname r1\n");
  const std::string yaml = R"(name: c1
topology:
  defaults:
    binds: [/etc:/host-etc]
  kinds:
    linux:
      image: ltb/busybox:latest
      cap-add: [SYS_ADMIN]
  groups:
    g:
      devices: [/dev/null]
  nodes:
    h1:
      kind: linux
      group: g
      binds:
        - data:/data
      network-mode: host
    r1:
      kind: frr
      startup-config: r1.conf
)";
  // An admin may: the same file loads (the containerlab keys with a warning).
  auto admin = load(dir, yaml, false);
  REQUIRE_MESSAGE(admin.has_value(), topology::render(admin.error(), false));
  CHECK_FALSE(admin->confined);

  const auto errors = confined_errors(dir, yaml);
  CHECK(has(errors, "4:5 ",
            "'binds' mounts host paths into the node: bind mounts of host paths "
            "are for admins"));
  CHECK(has(errors, "8:7 ", "'cap-add' gives the node more capabilities"));
  CHECK(has(errors, "11:7 ", "'devices' gives the node host devices"));
  CHECK(has(errors, "16:7 ", "'binds'"));
  CHECK(has(errors, "18:21 ", "network-mode 'host' puts the node in the host's network namespace"));
  CHECK(errors.size() == 5); // r1's startup-config beside the file is fine
}

TEST_CASE("confine: files outside the topology file's directory are for admins") {
  TempDir dir;
  dir.write("lab/r1.conf", "hostname r1\n");
  dir.write("lab/sub/key", "k\n");
  dir.write("outside.conf", "hostname x\n");
  std::error_code ec;
  fs::create_symlink(dir.file("outside.conf"), dir.file("lab/link.conf"), ec);
  REQUIRE_FALSE(ec);
  TempDir unused;
  const std::string yaml = fmt::format(R"(name: c2
topology:
  nodes:
    r1:
      kind: frr
      startup-config: r1.conf
      ssh-key: sub/key
    r2:
      kind: frr
      startup-config: {}
    r3:
      kind: frr
      startup-config: ../outside.conf
    r4:
      kind: frr
      startup-config: link.conf
      ssh-key: ~/.ssh/id_ed25519
    v1:
      kind: vm
      image: /var/lib/disks/base.qcow2
      kernel: /boot/vmlinuz
)",
                                       dir.file("outside.conf"));
  topology::LoadOptions options;
  options.confined = true;
  auto loaded = topology::load_text(yaml, dir.file("lab/lab.yaml"), dir.file("lab"), options);
  REQUIRE_FALSE(loaded.has_value());
  std::set<std::string> errors;
  for (const auto &d : loaded.error().items) {
    if (d.severity == topology::Severity::error) {
      errors.insert(fmt::format("{}:{} {}", d.loc.line, d.loc.column, d.message));
      if (d.message.find("files elsewhere on the host are for admins") != std::string::npos) {
        CHECK(d.help.find("relative path") != std::string::npos);
      }
    }
  }
  CHECK(has(errors, "10:23 ", "is a host path: files elsewhere on the host are for admins"));
  CHECK(has(errors, "13:23 ", "'../outside.conf' leaves the topology file's directory"));
  CHECK(has(errors, "16:23 ", "'link.conf' leads out of the topology file's directory"));
  CHECK(has(errors, "17:16 ", "ssh-key '~/.ssh/id_ed25519' is a host path"));
  CHECK(has(errors, "20:14 ", "base disk '/var/lib/disks/base.qcow2' is a host path"));
  CHECK(has(errors, "21:15 ", "kernel '/boot/vmlinuz' is a host path"));
  CHECK_FALSE(has(errors, "6:", ""));
  CHECK_FALSE(has(errors, "7:", ""));
}

TEST_CASE("confine: a confined load of a clean file is marked confined") {
  TempDir dir;
  dir.write("r1.conf", "hostname r1\n");
  auto loaded = load(dir,
                     "name: c3\ntopology:\n  nodes:\n    r1: {kind: frr, startup-config: "
                     "r1.conf}\n",
                     true);
  REQUIRE(loaded.has_value());
  CHECK(loaded->confined);
  CHECK(loaded->nodes.at(0).startup_config == dir.file("r1.conf"));
}

TEST_CASE("confine: the kind registry lists each container kind's capabilities") {
  for (const auto &kind : topology::kinds()) {
    if (kind.runtime != topology::Runtime::container) {
      continue;
    }
    CAPTURE(kind.name);
    CHECK_FALSE(kind.confined_capabilities.empty());
    for (const auto &cap : kind.confined_capabilities) {
      CHECK(cap.rfind("CAP_", 0) == std::string_view::npos);
    }
  }
  const auto *host_kind = topology::find_kind("linux");
  REQUIRE(host_kind);
  CHECK(topology::confined_capabilities_text(*host_kind) == "NET_ADMIN, NET_RAW");
}

TEST_CASE("confine: a confined container is not privileged and gets only its kind's "
          "capabilities") {
  runtime::ContainerSpec spec;
  spec.name = "n";
  spec.image = "i";
  spec.network = "ltb-x";
  spec.binds = {"/state/lab/n/startup-config:/etc/frr/frr.conf"};
  spec.confined = true;
  spec.capabilities = {"NET_ADMIN", "NET_RAW"};
  // Whatever the host's bounding set says: a confined node never gets the admin's treatment.
  for (const auto &privileges :
       {runtime::docker::Privileges{}, runtime::docker::privileges_for(0xffff, 40)}) {
    const auto body = runtime::docker::container_create_body(spec, privileges);
    const auto &host = body["HostConfig"];
    CHECK(host["Privileged"] == false);
    CHECK(host["CapDrop"] == nlohmann::json::array({"ALL"}));
    CHECK(host["CapAdd"] == nlohmann::json::array({"NET_ADMIN", "NET_RAW"}));
    CHECK(host["SecurityOpt"] == nlohmann::json::array({"no-new-privileges"}));
    CHECK(host["IpcMode"] == "private");
    CHECK(host["CgroupnsMode"] == "private");
    CHECK(host["PidsLimit"] == 4096);
    CHECK(host["NetworkMode"] == "ltb-x");
    CHECK_FALSE(host.contains("MaskedPaths"));
    CHECK_FALSE(host.contains("ReadonlyPaths"));
    CHECK_FALSE(host.contains("Devices"));
    CHECK_FALSE(host.contains("PidMode"));
    CHECK_FALSE(host.contains("UTSMode"));
  }
  // SYS_ADMIN (FRR): ltb's seccomp profile, which denies mounts and namespaces.
  spec.capabilities = {"NET_ADMIN", "SYS_ADMIN"};
  spec.sysctls = {{"net.ipv4.ip_forward", "1"}};
  const auto body = runtime::docker::container_create_body(spec);
  const auto &security = body["HostConfig"]["SecurityOpt"];
  REQUIRE(security.size() == 2);
  CHECK(security[0] == "no-new-privileges");
  const std::string seccomp = security[1].get<std::string>();
  REQUIRE(seccomp.rfind("seccomp=", 0) == 0);
  const auto profile = nlohmann::json::parse(seccomp.substr(8));
  CHECK(profile == runtime::docker::confined_seccomp_profile());
  std::set<std::string> denied;
  for (const auto &rule : profile["syscalls"]) {
    CHECK(rule["action"] == "SCMP_ACT_ERRNO");
    if (!rule.contains("args")) {
      for (const auto &name : rule["names"]) {
        denied.insert(name.get<std::string>());
      }
    }
  }
  for (const char *call : {"mount", "umount2", "unshare", "setns", "pivot_root", "fsopen",
                           "move_mount", "open_tree", "init_module", "finit_module", "bpf",
                           "kexec_load", "open_by_handle_at", "clone3", "keyctl", "syslog"}) {
    CAPTURE(call);
    CHECK(denied.count(call) == 1);
  }
  CHECK(body["HostConfig"]["Sysctls"] == nlohmann::json{{"net.ipv4.ip_forward", "1"}});
}

TEST_CASE("confine: an admin's container is made as before") {
  runtime::ContainerSpec spec;
  spec.name = "n";
  spec.image = "i";
  const auto body = runtime::docker::container_create_body(spec);
  CHECK(body["HostConfig"]["Privileged"] == true);
  CHECK_FALSE(body["HostConfig"].contains("CapDrop"));
  CHECK_FALSE(body["HostConfig"].contains("SecurityOpt"));
}

TEST_CASE("confine: only a confined node's configuration hash changes") {
  topology::Node node = fakes::container_node("h1");
  const auto before = topology::node_config_hash(node);
  node.confined = true;
  CHECK(topology::node_config_hash(node) != before);
  node.confined = false;
  CHECK(topology::node_config_hash(node) == before);
}

namespace {

/// A state file, the fakes, and two callers: a user who is not an admin and root.
struct ServiceFixture {
  TempDir dir;
  fakes::World world;
  service::Context context;
  service::Caller student{1000, "student", false, {}};
  service::Caller root{0, "root", true, {}};
  service::CancelToken cancel;
  service::NullSink events;
  service::Connection connection;

  ServiceFixture() {
    context.state_path = dir.file("state/state.db");
    connection = fakes::fake_connection(world, context.state_path);
  }

  Result<service::DeployOutcome> up(const service::Caller &caller, const std::string &file,
                                    service::DeployRequest request = {}) {
    service::Session session{context, caller, cancel, events};
    auto loaded = topology::load_file(dir.file(file), service::load_options(session));
    if (!loaded) {
      return fail(topology::render(loaded.error(), false), "", ExitCode::usage);
    }
    return service::deploy_lab(session, connection, *loaded, request);
  }

  const runtime::ContainerSpec &spec(const std::string &name) {
    REQUIRE(world.containers.count(name));
    return world.containers.at(name).spec;
  }
};

} // namespace

TEST_CASE("confine: a non-admin's lab is confined on the fakes, and stays so") {
  ServiceFixture f;
  f.dir.write("lab/lab.yaml", "name: cl\ntopology:\n  nodes:\n    r1: {kind: frr}\n"
                              "    h1: {kind: linux, image: ltb/busybox:latest}\n");
  auto outcome = f.up(f.student, "lab/lab.yaml");
  REQUIRE_MESSAGE(outcome, outcome.error().message);
  REQUIRE(outcome->ok());
  const auto &r1 = f.spec("ltb-student__cl-r1");
  CHECK(r1.confined);
  CHECK_FALSE(r1.privileged);
  CHECK(r1.capabilities == std::vector<std::string>{"NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE",
                                                    "SYS_ADMIN", "SETUID", "SETGID", "CHOWN",
                                                    "DAC_OVERRIDE", "KILL", "SYS_CHROOT"});
  CHECK(r1.sysctls.at("net.ipv4.ip_forward") == "1");
  const auto &h1 = f.spec("ltb-student__cl-h1");
  CHECK(h1.confined);
  CHECK(h1.capabilities == std::vector<std::string>{"NET_ADMIN", "NET_RAW"});
  CHECK(h1.sysctls.empty());
  // No host path among the binds: only ltb's own files in the lab directory.
  for (const auto &bind : r1.binds) {
    CHECK(bind.rfind(f.context.lab_dir("student__cl"), 0) == 0);
  }
  auto record = f.connection.store->lab("student__cl");
  REQUIRE(record);
  REQUIRE(*record);
  CHECK((*record)->confined);
  // The host is closed to its nodes: its rules, on its management bridge.
  REQUIRE(f.world.firewall.count("student__cl"));
  const auto &rules = f.world.firewall.at("student__cl").first;
  CHECK(rules.interface == plan::mgmt_bridge_name("student__cl"));
  CHECK(rules.links == std::vector<std::string>{plan::veth_prefix("student__cl") + "+",
                                                plan::bridge_prefix("student__cl") + "+"});

  // root deploys it again for its owner (as the scheduler does): still confined (nothing
  // changes, so nothing is remade).
  service::DeployRequest for_student;
  for_student.owner = "student";
  auto again = f.up(f.root, "lab/lab.yaml", for_student);
  REQUIRE_MESSAGE(again, again.error().message);
  CHECK(again->up_to_date);
  CHECK((*f.connection.store->lab("student__cl"))->confined);

  // ... and a file with a bind mount is refused for it, with the place in the file.
  f.dir.write("lab/lab.yaml", "name: cl\ntopology:\n  nodes:\n    r1: {kind: frr}\n"
                              "    h1: {kind: linux, image: ltb/busybox:latest, binds: "
                              "['/etc:/e']}\n");
  auto refused = f.up(f.root, "lab/lab.yaml", for_student);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("lab 'cl' is confined") != std::string::npos);
  CHECK(refused.error().message.find("lab.yaml:5:") != std::string::npos);
  CHECK(refused.error().message.find("bind mounts of host paths are for admins") !=
        std::string::npos);
  for (const auto &bind : f.spec("ltb-student__cl-h1").binds) {
    CHECK(bind.rfind(f.context.lab_dir("student__cl"), 0) == 0);
  }
}

TEST_CASE("confine: an admin's lab is made as before; a bind mount is theirs to use") {
  ServiceFixture f;
  f.dir.write("lab/lab.yaml", "name: al\ntopology:\n  nodes:\n    h1: {kind: linux, image: "
                              "ltb/busybox:latest, binds: ['/etc/hostname:/h:ro']}\n");
  auto outcome = f.up(f.root, "lab/lab.yaml");
  REQUIRE_MESSAGE(outcome, outcome.error().message);
  REQUIRE(outcome->ok());
  const auto &h1 = f.spec("ltb-al-h1");
  CHECK_FALSE(h1.confined);
  CHECK(h1.privileged);
  CHECK(h1.capabilities.empty());
  CHECK(h1.binds.front() == "/etc/hostname:/h:ro");
  CHECK_FALSE((*f.connection.store->lab("al"))->confined);
  CHECK(f.world.firewall.empty()); // its nodes reach the host as before

  // The same file as a non-admin: refused at load, nothing made.
  f.dir.write("lab2/lab.yaml", "name: ul\ntopology:\n  nodes:\n    h1: {kind: linux, image: "
                               "ltb/busybox:latest, binds: ['/etc/hostname:/h:ro']}\n");
  auto refused = f.up(f.student, "lab2/lab.yaml");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("lab.yaml:4:") != std::string::npos);
  CHECK(f.world.containers.count("ltb-student__ul-h1") == 0);
  CHECK(f.world.containers.size() == 1); // the admin's h1 only
  CHECK_FALSE(f.connection.store->lab("student__ul")->has_value());
}

TEST_CASE("confine: a non-admin's unconfined lab is made again confined") {
  ServiceFixture f;
  f.dir.write("lab/lab.yaml", "name: ml\ntopology:\n  nodes:\n    h1: {kind: linux, image: "
                              "ltb/busybox:latest}\n");
  REQUIRE(f.up(f.root, "lab/lab.yaml"));
  const auto first = f.world.containers.at("ltb-ml-h1").id;
  CHECK_FALSE(f.spec("ltb-ml-h1").confined);
  // The scheduler deploys a non-admin's reservation as root, asked to confine it.
  service::DeployRequest request;
  request.confined = true;
  auto outcome = f.up(f.root, "lab/lab.yaml", request);
  REQUIRE_MESSAGE(outcome, outcome.error().message);
  CHECK(outcome->ok());
  CHECK(f.spec("ltb-ml-h1").confined);
  CHECK(f.world.containers.at("ltb-ml-h1").id != first);
  CHECK((*f.connection.store->lab("ml"))->confined);
  CHECK(f.world.firewall.count("ml") == 1);
}

TEST_CASE("confine: a lab an admin deploys for an owner who is not an admin is confined") {
  ServiceFixture f;
  f.dir.write("lab/lab.yaml", "name: ol\ntopology:\n  nodes:\n    h1: {kind: linux, image: "
                              "ltb/busybox:latest}\n");
  // nobody: a Unix user (Debian has it) that ltb does not know, so not an admin.
  service::DeployRequest request;
  request.owner = "nobody";
  auto outcome = f.up(f.root, "lab/lab.yaml", request);
  REQUIRE_MESSAGE(outcome, outcome.error().message);
  CHECK(outcome->ok());
  CHECK(f.spec("ltb-nobody__ol-h1").confined); // nobody's lab: its id
  CHECK((*f.connection.store->lab("nobody__ol"))->confined);
}

TEST_CASE("confine: a reservation keeps its maker's confinement; put_lab never clears it") {
  TempDir dir;
  auto opened = state::Store::open(dir.file("state.db"));
  REQUIRE(opened);
  auto &store = **opened;
  state::ReservationRecord r;
  r.lab = "x";
  r.owner = "student";
  r.confined = true;
  r.start_at = 100;
  r.end_at = 200;
  auto id = store.add_reservation(r);
  REQUIRE(id);
  auto read = store.reservation(*id);
  REQUIRE(read);
  REQUIRE(*read);
  CHECK((*read)->confined);
  (*read)->confined = false;
  REQUIRE(store.put_reservation(**read));
  CHECK((*store.reservation(*id))->confined);

  state::LabRecord lab;
  lab.name = "x";
  lab.confined = true;
  REQUIRE(store.put_lab(lab));
  lab.confined = false;
  REQUIRE(store.put_lab(lab));
  CHECK((*store.lab("x"))->confined);
}

TEST_CASE("confine: a VM's domain keeps libvirt's default QEMU confinement") {
  runtime::VmSpec spec;
  spec.name = "ltb-x-v1";
  spec.accel = "qemu";
  spec.disk = "/var/lib/ltb/labs/x/v1/disk.qcow2";
  spec.kernel = "/var/lib/ltb/vm-images/ltb-vm/vmlinuz";
  spec.nics.push_back({"bridge", "ltb-x", "52:54:00:00:00:01", "", "virtio"});
  const auto xml = runtime::domain_xml(spec);
  CHECK(xml.find("<seclabel") == std::string::npos); // libvirt's default labels apply
  CHECK(xml.find("<hostdev") == std::string::npos);
  CHECK(xml.find("<filesystem") == std::string::npos);
}
