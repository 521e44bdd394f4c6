#pragma once
// What happened to a lab, as `ltb events` shows it and a later server streams it: one Event per
// thing that happened (a node died, a capture started, drift was seen), from Docker's and
// libvirt's event streams, netlink, or ltb's own actions recorded in the state file. Its plain
// and JSON renderings live here too. Depends on nothing in lib/.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ltb::event {

/// What an event is about.
enum class Type { node, link, impairment, capture, reservation, drift };

/// What happened to it. Which actions go with which type:
///   node: created, started, stopped, died, recreated, removed
///   link: up, down         impairment: changed         capture: started, stopped
///   reservation: started, ended                        drift: seen
enum class Action {
  created,
  started,
  stopped,
  died,
  recreated,
  removed,
  up,
  down,
  changed,
  ended,
  seen
};

const char *to_string(Type type);
const char *to_string(Action action);
std::optional<Type> parse_type(std::string_view text);
std::optional<Action> parse_action(std::string_view text);

/// Where an event came from (the "source" attribute).
inline constexpr const char *k_source_ltb = "ltb";
inline constexpr const char *k_source_docker = "docker";
inline constexpr const char *k_source_libvirt = "libvirt";
inline constexpr const char *k_source_netlink = "netlink";
inline constexpr const char *k_source_state = "state"; // --initial-state lines

struct Event {
  std::int64_t time_ns = 0; // unix time, nanoseconds (UTC); 0 = now, when recorded
  std::string lab;
  Type type = Type::node;
  Action action = Action::created;
  std::string object; // node name, link name, capture target, reservation id
  /// Details, e.g. {"exit_code": "137"}, {"reason": "container exited"}, {"source": "docker"}.
  std::map<std::string, std::string> attributes;

  bool operator==(const Event &) const = default;
};

/// Nanoseconds since the epoch, now.
std::int64_t now_ns();

/// "2026-12-06T07:51:14.123456Z" (microseconds, UTC).
std::string format_time(std::int64_t time_ns);

/// One line, no newline: "TIME LAB TYPE ACTION OBJECT key=value ...", attributes sorted by key,
/// a value with spaces, quotes or '=' in double quotes.
std::string format_plain(const Event &event);

/// One JSON object, no newline: {"time":"...","time_ns":N,"lab":"...","type":"...","action":"...",
/// "object":"...","attributes":{...}}.
std::string format_json(const Event &event);

/// The attributes as a JSON object's text (the state file keeps them so) and back; text that is
/// not such an object gives no attributes.
std::string attributes_json(const std::map<std::string, std::string> &attributes);
std::map<std::string, std::string> parse_attributes(std::string_view json);

} // namespace ltb::event
