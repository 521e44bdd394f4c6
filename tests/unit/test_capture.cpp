#include "capture/mirror.hpp"
#include "capture/records.hpp"
#include "capture/target.hpp"
#include "plan/names.hpp"
#include "testutil.hpp"

#include <doctest/doctest.h>
#include <string>
#include <unistd.h>
#include <vector>

using namespace ltb;
using namespace ltb::capture;

using Argv = std::vector<std::string>;

namespace {

state::LinkRecord link(const std::string &name, const std::string &a, const std::string &b) {
  state::LinkRecord record;
  record.lab = "lab1";
  record.name = name;
  record.a_node = a.substr(0, a.find(':'));
  record.a_iface = a.substr(a.find(':') + 1);
  record.b_node = b.substr(0, b.find(':'));
  record.b_iface = b.substr(b.find(':') + 1);
  record.key = a < b ? a + "|" + b : b + "|" + a;
  record.status = ltb::state::RecordStatus::up;
  return record;
}

state::NodeRecord node(const std::string &name, const std::string &kind,
                       const std::string &runtime_id = {}) {
  state::NodeRecord record;
  record.lab = "lab1";
  record.name = name;
  record.kind = kind;
  record.runtime_id = runtime_id;
  record.status = ltb::state::RecordStatus::running;
  return record;
}

// The shape of examples/frr-ospf.yaml, plus a VM on a link and on the segment.
LabRecords frr_lab() {
  LabRecords lab;
  lab.lab = "lab1";
  lab.nodes = {node("r1", "frr"),   node("r2", "frr"),
               node("r3", "frr"),   node("h1", "linux"),
               node("h2", "linux"), node("sw1", "ovs-bridge", "lbaaaaaabbbbbb"),
               node("vm1", "vm")};
  lab.links = {link("r1-r2", "r1:eth1", "r2:eth1"),   link("r1-r3", "r1:eth2", "r3:eth1"),
               link("r2-r3", "r2:eth2", "r3:eth2"),   link("r1-lan", "r1:eth3", "sw1:p1"),
               link("h1-sw1", "h1:eth1", "sw1:p2"),   link("h2-sw1", "h2:eth1", "sw1:p3"),
               link("vm1-r3", "vm1:eth1", "r3:eth3"), link("sw1-vm1", "sw1:p4", "vm1:eth2")};
  return lab;
}

const state::LinkRecord &find_link(const LabRecords &lab, const std::string &name) {
  for (const auto &record : lab.links) {
    if (record.name == name) {
      return record;
    }
  }
  FAIL("no link " << name);
  return lab.links.front();
}

} // namespace

TEST_CASE("capture target: a link is captured inside the namespace of its first container end") {
  const auto lab = frr_lab();
  auto target = resolve(lab, "r1-r2");
  REQUIRE(target);
  CHECK(target->kind == TargetKind::interface);
  CHECK(target->lab == "lab1");
  CHECK(target->node == "r1");
  CHECK(target->iface == "eth1");
  CHECK(target->link == "r1-r2");
  CHECK(target->label == "r1:eth1 (link r1-r2)");
}

TEST_CASE("capture target: a link to a segment is captured at its container end") {
  const auto lab = frr_lab();
  auto target = resolve(lab, "r1-lan");
  REQUIRE(target);
  CHECK(target->node == "r1");
  CHECK(target->iface == "eth3");
}

TEST_CASE("capture target: a VM end is its tap on the host, a container end is preferred") {
  const auto lab = frr_lab();
  // vm1-r3 has a container end (r3), which is taken even though the VM is end a.
  auto mixed = resolve(lab, "vm1-r3");
  REQUIRE(mixed);
  CHECK(mixed->node == "r3");
  CHECK(mixed->iface == "eth3");
  // Named explicitly, the VM's end is its tap in the host namespace.
  auto vm_end = resolve(lab, "vm1:eth1");
  REQUIRE(vm_end);
  CHECK(vm_end->node.empty());
  CHECK(vm_end->iface == plan::host_veth_name("lab1", find_link(lab, "vm1-r3").key, "vm1"));
  CHECK(vm_end->iface.size() <= 15);
  // A VM on a segment: the VM's tap is the bridge port, either way round.
  auto vm_segment = resolve(lab, "sw1-vm1");
  REQUIRE(vm_segment);
  CHECK(vm_segment->node.empty());
  CHECK(vm_segment->iface == plan::host_veth_name("lab1", find_link(lab, "sw1-vm1").key, "vm1"));
}

