#include "graph/graph.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace ltb::graph {

namespace {

constexpr double k_pi = 3.14159265358979323846;
constexpr int k_iterations = 400;
// Node boxes are about 150 x 70 pixels with interface labels around them: no two centres closer.
constexpr double k_min_distance = 260;
constexpr double k_margin_x = 110;
constexpr double k_margin_y = 70;

} // namespace

Layout layout(const Graph &graph) {
  Layout out;
  const std::size_t n = graph.nodes.size();
  if (n == 0) {
    out.width = 2 * k_margin_x;
    out.height = 2 * k_margin_y;
    return out;
  }
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < n; ++i) {
    index.emplace(graph.nodes[i].name, i);
  }
  std::vector<std::pair<std::size_t, std::size_t>> edges;
  for (const auto &link : graph.links) {
    auto a = index.find(link.a.node);
    auto b = index.find(link.b.node);
    if (a != index.end() && b != index.end() && a->second != b->second) {
      edges.emplace_back(a->second, b->second);
    }
  }
  // Fruchterman-Reingold in a square of side `side`, starting from a circle (deterministic).
  const double side = std::max(400.0, 220.0 * std::sqrt(static_cast<double>(n)));
  const double k = side / std::sqrt(static_cast<double>(n));
  std::vector<Layout::Point> pos(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double angle = -k_pi / 2 + 2 * k_pi * static_cast<double>(i) / static_cast<double>(n);
    pos[i] = {side / 2 + side / 3 * std::cos(angle), side / 2 + side / 3 * std::sin(angle)};
  }
  std::vector<Layout::Point> disp(n);
  for (int step = 0; step < k_iterations; ++step) {
    const double temperature = side / 10 * (1.0 - static_cast<double>(step) / k_iterations) + 0.5;
    std::fill(disp.begin(), disp.end(), Layout::Point{});
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = i + 1; j < n; ++j) {
        double dx = pos[i].x - pos[j].x;
        double dy = pos[i].y - pos[j].y;
        double d = std::hypot(dx, dy);
        if (d < 0.01) { // coincident: part them in a direction fixed by their indices
          dx = std::cos(static_cast<double>(i * 7 + j));
          dy = std::sin(static_cast<double>(i * 7 + j));
          d = 0.01;
        }
        const double force = k * k / d;
        disp[i].x += dx / d * force;
        disp[i].y += dy / d * force;
        disp[j].x -= dx / d * force;
        disp[j].y -= dy / d * force;
      }
    }
    for (const auto &[a, b] : edges) {
      const double dx = pos[a].x - pos[b].x;
      const double dy = pos[a].y - pos[b].y;
      const double d = std::max(0.01, std::hypot(dx, dy));
      const double force = d * d / k;
      disp[a].x -= dx / d * force;
      disp[a].y -= dy / d * force;
      disp[b].x += dx / d * force;
      disp[b].y += dy / d * force;
    }
    // A weak pull to the centre keeps parts of a disconnected lab in sight.
    for (std::size_t i = 0; i < n; ++i) {
      disp[i].x += (side / 2 - pos[i].x) * 0.05;
      disp[i].y += (side / 2 - pos[i].y) * 0.05;
      const double d = std::hypot(disp[i].x, disp[i].y);
      if (d > 0) {
        const double moved = std::min(d, temperature);
        pos[i].x += disp[i].x / d * moved;
        pos[i].y += disp[i].y / d * moved;
      }
    }
  }
  // Scale about the origin until no two nodes are closer than the minimum distance.
  double closest = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const double d = std::hypot(pos[i].x - pos[j].x, pos[i].y - pos[j].y);
      closest = (i == 0 && j == 1) ? d : std::min(closest, d);
    }
  }
  if (n > 1 && closest < k_min_distance) {
    const double scale = k_min_distance / std::max(closest, 0.01);
    for (auto &p : pos) {
      p.x *= scale;
      p.y *= scale;
    }
  }
  double min_x = pos[0].x, min_y = pos[0].y, max_x = pos[0].x, max_y = pos[0].y;
  for (const auto &p : pos) {
    min_x = std::min(min_x, p.x);
    min_y = std::min(min_y, p.y);
    max_x = std::max(max_x, p.x);
    max_y = std::max(max_y, p.y);
  }
  // Screens are wider than tall: a drawing taller than wide is turned on its side.
  if (max_y - min_y > max_x - min_x) {
    for (auto &p : pos) {
      std::swap(p.x, p.y);
    }
    std::swap(min_x, min_y);
    std::swap(max_x, max_y);
  }
  for (auto &p : pos) {
    // Whole pixels: the SVG text stays the same across compilers' last-bit differences.
    p.x = std::round(p.x - min_x + k_margin_x);
    p.y = std::round(p.y - min_y + k_margin_y);
  }
  out.nodes = std::move(pos);
  out.width = std::round(max_x - min_x + 2 * k_margin_x);
  out.height = std::round(max_y - min_y + 2 * k_margin_y);
  return out;
}

} // namespace ltb::graph
