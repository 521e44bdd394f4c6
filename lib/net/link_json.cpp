#include "net/link_json.hpp"

namespace ltb::net {

nlohmann::json link_snapshot_json(const LinkSnapshot &snapshot) {
  nlohmann::json routes = nlohmann::json::array();
  for (const auto &route : snapshot.routes) {
    routes.push_back({{"family", route.family},
                      {"destination", route.destination},
                      {"gateway", route.gateway},
                      {"metric", route.metric},
                      {"protocol", route.protocol},
                      {"scope", route.scope},
                      {"table", route.table}});
  }
  return {{"name", snapshot.name},
          {"mac", snapshot.mac},
          {"mtu", snapshot.mtu},
          {"up", snapshot.up},
          {"addresses", snapshot.addresses},
          {"routes", std::move(routes)}};
}

void read_link_snapshot(const nlohmann::json &json, LinkSnapshot &snapshot) {
  snapshot.name = json.value("name", snapshot.name);
  snapshot.mac = json.value("mac", snapshot.mac);
  snapshot.mtu = json.value("mtu", snapshot.mtu);
  snapshot.up = json.value("up", snapshot.up);
  snapshot.addresses = json.value("addresses", snapshot.addresses);
  for (const auto &r : json.value("routes", nlohmann::json::array())) {
    const LinkRoute defaults;
    LinkRoute route;
    route.family = r.value("family", defaults.family);
    route.destination = r.value("destination", defaults.destination);
    route.gateway = r.value("gateway", defaults.gateway);
    route.metric = r.value("metric", defaults.metric);
    route.protocol = r.value("protocol", defaults.protocol);
    route.scope = r.value("scope", defaults.scope);
    route.table = r.value("table", defaults.table);
    snapshot.routes.push_back(std::move(route));
  }
}

} // namespace ltb::net
