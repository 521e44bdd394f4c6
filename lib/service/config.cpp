#include "service/config.hpp"

#include "service/backends.hpp"
#include "service/owners.hpp"

#include <filesystem>
#include <fmt/format.h>

namespace ltb::service {

namespace {

using schedule::SettingInfo;

/// The measured value of a host setting, as stored text; empty for the others.
std::string measured(const SettingInfo &setting, const schedule::HostFacts &facts) {
  if (setting.name == "cpus") {
    return fmt::format("{}", facts.cpus);
  }
  if (setting.name == "memory") {
    return std::to_string(facts.memory_bytes);
  }
  if (setting.name == "disk") {
    return std::to_string(facts.disk_bytes);
  }
  return {};
}

/// The default as stored text (defaults of sizes are written with units).
std::string default_value(const SettingInfo &setting) {
  auto normal = schedule::normalise_setting(setting.name, setting.default_text);
  return normal ? *normal : setting.default_text;
}

Result<std::vector<SettingValue>> values(state::Store &store, const schedule::HostFacts &facts) {
  std::vector<SettingValue> out;
  for (const auto &setting : schedule::settings()) {
    LTB_TRY(stored, store.meta(schedule::setting_key(setting.name)));
    if (stored) {
      out.push_back({&setting, *stored, "set"});
    } else if (setting.default_text == "measured") {
      out.push_back({&setting, measured(setting, facts), "measured"});
    } else {
      out.push_back({&setting, default_value(setting), "default"});
    }
  }
  return out;
}

} // namespace

Result<ConfigView> read_config(const Session &session, bool with_capacity) {
  LTB_TRY(store, open_store(session.context));
  ConfigView view;
  LTB_TRY(facts, schedule::measure_host(
                     std::filesystem::path(session.context.state_path).parent_path().string()));
  view.facts = facts;
  LTB_TRY(settings, values(*store, view.facts));
  view.settings = std::move(settings);
  if (with_capacity) {
    LTB_TRY(config, schedule::load_config(*store));
    view.capacity = schedule::capacity(view.facts, config);
  }
  return view;
}

Result<std::string> config_get(const Session &session, const std::string &name) {
  const SettingInfo *setting = nullptr;
  for (const auto &s : schedule::settings()) {
    if (s.name == name) {
      setting = &s;
    }
  }
  if (setting == nullptr) {
    auto check = schedule::normalise_setting(name, "1");
    return fail(check ? Error{"no setting named " + name, {}, ExitCode::usage} : check.error());
  }
  LTB_TRY(view, read_config(session, false));
  for (const auto &row : view.settings) {
    if (row.setting == setting) {
      return row.value;
    }
  }
  return fail("no setting named " + name, {}, ExitCode::usage);
}

Result<std::string> config_set(const Session &session, const std::string &name,
                               const std::string &value) {
  LTB_CHECK(require_admin(session.caller, "changing the host's settings"));
  LTB_TRY(normal, schedule::normalise_setting(name, value));
  LTB_TRY(store, open_store(session.context));
  LTB_CHECK(store->set_meta(schedule::setting_key(name), normal));
  return normal;
}

Status config_unset(const Session &session, const std::string &name) {
  LTB_CHECK(require_admin(session.caller, "changing the host's settings"));
  if (auto check = schedule::normalise_setting(name, "1");
      !check && check.error().message.rfind("no setting named", 0) == 0) {
    return fail(check.error());
  }
  LTB_TRY(store, open_store(session.context));
  // An unset setting is the absence of its row.
  return store->delete_meta(schedule::setting_key(name));
}

} // namespace ltb::service
