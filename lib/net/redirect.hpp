#pragma once
// Joining two host interfaces back to back without a bridge: a tc ingress qdisc on each and a
// match-everything u32 filter whose mirred action redirects every frame to the other. Unlike a
// Linux bridge it forwards everything, link-local frames (STP, LACP, LLDP) included, as a cable
// would. Used for links whose ends are VM taps. Also creates persistent tap devices for VM NICs.

#include "net/netlink.hpp"
#include "util/error.hpp"

#include <string>

namespace ltb::net {

/// Creates a persistent tap device (if absent) and brings it up.
Status create_tap(const std::string &name);

/// Redirects every frame arriving on `a` out of `b`, and back. Replaces earlier redirects on them.
Status redirect_pair(const std::string &a, const std::string &b);

/// Removes the redirect from an interface (its ingress qdisc), so that frames arriving on it
/// reach whoever reads it (the relay). Ok when it has none or the interface is gone.
Status unredirect(const std::string &iface);

/// What apply/ does to the host's namespaces, taps and redirects, behind one seam so that unit
/// tests run it on a fake (tests/unit/fakes/).
class HostNet {
public:
  virtual ~HostNet() = default;
  /// The network namespace of a process (a container's init).
  virtual Result<Netns> netns_of_pid(int pid) = 0;
  virtual Status create_tap(const std::string &name) = 0;
  virtual Status redirect_pair(const std::string &a, const std::string &b) = 0;
  /// Creates the named network namespace /run/netns/NAME unless it exists.
  virtual Status create_netns(const std::string &name) = 0;
  /// Names the network namespace of a process /run/netns/NAME (`ip netns attach`), so that it
  /// outlives the process with every interface in it. Ok when NAME names that namespace already;
  /// fails when NAME names another one.
  virtual Status hold_netns(int pid, const std::string &name) = 0;
  /// Opens a named network namespace.
  virtual Result<Netns> open_netns(const std::string &name) = 0;
  /// Deletes a named namespace with every interface in it (their veth peers elsewhere go too).
  /// Ok when it does not exist.
  virtual Status delete_netns(const std::string &name) = 0;
};

/// The real one: the functions above and Netns::of_pid. Stateless, so one instance serves all.
HostNet &host_net();

} // namespace ltb::net
