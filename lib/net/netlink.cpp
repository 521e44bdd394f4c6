#include "net/netlink.hpp"

#include "net/link_up.hpp"
#include "util/c_ptr.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <functional>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/macvlan.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <optional>
#include <sched.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <utility>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace ltb::net {

Result<Netns> Netns::of_pid(int pid) {
  const auto path = fmt::format("/proc/{}/ns/net", pid);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) {
      return fail(
          fmt::format("cannot open the network namespace of process {}: the process is gone", pid),
          "the container stopped; check it with 'ltb status' and run 'ltb up' again");
    }
    return fail(fmt::format("cannot open {}: {}", path, std::strerror(error)),
                "ltb needs root (CAP_SYS_ADMIN) to enter container namespaces");
  }
  return Netns(fd);
}

Netns::Netns(Netns &&other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}

Netns &Netns::operator=(Netns &&other) noexcept {
  if (this != &other) {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_fd = std::exchange(other.m_fd, -1);
  }
  return *this;
}

Netns::~Netns() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

namespace {

using SockPtr = util::CPtr<nl_sock, nl_socket_free>;
using LinkPtr = util::CPtr<rtnl_link, rtnl_link_put>;
using VethPtr = util::CPtr<rtnl_link, rtnl_link_veth_release>; // frees the peer too
using CachePtr = util::CPtr<nl_cache, nl_cache_free>;
using AddrPtr = util::CPtr<rtnl_addr, rtnl_addr_put>;
using RoutePtr = util::CPtr<rtnl_route, rtnl_route_put>;
using NlAddrPtr = util::CPtr<nl_addr, nl_addr_put>;

std::string addr_text(nl_addr *addr) {
  if (addr == nullptr) {
    return {};
  }
  std::array<char, 128> buf{};
  return nl_addr2str(addr, buf.data(), buf.size());
}

// fe80::/10: the kernel gives every IPv6 interface one of its own.
bool is_link_local6(nl_addr *addr) {
  if (nl_addr_get_family(addr) != AF_INET6 || nl_addr_get_len(addr) < 2) {
    return false;
  }
  const auto *bytes = static_cast<const unsigned char *>(nl_addr_get_binary_addr(addr));
  return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;
}

// What the kernel said in its last error ack. libnl maps errno to its own coarser codes
// ("Object exists") and drops the extended-ack text; both say more to a user.
struct KernelError {
  int errno_value = 0;
  std::string message;
};

int capture_error(sockaddr_nl * /*peer*/, nlmsgerr *error, void *arg) {
  auto *captured = static_cast<KernelError *>(arg);
  captured->errno_value = -error->error;
  captured->message.clear();
  const auto *header =
      reinterpret_cast<const nlmsghdr *>(reinterpret_cast<const char *>(error) - NLMSG_HDRLEN);
  if ((header->nlmsg_flags & NLM_F_ACK_TLVS) != 0) {
    std::size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
    if ((header->nlmsg_flags & NLM_F_CAPPED) == 0) {
      offset += NLMSG_ALIGN(error->msg.nlmsg_len) - NLMSG_HDRLEN;
    }
    if (offset < header->nlmsg_len) {
      auto *head = reinterpret_cast<nlattr *>(
          reinterpret_cast<char *>(const_cast<nlmsghdr *>(header)) + offset);
      nlattr *attrs[NLMSGERR_ATTR_MAX + 1] = {};
      if (nla_parse(attrs, NLMSGERR_ATTR_MAX, head, static_cast<int>(header->nlmsg_len - offset),
                    nullptr) == 0 &&
          attrs[NLMSGERR_ATTR_MSG] != nullptr) {
        captured->message = nla_get_string(attrs[NLMSGERR_ATTR_MSG]);
      }
    }
  }
  return NL_STOP;
}

// A NETLINK_ROUTE socket bound to the network namespace of the thread that opens it. One per
// call: libnl sockets are not safe to share between threads.
class RouteSocket {
public:
  static Result<RouteSocket> open() {
    RouteSocket socket;
    socket.m_sock.reset(nl_socket_alloc());
    if (!socket.m_sock) {
      return fail("cannot open a netlink socket: out of memory", "try again");
    }
    const int err = nl_connect(socket.m_sock.get(), NETLINK_ROUTE);
    if (err < 0) {
      return fail(fmt::format("cannot open a netlink socket: {}", nl_geterror(err)),
                  "ltb needs root (CAP_NET_ADMIN) to manage interfaces");
    }
    const int one = 1;
    const int fd = nl_socket_get_fd(socket.m_sock.get());
    // Best effort: older kernels lack these, and the plain errno still comes through.
    ::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    ::setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    nl_socket_modify_err_cb(socket.m_sock.get(), NL_CB_CUSTOM, capture_error, socket.m_error.get());
    return socket;
  }

