// ltb version
#include "cli/context.hpp"
#include "service/version.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ltb::cli {

namespace {

struct VersionOptions {
  std::string format = "table";
};

int run_version(const Globals &, const VersionOptions &options) {
  auto found = service::versions();
  if (json_format(options.format)) {
    fmt::print("{}\n", nlohmann::json{{"ltb", found.ltb},
                                      {"docker", found.docker},
                                      {"openvswitch", found.openvswitch},
                                      {"libvirt", found.libvirt}}
                           .dump(2));
    return 0;
  }
  fmt::print("ltb {}\ndocker:      {}\nopenvswitch: {}\nlibvirt:     {}\n", found.ltb, found.docker,
             found.openvswitch, found.libvirt);
  return 0;
}

} // namespace

void add_version(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<VersionOptions>();
  auto *sub =
      app.add_subcommand("version", "Print ltb's version and those of the services it uses");
  add_format_option(sub, options->format);
  sub->footer("Example:\n  ltb version");
  registry.push_back({sub, [&globals, options] { return run_version(globals, *options); }});
}

} // namespace ltb::cli
