#include "net/link_events.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ltb::net {

namespace {

class Fd {
public:
  explicit Fd(int fd = -1) : m_fd(fd) {}
  Fd(Fd &&other) noexcept : m_fd(other.m_fd) { other.m_fd = -1; }
  Fd &operator=(Fd &&other) noexcept {
    std::swap(m_fd, other.m_fd);
    return *this;
  }
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
  ~Fd() {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
  }
  int get() const { return m_fd; }

private:
  int m_fd = -1;
};

// IFF_LOWER_UP, from <linux/if.h>, which clashes with <net/if.h>.
constexpr unsigned k_lower_up = 1U << 16;

std::string errno_text(int err) {
  return std::strerror(err);
}

/// A NETLINK_ROUTE socket subscribed to link notifications, with a dump of every link asked for.
/// Made in the current thread's namespace: it stays bound to it.
Result<Fd> subscribe() {
  Fd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
  if (sock.get() < 0) {
    return fail(fmt::format("cannot open a netlink socket: {}", errno_text(errno)),
                "ltb events needs a Linux host; run it as root");
  }
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_LINK;
  if (::bind(sock.get(), reinterpret_cast<sockaddr *>(&local), sizeof(local)) != 0) {
    return fail(fmt::format("cannot subscribe to link notifications: {}", errno_text(errno)),
                "run ltb events as root");
  }
  struct {
    nlmsghdr header;
    ifinfomsg info;
  } request{};
  request.header.nlmsg_len = sizeof(request);
  request.header.nlmsg_type = RTM_GETLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = 1;
  request.info.ifi_family = AF_UNSPEC;
  if (::send(sock.get(), &request, sizeof(request), 0) < 0) {
    return fail(fmt::format("cannot ask netlink for the links: {}", errno_text(errno)),
                "run ltb events as root");
  }
  return sock;
}

/// Makes the socket inside the namespace of `pid` (0: this one), coming back after.
Result<Fd> subscribe_in(int pid) {
  if (pid == 0) {
    return subscribe();
  }
  Fd target(::open(fmt::format("/proc/{}/ns/net", pid).c_str(), O_RDONLY | O_CLOEXEC));
  if (target.get() < 0) {
    return fail(
        fmt::format("cannot open the network namespace of pid {}: {}", pid, errno_text(errno)));
  }
  Fd own(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (own.get() < 0) {
    return fail(fmt::format("cannot open this thread's network namespace: {}", errno_text(errno)));
  }
  if (::setns(target.get(), CLONE_NEWNET) != 0) {
    return fail(
        fmt::format("cannot enter the network namespace of pid {}: {}", pid, errno_text(errno)),
        "run ltb events as root");
  }
  auto sock = subscribe();
  if (::setns(own.get(), CLONE_NEWNET) != 0) {
    // The thread would watch the wrong namespace from now on: nothing sensible is left to do.
    std::terminate();
  }
  return sock;
}

/// Reports the RTM_NEWLINK messages in `buffer`.
void parse(const char *buffer, std::size_t size, const std::string &key,
           const std::function<void(const CarrierReport &)> &on_report) {
  for (const auto *header = reinterpret_cast<const nlmsghdr *>(buffer); NLMSG_OK(header, size);
       header = NLMSG_NEXT(header, size)) {
    if (header->nlmsg_type != RTM_NEWLINK || header->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) {
      continue;
    }
    const auto *info = static_cast<const ifinfomsg *>(NLMSG_DATA(header));
    auto length = static_cast<int>(header->nlmsg_len - NLMSG_LENGTH(sizeof(ifinfomsg)));
    for (const auto *attr = IFLA_RTA(info); RTA_OK(attr, length); attr = RTA_NEXT(attr, length)) {
      if (attr->rta_type == IFLA_IFNAME) {
        CarrierReport report;
        report.netns = key;
        report.ifname.assign(
            static_cast<const char *>(RTA_DATA(attr)),
            ::strnlen(static_cast<const char *>(RTA_DATA(attr)), RTA_PAYLOAD(attr)));
        report.carrier = (info->ifi_flags & IFF_UP) != 0 && (info->ifi_flags & k_lower_up) != 0;
        on_report(report);
        break;
      }
    }
  }
}

class RealLinkEvents final : public LinkEvents {
public:
  Status watch(const std::vector<WatchedNetns> &namespaces,
               const std::function<void(const CarrierReport &)> &on_report,
               const std::function<void(const std::string &, const std::string &)> &on_skip,
               const std::atomic<bool> &stop, const std::function<bool()> &again,
               const std::function<void()> &listening) override {
    std::vector<Fd> sockets;
    std::vector<std::string> keys;
    for (const auto &ns : namespaces) {
      auto sock = subscribe_in(ns.pid);
      if (!sock) {
        if (ns.pid == 0) {
          return tl::unexpected(sock.error());
        }
        on_skip(ns.key, sock.error().message);
        continue;
      }
      sockets.push_back(std::move(*sock));
      keys.push_back(ns.key);
    }
    if (listening) {
      listening();
    }
    std::vector<pollfd> fds;
    for (const auto &sock : sockets) {
      fds.push_back({sock.get(), POLLIN, 0});
    }
    std::array<char, 32768> buffer{};
    while (!stop.load() && !(again && again())) {
      const int ready = ::poll(fds.data(), fds.size(), 50);
      if (ready < 0) {
        if (errno == EINTR) {
          continue;
        }
        return fail(fmt::format("cannot wait for link notifications: {}", errno_text(errno)));
      }
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if ((fds[i].revents & (POLLIN | POLLERR)) == 0) {
          continue;
        }
        while (true) {
          const auto got = ::recv(fds[i].fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
          if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
              break;
            }
            if (errno == ENOBUFS) {
              // Notifications were lost (a burst): the next ones still tell the state.
              continue;
            }
            return fail(fmt::format("cannot read link notifications of {}: {}", keys[i],
                                    errno_text(errno)));
          }
          if (got == 0) {
            break;
          }
          parse(buffer.data(), static_cast<std::size_t>(got), keys[i], on_report);
        }
      }
    }
    return {};
  }
};

} // namespace

std::unique_ptr<LinkEvents> make_link_events() {
  return std::make_unique<RealLinkEvents>();
}

} // namespace ltb::net
