// `ltb stop`, `ltb start` and `ltb restart` on the fakes: nodes are kept, a container's link
// interfaces are parked and come back with what they carried, `ltb up` leaves stopped nodes
// stopped, `ltb down` removes them, and a stopped node counts its disk only.
#include "fakes/harness.hpp"
#include "schedule/ledger.hpp"
#include "schedule/scheduler.hpp"
#include "service/lifecycle.hpp"
#include "testutil.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace ltb;
using fakes::Harness;

namespace {

topology::Topology chain() {
  auto t = fakes::make_lab("lc");
  t.nodes = {fakes::container_node("r1"), fakes::container_node("r2"), fakes::container_node("r3")};
  t.links = {fakes::make_link("r1", "eth1", "r2", "eth1"),
             fakes::make_link("r2", "eth2", "r3", "eth1")};
  return t;
}

topology::Topology mixed() {
  auto t = fakes::make_lab("mx");
  t.nodes = {fakes::vm_node("v1"), fakes::container_node("c1"), fakes::container_node("c2"),
             fakes::bridge_node("sw")};
  t.links = {
      fakes::make_link("v1", "eth1", "c1", "eth1"), fakes::make_link("c1", "eth2", "c2", "eth1"),
      fakes::make_link("c2", "eth2", "sw", "p1"), fakes::make_link("v1", "eth2", "sw", "p2")};
  return t;
}

std::string ns_of(Harness &h, const std::string &lab, const std::string &node) {
  std::lock_guard lock(h.fakes.world.mutex);
  const auto &c = h.fakes.world.containers.at(plan::container_name(lab, node));
  return c.pid ? fmt::format("pid:{}", c.pid) : std::string();
}

std::optional<fakes::Iface> iface(Harness &h, const std::string &ns, const std::string &name) {
  std::lock_guard lock(h.fakes.world.mutex);
  auto it = h.fakes.world.ifaces.find({ns, name});
  return it == h.fakes.world.ifaces.end() ? std::nullopt : std::optional(it->second);
}

std::map<std::string, state::NodeRecord> nodes_of(Harness &h, const std::string &lab) {
  std::map<std::string, state::NodeRecord> out;
  auto nodes = h.store->nodes(lab);
  REQUIRE(nodes);
  for (const auto &node : *nodes) {
    out[node.name] = node;
  }
  return out;
}

void up_ok(Harness &h, const topology::Topology &t) {
  auto report = h.up(t);
  REQUIRE(report);
  REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
}

void run_ok(Harness &h, const std::string &lab, const std::vector<std::string> &nodes, bool stop) {
  auto report = h.lifecycle(lab, nodes, stop);
  REQUIRE(report);
  REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
}

} // namespace

