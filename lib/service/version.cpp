#include "service/version.hpp"

#include "net/ovs.hpp"
#include "runtime/docker/docker.hpp"
#include "runtime/libvirt/libvirt.hpp"

namespace ltb::service {

Versions versions() {
  const std::string none = "not reachable";
  Versions out{LTB_VERSION, none, none, none};
  if (auto client = runtime::connect_docker()) {
    if (auto version = (*client)->server_version()) {
      out.docker = *version;
    }
  }
  if (auto version = net::make_ovs()->version()) {
    out.openvswitch = *version;
  }
  if (auto client = runtime::connect_libvirt()) {
    if (auto version = (*client)->version()) {
      out.libvirt = *version;
    }
  }
  return out;
}

} // namespace ltb::service
