#include "server/router.hpp"

#include <sstream>

namespace ltb::server {
namespace {

std::vector<std::string> split(const std::string &path) {
  std::vector<std::string> parts;
  std::stringstream in(path);
  for (std::string part; std::getline(in, part, '/');) {
    if (!part.empty()) {
      parts.push_back(part);
    }
  }
  return parts;
}

} // namespace

const std::vector<Route> &routes() {
  static const std::vector<Route> k_routes{
      {RouteId::version, "GET", "/v1/version"},    {RouteId::whoami, "GET", "/v1/whoami"},
      {RouteId::labs, "GET", "/v1/labs"},          {RouteId::lab, "GET", "/v1/labs/{lab}"},
      {RouteId::commands, "POST", "/v1/commands"},
  };
  return k_routes;
}

RouteMatch match_route(const std::string &method, const std::string &target) {
  RouteMatch out;
  const auto path = target.substr(0, target.find('?'));
  const auto parts = split(path);
  for (const auto &route : routes()) {
    const auto pattern = split(route.path);
    if (pattern.size() != parts.size()) {
      continue;
    }
    std::map<std::string, std::string> params;
    bool ok = true;
    for (std::size_t i = 0; i < parts.size() && ok; ++i) {
      if (pattern[i].size() > 2 && pattern[i].front() == '{' && pattern[i].back() == '}') {
        params[pattern[i].substr(1, pattern[i].size() - 2)] = parts[i];
      } else {
        ok = pattern[i] == parts[i];
      }
    }
    if (!ok) {
      continue;
    }
    out.path_matched = true;
    if (method == route.method) {
      out.route = &route;
      out.params = std::move(params);
      return out;
    }
  }
  return out;
}

} // namespace ltb::server
