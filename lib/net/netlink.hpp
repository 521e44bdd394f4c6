#pragma once
// Links through netlink (libnl-3 route): veth pairs, and macvlan, dummy and vxlan devices,
// created directly into their namespaces with their final names, already up, in one request.
// Depends on util/ only.

#include "util/error.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ltb::net {

/// An open network namespace (fd on /proc/PID/ns/net), closed on destruction.
class Netns {
public:
  static Result<Netns> of_pid(int pid);
  static Netns host() { return Netns(); }
  /// Takes ownership of an open descriptor (fakes hand out placeholders this way).
  static Netns adopt(int fd) { return Netns(fd); }
  Netns(Netns &&other) noexcept;
  Netns &operator=(Netns &&other) noexcept;
  Netns(const Netns &) = delete;
  Netns &operator=(const Netns &) = delete;
  ~Netns();
  int fd() const { return m_fd; } // -1 = the host (ltb's own) namespace

private:
  Netns() = default;
  explicit Netns(int fd) : m_fd(fd) {}
  int m_fd = -1;
};

struct VethEnd {
  VethEnd() = default;
  // A constructor rather than a plain aggregate, so that `{name, fd}` stays warning-free now that
  // `owner` exists.
  VethEnd(std::string name_, int netns_fd_ = -1, std::string owner_ = {})
      : name(std::move(name_)), netns_fd(netns_fd_), owner(std::move(owner_)) {}
  std::string name;  // final interface name (<= 15 bytes)
  int netns_fd = -1; // -1 = host namespace
  std::string owner; // for messages only: the node whose namespace this is ("r1" in "r1:eth1")
};

/// A device made for one end of a link directly in its namespace, named and up, in one request:
/// containerlab's link types macvlan (its parent in the host's namespace), dummy and vxlan (whose
/// tunnel's socket stays in the host's namespace, where the request is made).
struct DeviceSpec {
  std::string kind; // "macvlan", "dummy" or "vxlan"
  VethEnd end;      // its final name and namespace
  int mtu = 0;      // 0 = the kernel's (a macvlan's: its parent's)
  std::string mac;  // "" = the kernel's
  /// macvlan: its parent; vxlan: the device the tunnel's packets leave by ("" = by the route).
  /// In the host's namespace.
  std::string parent;
  std::string mode = "bridge"; // macvlan: private, vepa, bridge, passthru or source
  unsigned vni = 0;            // vxlan
  std::string remote;          // vxlan: the remote tunnel end's address
  int dst_port = 0;            // vxlan: the remote's UDP port
  int src_port = 0;            // vxlan: the UDP source port; 0 = the kernel's range
};

/// A route through one interface, as `ltb stop` keeps it: routes configured by hand or by a
/// node's exec commands (protocols boot and static), not the kernel's own or a routing daemon's.
struct LinkRoute {
  int family = 2;          // AF_INET or AF_INET6 (10)
  std::string destination; // "10.8.0.0/16", or "default"
  std::string gateway;     // "" = on-link
  unsigned metric = 0;
  int protocol = 3; // RTPROT_BOOT
  int scope = 0;
  unsigned table = 254; // main
};

/// What an interface carries inside its namespace that moving it to another namespace loses:
/// its addresses (IPv6 link-local ones excepted: the kernel makes them again), the routes
/// through it and its up state. The name is what it had; MAC and MTU survive a move but are
/// kept too.
struct LinkSnapshot {
  std::string name;
  std::string mac;
  unsigned mtu = 0;
  bool up = false;
  std::vector<std::string> addresses; // "10.0.0.1/24", "2001:db8::1/64"
  std::vector<LinkRoute> routes;
};

class Netlink {
public:
  virtual ~Netlink() = default;
  /// Creates the pair with both ends in their namespaces, named and up. `mtu` 0 = default.
  virtual Status create_veth(const VethEnd &a, const VethEnd &b, int mtu) = 0;
  /// Deletes an interface (and so its veth peer). Ok if it does not exist.
  virtual Status delete_link(const std::string &name, int netns_fd = -1) = 0;
  virtual Result<bool> link_exists(const std::string &name, int netns_fd = -1) = 0;
  /// Names of host-namespace interfaces that start with `prefix`.
  virtual Result<std::vector<std::string>> list_links(const std::string &prefix) = 0;
  /// What `name` in `netns_fd` carries (see LinkSnapshot).
  virtual Result<LinkSnapshot> snapshot_link(const std::string &name, int netns_fd) = 0;
  /// Moves `name` from one namespace to another, renamed `new_name` there, in one request. The
  /// interface arrives down, without addresses or routes.
  virtual Status move_link(const std::string &name, int from_fd, int to_fd,
                           const std::string &new_name) = 0;
  /// Gives interface `snapshot.name` in `netns_fd` back its MAC, MTU, addresses, up state and
  /// routes. Addresses and routes that exist already are fine.
  virtual Status restore_link(const LinkSnapshot &snapshot, int netns_fd) = 0;
  /// What the interface is in `netns_fd`: the kernel's link type ("bridge", "veth", "dummy",
  /// ...), "device" for one without a type (a NIC), "" when there is none of that name.
  virtual Result<std::string> link_kind(const std::string &name, int netns_fd = -1) = 0;
  /// Creates a Linux bridge in the host's namespace, up.
  virtual Status create_bridge(const std::string &name) = 0;
  /// Makes host interface `name` a port of host bridge `bridge`.
  virtual Status set_master(const std::string &name, const std::string &bridge) = 0;
  /// The host interfaces that are ports of host bridge `bridge`, sorted.
  virtual Result<std::vector<std::string>> bridge_ports(const std::string &bridge) = 0;
  /// Creates the device SPEC asks for (see DeviceSpec), up.
  virtual Status create_device(const DeviceSpec &spec) = 0;
  /// The host interface through which the host reaches ADDRESS (the kernel's route lookup).
  virtual Result<std::string> route_interface(const std::string &address) = 0;
};

/// The real implementation. Safe to use from several threads (one netlink socket per call/thread).
std::unique_ptr<Netlink> make_netlink();

} // namespace ltb::net
