#pragma once
// Link impairments as a lab file writes them: delay, jitter, loss, corruption, duplication,
// reordering and a rate limit for one direction of a link, their units (50ms, 2%, 10mbit), the
// rules that tie them together, and their text in the state file. apply/ turns them into
// net::Impairment. Depends on nothing outside topology/.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

namespace ltb::topology {

/// What a link does to the packets leaving one of its ends.
struct Impairments {
  std::uint64_t delay_us = 0;
  std::uint64_t jitter_us = 0;
  double loss_pct = 0;
  double corrupt_pct = 0;
  double duplicate_pct = 0;
  double reorder_pct = 0;
  std::uint64_t rate_bps = 0; // bits per second; 0 = no limit

  bool empty() const {
    return delay_us == 0 && jitter_us == 0 && loss_pct == 0 && corrupt_pct == 0 &&
           duplicate_pct == 0 && reorder_pct == 0 && rate_bps == 0;
  }
  bool operator==(const Impairments &) const = default;
};

/// The field names in the order the documentation lists them.
inline constexpr std::array<std::string_view, 7> k_impairment_fields{
    "delay", "jitter", "loss", "corrupt", "duplicate", "reorder", "rate"};

/// A value that cannot be used, in words, with what to write instead.
struct ValueError {
  std::string message;
  std::string help;
};

/// "50ms", "1s", "250us", "1.5ms" -> microseconds.
tl::expected<std::uint64_t, ValueError> parse_duration(std::string_view text);
/// "2%", "0.5%" -> percent (0..100).
tl::expected<double, ValueError> parse_percent(std::string_view text);
/// "10mbit", "1gbit", "500kbit", "64000bit" -> bits per second (decimal prefixes, as tc's).
tl::expected<std::uint64_t, ValueError> parse_rate(std::string_view text);

/// Sets FIELD (one of k_impairment_fields) of OUT from TEXT as written. 0 (a plain zero) clears
/// the field.
tl::expected<void, ValueError> set_impairment_field(Impairments &out, std::string_view field,
                                                    std::string_view text);

/// Copies FIELD (one of k_impairment_fields) from FROM to TO; other names change nothing.
void copy_impairment_field(Impairments &to, const Impairments &from, std::string_view field);

/// A rule a whole set breaks: jitter or reorder without delay, a value out of range. FIELD names
/// the field at fault.
struct ImpairmentProblem {
  std::string field;
  std::string message;
  std::string help;
};
std::vector<ImpairmentProblem> check_impairments(const Impairments &impairments);

std::string format_duration(std::uint64_t us); // "50ms", "1.5ms", "250us", "2s"
std::string format_percent(double pct);        // "2%", "0.5%"
std::string format_rate(std::uint64_t bps);    // "10mbit", "1.5gbit", "500kbit"

/// "delay 50ms, jitter 5ms, loss 2%, rate 10mbit"; "none" when empty.
std::string describe(const Impairments &impairments);
/// The fields set, as a lab file writes them, in the file's order: {"delay", "50ms"}, {"loss",
/// "2%"} (`ltb graph`, events' attributes).
std::vector<std::pair<std::string, std::string>> impairment_fields(const Impairments &impairments);

/// The state file's text of one direction ("delay=50000 loss=2 rate=10000000", exact values);
/// "" when empty. decode_impairments is its inverse (nullopt for text no ltb writes).
std::string encode_impairments(const Impairments &impairments);
std::optional<Impairments> decode_impairments(std::string_view text);

} // namespace ltb::topology
