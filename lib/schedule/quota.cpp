#include "schedule/quota.hpp"

#include "topology/diagnostics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <set>

namespace ltb::schedule {

namespace {

using Kind = QuotaInfo::Kind;

std::string join(const std::vector<std::string> &words) {
  std::string out;
  for (const auto &word : words) {
    out += (out.empty() ? "" : ", ") + word;
  }
  return out;
}

std::optional<double> to_number(const std::string &text) {
  double value = 0;
  const auto *end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || !std::isfinite(value) || value < 0) {
    return std::nullopt;
  }
  return value;
}

Result<double> parse_value(const QuotaInfo &info, const std::string &text) {
  const auto bad = [&](const std::string &expected, const std::string &example) {
    return fail(
        fmt::format("invalid value '{}' for quota {}: expected {}", text, info.name, expected),
        fmt::format("for example {}={}; `{}=` or `{}=unlimited` removes the limit", info.name,
                    example, info.name, info.name),
        ExitCode::usage);
  };
  switch (info.kind) {
  case Kind::count: {
    auto n = to_number(text);
    if (!n || *n != std::floor(*n) || *n > 1e6) {
      return bad("a whole number, 0 or more", "2");
    }
    return *n;
  }
  case Kind::cpus: {
    auto n = to_number(text);
    if (!n || *n > 1e6) {
      return bad("a number of vCPUs, 0 or more", "4 or 0.5");
    }
    return *n;
  }
  case Kind::bytes: {
    auto bytes = parse_size(text);
    if (!bytes) {
      return bad("a size", "4GiB");
    }
    return static_cast<double>(*bytes);
  }
  case Kind::seconds: {
    if (text == "0") {
      return 0.0;
    }
    if (info.quota == Quota::hours_per_week) {
      if (auto hours = to_number(text)) {
        return std::round(*hours * 3600);
      }
    }
    auto seconds = parse_duration(text);
    if (!seconds) {
      return bad("a duration (d, h, m, s)", info.quota == Quota::ahead ? "14d" : "10h");
    }
    return static_cast<double>(*seconds);
  }
  }
  return bad("a number", "1");
}

/// The limit of `quota` and its value, when set.
const Limit *limited(const Limits &limits, Quota quota) {
  auto it = limits.find(quota);
  return it != limits.end() && it->second.value ? &it->second : nullptr;
}

std::string source_text(const Limit &limit) {
  if (limit.source == "user") {
    return "your own";
  }
  return "from " + limit.source;
}

/// "quota memory (from group students) is 4 GiB".
std::string quota_text(Quota quota, const Limit &limit) {
  return fmt::format("the {} quota ({}) is {}", quota_info(quota).name, source_text(limit),
                     format_quota(quota, *limit.value));
}

double amount(Quota quota, int labs, int nodes, const Resources &r) {
  switch (quota) {
  case Quota::labs:
    return labs;
  case Quota::nodes:
    return nodes;
  case Quota::vcpus:
    return r.cpus;
  case Quota::memory:
    return static_cast<double>(r.memory_bytes);
  case Quota::disk:
    return static_cast<double>(r.disk_bytes);
  default:
    return 0;
  }
}

/// A duration as --for takes it: "1h20m".
std::string duration_word(std::int64_t seconds) {
  auto text = format_duration(seconds);
  text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
  return text;
}

std::string local_day(Instant t) {
  return format_local_short(t).substr(0, 10);
}

} // namespace

const std::vector<QuotaInfo> &quota_infos() {
  static const std::vector<QuotaInfo> k_infos{
      {Quota::labs, "labs", "labs at once (deployed or reserved)", Kind::count},
      {Quota::nodes, "nodes", "nodes of those labs", Kind::count},
      {Quota::vcpus, "vcpus", "vCPUs of those labs (their demand, as admission counts it)",
       Kind::cpus},
      {Quota::memory, "memory", "memory of those labs", Kind::bytes},
      {Quota::disk, "disk", "disk of those labs", Kind::bytes},
      {Quota::snapshot_disk, "snapshot-disk", "disk of the user's snapshots", Kind::bytes},
      {Quota::hours_per_week, "hours-per-week", "reserved lab-hours per ISO week", Kind::seconds},
      {Quota::longest, "longest", "the longest reservation", Kind::seconds},
      {Quota::ahead, "ahead", "how far ahead a reservation may start", Kind::seconds},
  };
  return k_infos;
}

