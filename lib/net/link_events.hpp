#pragma once
// Netlink link notifications (RTM_NEWLINK on RTNLGRP_LINK) of several network namespaces at
// once: which interface has carrier, as it changes. `ltb events` maps them to its links' "link
// up" and "link down". Depends on util/ only.

#include "util/error.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ltb::net {

/// A namespace to watch: a running process's (/proc/PID/ns/net) or, with pid 0, ltb's own.
struct WatchedNetns {
  std::string key; // the caller's name for it, handed back in every report
  int pid = 0;

  bool operator==(const WatchedNetns &) const = default;
};

/// One interface's state as a notification (or the dump that starts a watch) reports it.
struct CarrierReport {
  std::string netns; // WatchedNetns::key
  std::string ifname;
  bool carrier = false; // IFF_UP and IFF_LOWER_UP
};

class LinkEvents {
public:
  virtual ~LinkEvents() = default;
  /// Reports every interface of each namespace once (its state now), then every notification
  /// as it comes, until `stop` is set or `again()` returns true (both seen within 50 ms; then
  /// Ok, so that the caller can watch another set of namespaces). A namespace that cannot be
  /// opened (its process ended) is skipped with `on_skip(key, why)`. `listening` is called once
  /// every socket is subscribed. Fails when a socket breaks.
  virtual Status watch(const std::vector<WatchedNetns> &namespaces,
                       const std::function<void(const CarrierReport &)> &on_report,
                       const std::function<void(const std::string &, const std::string &)> &on_skip,
                       const std::atomic<bool> &stop, const std::function<bool()> &again,
                       const std::function<void()> &listening) = 0;
};

/// The real one: a NETLINK_ROUTE socket per namespace, made while the watching thread is in it.
std::unique_ptr<LinkEvents> make_link_events();

} // namespace ltb::net
