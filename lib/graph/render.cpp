#include "graph/graph.hpp"
#include "util/xml.hpp"

#include <cmath>
#include <fmt/format.h>
#include <map>
#include <stdexcept>

namespace ltb::graph {

namespace {

struct Colors {
  const char *fill;
  const char *stroke;
};

/// A node's colours by its live state; not deployed is blue, running green, stopped grey, anything
/// else (missing, exited, replaced) red.
Colors node_colors(const Node &node) {
  if (node.state.empty()) {
    return {"#e3f2fd", "#1565c0"};
  }
  if (node.state == "running") {
    return {"#e8f5e9", "#2e7d32"};
  }
  if (node.state == "stopped") {
    return {"#eeeeee", "#757575"};
  }
  return {"#ffebee", "#c62828"};
}

bool link_down(const Link &link) {
  return !link.state.empty() && link.state != "up";
}

bool is_bridge(const Node &node) {
  return node.kind == "ovs-bridge";
}

/// "delay 50ms, loss 2%" (prefixed with the direction when it is one way).
std::vector<std::string> impairment_lines(const Link &link) {
  std::vector<std::string> lines;
  for (const auto &impairment : link.impairments) {
    std::string line;
    for (const auto &[key, value] : impairment.values) {
      line += fmt::format("{}{} {}", line.empty() ? "" : ", ", key, value);
    }
    if (impairment.direction != "both" && !impairment.direction.empty()) {
      line = impairment.direction + ": " + line;
    }
    lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> node_lines(const Node &node) {
  std::vector<std::string> lines{node.name, node.kind};
  if (!node.mgmt_ipv4.empty()) {
    lines.push_back(node.mgmt_ipv4);
  }
  if (!node.state.empty()) {
    lines.push_back(node.state);
  }
  return lines;
}

std::string join(const std::vector<std::string> &lines, const std::string &separator) {
  std::string out;
  for (const auto &line : lines) {
    out += (out.empty() ? "" : separator) + line;
  }
  return out;
}

// --- dot ---

std::string dot_quote(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return out + "\"";
}

// --- mermaid ---

/// Text inside a quoted Mermaid label: quotes and angle brackets as entity codes.
std::string mermaid_text(const std::string &text) {
  std::string out;
  for (char c : text) {
    switch (c) {
    case '"':
      out += "#quot;";
      break;
    case '<':
      out += "#lt;";
      break;
    case '>':
      out += "#gt;";
      break;
    case '#':
      out += "#35;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

std::string mermaid_label(const std::vector<std::string> &lines) {
  std::vector<std::string> escaped;
  for (const auto &line : lines) {
    escaped.push_back(mermaid_text(line));
  }
  return "\"" + join(escaped, "<br/>") + "\"";
}

/// Mermaid's class for a node state ("state-missing"); "" when not live.
std::string state_class(const std::string &state) {
  if (state.empty()) {
    return {};
  }
  if (state == "running" || state == "stopped") {
    return state;
  }
  return "problem";
}

// --- html ---

std::string xml(const std::string &text) {
  return util::xml_escape(text);
}

std::string num(double value) {
  return fmt::format("{:.0f}", value);
}

constexpr double k_box_width = 150;
constexpr double k_line_height = 15;

constexpr const char *k_style = R"(
body { font-family: Helvetica, Arial, sans-serif; margin: 16px; color: #212121; }
h1 { font-size: 18px; margin: 0 0 4px 0; }
p.meta { font-size: 13px; color: #616161; margin: 0 0 8px 0; }
svg { border: 1px solid #e0e0e0; background: #fff; max-width: 100%; height: auto; }
.link path { fill: none; stroke: #546e7a; stroke-width: 2; }
.link.down path { stroke: #c62828; stroke-dasharray: 6 4; }
.link.impaired path { stroke: #ef6c00; }
.link text { font-size: 11px; fill: #37474f; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
.link text.name { fill: #78909c; font-style: italic; }
.link text.impairment { fill: #e65100; }
.node rect { stroke-width: 2; }
.node text { font-size: 12px; text-anchor: middle; fill: #212121; }
.node text.name { font-weight: bold; font-size: 13px; }
.node:hover rect, .link:hover path { stroke-width: 4; }
#details { font-size: 13px; min-height: 1.4em; margin-top: 6px; white-space: pre; font-family: monospace; }
.legend span { display: inline-block; padding: 1px 6px; margin-right: 6px; border: 2px solid; border-radius: 4px; font-size: 12px; }
)";

// Hover: the details of a node or link under the pointer, below the drawing.
constexpr const char *k_script = R"(
(function () {
  var details = document.getElementById('details');
  document.querySelectorAll('[data-details]').forEach(function (element) {
    element.addEventListener('mouseenter', function () { details.textContent = element.getAttribute('data-details'); });
    element.addEventListener('mouseleave', function () { details.textContent = ''; });
  });
})();
)";

struct Point {
  double x;
  double y;
};

/// The point at T on the quadratic curve P0, C, P1.
Point on_curve(Point p0, Point c, Point p1, double t) {
  const double u = 1 - t;
  return {u * u * p0.x + 2 * u * t * c.x + t * t * p1.x,
          u * u * p0.y + 2 * u * t * c.y + t * t * p1.y};
}

/// How tall a node's box is: one line per node_lines() line.
double box_height(const Node &node) {
  return static_cast<double>(node_lines(node).size()) * k_line_height + 14;
}

double box_height(const Graph &graph, const std::string &name) {
  for (const auto &node : graph.nodes) {
    if (node.name == name) {
      return box_height(node);
    }
  }
  return 0;
}

/// Where an interface name goes: on the curve, just past the edge of the box at its start (at
/// P1 when `from_end`), so that it neither hides under the box nor drifts to the middle.
Point beside_box(Point p0, Point c, Point p1, double height, bool from_end) {
  const Point centre = from_end ? p1 : p0;
  constexpr int k_steps = 200;
  for (int i = 0; i <= k_steps / 2; ++i) {
    const double t = static_cast<double>(i) / k_steps;
    const Point p = on_curve(p0, c, p1, from_end ? 1 - t : t);
    if (std::abs(p.x - centre.x) > k_box_width / 2 + 16 ||
        std::abs(p.y - centre.y) > height / 2 + 12) {
      return {p.x, p.y + 4};
    }
  }
  return on_curve(p0, c, p1, from_end ? 0.6 : 0.4);
}

std::string svg_text(Point at, const std::string &cls, const std::string &text,
                     const char *anchor = "middle") {
  return fmt::format(R"(<text class="{}" x="{}" y="{}" text-anchor="{}">{}</text>)", cls, num(at.x),
                     num(at.y), anchor, xml(text));
}

} // namespace

const std::vector<std::string> &formats() {
  static const std::vector<std::string> k_formats{"dot", "mermaid", "json", "html"};
  return k_formats;
}

std::string render(const Graph &graph, const std::string &format) {
  if (format == "dot") {
    return to_dot(graph);
  }
  if (format == "mermaid") {
    return to_mermaid(graph);
  }
  if (format == "json") {
    return to_json(graph).dump(2) + "\n";
  }
  if (format == "html") {
    return to_html(graph);
  }
  throw std::invalid_argument("unknown graph format " + format);
}

std::string to_dot(const Graph &graph) {
  std::string out = fmt::format("graph {} {{\n", dot_quote(graph.lab));
  out += fmt::format("  graph [label={}, labelloc=t, fontname=\"Helvetica\", overlap=false, "
                     "splines=true];\n",
                     dot_quote("lab " + graph.lab));
  out += "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=11];\n";
  out += "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  for (const auto &node : graph.nodes) {
    const auto colors = node_colors(node);
    out += fmt::format("  {} [label={}, fillcolor=\"{}\", color=\"{}\"{}];\n", dot_quote(node.name),
                       dot_quote(join(node_lines(node), "\n")), colors.fill, colors.stroke,
                       is_bridge(node) ? ", shape=ellipse, style=filled" : "");
  }
  for (const auto &link : graph.links) {
    std::vector<std::string> label{link.name};
    for (const auto &line : impairment_lines(link)) {
      label.push_back(line);
    }
    if (link_down(link)) {
      label.push_back(link.state);
    }
    out += fmt::format("  {} -- {} [label={}, taillabel={}, headlabel={}{}];\n",
                       dot_quote(link.a.node), dot_quote(link.b.node), dot_quote(join(label, "\n")),
                       dot_quote(link.a.iface), dot_quote(link.b.iface),
                       link_down(link)             ? ", style=dashed, color=\"#c62828\""
                       : !link.impairments.empty() ? ", color=\"#ef6c00\""
                                                   : "");
  }
  return out + "}\n";
}

std::string to_mermaid(const Graph &graph) {
  // Node ids are n0, n1, ...: node names may be Mermaid keywords ("end") or hold any character.
  std::map<std::string, std::string> ids;
  std::string out = "flowchart LR\n";
  if (graph.live) {
    out += "  classDef running fill:#e8f5e9,stroke:#2e7d32\n";
    out += "  classDef stopped fill:#eeeeee,stroke:#757575\n";
    out += "  classDef problem fill:#ffebee,stroke:#c62828\n";
  }
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    const auto &node = graph.nodes[i];
    const std::string id = fmt::format("n{}", i);
    ids[node.name] = id;
    const std::string label = mermaid_label(node_lines(node));
    out +=
        is_bridge(node) ? fmt::format("  {}([{}])", id, label) : fmt::format("  {}[{}]", id, label);
    if (const auto cls = state_class(node.state); !cls.empty()) {
      out += ":::" + cls;
    }
    out += "\n";
  }
  for (const auto &link : graph.links) {
    std::vector<std::string> label{link.a.iface + " - " + link.b.iface};
    for (const auto &line : impairment_lines(link)) {
      label.push_back(line);
    }
    if (link_down(link)) {
      label.push_back(link.state);
    }
    const auto a = ids.find(link.a.node);
    const auto b = ids.find(link.b.node);
    if (a == ids.end() || b == ids.end()) {
      continue; // the service only makes links between known nodes
    }
    out += fmt::format("  {} {}|{}| {}\n", a->second, link_down(link) ? "-.-" : "---",
                       mermaid_label(label), b->second);
  }
  return out;
}

nlohmann::json to_json(const Graph &graph) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto &node : graph.nodes) {
    nodes.push_back(
        {{"name", node.name},
         {"kind", node.kind},
         {"image", node.image},
         {"mgmt_ipv4", node.mgmt_ipv4},
         {"state", node.state.empty() ? nlohmann::json() : nlohmann::json(node.state)}});
  }
  nlohmann::json links = nlohmann::json::array();
  for (const auto &link : graph.links) {
    nlohmann::json impairments = nlohmann::json::array();
    for (const auto &impairment : link.impairments) {
      nlohmann::json item{{"direction", impairment.direction}};
      for (const auto &[key, value] : impairment.values) {
        item[key] = value;
      }
      impairments.push_back(std::move(item));
    }
    links.push_back({{"name", link.name},
                     {"type", link.type},
                     {"endpoints",
                      {{{"node", link.a.node}, {"interface", link.a.iface}},
                       {{"node", link.b.node}, {"interface", link.b.iface}}}},
                     {"state", link.state.empty() ? nlohmann::json() : nlohmann::json(link.state)},
                     {"impairments", std::move(impairments)}});
  }
  return {{"lab", graph.lab},
          {"source", graph.source},
          {"live", graph.live},
          {"nodes", std::move(nodes)},
          {"links", std::move(links)}};
}

std::string to_html(const Graph &graph) {
  const Layout placed = layout(graph);
  std::map<std::string, Point> at;
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    at[graph.nodes[i].name] = {placed.nodes[i].x, placed.nodes[i].y};
  }
  // Links between the same two nodes bend apart, each by its own offset.
  std::map<std::pair<std::string, std::string>, std::vector<std::size_t>> parallel;
  for (std::size_t i = 0; i < graph.links.size(); ++i) {
    const auto &link = graph.links[i];
    parallel[std::minmax(link.a.node, link.b.node)].push_back(i);
  }
  std::string links_svg;
  for (const auto &[pair, members] : parallel) {
    for (std::size_t k = 0; k < members.size(); ++k) {
      const auto &link = graph.links[members[k]];
      const auto a = at.find(link.a.node);
      const auto b = at.find(link.b.node);
      if (a == at.end() || b == at.end()) {
        continue;
      }
      const Point p0 = a->second;
      const Point p1 = b->second;
      const double dx = p1.x - p0.x;
      const double dy = p1.y - p0.y;
      const double length = std::max(1.0, std::hypot(dx, dy));
      // The bend is perpendicular to the pair's direction as sorted, the same for all members.
      const double sign = link.a.node == pair.first ? 1.0 : -1.0;
      const double offset =
          (static_cast<double>(k) - static_cast<double>(members.size() - 1) / 2) * 70 * sign;
      const Point control{(p0.x + p1.x) / 2 - dy / length * offset,
                          (p0.y + p1.y) / 2 + dx / length * offset};
      // Interface names sit just outside the boxes, at a fixed distance along the link.
      const Point a_label = beside_box(p0, control, p1, box_height(graph, link.a.node), false);
      const Point b_label = beside_box(p0, control, p1, box_height(graph, link.b.node), true);
      const Point middle = on_curve(p0, control, p1, 0.5);
      std::string details = fmt::format("link {} ({})\n{}:{} <-> {}:{}", link.name, link.type,
                                        link.a.node, link.a.iface, link.b.node, link.b.iface);
      if (!link.state.empty()) {
        details += "\nstate: " + link.state;
      }
      for (const auto &line : impairment_lines(link)) {
        details += "\nimpairment " + line;
      }
      std::string cls = "link";
      cls += link_down(link) ? " down" : "";
      cls += link.impairments.empty() ? "" : " impaired";
      links_svg += fmt::format(
          R"(<g class="{}" id="{}" data-link="{}" data-state="{}" data-details="{}"><title>{}</title>)"
          "\n",
          cls, xml("link-" + link.name), xml(link.name), xml(link.state), xml(details),
          xml(details));
      links_svg +=
          fmt::format(R"(  <path d="M {} {} Q {} {} {} {}"/>)"
                      "\n",
                      num(p0.x), num(p0.y), num(control.x), num(control.y), num(p1.x), num(p1.y));
      links_svg += "  " + svg_text(a_label, "iface", link.a.iface) + "\n";
      links_svg += "  " + svg_text(b_label, "iface", link.b.iface) + "\n";
      std::vector<std::string> middle_lines{link.name};
      if (link_down(link)) {
        middle_lines.front() += " (" + link.state + ")";
      }
      std::string middle_svg = svg_text({middle.x, middle.y - 4}, "name", middle_lines.front());
      double y = middle.y - 4;
      for (const auto &line : impairment_lines(link)) {
        y += 13;
        middle_svg += svg_text({middle.x, y}, "impairment", line);
      }
      links_svg += "  " + middle_svg + "\n</g>\n";
    }
  }
  std::string nodes_svg;
  for (const auto &node : graph.nodes) {
    const Point p = at[node.name];
    const auto lines = node_lines(node);
    const double height = box_height(node);
    const auto colors = node_colors(node);
    std::string details = fmt::format("node {}\nkind: {}", node.name, node.kind);
    if (!node.image.empty()) {
      details += "\nimage: " + node.image;
    }
    if (!node.mgmt_ipv4.empty()) {
      details += "\nmanagement: " + node.mgmt_ipv4;
    }
    if (!node.state.empty()) {
      details += "\nstate: " + node.state;
    }
    nodes_svg += fmt::format(
        R"svg(<g class="node" id="{}" data-node="{}" data-kind="{}" data-state="{}" data-details="{}" transform="translate({} {})"><title>{}</title>)svg"
        "\n",
        xml("node-" + node.name), xml(node.name), xml(node.kind), xml(node.state), xml(details),
        num(p.x), num(p.y), xml(details));
    nodes_svg += fmt::format(
        R"(  <rect x="{}" y="{}" width="{}" height="{}" rx="{}" fill="{}" stroke="{}"/>)"
        "\n",
        num(-k_box_width / 2), num(-height / 2), num(k_box_width), num(height),
        is_bridge(node) ? num(height / 2) : "8", colors.fill, colors.stroke);
    double y = -height / 2 + 7 + k_line_height - 3;
    for (std::size_t i = 0; i < lines.size(); ++i, y += k_line_height) {
      const char *cls = i == 0 ? "name" : (i == 1 ? "kind" : "detail");
      nodes_svg += "  " + svg_text({0, y}, cls, lines[i]) + "\n";
    }
    nodes_svg += "</g>\n";
  }
  std::string meta = fmt::format("{} node{}, {} link{}; from {}", graph.nodes.size(),
                                 graph.nodes.size() == 1 ? "" : "s", graph.links.size(),
                                 graph.links.size() == 1 ? "" : "s", graph.source);
  meta += graph.live ? "; live state of the deployed lab" : "; not deployed";
  // The graph as data for other tools. Outside strings JSON has no '<', '>' or '&': as \uXXXX
  // escapes inside them, no "</script>" or entity can end or change the element.
  std::string data;
  for (char c : to_json(graph).dump()) {
    data += c == '<'   ? std::string("\\u003c")
            : c == '>' ? std::string("\\u003e")
            : c == '&' ? std::string("\\u0026")
                       : std::string(1, c);
  }
  std::string legend;
  if (graph.live) {
    legend =
        R"(<p class="legend"><span style="background:#e8f5e9;border-color:#2e7d32">running</span>)"
        R"(<span style="background:#eeeeee;border-color:#757575">stopped</span>)"
        R"(<span style="background:#ffebee;border-color:#c62828">missing or not as recorded</span></p>)";
  }
  return fmt::format(
      R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<h1>{title}</h1>
<p class="meta">{meta}</p>
{legend}
<svg xmlns="http://www.w3.org/2000/svg" id="graph" width="{w}" height="{h}" viewBox="0 0 {w} {h}">
<g class="links">
{links}</g>
<g class="nodes">
{nodes}</g>
</svg>
<div id="details"></div>
<script type="application/json" id="ltb-graph">{data}</script>
<script>{script}</script>
</body>
</html>
)",
      fmt::arg("title", xml("lab " + graph.lab)), fmt::arg("style", k_style),
      fmt::arg("meta", xml(meta)), fmt::arg("legend", legend), fmt::arg("w", num(placed.width)),
      fmt::arg("h", num(placed.height)), fmt::arg("links", links_svg), fmt::arg("nodes", nodes_svg),
      fmt::arg("data", data), fmt::arg("script", k_script));
}

} // namespace ltb::graph
