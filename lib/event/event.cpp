#include "event/event.hpp"

#include <array>
#include <chrono>
#include <ctime>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <utility>

namespace ltb::event {

namespace {

constexpr std::array<std::pair<Type, const char *>, 6> k_types{{
    {Type::node, "node"},
    {Type::link, "link"},
    {Type::impairment, "impairment"},
    {Type::capture, "capture"},
    {Type::reservation, "reservation"},
    {Type::drift, "drift"},
}};

constexpr std::array<std::pair<Action, const char *>, 11> k_actions{{
    {Action::created, "created"},
    {Action::started, "started"},
    {Action::stopped, "stopped"},
    {Action::died, "died"},
    {Action::recreated, "recreated"},
    {Action::removed, "removed"},
    {Action::up, "up"},
    {Action::down, "down"},
    {Action::changed, "changed"},
    {Action::ended, "ended"},
    {Action::seen, "seen"},
}};

bool needs_quotes(std::string_view value) {
  if (value.empty()) {
    return true;
  }
  for (const char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\t' || c == '\n' || c == '\\') {
      return true;
    }
  }
  return false;
}

std::string quote_value(std::string_view value) {
  std::string out = "\"";
  for (const char c : value) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      out += c;
    }
  }
  return out + "\"";
}

} // namespace

const char *to_string(Type type) {
  for (const auto &[value, name] : k_types) {
    if (value == type) {
      return name;
    }
  }
  return "";
}

const char *to_string(Action action) {
  for (const auto &[value, name] : k_actions) {
    if (value == action) {
      return name;
    }
  }
  return "";
}

std::optional<Type> parse_type(std::string_view text) {
  for (const auto &[value, name] : k_types) {
    if (text == name) {
      return value;
    }
  }
  return std::nullopt;
}

std::optional<Action> parse_action(std::string_view text) {
  for (const auto &[value, name] : k_actions) {
    if (text == name) {
      return value;
    }
  }
  return std::nullopt;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_time(std::int64_t time_ns) {
  constexpr std::int64_t k_ns = 1000000000;
  std::int64_t seconds = time_ns / k_ns;
  std::int64_t rest = time_ns % k_ns;
  if (rest < 0) {
    rest += k_ns;
    seconds -= 1;
  }
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rest / 1000);
}

std::string format_plain(const Event &event) {
  std::string line = fmt::format(
      "{} {} {} {} {}", format_time(event.time_ns), event.lab.empty() ? "-" : event.lab,
      to_string(event.type), to_string(event.action), event.object.empty() ? "-" : event.object);
  for (const auto &[key, value] : event.attributes) {
    line += fmt::format(" {}={}", key, needs_quotes(value) ? quote_value(value) : value);
  }
  return line;
}

std::string format_json(const Event &event) {
  nlohmann::ordered_json j;
  j["time"] = format_time(event.time_ns);
  j["time_ns"] = event.time_ns;
  j["lab"] = event.lab;
  j["type"] = to_string(event.type);
  j["action"] = to_string(event.action);
  j["object"] = event.object;
  j["attributes"] = nlohmann::ordered_json::object();
  for (const auto &[key, value] : event.attributes) {
    j["attributes"][key] = value;
  }
  // Invalid UTF-8 (a container's name could carry it) is replaced rather than thrown on.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string attributes_json(const std::map<std::string, std::string> &attributes) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto &[key, value] : attributes) {
    j[key] = value;
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::map<std::string, std::string> parse_attributes(std::string_view json) {
  std::map<std::string, std::string> out;
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) {
    return out;
  }
  for (const auto &[key, value] : j.items()) {
    out[key] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  return out;
}

} // namespace ltb::event
