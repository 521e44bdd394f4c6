// Tests of lib/service/inspect on a temporary state file (no VMs, so no daemon): link types,
// each node's interfaces, an unknown lab.

#include "service/inspect.hpp"
#include "testutil.hpp"

#include <doctest/doctest.h>

using ltb::test::TempDir;
namespace service = ltb::service;

TEST_CASE("service inspect: links typed by their ends, interfaces per node, eth0 first") {
  TempDir tmp;
  service::Context context{tmp.file("state.db"), 5};
  service::Caller caller{1000, "alice", true, {}};
  service::CancelToken cancel;
  service::NullSink events;
  const service::Session session{context, caller, cancel, events};
  {
    auto store = ltb::state::Store::open(context.state_path);
    REQUIRE(store);
    ltb::state::LabRecord lab;
    lab.name = "web";
    lab.owner = "alice";
    lab.status = ltb::state::RecordStatus::running;
    REQUIRE((*store)->put_lab(lab));
    for (const auto &[name, kind] : std::vector<std::pair<std::string, std::string>>{
             {"a", "linux"}, {"b", "frr"}, {"sw", "ovs-bridge"}}) {
      ltb::state::NodeRecord n;
      n.lab = "web";
      n.name = name;
      n.kind = kind;
      n.status = ltb::state::RecordStatus::running;
      n.runtime_id = kind == "ovs-bridge" ? "lbswitch" : "";
      n.mgmt_ipv4 = kind == "ovs-bridge" ? "" : "172.20.0.9";
      REQUIRE((*store)->put_node(n));
    }
    auto link = [&](const std::string &name, const std::string &a, const std::string &b) {
      ltb::state::LinkRecord l;
      l.lab = "web";
      l.key = name;
      l.name = name;
      l.a_node = a;
      l.a_iface = a == "sw" ? "p1" : "eth1";
      l.b_node = b;
      l.b_iface = b == "sw" ? "p1" : "eth1";
      l.status = ltb::state::RecordStatus::up;
      REQUIRE((*store)->put_link(l));
    };
    link("a-b", "a", "b");
    link("b-sw", "b", "sw");
  }
  auto details = service::inspect_lab(session, "web");
  REQUIRE(details);
  REQUIRE(details->links.size() == 2);
  CHECK(details->links[0].type == "veth");
  CHECK(details->links[1].type == "segment");
  REQUIRE(details->nodes.size() == 3);
  const auto &b = details->nodes[1];
  CHECK(b.record.name == "b");
  CHECK_FALSE(b.bridge);
  CHECK(b.runtime_name == "ltb-web-b");
  REQUIRE(b.interfaces.size() == 3);
  CHECK(b.interfaces[0].name == "eth0");
  CHECK(b.interfaces[0].address == "172.20.0.9");
  CHECK(b.interfaces[1].peer == "a:eth1");
  CHECK(b.interfaces[2].peer == "sw:p1");
  const auto &sw = details->nodes[2];
  CHECK(sw.bridge);
  CHECK(sw.runtime_name == "lbswitch");
  REQUIRE(sw.interfaces.size() == 1); // no eth0 on a bridge
  CHECK_FALSE(sw.vm);
  CHECK_FALSE(details->access_files);

  auto unknown = service::inspect_lab(session, "wbe");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message == "no lab named 'wbe'");
  CHECK(unknown.error().help == "did you mean 'web'?");
}