TEST_CASE("lifecycle: a stopped lab keeps its containers, parks its links, and up leaves it") {
  Harness h;
  auto t = chain();
  up_ok(h, t);
  auto r2_ns = ns_of(h, "lc", "r2");
  {
    std::lock_guard lock(h.fakes.world.mutex);
    h.fakes.world.ifaces.at({r2_ns, "eth1"}).addresses = {"10.0.0.2/30", "2001:db8::2/64"};
  }
  auto before = iface(h, r2_ns, "eth1");
  REQUIRE(before);
  const auto ids = nodes_of(h, "lc");

  run_ok(h, "lc", {}, true);
  {
    std::lock_guard lock(h.fakes.world.mutex);
    for (const auto &name : {"r1", "r2", "r3"}) {
      const auto &c = h.fakes.world.containers.at(plan::container_name("lc", name));
      CHECK(c.state == "exited"); // stopped, not removed
    }
    // Each container's namespace is kept under its name; no lab-wide parking namespace.
    CHECK(h.fakes.world.named_netns == std::set<std::string>{plan::stopped_netns_name("lc", "r1"),
                                                             plan::stopped_netns_name("lc", "r2"),
                                                             plan::stopped_netns_name("lc", "r3")});
  }
  // Every link end waits in its node's kept namespace, as it was: name, MAC, addresses, peer.
  const auto kept = "netns:" + plan::stopped_netns_name("lc", "r2");
  auto parked = iface(h, kept, "eth1");
  REQUIRE(parked);
  CHECK(parked->mac == before->mac);
  CHECK(parked->addresses == std::vector<std::string>{"10.0.0.2/30", "2001:db8::2/64"});
  CHECK(parked->peer_ns == "netns:" + plan::stopped_netns_name("lc", "r1"));
  CHECK(iface(h, kept, "eth2"));
  for (const auto &[name, record] : nodes_of(h, "lc")) {
    CHECK(record.status == state::RecordStatus::stopped);
  }
  CHECK(h.store->lab("lc").value()->status == state::RecordStatus::stopped);
  CHECK(fakes::problems(h, "lc", {t}) == "");

  // `ltb up` of the unchanged file: nothing to do, and status says stopped.
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  CHECK_MESSAGE(plan->empty(), fakes::describe_plan(*plan));
  auto b = h.backends();
  auto observed = apply::observe("lc", b, {false, false, false, {}});
  REQUIRE(observed);
  CHECK(plan::node_state(nodes_of(h, "lc").at("r1"), *observed, true) == "stopped");
  CHECK(plan::not_converged(t, *observed, {"r1", "r2", "r3"}).empty());

  // Stopping again changes nothing.
  auto again = h.lifecycle("lc", {}, true);
  REQUIRE(again);
  CHECK(again->actions.empty());

  run_ok(h, "lc", {}, false);
  r2_ns = ns_of(h, "lc", "r2");
  auto after = iface(h, r2_ns, "eth1");
  REQUIRE(after);
  CHECK(after->mac == before->mac);
  CHECK(after->up);
  CHECK(after->addresses == std::vector<std::string>{"10.0.0.2/30", "2001:db8::2/64"});
  // The same containers, running, wired to each other again.
  for (const auto &[name, record] : nodes_of(h, "lc")) {
    CHECK(record.status == state::RecordStatus::running);
    CHECK(record.runtime_id == ids.at(name).runtime_id);
  }
  CHECK(after->peer_ns == ns_of(h, "lc", "r1"));
  CHECK(iface(h, ns_of(h, "lc", "r3"), "eth1")->peer_ns == r2_ns);
  CHECK(h.store->lab("lc").value()->status == state::RecordStatus::running);
  auto objects = h.store->objects("lc").value();
  CHECK(std::none_of(objects.begin(), objects.end(), [](const auto &o) {
    return o.type == state::ObjectType::parked || o.type == state::ObjectType::netns;
  }));
  CHECK(h.fakes.world.named_netns.empty()); // the kept namespaces went with the start
  auto replan = h.plan_up(t);
  REQUIRE(replan);
  CHECK_MESSAGE(replan->empty(), fakes::describe_plan(*replan));
}

TEST_CASE("lifecycle: restart of one node touches nothing else") {
  Harness h;
  auto t = chain();
  up_ok(h, t);
  const auto r1_ns = ns_of(h, "lc", "r1");
  const auto r3_ns = ns_of(h, "lc", "r3");
  const auto r1_if = iface(h, r1_ns, "eth1")->ifindex;
  const auto r3_if = iface(h, r3_ns, "eth1")->ifindex;
  const auto before = nodes_of(h, "lc");

  run_ok(h, "lc", {"r2"}, true);
  CHECK(nodes_of(h, "lc").at("r1").status == state::RecordStatus::running);
  CHECK(h.store->lab("lc").value()->status == state::RecordStatus::running); // not all stopped
  run_ok(h, "lc", {"r2"}, false);

  CHECK(ns_of(h, "lc", "r1") == r1_ns);
  CHECK(ns_of(h, "lc", "r3") == r3_ns);
  CHECK(iface(h, r1_ns, "eth1")->ifindex == r1_if);
  CHECK(iface(h, r3_ns, "eth1")->ifindex == r3_if);
  CHECK(iface(h, r1_ns, "eth1")->peer_ns == ns_of(h, "lc", "r2"));
  for (const auto &[name, record] : nodes_of(h, "lc")) {
    CHECK(record.runtime_id == before.at(name).runtime_id);
  }
  CHECK(fakes::problems(h, "lc", {t}) == "");
}

TEST_CASE("lifecycle: down of a stopped lab leaves nothing, parking namespace included") {
  Harness h;
  auto t = mixed();
  up_ok(h, t);
  run_ok(h, "mx", {}, true);
  auto report = h.down("mx");
  REQUIRE(report);
  CHECK_MESSAGE(report->ok(), fakes::errors_of(*report));
  CHECK_MESSAGE(h.fakes.world.empty(), h.fakes.world.describe());
  CHECK_FALSE(h.store->lab("mx").value());
}

