#pragma once
// `ltb version`: ltb's version and those of the services it uses, each asked once.

#include <string>

namespace ltb::service {

struct Versions {
  std::string ltb;
  std::string docker;      // the server's version, or "not reachable"
  std::string openvswitch; // likewise
  std::string libvirt;     // likewise
};

/// Never fails: a service that does not answer is "not reachable".
Versions versions();

} // namespace ltb::service
