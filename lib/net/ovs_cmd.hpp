#pragma once
// Private to net/: the pure half of the Open vSwitch client. ovs-vsctl command lines from
// requests, and its JSON output (OVSDB encoding) back to structs, so that unit tests check both
// without a running Open vSwitch.

#include "net/ovs.hpp"
#include "util/error.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::net::ovs {

/// Seconds ovs-vsctl waits for the database and ovs-vswitchd.
inline constexpr int k_timeout_s = 10;

/// `external_ids:"k"="v"` arguments; keys and values are quoted so that ':', '=' and ',' in them
/// are not taken for ovs-vsctl syntax.
std::vector<std::string> external_id_args(const std::map<std::string, std::string> &ids);

std::vector<std::string> add_bridge_argv(const std::string &name, Datapath datapath,
                                         const std::map<std::string, std::string> &external_ids);
std::vector<std::string> del_bridge_argv(const std::string &name);
/// Port external_ids go on the Port record (not the Interface); bridges() reads them there.
std::vector<std::string> add_ports_argv(const std::string &bridge,
                                        const std::vector<OvsPort> &ports);
std::vector<std::string> del_ports_argv(const std::string &bridge,
                                        const std::vector<std::string> &ports);
/// One call: the matching bridges, then every port (to map port uuids to names and ids).
std::vector<std::string> bridges_argv(const std::map<std::string, std::string> &external_ids);

/// Parses the two JSON tables that bridges_argv's command prints, one per line.
Result<std::vector<OvsBridge>> parse_bridges(std::string_view output);

/// The names ovs-vsctl reports in "Error detected while setting up 'NAME'" lines on stderr; it
/// exits 0 in that case, the failure shows only there.
std::vector<std::string> setup_errors(std::string_view stderr_text);

} // namespace ltb::net::ovs
