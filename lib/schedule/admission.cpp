#include "schedule/admission.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace ltb::schedule {

namespace {

struct Interval {
  Instant start = 0;
  Instant end = 0;
};

/// Adds [start, end) to a sorted list of disjoint intervals, merging with the last one when they
/// touch (intervals arrive in increasing order).
void append(std::vector<Interval> &list, Instant start, Instant end) {
  if (!list.empty() && list.back().end >= start) {
    list.back().end = std::max(list.back().end, end);
    return;
  }
  list.push_back({start, end});
}

bool overlaps_any(const std::vector<Interval> &sorted, Instant start, Instant end) {
  auto it = std::upper_bound(sorted.begin(), sorted.end(), start,
                             [](Instant t, const Interval &i) { return t < i.end; });
  return it != sorted.end() && it->start < end;
}

std::string when(Instant t) {
  return t == k_forever ? "open end" : format_local_short(t);
}

} // namespace

Timeline::Amount Timeline::amount(const Resources &r) {
  return {std::llround(r.cpus * 1000), r.memory_bytes, r.disk_bytes};
}

Resources Timeline::resources(const Amount &a) {
  return {static_cast<double>(a.milli_cpus) / 1000.0, a.memory, a.disk};
}

bool Timeline::fits(const Amount &used, const Amount &extra, const Amount &limit) {
  return used.milli_cpus + extra.milli_cpus <= limit.milli_cpus &&
         used.memory + extra.memory <= limit.memory && used.disk + extra.disk <= limit.disk;
}

Timeline::Timeline(const std::vector<Booking> &bookings) : m_bookings(bookings) {
  rebuild();
}

void Timeline::rebuild() {
  struct Event {
    Instant at;
    Amount delta;
  };
  std::vector<Event> events;
  events.reserve(m_bookings.size() * 2);
  for (const auto &b : m_bookings) {
    if (b.end <= b.start) {
      continue; // an empty window claims nothing
    }
    const Amount a = amount(b.demand);
    events.push_back({b.start, a});
    if (b.end != k_forever) {
      events.push_back({b.end, {-a.milli_cpus, -a.memory, -a.disk}});
    }
  }
  std::sort(events.begin(), events.end(),
            [](const Event &x, const Event &y) { return x.at < y.at; });
  m_steps.clear();
  Amount used;
  for (std::size_t i = 0; i < events.size();) {
    const Instant at = events[i].at;
    // Every event at the same instant applies at once: an end and a start at 10:00 never overlap.
    for (; i < events.size() && events[i].at == at; ++i) {
      used.milli_cpus += events[i].delta.milli_cpus;
      used.memory += events[i].delta.memory;
      used.disk += events[i].delta.disk;
    }
    m_steps.push_back({at, used});
  }
}

void Timeline::add(const Booking &booking) {
  m_bookings.push_back(booking);
  if (booking.end <= booking.start) {
    return;
  }
  // Insert a step at t (carrying the usage before t) unless there is one; returns its index.
  auto ensure_step = [this](Instant t) {
    auto it = std::lower_bound(m_steps.begin(), m_steps.end(), t,
                               [](const Step &s, Instant v) { return s.at < v; });
    if (it != m_steps.end() && it->at == t) {
      return static_cast<std::size_t>(it - m_steps.begin());
    }
    Amount before = it == m_steps.begin() ? Amount{} : std::prev(it)->used;
    it = m_steps.insert(it, Step{t, before});
    return static_cast<std::size_t>(it - m_steps.begin());
  };
  const std::size_t first = ensure_step(booking.start);
  // The end is later than the start, so inserting it leaves `first` where it is.
  const std::size_t last = booking.end == k_forever ? m_steps.size() : ensure_step(booking.end);
  const Amount a = amount(booking.demand);
  for (std::size_t i = first; i < last; ++i) {
    m_steps[i].used.milli_cpus += a.milli_cpus;
    m_steps[i].used.memory += a.memory;
    m_steps[i].used.disk += a.disk;
  }
}

std::size_t Timeline::step_index(Instant t) const {
  auto it = std::upper_bound(m_steps.begin(), m_steps.end(), t,
                             [](Instant v, const Step &s) { return v < s.at; });
  if (it == m_steps.begin()) {
    return m_steps.size();
  }
  return static_cast<std::size_t>(std::prev(it) - m_steps.begin());
}

Resources Timeline::usage_at(Instant t) const {
  const std::size_t i = step_index(t);
  return i == m_steps.size() ? Resources{} : resources(m_steps[i].used);
}