const QuotaInfo &quota_info(Quota quota) {
  for (const auto &info : quota_infos()) {
    if (info.quota == quota) {
      return info;
    }
  }
  return quota_infos().front();
}

Result<std::vector<QuotaChange>> parse_quota_changes(const std::string &text) {
  std::vector<QuotaChange> changes;
  std::vector<std::string> names;
  for (const auto &info : quota_infos()) {
    names.push_back(info.name);
  }
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto comma = text.find(',', pos);
    if (comma == std::string::npos) {
      comma = text.size();
    }
    const std::string item = text.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) {
      continue;
    }
    const auto eq = item.find('=');
    if (eq == std::string::npos) {
      return fail(
          fmt::format("invalid quota '{}': expected NAME=VALUE", item),
          fmt::format("for example --quota labs=2,memory=4GiB; the quotas are {}", join(names)),
          ExitCode::usage);
    }
    const std::string name = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    const QuotaInfo *info = nullptr;
    for (const auto &candidate : quota_infos()) {
      if (candidate.name == name) {
        info = &candidate;
      }
    }
    if (info == nullptr) {
      auto guess = topology::did_you_mean(name, names);
      return fail(fmt::format("no quota named '{}'", name),
                  guess.empty() ? fmt::format("the quotas are {}", join(names))
                                : fmt::format("did you mean '{}'?", guess),
                  ExitCode::usage);
    }
    QuotaChange change{info->quota, std::nullopt};
    if (!value.empty() && value != "unlimited") {
      LTB_TRY(limit, parse_value(*info, value));
      change.limit = limit;
    }
    changes.push_back(change);
  }
  if (changes.empty()) {
    return fail("--quota names no quota", "for example --quota labs=2,memory=4GiB",
                ExitCode::usage);
  }
  return changes;
}

void apply_changes(QuotaSet &set, const std::vector<QuotaChange> &changes) {
  for (const auto &change : changes) {
    if (change.limit) {
      set[change.quota] = *change.limit;
    } else {
      set.erase(change.quota);
    }
  }
}

std::string quotas_json(const QuotaSet &set) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto &[quota, value] : set) {
    const auto &info = quota_info(quota);
    if (info.kind == Kind::cpus) {
      json[info.name] = value;
    } else {
      json[info.name] = static_cast<std::int64_t>(value);
    }
  }
  return json.dump();
}

Result<QuotaSet> parse_quotas_json(const std::string &text) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return fail(fmt::format("the state file holds invalid quotas: {}", text),
                "set them again with `ltb user set`");
  }
  QuotaSet set;
  for (const auto &info : quota_infos()) {
    if (auto it = json.find(info.name); it != json.end() && it->is_number()) {
      set[info.quota] = it->get<double>();
    }
  }
  return set;
}

std::string format_quota(Quota quota, double value) {
  switch (quota_info(quota).kind) {
  case Kind::count:
    return fmt::format("{}", static_cast<std::int64_t>(value));
  case Kind::cpus:
    return format_cpus(value);
  case Kind::bytes:
    return format_bytes(static_cast<std::int64_t>(value));
  case Kind::seconds:
    return value <= 0 ? "0" : format_duration(static_cast<std::int64_t>(value));
  }
  return fmt::format("{}", value);
}

Limits resolve_quotas(const QuotaLayers &layers) {
  Limits limits;
  for (const auto &info : quota_infos()) {
    Limit limit;
    if (auto it = layers.user.find(info.quota); it != layers.user.end()) {
      limit = {it->second, "user"};
    } else if (layers.admin) {
      limit = {std::nullopt, "admin"};
    } else {
      bool found = false;
      for (const auto &[group, set] : layers.groups) {
        if (auto g = set.find(info.quota); g != set.end()) {
          limit = {g->second, "group " + group};
          found = true;
          break;
        }
      }
      if (!found) {
        if (auto d = layers.defaults.find(info.quota); d != layers.defaults.end()) {
          limit = {d->second, "default"};
        }
      }
    }
    limits[info.quota] = limit;
  }
  return limits;
}

