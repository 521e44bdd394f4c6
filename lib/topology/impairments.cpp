// Units of link impairments, and their text in the state file.

#include "topology/impairments.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fmt/format.h>
#include <map>

namespace ltb::topology {

namespace {

constexpr std::uint64_t k_max_delay_us = 60'000'000;     // a minute: netem takes more, no lab does
constexpr std::uint64_t k_min_rate_bps = 8'000;          // tbf needs a byte a millisecond or so
constexpr std::uint64_t k_max_rate_bps = 10'000'000'000; // tbf's 32-bit bytes/s rate stops at 17g

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

/// Splits "1.5ms" into 1.5 and "ms"; nullopt when it does not start with a plain decimal number.
std::optional<std::pair<double, std::string>> split_number(std::string_view text) {
  std::size_t end = 0;
  bool digits = false;
  bool dot = false;
  while (end < text.size()) {
    const char c = text[end];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
    ++end;
  }
  if (!digits) {
    return std::nullopt;
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, value);
  if (ec != std::errc() || ptr != text.data() + end || !std::isfinite(value)) {
    return std::nullopt;
  }
  std::string_view unit = text.substr(end);
  while (!unit.empty() && unit.front() == ' ') {
    unit.remove_prefix(1);
  }
  return std::make_pair(value, lower(unit));
}

/// "1.5" for 1.5, "2" for 2.0: the shortest text that reads back as the same number.
std::string number_text(double value) {
  return fmt::format("{}", value);
}

} // namespace

tl::expected<std::uint64_t, ValueError> parse_duration(std::string_view text) {
  static const std::map<std::string, double> units{{"us", 1},     {"usec", 1}, {"ms", 1e3},
                                                   {"msec", 1e3}, {"s", 1e6},  {"sec", 1e6}};
  const auto parts = split_number(text);
  const std::string help = "write a number with a unit: us, ms or s, for example 50ms, 1s or 250us";
  if (!parts) {
    return tl::unexpected(ValueError{fmt::format("'{}' is not a duration", text), help});
  }
  if (parts->second.empty()) {
    if (parts->first == 0) {
      return 0;
    }
    return tl::unexpected(ValueError{fmt::format("duration '{}' has no unit", text),
                                     fmt::format("write {}ms (or us, s)", text)});
  }
  auto unit = units.find(parts->second);
  if (unit == units.end()) {
    return tl::unexpected(ValueError{
        fmt::format("duration '{}' has an unknown unit '{}'", text, parts->second), help});
  }
  const double us = parts->first * unit->second;
  if (us > static_cast<double>(k_max_delay_us)) {
    return tl::unexpected(ValueError{
        fmt::format("duration '{}' is longer than {}", text, format_duration(k_max_delay_us)),
        "a link delays packets by at most a minute"});
  }
  if (us != 0 && us < 1) {
    return tl::unexpected(
        ValueError{fmt::format("duration '{}' is shorter than a microsecond", text),
                   "netem counts in microseconds: write at least 1us, or 0"});
  }
  return static_cast<std::uint64_t>(std::llround(us));
}

tl::expected<double, ValueError> parse_percent(std::string_view text) {
  const auto parts = split_number(text);
  if (!parts) {
    return tl::unexpected(ValueError{fmt::format("'{}' is not a percentage", text),
                                     "write a number from 0 to 100 with '%', for example 2% or "
                                     "0.5%"});
  }
  if (parts->second.empty()) {
    if (parts->first == 0) {
      return 0.0;
    }
    return tl::unexpected(ValueError{fmt::format("percentage '{}' has no '%'", text),
                                     fmt::format("write {}% (a percentage, 0 to 100)", text)});
  }
  if (parts->second != "%") {
    return tl::unexpected(ValueError{fmt::format("'{}' is not a percentage", text),
                                     "write a number from 0 to 100 with '%', for example 2% or "
                                     "0.5%"});
  }
  if (parts->first > 100) {
    return tl::unexpected(ValueError{fmt::format("percentage '{}' is more than 100%", text),
                                     "write a number from 0 to 100 with '%'"});
  }
  return parts->first;
}

tl::expected<std::uint64_t, ValueError> parse_rate(std::string_view text) {
  static const std::map<std::string, double> units{
      {"bit", 1}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}};
  const std::string help = "write bits per second with a unit: bit, kbit, mbit or gbit, for "
                           "example 10mbit, 1gbit or 500kbit";
  const auto parts = split_number(text);
  if (!parts) {
    return tl::unexpected(ValueError{fmt::format("'{}' is not a rate", text), help});
  }
  if (parts->second.empty()) {
    if (parts->first == 0) {
      return 0;
    }
    return tl::unexpected(ValueError{fmt::format("rate '{}' has no unit", text), help});
  }
  auto unit = units.find(parts->second);
  if (unit == units.end()) {
    std::string unit_help = help;
    if (parts->second.size() > 2 && parts->second.substr(parts->second.size() - 2) == "ps") {
      // tc reads "mbps" as megabytes per second; people mean megabits. Say so rather than guess.
      unit_help = fmt::format("tc reads '{}' as bytes per second, people mostly mean bits: write "
                              "{}{}bit for bits per second",
                              parts->second, number_text(parts->first),
                              parts->second.substr(0, parts->second.size() - 3));
    }
    return tl::unexpected(ValueError{
        fmt::format("rate '{}' has an unknown unit '{}'", text, parts->second), unit_help});
  }
  const double bps = parts->first * unit->second;
  if (bps == 0) {
    return 0;
  }
  if (bps < static_cast<double>(k_min_rate_bps) || bps > static_cast<double>(k_max_rate_bps)) {
    return tl::unexpected(
        ValueError{fmt::format("rate '{}' is out of range", text),
                   fmt::format("a rate is from {} to {} (or 0: no limit)",
                               format_rate(k_min_rate_bps), format_rate(k_max_rate_bps))});
  }
  return static_cast<std::uint64_t>(std::llround(bps));
}

