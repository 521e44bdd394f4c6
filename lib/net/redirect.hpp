#pragma once
// Joining two host interfaces back to back without a bridge: a tc ingress qdisc on each and a
// match-everything u32 filter whose mirred action redirects every frame to the other. Unlike a Linux bridge it
// forwards everything, link-local frames (STP, LACP, LLDP) included, as a cable would. Used for
// links whose ends are VM taps. Also creates persistent tap devices for VM NICs.

#include <string>

#include "util/error.hpp"

namespace ltb::net {

/// Creates a persistent tap device (if absent) and brings it up.
Status create_tap(const std::string &name);

/// Redirects every frame arriving on `a` out of `b`, and back. Replaces earlier redirects on them.
Status redirect_pair(const std::string &a, const std::string &b);

} // namespace ltb::net
