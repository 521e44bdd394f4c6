#pragma once
// The daemon's routes, as a table: the OpenAPI file (schemas/ltb-api.openapi.json) documents the
// same (method, path) pairs, and a unit test keeps the two equal.

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ltb::server {

enum class RouteId {
  version,
  whoami,
  labs,
  lab,
  commands,
  login,
  logout,
  events,
  capture,
  terminal,
  top,
  metrics,
};

struct Route {
  RouteId id;
  const char *method;
  const char *path; // OpenAPI's form: /v1/labs/{lab}
};

const std::vector<Route> &routes();

struct RouteMatch {
  const Route *route = nullptr; // null: nothing matched (404), or only the path (405)
  bool path_matched = false;
  std::map<std::string, std::string> params;
};

/// Matches a request target (the query, if any, is ignored) against the table.
RouteMatch match_route(const std::string &method, const std::string &target);

/// The query of a request target (`?all=true&owner=bob`), percent-decoded ('+' is a space);
/// nullopt for a malformed escape. A name given twice keeps its last value.
std::optional<std::map<std::string, std::string>> query_params(const std::string &target);

} // namespace ltb::server
