// containerlab's vendor kinds in the registry and the loader: their needs as data (env, command,
// sysctls, exec, readiness, login), interface aliases mapped to Linux names at load time, and
// the located errors for a name that fits neither form and for a vrnetlab kind without a disk.

#include "testutil.hpp"
#include "topology/containerlab.hpp"
#include "topology/kinds.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace {

using namespace ltb::topology;
using ltb::test::TempDir;

LoadResult load(const std::string &yaml, const std::string &dir = "/tmp") {
  return load_text(yaml, "lab.clab.yml", dir, {});
}

std::string errors(const std::string &yaml) {
  auto result = load(yaml);
  REQUIRE_MESSAGE(!result.has_value(), "the load was expected to fail");
  return render(result.error(), false);
}

std::string mapped(std::string_view kind, std::string_view name) {
  const Kind *info = find_kind(kind);
  REQUIRE(info);
  auto out = linux_interface(*info, name);
  return out.problem.empty() ? out.linux : "error: " + out.problem;
}

} // namespace

TEST_CASE("vendor kinds: containerlab's names find the kind, stored under its first name") {
  CHECK(find_kind("srl") == find_kind("nokia_srlinux"));
  CHECK(find_kind("ceos") == find_kind("arista_ceos"));
  CHECK(find_kind("crpd") == find_kind("juniper_crpd"));
  CHECK(find_kind("vr-sros") == find_kind("nokia_sros"));
  CHECK(find_kind("vr-nokia_sros") == find_kind("nokia_sros"));
  CHECK(find_kind("vr-vmx")->runtime == Runtime::vm);
  CHECK(find_kind("sonic-vs")->runtime == Runtime::container);
  CHECK(runtime_of_kind("vr-veos") == Runtime::vm);
  const auto names = kind_names();
  CHECK(std::find(names.begin(), names.end(), "srl") != names.end());
  CHECK(names_of(*find_kind("srl")) == std::vector<std::string>{"nokia_srlinux", "srl"});
  for (const Kind &kind : kinds()) {
    // Every vendor kind says which containerlab page it follows, and nothing else does.
    CHECK(is_vendor_kind(kind) == !kind.interfaces.linux_pattern.empty());
    CHECK((!kind.vrnetlab || (kind.runtime == Runtime::vm && is_vendor_kind(kind))));
  }
}

TEST_CASE("vendor kinds: interface aliases and Linux names") {
  CHECK(mapped("srl", "ethernet-1/1") == "e1-1");
  CHECK(mapped("srl", "ethernet-2/10") == "e2-10");
  CHECK(mapped("srl", "ethernet-1/3/2") == "e1-3-2");
  CHECK(mapped("srl", "e1-5") == "e1-5");
  CHECK(mapped("srl", "eth1")
            .rfind("error: 'eth1' is not an interface name of kind "
                   "nokia_srlinux",
                   0) == 0);
  CHECK(mapped("ceos", "Ethernet1") == "eth1");
  CHECK(mapped("ceos", "Ethernet2/1") == "eth2_1");
  CHECK(mapped("ceos", "Ethernet3/1/4") == "eth3_1_4");
  CHECK(mapped("ceos", "eth7") == "eth7");
  CHECK(mapped("ceos", "et7") == "et7");
  CHECK(mapped("ceos", "Management0").rfind("error:", 0) == 0);
  CHECK(mapped("crpd", "eth3") == "eth3");
  CHECK(mapped("crpd", "ge-0/0/0").rfind("error:", 0) == 0);
  CHECK(mapped("sonic-vs", "eth1") == "eth1");
  CHECK(mapped("sonic-vs", "Ethernet0").rfind("error:", 0) == 0);
  CHECK(mapped("nokia_sros", "1/1/1") == "eth1");
  CHECK(mapped("nokia_sros", "1/1/12") == "eth12");
  CHECK(mapped("vr-vmx", "ge-0/0/0") == "eth1");
  CHECK(mapped("vr-vmx", "xe-0/0/4") == "eth5");
  CHECK(mapped("vr-xrv9k", "Gi0/0/0/0") == "eth1");
  CHECK(mapped("vr-xrv9k", "TenGigE0/0/0/2") == "eth3");
  CHECK(mapped("vr-veos", "Ethernet1/1") == "eth1");
  CHECK(mapped("vr-veos", "Et1/2") == "eth2");
  // A number too long for an interface is refused, not thrown.
  CHECK(mapped("srl", "ethernet-1/99999999999999999999").rfind("error:", 0) == 0);
  // The kinds without naming rules take any name (the loader checks Linux's rules).
  CHECK(mapped("linux", "anything") == "anything");
}

