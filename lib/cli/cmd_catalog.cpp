// ltb catalog [--format table|json]
// ltb catalog show KIND|IMAGE [--format table|json]
#include "cli/catalog_json.hpp"
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "service/catalog.hpp"
#include "util/shell_split.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ltb::cli {

namespace {

struct CatalogOptions {
  std::string name;
  std::string format = "table";
};

std::string runtime_name(topology::Runtime runtime) {
  switch (runtime) {
  case topology::Runtime::container:
    return "container";
  case topology::Runtime::vm:
    return "vm";
  case topology::Runtime::ovs_bridge:
    return "ovs-bridge";
  case topology::Runtime::linux_bridge:
    return "linux-bridge";
  case topology::Runtime::host:
    return "host";
  case topology::Runtime::external:
    return "external";
  }
  return "container";
}

std::string join(const std::vector<std::string> &items, const char *separator = ",") {
  std::string text;
  for (const auto &item : items) {
    text += (text.empty() ? "" : separator) + item;
  }
  return text;
}

std::string or_dash(const std::string &text) {
  return text.empty() ? "-" : text;
}

nlohmann::json text_or_null(const std::string &text) {
  return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text);
}

/// The VERSION cell: the version, or what is wrong with the image.
std::string version_cell(const service::CatalogImage &image) {
  if (image.state != service::ImageState::present) {
    return fmt::format("({})", service::to_string(image.state));
  }
  return or_dash(image.version);
}

nlohmann::json demand_json(const schedule::Resources &demand) {
  return {{"cpus", demand.cpus},
          {"memory_bytes", demand.memory_bytes},
          {"disk_bytes", demand.disk_bytes}};
}

nlohmann::json image_json(const service::CatalogImage &image) {
  nlohmann::json out{{"name", image.name},
                     {"runtime", runtime_name(image.runtime)},
                     {"state", std::string(service::to_string(image.state))},
                     {"version", text_or_null(image.version)},
                     {"version_from", text_or_null(image.version_from)},
                     {"kinds", image.kinds},
                     {"labs", image.labs},
                     {"groups", image.groups},
                     {"listed_as", image.sources}};
  if (!image.problem.empty()) {
    out["problem"] = image.problem;
  }
  if (image.runtime == topology::Runtime::container) {
    out["id"] = text_or_null(image.id);
    out["size_bytes"] = image.size_bytes;
    out["created"] = text_or_null(image.created);
    out["labels"] = image.labels;
  } else {
    out["path"] = image.path;
    out["disk"] = text_or_null(image.disk);
    out["kernel"] = text_or_null(image.kernel);
  }
  return out;
}

nlohmann::json kind_json(const service::Catalog &catalog, const service::CatalogKind &entry) {
  const auto &kind = *entry.kind;
  nlohmann::json login = nullptr;
  if (!kind.username.empty()) {
    login = {{"user", std::string(kind.username)},
             {"password", text_or_null(std::string(kind.password))}};
  }
  nlohmann::json defaults = nullptr;
  for (const auto &row : catalog.rows) {
    if (row.kind == entry.kind) {
      defaults = demand_json(row.demand); // the first row: the kind's default image
      break;
    }
  }
  std::vector<std::string> command(kind.version_command.begin(), kind.version_command.end());
  nlohmann::json env = nlohmann::json::object();
  for (const auto &[name, value] : kind.env) {
    env[std::string(name)] = std::string(value);
  }
  nlohmann::json mounts = nlohmann::json::array();
  for (const auto &mount : kind.mounts) {
    mounts.push_back({{"dir", std::string(mount.dir)}, {"target", std::string(mount.target)}});
  }
  nlohmann::json aliases = nlohmann::json::array();
  for (const auto &alias : kind.interfaces.aliases) {
    aliases.push_back({{"pattern", std::string(alias.pattern)},
                       {"linux", std::string(alias.linux)},
                       {"add", alias.add}});
  }
  nlohmann::json interfaces = nullptr;
  if (!kind.interfaces.linux_pattern.empty()) {
    interfaces = {{"linux_pattern", std::string(kind.interfaces.linux_pattern)},
                  {"aliases", aliases},
                  {"help", std::string(kind.interfaces.help)}};
  }
  return {
      {"name", std::string(kind.name)},
      {"other_names", std::vector<std::string>(kind.other_names.begin(), kind.other_names.end())},
      {"env", env},
      {"cmd", text_or_null(std::string(kind.cmd))},
      {"entrypoint", text_or_null(std::string(kind.entrypoint))},
      {"mounts", mounts},
      {"sysctls", std::vector<std::string>(kind.sysctls.begin(), kind.sysctls.end())},
      {"exec", std::vector<std::string>(kind.exec.begin(), kind.exec.end())},
      {"readiness", text_or_null(std::string(kind.readiness))},
      {"interfaces", interfaces},
      {"vrnetlab", kind.vrnetlab},
      {"documentation", text_or_null(std::string(kind.documentation))},
      {"runtime", runtime_name(kind.runtime)},
      {"about", std::string(kind.about)},
      {"default_image", text_or_null(std::string(kind.default_image))},
      {"startup_config_path", text_or_null(std::string(kind.startup_config_path))},
      {"login", login},
      {"defaults", defaults},
      {"version_command", command},
      {"images", entry.images},
      {"labs", entry.labs},
      {"groups", entry.groups}};
}

