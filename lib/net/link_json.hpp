#pragma once
// net/link_json: an interface's LinkSnapshot as JSON, the one form ltb writes it in (a stopped
// node's parked interface in the state file, a snapshot's interfaces).

#include "net/netlink.hpp"

#include <nlohmann/json.hpp>

namespace ltb::net {

/// {"name", "mac", "mtu", "up", "addresses", "routes": [{"family", "destination", ...}]}.
nlohmann::json link_snapshot_json(const LinkSnapshot &snapshot);

/// Reads what `json` has into `snapshot`; a field it lacks keeps the value `snapshot` had, so
/// the caller sets the defaults. Throws nlohmann's exceptions on a field of the wrong type.
void read_link_snapshot(const nlohmann::json &json, LinkSnapshot &snapshot);

} // namespace ltb::net
