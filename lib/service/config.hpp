#pragma once
// `ltb config`: the capacity settings kept in the state file, their effective values (set,
// default or measured) and the capacity they give.

#include "schedule/capacity.hpp"
#include "service/service.hpp"

#include <string>
#include <vector>

namespace ltb::service {

/// One setting's effective value.
struct SettingValue {
  const schedule::SettingInfo *setting = nullptr;
  std::string value;  // as stored text (sizes in bytes)
  std::string origin; // "set", "default", "measured"
};

struct ConfigView {
  schedule::HostFacts facts;
  std::vector<SettingValue> settings; // in display order
  schedule::Resources capacity;       // only with_capacity
};

/// Every setting with its value, the host's measured facts and, with `with_capacity`, the
/// capacity for reservations.
Result<ConfigView> read_config(const Session &session, bool with_capacity);

/// One setting's effective value. An unknown name is a usage error with a did-you-mean, found
/// before the state file is opened.
Result<std::string> config_get(const Session &session, const std::string &name);

/// Sets a setting; returns the value as stored. Admitted reservations stay admitted: a lower
/// capacity only makes new ones harder to fit.
Result<std::string> config_set(const Session &session, const std::string &name,
                               const std::string &value);

/// Puts a setting back to its default (or measured) value.
Status config_unset(const Session &session, const std::string &name);

} // namespace ltb::service
