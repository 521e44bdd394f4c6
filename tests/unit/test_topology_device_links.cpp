// containerlab's device links in the loader: macvlan (brief and extended), dummy, vxlan and
// vxlan-stitch, their parameters, and the errors about them, each at its place in the file.

#include "testutil.hpp"
#include "topology/containerlab.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <fstream>
#include <sstream>
#include <string>

namespace {

using namespace ltb::topology;
using ltb::test::TempDir;

LoadResult load(const std::string &yaml, LoadOptions options = {}) {
  TempDir dir;
  return load_text(yaml, "lab.clab.yml", dir.path.string(), options);
}

std::string errors(const std::string &yaml, LoadOptions options = {}) {
  auto result = load(yaml, options);
  REQUIRE_MESSAGE(!result.has_value(), "the load was expected to fail");
  return render(result.error(), false);
}

const std::string k_nodes = "name: dl\n"
                            "topology:\n"
                            "  nodes:\n"
                            "    c1: {kind: linux, image: alpine:3}\n"
                            "    c2: {kind: linux, image: alpine:3}\n"
                            "  links:\n";

bool has(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("device links: macvlan:PARENT in the brief form, either end") {
  auto t = load(k_nodes + "    - endpoints: [\"c1:eth1\", \"macvlan:ltbmvp0\"]\n"
                          "    - endpoints: [\"macvlan:ltbmvp0\", \"c2:eth1\"]\n");
  REQUIRE_MESSAGE(t, render(t.error(), false));
  REQUIRE(t->links.size() == 2);
  for (const auto &link : t->links) {
    CHECK(link.kind == LinkKind::macvlan);
    CHECK(link.b.node == "macvlan");
    CHECK(link.b.iface == "ltbmvp0");
    CHECK(link.device.mode == "bridge");
  }
  CHECK(t->links[0].a.node == "c1");
  CHECK(t->links[1].a.node == "c2"); // end a is the node's
  const auto *implicit = t->find_node("macvlan");
  REQUIRE(implicit);
  CHECK(implicit->runtime == Runtime::host);
}

TEST_CASE("device links: the extended forms and their parameters") {
  auto t = load(k_nodes + "    - type: macvlan\n"
                          "      endpoint: {node: c1, interface: eth1, mac: aa:c1:ab:00:00:01}\n"
                          "      host-interface: ltbmvp0\n"
                          "      mode: private\n"
                          "    - type: dummy\n"
                          "      endpoint: {node: c1, interface: dum0}\n"
                          "      mtu: 9000\n"
                          "    - type: vxlan\n"
                          "      endpoint: {node: c2, interface: eth1}\n"
                          "      remote: 10.11.12.2\n"
                          "      vni: 42\n"
                          "      udp-port: 4789\n"
                          "      src-port: 5000\n"
                          "    - type: vxlan-stitch\n"
                          "      endpoint: {node: c2, interface: eth2}\n"
                          "      remote: fd00::2\n"
                          "      vni: 43\n"
                          "      parent-interface: ltbvxp0\n");
  REQUIRE_MESSAGE(t, render(t.error(), false));
  REQUIRE(t->links.size() == 4);
  const auto &macvlan = t->links[0];
  CHECK(macvlan.kind == LinkKind::macvlan);
  CHECK(macvlan.a.node == "c1");
  CHECK(macvlan.a.iface == "eth1");
  CHECK(macvlan.b.iface == "ltbmvp0");
  CHECK(macvlan.device.mode == "private");
  CHECK(macvlan.device.mac == "aa:c1:ab:00:00:01");
  const auto &dummy = t->links[1];
  CHECK(dummy.kind == LinkKind::dummy);
  CHECK(dummy.b.node == "dummy");
  CHECK(dummy.b.iface == "dum0");
  CHECK(dummy.mtu == 9000);
  const auto &vxlan = t->links[2];
  CHECK(vxlan.kind == LinkKind::vxlan);
  CHECK(vxlan.b.node == "vxlan");
  CHECK(vxlan.b.iface == "vni42");
  CHECK(vxlan.device.remote == "10.11.12.2");
  CHECK(vxlan.device.vni == 42);
  CHECK(vxlan.device.dst_port == 4789); // udp-port, dst-port's old name
  CHECK(vxlan.device.src_port == 5000);
  CHECK(vxlan.device.parent.empty());
  const auto &stitch = t->links[3];
  CHECK(stitch.kind == LinkKind::vxlan_stitch);
  CHECK(stitch.b.node == "vxlan-stitch");
  CHECK(stitch.device.dst_port == k_vxlan_default_port);
  CHECK(stitch.device.parent == "ltbvxp0");
  CHECK(describe_device(stitch.kind, stitch.device, stitch.b.iface) ==
        "vxlan-stitch remote=fd00::2 vni=43 dst-port=14789 parent=ltbvxp0");
  // The far ends are the implicit nodes of the types; names are generated from them.
  CHECK(t->find_node("dummy"));
  CHECK(t->find_node("vxlan-stitch"));
  CHECK(vxlan.name == "c2-vxlan"); // one link from c2 to a vxlan: the short name
}

TEST_CASE("device links: two macvlans share a parent; dst-port wins over udp-port") {
  auto t = load(k_nodes + "    - endpoints: [\"c1:eth1\", \"macvlan:p0\"]\n"
                          "    - endpoints: [\"c2:eth1\", \"macvlan:p0\"]\n"
                          "    - type: vxlan\n"
                          "      endpoint: {node: c1, interface: eth2}\n"
                          "      remote: 10.11.12.2\n"
                          "      vni: 42\n"
                          "      udp-port: 4789\n"
                          "      dst-port: 4790\n");
  REQUIRE_MESSAGE(t, render(t.error(), false));
  CHECK(t->links[2].device.dst_port == 4790);
}

TEST_CASE("device links: missing parameters are errors at the link") {
  const auto text = errors(k_nodes + "    - type: vxlan\n"
                                     "      endpoint: {node: c1, interface: eth1}\n"
                                     "      vni: 42\n"
                                     "    - type: macvlan\n"
                                     "      endpoint: {node: c1, interface: eth2}\n"
                                     "    - type: dummy\n"
                                     "      endpoints: [\"c1:eth3\", \"c2:eth3\"]\n");
  CHECK(has(text, "lab.clab.yml:7:7: error: link 1 of type vxlan needs remote and vni"));
  CHECK(has(text, "lab.clab.yml:10:7: error: link 2 of type macvlan needs a host-interface"));
  CHECK(has(text, "lab.clab.yml:13:7: error: a link of type dummy has one endpoint, not "
                  "endpoints"));
}

TEST_CASE("device links: bad values are located errors") {
  const auto text = errors(k_nodes + "    - type: vxlan\n"
                                     "      endpoint: {node: c1, interface: eth1}\n"
                                     "      remote: vtep.example\n"
                                     "      vni: 16777216\n"
                                     "    - type: macvlan\n"
                                     "      endpoint: {node: c1, interface: eth2, mac: zz}\n"
                                     "      host-interface: p0\n"
                                     "      mode: loud\n"
                                     "    - endpoints: [\"c2:eth1\", \"c1:eth3\"]\n"
                                     "      vni: 7\n");
  CHECK(has(text, "lab.clab.yml:9:15: error: remote 'vtep.example' is not an IPv4 or IPv6 "
                  "address"));
  CHECK(has(text, "lab.clab.yml:10:12: error:")); // vni above 16777215
  CHECK(has(text, "lab.clab.yml:12:50: error:")); // mac
  CHECK(has(text, "lab.clab.yml:14:13: error:")); // mode
  CHECK(has(text, "lab.clab.yml:16:7: error: 'vni' is for links of type vxlan"));
}

TEST_CASE("device links: their node end is a container of the lab") {
  const auto text = errors("name: dl\n"
                           "topology:\n"
                           "  nodes:\n"
                           "    br1: {kind: bridge}\n"
                           "  links:\n"
                           "    - type: dummy\n"
                           "      endpoint: {node: br1, interface: d0}\n");
  CHECK(has(text, "error: a link from bridge node 'br1' to host node 'dummy' is not supported"));
}

TEST_CASE("device links: a node named as a type, and a type written as a node") {
  const auto named = errors("name: dl\n"
                            "topology:\n"
                            "  nodes:\n"
                            "    c1: {kind: linux, image: alpine:3}\n"
                            "    dummy: {kind: linux, image: alpine:3}\n"
                            "  links:\n"
                            "    - type: dummy\n"
                            "      endpoint: {node: c1, interface: d0}\n");
  CHECK(has(named, "lab.clab.yml:7:13: error: a node of the file is named 'dummy'"));
  const auto brief = errors(k_nodes + "    - endpoints: [\"c1:eth1\", \"vxlan:vni42\"]\n");
  CHECK(has(brief, "error: 'vxlan' is containerlab's link type, not a node"));
}

TEST_CASE("device links: impairments only on what the node sends; macvlan keeps its MTU") {
  const auto text = errors(k_nodes + "    - type: dummy\n"
                                     "      endpoint: {node: c1, interface: d0}\n"
                                     "      impairments: {delay: 10ms}\n");
  CHECK(has(text, "lab.clab.yml:9:7: error: a link of type dummy shapes only the packets its "
                  "node sends"));
  LoadOptions options;
  Diagnostics warnings;
  options.warnings = &warnings;
  auto t = load(k_nodes + "    - type: dummy\n"
                          "      endpoint: {node: c1, interface: d0, impairments: {delay: 10ms}}\n"
                          "    - type: macvlan\n"
                          "      endpoint: {node: c2, interface: eth1}\n"
                          "      host-interface: p0\n"
                          "      mtu: 9000\n"
                          "    - type: host\n"
                          "      endpoint: {node: c2, interface: eth2, mac: aa:c1:ab:00:00:09}\n"
                          "      host-interface: h-c2\n",
                options);
  REQUIRE_MESSAGE(t, render(t.error(), false));
  CHECK(!t->links[0].impair_a.empty());
  CHECK(t->links[1].mtu == 0);
  const auto said = render(warnings, false);
  CHECK(has(said, "lab.clab.yml:12:7: warning: a macvlan interface has its parent's MTU"));
  CHECK(has(said, "lab.clab.yml:14:45: warning: 'mac' is a containerlab key ltb ignores"));
}

TEST_CASE("device links: a confined lab has none") {
  LoadOptions options;
  options.confined = true;
  const auto text = errors(k_nodes + "    - type: dummy\n"
                                     "      endpoint: {node: c1, interface: d0}\n",
                           options);
  CHECK(has(text, "error: links of type dummy reach the host's interfaces or network: they are "
                  "for admins"));
}

TEST_CASE("device links: the corpus files load, and --containerlab reports them supported") {
  const std::string corpus = std::string(LTB_SOURCE_DIR) + "/tests/data/containerlab/";
  for (const char *file :
       {"macvlan.clab.yml", "dummy.clab.yml", "vxlan.clab.yml", "vxlan-stitch.clab.yml"}) {
    CAPTURE(file);
    auto loaded = load_file(corpus + file);
    if (!loaded) {
      FAIL(render(loaded.error(), false));
    }
    std::ifstream in(corpus + file);
    std::stringstream text;
    text << in.rdbuf();
    const auto report = containerlab_report(text.str(), file);
    REQUIRE(report.parsed);
    CHECK(report.all_supported());
    bool device = false;
    for (const auto &use : report.used) {
      CAPTURE(use.feature->id);
      CHECK(use.feature->support != Support::unsupported);
      device = device || use.feature->id.find("link-macvlan") == 0 ||
               use.feature->id == "link-dummy" || use.feature->id.find("link-vxlan") == 0;
    }
    CHECK(device);
  }
  auto macvlan = load_file(corpus + "macvlan.clab.yml");
  REQUIRE(macvlan);
  CHECK(macvlan->links[0].b.iface == "ltbmvp0"); // ${MACVLAN_PARENT:=ltbmvp0}
  CHECK(macvlan->links[1].device.mac == "aa:c1:ab:00:00:02");
}
