#pragma once
// The access steps around `ltb up`: what must exist before nodes are made (the key pair they get,
// the logins), and what follows once they are (known_hosts in line with recreated nodes, the
// access files).

#include "state/store.hpp"
#include "topology/model.hpp"
#include "util/error.hpp"

#include <string>
#include <vector>

namespace ltb::access {

/// Before `ltb up` performs its plan: the lab's key pair (made once, kept) and logins.json.
Status prepare_lab(const std::string &lab_dir, const topology::Topology &desired);

/// After `ltb up` (also one with nothing to do): known_hosts loses the keys of nodes ltb recreated
/// or removed (BEFORE: the lab's node records before the run); when COMPLETE (the run succeeded),
/// ssh_config, inventory.yml and topology-data.json are written.
Status finish_lab(state::Store &store, const std::string &lab_dir,
                  const topology::Topology &desired, const std::vector<state::NodeRecord> &before,
                  bool complete);

} // namespace ltb::access