  nl_sock *get() const { return m_sock.get(); }

  /// The kernel's own words for the last failure, e.g. "File exists".
  std::string error_text(int nl_error) const {
    if (m_error->errno_value != 0) {
      auto text = std::string(std::strerror(m_error->errno_value));
      if (!m_error->message.empty()) {
        text += fmt::format(" ({})", m_error->message);
      }
      return text;
    }
    return nl_geterror(nl_error);
  }

  int last_errno() const { return m_error->errno_value; }
  void clear_error() { *m_error = KernelError{}; }

private:
  RouteSocket() : m_error(std::make_unique<KernelError>()) {}
  SockPtr m_sock;
  std::unique_ptr<KernelError> m_error; // stable address for the callback
};

bool is_no_device(int nl_error, const RouteSocket &socket) {
  return nl_error == -NLE_NODEV || nl_error == -NLE_OBJ_NOTFOUND || socket.last_errno() == ENODEV;
}

// Runs `work` with its netlink sockets in the namespace `netns_fd` (-1: ours). setns() changes the
// namespace of the calling thread only, so a short-lived thread enters it and ltb's other threads
// stay where they are.
template <class T> Result<T> in_netns(int netns_fd, const std::function<Result<T>()> &work) {
  if (netns_fd < 0) {
    return work();
  }
  std::optional<Result<T>> result;
  std::thread worker([&] {
    if (::setns(netns_fd, CLONE_NEWNET) != 0) {
      result = fail(
          fmt::format("cannot enter network namespace (fd {}): {}", netns_fd, std::strerror(errno)),
          "ltb needs root (CAP_SYS_ADMIN); check that the container is still running");
      return;
    }
    result = work();
  });
  worker.join();
  return std::move(*result);
}

Status check_name(const std::string &name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == ".." ||
      name.find_first_of("/: \t\n") != std::string::npos) {
    return fail(fmt::format("'{}' is not a valid interface name", name),
                "interface names have 1 to 15 characters, without '/', ':' or spaces");
  }
  return {};
}

std::string describe(const VethEnd &end) {
  if (!end.owner.empty()) {
    return fmt::format("{}:{}", end.owner, end.name);
  }
  return end.netns_fd < 0 ? fmt::format("host:{}", end.name) : end.name;
}

// Brings `name` up if it is not. Returns whether it had to.
Result<bool> ensure_up(const std::string &name, int netns_fd, const std::string &label) {
  return in_netns<bool>(netns_fd, [&]() -> Result<bool> {
    LTB_TRY(socket, RouteSocket::open());
    rtnl_link *raw = nullptr;
    int err = rtnl_link_get_kernel(socket.get(), 0, name.c_str(), &raw);
    LinkPtr current(raw);
    if (err < 0) {
      return fail(fmt::format("cannot find interface {}: {}", label, socket.error_text(err)),
                  "another program may have removed it; run 'ltb up' again");
    }
    if ((rtnl_link_get_flags(current.get()) & IFF_UP) != 0) {
      return false;
    }
    LinkPtr change(rtnl_link_alloc());
    rtnl_link_set_flags(change.get(), IFF_UP);
    socket.clear_error();
    err = rtnl_link_change(socket.get(), current.get(), change.get(), 0);
    if (err < 0) {
      return fail(fmt::format("cannot bring up {}: {}", label, socket.error_text(err)),
                  "check the interface with 'ip link' in that namespace");
    }
    return true;
  });
}