TEST_CASE("lifecycle: a VM is shut down and kept, its taps stay, and it boots again") {
  Harness h;
  auto t = mixed();
  up_ok(h, t);
  const auto uuid = nodes_of(h, "mx").at("v1").runtime_id;
  const auto tap = plan::host_veth_name("mx", topology::link_key(t.links[0]), "v1");
  run_ok(h, "mx", {"v1"}, true);
  {
    std::lock_guard lock(h.fakes.world.mutex);
    const auto &d = h.fakes.world.domains.at(plan::container_name("mx", "v1"));
    CHECK(d.state == "shutoff");
    CHECK(d.persistent);
    CHECK(h.fakes.world.ifaces.count({"", tap}));
  }
  CHECK(nodes_of(h, "mx").at("v1").status == state::RecordStatus::stopped);
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  CHECK_MESSAGE(plan->empty(), fakes::describe_plan(*plan));

  run_ok(h, "mx", {"v1"}, false);
  {
    // libvirt made the segment NIC's port again; ltb's ids are back on it.
    std::lock_guard lock(h.fakes.world.mutex);
    const auto port = plan::host_veth_name("mx", topology::link_key(t.links[3]), "v1");
    const auto &ports = h.fakes.world.bridges.at(plan::bridge_name("mx", "sw")).ports;
    REQUIRE(ports.count(port));
    CHECK(ports.at(port).at(plan::k_ovs_owner) == topology::link_key(t.links[3]));
    CHECK(ports.at(port).at(plan::k_ovs_lab) == "mx");
  }
  CHECK(nodes_of(h, "mx").at("v1").runtime_id == uuid);
  CHECK(nodes_of(h, "mx").at("v1").status == state::RecordStatus::running);
  auto replan = h.plan_up(t);
  REQUIRE(replan);
  CHECK_MESSAGE(replan->empty(), fakes::describe_plan(*replan));
  CHECK(fakes::problems(h, "mx", {t}) == "");
}

TEST_CASE("lifecycle: a mixed lab stops and starts whole, segments and redirects included") {
  Harness h;
  auto t = mixed();
  up_ok(h, t);
  run_ok(h, "mx", {}, true);
  CHECK(h.store->lab("mx").value()->status == state::RecordStatus::stopped);
  CHECK(fakes::problems(h, "mx", {t}) == "");
  run_ok(h, "mx", {}, false);
  CHECK(fakes::problems(h, "mx", {t}) == "");
  auto c2 = ns_of(h, "mx", "c2");
  auto port = iface(h, c2, "eth2"); // back, its peer still the bridge port
  REQUIRE(port);
  CHECK(port->peer == plan::host_veth_name("mx", topology::link_key(t.links[2]), "c2"));
  auto c1_eth1 = iface(h, ns_of(h, "mx", "c1"), "eth1");
  REQUIRE(c1_eth1);
  CHECK(c1_eth1->peer_ns.empty()); // the host end, redirected to the VM's tap
  auto replan = h.plan_up(t);
  REQUIRE(replan);
  CHECK_MESSAGE(replan->empty(), fakes::describe_plan(*replan));
}

TEST_CASE("lifecycle: a stopped node started outside ltb is drift; a changed one is recreated") {
  Harness h;
  auto t = chain();
  up_ok(h, t);
  run_ok(h, "lc", {"r3"}, true);
  auto b = h.backends();
  REQUIRE(b.docker->start_container(plan::container_name("lc", "r3")));
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  CHECK(fakes::describe_plan(*plan).find("create node r3") != std::string::npos);
  CHECK(fakes::describe_plan(*plan).find("container started outside ltb") != std::string::npos);
  up_ok(h, t);
  CHECK(fakes::problems(h, "lc", {t}) == "");
  auto replan = h.plan_up(t);
  REQUIRE(replan);
  CHECK_MESSAGE(replan->empty(), fakes::describe_plan(*replan));
  // The parked end of the old r3 went with the rewiring; its record with the node.
  auto objects = h.store->objects("lc").value();
  CHECK(std::none_of(objects.begin(), objects.end(),
                     [](const auto &o) { return o.type == state::ObjectType::parked; }));
}

TEST_CASE("lifecycle: links lost by a stop outside ltb are recorded failed; up wires them") {
  Harness h;
  auto t = chain();
  up_ok(h, t);
  auto b = h.backends();
  REQUIRE(b.docker->stop_container(plan::container_name("lc", "r1")));
  auto report = h.lifecycle("lc", {"r1"}, false);
  REQUIRE(report);
  REQUIRE(report->failed == 1);
  CHECK(fakes::errors_of(*report).find("did not survive the stop") != std::string::npos);
  CHECK(nodes_of(h, "lc").at("r1").status == state::RecordStatus::running);
  up_ok(h, t);
  CHECK(iface(h, ns_of(h, "lc", "r1"), "eth1"));
  auto replan = h.plan_up(t);
  REQUIRE(replan);
  CHECK_MESSAGE(replan->empty(), fakes::describe_plan(*replan));
}

