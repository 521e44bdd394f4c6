#pragma once
// The lab's impairment relay as a process (`ltb relay`, hidden: ltb starts it itself) and a
// direct way to set one link's direction (`ltb relay-set`, hidden: for tests and benchmarks;
// users go through `ltb link set`).

#include "net/relay.hpp"
#include "util/error.hpp"

#include <string>

namespace ltb::service {

/// Serves the lab directory's relay.conf (net/relay.hpp): daemonises once ready, unless
/// `foreground`.
Status run_relay(const std::string &lab_dir, bool foreground);

struct RelaySetRequest {
  std::string lab_dir;
  net::RelayLink link;
  net::Direction direction = net::Direction::a_to_b;
  bool both = false; // both directions
  net::Impairment impairment;
};

/// Sets a link's impairment in the lab directory's relay (starting or stopping it as needed).
Status relay_set(const RelaySetRequest &request);

/// Stops the relay of a lab directory and removes its files.
Status relay_stop(const std::string &lab_dir);

} // namespace ltb::service