// restore_link's work, in the namespace the socket was opened in.
Status restore_in(RouteSocket &socket, const LinkSnapshot &snapshot) {
  const auto &name = snapshot.name;
  rtnl_link *raw = nullptr;
  int err = rtnl_link_get_kernel(socket.get(), 0, name.c_str(), &raw);
  LinkPtr link(raw);
  if (err < 0) {
    return fail(fmt::format("cannot find interface {}: {}", name, socket.error_text(err)),
                "another program may have removed it");
  }
  const int index = rtnl_link_get_ifindex(link.get());
  LinkPtr change(rtnl_link_alloc());
  bool changed = false;
  if (!snapshot.mac.empty() && addr_text(rtnl_link_get_addr(link.get())) != snapshot.mac) {
    nl_addr *mac = nullptr;
    if (nl_addr_parse(snapshot.mac.c_str(), AF_LLC, &mac) == 0) {
      rtnl_link_set_addr(change.get(), mac);
      nl_addr_put(mac);
      changed = true;
    }
  }
  if (snapshot.mtu > 0 && rtnl_link_get_mtu(link.get()) != snapshot.mtu) {
    rtnl_link_set_mtu(change.get(), snapshot.mtu);
    changed = true;
  }
  if (snapshot.up) {
    rtnl_link_set_flags(change.get(), IFF_UP);
    changed = true;
  }
  if (changed) {
    socket.clear_error();
    err = rtnl_link_change(socket.get(), link.get(), change.get(), 0);
    if (err < 0) {
      return fail(fmt::format("cannot set up interface {}: {}", name, socket.error_text(err)),
                  "check it with `ip link` in that namespace");
    }
  }
  for (const auto &text : snapshot.addresses) {
    nl_addr *parsed = nullptr;
    if (nl_addr_parse(text.c_str(), AF_UNSPEC, &parsed) < 0) {
      return fail(fmt::format("interface {}: '{}' is not an address", name, text));
    }
    NlAddrPtr local(parsed);
    AddrPtr addr(rtnl_addr_alloc());
    rtnl_addr_set_ifindex(addr.get(), index);
    rtnl_addr_set_family(addr.get(), nl_addr_get_family(local.get()));
    rtnl_addr_set_local(addr.get(), local.get());
    rtnl_addr_set_prefixlen(addr.get(), nl_addr_get_prefixlen(local.get()));
    socket.clear_error();
    err = rtnl_addr_add(socket.get(), addr.get(), 0);
    if (err < 0 && socket.last_errno() != EEXIST && err != -NLE_EXIST) {
      return fail(fmt::format("cannot give interface {} its address {} again: {}", name, text,
                              socket.error_text(err)));
    }
  }
  for (const auto &kept : snapshot.routes) {
    RoutePtr route(rtnl_route_alloc());
    nl_addr *parsed = nullptr;
    if (nl_addr_parse(kept.destination.c_str(), kept.family, &parsed) < 0) {
      return fail(fmt::format("interface {}: '{}' is not a route", name, kept.destination));
    }
    NlAddrPtr dst(parsed);
    rtnl_route_set_family(route.get(), static_cast<std::uint8_t>(kept.family));
    rtnl_route_set_dst(route.get(), dst.get());
    rtnl_route_set_table(route.get(), kept.table);
    rtnl_route_set_protocol(route.get(), static_cast<std::uint8_t>(kept.protocol));
    rtnl_route_set_scope(route.get(), static_cast<std::uint8_t>(kept.scope));
    rtnl_route_set_priority(route.get(), kept.metric);
    rtnl_nexthop *hop = rtnl_route_nh_alloc(); // owned by the route once added
    rtnl_route_nh_set_ifindex(hop, index);
    if (!kept.gateway.empty()) {
      nl_addr *gateway = nullptr;
      if (nl_addr_parse(kept.gateway.c_str(), kept.family, &gateway) == 0) {
        rtnl_route_nh_set_gateway(hop, gateway);
        nl_addr_put(gateway);
      }
    }
    rtnl_route_add_nexthop(route.get(), hop);
    socket.clear_error();
    err = rtnl_route_add(socket.get(), route.get(), NLM_F_CREATE);
    if (err < 0 && socket.last_errno() != EEXIST && err != -NLE_EXIST) {
      return fail(fmt::format("cannot restore the route to {} on interface {}: {}",
                              kept.destination, name, socket.error_text(err)));
    }
  }
  return {};
}