TEST_CASE("lifecycle: nodes are checked by name; a bridge has nothing to stop") {
  Harness h;
  auto t = mixed();
  up_ok(h, t);
  auto unknown = h.lifecycle("mx", {"c9"}, true);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message == "lab mx has no node 'c9'");
  CHECK(unknown.error().help == "its nodes: c1, c2, sw, v1");
  CHECK(unknown.error().code == ExitCode::usage);
  auto bridge = h.lifecycle("mx", {"sw"}, true);
  REQUIRE_FALSE(bridge);
  CHECK(bridge.error().code == ExitCode::usage);
  CHECK(h.fakes.world.faults.calls("stop_container") == 0);
}

TEST_CASE("lifecycle: a failed park leaves the node running and recorded so") {
  Harness h;
  auto t = chain();
  up_ok(h, t);
  h.fakes.world.faults.inject("hold_netns", "", 1);
  auto report = h.lifecycle("lc", {"r2"}, true);
  REQUIRE(report);
  CHECK(report->failed == 1);
  CHECK(nodes_of(h, "lc").at("r2").status == state::RecordStatus::running);
  CHECK(h.fakes.world.containers.at(plan::container_name("lc", "r2")).state == "running");
  CHECK(iface(h, ns_of(h, "lc", "r2"), "eth1"));
  // Its records are undone: nothing parked, no kept namespace.
  auto objects = h.store->objects("lc").value();
  CHECK(std::none_of(objects.begin(), objects.end(), [](const auto &o) {
    return o.type == state::ObjectType::parked || o.type == state::ObjectType::netns;
  }));
  // A second stop finishes the job, a start brings everything back.
  run_ok(h, "lc", {"r2"}, true);
  run_ok(h, "lc", {"r2"}, false);
  CHECK(iface(h, ns_of(h, "lc", "r2"), "eth1"));
  CHECK(iface(h, ns_of(h, "lc", "r2"), "eth2"));
  CHECK(fakes::problems(h, "lc", {t}) == "");
}

TEST_CASE("lifecycle: a stop that Docker refuses after the namespace is kept is undone by start") {
  Harness h;
  auto t = chain();
  up_ok(h, t);
  const auto r1_if = iface(h, ns_of(h, "lc", "r1"), "eth1")->ifindex;
  h.fakes.world.faults.inject("stop_container", "", 1);
  auto report = h.lifecycle("lc", {"r2"}, true);
  REQUIRE(report);
  CHECK(report->failed == 1);
  CHECK(h.fakes.world.containers.at(plan::container_name("lc", "r2")).state == "running");
  CHECK(nodes_of(h, "lc").at("r2").status == state::RecordStatus::running);
  // Running with its ends recorded parked: start takes them back (they never left) and lets
  // the kept name go; the peer's interface is the same one.
  run_ok(h, "lc", {"r2"}, false);
  CHECK(iface(h, ns_of(h, "lc", "r2"), "eth1"));
  CHECK(iface(h, ns_of(h, "lc", "r1"), "eth1")->ifindex == r1_if);
  CHECK(h.fakes.world.named_netns.empty());
  auto objects = h.store->objects("lc").value();
  CHECK(std::none_of(objects.begin(), objects.end(), [](const auto &o) {
    return o.type == state::ObjectType::parked || o.type == state::ObjectType::netns;
  }));
  CHECK(fakes::problems(h, "lc", {t}) == "");
}

