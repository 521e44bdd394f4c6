// Tests of lib/service/metrics: the parsers of /proc and cgroup files on fixture text, the
// Prometheus text and JSON renderings, and one collection over fakes (cgroup v1 and v2 layouts,
// a VM's bulk stats, who sees which lab).

#include "fakes/connection.hpp"
#include "fakes/metrics_host.hpp"
#include "plan/names.hpp"
#include "service/metrics.hpp"
#include "testutil.hpp"

#include <doctest/doctest.h>
#include <set>
#include <sstream>

using namespace ltb;
using ltb::test::TempDir;

namespace {

constexpr const char *k_proc_stat = R"(cpu  1000 20 300 40000 50 6 7 8 0 0
cpu0 600 10 200 20000 25 3 4 4 0 0
cpu1 400 10 100 20000 25 3 3 4 0 0
intr 123456 0 0
ctxt 99
btime 1700000000
)";

constexpr const char *k_meminfo = R"(MemTotal:       24576000 kB
MemFree:         1000000 kB
MemAvailable:   20000000 kB
HugePages_Total:       0
)";

constexpr const char *k_net_dev =
    R"(Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     840      10    0    0    0     0          0         0      840      10    0    0    0     0       0          0
  eth1:    5000      40    0    0    0     0          0         0     7000      50    0    0    0     0       0          0
  eth0: 1234567    1000    0    0    0     0          0         0   765432      900    0    0    0     0       0          0
)";

} // namespace

TEST_CASE("metrics: /proc/stat in seconds, every CPU and all together") {
  const auto stat = service::parse_proc_stat(k_proc_stat, 100);
  CHECK(stat.total.user == doctest::Approx(10.0));
  CHECK(stat.total.nice == doctest::Approx(0.2));
  CHECK(stat.total.idle == doctest::Approx(400.0));
  CHECK(stat.total.steal == doctest::Approx(0.08));
  REQUIRE(stat.per_cpu.size() == 2);
  CHECK(stat.per_cpu[0].system == doctest::Approx(2.0));
  CHECK(stat.per_cpu[1].softirq == doctest::Approx(0.03));
  // An older kernel's line without steal: the missing modes are 0.
  CHECK(service::parse_proc_stat("cpu 1 2 3 4\n", 100).total.steal == 0);
}

TEST_CASE("metrics: /proc/meminfo in bytes") {
  const auto info = service::parse_meminfo(k_meminfo);
  CHECK(info.at("MemTotal") == 24576000LL * 1024);
  CHECK(info.at("MemAvailable") == 20000000LL * 1024);
  CHECK(info.at("HugePages_Total") == 0); // no unit: as it is
}

TEST_CASE("metrics: cgroup key-value files and the working set") {
  const auto cpu = service::parse_keyed("usage_usec 2500000\nuser_usec 2000000\nsystem_usec "
                                        "500000\nnr_periods 0\n");
  CHECK(cpu.at("usage_usec") == 2'500'000);
  // v2: memory.current minus inactive_file.
  const auto v2 = service::parse_keyed("anon 1000\nfile 9000\ninactive_file 4000\n");
  CHECK(service::working_set_bytes(10000, v2) == 6000);
  // v1: the hierarchy's total_inactive_file wins over the cgroup's own inactive_file.
  const auto v1 = service::parse_keyed("inactive_file 100\ntotal_inactive_file 3000\n");
  CHECK(service::working_set_bytes(10000, v1) == 7000);
  // Never below 0; nothing known of the cache: the usage.
  CHECK(service::working_set_bytes(1000, v1) == 0);
  CHECK(service::working_set_bytes(1000, {}) == 1000);
  // Lines of another form are skipped.
  CHECK(service::parse_keyed("a 1 2\nb x\nc 3\n").size() == 1);
}

TEST_CASE("metrics: /proc/PID/net/dev without lo, by name") {
  const auto ifaces = service::parse_net_dev(k_net_dev);
  REQUIRE(ifaces.size() == 2);
  CHECK(ifaces[0] == service::InterfaceMetrics{"eth0", 1234567, 765432});
  CHECK(ifaces[1] == service::InterfaceMetrics{"eth1", 5000, 7000});
}

