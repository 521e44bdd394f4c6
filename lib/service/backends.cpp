#include "service/backends.hpp"

#include "service/container_cache.hpp"

namespace ltb::service {

Result<std::unique_ptr<state::Store>> open_store(const Context &context) {
  return state::Store::open(context.state_path);
}

Result<Connection> connect(const Context &context, bool docker) {
  Connection connection;
  LTB_TRY(store, open_store(context));
  connection.store = std::move(store);
  if (docker) {
    LTB_TRY(client, runtime::connect_docker());
    connection.docker = context.container_cache
                            ? cached_runtime(std::move(client), context.container_cache)
                            : std::move(client);
  }
  connection.netlink = net::make_netlink();
  connection.ovs = net::make_ovs();
  return connection;
}

Status Connection::connect_vms(bool required) {
  if (vms) {
    return {};
  }
  auto client = runtime::connect_libvirt();
  if (!client) {
    if (required) {
      return fail(client.error());
    }
    return {};
  }
  vms = std::move(*client);
  return {};
}

} // namespace ltb::service