tl::expected<void, ValueError> set_impairment_field(Impairments &out, std::string_view field,
                                                    std::string_view text) {
  auto set_us = [&](std::uint64_t &slot) -> tl::expected<void, ValueError> {
    auto value = parse_duration(text);
    if (!value) {
      return tl::unexpected(value.error());
    }
    slot = *value;
    return {};
  };
  auto set_pct = [&](double &slot) -> tl::expected<void, ValueError> {
    auto value = parse_percent(text);
    if (!value) {
      return tl::unexpected(value.error());
    }
    slot = *value;
    return {};
  };
  if (field == "delay") {
    return set_us(out.delay_us);
  }
  if (field == "jitter") {
    return set_us(out.jitter_us);
  }
  if (field == "loss") {
    return set_pct(out.loss_pct);
  }
  if (field == "corrupt") {
    return set_pct(out.corrupt_pct);
  }
  if (field == "duplicate") {
    return set_pct(out.duplicate_pct);
  }
  if (field == "reorder") {
    return set_pct(out.reorder_pct);
  }
  if (field == "rate") {
    auto value = parse_rate(text);
    if (!value) {
      return tl::unexpected(value.error());
    }
    out.rate_bps = *value;
    return {};
  }
  return tl::unexpected(ValueError{fmt::format("unknown impairment '{}'", field),
                                   "the impairments are delay, jitter, loss, corrupt, duplicate, "
                                   "reorder and rate"});
}

void copy_impairment_field(Impairments &to, const Impairments &from, std::string_view field) {
  if (field == "delay") {
    to.delay_us = from.delay_us;
  } else if (field == "jitter") {
    to.jitter_us = from.jitter_us;
  } else if (field == "loss") {
    to.loss_pct = from.loss_pct;
  } else if (field == "corrupt") {
    to.corrupt_pct = from.corrupt_pct;
  } else if (field == "duplicate") {
    to.duplicate_pct = from.duplicate_pct;
  } else if (field == "reorder") {
    to.reorder_pct = from.reorder_pct;
  } else if (field == "rate") {
    to.rate_bps = from.rate_bps;
  }
}

std::vector<ImpairmentProblem> check_impairments(const Impairments &i) {
  std::vector<ImpairmentProblem> problems;
  if (i.jitter_us > 0 && i.delay_us == 0) {
    problems.push_back({"jitter", "jitter without delay",
                        "jitter varies the delay: set a delay too, for example delay: 50ms, "
                        "jitter: 5ms"});
  }
  if (i.reorder_pct > 0 && i.delay_us == 0) {
    problems.push_back({"reorder", "reorder without delay",
                        "reordered packets are the ones sent without the delay: set a delay too, "
                        "for example delay: 10ms, reorder: 25%"});
  }
  return problems;
}

