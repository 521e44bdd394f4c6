#pragma once
// Private to net/: bring one interface up by name, for the parts of net/ that create interfaces
// through other programs (the internal port of an OVS bridge). Implemented in netlink.cpp.

#include "util/error.hpp"

#include <string>

namespace ltb::net {

/// Sets IFF_UP on `name` in the namespace `netns_fd` (-1: ltb's own). Ok if it is already up.
Status set_link_up(const std::string &name, int netns_fd = -1);

} // namespace ltb::net
