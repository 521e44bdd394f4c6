#include "plan/reason.hpp"

#include <array>
#include <utility>

namespace ltb::plan {

namespace {

constexpr std::string_view k_subject = "{subject}";
constexpr std::string_view k_detail = "{detail}";

// not_running ("{subject} {detail}") matches almost anything, so it comes after the other
// patterns that start with a subject: parse_why tries them in this order.
constexpr std::array k_reasons{
    std::pair{Reason::new_object, "new"},
    std::pair{Reason::not_in_state, "not in state (left by an interrupted run)"},
    std::pair{Reason::kind_changed, "kind changed"},
    std::pair{Reason::unfinished, "unfinished by an earlier run"},
    std::pair{Reason::removal_unfinished, "removal unfinished by an earlier run"},
    std::pair{Reason::missing, "{subject} missing (removed outside ltb)"},
    std::pair{Reason::replaced, "{subject} replaced outside ltb"},
    std::pair{Reason::started_outside, "{subject} started outside ltb"},
    std::pair{Reason::not_running, "{subject} {detail}"},
    std::pair{Reason::image_changed, "image changed: {detail}"},
    std::pair{Reason::configuration_changed, "configuration changed"},
    std::pair{Reason::address_changed, "management address changed: {detail}"},
    std::pair{Reason::network_changed, "management network changed"},
    std::pair{Reason::readdressed, "re-addressed"},
    std::pair{Reason::not_lab_network, "no longer the lab's network"},
    std::pair{Reason::network_recreated, "management network recreated"},
    std::pair{Reason::vm_addresses_changed, "VM addresses changed"},
    std::pair{Reason::no_vm_left, "no VM left"},
    std::pair{Reason::removed_from_file, "removed from the file"},
    std::pair{Reason::rewire, "rewire"},
    std::pair{Reason::node_created, "node created"},
    std::pair{Reason::links_rewired, "links rewired"},
    std::pair{Reason::lab_removed, "lab removed"},
    std::pair{Reason::interrupted_run, "left by an interrupted run"},
    std::pair{Reason::requested, "requested"},
    std::pair{Reason::impairments_changed, "impairments changed"},
    std::pair{Reason::run_time_change, "set at run time"},
    std::pair{Reason::segment_nics_retapped, "segment NICs wired through ltb's taps now"},
    std::pair{Reason::renamed, "container name changed: {detail}"},
};

constexpr std::array k_subjects{state::ObjectType::container, state::ObjectType::domain,
                                state::ObjectType::bridge, state::ObjectType::firewall,
                                state::ObjectType::port_proxy};

/// Matches `text` against one pattern: an optional leading "{subject} ", literal text, and an
/// optional trailing "{detail}".
std::optional<Why> match(Reason reason, std::string_view pattern, std::string_view text) {
  Why why(reason);
  if (pattern.substr(0, k_subject.size()) == k_subject) {
    pattern.remove_prefix(k_subject.size());
    bool found = false;
    for (auto subject : k_subjects) {
      std::string_view word = state::to_string(subject);
      if (text.substr(0, word.size()) == word) {
        why.subject = subject;
        text.remove_prefix(word.size());
        found = true;
        break;
      }
    }
    if (!found) {
      return std::nullopt;
    }
  }
  bool detail = pattern.size() >= k_detail.size() &&
                pattern.substr(pattern.size() - k_detail.size()) == k_detail;
  if (detail) {
    pattern.remove_suffix(k_detail.size());
  }
  if (text.substr(0, pattern.size()) != pattern) {
    return std::nullopt;
  }
  text.remove_prefix(pattern.size());
  if (detail != !text.empty()) {
    return std::nullopt;
  }
  why.detail = std::string(text);
  return why;
}

} // namespace

const char *to_string(Reason reason) {
  for (const auto &[known, text] : k_reasons) {
    if (known == reason) {
      return text;
    }
  }
  return "?";
}

std::string to_string(const Why &why) {
  std::string text = to_string(why.reason);
  if (auto at = text.find(k_subject); at != std::string::npos) {
    text.replace(at, k_subject.size(), state::to_string(why.subject));
  }
  if (auto at = text.find(k_detail); at != std::string::npos) {
    text.replace(at, k_detail.size(), why.detail);
  }
  return text;
}

std::optional<Why> parse_why(std::string_view text) {
  for (const auto &[reason, pattern] : k_reasons) {
    if (auto why = match(reason, pattern, text)) {
      return why;
    }
  }
  return std::nullopt;
}

} // namespace ltb::plan