Resources Timeline::peak(Instant start, Instant end) const {
  Amount top;
  std::size_t i = step_index(start);
  if (i == m_steps.size()) {
    i = 0; // before the first step nothing is used; top starts at zero
  }
  for (; i < m_steps.size() && m_steps[i].at < end; ++i) {
    top.milli_cpus = std::max(top.milli_cpus, m_steps[i].used.milli_cpus);
    top.memory = std::max(top.memory, m_steps[i].used.memory);
    top.disk = std::max(top.disk, m_steps[i].used.disk);
  }
  return resources(top);
}

Admission Timeline::check(const Booking &candidate, const Resources &capacity) const {
  Admission result;
  const Amount extra = amount(candidate.demand);
  const Amount limit = amount(capacity);
  const Instant start = candidate.start;
  const Instant end = candidate.end;
  std::vector<Interval> overflow;
  Amount top;
  double top_load = -1;
  bool overflow_seen = false;
  bool short_cpus = false;
  bool short_memory = false;
  bool short_disk = false;
  // Visits each piece [from, to) of the window with the usage of the others on it.
  auto visit = [&](Instant from, Instant to, const Amount &used) {
    const Amount total{used.milli_cpus + extra.milli_cpus, used.memory + extra.memory,
                       used.disk + extra.disk};
    const bool over = !fits(used, extra, limit);
    auto ratio = [](std::int64_t v, std::int64_t cap) {
      return cap <= 0 ? (v > 0 ? 1e300 : 0.0) : static_cast<double>(v) / static_cast<double>(cap);
    };
    const double load =
        std::max({ratio(total.milli_cpus, limit.milli_cpus), ratio(total.memory, limit.memory),
                  ratio(total.disk, limit.disk)});
    if (over) {
      append(overflow, from, to);
      short_cpus = short_cpus || total.milli_cpus > limit.milli_cpus;
      short_memory = short_memory || total.memory > limit.memory;
      short_disk = short_disk || total.disk > limit.disk;
    }
    // When refused, the peak reported is the one among the overflowing pieces.
    if (over && !overflow_seen) {
      overflow_seen = true;
      top = Amount{};
      top_load = -1;
    }
    if (over || !overflow_seen) {
      top.milli_cpus = std::max(top.milli_cpus, total.milli_cpus);
      top.memory = std::max(top.memory, total.memory);
      top.disk = std::max(top.disk, total.disk);
      if (load > top_load) {
        top_load = load;
        result.peak_at = from;
      }
    }
  };
  std::size_t i = step_index(start);
  if (i == m_steps.size()) {
    const Instant to = m_steps.empty() ? end : std::min(end, m_steps.front().at);
    visit(start, to, Amount{});
    i = 0;
  }
  for (; i < m_steps.size() && m_steps[i].at < end; ++i) {
    const Instant from = std::max(start, m_steps[i].at);
    const Instant to = i + 1 < m_steps.size() ? std::min(end, m_steps[i + 1].at) : end;
    if (from < to) {
      visit(from, to, m_steps[i].used);
    }
  }
  result.peak = resources(top);
  if (overflow.empty()) {
    result.admitted = true;
    return result;
  }
  if (short_cpus) {
    result.short_of.emplace_back("cpus");
  }
  if (short_memory) {
    result.short_of.emplace_back("memory");
  }
  if (short_disk) {
    result.short_of.emplace_back("disk");
  }
  for (const auto &b : m_bookings) {
    if (b.end > b.start && overlaps_any(overflow, b.start, b.end)) {
      result.conflicts.push_back(b);
    }
  }
  std::sort(result.conflicts.begin(), result.conflicts.end(),
            [](const Booking &x, const Booking &y) {
              return x.start != y.start ? x.start < y.start : x.id < y.id;
            });
  result.proposed_start = earliest_fit(candidate, capacity);
  return result;
}

std::optional<Instant> Timeline::earliest_fit(const Booking &candidate,
                                              const Resources &capacity) const {
  const Amount extra = amount(candidate.demand);
  const Amount limit = amount(capacity);
  if (!fits(Amount{}, extra, limit)) {
    return std::nullopt; // not even on an empty host
  }
  const bool open = candidate.end == k_forever;
  const Instant length = open ? 0 : candidate.end - candidate.start;
  Instant t = candidate.start;
  std::size_t i = step_index(t);
  if (i == m_steps.size()) {
    i = 0; // the stretch before the first step is empty and fits
  }
  // Slide: the first overflowing step in [t, t + length) pushes t to that step's end; steps
  // before it fitted and are not looked at again.
  for (; i < m_steps.size(); ++i) {
    const Instant window_end = open ? k_forever : t + length;
    if (m_steps[i].at >= window_end) {
      return t;
    }
    if (i + 1 < m_steps.size() && m_steps[i + 1].at <= t) {
      continue; // ends before t
    }
    if (!fits(m_steps[i].used, extra, limit)) {
      if (i + 1 == m_steps.size()) {
        return std::nullopt; // the last step lasts forever: an open-ended booking is in the way
      }
      t = m_steps[i + 1].at;
    }
  }
  return t;
}

