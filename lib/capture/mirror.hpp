#pragma once
// Open vSwitch mirrors for capturing a segment: an internal port on the bridge that OVS reserves
// for the mirror's copies (it forwards nothing else to it and drops what it sends), made together
// with the mirror in one ovs-vsctl transaction, and removed together.

#include "util/error.hpp"
#include "util/exec.hpp"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ltb::capture {

struct MirrorSpec {
  std::string bridge;
  std::string name; // of the mirror, its output port and the port's interface (<= 15 bytes)
  std::vector<std::string> select_ports; // copy only these ports' traffic, both directions;
                                         // empty = everything on the bridge
  std::map<std::string, std::string> external_ids; // on the port and the mirror
};

/// The mirror port of a capture: the lab's host-interface prefix ("lv" + 6 hex, see
/// plan/names.hpp, so that `ltb down` finds it without state) + 6 hex of the segment and the
/// capturing process. 14 bytes.
std::string mirror_port_name(const std::string &lab, const std::string &segment, int pid);

/// One call: the internal port, the mirror selecting into it, the mirror added to the bridge.
std::vector<std::string> create_mirror_argv(const MirrorSpec &spec);
/// One call: the mirror (found by name) off the bridge, and its port.
std::vector<std::string> remove_mirror_argv(const std::string &bridge, const std::string &name);
/// The port alone, for when the mirror is gone already.
std::vector<std::string> remove_port_argv(const std::string &bridge, const std::string &name);

/// Runs an ovs-vsctl argv (a seam for tests).
using VsctlRunner = std::function<Result<util::ExecResult>(const std::vector<std::string> &)>;
VsctlRunner real_vsctl();

Status create_mirror(const MirrorSpec &spec, const VsctlRunner &vsctl);
/// Removes the mirror and its port. Ok when either, or the bridge, is gone already.
Status remove_mirror(const std::string &bridge, const std::string &name, const VsctlRunner &vsctl);

/// Brings the mirror port's interface up, without IPv6 (the host would otherwise send router
/// solicitations into it; OVS drops them, but they have no business there).
Status prepare_port_interface(const std::string &name);

} // namespace ltb::capture
