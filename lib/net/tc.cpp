// Impairments with netem and tbf through libnl-route, and a link end's up/down state.

#include "net/tc.hpp"

#include "util/c_ptr.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <functional>
#include <linux/pkt_sched.h>
#include <memory>
#include <mutex>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/tc.h>
#include <netlink/socket.h>
#include <optional>
#include <sched.h>
#include <thread>

namespace ltb::net {

namespace {

using SockPtr = util::CPtr<nl_sock, nl_socket_free>;
using QdiscPtr = util::CPtr<rtnl_qdisc, rtnl_qdisc_put>;
using LinkPtr = util::CPtr<rtnl_link, rtnl_link_put>;

constexpr std::uint32_t k_netem_limit = 10'000;    // packets netem holds (1,000 is tc's default)
constexpr std::uint32_t k_tbf_latency_us = 50'000; // how long a packet may wait for tokens
constexpr std::uint32_t k_min_burst = 2 * 1514;    // bytes: at least two full frames

/// Runs WORK in the network namespace NETNS_FD (-1: ours) on a short-lived thread, since setns()
/// moves only the calling thread (as net/netlink.cpp does). A NEW_NAMESPACE of -2 runs it in a
/// fresh, empty namespace instead (the netem probe).
template <class T> Result<T> in_netns(int netns_fd, const std::function<Result<T>()> &work) {
  if (netns_fd == -1) {
    return work();
  }
  std::optional<Result<T>> result;
  std::thread worker([&] {
    const int rc = netns_fd == -2 ? ::unshare(CLONE_NEWNET) : ::setns(netns_fd, CLONE_NEWNET);
    if (rc != 0) {
      result = fail(fmt::format("cannot enter a network namespace: {}", std::strerror(errno)),
                    "ltb needs root (CAP_SYS_ADMIN); check that the node is still running");
      return;
    }
    result = work();
  });
  worker.join();
  return std::move(*result);
}

Result<SockPtr> route_socket() {
  SockPtr sock(nl_socket_alloc());
  if (!sock) {
    return fail("cannot open a netlink socket: out of memory", "try again");
  }
  if (const int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0) {
    return fail(fmt::format("cannot open a netlink socket: {}", nl_geterror(err)),
                "ltb needs root (CAP_NET_ADMIN) to change interfaces");
  }
  return sock;
}

Result<int> ifindex_of(const std::string &name) {
  const unsigned index = ::if_nametoindex(name.c_str());
  if (index == 0) {
    return fail(fmt::format("cannot find interface {}: {}", name, std::strerror(errno)),
                "the link may have been removed outside ltb; run `ltb up` to wire it again");
  }
  return static_cast<int>(index);
}

/// netem's probabilities are fractions of 2^32 - 1.
int probability(double pct) {
  const double scaled = std::round(std::clamp(pct, 0.0, 100.0) / 100.0 * 4294967295.0);
  return static_cast<int>(static_cast<std::uint32_t>(scaled));
}

bool needs_netem(const Impairment &i) {
  return i.delay_us || i.jitter_us || i.loss_pct > 0 || i.corrupt_pct > 0 || i.duplicate_pct > 0 ||
         i.reorder_pct > 0;
}

/// Removes whatever root qdisc the interface has (back to the kernel's default). Nothing there
/// is fine.
Status delete_root(nl_sock *sock, int ifindex, const std::string &name) {
  QdiscPtr qdisc(rtnl_qdisc_alloc());
  rtnl_tc_set_ifindex(TC_CAST(qdisc.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(qdisc.get()), TC_H_ROOT);
  const int err = rtnl_qdisc_delete(sock, qdisc.get());
  if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_INVAL && err != -NLE_NOADDR) {
    return fail(fmt::format("cannot remove the qdisc of {}: {}", name, nl_geterror(err)),
                "check it with `tc qdisc show dev " + name + "`");
  }
  return {};
}

Status add_netem(nl_sock *sock, int ifindex, const Impairment &i, std::uint32_t parent,
                 std::uint32_t handle, const std::string &name) {
  QdiscPtr qdisc(rtnl_qdisc_alloc());
  rtnl_tc_set_ifindex(TC_CAST(qdisc.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(qdisc.get()), parent);
  rtnl_tc_set_handle(TC_CAST(qdisc.get()), handle);
  if (const int err = rtnl_tc_set_kind(TC_CAST(qdisc.get()), "netem"); err < 0) {
    return fail(fmt::format("libnl has no netem support: {}", nl_geterror(err)),
                "install libnl-route-3 with its qdisc modules");
  }
  rtnl_netem_set_limit(qdisc.get(), static_cast<int>(k_netem_limit));
  rtnl_netem_set_delay(qdisc.get(), static_cast<int>(i.delay_us));
  if (i.jitter_us) {
    rtnl_netem_set_jitter(qdisc.get(), static_cast<int>(i.jitter_us));
  }
  if (i.loss_pct > 0) {
    rtnl_netem_set_loss(qdisc.get(), probability(i.loss_pct));
  }
  if (i.corrupt_pct > 0) {
    rtnl_netem_set_corruption_probability(qdisc.get(), probability(i.corrupt_pct));
  }
  if (i.duplicate_pct > 0) {
    rtnl_netem_set_duplicate(qdisc.get(), probability(i.duplicate_pct));
  }
  if (i.reorder_pct > 0) {
    // As tc does: reordering needs a gap, and 1 means "any packet may go ahead".
    rtnl_netem_set_gap(qdisc.get(), 1);
    rtnl_netem_set_reorder_probability(qdisc.get(), probability(i.reorder_pct));
  }
  const int err = rtnl_qdisc_add(sock, qdisc.get(), NLM_F_CREATE | NLM_F_REPLACE);
  if (err == -NLE_OBJ_NOTFOUND || err == -NLE_OPNOTSUPP) {
    Error e{fmt::format("the kernel has no netem qdisc (adding it to {} failed: {})", name,
                        nl_geterror(err)),
            "load the sch_netem module (modprobe sch_netem), or let ltb impair links with its "
            "userspace relay: settings.impairments: relay (or auto), or LTB_IMPAIRMENTS=relay"};
    e.kind = ErrorKind::not_supported;
    return tl::unexpected(std::move(e));
  }
  if (err < 0) {
    return fail(fmt::format("cannot add netem to {}: {}", name, nl_geterror(err)),
                "check it with `tc qdisc show dev " + name + "`");
  }
  return {};
}

Status add_tbf(nl_sock *sock, int ifindex, std::uint64_t rate_bps, std::uint32_t parent,
               std::uint32_t handle, const std::string &name) {
  QdiscPtr qdisc(rtnl_qdisc_alloc());
  rtnl_tc_set_ifindex(TC_CAST(qdisc.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(qdisc.get()), parent);
  rtnl_tc_set_handle(TC_CAST(qdisc.get()), handle);
  if (const int err = rtnl_tc_set_kind(TC_CAST(qdisc.get()), "tbf"); err < 0) {
    return fail(fmt::format("libnl has no tbf support: {}", nl_geterror(err)),
                "install libnl-route-3 with its qdisc modules");
  }
  const auto bytes_per_s = static_cast<int>(rate_bps / 8);
  // The bucket holds 10 ms of the rate, and at least two full frames.
  const auto burst = std::max<int>(static_cast<int>(k_min_burst), bytes_per_s / 100);
  rtnl_qdisc_tbf_set_rate(qdisc.get(), bytes_per_s, burst, 0);
  if (const int err =
          rtnl_qdisc_tbf_set_limit_by_latency(qdisc.get(), static_cast<int>(k_tbf_latency_us));
      err < 0) {
    return fail(fmt::format("cannot size the tbf queue of {}: {}", name, nl_geterror(err)),
                "try another rate");
  }
  const int err = rtnl_qdisc_add(sock, qdisc.get(), NLM_F_CREATE | NLM_F_REPLACE);
  if (err < 0) {
    return fail(fmt::format("cannot add tbf (rate) to {}: {}", name, nl_geterror(err)),
                "check it with `tc qdisc show dev " + name + "`");
  }
  return {};
}

class RealTc final : public Tc {
public:
  Status set_impairment(const std::string &name, int netns_fd,
                        const Impairment &impairment) override {
    return in_netns<bool>(
               netns_fd,
               [&]() -> Result<bool> {
                 LTB_TRY(sock, route_socket());
                 LTB_TRY(ifindex, ifindex_of(name));
                 LTB_CHECK(delete_root(sock.get(), ifindex, name));
                 const bool netem = needs_netem(impairment);
                 const std::uint32_t root = TC_HANDLE(1, 0);
                 if (netem) {
                   LTB_CHECK(add_netem(sock.get(), ifindex, impairment, TC_H_ROOT, root, name));
                 }
                 if (impairment.rate_bps) {
                   // tbf under netem (netem's one class is 1:1), as netem's own
                   // documentation shapes a delayed link; or tbf alone at the root.
                   LTB_CHECK(add_tbf(sock.get(), ifindex, impairment.rate_bps,
                                     netem ? TC_HANDLE(1, 1) : TC_H_ROOT,
                                     netem ? TC_HANDLE(10, 0) : root, name));
                 }
                 return true;
               })
        .map([](bool) {});
  }

  Result<bool> netem_available() override {
    std::lock_guard lock(m_mutex);
    if (m_netem) {
      return *m_netem;
    }
    // A fresh namespace's loopback takes a qdisc like any interface, and goes with the thread.
    auto probed = in_netns<bool>(-2, [&]() -> Result<bool> {
      LTB_TRY(sock, route_socket());
      LTB_TRY(ifindex, ifindex_of("lo"));
      Impairment probe;
      probe.delay_us = 1000;
      auto added = add_netem(sock.get(), ifindex, probe, TC_H_ROOT, TC_HANDLE(1, 0), "lo");
      if (!added) {
        if (added.error().kind == ErrorKind::not_supported) {
          return false;
        }
        return tl::unexpected(added.error());
      }
      return true;
    });
    if (probed) {
      m_netem = *probed;
    }
    return probed;
  }

  Status set_link_state(const std::string &name, int netns_fd, bool up) override {
    return in_netns<bool>(
               netns_fd,
               [&]() -> Result<bool> {
                 LTB_TRY(sock, route_socket());
                 rtnl_link *raw = nullptr;
                 int err = rtnl_link_get_kernel(sock.get(), 0, name.c_str(), &raw);
                 LinkPtr current(raw);
                 if (err < 0) {
                   return fail(fmt::format("cannot find interface {}: {}", name, nl_geterror(err)),
                               "the link may have been removed outside ltb; run "
                               "`ltb up` to wire it again");
                 }
                 LinkPtr change(rtnl_link_alloc());
                 if (up) {
                   rtnl_link_set_flags(change.get(), IFF_UP);
                 } else {
                   rtnl_link_unset_flags(change.get(), IFF_UP);
                 }
                 err = rtnl_link_change(sock.get(), current.get(), change.get(), 0);
                 if (err < 0) {
                   return fail(fmt::format("cannot set {} {}: {}", name, up ? "up" : "down",
                                           nl_geterror(err)),
                               "check the interface with `ip link`");
                 }
                 return true;
               })
        .map([](bool) {});
  }

private:
  std::mutex m_mutex;
  std::optional<bool> m_netem;
};

} // namespace

Tc &host_tc() {
  static RealTc tc;
  return tc;
}

} // namespace ltb::net