bool unlimited(const Limits &limits) {
  return std::none_of(limits.begin(), limits.end(),
                      [](const auto &entry) { return entry.second.value.has_value(); });
}

QuotaUsage peak_usage(const std::vector<Holding> &held, Instant start, Instant end) {
  // The total changes only where a holding starts: the peak is at `start` or at one of those.
  std::set<Instant> points{start};
  for (const auto &h : held) {
    if (h.start > start && h.start < end) {
      points.insert(h.start);
    }
  }
  QuotaUsage peak;
  bool first = true;
  for (const Instant t : points) {
    QuotaUsage at;
    std::set<std::string> names;
    for (const auto &h : held) {
      if (h.start <= t && t < h.end) {
        at.labs += h.labs;
        at.nodes += h.nodes;
        at.resources += h.demand;
        names.insert(h.lab);
      }
    }
    // The instant with the most labs, then nodes, then vCPUs is the one reported by name; each
    // amount is the highest over the window.
    const bool busier =
        first || at.labs > peak.labs || (at.labs == peak.labs && at.nodes > peak.nodes) ||
        (at.labs == peak.labs && at.nodes == peak.nodes && at.resources.cpus > peak.resources.cpus);
    if (busier) {
      peak.lab_names.assign(names.begin(), names.end());
    }
    peak.labs = std::max(peak.labs, at.labs);
    peak.nodes = std::max(peak.nodes, at.nodes);
    peak.resources.cpus = std::max(peak.resources.cpus, at.resources.cpus);
    peak.resources.memory_bytes = std::max(peak.resources.memory_bytes, at.resources.memory_bytes);
    peak.resources.disk_bytes = std::max(peak.resources.disk_bytes, at.resources.disk_bytes);
    first = false;
  }
  return peak;
}

Status check_lab_quotas(const Limits &limits, const std::vector<Holding> &others,
                        const Holding &candidate, const std::string &what) {
  const auto usage = peak_usage(others, candidate.start, candidate.end);
  for (const Quota quota : {Quota::labs, Quota::nodes, Quota::vcpus, Quota::memory, Quota::disk}) {
    const Limit *limit = limited(limits, quota);
    if (limit == nullptr) {
      continue;
    }
    const double used = amount(quota, usage.labs, usage.nodes, usage.resources);
    const double need = amount(quota, candidate.labs, candidate.nodes, candidate.demand);
    // A tolerance for vCPU fractions summed in floating point.
    if (used + need <= *limit->value + 1e-9) {
      continue;
    }
    const std::string name = quota_info(quota).name;
    const std::string yours = usage.lab_names.empty()
                                  ? "you hold none now"
                                  : fmt::format("your other labs hold {} ({})",
                                                format_quota(quota, used), join(usage.lab_names));
    std::string message = fmt::format("{}: {}: it needs {}, {}, and {}", what,
                                      fmt::format("{} over the {} quota", name, name),
                                      format_quota(quota, need), yours, quota_text(quota, *limit));
    std::vector<std::string> proposals;
    const double room = *limit->value - used;
    if (quota != Quota::labs && room > 0 && candidate.labs == 1) {
      proposals.push_back(fmt::format("make it smaller: it may have at most {} {}",
                                      format_quota(quota, room), name));
    }
    if (!usage.lab_names.empty()) {
      proposals.push_back(fmt::format(
          "remove one of your labs: {} (`ltb down`, `ltb reserve delete`)", join(usage.lab_names)));
    }
    proposals.push_back("ask an ltb admin to raise it (`ltb user set`)");
    std::string help;
    for (std::size_t i = 0; i < proposals.size(); ++i) {
      help += (i == 0 ? "" : i + 1 == proposals.size() ? "; or " : "; ") + proposals[i];
    }
    return fail(message, help, ExitCode::failed);
  }
  return {};
}