nlohmann::json docker_json(const service::Catalog &catalog) {
  return {{"reachable", catalog.docker_problem.empty()},
          {"problem", text_or_null(catalog.docker_problem)}};
}

void note_docker(const Globals &globals, const service::Catalog &catalog) {
  if (!catalog.docker_problem.empty()) {
    print_notice(globals, fmt::format("notice: Docker is not reachable ({}); its images show as "
                                      "unknown",
                                      catalog.docker_problem));
  }
}

int run_catalog(const Globals &globals, const CatalogOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto read = service::read_catalog(session);
  if (!read) {
    return report(globals, read.error());
  }
  const auto &catalog = *read;
  if (json_format(options.format)) {
    fmt::print("{}\n", catalog_json(catalog).dump(2));
    return 0;
  }
  std::vector<std::vector<std::string>> table;
  for (const auto &row : catalog.rows) {
    const auto &kind = *row.kind;
    const auto *image = row.image ? &catalog.images[*row.image] : nullptr;
    const bool sized = !kind.demand.none;
    table.push_back(
        {std::string(kind.name), runtime_name(kind.runtime), image ? image->name : "-",
         image ? version_cell(*image) : "-", or_dash(join(row.groups)), topology::login_text(kind),
         sized ? schedule::format_cpus(row.demand.cpus) : "-",
         sized ? schedule::format_bytes(row.demand.memory_bytes) : "-",
         sized && row.demand.disk_bytes > 0 ? schedule::format_bytes(row.demand.disk_bytes) : "-",
         or_dash(join(row.labs))});
  }
  fmt::print("{}", format_table({"KIND", "RUNTIME", "IMAGE", "VERSION", "GROUPS", "LOGIN", "CPUS",
                                 "MEMORY", "DISK", "LABS"},
                                table));
  note_docker(globals, catalog);
  return 0;
}

void print_kind(const service::Catalog &catalog, const service::CatalogKind &entry) {
  const auto &kind = *entry.kind;
  fmt::print("kind:            {}\n", kind.name);
  fmt::print("about:           {}\n", kind.about);
  fmt::print("runtime:         {}\n", kind.runtime_text);
  if (!kind.other_names.empty()) {
    fmt::print(
        "also named:      {}\n",
        join(std::vector<std::string>(kind.other_names.begin(), kind.other_names.end()), ", "));
  }
  if (!kind.interfaces.linux_pattern.empty()) {
    fmt::print("interfaces:      {}\n", kind.interfaces.help);
  }
  if (!kind.readiness.empty()) {
    fmt::print("ready when:      {}\n", kind.readiness);
  }
  if (!kind.documentation.empty()) {
    fmt::print("containerlab:    {}\n", kind.documentation);
  }
  fmt::print("default image:   {}\n", kind.default_image.empty() ? "-" : kind.default_image);
  fmt::print("login:           {}\n", topology::login_text(kind));
  fmt::print("startup config:  {}\n",
             kind.startup_config_path.empty() ? "-" : kind.startup_config_path);
  for (const auto &row : catalog.rows) {
    if (row.kind == entry.kind) {
      fmt::print("demand:          {}\n",
                 kind.demand.none ? std::string("none") : schedule::format_resources(row.demand));
      break;
    }
  }
  std::vector<std::string> command(kind.version_command.begin(), kind.version_command.end());
  fmt::print("version from:    {}\n", command.empty() ? "-" : util::shell_join(command));
  std::vector<std::string> images;
  for (const auto &name : entry.images) {
    const auto *image = catalog.find_image(name);
    images.push_back(image ? fmt::format("{} ({})", name, version_cell(*image)) : name);
  }
  fmt::print("images:          {}\n", images.empty() ? "-" : join(images, ", "));
  fmt::print("labs:            {}\n", or_dash(join(entry.labs, ", ")));
  fmt::print("groups:          {}\n", or_dash(join(entry.groups, ", ")));
}

