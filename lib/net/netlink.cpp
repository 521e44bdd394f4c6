#include "net/netlink.hpp"

#include "net/link_up.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <functional>
#include <linux/netlink.h>
#include <net/if.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
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

struct SockDeleter {
  void operator()(nl_sock *sock) const noexcept { nl_socket_free(sock); }
};
struct LinkDeleter {
  void operator()(rtnl_link *link) const noexcept { rtnl_link_put(link); }
};
struct VethDeleter {
  void operator()(rtnl_link *link) const noexcept { rtnl_link_veth_release(link); }
};
struct CacheDeleter {
  void operator()(nl_cache *cache) const noexcept { nl_cache_free(cache); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkDeleter>;

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
  std::unique_ptr<nl_sock, SockDeleter> m_sock;
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

class RealNetlink final : public Netlink {
public:
  Status create_veth(const VethEnd &a, const VethEnd &b, int mtu) override {
    LTB_CHECK(check_name(a.name));
    LTB_CHECK(check_name(b.name));
    const auto what = fmt::format("cannot create veth {} <-> {}", describe(a), describe(b));
    LTB_TRY(socket, RouteSocket::open());

    // One RTM_NEWLINK: each end is created directly in its namespace with its final name, so
    // there is no window in which a half-made pair is visible under a temporary name.
    std::unique_ptr<rtnl_link, VethDeleter> link(rtnl_link_veth_alloc());
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

  Result<std::vector<std::string>> list_links(const std::string &prefix) override {
    LTB_TRY(socket, RouteSocket::open());
    nl_cache *raw = nullptr;
    const int err = rtnl_link_alloc_cache(socket.get(), AF_UNSPEC, &raw);
    std::unique_ptr<nl_cache, CacheDeleter> cache(raw);
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
