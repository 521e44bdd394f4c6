#include "net/ovs_cmd.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ltb::net::ovs {
namespace {

using nlohmann::json;

std::vector<std::string> base_argv() {
  return {"ovs-vsctl", fmt::format("--timeout={}", k_timeout_s)};
}

// OVSDB JSON: a set is ["set", [a, b]] but a one-element set is the bare element.
std::vector<json> set_elements(const json &value) {
  if (value.is_array() && value.size() == 2 && value[0] == "set" && value[1].is_array()) {
    return value[1].get<std::vector<json>>();
  }
  return {value};
}

std::string uuid_of(const json &value) {
  if (value.is_array() && value.size() == 2 && value[0] == "uuid" && value[1].is_string()) {
    return value[1].get<std::string>();
  }
  return {};
}

// ["map", [[k, v], ...]] with string keys and values.
Result<std::map<std::string, std::string>> string_map(const json &value) {
  if (!value.is_array() || value.size() != 2 || value[0] != "map" || !value[1].is_array()) {
    return fail("unexpected output from ovs-vsctl: external_ids is not a map",
                "check the Open vSwitch version (ltb needs 2.x or later)");
  }
  std::map<std::string, std::string> result;
  for (const auto &pair : value[1]) {
    if (pair.is_array() && pair.size() == 2 && pair[0].is_string() && pair[1].is_string()) {
      result.emplace(pair[0].get<std::string>(), pair[1].get<std::string>());
    }
  }
  return result;
}

// Column index by heading, so that the order ovs-vsctl prints them in does not matter.
Result<std::map<std::string, std::size_t>> headings(const json &table) {
  std::map<std::string, std::size_t> index;
  if (!table.is_object() || !table.contains("headings") || !table.contains("data") ||
      !table["headings"].is_array() || !table["data"].is_array()) {
    return fail("unexpected output from ovs-vsctl: not a JSON table",
                "check the Open vSwitch version (ltb needs 2.x or later)");
  }
  for (std::size_t i = 0; i < table["headings"].size(); ++i) {
    index.emplace(table["headings"][i].get<std::string>(), i);
  }
  return index;
}

Status require(const std::map<std::string, std::size_t> &index,
               std::initializer_list<const char *> columns) {
  for (const char *column : columns) {
    if (index.find(column) == index.end()) {
      return fail(fmt::format("unexpected output from ovs-vsctl: no column '{}'", column),
                  "check the Open vSwitch version (ltb needs 2.x or later)");
    }
  }
  return {};
}

} // namespace

std::vector<std::string> external_id_args(const std::map<std::string, std::string> &ids) {
  std::vector<std::string> args;
  for (const auto &[key, value] : ids) {
    args.push_back(fmt::format("external_ids:{}={}", json(key).dump(), json(value).dump()));
  }
  return args;
}

std::vector<std::string> add_bridge_argv(const std::string &name, Datapath datapath,
                                         const std::map<std::string, std::string> &external_ids) {
  auto argv = base_argv();
  argv.insert(argv.end(),
              {"--may-exist", "add-br", name, "--", "set", "Bridge", name,
               datapath == Datapath::netdev ? "datapath_type=netdev" : "datapath_type=system"});
  const auto ids = external_id_args(external_ids);
  argv.insert(argv.end(), ids.begin(), ids.end());
  return argv;
}

std::vector<std::string> del_bridge_argv(const std::string &name) {
  auto argv = base_argv();
  argv.insert(argv.end(), {"--if-exists", "del-br", name});
  return argv;
}

std::vector<std::string> add_ports_argv(const std::string &bridge,
                                        const std::vector<OvsPort> &ports) {
  auto argv = base_argv();
  for (const auto &port : ports) {
    argv.insert(argv.end(), {"--", "--may-exist", "add-port", bridge, port.name});
    if (!port.external_ids.empty()) {
      argv.insert(argv.end(), {"--", "set", "Port", port.name});
      const auto ids = external_id_args(port.external_ids);
      argv.insert(argv.end(), ids.begin(), ids.end());
    }
  }
  return argv;
}