Instant week_start(Instant t) {
  std::time_t time = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&time, &tm);
  tm.tm_mday -= (tm.tm_wday + 6) % 7;
  tm.tm_hour = 0;
  tm.tm_min = 0;
  tm.tm_sec = 0;
  tm.tm_isdst = -1;
  return static_cast<Instant>(std::mktime(&tm));
}

namespace {
Instant next_week(Instant monday) {
  std::time_t time = static_cast<std::time_t>(monday);
  std::tm tm{};
  localtime_r(&time, &tm);
  tm.tm_mday += 7;
  tm.tm_hour = 0;
  tm.tm_min = 0;
  tm.tm_sec = 0;
  tm.tm_isdst = -1;
  return static_cast<Instant>(std::mktime(&tm));
}
} // namespace

std::int64_t seconds_within(const std::vector<Window> &windows, Instant from, Instant to) {
  std::int64_t total = 0;
  for (const auto &w : windows) {
    const Instant a = std::max(w.start, from);
    const Instant b = std::min(w.end, to);
    if (b > a) {
      total += b - a;
    }
  }
  return total;
}

Status check_reservation_quotas(const Limits &limits, const std::vector<Window> &others,
                                Instant start, Instant end, int count, Instant now,
                                const std::string &what) {
  if (const Limit *longest = limited(limits, Quota::longest)) {
    if (static_cast<double>(end - start) > *longest->value) {
      const auto at_most = static_cast<std::int64_t>(*longest->value);
      return fail(fmt::format("{}: it is longer than the longest quota: it lasts {}, and {}", what,
                              format_duration(end - start), quota_text(Quota::longest, *longest)),
                  fmt::format("ask for a reservation of at most {} (--for {})",
                              format_duration(at_most), duration_word(at_most)),
                  ExitCode::failed);
    }
  }
  if (const Limit *ahead = limited(limits, Quota::ahead)) {
    const Instant latest = now + static_cast<Instant>(*ahead->value);
    if (start > latest) {
      return fail(fmt::format("{}: it starts too far ahead: {} from now, and {}", what,
                              format_duration(start - now), quota_text(Quota::ahead, *ahead)),
                  fmt::format("book no later than {} (--start {})", format_local_short(latest),
                              format_local(latest)),
                  ExitCode::failed);
    }
  }
  if (const Limit *weekly = limited(limits, Quota::hours_per_week)) {
    for (Instant monday = week_start(start); monday < end; monday = next_week(monday)) {
      const Instant sunday_end = next_week(monday);
      const std::int64_t used = seconds_within(others, monday, sunday_end);
      const std::int64_t need = seconds_within({{start, end}}, monday, sunday_end) * count;
      if (static_cast<double>(used + need) <= *weekly->value) {
        continue;
      }
      const auto room = static_cast<std::int64_t>(*weekly->value) - used;
      std::string help =
          room >= 60 * count
              ? fmt::format("a reservation of at most {} in that week{}",
                            format_duration(room / count), count > 1 ? " per lab" : "")
              : std::string("book another week");
      help += "; your reservations: `ltb reserve list`";
      return fail(fmt::format("{}: over the hours-per-week quota in the week of {}: it needs {}, "
                              "your other reservations that week hold {}, and {}",
                              what, local_day(monday), format_duration(need),
                              used > 0 ? format_duration(used) : "0",
                              quota_text(Quota::hours_per_week, *weekly)),
                  help, ExitCode::failed);
    }
  }
  return {};
}

Status check_snapshot_quota(const Limits &limits, std::int64_t used, std::int64_t need,
                            const std::string &what) {
  const Limit *limit = limited(limits, Quota::snapshot_disk);
  if (limit == nullptr || static_cast<double>(used + need) <= *limit->value) {
    return {};
  }
  return fail(fmt::format("{}: over the snapshot-disk quota: it needs about {}, your snapshots "
                          "hold {}, and {}",
                          what, format_bytes(need), format_bytes(used),
                          quota_text(Quota::snapshot_disk, *limit)),
              "remove snapshots you no longer need (`ltb snapshot list`, `ltb snapshot rm`); or "
              "ask an ltb admin to raise it (`ltb user set`)",
              ExitCode::failed);
}

} // namespace ltb::schedule