TEST_CASE("vendor kinds: a node gets its kind's needs under the file's") {
  auto t = load("name: v\n"
                "topology:\n"
                "  kinds:\n"
                "    srl: {image: ghcr.io/nokia/srlinux:24.10}\n"
                "  nodes:\n"
                "    srl1: {kind: srl, env: {SRLINUX: '2', EXTRA: x}}\n"
                "    ceos1: {kind: arista_ceos, image: ceos:4.32.0F, cmd: /sbin/init}\n"
                "    sonic1: {kind: sonic-vs, image: docker-sonic-vs:latest, exec: [echo hi]}\n"
                "    crpd1: {kind: crpd, image: crpd:23.2R1.13}\n");
  REQUIRE_MESSAGE(t, render(t.error(), false));
  const Node *srl = t->find_node("srl1");
  REQUIRE(srl);
  CHECK(srl->kind == "nokia_srlinux");
  CHECK(srl->image == "ghcr.io/nokia/srlinux:24.10"); // from topology.kinds.srl
  CHECK(srl->env.at("SRLINUX") == "2");               // the file's value wins
  CHECK(srl->env.at("EXTRA") == "x");
  CHECK(srl->cmd == "sudo -E bash -c 'touch /.dockerenv && /opt/srlinux/bin/sr_linux'");
  CHECK(srl->sysctls.at("net.ipv4.ip_forward") == "0");
  REQUIRE(srl->healthcheck);
  CHECK(srl->healthcheck->test.at(0) == "CMD-SHELL");
  CHECK(srl->healthcheck->test.at(1).find("ready_for_config") != std::string::npos);
  CHECK(srl->username == "admin");
  CHECK(srl->password == "NokiaSrl1!");
  CHECK(srl->startup_config_path == "/etc/opt/srlinux/config.json");
  const Node *ceos = t->find_node("ceos1");
  REQUIRE(ceos);
  CHECK(ceos->cmd == "/sbin/init"); // the file's command wins
  CHECK(ceos->env.at("INTFTYPE") == "eth");
  CHECK(ceos->env.size() == 8);
  const Node *sonic = t->find_node("sonic1");
  REQUIRE(sonic);
  CHECK(sonic->entrypoint == "/bin/bash");
  REQUIRE(sonic->exec.size() == 3); // the kind's first, then the file's
  CHECK(sonic->exec[0].find("supervisord") == 0);
  CHECK(sonic->exec[2] == "echo hi");
  const Node *crpd = t->find_node("crpd1");
  REQUIRE(crpd);
  CHECK(crpd->cmd.empty());
  CHECK(crpd->env.empty());
  CHECK(crpd->username == "root");
  CHECK(crpd->password == "clab123");
}

TEST_CASE("vendor kinds: aliases in links are Linux names in the model") {
  auto t = load("name: v\n"
                "topology:\n"
                "  nodes:\n"
                "    srl1: {kind: srl, image: srlinux:1}\n"
                "    ceos1: {kind: ceos, image: ceos:1}\n"
                "  links:\n"
                "    - endpoints: [\"srl1:ethernet-1/1\", \"ceos1:Ethernet1\"]\n"
                "    - endpoints: [\"srl1:e1-2\", \"ceos1:eth2\"]\n"
                "    - endpoints:\n"
                "        - {node: srl1, interface: ethernet-1/3/1}\n"
                "        - {node: ceos1, interface: Ethernet3/1}\n");
  REQUIRE_MESSAGE(t, render(t.error(), false));
  REQUIRE(t->links.size() == 3);
  CHECK(t->links[0].a.iface == "e1-1");
  CHECK(t->links[0].b.iface == "eth1");
  CHECK(t->links[1].a.iface == "e1-2");
  CHECK(t->links[2].a.iface == "e1-3-1");
  CHECK(t->links[2].b.iface == "eth3_1");
}

TEST_CASE("vendor kinds: an alias and its Linux name are one interface") {
  const std::string out = errors("name: v\n"
                                 "topology:\n"
                                 "  nodes:\n"
                                 "    srl1: {kind: srl, image: srlinux:1}\n"
                                 "    c1: {kind: linux, image: alpine:3}\n"
                                 "  links:\n"
                                 "    - endpoints: [\"srl1:ethernet-1/1\", \"c1:eth1\"]\n"
                                 "    - endpoints: [\"srl1:e1-1\", \"c1:eth2\"]\n");
  CHECK(out.find("interface 'srl1:e1-1' is already used by link 1") != std::string::npos);
}

TEST_CASE("vendor kinds: a name that is neither alias nor Linux name is a located error") {
  const std::string out = errors("name: v\n"
                                 "topology:\n"
                                 "  nodes:\n"
                                 "    srl1: {kind: srl, image: srlinux:1}\n"
                                 "    c1: {kind: linux, image: alpine:3}\n"
                                 "  links:\n"
                                 "    - endpoints: [\"srl1:eth1\", \"c1:eth1\"]\n");
  CHECK(out.find("lab.clab.yml:7:25: error: 'eth1' is not an interface name of kind "
                 "nokia_srlinux") != std::string::npos);
  CHECK(out.find("help: write ethernet-L/P or ethernet-L/P/C") != std::string::npos);
}