TEST_CASE("capture target: NODE:IFACE, for link ends and other container interfaces") {
  const auto lab = frr_lab();
  auto end = resolve(lab, "r2:eth2");
  REQUIRE(end);
  CHECK(end->node == "r2");
  CHECK(end->iface == "eth2");
  CHECK(end->link == "r2-r3");
  CHECK(end->label == "r2:eth2 (link r2-r3)");

  auto mgmt = resolve(lab, "h1:eth0");
  REQUIRE(mgmt);
  CHECK(mgmt->node == "h1");
  CHECK(mgmt->iface == "eth0");
  CHECK(mgmt->link.empty());
  CHECK(mgmt->label == "h1:eth0");
}

TEST_CASE("capture target: a bridge's port name is the host side of the node's veth") {
  const auto lab = frr_lab();
  auto port = resolve(lab, "sw1:p2");
  REQUIRE(port);
  CHECK(port->kind == TargetKind::interface);
  CHECK(port->node.empty()); // the host namespace
  CHECK(port->iface == plan::host_veth_name("lab1", find_link(lab, "h1-sw1").key, "h1"));
  CHECK(port->link == "h1-sw1");
  // Not a link end of the bridge: nothing the host could capture.
  auto missing = resolve(lab, "sw1:p9");
  REQUIRE(!missing);
}

TEST_CASE("capture target: a segment is its bridge; --port selects that node's ports") {
  const auto lab = frr_lab();
  auto all = resolve(lab, "sw1");
  REQUIRE(all);
  CHECK(all->kind == TargetKind::segment);
  CHECK(all->bridge_node == "sw1");
  CHECK(all->bridge == "lbaaaaaabbbbbb"); // the runtime id recorded for the bridge node
  CHECK(all->ports.empty());
  CHECK(all->label == "segment sw1");

  auto h1 = resolve(lab, "sw1", "h1");
  REQUIRE(h1);
  CHECK(h1->ports ==
        std::vector<std::string>{plan::host_veth_name("lab1", find_link(lab, "h1-sw1").key, "h1")});
  CHECK(h1->port_node == "h1");
  CHECK(h1->label == "segment sw1 (ports of h1)");

  auto vm = resolve(lab, "sw1", "vm1");
  REQUIRE(vm);
  CHECK(vm->ports == std::vector<std::string>{
                         plan::host_veth_name("lab1", find_link(lab, "sw1-vm1").key, "vm1")});
}

TEST_CASE("capture target: a bridge without a recorded runtime id gets its derived name") {
  auto lab = frr_lab();
  for (auto &record : lab.nodes) {
    if (record.name == "sw1") {
      record.runtime_id.clear();
    }
  }
  auto target = resolve(lab, "sw1");
  REQUIRE(target);
  CHECK(target->bridge == plan::bridge_name("lab1", "sw1"));
}

TEST_CASE("capture target: --port errors") {
  const auto lab = frr_lab();
  auto not_segment = resolve(lab, "r1-r2", "h1");
  REQUIRE(!not_segment);
  CHECK(not_segment.error().code == ExitCode::usage);
  CHECK(not_segment.error().message.find("--port h1") != std::string::npos);

  auto typo = resolve(lab, "sw1", "h3");
  REQUIRE(!typo);
  CHECK(typo.error().message == "node 'h3' has no port on segment sw1 of lab 'lab1'");
  CHECK(typo.error().help.find("did you mean") != std::string::npos);

  auto far = resolve(lab, "sw1", "r2"); // a node, but not on the segment, nor close to one
  REQUIRE(!far);
  CHECK(far.error().help == "the nodes on sw1: h1, h2, r1, vm1");
}

