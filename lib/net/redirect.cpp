#include "net/redirect.hpp"

#include "net/link_up.hpp"
#include "util/exec.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <memory>
#include <netlink/route/act/mirred.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ltb::net {

namespace {

struct SockDeleter {
  void operator()(nl_sock *sock) const { nl_socket_free(sock); }
};
struct QdiscDeleter {
  void operator()(rtnl_qdisc *qdisc) const { rtnl_qdisc_put(qdisc); }
};
struct ClsDeleter {
  void operator()(rtnl_cls *cls) const { rtnl_cls_put(cls); }
};
struct ActDeleter {
  void operator()(rtnl_act *act) const { rtnl_act_put(act); }
};

Result<std::unique_ptr<nl_sock, SockDeleter>> route_socket() {
  std::unique_ptr<nl_sock, SockDeleter> sock(nl_socket_alloc());
  if (!sock) {
    return fail("cannot allocate a netlink socket");
  }
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0) {
    return fail(fmt::format("cannot open a netlink socket: {}", nl_geterror(err)));
  }
  return sock;
}

/// Ingress qdisc (re-made from scratch) plus a match-everything filter redirecting to `to`.
Status redirect_one(nl_sock *sock, int from, int to, const std::string &from_name,
                    const std::string &to_name) {
  std::unique_ptr<rtnl_qdisc, QdiscDeleter> qdisc(rtnl_qdisc_alloc());
  rtnl_tc_set_ifindex(TC_CAST(qdisc.get()), from);
  rtnl_tc_set_parent(TC_CAST(qdisc.get()), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(qdisc.get()), TC_HANDLE(0xffff, 0));
  rtnl_tc_set_kind(TC_CAST(qdisc.get()), "ingress");
  (void)rtnl_qdisc_delete(sock, qdisc.get()); // an earlier redirect goes with its qdisc
  if (int err = rtnl_qdisc_add(sock, qdisc.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    return fail(fmt::format("cannot add an ingress qdisc to {}: {}", from_name, nl_geterror(err)));
  }
  std::unique_ptr<rtnl_act, ActDeleter> act(rtnl_act_alloc());
  rtnl_tc_set_kind(TC_CAST(act.get()), "mirred");
  rtnl_mirred_set_action(act.get(), TCA_EGRESS_REDIR);
  rtnl_mirred_set_policy(act.get(), TC_ACT_STOLEN);
  rtnl_mirred_set_ifindex(act.get(), static_cast<uint32_t>(to));
  std::unique_ptr<rtnl_cls, ClsDeleter> cls(rtnl_cls_alloc());
  rtnl_tc_set_ifindex(TC_CAST(cls.get()), from);
  rtnl_tc_set_parent(TC_CAST(cls.get()), TC_HANDLE(0xffff, 0));
  // u32 with an all-zero mask matches every frame; matchall would say the same more plainly but
  // needs cls_matchall, which kernels built without modules (as on CI) may lack.
  rtnl_tc_set_kind(TC_CAST(cls.get()), "u32");
  rtnl_cls_set_protocol(cls.get(), ETH_P_ALL);
  rtnl_cls_set_prio(cls.get(), 1);
  if (int err = rtnl_u32_add_key_uint32(cls.get(), 0, 0, 0, 0); err < 0) {
    return fail(fmt::format("cannot build the redirect {} -> {}: {}", from_name, to_name,
                            nl_geterror(err)));
  }
  rtnl_u32_set_cls_terminal(cls.get()); // without it the key matches but the action never runs
  if (int err = rtnl_u32_add_action(cls.get(), act.get()); err < 0) {
    return fail(fmt::format("cannot build the redirect {} -> {}: {}", from_name, to_name,
                            nl_geterror(err)));
  }
  if (int err = rtnl_cls_add(sock, cls.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    return fail(fmt::format("cannot redirect {} -> {}: {}", from_name, to_name, nl_geterror(err)));
  }
  return {};
}

} // namespace

Status create_tap(const std::string &name) {
  if (name.size() >= IFNAMSIZ) {
    return fail(fmt::format("tap name '{}' is longer than 15 bytes", name));
  }
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return fail(
        fmt::format("cannot open /dev/net/tun to create tap {}: {}", name, std::strerror(errno)),
        "load the tun module (modprobe tun) or run ltb as root");
  }
  ifreq request{};
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  int rc = ioctl(fd, TUNSETIFF, &request);
  if (rc == 0) {
    rc = ioctl(fd, TUNSETPERSIST, 1);
  }
  int saved = errno;
  close(fd);
  if (rc != 0) {
    return fail(fmt::format("cannot create tap {}: {}", name, std::strerror(saved)));
  }
  return set_link_up(name, -1);
}