TEST_CASE("lifecycle: links parked in the lab's parking namespace by an older ltb come back") {
  Harness h;
  auto t = chain();
  up_ok(h, t);
  // What an older `ltb stop --node r2` left: r2's ends in ltb-park-lc under their record names,
  // recorded without a namespace of their own, and r2's container stopped.
  auto b = h.backends();
  const auto park = plan::park_netns_name("lc");
  REQUIRE(b.host->create_netns(park));
  REQUIRE(b.store->add_object(
      {0, "lc", state::ObjectType::netns, park, "", park, "", state::RecordStatus::created}));
  const auto r2_ns = ns_of(h, "lc", "r2");
  {
    std::lock_guard lock(h.fakes.world.mutex);
    h.fakes.world.ifaces.at({r2_ns, "eth1"}).addresses = {"10.0.0.2/30"};
  }
  const int r2_pid = h.fakes.world.containers.at(plan::container_name("lc", "r2")).pid;
  for (const auto &[link, iface_name] :
       {std::pair{t.links[0], std::string("eth1")}, std::pair{t.links[1], std::string("eth2")}}) {
    const auto name = plan::park_iface_name("lc", topology::link_key(link), "r2");
    auto r2 = b.host->netns_of_pid(r2_pid);
    auto parking = b.host->open_netns(park);
    REQUIRE(r2);
    REQUIRE(parking);
    const auto addresses = iface(h, r2_ns, iface_name)->addresses;
    REQUIRE(b.netlink->move_link(iface_name, r2->fd(), parking->fd(), name));
    state::ObjectRecord object{0,    "lc", state::ObjectType::parked, name,
                               "r2", "",   topology::link_key(link),  state::RecordStatus::created};
    object.detail =
        nlohmann::json{{"name", iface_name}, {"up", true}, {"addresses", addresses}}.dump();
    REQUIRE(b.store->add_object(object));
  }
  REQUIRE(b.docker->stop_container(plan::container_name("lc", "r2")));
  auto r2_record = nodes_of(h, "lc").at("r2");
  r2_record.status = state::RecordStatus::stopped;
  REQUIRE(b.store->put_node(r2_record));

  run_ok(h, "lc", {"r2"}, false);
  auto back = iface(h, ns_of(h, "lc", "r2"), "eth1");
  REQUIRE(back);
  CHECK(back->addresses == std::vector<std::string>{"10.0.0.2/30"});
  CHECK(back->peer_ns == ns_of(h, "lc", "r1"));
  CHECK(iface(h, ns_of(h, "lc", "r2"), "eth2"));
  CHECK(fakes::problems(h, "lc", {t}) == "");
  auto down = h.down("lc");
  REQUIRE(down);
  CHECK_MESSAGE(down->ok(), fakes::errors_of(*down));
  CHECK_MESSAGE(h.fakes.world.empty(), h.fakes.world.describe());
}

TEST_CASE("lifecycle: a stopped node counts its disk, not its CPUs and memory") {
  Harness h;
  auto t = mixed();
  up_ok(h, t);
  auto lab = h.store->lab("mx").value().value();
  lab.topology_text = ""; // count by kinds: the fake topology text does not load
  schedule::DemandDefaults defaults;
  auto running = schedule::recorded_lab_demand(*h.store, lab, defaults);
  run_ok(h, "mx", {}, true);
  auto stopped = schedule::recorded_lab_demand(*h.store, lab, defaults);
  CHECK(stopped.cpus == 0);
  CHECK(stopped.memory_bytes == 0);
  CHECK(stopped.disk_bytes == running.disk_bytes);
  CHECK(stopped.disk_bytes > 0); // the VM's disk
  CHECK(schedule::recorded_lab_demand(*h.store, lab, defaults, true) == running);
}

TEST_CASE("lifecycle: a reserved lab starts only within its window") {
  test::TempDir tmp;
  auto opened = state::Store::open(tmp.file("state.db"));
  REQUIRE(opened);
  auto &store = **opened;
  state::LabRecord lab;
  lab.name = "booked";
  lab.status = state::RecordStatus::stopped;
  REQUIRE(store.put_lab(lab));
  state::ReservationRecord r;
  r.lab = "booked";
  r.start_at = 1000;
  r.end_at = 2000;
  r.state = schedule::k_active;
  auto id = store.add_reservation(r);
  REQUIRE(id);
  schedule::StoreBook book(store);
  REQUIRE(book.put_hold("booked", schedule::Hold{*id, 0, 0}));
  service::Context context{tmp.file("state.db"), 0};
  service::Caller caller{0, "root", true, {}};
  service::CancelToken cancel;
  service::NullSink sink;
  service::Session session{context, caller, cancel, sink};
  CHECK(service::admit_start(session, store, lab, 1500));
  auto late = service::admit_start(session, store, lab, 2500);
  REQUIRE_FALSE(late);
  CHECK(late.error().message.find("lab booked belongs to reservation") == 0);
  CHECK(late.error().message.find("it starts only within that window") != std::string::npos);
  auto early = service::admit_start(session, store, lab, 500);
  REQUIRE_FALSE(early);
  CHECK(early.error().help.find("start it from") == 0);
  // A lab without a reservation, with none on the host: nothing to check.
  state::LabRecord free_lab;
  free_lab.name = "free";
  REQUIRE(store.put_lab(free_lab));
  CHECK(service::admit_start(session, store, free_lab, 1500));
}