std::string format_duration(std::uint64_t us) {
  if (us >= 1'000'000 && us % 100'000 == 0) {
    return number_text(static_cast<double>(us) / 1e6) + "s";
  }
  if (us >= 1'000 && us % 100 == 0) {
    return number_text(static_cast<double>(us) / 1e3) + "ms";
  }
  return fmt::format("{}us", us);
}

std::string format_percent(double pct) {
  return number_text(pct) + "%";
}

std::string format_rate(std::uint64_t bps) {
  if (bps >= 1'000'000'000 && bps % 10'000'000 == 0) {
    return number_text(static_cast<double>(bps) / 1e9) + "gbit";
  }
  if (bps >= 1'000'000 && bps % 10'000 == 0) {
    return number_text(static_cast<double>(bps) / 1e6) + "mbit";
  }
  if (bps >= 1'000 && bps % 10 == 0) {
    return number_text(static_cast<double>(bps) / 1e3) + "kbit";
  }
  return fmt::format("{}bit", bps);
}

std::vector<std::pair<std::string, std::string>> impairment_fields(const Impairments &i) {
  std::vector<std::pair<std::string, std::string>> fields;
  auto duration = [&](const char *field, std::uint64_t us) {
    if (us != 0) {
      fields.emplace_back(field, format_duration(us));
    }
  };
  auto percent = [&](const char *field, double pct) {
    if (pct > 0) {
      fields.emplace_back(field, format_percent(pct));
    }
  };
  duration("delay", i.delay_us);
  duration("jitter", i.jitter_us);
  percent("loss", i.loss_pct);
  percent("corrupt", i.corrupt_pct);
  percent("duplicate", i.duplicate_pct);
  percent("reorder", i.reorder_pct);
  if (i.rate_bps != 0) {
    fields.emplace_back("rate", format_rate(i.rate_bps));
  }
  return fields;
}

std::string describe(const Impairments &i) {
  std::string out;
  for (const auto &[field, value] : impairment_fields(i)) {
    out += (out.empty() ? "" : ", ") + field + " " + value;
  }
  return out.empty() ? "none" : out;
}

std::string encode_impairments(const Impairments &i) {
  std::vector<std::string> parts;
  auto add = [&](std::string_view key, auto value) {
    if (value != 0) {
      parts.push_back(fmt::format("{}={}", key, value));
    }
  };
  add("delay", i.delay_us);
  add("jitter", i.jitter_us);
  add("loss", i.loss_pct);
  add("corrupt", i.corrupt_pct);
  add("duplicate", i.duplicate_pct);
  add("reorder", i.reorder_pct);
  add("rate", i.rate_bps);
  std::string out;
  for (const auto &part : parts) {
    out += (out.empty() ? "" : " ") + part;
  }
  return out;
}

std::optional<Impairments> decode_impairments(std::string_view text) {
  Impairments out;
  while (!text.empty()) {
    const std::size_t space = text.find(' ');
    const std::string_view part = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
    const std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return std::nullopt;
    }
    const std::string_view key = part.substr(0, eq);
    const std::string_view value = part.substr(eq + 1);
    auto read_u64 = [&](std::uint64_t &slot) {
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), slot);
      return ec == std::errc() && ptr == value.data() + value.size();
    };
    auto read_pct = [&](double &slot) {
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), slot);
      return ec == std::errc() && ptr == value.data() + value.size();
    };
    bool ok = false;
    if (key == "delay") {
      ok = read_u64(out.delay_us);
    } else if (key == "jitter") {
      ok = read_u64(out.jitter_us);
    } else if (key == "loss") {
      ok = read_pct(out.loss_pct);
    } else if (key == "corrupt") {
      ok = read_pct(out.corrupt_pct);
    } else if (key == "duplicate") {
      ok = read_pct(out.duplicate_pct);
    } else if (key == "reorder") {
      ok = read_pct(out.reorder_pct);
    } else if (key == "rate") {
      ok = read_u64(out.rate_bps);
    }
    if (!ok) {
      return std::nullopt;
    }
  }
  return out;
}

} // namespace ltb::topology