void print_image(const service::CatalogImage &image) {
  fmt::print("image:           {}\n", image.name);
  fmt::print("runtime:         {}\n", runtime_name(image.runtime));
  fmt::print("state:           {}\n", service::to_string(image.state));
  if (!image.problem.empty()) {
    fmt::print("problem:         {}\n", image.problem);
  }
  fmt::print(
      "version:         {}\n",
      image.version.empty() ? "-" : fmt::format("{} (from {})", image.version, image.version_from));
  if (image.runtime == topology::Runtime::container) {
    fmt::print("id:              {}\n", or_dash(image.id));
    fmt::print("size:            {}\n",
               image.size_bytes > 0 ? schedule::format_bytes(image.size_bytes) : "-");
    fmt::print("created:         {}\n", or_dash(image.created));
  } else {
    fmt::print("path:            {}\n", or_dash(image.path));
    fmt::print("boots:           {}\n", !image.disk.empty()     ? "disk " + image.disk
                                        : !image.kernel.empty() ? "kernel " + image.kernel
                                                                : std::string("-"));
  }
  fmt::print("kinds:           {}\n", or_dash(join(image.kinds, ", ")));
  fmt::print("labs:            {}\n", or_dash(join(image.labs, ", ")));
  fmt::print("groups:          {}\n", or_dash(join(image.groups, ", ")));
  fmt::print("listed as:       {}\n", or_dash(join(image.sources, "; ")));
  if (!image.labels.empty()) {
    fmt::print("labels:\n");
    for (const auto &[key, value] : image.labels) {
      fmt::print("  {}={}\n", key, value);
    }
  }
}

int run_show(const Globals &globals, const CatalogOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto read = service::read_catalog(session);
  if (!read) {
    return report(globals, read.error());
  }
  auto found = service::find_in_catalog(std::move(*read), options.name);
  if (!found) {
    return report(globals, found.error());
  }
  const auto &catalog = found->catalog;
  if (json_format(options.format)) {
    fmt::print("{}\n", catalog_entry_json(*found).dump(2));
    return 0;
  }
  if (found->kind) {
    print_kind(catalog, catalog.kinds[*found->kind]);
  }
  if (found->image) {
    if (found->kind) {
      fmt::print("\n");
    }
    print_image(catalog.images[*found->image]);
  }
  note_docker(globals, catalog);
  return 0;
}

} // namespace

nlohmann::json catalog_json(const service::Catalog &catalog) {
  nlohmann::json kinds = nlohmann::json::array();
  for (const auto &kind : catalog.kinds) {
    kinds.push_back(kind_json(catalog, kind));
  }
  nlohmann::json images = nlohmann::json::array();
  for (const auto &image : catalog.images) {
    images.push_back(image_json(image));
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const auto &row : catalog.rows) {
    const auto *image = row.image ? &catalog.images[*row.image] : nullptr;
    rows.push_back({{"kind", std::string(row.kind->name)},
                    {"runtime", runtime_name(row.kind->runtime)},
                    {"image", image ? nlohmann::json(image->name) : nlohmann::json(nullptr)},
                    {"version", image ? text_or_null(image->version) : nullptr},
                    {"state", image ? nlohmann::json(std::string(to_string(image->state)))
                                    : nlohmann::json(nullptr)},
                    {"defaults", demand_json(row.demand)},
                    {"labs", row.labs},
                    {"groups", row.groups}});
  }
  return {{"kinds", kinds}, {"images", images}, {"rows", rows}, {"docker", docker_json(catalog)}};
}

nlohmann::json catalog_entry_json(const service::CatalogEntry &entry) {
  const auto &catalog = entry.catalog;
  nlohmann::json out = nlohmann::json::object();
  if (entry.kind) {
    out["kind"] = kind_json(catalog, catalog.kinds[*entry.kind]);
  }
  if (entry.image) {
    out["image"] = image_json(catalog.images[*entry.image]);
  }
  out["docker"] = docker_json(catalog);
  return out;
}

void add_catalog(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<CatalogOptions>();
  auto *catalog = app.add_subcommand(
      "catalog", "List the kinds and images ltb can deploy, their versions and who uses them");
  add_format_option(catalog, options->format);
  catalog->footer(
      "Images: the kinds' defaults, those `make images` built (label ltb.recipe), those recorded "
      "labs use, and the VM images in $LTB_IMAGES. Versions come from the label "
      "org.opencontainers.image.version, or a VM image's image.json.\n"
      "Examples:\n  ltb catalog\n  ltb catalog show frr\n  ltb catalog --format json | jq "
      ".images");

  auto show = std::make_shared<CatalogOptions>();
  auto *sub = catalog->add_subcommand("show", "Show one kind or image in detail");
  sub->add_option("name", show->name, "A kind (frr) or an image (ltb/frr, ltb-vm)")
      ->required()
      ->type_name("KIND|IMAGE");
  add_format_option(sub, show->format);
  // The subcommand first: the parent counts as parsed too when `show` runs.
  registry.push_back({sub, [&globals, show] { return run_show(globals, *show); }});
  registry.push_back({catalog, [&globals, options] { return run_catalog(globals, *options); }});
}

} // namespace ltb::cli