class RealNetlink final : public Netlink {
public:
  Status create_veth(const VethEnd &a, const VethEnd &b, int mtu) override {
    LTB_CHECK(check_name(a.name));
    LTB_CHECK(check_name(b.name));
    const auto what = fmt::format("cannot create veth {} <-> {}", describe(a), describe(b));
    LTB_TRY(socket, RouteSocket::open());

    // One RTM_NEWLINK: each end is created directly in its namespace with its final name, so
    // there is no window in which a half-made pair is visible under a temporary name.
    VethPtr link(rtnl_link_veth_alloc());
    if (!link) {
      return fail(fmt::format("{}: out of memory", what), "try again");
    }
    LinkPtr peer(rtnl_link_veth_get_peer(link.get()));
    const auto configure = [mtu](rtnl_link *end_link, const VethEnd &end, bool up) {
      rtnl_link_set_name(end_link, end.name.c_str());
      if (end.netns_fd >= 0) {
        rtnl_link_set_ns_fd(end_link, end.netns_fd);
      }
      if (up) {
        rtnl_link_set_flags(end_link, IFF_UP);
      }
      if (mtu > 0) {
        rtnl_link_set_mtu(end_link, static_cast<unsigned>(mtu));
      }
    };
    // IFF_UP only on end a. The kernel opens the peer before the two are linked (veth_newlink),
    // and veth_open then fails with ENOTCONN: on 6.x kernels a request with IFF_UP in the peer's
    // ifinfomsg fails as a whole (`ip link add A up type veth peer name B up` does too). So the
    // peer is brought up by a second request, from inside its namespace.
    configure(link.get(), a, true);
    configure(peer.get(), b, false);

    const int err = rtnl_link_add(socket.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
    if (err < 0) {
      const bool exists = socket.last_errno() == EEXIST || err == -NLE_EXIST;
      return fail(fmt::format("{}: {}", what, socket.error_text(err)),
                  exists ? "an interface of that name already exists in that namespace; remove it "
                           "('ltb down', or 'ip link del') or choose another name"
                         : "check that both namespaces still exist and that ltb runs as root");
    }

    // End a was configured up by the same request that created it; check both anyway (cheap),
    // since a link that is down looks fine and carries nothing.
    for (const auto *end : {&b, &a}) {
      auto up = ensure_up(end->name, end->netns_fd, describe(*end));
      if (!up) {
        // Do not leave half a link behind: deleting one end removes both.
        (void)delete_link(a.name, a.netns_fd);
        return fail(fmt::format("{}: {}", what, up.error().message), up.error().help);
      }
    }
    return {};
  }

  Status delete_link(const std::string &name, int netns_fd) override {
    LTB_CHECK(check_name(name));
    return in_netns<bool>(netns_fd,
                          [&]() -> Result<bool> {
                            LTB_TRY(socket, RouteSocket::open());
                            LinkPtr link(rtnl_link_alloc());
                            rtnl_link_set_name(link.get(), name.c_str());
                            const int err = rtnl_link_delete(socket.get(), link.get());
                            if (err < 0 && !is_no_device(err, socket)) {
                              return fail(fmt::format("cannot delete interface {}: {}", name,
                                                      socket.error_text(err)),
                                          "check the interface with 'ip link'");
                            }
                            return true;
                          })
        .map([](bool) {});
  }

  Result<bool> link_exists(const std::string &name, int netns_fd) override {
    LTB_CHECK(check_name(name));
    return in_netns<bool>(netns_fd, [&]() -> Result<bool> {
      LTB_TRY(socket, RouteSocket::open());
      rtnl_link *raw = nullptr;
      const int err = rtnl_link_get_kernel(socket.get(), 0, name.c_str(), &raw);
      LinkPtr link(raw);
      if (err == 0) {
        return true;
      }
      if (is_no_device(err, socket)) {
        return false;
      }
      return fail(fmt::format("cannot look up interface {}: {}", name, socket.error_text(err)),
                  "ltb needs root (CAP_NET_ADMIN) to manage interfaces");
    });
  }

  Result<LinkSnapshot> snapshot_link(const std::string &name, int netns_fd) override {
    LTB_CHECK(check_name(name));
    return in_netns<LinkSnapshot>(netns_fd, [&]() -> Result<LinkSnapshot> {
      LTB_TRY(socket, RouteSocket::open());
      auto what = [&](const std::string &text) { return fmt::format("{} of {}", text, name); };
      rtnl_link *raw = nullptr;
      int err = rtnl_link_get_kernel(socket.get(), 0, name.c_str(), &raw);
      LinkPtr link(raw);
      if (err < 0) {
        return fail(fmt::format("cannot find interface {}: {}", name, socket.error_text(err)),
                    "another program may have removed it");
      }
      LinkSnapshot snapshot;
      snapshot.name = name;
      snapshot.mac = addr_text(rtnl_link_get_addr(link.get()));
      snapshot.mtu = rtnl_link_get_mtu(link.get());
      snapshot.up = (rtnl_link_get_flags(link.get()) & IFF_UP) != 0;
      const int index = rtnl_link_get_ifindex(link.get());
      nl_cache *raw_cache = nullptr;
      err = rtnl_addr_alloc_cache(socket.get(), &raw_cache);
      CachePtr addresses(raw_cache);
      if (err < 0) {
        return fail(
            fmt::format("cannot read the {}: {}", what("addresses"), socket.error_text(err)));
      }
      for (nl_object *object = nl_cache_get_first(addresses.get()); object != nullptr;
           object = nl_cache_get_next(object)) {
        auto *addr = reinterpret_cast<rtnl_addr *>(object);
        nl_addr *local = rtnl_addr_get_local(addr);
        if (rtnl_addr_get_ifindex(addr) != index || local == nullptr || is_link_local6(local)) {
          continue;
        }
        snapshot.addresses.push_back(addr_text(local));
      }
      raw_cache = nullptr;
      err = rtnl_route_alloc_cache(socket.get(), AF_UNSPEC, 0, &raw_cache);
      CachePtr routes(raw_cache);
      if (err < 0) {
        return fail(fmt::format("cannot read the {}: {}", what("routes"), socket.error_text(err)));
      }
      for (nl_object *object = nl_cache_get_first(routes.get()); object != nullptr;
           object = nl_cache_get_next(object)) {
        auto *route = reinterpret_cast<rtnl_route *>(object);
        const auto protocol = rtnl_route_get_protocol(route);
        if ((protocol != RTPROT_BOOT && protocol != RTPROT_STATIC) ||
            rtnl_route_get_table(route) == RT_TABLE_LOCAL || rtnl_route_get_nnexthops(route) != 1) {
          continue;
        }
        rtnl_nexthop *hop = rtnl_route_nexthop_n(route, 0);
        if (rtnl_route_nh_get_ifindex(hop) != index) {
          continue;
        }
        nl_addr *dst = rtnl_route_get_dst(route);
        LinkRoute kept;
        kept.family = rtnl_route_get_family(route);
        kept.destination =
            dst == nullptr || nl_addr_get_prefixlen(dst) == 0 ? "default" : addr_text(dst);
        kept.gateway = addr_text(rtnl_route_nh_get_gateway(hop));
        kept.metric = rtnl_route_get_priority(route);
        kept.protocol = protocol;
        kept.scope = rtnl_route_get_scope(route);
        kept.table = rtnl_route_get_table(route);
        snapshot.routes.push_back(std::move(kept));
      }
      return snapshot;
    });
  }

  Status move_link(const std::string &name, int from_fd, int to_fd,
                   const std::string &new_name) override {
    LTB_CHECK(check_name(name));
    LTB_CHECK(check_name(new_name));
    if (to_fd < 0) {
      return fail(fmt::format("cannot move interface {}: no target namespace", name));
    }
    return in_netns<bool>(from_fd,
                          [&]() -> Result<bool> {
                            LTB_TRY(socket, RouteSocket::open());
                            rtnl_link *raw = nullptr;
                            int err = rtnl_link_get_kernel(socket.get(), 0, name.c_str(), &raw);
                            LinkPtr link(raw);
                            if (err < 0) {
                              return fail(fmt::format("cannot find interface {}: {}", name,
                                                      socket.error_text(err)),
                                          "another program may have removed it");
                            }
                            // One request: the kernel moves it, then names it in its new home.
                            LinkPtr change(rtnl_link_alloc());
                            rtnl_link_set_ns_fd(change.get(), to_fd);
                            rtnl_link_set_name(change.get(), new_name.c_str());
                            socket.clear_error();
                            err = rtnl_link_change(socket.get(), link.get(), change.get(), 0);
                            if (err < 0) {
                              return fail(fmt::format("cannot move interface {} (as {}): {}", name,
                                                      new_name, socket.error_text(err)),
                                          "check both namespaces with `ip netns` and `ip link`");
                            }
                            return true;
                          })
        .map([](bool) {});
  }

  Status restore_link(const LinkSnapshot &snapshot, int netns_fd) override {
    LTB_CHECK(check_name(snapshot.name));
    return in_netns<bool>(netns_fd,
                          [&]() -> Result<bool> {
                            LTB_TRY(socket, RouteSocket::open());
                            LTB_CHECK(restore_in(socket, snapshot));
                            return true;
                          })
        .map([](bool) {});
  }

  Result<std::string> link_kind(const std::string &name, int netns_fd) override {
    LTB_CHECK(check_name(name));
    return in_netns<std::string>(netns_fd, [&]() -> Result<std::string> {
      LTB_TRY(socket, RouteSocket::open());
      rtnl_link *raw = nullptr;
      const int err = rtnl_link_get_kernel(socket.get(), 0, name.c_str(), &raw);
      LinkPtr link(raw);
      if (err < 0) {
        if (is_no_device(err, socket)) {
          return std::string();
        }
        return fail(fmt::format("cannot look up interface {}: {}", name, socket.error_text(err)),
                    "ltb needs root (CAP_NET_ADMIN) to manage interfaces");
      }
      const char *type = rtnl_link_get_type(link.get());
      return std::string(type != nullptr ? type : "device");
    });
  }

  Status create_bridge(const std::string &name) override {
    LTB_CHECK(check_name(name));
    LTB_TRY(socket, RouteSocket::open());
    LinkPtr link(rtnl_link_alloc());
    rtnl_link_set_name(link.get(), name.c_str());
    if (rtnl_link_set_type(link.get(), "bridge") < 0) {
      return fail(fmt::format("cannot create bridge {}: the kernel has no bridge support", name),
                  "load the bridge module (modprobe bridge)");
    }
    rtnl_link_set_flags(link.get(), IFF_UP);
    const int err = rtnl_link_add(socket.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
    if (err < 0) {
      return fail(fmt::format("cannot create bridge {}: {}", name, socket.error_text(err)),
                  "check the host's interfaces with 'ip link'");
    }
    return ensure_up(name, -1, name).map([](bool) {});
  }

  Status set_master(const std::string &name, const std::string &bridge) override {
    LTB_CHECK(check_name(name));
    LTB_CHECK(check_name(bridge));
    LTB_TRY(socket, RouteSocket::open());
    const int master = static_cast<int>(if_nametoindex(bridge.c_str()));
    const int port = static_cast<int>(if_nametoindex(name.c_str()));
    if (master == 0 || port == 0) {
      return fail(fmt::format("cannot attach {} to bridge {}: {} does not exist", name, bridge,
                              master == 0 ? bridge : name),
                  "check the host's interfaces with 'ip link'");
    }
    const int err = rtnl_link_enslave_ifindex(socket.get(), master, port);
    if (err < 0) {
      return fail(
          fmt::format("cannot attach {} to bridge {}: {}", name, bridge, socket.error_text(err)),
          "check the bridge with 'ip link show master " + bridge + "'");
    }
    return {};
  }

  Result<std::vector<std::string>> bridge_ports(const std::string &bridge) override {
    LTB_CHECK(check_name(bridge));
    LTB_TRY(socket, RouteSocket::open());
    nl_cache *raw = nullptr;
    const int err = rtnl_link_alloc_cache(socket.get(), AF_UNSPEC, &raw);
    CachePtr cache(raw);
    if (err < 0) {
      return fail(fmt::format("cannot list network interfaces: {}", socket.error_text(err)),
                  "ltb needs root (CAP_NET_ADMIN) to manage interfaces");
    }
    const int master = rtnl_link_name2i(cache.get(), bridge.c_str());
    std::vector<std::string> names;
    for (nl_object *object = nl_cache_get_first(cache.get()); master != 0 && object != nullptr;
         object = nl_cache_get_next(object)) {
      auto *link = reinterpret_cast<rtnl_link *>(object);
      const char *name = rtnl_link_get_name(link);
      if (name != nullptr && rtnl_link_get_master(link) == master) {
        names.emplace_back(name);
      }
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  Status create_device(const DeviceSpec &spec) override {
    LTB_CHECK(check_name(spec.end.name));
    const auto what = fmt::format("cannot create {} interface {}", spec.kind, describe(spec.end));
    LTB_TRY(socket, RouteSocket::open());
    const bool macvlan = spec.kind == "macvlan";
    const bool vxlan = spec.kind == "vxlan";
    LinkPtr link(macvlan ? rtnl_link_macvlan_alloc()
                 : vxlan ? rtnl_link_vxlan_alloc()
                         : rtnl_link_alloc());
    if (!link) {
      return fail(fmt::format("{}: out of memory", what), "try again");
    }
    if (!macvlan && !vxlan && rtnl_link_set_type(link.get(), spec.kind.c_str()) < 0) {
      return fail(fmt::format("{}: this kernel has no {} interfaces", what, spec.kind),
                  fmt::format("load the kernel's {} module (modprobe {}), or remove the link",
                              spec.kind, spec.kind));
    }
    int parent = 0;
    if (!spec.parent.empty()) {
      parent = static_cast<int>(if_nametoindex(spec.parent.c_str()));
      if (parent == 0) {
        return fail(fmt::format("{}: the host has no interface '{}'", what, spec.parent),
                    "name an interface of the host's namespace ('ip link' lists them)");
      }
    }
    if (macvlan) {
      const int mode = rtnl_link_macvlan_str2mode(spec.mode.c_str());
      if (mode < 0 || parent == 0) {
        return fail(fmt::format("{}: {}", what,
                                parent == 0 ? "no parent interface"
                                            : "unknown macvlan mode '" + spec.mode + "'"));
      }
      rtnl_link_set_link(link.get(), parent);
      rtnl_link_macvlan_set_mode(link.get(), static_cast<uint32_t>(mode));
    }
    if (vxlan) {
      nl_addr *raw_remote = nullptr;
      if (nl_addr_parse(spec.remote.c_str(), AF_UNSPEC, &raw_remote) < 0) {
        return fail(fmt::format("{}: '{}' is not an address", what, spec.remote));
      }
      NlAddrPtr remote(raw_remote);
      rtnl_link_vxlan_set_id(link.get(), spec.vni);
      rtnl_link_vxlan_set_group(link.get(), remote.get()); // a unicast group is the remote
      if (parent != 0) {
        rtnl_link_vxlan_set_link(link.get(), static_cast<uint32_t>(parent));
      }
      rtnl_link_vxlan_set_learning(link.get(), 1);
      if (spec.dst_port > 0) {
        rtnl_link_vxlan_set_port(link.get(), static_cast<uint32_t>(spec.dst_port));
      }
      if (spec.src_port > 0) {
        // As containerlab: the range [src, src + 1), in network byte order.
        ifla_vxlan_port_range range{htons(static_cast<uint16_t>(spec.src_port)),
                                    htons(static_cast<uint16_t>(spec.src_port + 1))};
        rtnl_link_vxlan_set_port_range(link.get(), &range);
      }
    }
    rtnl_link_set_name(link.get(), spec.end.name.c_str());
    if (spec.end.netns_fd >= 0) {
      rtnl_link_set_ns_fd(link.get(), spec.end.netns_fd);
    }
    if (spec.mtu > 0) {
      rtnl_link_set_mtu(link.get(), static_cast<unsigned>(spec.mtu));
    }
    if (!spec.mac.empty()) {
      nl_addr *mac = nullptr;
      if (nl_addr_parse(spec.mac.c_str(), AF_LLC, &mac) < 0) {
        return fail(fmt::format("{}: '{}' is not a MAC address", what, spec.mac));
      }
      rtnl_link_set_addr(link.get(), mac);
      nl_addr_put(mac);
    }
    // containerlab puts its macvlan interfaces in promiscuous mode.
    rtnl_link_set_flags(link.get(), macvlan ? IFF_UP | IFF_PROMISC : IFF_UP);
    const int err = rtnl_link_add(socket.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
    if (err < 0) {
      const bool exists = socket.last_errno() == EEXIST || err == -NLE_EXIST;
      const bool no_type = socket.last_errno() == EOPNOTSUPP || err == -NLE_OPNOTSUPP;
      if (no_type) {
        return fail(fmt::format("{}: this kernel has no {} interfaces ({})", what, spec.kind,
                                socket.error_text(err)),
                    fmt::format("load the kernel's {} module (modprobe {}), or remove the link",
                                spec.kind, spec.kind));
      }
      return fail(fmt::format("{}: {}", what, socket.error_text(err)),
                  exists ? "an interface of that name already exists in that namespace; remove "
                           "it ('ltb down', or 'ip link del') or choose another name"
                         : "check the parent interface and that ltb runs as root");
    }
    if (auto up = ensure_up(spec.end.name, spec.end.netns_fd, describe(spec.end)); !up) {
      (void)delete_link(spec.end.name, spec.end.netns_fd);
      return fail(fmt::format("{}: {}", what, up.error().message), up.error().help);
    }
    return {};
  }

  Result<std::string> route_interface(const std::string &address) override {
    nl_addr *raw = nullptr;
    if (nl_addr_parse(address.c_str(), AF_UNSPEC, &raw) < 0) {
      return fail(fmt::format("'{}' is not an address", address));
    }
    NlAddrPtr dst(raw);
    const auto what = fmt::format("cannot find the route to {}", address);
    LTB_TRY(socket, RouteSocket::open());
    // RTM_GETROUTE for the one address: the kernel answers with the route it would take.
    rtmsg header{};
    header.rtm_family = static_cast<unsigned char>(nl_addr_get_family(dst.get()));
    header.rtm_dst_len = static_cast<unsigned char>(nl_addr_get_prefixlen(dst.get()));
    util::CPtr<nl_msg, nlmsg_free> msg(nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_REQUEST));
    if (!msg || nlmsg_append(msg.get(), &header, sizeof(header), NLMSG_ALIGNTO) < 0 ||
        nla_put_addr(msg.get(), RTA_DST, dst.get()) < 0) {
      return fail(fmt::format("{}: out of memory", what), "try again");
    }
    int err = nl_send_auto(socket.get(), msg.get());
    int ifindex = 0;
    if (err >= 0) {
      auto parse = [](nl_msg *reply, void *arg) -> int {
        rtnl_route *route = nullptr;
        if (rtnl_route_parse(nlmsg_hdr(reply), &route) == 0 && route != nullptr) {
          if (rtnl_route_get_nnexthops(route) > 0) {
            *static_cast<int *>(arg) = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(route, 0));
          }
          rtnl_route_put(route);
        }
        return NL_OK;
      };
      nl_socket_modify_cb(socket.get(), NL_CB_VALID, NL_CB_CUSTOM, parse, &ifindex);
      err = nl_recvmsgs_default(socket.get());
    }
    if (err < 0 || ifindex == 0) {
      return fail(
          fmt::format("{}: {}", what, err < 0 ? socket.error_text(err) : std::string("no route")),
          "give the host a route to the remote address, or name the interface with "
          "parent-interface");
    }
    std::array<char, IF_NAMESIZE> name{};
    if (if_indextoname(static_cast<unsigned>(ifindex), name.data()) == nullptr) {
      return fail(fmt::format("{}: interface {} is gone", what, ifindex), "try again");
    }
    return std::string(name.data());
  }

  Result<std::vector<std::string>> list_links(const std::string &prefix) override {
    LTB_TRY(socket, RouteSocket::open());
    nl_cache *raw = nullptr;
    const int err = rtnl_link_alloc_cache(socket.get(), AF_UNSPEC, &raw);
    CachePtr cache(raw);
    if (err < 0) {
      return fail(fmt::format("cannot list network interfaces: {}", socket.error_text(err)),
                  "ltb needs root (CAP_NET_ADMIN) to manage interfaces");
    }
    std::vector<std::string> names;
    for (nl_object *object = nl_cache_get_first(cache.get()); object != nullptr;
         object = nl_cache_get_next(object)) {
      const char *name = rtnl_link_get_name(reinterpret_cast<rtnl_link *>(object));
      if (name != nullptr && std::string_view(name).substr(0, prefix.size()) == prefix) {
        names.emplace_back(name);
      }
    }
    std::sort(names.begin(), names.end());
    return names;
  }
};

} // namespace

std::unique_ptr<Netlink> make_netlink() {
  return std::make_unique<RealNetlink>();
}

Status set_link_up(const std::string &name, int netns_fd) {
  LTB_CHECK(check_name(name));
  return ensure_up(name, netns_fd, name).map([](bool) {});
}

} // namespace ltb::net