TEST_CASE("capture target: unknown names get a did-you-mean over links, ends and segments") {
  const auto lab = frr_lab();
  auto link_typo = resolve(lab, "r1-r4");
  REQUIRE(!link_typo);
  CHECK(link_typo.error().message == "lab 'lab1' has no link, interface or segment 'r1-r4'");
  CHECK(link_typo.error().help.find("did you mean 'r1-r") != std::string::npos);

  auto segment_typo = resolve(lab, "sw2");
  REQUIRE(!segment_typo);
  CHECK(segment_typo.error().help == "did you mean 'sw1'?");

  auto end_typo = resolve(lab, "r9:eth1");
  REQUIRE(!end_typo);
  CHECK(end_typo.error().help.find("did you mean 'r") != std::string::npos);

  auto nothing_close = resolve(lab, "completely-different");
  REQUIRE(!nothing_close);
  CHECK(nothing_close.error().help.find("ltb inspect lab1") != std::string::npos);
}

TEST_CASE("capture target: a container node alone says which interfaces it has") {
  const auto lab = frr_lab();
  auto bare = resolve(lab, "r1");
  REQUIRE(!bare);
  CHECK(bare.error().code == ExitCode::usage);
  CHECK(bare.error().help == "capture one of its interfaces: r1:eth1, r1:eth2, r1:eth3");
  CHECK(!resolve(lab, "").has_value());
}

TEST_CASE("capture target: target_names lists links, ends and segments once each") {
  const auto names = target_names(frr_lab());
  auto has = [&](const std::string &name) {
    return std::count(names.begin(), names.end(), name) == 1;
  };
  CHECK(has("r1-r2"));
  CHECK(has("r1:eth1"));
  CHECK(has("sw1:p2"));
  CHECK(has("sw1"));
  CHECK(!has("r1")); // a container node alone is not a target
  CHECK(std::is_sorted(names.begin(), names.end()));
}

TEST_CASE("capture target: the lab is found when only one lab has the target") {
  auto first = frr_lab();
  LabRecords second;
  second.lab = "lab2";
  second.nodes = {node("a", "linux"), node("b", "linux"), node("sw1", "ovs-bridge")};
  second.links = {link("a-b", "a:eth1", "b:eth1")};
  const std::vector<LabRecords> labs{first, second};

  auto only_first = find_lab(labs, "r1-r2");
  REQUIRE(only_first);
  CHECK(*only_first == 0);
  auto only_second = find_lab(labs, "a:eth1");
  REQUIRE(only_second);
  CHECK(*only_second == 1);
  // A node given without its interface still tells the lab; resolve() then explains.
  auto node_only = find_lab(labs, "b");
  REQUIRE(node_only);
  CHECK(*node_only == 1);

  auto both = find_lab(labs, "sw1");
  REQUIRE(!both);
  CHECK(both.error().code == ExitCode::usage);
  CHECK(both.error().message == "'sw1' is in several labs (lab1, lab2)");
  CHECK(both.error().help == "say which with --lab LAB");

  auto none = find_lab(labs, "a-c");
  REQUIRE(!none);
  CHECK(none.error().message == "no link, interface or segment 'a-c' in any running lab");
  CHECK(none.error().help == "did you mean 'a-b'?");

  auto no_labs = find_lab({}, "r1-r2");
  REQUIRE(!no_labs);
  CHECK(no_labs.error().help.find("--lab") != std::string::npos);
}

TEST_CASE("capture mirror: the port name has the lab's prefix, fits IFNAMSIZ, differs by pid") {
  const auto name = mirror_port_name("frr-ospf", "sw1", 1234);
  CHECK(name.size() == 14);
  CHECK(name.rfind(plan::veth_prefix("frr-ospf"), 0) == 0);
  CHECK(name != mirror_port_name("frr-ospf", "sw1", 1235));
  CHECK(name != mirror_port_name("frr-ospf", "sw2", 1234));
  CHECK(name == mirror_port_name("frr-ospf", "sw1", 1234));
}

