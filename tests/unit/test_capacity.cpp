// Tests of lib/schedule/capacity: settings, host capacity, and each lab's demand with the
// documented defaults per kind.

#include "schedule/capacity.hpp"
#include "state/store.hpp"
#include "testutil.hpp"
#include "topology/kinds.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <sys/statvfs.h>
#include <unistd.h>

using namespace ltb::schedule;
using ltb::test::TempDir;

namespace {

constexpr std::int64_t k_mib = 1LL << 20;
constexpr std::int64_t k_gib = 1LL << 30;

/// A node of KIND as the loader leaves it (kind and runtime set).
ltb::topology::Node node(const std::string &kind, double cpus = 0, std::int64_t memory = 0) {
  ltb::topology::Node n;
  n.kind = kind;
  n.runtime = ltb::topology::runtime_of_kind(kind);
  n.cpus = cpus;
  n.memory_bytes = memory;
  return n;
}

} // namespace

TEST_CASE("capacity: settings are checked and normalised") {
  CHECK(*normalise_setting("cpu-overcommit", "1.5") == "1.5");
  CHECK(*normalise_setting("cpu-overcommit", "1.125") == "1.125");
  CHECK(*normalise_setting("cpus", "16") == "16");
  CHECK(*normalise_setting("memory", "16GiB") == std::to_string(16 * k_gib));
  CHECK(*normalise_setting("memory", "512M") == std::to_string(512 * k_mib));
  CHECK(*normalise_setting("disk", "10GB") == "10000000000");
  CHECK(*normalise_setting("container-cpus", "0") == "0");
  CHECK(*normalise_setting("vm-disk", "0") == "0");
  for (auto setting : std::vector<std::pair<const char *, const char *>>{{"cpus", "0"},
                                                                         {"cpus", "-1"},
                                                                         {"cpus", "two"},
                                                                         {"cpu-overcommit", "0"},
                                                                         {"cpu-overcommit", "1e3"},
                                                                         {"cpu-overcommit", "2000"},
                                                                         {"memory", "0"},
                                                                         {"memory", "12 parsecs"},
                                                                         {"disk", ""}}) {
    const char *name = setting.first; // not a structured binding: doctest's macros capture it
    const char *value = setting.second;
    CAPTURE(name);
    CAPTURE(value);
    auto r = normalise_setting(name, value);
    REQUIRE(!r);
    CHECK(r.error().code == ltb::ExitCode::usage);
    CHECK(r.error().message.find(std::string("'") + value + "'") != std::string::npos);
    CHECK(r.error().message.find(name) != std::string::npos);
  }
  auto unknown = normalise_setting("cpu-overcomit", "2");
  REQUIRE(!unknown);
  CHECK(unknown.error().message == "no setting named 'cpu-overcomit'");
  CHECK(unknown.error().help == "did you mean 'cpu-overcommit'?");
}

TEST_CASE("capacity: measured facts, overrides and overcommit") {
  const HostFacts facts{2, 24 * k_gib, 100 * k_gib};
  CapacityConfig defaults;
  auto c = capacity(facts, defaults);
  CHECK(c.cpus == doctest::Approx(8)); // default cpu-overcommit 4
  CHECK(c.memory_bytes == 24 * k_gib);
  CHECK(c.disk_bytes == 100 * k_gib);
  auto config = config_from({{"cpus", "3"},
                             {"memory-overcommit", "1.5"},
                             {"disk", std::to_string(10 * k_gib)},
                             {"cpu-overcommit", "2"},
                             {"from-a-newer-ltb", "x"}});
  REQUIRE(config);
  c = capacity(facts, *config);
  CHECK(c.cpus == doctest::Approx(6));
  CHECK(c.memory_bytes == 36 * k_gib);
  CHECK(c.disk_bytes == 10 * k_gib);
  auto broken = config_from({{"cpu-overcommit", "lots"}});
  REQUIRE(!broken);
  CHECK(broken.error().help.find("ltb config set cpu-overcommit") != std::string::npos);
}

TEST_CASE("capacity: load_config reads the state file's meta table") {
  TempDir tmp;
  auto store = ltb::state::Store::open(tmp.file("state.db"));
  REQUIRE(store);
  auto empty = load_config(**store);
  REQUIRE(empty);
  CHECK(empty->cpu_overcommit == 4);
  CHECK(!empty->cpus);
  REQUIRE((*store)->set_meta(setting_key("container-memory"), "134217728"));
  REQUIRE((*store)->set_meta(setting_key("cpus"), "2.5"));
  auto loaded = load_config(**store);
  REQUIRE(loaded);
  CHECK(loaded->defaults.container_memory_bytes == 128 * k_mib);
  CHECK(loaded->cpus == std::optional<double>(2.5));
}

