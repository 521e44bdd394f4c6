#include "service/relay.hpp"

namespace ltb::service {

Status run_relay(const std::string &lab_dir, bool foreground) {
  return net::relay_serve({lab_dir, foreground});
}

Status relay_set(const RelaySetRequest &request) {
  auto &relay = net::host_relay();
  if (request.both) {
    LTB_CHECK(relay.set(request.lab_dir, request.link, net::Direction::a_to_b, request.impairment));
    return relay.set(request.lab_dir, request.link, net::Direction::b_to_a, request.impairment);
  }
  return relay.set(request.lab_dir, request.link, request.direction, request.impairment);
}

Status relay_stop(const std::string &lab_dir) {
  return net::host_relay().stop(lab_dir);
}

} // namespace ltb::service