TEST_CASE("vendor kinds: a vrnetlab kind runs a VM from a qcow2 disk") {
  TempDir dir;
  { std::ofstream(dir.path / "sros.qcow2") << "disk"; }
  auto t = load("name: v\n"
                "topology:\n"
                "  nodes:\n"
                "    sr1: {kind: vr-sros, image: sros.qcow2}\n"
                "    c1: {kind: linux, image: alpine:3}\n"
                "  links:\n"
                "    - endpoints: [\"sr1:1/1/2\", \"c1:eth1\"]\n",
                dir.path.string());
  REQUIRE_MESSAGE(t, render(t.error(), false));
  const Node *sros = t->find_node("sr1");
  REQUIRE(sros);
  CHECK(sros->kind == "nokia_sros");
  CHECK(sros->runtime == Runtime::vm);
  CHECK(sros->image == (dir.path / "sros.qcow2").string());
  CHECK(sros->cpus == 2);
  CHECK(sros->memory_bytes == 4096LL * 1024 * 1024);
  CHECK(sros->username == "admin");
  CHECK(t->links.at(0).a.iface == "eth2");
}

TEST_CASE("vendor kinds: a vrnetlab kind with a container image says how to give the disk") {
  const std::string out = errors("name: v\n"
                                 "topology:\n"
                                 "  nodes:\n"
                                 "    sr1:\n"
                                 "      kind: nokia_sros\n"
                                 "      image: vrnetlab/nokia_sros:23.10.R1\n");
  CHECK(out.find("lab.clab.yml:6:14: error: node 'sr1' of kind nokia_sros names the container "
                 "image 'vrnetlab/nokia_sros:23.10.R1': ltb runs vrnetlab kinds as VMs from a "
                 "qcow2 disk") != std::string::npos);
  CHECK(out.find("help: set image to the VM's qcow2 file") != std::string::npos);
  const std::string none = errors("name: v\n"
                                  "topology:\n"
                                  "  nodes:\n"
                                  "    sr1: {kind: vr-sros}\n");
  CHECK(none.find("node 'sr1' of kind nokia_sros has no image") != std::string::npos);
  // Container fields are refused on it, as on any VM.
  const std::string env = errors("name: v\n"
                                 "topology:\n"
                                 "  nodes:\n"
                                 "    sr1: {kind: vr-sros, image: /x/sros.qcow2, env: {A: b}}\n");
  CHECK(env.find("'env' is not supported on nokia_sros nodes") != std::string::npos);
}

TEST_CASE("vendor kinds: ltb validate --containerlab names them as supported") {
  const auto report = containerlab_report("name: x\n"
                                          "topology:\n"
                                          "  nodes:\n"
                                          "    a: {kind: srl, image: srlinux}\n"
                                          "    b: {kind: vr-sros, image: sros.qcow2}\n"
                                          "    c: {kind: linux, image: alpine}\n"
                                          "    d: {kind: cisco_iol, image: iol}\n",
                                          "x.yml");
  REQUIRE(report.parsed);
  std::map<std::string, const FeatureUse *> used;
  for (const auto &use : report.used) {
    used[std::string(use.feature->id)] = &use;
  }
  REQUIRE(used.count("kind-vendor") == 1);
  CHECK(used.at("kind-vendor")->places.at(0).line == 4);
  REQUIRE(used.count("kind-vrnetlab") == 1);
  CHECK(used.at("kind-vrnetlab")->places.at(0).line == 5);
  REQUIRE(used.count("kind-known") == 1);
  CHECK(used.at("kind-known")->places.size() == 1); // linux only
  REQUIRE(used.count("kind-unknown") == 1);
  CHECK(used.at("kind-unknown")->places.at(0).line == 7);
}

TEST_CASE("vendor kinds: the corpus files load (the vrnetlab one with its disk beside it)") {
  const std::string corpus = std::string(LTB_SOURCE_DIR) + "/tests/data/containerlab/";
  for (const char *file : {"srl.clab.yml", "ceos.clab.yml", "crpd.clab.yml", "sonic-vs.clab.yml"}) {
    CAPTURE(file);
    auto loaded = load_file(corpus + file);
    CHECK_MESSAGE(loaded, (loaded ? "" : render(loaded.error(), false)));
  }
  auto srl = load_file(corpus + "srl.clab.yml");
  REQUIRE(srl);
  CHECK(srl->links.at(0).a.iface == "e1-1");
  CHECK(srl->find_node("srl2")->kind == "nokia_srlinux");
  TempDir dir;
  std::filesystem::copy_file(corpus + "vr-sros.clab.yml", dir.path / "vr-sros.clab.yml");
  { std::ofstream(dir.path / "sros-vm.qcow2") << "disk"; }
  auto sros = load_file((dir.path / "vr-sros.clab.yml").string());
  CHECK_MESSAGE(sros, (sros ? "" : render(sros.error(), false)));
  auto image = load_file(corpus + "vr-sros-image.clab.yml");
  REQUIRE_FALSE(image);
  CHECK(render(image.error(), false)
            .find("vr-sros-image.clab.yml:11:14: error: node 'sr1' of "
                  "kind nokia_sros names the container image") != std::string::npos);
}