std::vector<std::string> del_ports_argv(const std::string &bridge,
                                        const std::vector<std::string> &ports) {
  auto argv = base_argv();
  for (const auto &port : ports) {
    argv.insert(argv.end(), {"--", "--if-exists", "del-port", bridge, port});
  }
  return argv;
}

std::vector<std::string> bridges_argv(const std::map<std::string, std::string> &external_ids) {
  auto argv = base_argv();
  argv.insert(argv.end(), {"--format=json", "--columns=name,datapath_type,external_ids,ports",
                           "find", "Bridge"});
  const auto ids = external_id_args(external_ids);
  argv.insert(argv.end(), ids.begin(), ids.end());
  argv.insert(argv.end(), {"--", "--columns=_uuid,name,external_ids", "list", "Port"});
  return argv;
}

Result<std::vector<OvsBridge>> parse_bridges(std::string_view output) {
  std::vector<json> tables;
  std::size_t start = 0;
  while (start < output.size()) {
    auto end = output.find('\n', start);
    if (end == std::string_view::npos) {
      end = output.size();
    }
    const auto line = output.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
      continue;
    }
    auto parsed = json::parse(line, nullptr, false);
    if (parsed.is_discarded()) {
      return fail("unexpected output from ovs-vsctl: not JSON",
                  "check the Open vSwitch version (ltb needs 2.x or later)");
    }
    tables.push_back(std::move(parsed));
  }
  if (tables.size() != 2) {
    return fail(
        fmt::format("unexpected output from ovs-vsctl: {} tables instead of 2", tables.size()),
        "check the Open vSwitch version (ltb needs 2.x or later)");
  }

  LTB_TRY(port_columns, headings(tables[1]));
  LTB_CHECK(require(port_columns, {"_uuid", "name", "external_ids"}));
  struct PortRow {
    std::string name;
    std::map<std::string, std::string> ids;
  };
  std::map<std::string, PortRow> ports_by_uuid;
  for (const auto &row : tables[1]["data"]) {
    LTB_TRY(ids, string_map(row.at(port_columns["external_ids"])));
    ports_by_uuid[uuid_of(row.at(port_columns["_uuid"]))] =
        PortRow{row.at(port_columns["name"]).get<std::string>(), std::move(ids)};
  }

  LTB_TRY(bridge_columns, headings(tables[0]));
  LTB_CHECK(require(bridge_columns, {"name", "datapath_type", "external_ids", "ports"}));
  std::vector<OvsBridge> bridges;
  for (const auto &row : tables[0]["data"]) {
    OvsBridge bridge;
    bridge.name = row.at(bridge_columns["name"]).get<std::string>();
    const auto &datapath = row.at(bridge_columns["datapath_type"]);
    bridge.datapath_type = datapath.is_string() ? datapath.get<std::string>() : std::string();
    LTB_TRY(ids, string_map(row.at(bridge_columns["external_ids"])));
    bridge.external_ids = std::move(ids);
    for (const auto &element : set_elements(row.at(bridge_columns["ports"]))) {
      const auto it = ports_by_uuid.find(uuid_of(element));
      // The bridge's own internal port carries its name; it is not one of "its ports" to ltb.
      if (it == ports_by_uuid.end() || it->second.name == bridge.name) {
        continue;
      }
      bridge.ports.push_back(it->second.name);
      bridge.port_external_ids.emplace(it->second.name, it->second.ids);
    }
    std::sort(bridge.ports.begin(), bridge.ports.end());
    bridges.push_back(std::move(bridge));
  }
  std::sort(bridges.begin(), bridges.end(),
            [](const OvsBridge &a, const OvsBridge &b) { return a.name < b.name; });
  return bridges;
}

std::vector<std::string> setup_errors(std::string_view stderr_text) {
  static constexpr std::string_view k_marker = "Error detected while setting up '";
  std::vector<std::string> names;
  std::size_t at = 0;
  while ((at = stderr_text.find(k_marker, at)) != std::string_view::npos) {
    at += k_marker.size();
    const auto end = stderr_text.find('\'', at);
    if (end == std::string_view::npos) {
      break;
    }
    names.emplace_back(stderr_text.substr(at, end - at));
    at = end;
  }
  return names;
}

} // namespace ltb::net::ovs
