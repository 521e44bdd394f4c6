#pragma once
// A drawing of a lab: its nodes (kind, management address, live state) and links (interface
// names, impairments, live state), and the renderers that turn it into Graphviz dot, Mermaid,
// JSON or one self-contained HTML page with an SVG laid out here. Pure: service/ builds the
// graph from a lab file or the state file and the runtimes. Depends on util/ only.

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace ltb::graph {

struct Node {
  std::string name;
  std::string kind;
  std::string image;     // "" for a bridge
  std::string mgmt_ipv4; // "" when none (bridges, a file not deployed that gives none)
  std::string state;     // live: "running", "stopped", "missing", ...; "" when not deployed
};

/// What a link does to packets in one direction ("both", or "NODE:IFACE->NODE:IFACE"), as
/// (field, value) pairs in the file's units: {"delay", "50ms"}, {"loss", "2%"}.
struct Impairment {
  std::string direction;
  std::vector<std::pair<std::string, std::string>> values;
};

struct Endpoint {
  std::string node;
  std::string iface;
};

struct Link {
  std::string name;
  std::string type; // "veth", "tap" (a VM end), "segment" (a bridge end)
  Endpoint a;
  Endpoint b;
  std::string state; // live: "up", "down", ...; "" when not deployed
  std::vector<Impairment> impairments;
};

struct Graph {
  std::string lab;
  std::string source; // the file drawn, or "state" for a recorded lab
  bool live = false;  // states come from a deployed lab
  std::vector<Node> nodes;
  std::vector<Link> links;
};

/// Where each node is drawn (same order as graph.nodes), in a canvas of width x height.
struct Layout {
  struct Point {
    double x = 0;
    double y = 0;
  };
  std::vector<Point> nodes;
  double width = 0;
  double height = 0;
};

/// A deterministic force-directed layout (Fruchterman-Reingold from a circle, fixed iterations,
/// then nodes pushed apart to a minimum distance): the same graph always gives the same picture.
Layout layout(const Graph &graph);

/// The names of the formats `render` knows.
const std::vector<std::string> &formats();

/// One of formats(): "dot", "mermaid", "json", "html". Ends with a newline.
std::string render(const Graph &graph, const std::string &format);

std::string to_dot(const Graph &graph);
std::string to_mermaid(const Graph &graph);
nlohmann::json to_json(const Graph &graph);
std::string to_html(const Graph &graph);

} // namespace ltb::graph
