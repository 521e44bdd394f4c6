#include "state/record_types.hpp"

#include <array>
#include <utility>

namespace ltb::state {

namespace {

constexpr std::array k_statuses{
    std::pair{RecordStatus::creating, "creating"},
    std::pair{RecordStatus::created, "created"},
    std::pair{RecordStatus::running, "running"},
    std::pair{RecordStatus::failed, "failed"},
    std::pair{RecordStatus::removing, "removing"},
    std::pair{RecordStatus::deploying, "deploying"},
    std::pair{RecordStatus::up, "up"},
    std::pair{RecordStatus::stopped, "stopped"},
};

constexpr std::array k_types{
    std::pair{ObjectType::container, "container"},
    std::pair{ObjectType::network, "network"},
    std::pair{ObjectType::veth, "veth"},
    std::pair{ObjectType::bridge, "bridge"},
    std::pair{ObjectType::port, "port"},
    std::pair{ObjectType::domain, "domain"},
    std::pair{ObjectType::dhcp, "dhcp"},
    std::pair{ObjectType::capture, "capture"},
    std::pair{ObjectType::mirror, "mirror"},
    std::pair{ObjectType::capture_port, "capture-port"},
    std::pair{ObjectType::relay, "relay"},
    std::pair{ObjectType::netns, "netns"},
    std::pair{ObjectType::parked, "parked"},
    std::pair{ObjectType::firewall, "firewall"},
    std::pair{ObjectType::linux_bridge, "linux-bridge"},
    std::pair{ObjectType::host_end, "host-end"},
    std::pair{ObjectType::link_device, "link-device"},
    std::pair{ObjectType::port_proxy, "port-proxy"},
};

template <class Table, class Enum> const char *text_of(const Table &table, Enum value) {
  for (const auto &[known, text] : table) {
    if (known == value) {
      return text;
    }
  }
  return "?";
}

template <class Enum, class Table>
std::optional<Enum> value_of(const Table &table, std::string_view text) {
  for (const auto &[value, known] : table) {
    if (text == known) {
      return value;
    }
  }
  return std::nullopt;
}

} // namespace

const char *to_string(RecordStatus status) {
  return text_of(k_statuses, status);
}

const char *to_string(ObjectType type) {
  return text_of(k_types, type);
}

std::optional<RecordStatus> parse_record_status(std::string_view text) {
  return value_of<RecordStatus>(k_statuses, text);
}

std::optional<ObjectType> parse_object_type(std::string_view text) {
  return value_of<ObjectType>(k_types, text);
}

} // namespace ltb::state