TEST_CASE("capacity: the host is measured") {
  TempDir tmp;
  // A state directory that does not exist yet is measured on its nearest existing parent.
  auto facts = measure_host(tmp.file("not/yet/there"));
  REQUIRE(facts);
  CHECK(facts->cpus >= 1);
  CHECK(facts->cpus <= sysconf(_SC_NPROCESSORS_CONF));
  CHECK(facts->memory_bytes > 64 * k_mib);
  struct statvfs vfs {};
  REQUIRE(statvfs(tmp.path.c_str(), &vfs) == 0);
  const auto avail =
      static_cast<std::int64_t>(vfs.f_bavail) * static_cast<std::int64_t>(vfs.f_frsize);
  CHECK(facts->disk_bytes > 0);
  // Free space moves while other processes write; within 1 GiB of a second look is the same.
  CHECK(std::abs(facts->disk_bytes - avail) < k_gib);
}

TEST_CASE("capacity: node demand defaults per kind") {
  const DemandDefaults d;
  CHECK(node_demand(node("linux"), d) == Resources{0.5, 256 * k_mib, 0});
  CHECK(node_demand(node("linux", 2, 64 * k_mib), d) == Resources{2, 64 * k_mib, 0});
  CHECK(node_demand(node("ovs-bridge", 4, k_gib), d) == Resources{});
  auto vm = node("vm", 2, 2 * k_gib);
  CHECK(node_demand(vm, d) == Resources{2, 2 * k_gib, 0}); // kernel boot, no disk
  vm.image = "/var/lib/ltb/images/base.qcow2";
  CHECK(node_demand(vm, d) == Resources{2, 2 * k_gib, k_gib});
  vm.disk_size_bytes = 5 * k_gib;
  CHECK(node_demand(vm, d) == Resources{2, 2 * k_gib, 5 * k_gib});
  DemandDefaults custom;
  custom.container_cpus = 0.25;
  custom.container_memory_bytes = 64 * k_mib;
  CHECK(node_demand(node("linux"), custom) == Resources{0.25, 64 * k_mib, 0});
  CHECK(kinds_demand({"linux", "frr", "ovs-bridge", "vm"}, d) == Resources{2, 768 * k_mib, k_gib});
  // A kind recorded by another version of ltb counts as a container.
  CHECK(kinds_demand({"ceos"}, d) == Resources{0.5, 256 * k_mib, 0});
}

TEST_CASE("capacity: a loaded lab's demand sums its nodes") {
  TempDir tmp;
  tmp.write("base.qcow2", "x");
  const std::string yaml = R"(name: demand
topology:
  nodes:
    r1: {kind: frr}
    r2: {kind: frr, cpus: 1.5, memory: 1GiB}
    h1: {kind: linux, image: ltb/busybox:latest}
    sw: {kind: ovs-bridge}
    vm1: {kind: vm, image: ./base.qcow2, disk-size: 4GiB}
    vm2: {kind: vm, image: ./base.qcow2, cpus: 2, memory: 512MiB}
)";
  auto topology = ltb::topology::load_text(yaml, "lab.yaml", tmp.path.string());
  if (!topology) {
    FAIL(ltb::topology::render(topology.error(), false));
  }
  const auto total = lab_demand(*topology, DemandDefaults{});
  // r1 0.5/256M, r2 1.5/1G, h1 0.5/256M, sw 0, vm1 1/256M/4G (loader defaults), vm2 2/512M/1G.
  CHECK(total.cpus == doctest::Approx(5.5));
  CHECK(total.memory_bytes == (256 + 1024 + 256 + 256 + 512) * k_mib);
  CHECK(total.disk_bytes == 5 * k_gib);
  CHECK(format_resources(total) == "5.5 vCPU, 2.25 GiB memory, 5 GiB disk");
}

TEST_CASE("capacity: sizes and numbers as text") {
  CHECK(parse_size("512MiB") == std::optional<std::int64_t>(512 * k_mib));
  CHECK(parse_size("1.5G") == std::optional<std::int64_t>(3 * k_gib / 2));
  CHECK(parse_size("100") == std::optional<std::int64_t>(100));
  CHECK(!parse_size("G"));
  CHECK(!parse_size("1.2.3G"));
  CHECK(!parse_size("-1G"));
  CHECK(!parse_size("99999999999T"));
  CHECK(format_bytes(0) == "0");
  CHECK(format_bytes(512) == "512 B");
  CHECK(format_bytes(256 * k_mib) == "256 MiB");
  CHECK(format_bytes(3 * k_gib / 2) == "1.5 GiB");
  CHECK(format_cpus(0.5) == "0.5");
  CHECK(format_cpus(12) == "12");
  CHECK(format_cpus(12.25) == "12.25");
  Resources sum{0.1, 1, 1};
  sum += Resources{0.2, 1, 1};
  CHECK(sum.fits_in(Resources{0.3, 2, 2})); // milli-vCPUs: no 0.30000000000000004
  CHECK(!sum.fits_in(Resources{0.299, 2, 2}));
}
