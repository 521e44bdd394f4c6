// ltb config list|get|set|unset: the capacity settings kept in the state file
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "schedule/capacity.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ltb::cli {

namespace {

struct ConfigOptions {
  std::string name;
  std::string value;
  std::string format = "table";
};

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

/// A stored value for people: sizes with a unit.
std::string readable(const SettingInfo &setting, const std::string &value) {
  if (setting.kind == SettingInfo::Kind::bytes) {
    try {
      return schedule::format_bytes(std::stoll(value));
    } catch (const std::exception &) {
      return value;
    }
  }
  return value;
}

/// The default as stored text (defaults of sizes are written with units).
std::string default_value(const SettingInfo &setting) {
  auto normal = schedule::normalise_setting(setting.name, setting.default_text);
  return normal ? *normal : setting.default_text;
}

struct Row {
  const SettingInfo *setting;
  std::string value;  // effective, as stored text
  std::string origin; // "set", "default", "measured"
};

Result<schedule::HostFacts> facts_for(const Globals &globals) {
  return schedule::measure_host(std::filesystem::path(globals.state_path).parent_path().string());
}

Result<std::vector<Row>> rows(state::Store &store, const schedule::HostFacts &facts) {
  std::vector<Row> out;
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

/// What `list` and `get` both read: the state file, the host's measured facts, every setting.
struct Loaded {
  std::unique_ptr<state::Store> store;
  schedule::HostFacts facts;
  std::vector<Row> rows;
};

Result<Loaded> load(const Globals &globals) {
  LTB_TRY(store, open_store(globals));
  LTB_TRY(facts, facts_for(globals));
  LTB_TRY(settings, rows(*store, facts));
  return Loaded{std::move(store), std::move(facts), std::move(settings)};
}

int run_list(const Globals &globals, const ConfigOptions &options) {
  auto loaded = load(globals);
  if (!loaded) {
    return report(globals, loaded.error());
  }
  const auto &facts = loaded->facts;
  const auto &settings = loaded->rows;
  auto config = schedule::load_config(*loaded->store);
  if (!config) {
    return report(globals, config.error());
  }
  const auto capacity = schedule::capacity(facts, *config);
  if (json_format(options.format)) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto &row : settings) {
      list.push_back({{"name", row.setting->name},
                      {"value", row.value},
                      {"origin", row.origin},
                      {"default", row.setting->default_text},
                      {"description", row.setting->description}});
    }
    nlohmann::json out{
        {"settings", list},
        {"measured",
         {{"cpus", facts.cpus},
          {"memory_bytes", facts.memory_bytes},
          {"disk_bytes", facts.disk_bytes}}},
        {"capacity",
         {{"cpus", capacity.cpus},
          {"memory_bytes", capacity.memory_bytes},
          {"disk_bytes", capacity.disk_bytes}}},
    };
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  std::vector<std::vector<std::string>> table;
  for (const auto &row : settings) {
    table.push_back({row.setting->name, readable(*row.setting, row.value), row.origin,
                     row.setting->description});
  }
  fmt::print("{}", format_table({"NAME", "VALUE", "FROM", "MEANING"}, table));
  fmt::print("\ncapacity for reservations: {}\n", schedule::format_resources(capacity));
  return 0;
}

int run_get(const Globals &globals, const ConfigOptions &options) {
  // Checks the name (with a did-you-mean) before touching the state file.
  const SettingInfo *setting = nullptr;
  for (const auto &s : schedule::settings()) {
    if (s.name == options.name) {
      setting = &s;
    }
  }
  if (setting == nullptr) {
    auto check = schedule::normalise_setting(options.name, "1");
    return report(globals, check ? Error{"no setting named " + options.name, {}, ExitCode::usage}
                                 : check.error());
  }
  auto loaded = load(globals);
  if (!loaded) {
    return report(globals, loaded.error());
  }
  for (const auto &row : loaded->rows) {
    if (row.setting == setting) {
      fmt::print("{}\n", row.value);
    }
  }
  return 0;
}

int run_set(const Globals &globals, const ConfigOptions &options) {
  auto value = schedule::normalise_setting(options.name, options.value);
  if (!value) {
    return report(globals, value.error());
  }
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  if (auto saved = (*store)->set_meta(schedule::setting_key(options.name), *value); !saved) {
    return report(globals, saved.error());
  }
  if (!globals.quiet) {
    fmt::print("{} = {}\n", options.name, *value);
  }
  // Admitted reservations stay admitted; a lower capacity only makes new ones harder to fit.
  return 0;
}

int run_unset(const Globals &globals, const ConfigOptions &options) {
  if (auto check = schedule::normalise_setting(options.name, "1");
      !check && check.error().message.rfind("no setting named", 0) == 0) {
    return report(globals, check.error());
  }
  auto store = open_store(globals);
  if (!store) {
    return report(globals, store.error());
  }
  // An unset setting is the absence of its row.
  auto removed = (*store)->delete_meta(schedule::setting_key(options.name));
  if (!removed) {
    return report(globals, removed.error());
  }
  if (!globals.quiet) {
    fmt::print("{} is back to its default\n", options.name);
  }
  return 0;
}

} // namespace

void add_config(CLI::App &app, Globals &globals, Registry &registry) {
  auto *config = app.add_subcommand("config", "Show or change the capacity settings");
  config->require_subcommand(1);
  config->footer("Settings live in the state file. Capacity for reservations = (cpus, memory, "
                 "disk: measured unless set) x the overcommit ratios. A lab's demand sums its "
                 "nodes' cpus and memory (container-cpus and container-memory when unset) and "
                 "VM disks.");

  auto list = std::make_shared<ConfigOptions>();
  auto *sub = config->add_subcommand("list", "Every setting, its value and the capacity");
  add_format_option(sub, list->format);
  registry.push_back({sub, [&globals, list] { return run_list(globals, *list); }});

  auto get = std::make_shared<ConfigOptions>();
  sub = config->add_subcommand("get", "Print one setting's value (sizes in bytes)");
  sub->add_option("name", get->name, "Setting")->required()->type_name("NAME");
  registry.push_back({sub, [&globals, get] { return run_get(globals, *get); }});

  auto set = std::make_shared<ConfigOptions>();
  sub = config->add_subcommand("set", "Change a setting");
  sub->add_option("name", set->name, "Setting")->required()->type_name("NAME");
  sub->add_option("value", set->value, "Value: a number, or a size like 16GiB")
      ->required()
      ->type_name("VALUE");
  sub->footer("Examples:\n  ltb config set cpu-overcommit 2\n  ltb config set memory 16GiB");
  registry.push_back({sub, [&globals, set] { return run_set(globals, *set); }});

  auto unset = std::make_shared<ConfigOptions>();
  sub = config->add_subcommand("unset", "Put a setting back to its default (or measured) value");
  sub->add_option("name", unset->name, "Setting")->required()->type_name("NAME");
  registry.push_back({sub, [&globals, unset] { return run_unset(globals, *unset); }});
}

} // namespace ltb::cli
