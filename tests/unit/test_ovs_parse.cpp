#include "net/ovs_cmd.hpp"

#include <doctest/doctest.h>
#include <string>
#include <vector>

using namespace ltb::net;
using namespace ltb::net::ovs;

using Argv = std::vector<std::string>;

TEST_CASE("ovs parse: add_bridge is one call with datapath and quoted external_ids") {
  const auto argv = add_bridge_argv("ltb-lab-sw1", Datapath::netdev,
                                    {{"ltb-lab", "lab"}, {"ltb-owner", "r1:eth1=x,y"}});
  CHECK(argv == Argv{"ovs-vsctl", "--timeout=10", "--may-exist", "add-br", "ltb-lab-sw1", "--",
                     "set", "Bridge", "ltb-lab-sw1", "datapath_type=netdev",
                     R"(external_ids:"ltb-lab"="lab")",
                     R"(external_ids:"ltb-owner"="r1:eth1=x,y")"});
  const auto system = add_bridge_argv("b", Datapath::system, {});
  CHECK(system.back() == "datapath_type=system");
}

TEST_CASE("ovs parse: quoting escapes quotes and backslashes like JSON") {
  CHECK(external_id_args({{"k", R"(a"b\c)"}}) == Argv{R"(external_ids:"k"="a\"b\\c")"});
}

TEST_CASE("ovs parse: ports are added and removed in one call each") {
  const auto add = add_ports_argv("br", {{"p1", {{"ltb-owner", "l1"}}}, {"p2", {}}});
  CHECK(add == Argv{"ovs-vsctl", "--timeout=10", "--", "--may-exist", "add-port", "br", "p1", "--",
                    "set", "Port", "p1", R"(external_ids:"ltb-owner"="l1")", "--", "--may-exist",
                    "add-port", "br", "p2"});
  const auto del = del_ports_argv("br", {"p1", "p2"});
  CHECK(del == Argv{"ovs-vsctl", "--timeout=10", "--", "--if-exists", "del-port", "br", "p1", "--",
                    "--if-exists", "del-port", "br", "p2"});
  CHECK(del_bridge_argv("br") == Argv{"ovs-vsctl", "--timeout=10", "--if-exists", "del-br", "br"});
}

TEST_CASE("ovs parse: bridges query filters on external_ids and lists ports in the same call") {
  const auto argv = bridges_argv({{"ltb-lab", "lab"}});
  CHECK(argv == Argv{"ovs-vsctl", "--timeout=10", "--format=json",
                     "--columns=name,datapath_type,external_ids,ports", "find", "Bridge",
                     R"(external_ids:"ltb-lab"="lab")", "--", "--columns=_uuid,name,external_ids",
                     "list", "Port"});
}

TEST_CASE("ovs parse: bridges with sets, single-element sets and maps") {
  // As ovs-vsctl 3.1 prints it: a one-element set is the bare element.
  const std::string output =
      R"({"data":[["sw1","netdev",["map",[["ltb-lab","lab"],["ltb-owner","sw1"]]],["set",[["uuid","u-p1"],["uuid","u-sw1"],["uuid","u-p2"]]]],["sw2","",["map",[]],["uuid","u-sw2"]]],"headings":["name","datapath_type","external_ids","ports"]})"
      "\n"
      R"({"data":[[["uuid","u-p2"],"p2",["map",[]]],[["uuid","u-sw1"],"sw1",["map",[]]],[["uuid","u-p1"],"p1",["map",[["ltb-owner","r1:eth1"]]]],[["uuid","u-sw2"],"sw2",["map",[]]]],"headings":["_uuid","name","external_ids"]})"
      "\n";
  const auto bridges = parse_bridges(output);
  REQUIRE(bridges);
  REQUIRE(bridges->size() == 2);
  const auto &sw1 = (*bridges)[0];
  CHECK(sw1.name == "sw1");
  CHECK(sw1.datapath_type == "netdev");
  CHECK(sw1.external_ids.at("ltb-owner") == "sw1");
  CHECK(sw1.ports == Argv{"p1", "p2"}); // internal port "sw1" left out, sorted
  CHECK(sw1.port_external_ids.at("p1").at("ltb-owner") == "r1:eth1");
  CHECK(sw1.port_external_ids.at("p2").empty());
  const auto &sw2 = (*bridges)[1];
  CHECK(sw2.name == "sw2");
  CHECK(sw2.datapath_type.empty());
  CHECK(sw2.external_ids.empty());
  CHECK(sw2.ports.empty());
}

TEST_CASE("ovs parse: column order comes from the headings") {
  const std::string output =
      R"({"data":[[["set",[]],["map",[]],"system","b"]],"headings":["ports","external_ids","datapath_type","name"]})"
      "\n"
      R"({"data":[],"headings":["name","external_ids","_uuid"]})";
  const auto bridges = parse_bridges(output);
  REQUIRE(bridges);
  REQUIRE(bridges->size() == 1);
  CHECK((*bridges)[0].name == "b");
  CHECK((*bridges)[0].datapath_type == "system");
}

TEST_CASE("ovs parse: malformed output is an error, not a crash") {
  CHECK_FALSE(parse_bridges(""));
  CHECK_FALSE(parse_bridges("not json\n{}"));
  CHECK_FALSE(parse_bridges(R"({"data":[],"headings":["name"]})"
                            "\n"
                            R"({"data":[],"headings":["_uuid","name","external_ids"]})"));
  const auto bad_map = parse_bridges(
      R"({"data":[["b","",["set",[]],["set",[]]]],"headings":["name","datapath_type","external_ids","ports"]})"
      "\n"
      R"({"data":[],"headings":["_uuid","name","external_ids"]})");
  REQUIRE_FALSE(bad_map);
  CHECK(bad_map.error().message.find("external_ids") != std::string::npos);
}

TEST_CASE("ovs parse: setup errors on stderr name the objects") {
  const std::string err =
      "ovs-vsctl: Error detected while setting up 'ltb-sw1'.  See ovs-vswitchd log for details.\n"
      "ovs-vsctl: Error detected while setting up 'p1': could not open network device p1 (No "
      "such device).  See ovs-vswitchd log for details.\n"
      "ovs-vsctl: The default log directory is \"/var/log/openvswitch\".\n";
  CHECK(setup_errors(err) == Argv{"ltb-sw1", "p1"});
  CHECK(setup_errors("").empty());
}