Admission admit(const std::vector<Booking> &existing, const Booking &candidate,
                const Resources &capacity) {
  std::vector<Booking> others;
  others.reserve(existing.size());
  for (const auto &b : existing) {
    if (candidate.id == 0 || b.id != candidate.id) {
      others.push_back(b);
    }
  }
  return Timeline(others).check(candidate, capacity);
}

Admission check_unreserved_up(const std::vector<Booking> &others, const Booking &lab,
                              const Resources &capacity) {
  Admission result;
  result.admitted = true;
  std::vector<Interval> reserved;
  std::vector<Booking> reservations;
  for (const auto &b : others) {
    if (b.id != 0 && b.end > b.start && b.start < lab.end && b.end > lab.start) {
      reservations.push_back(b);
    }
  }
  std::sort(reservations.begin(), reservations.end(),
            [](const Booking &x, const Booking &y) { return x.start < y.start; });
  for (const auto &b : reservations) {
    append(reserved, std::max(b.start, lab.start), std::min(b.end, lab.end));
  }
  if (reserved.empty()) {
    return result;
  }
  const Timeline timeline(others);
  std::vector<Interval> overflow;
  bool first = true;
  for (const auto &span : reserved) {
    Booking part = lab;
    part.start = span.start;
    part.end = span.end;
    auto check = timeline.check(part, capacity);
    if (check.admitted) {
      continue;
    }
    if (first || check.peak.cpus > result.peak.cpus ||
        check.peak.memory_bytes > result.peak.memory_bytes ||
        check.peak.disk_bytes > result.peak.disk_bytes) {
      result.peak = check.peak;
      result.peak_at = check.peak_at;
    }
    first = false;
    result.admitted = false;
    for (const auto &r : check.short_of) {
      if (std::find(result.short_of.begin(), result.short_of.end(), r) == result.short_of.end()) {
        result.short_of.push_back(r);
      }
    }
    for (const auto &b : check.conflicts) {
      if (b.id != 0 && std::none_of(result.conflicts.begin(), result.conflicts.end(),
                                    [&](const Booking &c) { return c.id == b.id; })) {
        result.conflicts.push_back(b);
      }
    }
  }
  return result;
}

std::vector<std::string> describe_refusal(const Admission &admission, const Booking &candidate,
                                          const Resources &capacity, std::size_t max_conflicts) {
  std::vector<std::string> lines;
  std::vector<std::string> shorts;
  for (const auto &r : admission.short_of) {
    if (r == "cpus") {
      shorts.push_back(fmt::format("{} of {} vCPU", format_cpus(admission.peak.cpus),
                                   format_cpus(capacity.cpus)));
    } else if (r == "memory") {
      shorts.push_back(fmt::format("{} of {} memory", format_bytes(admission.peak.memory_bytes),
                                   format_bytes(capacity.memory_bytes)));
    } else if (r == "disk") {
      shorts.push_back(fmt::format("{} of {} disk", format_bytes(admission.peak.disk_bytes),
                                   format_bytes(capacity.disk_bytes)));
    }
  }
  std::string joined;
  for (std::size_t i = 0; i < shorts.size(); ++i) {
    joined += (i == 0 ? "" : ", ") + shorts[i];
  }
  lines.push_back(fmt::format("peak demand {} at {} (this booking needs {})", joined,
                              when(admission.peak_at), format_resources(candidate.demand)));
  if (admission.conflicts.empty()) {
    lines.push_back(
        "nothing else is booked then: the booking alone needs more than the host's capacity");
  }
  for (std::size_t i = 0; i < admission.conflicts.size() && i < max_conflicts; ++i) {
    const auto &b = admission.conflicts[i];
    const std::string who = b.id != 0 ? fmt::format("reservation {} (lab {})", b.id, b.lab)
                                      : fmt::format("lab {} (running, no reservation)", b.lab);
    lines.push_back(fmt::format("  {}: {} to {}, {}", who, when(b.start), when(b.end),
                                format_resources(b.demand)));
  }
  if (admission.conflicts.size() > max_conflicts && max_conflicts > 0) {
    lines.push_back(fmt::format("  and {} more", admission.conflicts.size() - max_conflicts));
  }
  return lines;
}

} // namespace ltb::schedule