TEST_CASE("capture mirror: one ovs-vsctl call makes the port, the mirror, and adds it") {
  MirrorSpec spec{"br0", "lvm1", {}, {{"ltb-lab", "lab1"}, {"ltb-owner", "capture:7"}}};
  CHECK(create_mirror_argv(spec) == Argv{"ovs-vsctl",
                                         "--timeout=10",
                                         "--",
                                         "add-port",
                                         "br0",
                                         "lvm1",
                                         "--",
                                         "set",
                                         "Interface",
                                         "lvm1",
                                         "type=internal",
                                         "--",
                                         "set",
                                         "Port",
                                         "lvm1",
                                         R"(external_ids:"ltb-lab"="lab1")",
                                         R"(external_ids:"ltb-owner"="capture:7")",
                                         "--",
                                         "--id=@p",
                                         "get",
                                         "Port",
                                         "lvm1",
                                         "--",
                                         "--id=@m",
                                         "create",
                                         "Mirror",
                                         "name=lvm1",
                                         "select-all=true",
                                         "output-port=@p",
                                         R"(external_ids:"ltb-lab"="lab1")",
                                         R"(external_ids:"ltb-owner"="capture:7")",
                                         "--",
                                         "add",
                                         "Bridge",
                                         "br0",
                                         "mirrors",
                                         "@m"});
}

TEST_CASE("capture mirror: selected ports are mirrored in both directions") {
  MirrorSpec spec{"br0", "lvm1", {"lvp1", "lvp2"}, {}};
  CHECK(create_mirror_argv(spec) == Argv{"ovs-vsctl",
                                         "--timeout=10",
                                         "--",
                                         "add-port",
                                         "br0",
                                         "lvm1",
                                         "--",
                                         "set",
                                         "Interface",
                                         "lvm1",
                                         "type=internal",
                                         "--",
                                         "--id=@s0",
                                         "get",
                                         "Port",
                                         "lvp1",
                                         "--",
                                         "--id=@s1",
                                         "get",
                                         "Port",
                                         "lvp2",
                                         "--",
                                         "--id=@p",
                                         "get",
                                         "Port",
                                         "lvm1",
                                         "--",
                                         "--id=@m",
                                         "create",
                                         "Mirror",
                                         "name=lvm1",
                                         "select-src-port=@s0,@s1",
                                         "select-dst-port=@s0,@s1",
                                         "output-port=@p",
                                         "--",
                                         "add",
                                         "Bridge",
                                         "br0",
                                         "mirrors",
                                         "@m"});
}

TEST_CASE("capture mirror: removal is one call, falling back to the port when the mirror is gone") {
  CHECK(remove_mirror_argv("br0", "lvm1") ==
        Argv{"ovs-vsctl", "--timeout=10", "--", "--id=@m", "get", "Mirror", "lvm1", "--", "remove",
             "Bridge", "br0", "mirrors", "@m", "--", "--if-exists", "del-port", "br0", "lvm1"});

  std::vector<Argv> calls;
  auto fake = [&](int first_exit, std::string first_err) -> VsctlRunner {
    return [&calls, first_exit, first_err](const Argv &argv) -> Result<util::ExecResult> {
      calls.push_back(argv);
      util::ExecResult result;
      result.exit_code = calls.size() == 1 ? first_exit : 0;
      result.err = calls.size() == 1 ? first_err : "";
      return result;
    };
  };

  SUBCASE("mirror there: one call") {
    CHECK(remove_mirror("br0", "lvm1", fake(0, "")));
    CHECK(calls.size() == 1);
  }
  SUBCASE("mirror gone (with its bridge): the port is removed if it exists") {
    CHECK(remove_mirror("br0", "lvm1", fake(1, "ovs-vsctl: no row \"lvm1\" in table Mirror\n")));
    REQUIRE(calls.size() == 2);
    CHECK(calls[1] == remove_port_argv("br0", "lvm1"));
  }
  SUBCASE("ovs-vsctl ended by a signal (a second Ctrl-C): the removal runs once more") {
    CHECK(remove_mirror("br0", "lvm1", fake(-1, "")));
    REQUIRE(calls.size() == 2);
    CHECK(calls[1] == remove_mirror_argv("br0", "lvm1"));
  }
  SUBCASE("another failure is reported with the command to run by hand") {
    auto failed = remove_mirror("br0", "lvm1", fake(1, "ovs-vsctl: database connection failed\n"));
    REQUIRE(!failed);
    CHECK(calls.size() == 1);
    CHECK(failed.error().message.find("database connection failed") != std::string::npos);
    CHECK(failed.error().help.find("del-port br0 lvm1") != std::string::npos);
  }
}

