#pragma once
// The kernel's traffic control for link impairments, through libnl's route/tc API: netem (delay,
// jitter, loss, corruption, duplication, reordering) as an interface's root qdisc, with tbf (the
// rate) as its child, or tbf alone. Also the administrative state of a link's ends (`ltb link
// down`), the other run-time setting of a link. Depends on util/ only.

#include "net/impairment.hpp"
#include "util/error.hpp"

#include <string>

namespace ltb::net {

class Tc {
public:
  virtual ~Tc() = default;
  /// Replaces what the egress of NAME (in the namespace NETNS_FD, -1: ltb's own) does to the
  /// packets leaving it; an empty impairment removes ltb's qdiscs. A kernel without netem fails
  /// with ErrorKind::not_supported.
  virtual Status set_impairment(const std::string &name, int netns_fd,
                                const Impairment &impairment) = 0;
  /// Whether this kernel has the netem qdisc (tried once in a throwaway namespace, then
  /// remembered).
  virtual Result<bool> netem_available() = 0;
  /// Sets NAME administratively up or down (a peer of a down veth end sees NO-CARRIER).
  virtual Status set_link_state(const std::string &name, int netns_fd, bool up) = 0;
};

/// The real one. Stateless apart from the probe's answer, so one instance serves all.
Tc &host_tc();

} // namespace ltb::net
