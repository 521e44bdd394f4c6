// Tests of lib/graph (layout and renderers) and of the service that builds a graph from a file or
// the state file (without daemons: a lab that is not deployed, an unknown lab).

#include "graph/graph.hpp"
#include "service/graph.hpp"
#include "state/store.hpp"
#include "testutil.hpp"
#include "topology/loader.hpp"
#include "util/exec.hpp"

#include <cmath>
#include <doctest/doctest.h>
#include <filesystem>
#include <regex>

using ltb::test::TempDir;
namespace graph = ltb::graph;
namespace service = ltb::service;

namespace {

/// r1 -- r2 (veth), r1 -- sw (segment), live: r2 stopped, its link down; one impairment.
graph::Graph sample() {
  graph::Graph g;
  g.lab = "demo";
  g.source = "/labs/demo.yaml";
  g.live = true;
  g.nodes = {{"r1", "frr", "ltb/frr:latest", "172.20.0.2", "running"},
             {"r2", "frr", "ltb/frr:latest", "172.20.0.3", "stopped"},
             {"sw", "ovs-bridge", "", "", "running"}};
  graph::Link a{"r1-r2", "veth", {"r1", "eth1"}, {"r2", "eth1"}, "down", {}};
  a.impairments.push_back({"both", {{"delay", "50ms"}, {"loss", "2%"}}});
  graph::Link b{"r1-lan", "segment", {"r1", "eth3"}, {"sw", "p1"}, "up", {}};
  g.links = {a, b};
  return g;
}

/// Whether `program` is on PATH.
bool have(const std::string &program) {
  auto found = ltb::util::run({"sh", "-c", "command -v " + program});
  return found && found->exit_code == 0;
}

} // namespace

TEST_CASE("graph mermaid: flowchart with safe ids, state classes, interface labels") {
  const std::string expected = R"(flowchart LR
  classDef running fill:#e8f5e9,stroke:#2e7d32
  classDef stopped fill:#eeeeee,stroke:#757575
  classDef problem fill:#ffebee,stroke:#c62828
  n0["r1<br/>frr<br/>172.20.0.2<br/>running"]:::running
  n1["r2<br/>frr<br/>172.20.0.3<br/>stopped"]:::stopped
  n2(["sw<br/>ovs-bridge<br/>running"]):::running
  n0 -.-|"eth1 - eth1<br/>delay 50ms, loss 2%<br/>down"| n1
  n0 ---|"eth3 - p1"| n2
)";
  CHECK(graph::to_mermaid(sample()) == expected);
}

TEST_CASE("graph mermaid: names that are Mermaid syntax are quoted as entities; no state when not "
          "deployed") {
  graph::Graph g;
  g.lab = "x";
  g.nodes = {{"end", "linux", "img", "", ""}, {"a\"b<c>#", "linux", "img", "", ""}};
  g.links = {{"l", "veth", {"end", "eth1"}, {"a\"b<c>#", "eth1"}, "", {}}};
  const std::string expected = R"(flowchart LR
  n0["end<br/>linux"]
  n1["a#quot;b#lt;c#gt;#35;<br/>linux"]
  n0 ---|"eth1 - eth1"| n1
)";
  CHECK(graph::to_mermaid(g) == expected);
}