TEST_CASE("capture mirror: create reports ovs-vsctl's error and setup errors") {
  std::vector<Argv> calls;
  util::ExecResult answer;
  VsctlRunner fake = [&](const Argv &argv) -> Result<util::ExecResult> {
    calls.push_back(argv);
    auto result = answer;
    if (calls.size() > 1) {
      result = util::ExecResult{0, "", "", false};
    }
    return result;
  };
  MirrorSpec spec{"br0", "lvm1", {}, {}};
  SUBCASE("refused") {
    answer = {1, "", "ovs-vsctl: no bridge named br0\n", false};
    auto made = create_mirror(spec, fake);
    REQUIRE(!made);
    CHECK(made.error().message ==
          "cannot mirror Open vSwitch bridge 'br0' to port 'lvm1': no bridge named br0");
    CHECK(calls.size() == 1);
  }
  SUBCASE("accepted but the interface could not be made: undone") {
    answer = {0, "", "ovs-vsctl: Error detected while setting up 'lvm1'\n", false};
    auto made = create_mirror(spec, fake);
    REQUIRE(!made);
    REQUIRE(calls.size() == 2);
    CHECK(calls[1] == remove_mirror_argv("br0", "lvm1"));
  }
  SUBCASE("made") {
    answer = {0, "0b5c...\n", "", false};
    CHECK(create_mirror(spec, fake));
    CHECK(calls.size() == 1);
  }
}

TEST_CASE("capture records: process tokens tell a live process from a reused pid") {
  const auto self = process_token(::getpid());
  REQUIRE(!self.empty());
  CHECK(token_pid(self) == ::getpid());
  CHECK(process_alive(self));
  // Same pid, another start time: a different process.
  CHECK(!process_alive(std::to_string(::getpid()) + ":1"));
  CHECK(!process_alive(""));
  CHECK(!process_alive("garbage"));
  CHECK(token_pid("12x:3") == 0);
  CHECK(process_token(-1).empty());
}

namespace {

state::ObjectRecord object(std::int64_t id, state::ObjectType type, const std::string &name,
                           const std::string &token, const std::string &parent = {},
                           const std::string &owner = {}) {
  return {id, "lab1", type, name, owner, token, parent, ltb::state::RecordStatus::created};
}

} // namespace

TEST_CASE("capture records: dead captures are stale with their mirrors; live ones are active") {
  const std::vector<state::ObjectRecord> objects{
      object(1, state::ObjectType::container, "ltb-lab1-r1", "abc"),
      object(2, k_type_capture, "r1:eth1 (link r1-r2)", "100:5", "r1:eth1", "alice"),
      object(3, k_type_capture, "segment sw1", "200:6", "lvaaa", "bob"),
      object(4, k_type_mirror, "lvaaa", "200:6", "br0", "sw1"),
      object(5, k_type_port, "lvaaa", "200:6", "br0", "sw1"),
      object(6, k_type_capture, "segment sw1", "300:7", "lvbbb", "carol"),
      object(7, k_type_mirror, "lvbbb", "300:7", "br0", "sw1"),
      object(8, k_type_port, "lvbbb", "300:7", "br0", "sw1"),
      // A port recorded by a capture that died before recording its mirror (never by ltb).
      object(9, k_type_port, "lvccc", "400:8", "br0", "sw1"),
  };
  auto alive = [](const std::string &token) { return token == "100:5" || token == "300:7"; };

  const auto active = active_captures(objects, alive);
  REQUIRE(active.size() == 2);
  CHECK(active[0].target == "r1:eth1 (link r1-r2)");
  CHECK(active[0].interface == "r1:eth1");
  CHECK(active[0].user == "alice");
  CHECK(active[0].pid == 100);
  CHECK(active[0].mirror.empty());
  CHECK(active[1].target == "segment sw1");
  CHECK(active[1].mirror == "lvbbb");
  CHECK(active[1].pid == 300);

  const auto stale = stale_captures(objects, alive);
  REQUIRE(stale.size() == 2);
  CHECK(stale[0].token == "200:6");
  CHECK(stale[0].ids == std::vector<std::int64_t>{3, 4, 5});
  CHECK(stale[0].mirrors == std::vector<std::pair<std::string, std::string>>{{"br0", "lvaaa"}});
  CHECK(stale[1].token == "400:8");
  CHECK(stale[1].ids == std::vector<std::int64_t>{9});
  CHECK(stale[1].mirrors == std::vector<std::pair<std::string, std::string>>{{"br0", "lvccc"}});
}

