// Link impairments and carrier on the fakes: the kernel path (netem/tbf on the right interface of
// each kind of link), reconcile without touching nodes, run-time changes kept or replaced by the
// file, `ltb link down|up`, and the choice between the kernel and the relay.
#include "fakes/harness.hpp"
#include "service/events.hpp"
#include "service/links.hpp"

#include <cstdlib>
#include <doctest/doctest.h>

using namespace ltb;
using fakes::Harness;

namespace {

topology::Impairments delay(std::uint64_t ms) {
  topology::Impairments i;
  i.delay_us = ms * 1000;
  return i;
}

topology::Link r1_r2() {
  auto link = fakes::make_link("r1", "eth1", "r2", "eth1");
  link.name = "r1-r2";
  link.name_given = true;
  return link;
}

topology::Topology pair_lab() {
  auto t = fakes::make_lab("imp");
  t.nodes = {fakes::container_node("r1"), fakes::container_node("r2")};
  t.links = {r1_r2()};
  return t;
}

void impair_both(topology::Link &link, const topology::Impairments &i) {
  link.impair_a = link.impair_b = i;
  link.impair_a_set = link.impair_b_set = true;
}

std::string ns_of(Harness &h, const std::string &lab, const std::string &node) {
  std::lock_guard lock(h.fakes.world.mutex);
  const auto &c = h.fakes.world.containers.at(plan::container_name(lab, node));
  return fmt::format("pid:{}", c.pid);
}

std::optional<net::Impairment> qdisc(Harness &h, const std::string &ns, const std::string &name) {
  std::lock_guard lock(h.fakes.world.mutex);
  auto it = h.fakes.world.qdiscs.find({ns, name});
  return it == h.fakes.world.qdiscs.end() ? std::nullopt : std::optional(it->second);
}

bool iface_up(Harness &h, const std::string &ns, const std::string &name) {
  std::lock_guard lock(h.fakes.world.mutex);
  return h.fakes.world.ifaces.at({ns, name}).up;
}

state::LinkRecord link_record(Harness &h, const std::string &lab) {
  auto links = h.store->links(lab);
  REQUIRE(links);
  REQUIRE(links->size() == 1);
  return links->front();
}

std::vector<plan::ActionKind> kinds_of(const plan::Plan &plan) {
  std::vector<plan::ActionKind> kinds;
  for (const auto &action : plan.actions) {
    kinds.push_back(action.kind);
  }
  return kinds;
}

std::string container_id(Harness &h, const std::string &lab, const std::string &node) {
  std::lock_guard lock(h.fakes.world.mutex);
  return h.fakes.world.containers.at(plan::container_name(lab, node)).id;
}

/// A session over the harness's state file.
struct Service {
  service::Context context;
  service::Caller caller{0, "tester", true, {}};
  service::CancelToken cancel;
  service::NullSink sink;
  service::Session session{context, caller, cancel, sink};
  explicit Service(Harness &h) { context.state_path = h.dir.file("state.db"); }
};

} // namespace

TEST_CASE("link settings: the file's impairments go on each end's egress, inside its node") {
  Harness h;
  auto t = pair_lab();
  impair_both(t.links[0], delay(50));
  t.links[0].impair_b.rate_bps = 10'000'000;
  auto report = h.up(t);
  REQUIRE(report);
  REQUIRE(report->ok());
  auto a = qdisc(h, ns_of(h, "imp", "r1"), "eth1");
  auto b = qdisc(h, ns_of(h, "imp", "r2"), "eth1");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->delay_us == 50'000);
  CHECK(a->rate_bps == 0);
  CHECK(b->rate_bps == 10'000'000);
  auto record = link_record(h, "imp");
  CHECK(record.impair_a == "delay=50000");
  CHECK(record.impair_b == "delay=50000 rate=10000000");
  CHECK(record.file_impair_a == "delay=50000");
  CHECK(record.impair_via == "kernel");
  CHECK_FALSE(record.override_a);
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK(again->empty());
}