Status redirect_pair(const std::string &a, const std::string &b) {
  LTB_TRY(sock, route_socket());
  rtnl_link *link_a = nullptr;
  rtnl_link *link_b = nullptr;
  if (int err = rtnl_link_get_kernel(sock.get(), 0, a.c_str(), &link_a); err < 0) {
    return fail(fmt::format("cannot redirect {} <-> {}: {}: {}", a, b, a, nl_geterror(err)));
  }
  int index_a = rtnl_link_get_ifindex(link_a);
  rtnl_link_put(link_a);
  if (int err = rtnl_link_get_kernel(sock.get(), 0, b.c_str(), &link_b); err < 0) {
    return fail(fmt::format("cannot redirect {} <-> {}: {}: {}", a, b, b, nl_geterror(err)));
  }
  int index_b = rtnl_link_get_ifindex(link_b);
  rtnl_link_put(link_b);
  LTB_CHECK(redirect_one(sock.get(), index_a, index_b, a, b));
  return redirect_one(sock.get(), index_b, index_a, b, a);
}

Status unredirect(const std::string &iface) {
  LTB_TRY(sock, route_socket());
  rtnl_link *link = nullptr;
  if (rtnl_link_get_kernel(sock.get(), 0, iface.c_str(), &link) < 0) {
    return {}; // gone, and its redirect with it
  }
  int index = rtnl_link_get_ifindex(link);
  rtnl_link_put(link);
  std::unique_ptr<rtnl_qdisc, QdiscDeleter> qdisc(rtnl_qdisc_alloc());
  rtnl_tc_set_ifindex(TC_CAST(qdisc.get()), index);
  rtnl_tc_set_parent(TC_CAST(qdisc.get()), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(qdisc.get()), TC_HANDLE(0xffff, 0));
  rtnl_tc_set_kind(TC_CAST(qdisc.get()), "ingress");
  if (int err = rtnl_qdisc_delete(sock.get(), qdisc.get());
      err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_INVAL && err != -NLE_NOADDR) {
    return fail(fmt::format("cannot remove the redirect from {}: {}", iface, nl_geterror(err)));
  }
  return {};
}

namespace {

class RealHostNet final : public HostNet {
public:
  Result<Netns> netns_of_pid(int pid) override { return Netns::of_pid(pid); }
  Status create_tap(const std::string &name) override { return net::create_tap(name); }
  Status redirect_pair(const std::string &a, const std::string &b) override {
    return net::redirect_pair(a, b);
  }

  // Named namespaces the way iproute2 makes them (a bind mount under /run/netns that `ip netns`
  // lists and enters), so `ip netns add` does it: its mount handling is not worth repeating.
  Status create_netns(const std::string &name) override {
    std::error_code ec;
    if (std::filesystem::exists(path_of(name), ec)) {
      return {};
    }
    return ip({"ip", "netns", "add", name}, "create network namespace " + name);
  }
  Status hold_netns(int pid, const std::string &name) override {
    const auto path = path_of(name);
    struct stat held {};
    if (::stat(path.c_str(), &held) == 0) {
      struct stat live {};
      const auto own = fmt::format("/proc/{}/ns/net", pid);
      if (::stat(own.c_str(), &live) == 0 && live.st_dev == held.st_dev &&
          live.st_ino == held.st_ino) {
        return {};
      }
      return fail(fmt::format("cannot keep the network namespace of process {} as {}: {} names "
                              "another namespace",
                              pid, name, path),
                  fmt::format("remove it (`ip netns delete {}`) if nothing in it is needed", name));
    }
    return ip({"ip", "netns", "attach", name, std::to_string(pid)},
              fmt::format("keep the network namespace of process {} as {}", pid, name));
  }
  Result<Netns> open_netns(const std::string &name) override {
    const auto path = path_of(name);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return fail(fmt::format("cannot open network namespace {}: {}", path, std::strerror(errno)),
                  "it is made by `ltb stop`; `ltb down` of the lab removes what is left");
    }
    return Netns::adopt(fd);
  }
  Status delete_netns(const std::string &name) override {
    std::error_code ec;
    if (!std::filesystem::exists(path_of(name), ec)) {
      return {};
    }
    return ip({"ip", "netns", "delete", name}, "delete network namespace " + name);
  }

private:
  static std::string path_of(const std::string &name) { return "/run/netns/" + name; }
  static Status ip(const std::vector<std::string> &argv, const std::string &what) {
    LTB_TRY(result, util::run(argv));
    if (result.exit_code != 0) {
      auto err = result.err;
      while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) {
        err.pop_back();
      }
      return fail(fmt::format("cannot {}: {}", what, err), "ltb needs root and iproute2's `ip`");
    }
    return {};
  }
};

} // namespace

HostNet &host_net() {
  static RealHostNet real;
  return real;
}

} // namespace ltb::net
