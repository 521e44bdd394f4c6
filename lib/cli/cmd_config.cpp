// ltb config list|get|set|unset: the capacity settings kept in the state file
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "schedule/capacity.hpp"
#include "service/config.hpp"

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

int run_list(const Globals &globals, const ConfigOptions &options) {
  CliSession config(globals);
  auto view = service::read_config(config.session, true);
  if (!view) {
    return report(globals, view.error());
  }
  const auto &facts = view->facts;
  const auto &capacity = view->capacity;
  if (json_format(options.format)) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto &row : view->settings) {
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
  for (const auto &row : view->settings) {
    table.push_back({row.setting->name, readable(*row.setting, row.value), row.origin,
                     row.setting->description});
  }
  fmt::print("{}", format_table({"NAME", "VALUE", "FROM", "MEANING"}, table));
  fmt::print("\ncapacity for reservations: {}\n", schedule::format_resources(capacity));
  return 0;
}

int run_get(const Globals &globals, const ConfigOptions &options) {
  CliSession config(globals);
  auto value = service::config_get(config.session, options.name);
  if (!value) {
    return report(globals, value.error());
  }
  fmt::print("{}\n", *value);
  return 0;
}

int run_set(const Globals &globals, const ConfigOptions &options) {
  CliSession config(globals);
  auto value = service::config_set(config.session, options.name, options.value);
  if (!value) {
    return report(globals, value.error());
  }
  if (!globals.quiet) {
    fmt::print("{} = {}\n", options.name, *value);
  }
  return 0;
}

int run_unset(const Globals &globals, const ConfigOptions &options) {
  CliSession config(globals);
  if (auto removed = service::config_unset(config.session, options.name); !removed) {
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