TEST_CASE("graph dot: one statement per node and link, quoted, and valid for Graphviz") {
  const std::string dot = graph::to_dot(sample());
  CHECK(dot.rfind("graph \"demo\" {\n", 0) == 0);
  CHECK(
      dot.find(
          R"("r1" [label="r1\nfrr\n172.20.0.2\nrunning", fillcolor="#e8f5e9", color="#2e7d32"];)") !=
      std::string::npos);
  CHECK(
      dot.find(
          R"("sw" [label="sw\novs-bridge\nrunning", fillcolor="#e8f5e9", color="#2e7d32", shape=ellipse, style=filled];)") !=
      std::string::npos);
  CHECK(
      dot.find(
          R"("r1" -- "r2" [label="r1-r2\ndelay 50ms, loss 2%\ndown", taillabel="eth1", headlabel="eth1", style=dashed, color="#c62828"];)") !=
      std::string::npos);
  CHECK(dot.find(R"("r1" -- "sw" [label="r1-lan", taillabel="eth3", headlabel="p1"];)") !=
        std::string::npos);
  graph::Graph odd;
  odd.lab = "quote\"and\\slash";
  odd.nodes = {{"a\"b", "linux", "", "", ""}};
  const std::string odd_dot = graph::to_dot(odd);
  CHECK(odd_dot.find(R"("a\"b" [label="a\"b\nlinux")") != std::string::npos);
  if (!have("dot")) {
    ltb::test::missing_prerequisite("Graphviz's dot is not installed",
                                    "that Graphviz accepts ltb's dot output");
    return;
  }
  for (const auto &text : {dot, odd_dot}) {
    auto rendered = ltb::util::run({"dot", "-Tsvg"}, {std::chrono::seconds(30), text});
    REQUIRE(rendered);
    INFO("dot said: " << rendered->err);
    CHECK(rendered->exit_code == 0);
    CHECK(rendered->err.empty());
    CHECK(rendered->out.find("<svg") != std::string::npos);
  }
  auto rendered = ltb::util::run({"dot", "-Tsvg"}, {std::chrono::seconds(30), dot});
  REQUIRE(rendered);
  for (const auto *text : {"r1", "r2", "sw", "eth3", "p1", "172.20.0.2"}) {
    CHECK_MESSAGE(rendered->out.find(text) != std::string::npos, text);
  }
}

TEST_CASE("graph json: nodes, links with both endpoints, state null when not deployed") {
  auto json = graph::to_json(sample());
  CHECK(json["lab"] == "demo");
  CHECK(json["live"] == true);
  REQUIRE(json["nodes"].size() == 3);
  CHECK(json["nodes"][1]["state"] == "stopped");
  CHECK(json["nodes"][0]["mgmt_ipv4"] == "172.20.0.2");
  REQUIRE(json["links"].size() == 2);
  CHECK(json["links"][0]["endpoints"][1]["node"] == "r2");
  CHECK(json["links"][0]["endpoints"][1]["interface"] == "eth1");
  CHECK(json["links"][0]["impairments"][0]["delay"] == "50ms");
  CHECK(json["links"][0]["impairments"][0]["direction"] == "both");
  CHECK(json["links"][1]["impairments"].empty());
  auto g = sample();
  g.live = false;
  g.nodes[0].state.clear();
  CHECK(graph::to_json(g)["nodes"][0]["state"].is_null());
  CHECK(graph::render(g, "json").back() == '\n');
}

TEST_CASE("graph html: one self-contained page with every node, link and interface name") {
  auto g = sample();
  g.nodes.push_back({"<h&x>", "linux", "ltb/busybox:latest", "172.20.0.9", "missing"});
  g.links.push_back({"odd", "veth", {"<h&x>", "eth1"}, {"r2", "eth2"}, "down", {}});
  const std::string html = graph::to_html(g);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  // Nothing fetched: no external scripts, styles, images, fonts or links.
  for (const auto *banned : {"src=", "href=", "<link", "@import", "url(", "https://"}) {
    CHECK_MESSAGE(html.find(banned) == std::string::npos, banned);
  }
  std::string rest = html;
  for (auto pos = rest.find("http://"); pos != std::string::npos; pos = rest.find("http://")) {
    CHECK(rest.compare(pos, 26, "http://www.w3.org/2000/svg") == 0); // the SVG namespace only
    rest.erase(0, pos + 7);
  }
  for (const auto *node : {"r1", "r2", "sw"}) {
    CHECK_MESSAGE(html.find(std::string("data-node=\"") + node + "\"") != std::string::npos, node);
  }
  CHECK(html.find(R"(data-node="&lt;h&amp;x&gt;")") != std::string::npos);
  CHECK(html.find("<h&x>") == std::string::npos); // escaped everywhere, the JSON included
  CHECK(html.find(">eth3</text>") != std::string::npos);
  CHECK(html.find(">p1</text>") != std::string::npos);
  CHECK(html.find(">172.20.0.2</text>") != std::string::npos);
  CHECK(html.find(">delay 50ms, loss 2%</text>") != std::string::npos);
  CHECK(html.find(R"(class="link down impaired")") != std::string::npos);
  CHECK(html.find(R"(data-state="stopped")") != std::string::npos);
  CHECK(html == graph::to_html(g)); // deterministic
}

TEST_CASE("graph layout: deterministic, inside the canvas, nodes apart, wider than tall") {
  graph::Graph g;
  g.lab = "ring";
  for (int i = 0; i < 12; ++i) {
    g.nodes.push_back({"n" + std::to_string(i), "linux", "", "", ""});
  }
  for (int i = 0; i < 12; ++i) {
    g.links.push_back({"l" + std::to_string(i),
                       "veth",
                       {"n" + std::to_string(i), "eth1"},
                       {"n" + std::to_string((i + 1) % 12), "eth2"},
                       "",
                       {}});
  }
  g.nodes.push_back({"alone", "linux", "", "", ""}); // not linked to anything
  const auto first = graph::layout(g);
  const auto second = graph::layout(g);
  REQUIRE(first.nodes.size() == g.nodes.size());
  for (std::size_t i = 0; i < first.nodes.size(); ++i) {
    CHECK(first.nodes[i].x == second.nodes[i].x);
    CHECK(first.nodes[i].y == second.nodes[i].y);
    CHECK(first.nodes[i].x >= 100);
    CHECK(first.nodes[i].y >= 60);
    CHECK(first.nodes[i].x <= first.width - 100);
    CHECK(first.nodes[i].y <= first.height - 60);
    for (std::size_t j = i + 1; j < first.nodes.size(); ++j) {
      CHECK(std::hypot(first.nodes[i].x - first.nodes[j].x, first.nodes[i].y - first.nodes[j].y) >=
            258);
    }
  }
  CHECK(first.width < 5000);
  CHECK(first.width >= first.height);
  const auto empty = graph::layout(graph::Graph{});
  CHECK(empty.nodes.empty());
  CHECK(empty.width > 0);
  graph::Graph one;
  one.nodes = {{"a", "linux", "", "", ""}};
  CHECK(graph::layout(one).nodes.size() == 1);
}

TEST_CASE("service graph: a file not deployed has no live state; an unknown lab gets a "
          "did-you-mean") {
  TempDir tmp;
  service::Context context{tmp.file("state.db"), 5};
  service::Caller caller{1000, "alice", true, {}};
  service::CancelToken cancel;
  service::NullSink events;
  const service::Session session{context, caller, cancel, events};
  tmp.write("lab.yaml", R"(name: drawn
mgmt:
  ipv4-subnet: 172.20.0.0/24
topology:
  nodes:
    r1: {kind: frr}
    h1: {kind: linux, image: ltb/busybox:latest, mgmt-ipv4: 172.20.0.20}
    sw: {kind: ovs-bridge}
  links:
    - endpoints: ["r1:eth1", "h1:eth1"]
      impairments: {delay: 50ms, loss: 2%}
    - endpoints: ["r1:eth2", "sw:p1"]
      name: lan
    - endpoints:
        - {node: r1, interface: eth3, impairments: {rate: 10mbit}}
        - h1:eth2
)");
  auto loaded = ltb::topology::load_file(tmp.file("lab.yaml"));
  REQUIRE(loaded);
  auto drawn = service::graph_of_file(session, *loaded);
  REQUIRE(drawn);
  CHECK(drawn->lab == "drawn");
  CHECK_FALSE(drawn->live);
  REQUIRE(drawn->nodes.size() == 3);
  CHECK(drawn->nodes[1].mgmt_ipv4 == "172.20.0.20");
  CHECK(drawn->nodes[0].state.empty());
  REQUIRE(drawn->links.size() == 3);
  CHECK(drawn->links[0].type == "veth");
  REQUIRE(drawn->links[0].impairments.size() == 1);
  CHECK(drawn->links[0].impairments[0].direction == "both");
  using Values = std::vector<std::pair<std::string, std::string>>;
  CHECK(drawn->links[0].impairments[0].values == Values{{"delay", "50ms"}, {"loss", "2%"}});
  CHECK(drawn->links[1].impairments.empty());
  REQUIRE(drawn->links[2].impairments.size() == 1);
  CHECK(drawn->links[2].impairments[0].direction == "r1:eth3->h1:eth2");
  CHECK(drawn->links[2].impairments[0].values == Values{{"rate", "10mbit"}});
  CHECK(drawn->links[0].a.iface == "eth1");
  CHECK(drawn->links[1].type == "segment");
  CHECK(drawn->links[1].name == "lan");
  CHECK(drawn->links[1].state.empty());

  {
    auto store = ltb::state::Store::open(context.state_path);
    REQUIRE(store);
    ltb::state::LabRecord lab;
    lab.name = "drawn-lab";
    lab.owner = "alice";
    REQUIRE((*store)->put_lab(lab));
  }
  auto unknown = service::graph_of_lab(session, "drawn-lb");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message == "no lab named 'drawn-lb'");
  CHECK(unknown.error().help == "did you mean 'drawn-lab'?");
}