TEST_CASE("lifecycle: what a pass did becomes node stopped or started events from ltb") {
  auto stopped =
      service::lifecycle_events("lc", {"r1", "r2"}, true, service::LifecycleAction::restart);
  REQUIRE(stopped.size() == 2);
  CHECK(stopped[0].lab == "lc");
  CHECK(stopped[0].type == event::Type::node);
  CHECK(stopped[0].action == event::Action::stopped);
  CHECK(stopped[1].object == "r2");
  CHECK(stopped[0].attributes.at("command") == "restart");
  auto started = service::lifecycle_events("lc", {"r1"}, false, service::LifecycleAction::start);
  REQUIRE(started.size() == 1);
  CHECK(started[0].action == event::Action::started);
  CHECK(started[0].attributes.at("command") == "start");
  CHECK(service::lifecycle_events("lc", {}, true, service::LifecycleAction::stop).empty());
}

TEST_CASE("lifecycle: a container that fails to stop gets its parked links back") {
  Harness h;
  auto t = chain();
  up_ok(h, t);
  const auto r2_ns = ns_of(h, "lc", "r2");
  auto before = iface(h, r2_ns, "eth1");
  REQUIRE(before);
  h.fakes.world.faults.inject("stop_container", nodes_of(h, "lc").at("r2").runtime_id, 1);
  auto report = h.lifecycle("lc", {"r2"}, true);
  REQUIRE(report);
  CHECK(!report->ok());
  CHECK(fakes::errors_of(*report).find("injected failure of stop_container") != std::string::npos);
  // Still running, with the same interfaces as before, nothing parked.
  CHECK(ns_of(h, "lc", "r2") == r2_ns);
  auto after = iface(h, r2_ns, "eth1");
  REQUIRE(after);
  CHECK(after->mac == before->mac);
  CHECK(after->peer_ns == ns_of(h, "lc", "r1"));
  REQUIRE(iface(h, r2_ns, "eth2"));
  CHECK(iface(h, r2_ns, "eth2")->peer_ns == ns_of(h, "lc", "r3"));
  auto objects = h.store->objects("lc").value();
  CHECK(std::none_of(objects.begin(), objects.end(),
                     [](const auto &o) { return o.type == state::ObjectType::parked; }));
  CHECK(nodes_of(h, "lc").at("r2").status == state::RecordStatus::running);
  // The next stop goes through.
  run_ok(h, "lc", {"r2"}, true);
  CHECK(nodes_of(h, "lc").at("r2").status == state::RecordStatus::stopped);
}

TEST_CASE("lifecycle: a node made again beside a stopped peer leaves their link to the peer's "
          "start; up converges, and after start the next up wires it") {
  // Found by the fault harness: `ltb stop` killed after r1 stopped; r2 exited with its record
  // still running. `ltb up` made r2 again and failed wiring r1-r2 ("node r1 is not running").
  Harness h;
  auto t = chain();
  up_ok(h, t);
  run_ok(h, "lc", {"r1"}, true);
  auto b = h.backends();
  REQUIRE(b.docker->stop_container(plan::container_name("lc", "r2")));
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  const auto text = fakes::describe_plan(*plan);
  CHECK(text.find("create node r2") != std::string::npos);
  CHECK(text.find("r1-r2") == std::string::npos);
  up_ok(h, t);
  CHECK(nodes_of(h, "lc").at("r1").status == state::RecordStatus::stopped);
  CHECK(nodes_of(h, "lc").at("r2").status == state::RecordStatus::running);
  auto replan = h.plan_up(t);
  REQUIRE(replan);
  CHECK_MESSAGE(replan->empty(), fakes::describe_plan(*replan));
  // r1 starts; its end of r1-r2 went with the old r2, which start reports; up wires it.
  auto started = h.lifecycle("lc", {"r1"}, false);
  REQUIRE(started);
  CHECK(fakes::errors_of(*started).find("did not survive the stop") != std::string::npos);
  up_ok(h, t);
  CHECK(iface(h, ns_of(h, "lc", "r1"), "eth1"));
  CHECK(iface(h, ns_of(h, "lc", "r2"), "eth1"));
  CHECK(fakes::problems(h, "lc", {t}) == "");
  auto last = h.plan_up(t);
  REQUIRE(last);
  CHECK_MESSAGE(last->empty(), fakes::describe_plan(*last));
}