TEST_CASE("link settings: changing only impairments recreates no node and no link") {
  Harness h;
  auto t = pair_lab();
  REQUIRE(h.up(t)->ok());
  const auto r1 = container_id(h, "imp", "r1");
  CHECK_FALSE(qdisc(h, ns_of(h, "imp", "r1"), "eth1"));

  impair_both(t.links[0], delay(20));
  t.links[0].impair_a.loss_pct = 20;
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  REQUIRE(kinds_of(*plan) == std::vector{plan::ActionKind::set_impairment});
  CHECK(plan::describe(plan->actions[0], *plan) ==
        "set link r1-r2: r1:eth1 delay 20ms, loss 20%; r2:eth1 delay 20ms "
        "[impairments changed]");
  REQUIRE(h.up(t)->ok());
  CHECK(container_id(h, "imp", "r1") == r1);
  CHECK(qdisc(h, ns_of(h, "imp", "r1"), "eth1")->loss_pct == 20);
  CHECK(qdisc(h, ns_of(h, "imp", "r2"), "eth1")->delay_us == 20'000);

  // Back to none: the qdiscs go, still without touching the nodes.
  t.links[0] = r1_r2();
  plan = h.plan_up(t);
  REQUIRE(kinds_of(*plan) == std::vector{plan::ActionKind::set_impairment});
  REQUIRE(h.up(t)->ok());
  CHECK_FALSE(qdisc(h, ns_of(h, "imp", "r1"), "eth1"));
  CHECK_FALSE(qdisc(h, ns_of(h, "imp", "r2"), "eth1"));
  CHECK(container_id(h, "imp", "r1") == r1);
  CHECK(h.plan_up(t)->empty());
}

TEST_CASE("link settings: a recreated node's link gets its impairments and carrier again") {
  Harness h;
  auto t = pair_lab();
  impair_both(t.links[0], delay(5));
  REQUIRE(h.up(t)->ok());
  Service s(h);
  auto b = h.backends();
  REQUIRE(service::set_link_state(s.session, b, {"imp", "r1-r2", false}));
  // r2 is recreated (its image changed): the link is wired anew, and keeps both.
  t.nodes[1].image = "ltb/frr:latest";
  REQUIRE(h.up(t)->ok());
  CHECK(qdisc(h, ns_of(h, "imp", "r2"), "eth1")->delay_us == 5'000);
  CHECK(qdisc(h, ns_of(h, "imp", "r1"), "eth1")->delay_us == 5'000);
  CHECK_FALSE(iface_up(h, ns_of(h, "imp", "r1"), "eth1"));
  CHECK_FALSE(iface_up(h, ns_of(h, "imp", "r2"), "eth1"));
  CHECK(link_record(h, "imp").down);
}

TEST_CASE("link settings: ltb link set changes one direction or both, and is recorded") {
  Harness h;
  auto t = pair_lab();
  REQUIRE(h.up(t)->ok());
  Service s(h);
  auto b = h.backends();
  const auto r1 = container_id(h, "imp", "r1");

  auto set = service::set_link(s.session, b, {"", "r1:eth1", {{"delay", "50ms"}}, false});
  REQUIRE_MESSAGE(set, set.error().message);
  CHECK(set->a.impairments == "delay 50ms");
  CHECK(set->a.source == "run time");
  CHECK(set->b.impairments == "none");
  CHECK(qdisc(h, ns_of(h, "imp", "r1"), "eth1")->delay_us == 50'000);
  CHECK_FALSE(qdisc(h, ns_of(h, "imp", "r2"), "eth1"));

  // Fields not given keep their value; the link's name sets both directions.
  set = service::set_link(s.session, b, {"imp", "r1-r2", {{"loss", "2%"}}, false});
  REQUIRE(set);
  CHECK(set->a.impairments == "delay 50ms, loss 2%");
  CHECK(set->b.impairments == "loss 2%");
  CHECK(container_id(h, "imp", "r1") == r1);

  // `ltb up` of the unchanged file (which sets no impairments) keeps them.
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  CHECK(plan->empty());

  // --reset: back to the file's (none).
  set = service::set_link(s.session, b, {"imp", "r1-r2", {}, true});
  REQUIRE(set);
  CHECK(set->a.impairments == "none");
  CHECK(set->a.source.empty());
  CHECK_FALSE(qdisc(h, ns_of(h, "imp", "r1"), "eth1"));

  // Each change is an "impairment changed" event with the new values.
  auto rows = h.store->events_after(0, "imp");
  REQUIRE(rows);
  std::vector<event::Event> changes;
  for (const auto &row : *rows) {
    auto e = service::event_of(row);
    REQUIRE(e);
    if (e->type == event::Type::impairment) {
      changes.push_back(*e);
    }
  }
  REQUIRE(changes.size() == 3);
  CHECK(changes[0].action == event::Action::changed);
  CHECK(changes[0].object == "r1-r2");
  CHECK(changes[0].attributes == std::map<std::string, std::string>{{"delay", "50ms"},
                                                                    {"r1:eth1", "delay 50ms"},
                                                                    {"source", "ltb"}});
  CHECK(changes[1].attributes ==
        std::map<std::string, std::string>{{"loss", "2%"},
                                           {"r1:eth1", "delay 50ms, loss 2%"},
                                           {"r2:eth1", "loss 2%"},
                                           {"source", "ltb"}});
  CHECK(changes[2].attributes ==
        std::map<std::string, std::string>{
            {"reset", "true"}, {"r1:eth1", "none"}, {"r2:eth1", "none"}, {"source", "ltb"}});
}

TEST_CASE("link settings: the file wins over a run-time change when it sets that direction") {
  Harness h;
  auto t = pair_lab();
  t.links[0].impair_a = delay(10);
  t.links[0].impair_a_set = true;
  REQUIRE(h.up(t)->ok());
  Service s(h);
  auto b = h.backends();
  REQUIRE(service::set_link(s.session, b, {"imp", "r1-r2", {{"delay", "99ms"}}, false}));
  CHECK(qdisc(h, ns_of(h, "imp", "r1"), "eth1")->delay_us == 99'000);
  CHECK(qdisc(h, ns_of(h, "imp", "r2"), "eth1")->delay_us == 99'000);

  auto plan = h.plan_up(t);
  REQUIRE(kinds_of(*plan) == std::vector{plan::ActionKind::set_impairment});
  REQUIRE(h.up(t)->ok());
  // Direction a: the file sets it, the file wins. Direction b: the file says nothing there, the
  // run-time change stays.
  CHECK(qdisc(h, ns_of(h, "imp", "r1"), "eth1")->delay_us == 10'000);
  CHECK(qdisc(h, ns_of(h, "imp", "r2"), "eth1")->delay_us == 99'000);
  auto record = link_record(h, "imp");
  CHECK_FALSE(record.override_a);
  CHECK(record.override_b == "delay=99000");
  CHECK(h.plan_up(t)->empty());
}

TEST_CASE("link settings: bad values and unknown links are usage errors with help") {
  Harness h;
  REQUIRE(h.up(pair_lab())->ok());
  Service s(h);
  auto b = h.backends();
  auto set = service::set_link(s.session, b, {"imp", "r1-r2", {{"delay", "50"}}, false});
  REQUIRE_FALSE(set);
  CHECK(set.error().message == "--delay 50: duration '50' has no unit");
  CHECK(set.error().code == ExitCode::usage);
  set = service::set_link(s.session, b, {"imp", "r1-r2", {{"jitter", "5ms"}}, false});
  REQUIRE_FALSE(set);
  CHECK(set.error().message == "jitter without delay on the packets leaving r1:eth1");
  set = service::set_link(s.session, b, {"imp", "r1-r3", {{"delay", "5ms"}}, false});
  REQUIRE_FALSE(set);
  CHECK(set.error().message == "lab 'imp' has no link or link end 'r1-r3'");
  CHECK(set.error().help == "did you mean 'r1-r2'?");
  set = service::set_link(s.session, b, {"imp", "r1-r2", {}, false});
  REQUIRE_FALSE(set);
  CHECK(set.error().message == "nothing to change");
}

TEST_CASE("link settings: link down pulls the cable on both ends, up plugs it back") {
  Harness h;
  REQUIRE(h.up(pair_lab())->ok());
  Service s(h);
  auto b = h.backends();
  auto down = service::set_link_state(s.session, b, {"imp", "r1-r2", false});
  REQUIRE(down);
  CHECK(down->state == "down");
  CHECK_FALSE(iface_up(h, ns_of(h, "imp", "r1"), "eth1"));
  CHECK_FALSE(iface_up(h, ns_of(h, "imp", "r2"), "eth1"));
  // `ltb up` keeps it down.
  CHECK(h.plan_up(pair_lab())->empty());
  auto up = service::set_link_state(s.session, b, {"imp", "r2:eth1", true});
  REQUIRE(up);
  CHECK(up->state == "up");
  CHECK(iface_up(h, ns_of(h, "imp", "r1"), "eth1"));
  CHECK(iface_up(h, ns_of(h, "imp", "r2"), "eth1"));
  auto list = service::list_links(s.session, {"imp"});
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  CHECK(list->front().name == "r1-r2");
  CHECK(list->front().state == "up");
  // Each is an event of ltb's for `ltb events`.
  auto rows = h.store->events_after(0, "imp");
  REQUIRE(rows);
  std::vector<std::string> links;
  for (const auto &row : *rows) {
    auto e = service::event_of(row);
    REQUIRE(e);
    if (e->type == event::Type::link) {
      links.push_back(fmt::format("{} {} a={} b={} source={}", event::to_string(e->action),
                                  e->object, e->attributes.at("a"), e->attributes.at("b"),
                                  e->attributes.at("source")));
    }
  }
  CHECK(links == std::vector<std::string>{"down r1-r2 a=r1:eth1 b=r2:eth1 source=ltb",
                                          "up r1-r2 a=r1:eth1 b=r2:eth1 source=ltb"});
}

TEST_CASE("link settings: a VM link is shaped on the host interface the frames leave by") {
  Harness h;
  auto t = fakes::make_lab("vml");
  t.nodes = {fakes::vm_node("v1"), fakes::container_node("c1")};
  t.links = {fakes::make_link("v1", "eth1", "c1", "eth1")};
  t.links[0].impair_a = delay(7); // leaving v1
  t.links[0].impair_a_set = true;
  auto report = h.up(t);
  REQUIRE(report);
  REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
  const auto key = topology::link_key(t.links[0]);
  // v1's frames arrive on its tap and are redirected out of c1's host end: shaped there.
  auto shaped = qdisc(h, "", plan::host_veth_name("vml", key, "c1"));
  REQUIRE(shaped);
  CHECK(shaped->delay_us == 7'000);
  CHECK_FALSE(qdisc(h, "", plan::host_veth_name("vml", key, "v1")));
}

TEST_CASE("link settings: a segment link is shaped in the node and on the bridge port") {
  Harness h;
  auto t = fakes::make_lab("sg");
  t.nodes = {fakes::bridge_node("sw"), fakes::container_node("c1")};
  t.links = {fakes::make_link("c1", "eth1", "sw", "p1")};
  t.links[0].impair_a = delay(3);         // leaving c1
  t.links[0].impair_b.rate_bps = 1000000; // leaving the bridge towards c1
  t.links[0].impair_a_set = t.links[0].impair_b_set = true;
  auto report = h.up(t);
  REQUIRE(report);
  REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
  CHECK(qdisc(h, ns_of(h, "sg", "c1"), "eth1")->delay_us == 3'000);
  const auto port = plan::host_veth_name("sg", topology::link_key(t.links[0]), "c1");
  CHECK(qdisc(h, "", port)->rate_bps == 1'000'000);
}

TEST_CASE("link settings: without netem the kernel path says so and names the relay") {
  Harness h;
  h.fakes.world.netem = false;
  auto t = pair_lab();
  impair_both(t.links[0], delay(50));
  auto report = h.up(t);
  REQUIRE(report);
  REQUIRE_FALSE(report->ok());
  const auto errors = fakes::errors_of(*report);
  CHECK(errors.find("impairments of the packets leaving r1:eth1: the kernel has no netem") !=
        std::string::npos);
}

TEST_CASE("link settings: kernel or relay, by setting, environment, record, then netem") {
  fakes::World world;
  fakes::FakeTc tc(world);
  bool fell_back = true;
  ::unsetenv("LTB_IMPAIRMENTS");
  CHECK(apply::choose_relay_mode(topology::ImpairmentPath::automatic, tc, {}, fell_back) == false);
  CHECK_FALSE(fell_back);
  world.netem = false;
  CHECK(apply::choose_relay_mode(topology::ImpairmentPath::automatic, tc, {}, fell_back) == true);
  CHECK(fell_back);
  CHECK(apply::choose_relay_mode(topology::ImpairmentPath::kernel, tc, {}, fell_back) == false);
  CHECK_FALSE(fell_back);
  world.netem = true;
  CHECK(apply::choose_relay_mode(topology::ImpairmentPath::relay, tc, {}, fell_back) == true);
  state::LinkRecord relayed;
  relayed.impair_via = "relay";
  CHECK(apply::choose_relay_mode(topology::ImpairmentPath::automatic, tc, {relayed}, fell_back) ==
        true);
  ::setenv("LTB_IMPAIRMENTS", "kernel", 1);
  CHECK(apply::choose_relay_mode(topology::ImpairmentPath::automatic, tc, {relayed}, fell_back) ==
        false);
  ::setenv("LTB_IMPAIRMENTS", "netem", 1);
  auto bad = apply::choose_relay_mode(topology::ImpairmentPath::automatic, tc, {}, fell_back);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "LTB_IMPAIRMENTS is 'netem'");
  ::unsetenv("LTB_IMPAIRMENTS");
}

TEST_CASE("link settings: the state file keeps impairments and carrier across put_link") {
  Harness h;
  REQUIRE(h.up(pair_lab())->ok());
  auto record = link_record(h, "imp");
  record.impair_a = "delay=1000";
  record.override_b = "";
  record.down = true;
  record.impair_via = "relay";
  REQUIRE(h.store->put_link_state(record));
  auto plain = record;
  plain.impair_a.clear();
  plain.override_b.reset();
  plain.down = false;
  REQUIRE(h.store->put_link(plain)); // as a rewire writes it: settings stay
  auto read = link_record(h, "imp");
  CHECK(read.impair_a == "delay=1000");
  CHECK(read.override_b == std::optional<std::string>(""));
  CHECK_FALSE(read.override_a);
  CHECK(read.down);
  CHECK(read.impair_via == "relay");
  state::LinkRecord unknown;
  unknown.lab = "imp";
  unknown.key = "nope";
  CHECK_FALSE(h.store->put_link_state(unknown));
}

namespace {

topology::Topology segment_lab() {
  auto t = fakes::make_lab("sgr");
  t.nodes = {fakes::bridge_node("sw"), fakes::container_node("c1"), fakes::container_node("c2")};
  t.links = {fakes::make_link("c1", "eth1", "sw", "p1"),
             fakes::make_link("c2", "eth1", "sw", "p2")};
  t.links[0].name = "c1-sw";
  t.links[0].name_given = true;
  t.links[0].impair_a = delay(20); // leaving c1
  t.links[0].impair_a_set = true;
  return t;
}

state::LinkRecord link_record_of(Harness &h, const std::string &lab, const std::string &key) {
  auto links = h.store->links(lab);
  REQUIRE(links);
  for (const auto &link : *links) {
    if (link.key == key) {
      return link;
    }
  }
  FAIL("no record of link " << key);
  return {};
}

bool has_redirects(Harness &h, const std::string &x, const std::string &y) {
  std::lock_guard lock(h.fakes.world.mutex);
  const auto &r = h.fakes.world.redirects;
  return r.count({x, y}) == 1 && r.count({y, x}) == 1;
}

} // namespace

TEST_CASE("link settings, relay mode: a segment link is joined to its port through the relay") {
  Harness h;
  h.fakes.world.netem = false;
  h.relay_mode = true;
  auto t = segment_lab();
  auto report = h.up(t);
  REQUIRE(report);
  REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
  const auto key = topology::link_key(t.links[0]);
  const auto other = topology::link_key(t.links[1]);
  const auto port = plan::host_veth_name("sgr", key, "c1");
  const auto node_side = plan::segment_node_veth_name("sgr", key, "c1");
  const auto bridge_side = plan::host_veth_name("sgr", key, "sw");
  const auto dir = h.lab_dir("sgr");
  const auto c1_ns = ns_of(h, "sgr", "c1");
  auto &w = h.fakes.world;
  {
    std::lock_guard lock(w.mutex);
    // The node's veth ends on the host (not a port); the port is a second veth's end.
    const auto &node_iface = w.ifaces.at({"", node_side});
    CHECK(node_iface.peer == "eth1");
    CHECK(node_iface.peer_ns == c1_ns);
    CHECK(w.ifaces.at({"", port}).peer == bridge_side);
    const auto &bridge = w.bridges.at(plan::bridge_name("sgr", "sw"));
    CHECK(bridge.ports.count(port) == 1);
    CHECK(bridge.ports.count(node_side) == 0);
    CHECK(bridge.ports.count(plan::host_veth_name("sgr", other, "c2")) == 1);
    // c1's link is impaired: in the relay, not redirected; c2's is joined by redirects.
    REQUIRE(w.relays.count(dir) == 1);
    const auto &entry = w.relays.at(dir).config.at(key);
    CHECK(entry.link.a == node_side);
    CHECK(entry.link.b == bridge_side);
    CHECK(entry.a_to_b.delay_us == 20'000);
    CHECK(entry.b_to_a.empty());
    CHECK(w.relays.at(dir).config.count(other) == 0);
    CHECK(w.qdiscs.empty()); // nothing on the kernel path
  }
  CHECK_FALSE(has_redirects(h, node_side, bridge_side));
  CHECK(has_redirects(h, plan::segment_node_veth_name("sgr", other, "c2"),
                      plan::host_veth_name("sgr", other, "sw")));
  CHECK(fakes::problems(h, "sgr", {t}) == "");
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));
  CHECK(link_record_of(h, "sgr", key).impair_via == "relay");

  // At run time, without touching the nodes: the bridge's direction towards c2, then c1's link
  // back to nothing (out of the relay, joined by redirects again).
  const auto c1 = container_id(h, "sgr", "c1");
  Service s(h);
  auto b = h.backends();
  REQUIRE(service::set_link(s.session, b, {"sgr", "sw:p2", {{"loss", "10%"}}, false}));
  CHECK(h.fakes.relay.state(dir).config.at(other).b_to_a.loss_pct == 10);
  CHECK(h.fakes.relay.state(dir).config.at(other).a_to_b.empty());
  REQUIRE(service::set_link(s.session, b, {"sgr", "c1-sw", {{"delay", "0ms"}}, false}));
  CHECK(h.fakes.relay.state(dir).config.count(key) == 0);
  CHECK(has_redirects(h, node_side, bridge_side));

  // `ltb link down` pulls the cable: both joined interfaces down; up plugs it back.
  REQUIRE(service::set_link_state(s.session, b, {"sgr", "c1-sw", false}));
  CHECK_FALSE(iface_up(h, "", node_side));
  CHECK_FALSE(iface_up(h, "", bridge_side));
  REQUIRE(service::set_link_state(s.session, b, {"sgr", "c1:eth1", true}));
  CHECK(iface_up(h, "", node_side));
  CHECK(iface_up(h, "", bridge_side));
  CHECK(container_id(h, "sgr", "c1") == c1);

  // c1 recreated: its link is wired anew, into the relay again, and nothing of the old stays.
  t.nodes[1].image = "ltb/frr:latest";
  report = h.up(t);
  REQUIRE(report);
  REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
  CHECK(fakes::problems(h, "sgr", {t}) == "");
  REQUIRE(h.fakes.relay.state(dir).config.count(key) == 1); // `ltb up` applies the file again
  CHECK(h.fakes.relay.state(dir).config.at(key).a_to_b.delay_us == 20'000);
  CHECK(h.fakes.relay.state(dir).config.at(key).link.a == node_side);
  CHECK(h.plan_up(t)->empty());

  auto down = h.down("sgr");
  REQUIRE(down);
  CHECK_MESSAGE(down->ok(), fakes::errors_of(*down));
  CHECK_MESSAGE(w.empty(), w.describe());
}

TEST_CASE("link settings: a switch between the kernel and the relay rewires the lab's links, "
          "leaving nothing stale") {
  Harness h;
  auto t = segment_lab();
  t.nodes.push_back(fakes::container_node("c3"));
  t.links.push_back(fakes::make_link("c3", "eth1", "c2", "eth2")); // point to point
  REQUIRE(h.up(t)->ok()); // the kernel path: the node's veth peer is the port
  const auto key = topology::link_key(t.links[0]);
  const auto p2p = topology::link_key(t.links[2]);
  const auto port = plan::host_veth_name("sgr", key, "c1");
  const auto node_side = plan::segment_node_veth_name("sgr", key, "c1");
  const auto bridge_side = plan::host_veth_name("sgr", key, "sw");
  auto peer_of = [&](const std::string &name) {
    std::lock_guard lock(h.fakes.world.mutex);
    auto it = h.fakes.world.ifaces.find({"", name});
    return it == h.fakes.world.ifaces.end() ? std::string("(none)") : it->second.peer;
  };
  CHECK(peer_of(port) == "eth1");
  CHECK(peer_of(node_side) == "(none)");
  CHECK(qdisc(h, ns_of(h, "sgr", "c1"), "eth1")->delay_us == 20'000);
  const auto c1 = container_id(h, "sgr", "c1");

  // The relay chosen (settings.impairments: relay): every container link is rewired, no node is
  // recreated, and the port is the joined veth's now.
  h.relay_mode = true;
  auto plan = h.plan_up(t);
  REQUIRE(plan);
  // The wirings: c3's p2p link, and c1's and c2's ports on sw.
  CHECK_MESSAGE(plan->actions.size() == 3, fakes::describe_plan(*plan));
  auto report = h.up(t);
  REQUIRE(report);
  REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
  CHECK(container_id(h, "sgr", "c1") == c1);
  CHECK(peer_of(port) == bridge_side);
  CHECK(peer_of(node_side) == "eth1");
  CHECK(peer_of(plan::host_veth_name("sgr", p2p, "c3")) == "eth1");
  CHECK_FALSE(qdisc(h, ns_of(h, "sgr", "c1"), "eth1"));
  CHECK(h.fakes.relay.state(h.lab_dir("sgr")).config.at(key).a_to_b.delay_us == 20'000);
  CHECK(fakes::problems(h, "sgr", {t}) == "");
  CHECK(link_record_of(h, "sgr", key).impair_via == "relay");
  CHECK(h.plan_up(t)->empty());

  // And back: the joined interfaces go, the relay stops, netem shapes in the node again.
  h.relay_mode = false;
  report = h.up(t);
  REQUIRE(report);
  REQUIRE_MESSAGE(report->ok(), fakes::errors_of(*report));
  CHECK(peer_of(port) == "eth1");
  CHECK(peer_of(node_side) == "(none)");
  CHECK(peer_of(bridge_side) == "(none)");
  CHECK(peer_of(plan::host_veth_name("sgr", p2p, "c3")) == "(none)");
  CHECK(h.fakes.relay.state(h.lab_dir("sgr")).config.empty());
  CHECK(qdisc(h, ns_of(h, "sgr", "c1"), "eth1")->delay_us == 20'000);
  CHECK(fakes::problems(h, "sgr", {t}) == "");
  CHECK(h.plan_up(t)->empty());
  auto down = h.down("sgr");
  REQUIRE(down);
  CHECK_MESSAGE(down->ok(), fakes::errors_of(*down));
  CHECK_MESSAGE(h.fakes.world.empty(), h.fakes.world.describe());
}