TEST_CASE("capture records: recorded before, forgotten after; stale ones cleaned from the store") {
  test::TempDir dir;
  auto store = state::Store::open(dir.file("state.db"));
  REQUIRE(store);
  state::LabRecord lab;
  lab.name = "lab1";
  lab.status = ltb::state::RecordStatus::running;
  REQUIRE((*store)->put_lab(lab));

  CaptureInfo info{"lab1", "segment sw1", "lvaaa", "alice", "sw1", "br0", "lvaaa"};
  const auto self = process_token(::getpid());
  auto registration = Registration::record(**store, info, self);
  REQUIRE(registration);
  auto objects = (*store)->objects("lab1");
  REQUIRE(objects);
  REQUIRE(objects->size() == 3);
  for (const auto &record : *objects) {
    CHECK(record.status == ltb::state::RecordStatus::creating);
    CHECK(record.runtime_id == self);
  }
  REQUIRE(registration->created());
  objects = (*store)->objects("lab1");
  REQUIRE(objects);
  for (const auto &record : *objects) {
    CHECK(record.status == ltb::state::RecordStatus::created);
  }
  CHECK(active_captures(*objects).size() == 1); // this process is alive

  // A second capture whose process is gone (a token no process has).
  CaptureInfo dead_info{"lab1", "r1:eth1", "r1:eth1", "bob", "", "", ""};
  REQUIRE(Registration::record(**store, dead_info, "1:1"));
  CaptureInfo dead_segment{"lab1", "segment sw1", "lvddd", "bob", "sw1", "br0", "lvddd"};
  REQUIRE(Registration::record(**store, dead_segment, "2:2"));

  std::vector<Argv> calls;
  VsctlRunner fake = [&](const Argv &argv) -> Result<util::ExecResult> {
    calls.push_back(argv);
    return util::ExecResult{0, "", "", false};
  };
  auto cleaned = clean_stale(**store, "lab1", fake);
  REQUIRE(cleaned);
  CHECK(*cleaned == 2);
  REQUIRE(calls.size() == 1); // only the dead segment capture had a mirror
  CHECK(calls[0] == remove_mirror_argv("br0", "lvddd"));
  objects = (*store)->objects("lab1");
  REQUIRE(objects);
  CHECK(objects->size() == 3); // the live capture's

  // A mirror that cannot be removed keeps its records for the next try.
  REQUIRE(Registration::record(**store, dead_segment, "2:2"));
  VsctlRunner broken = [&](const Argv &) -> Result<util::ExecResult> {
    return util::ExecResult{1, "", "ovs-vsctl: database connection failed\n", false};
  };
  auto failed = clean_stale(**store, "lab1", broken);
  REQUIRE(!failed);
  CHECK(failed.error().message.find("lvddd") != std::string::npos);
  objects = (*store)->objects("lab1");
  REQUIRE(objects);
  CHECK(objects->size() == 6);

  REQUIRE(registration->forget());
  objects = (*store)->objects("lab1");
  REQUIRE(objects);
  CHECK(objects->size() == 3); // the dead one's, still waiting
}
