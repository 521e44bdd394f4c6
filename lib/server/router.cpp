#include "server/router.hpp"

#include <cctype>
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

std::optional<std::string> decode(const std::string &text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] != '%') {
      out += text[i];
    } else if (i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

} // namespace

std::optional<std::map<std::string, std::string>> query_params(const std::string &target) {
  std::map<std::string, std::string> out;
  const auto mark = target.find('?');
  if (mark == std::string::npos) {
    return out;
  }
  std::stringstream in(target.substr(mark + 1));
  for (std::string pair; std::getline(in, pair, '&');) {
    if (pair.empty()) {
      continue;
    }
    const auto equals = pair.find('=');
    auto name = decode(pair.substr(0, equals));
    auto value = decode(equals == std::string::npos ? "" : pair.substr(equals + 1));
    if (!name || !value) {
      return std::nullopt;
    }
    out[*name] = *value;
  }
  return out;
}

const std::vector<Route> &routes() {
  static const std::vector<Route> k_routes{
      {RouteId::version, "GET", "/v1/version"},
      {RouteId::whoami, "GET", "/v1/whoami"},
      {RouteId::labs, "GET", "/v1/labs"},
      {RouteId::lab, "GET", "/v1/labs/{lab}"},
      {RouteId::commands, "POST", "/v1/commands"},
      {RouteId::login, "POST", "/v1/login"},
      {RouteId::logout, "POST", "/v1/logout"},
      {RouteId::events, "GET", "/v1/events/stream"},
      {RouteId::capture, "GET", "/v1/capture"},
      {RouteId::terminal, "GET", "/v1/terminal"},
      {RouteId::top, "GET", "/v1/top"},
      {RouteId::metrics, "GET", "/metrics"},
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