namespace {

service::MetricsSnapshot sample_snapshot() {
  service::MetricsSnapshot s;
  s.time = 1'800'000'000.5;
  s.host.cpus = 2;
  s.host.cpu = {10, 0.2, 3, 400, 0.5, 0.06, 0.07, 0.08};
  s.host.per_cpu = {{6, 0.1, 2, 200, 0.25, 0.03, 0.04, 0.04},
                    {4, 0.1, 1, 200, 0.25, 0.03, 0.03, 0.04}};
  s.host.memory_total_bytes = 8LL << 30;
  s.host.memory_available_bytes = 6LL << 30;
  s.host.disks = {{"/var/lib/ltb", 100LL << 20, 50LL << 20}};
  service::NodeMetrics r1;
  r1.lab = "lab1";
  r1.node = "r1";
  r1.kind = "frr";
  r1.owner = "alice";
  r1.runtime = "container";
  r1.state = "running";
  r1.measured = true;
  r1.cpu_seconds_total = 1.25;
  r1.memory_working_set_bytes = 4096;
  r1.disk_bytes = 512;
  r1.interfaces = {{"eth0", 10, 20}, {"eth1", 30, 40}};
  s.nodes.push_back(r1);
  service::NodeMetrics odd = r1;
  odd.node = "we\"ird\\na\nme";
  odd.interfaces = {};
  s.nodes.push_back(odd);
  service::NodeMetrics gone = r1;
  gone.node = "h1";
  gone.state = "missing";
  gone.measured = false;
  gone.interfaces = {};
  s.nodes.push_back(gone);
  s.labs.push_back({"lab1", "alice", 3, 1.5, 768LL << 20});
  s.labs.push_back({"bob__lab2", "bob", 1, 0, 0});
  s.deploy_duration_seconds = service::Histogram({1, 10});
  s.deploy_duration_seconds.observe(0.5);
  s.deploy_duration_seconds.observe(4);
  s.scheduler_lateness_seconds = service::Histogram({1});
  return s;
}

std::vector<std::string> lines_of(const std::string &text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

} // namespace

TEST_CASE("metrics: Prometheus text, HELP and TYPE once per family, counters as _total") {
  const auto text = service::prometheus_text(sample_snapshot());
  std::map<std::string, std::string> types;
  std::set<std::string> helps;
  for (const auto &line : lines_of(text)) {
    if (line.rfind("# HELP ", 0) == 0) {
      const auto name = line.substr(7, line.find(' ', 7) - 7);
      CHECK_MESSAGE(helps.insert(name).second, "HELP twice: " << name);
    } else if (line.rfind("# TYPE ", 0) == 0) {
      const auto rest = line.substr(7);
      const auto name = rest.substr(0, rest.find(' '));
      CHECK_MESSAGE(types.emplace(name, rest.substr(rest.find(' ') + 1)).second,
                    "TYPE twice: " << name);
    } else {
      // Every sample belongs to a family declared before it.
      const auto name = line.substr(0, line.find_first_of("{ "));
      bool declared = types.count(name) > 0;
      for (const char *suffix : {"_bucket", "_sum", "_count"}) {
        const std::string s = suffix;
        if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
          declared = declared || types.count(name.substr(0, name.size() - s.size())) > 0;
        }
      }
      CHECK_MESSAGE(declared, "sample of no family: " << line);
    }
  }
  CHECK(helps.size() == types.size());
  for (const auto &entry : types) {
    const std::string &name = entry.first; // not a structured binding: doctest's macros capture it
    const std::string &type = entry.second;
    CHECK_MESSAGE((type == "counter") ==
                      (name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0),
                  name << " is a " << type);
  }
  CHECK(types.at("node_cpu_seconds_total") == "counter");
  CHECK(types.at("ltb_deploy_duration_seconds") == "histogram");
  CHECK(text.find("node_cpu_seconds_total{cpu=\"1\",mode=\"user\"} 4\n") != std::string::npos);
  CHECK(text.find("node_memory_MemAvailable_bytes 6442450944\n") != std::string::npos);
  CHECK(text.find("node_filesystem_avail_bytes{path=\"/var/lib/ltb\"} 52428800\n") !=
        std::string::npos);
  CHECK(text.find("ltb_node_cpu_seconds_total{lab=\"lab1\",node=\"r1\",kind=\"frr\",owner="
                  "\"alice\"} 1.25\n") != std::string::npos);
  CHECK(text.find("ltb_node_network_receive_bytes_total{lab=\"lab1\",node=\"r1\",kind=\"frr\","
                  "owner=\"alice\",interface=\"eth1\"} 30\n") != std::string::npos);
  // Label values escaped: backslash, double quote, newline.
  CHECK(text.find(R"(node="we\"ird\\na\nme")") != std::string::npos);
  // A node not measured has no CPU or memory sample (absent, not 0), but its state.
  CHECK(text.find("node=\"h1\",kind=\"frr\",owner=\"alice\"} 0\n") != std::string::npos);
  CHECK(text.find("ltb_node_cpu_seconds_total{lab=\"lab1\",node=\"h1\"") == std::string::npos);
  CHECK(text.find("ltb_labs{owner=\"alice\"} 1\n") != std::string::npos);
  CHECK(text.find("ltb_nodes{lab=\"bob__lab2\",owner=\"bob\"} 1\n") != std::string::npos);
  CHECK(text.find("ltb_reserved_memory_bytes{lab=\"lab1\",owner=\"alice\"} 805306368\n") !=
        std::string::npos);
  CHECK(text.find("ltb_deploy_duration_seconds_bucket{le=\"1\"} 1\n") != std::string::npos);
  CHECK(text.find("ltb_deploy_duration_seconds_bucket{le=\"+Inf\"} 2\n") != std::string::npos);
  CHECK(text.find("ltb_deploy_duration_seconds_sum 4.5\n") != std::string::npos);
  CHECK(text.find("ltb_scheduler_lateness_seconds_count 0\n") != std::string::npos);
  CHECK(text.back() == '\n');
}

TEST_CASE("metrics: label values escaped as the text format wants") {
  CHECK(service::escape_label_value("plain") == "plain");
  CHECK(service::escape_label_value("a\\b") == "a\\\\b");
  CHECK(service::escape_label_value("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(service::escape_label_value("two\nlines") == "two\\nlines");
}

TEST_CASE("metrics: the JSON the web UI reads") {
  const auto json = service::metrics_json(sample_snapshot());
  CHECK(json.at("time").get<double>() == doctest::Approx(1'800'000'000.5));
  const auto &host = json.at("host");
  CHECK(host.at("cpus") == 2);
  for (const char *mode : {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}) {
    CHECK(host.at("cpu_seconds_total").contains(mode));
  }
  CHECK(host.at("cpu_seconds_total").size() == 8);
  CHECK(host.at("memory_total_bytes") == 8LL << 30);
  CHECK(host.at("memory_available_bytes") == 6LL << 30);
  CHECK(host.at("disks").at(0) == nlohmann::json{{"path", "/var/lib/ltb"},
                                                 {"size_bytes", 100LL << 20},
                                                 {"available_bytes", 50LL << 20}});
  const auto &r1 = json.at("nodes").at(0);
  CHECK(
      r1 ==
      nlohmann::json{
          {"lab", "lab1"},
          {"node", "r1"},
          {"kind", "frr"},
          {"owner", "alice"},
          {"runtime", "container"},
          {"state", "running"},
          {"cpu_seconds_total", 1.25},
          {"memory_working_set_bytes", 4096},
          {"disk_bytes", 512},
          {"interfaces",
           {{{"interface", "eth0"}, {"receive_bytes_total", 10}, {"transmit_bytes_total", 20}},
            {{"interface", "eth1"}, {"receive_bytes_total", 30}, {"transmit_bytes_total", 40}}}}});
  CHECK(json.at("labs").at(0) == nlohmann::json{{"lab", "lab1"},
                                                {"owner", "alice"},
                                                {"nodes", 3},
                                                {"reserved_cpus", 1.5},
                                                {"reserved_memory_bytes", 768LL << 20}});
  CHECK(json.size() == 4);
}

namespace {

/// A state file with labs of alice and bob, their containers and a VM in the fakes, and the
/// kernel's files as the fake host shows them.
struct Collect {
  TempDir tmp;
  fakes::World world;
  service::Connection connection = fakes::fake_connection(world, tmp.file("state.db"));
  fakes::FakeMetricsHost host;
  service::Context context{tmp.file("state.db"), 1};
  service::CancelToken cancel;
  service::NullSink sink;

  void node(const std::string &lab, const std::string &name, const std::string &kind,
            const std::string &status = "running") {
    state::NodeRecord n;
    n.lab = lab;
    n.name = name;
    n.kind = kind;
    n.status = state::parse_record_status(status).value();
    REQUIRE(connection.store->put_node(n));
  }

  void lab(const std::string &id, const std::string &owner) {
    state::LabRecord record;
    record.name = id;
    record.owner = owner;
    record.status = state::RecordStatus::running;
    REQUIRE(connection.store->put_lab(record));
  }

  void container(const std::string &lab, const std::string &node, const std::string &id,
                 const std::string &state = "running", std::int64_t changes = 0) {
    fakes::Container c;
    c.spec.name = plan::container_name(lab, node);
    c.spec.labels = {{plan::k_label_lab, lab}, {plan::k_label_node, node}};
    c.id = id;
    c.state = state;
    c.changes = changes;
    world.containers[c.spec.name] = c;
  }

  Result<service::MetricsSnapshot> collect(const service::Caller &caller,
                                           const std::optional<std::string> &lab = {}) {
    const service::Session session{context, caller, cancel, sink};
    return service::collect_metrics(session, connection, host, lab);
  }
};

const service::Caller k_root{0, "root", true, {}};
const service::Caller k_alice{1000, "alice", false, {}};

const service::NodeMetrics &find(const service::MetricsSnapshot &s, const std::string &node) {
  for (const auto &n : s.nodes) {
    if (n.node == node) {
      return n;
    }
  }
  FAIL_CHECK("no node " << node);
  static const service::NodeMetrics none;
  return none;
}

} // namespace

TEST_CASE("metrics: collected from cgroup v1 (cgroupfs) files, Docker's list and /proc") {
  Collect f;
  f.lab("alice__lab1", "alice");
  f.node("alice__lab1", "r1", "linux");
  f.node("alice__lab1", "r2", "linux");
  f.node("alice__lab1", "r3", "linux", "stopped");
  f.lab("bob__lab2", "bob");
  f.node("bob__lab2", "h1", "linux");
  f.container("alice__lab1", "r1", "c1", "running", 8192);
  f.container("alice__lab1", "r2", "c2", "exited", 100);
  f.container("bob__lab2", "h1", "c3");
  f.host.files["/proc/stat"] = k_proc_stat;
  f.host.files["/proc/meminfo"] = k_meminfo;
  f.host.files["/sys/fs/cgroup/cpuacct/cpuacct.usage"] = "999999999999\n";
  f.host.files["/sys/fs/cgroup/cpuacct/docker/c1/cpuacct.usage"] = "2500000000\n";
  f.host.files["/sys/fs/cgroup/memory/docker/c1/memory.usage_in_bytes"] = "10000\n";
  f.host.files["/sys/fs/cgroup/memory/docker/c1/memory.stat"] =
      "cache 4000\ninactive_file 100\ntotal_inactive_file 3000\n";
  f.host.files["/sys/fs/cgroup/memory/docker/c1/cgroup.procs"] = "4242\n4243\n";
  f.host.files["/proc/4242/net/dev"] = k_net_dev;
  f.host.filesystems[f.tmp.path.string()] = {1000, 400};

  auto snapshot = f.collect(k_alice);
  REQUIRE(snapshot);
  // alice sees her own lab only, by its plain name.
  REQUIRE(snapshot->nodes.size() == 3);
  const auto &r1 = find(*snapshot, "r1");
  CHECK(r1.lab == "lab1");
  CHECK(r1.owner == "alice");
  CHECK(r1.runtime == "container");
  CHECK(r1.state == "running");
  CHECK(r1.measured);
  CHECK(r1.cpu_seconds_total == doctest::Approx(2.5));
  CHECK(r1.memory_working_set_bytes == 7000);
  CHECK(r1.disk_bytes == 8192);
  REQUIRE(r1.interfaces.size() == 2);
  CHECK(r1.interfaces[1] == service::InterfaceMetrics{"eth1", 5000, 7000});
  const auto &r2 = find(*snapshot, "r2");
  CHECK(r2.state == "exited");
  CHECK_FALSE(r2.measured);
  CHECK(find(*snapshot, "r3").state == "stopped");
  REQUIRE(snapshot->labs.size() == 1);
  CHECK(snapshot->labs[0].lab == "lab1");
  CHECK(snapshot->labs[0].nodes == 3);
  // Without a reservation the lab holds what its nodes' kinds ask (the stopped one: disk only).
  CHECK(snapshot->labs[0].reserved_cpus > 0);
  CHECK(snapshot->labs[0].reserved_memory_bytes > 0);
  CHECK(snapshot->host.cpus == 2);
  CHECK(snapshot->host.memory_available_bytes == 20000000LL * 1024);
  REQUIRE(snapshot->host.disks.size() == 1);
  CHECK(snapshot->host.disks[0].available_bytes == 400);

  // root, an admin, sees every lab, other users' by their ids.
  auto all = f.collect(k_root);
  REQUIRE(all);
  CHECK(all->nodes.size() == 4);
  CHECK(find(*all, "h1").lab == "bob__lab2");
  CHECK(find(*all, "r1").lab == "alice__lab1");

  // One lab by name; another user's reads as missing.
  auto one = f.collect(k_alice, "lab1");
  REQUIRE(one);
  CHECK(one->nodes.size() == 3);
  auto other = f.collect(k_alice, "bob__lab2");
  REQUIRE_FALSE(other);
  CHECK(other.error().message.find("no lab named") != std::string::npos);
}

TEST_CASE("metrics: collected from cgroup v2 under systemd's driver") {
  Collect f;
  f.lab("lab1", "root");
  f.node("lab1", "r1", "linux");
  f.container("lab1", "r1", "c1");
  f.host.files["/sys/fs/cgroup/cgroup.controllers"] = "cpu memory io pids\n";
  const std::string dir = "/sys/fs/cgroup/system.slice/docker-c1.scope/";
  f.host.files[dir + "cpu.stat"] = "usage_usec 1500000\nuser_usec 1000000\n";
  f.host.files[dir + "memory.current"] = "8000\n";
  f.host.files[dir + "memory.stat"] = "anon 5000\ninactive_file 2000\n";
  f.host.files[dir + "cgroup.procs"] = "77\n";
  f.host.files["/proc/77/net/dev"] = k_net_dev;
  auto snapshot = f.collect(k_root);
  REQUIRE(snapshot);
  const auto &r1 = find(*snapshot, "r1");
  CHECK(r1.measured);
  CHECK(r1.cpu_seconds_total == doctest::Approx(1.5));
  CHECK(r1.memory_working_set_bytes == 6000);
  CHECK(r1.interfaces.size() == 2);
}

TEST_CASE("metrics: a VM's figures from libvirt's bulk stats, its taps named as its interfaces") {
  Collect f;
  f.connection.vms = std::make_unique<fakes::FakeLibvirt>(f.world);
  f.lab("lab1", "root");
  f.node("lab1", "vm1", "vm");
  f.node("lab1", "sw", "ovs-bridge");
  state::LinkRecord link;
  link.lab = "lab1";
  link.key = "sw:p1--vm1:eth1";
  link.name = "sw:p1--vm1:eth1";
  link.a_node = "sw";
  link.a_iface = "p1";
  link.b_node = "vm1";
  link.b_iface = "eth1";
  REQUIRE(f.connection.store->put_link(link));
  const auto domain = plan::container_name("lab1", "vm1");
  f.world.domains[domain].spec.name = domain;
  runtime::VmStats stats;
  stats.cpu_time_ns = 3'000'000'000;
  stats.rss_bytes = 300LL << 20;
  stats.disk_allocation_bytes = 50LL << 20;
  stats.interfaces = {{"vnet3", 100, 200},
                      {plan::segment_node_veth_name("lab1", link.key, "vm1"), 300, 400}};
  f.world.vm_stats[domain] = stats;
  auto snapshot = f.collect(k_root);
  REQUIRE(snapshot);
  const auto &vm = find(*snapshot, "vm1");
  CHECK(vm.runtime == "vm");
  CHECK(vm.state == "running");
  CHECK(vm.cpu_seconds_total == doctest::Approx(3.0));
  CHECK(vm.memory_working_set_bytes == 300LL << 20);
  CHECK(vm.disk_bytes == 50LL << 20);
  REQUIRE(vm.interfaces.size() == 2);
  CHECK(vm.interfaces[0] == service::InterfaceMetrics{"eth1", 300, 400});
  CHECK(vm.interfaces[1] == service::InterfaceMetrics{"vnet3", 100, 200});
  const auto &sw = find(*snapshot, "sw");
  CHECK(sw.runtime == "bridge");
  CHECK(sw.state == "running");
  CHECK_FALSE(sw.measured);
}

TEST_CASE("metrics: the scheduler's deploys and lateness from the reservation events") {
  Collect f;
  state::ReservationRecord r;
  r.lab = "lab1";
  r.owner = "root";
  r.start_at = 1000;
  r.end_at = 2000;
  r.state = "ended";
  REQUIRE(f.connection.store->add_reservation(r));
  for (const auto &[deploy, late] : {std::pair{"3.5", "12.25"}, std::pair{"40", "-1"}}) {
    state::EventRecord e;
    e.time_ns = 1;
    e.lab = "lab1";
    e.type = "reservation";
    e.action = "started";
    e.object = "1";
    e.attributes =
        std::string(R"({"deploy_seconds":")") + deploy + R"(","late_seconds":")" + late + R"("})";
    REQUIRE(f.connection.store->add_event(e));
  }
  auto snapshot = f.collect(k_root);
  REQUIRE(snapshot);
  CHECK(snapshot->deploy_duration_seconds.count == 2);
  CHECK(snapshot->deploy_duration_seconds.sum == doctest::Approx(43.5));
  CHECK(snapshot->scheduler_lateness_seconds.count == 2);
  CHECK(snapshot->scheduler_lateness_seconds.sum == doctest::Approx(12.25)); // early counts 0
}

TEST_CASE("metrics: other histograms in the text format, one series per label set") {
  ltb::service::Histogram fast({0.01, 0.1});
  fast.observe(0.005);
  fast.observe(0.05);
  ltb::service::Histogram slow({0.01, 0.1});
  slow.observe(2);
  const auto text =
      ltb::service::prometheus_histograms("ltb_api_request_duration_seconds", "How long.",
                                          {{{{"route", "/v1/labs"}, {"method", "GET"}}, fast},
                                           {{{"route", "/v1/login"}, {"method", "POST"}}, slow}});
  CHECK(text.find("# HELP ltb_api_request_duration_seconds How long.\n"
                  "# TYPE ltb_api_request_duration_seconds histogram\n") == 0);
  CHECK(text.find("ltb_api_request_duration_seconds_bucket{route=\"/v1/labs\",method=\"GET\","
                  "le=\"0.01\"} 1\n") != std::string::npos);
  CHECK(text.find("ltb_api_request_duration_seconds_bucket{route=\"/v1/labs\",method=\"GET\","
                  "le=\"+Inf\"} 2\n") != std::string::npos);
  CHECK(text.find("ltb_api_request_duration_seconds_count{route=\"/v1/login\",method=\"POST\"} "
                  "1\n") != std::string::npos);
  CHECK(text.find("# TYPE", text.find("# TYPE") + 1) == std::string::npos); // once
}
