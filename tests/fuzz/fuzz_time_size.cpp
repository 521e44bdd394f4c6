// The small value parsers, all on the same text: points in time and durations (schedule/),
// sizes (util/size), quotas (schedule/quota) and link impairments' values (topology/impairments).
// What they accept must print and, where ltb reads its own output again, read back the same.
// Local time is Berlin's, for its daylight saving changes.

#include "schedule/quota.hpp"
#include "schedule/time.hpp"
#include "topology/impairments.hpp"
#include "util/size.hpp"

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>

namespace {

void check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  ::setenv("TZ", "Europe/Berlin", 1);
  ::tzset();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace ltb;
  const std::string text(reinterpret_cast<const char *>(data), size);
  constexpr schedule::Instant k_now = 1'780'000'000; // 2026-05-28

  if (const auto t = schedule::parse_time(text, k_now)) {
    (void)schedule::format_local(*t);
    (void)schedule::format_local_short(*t);
    (void)schedule::format_time_left(*t, k_now);
    const auto again = schedule::parse_time(schedule::format_utc(*t), k_now);
    check(again && *again == *t);
  }
  if (const auto seconds = schedule::parse_duration(text)) {
    check(*seconds > 0);
    (void)schedule::format_duration(*seconds);
  }
  if (const auto bytes = util::parse_size(text)) {
    check(*bytes >= 0);
  }
  if (const auto changes = schedule::parse_quota_changes(text)) {
    schedule::QuotaSet set;
    schedule::apply_changes(set, *changes);
    const auto json = schedule::quotas_json(set);
    const auto again = schedule::parse_quotas_json(json);
    check(again && *again == set);
    for (const auto &[quota, value] : set) {
      (void)schedule::format_quota(quota, value);
    }
  }

  (void)topology::parse_duration(text);
  if (const auto percent = topology::parse_percent(text)) {
    check(*percent >= 0 && *percent <= 100);
  }
  (void)topology::parse_rate(text);
  topology::Impairments impairments;
  for (const auto field : topology::k_impairment_fields) {
    (void)topology::set_impairment_field(impairments, field, text);
  }
  return 0;
}
