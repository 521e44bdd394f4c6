// ltb version
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/context.hpp"

namespace ltb::cli {

namespace {

struct VersionOptions {
  std::string format = "table";
};

int run_version(const Globals &, const VersionOptions &options) {
  std::string docker = "not reachable";
  if (auto client = runtime::connect_docker()) {
    if (auto version = (*client)->server_version()) {
      docker = *version;
    }
  }
  std::string ovs = "not reachable";
  if (auto version = net::make_ovs()->version()) {
    ovs = *version;
  }
  std::string libvirt = "not reachable";
  if (auto client = runtime::connect_libvirt()) {
    if (auto version = (*client)->version()) {
      libvirt = *version;
    }
  }
  if (json_format(options.format)) {
    fmt::print("{}\n", nlohmann::json{{"ltb", LTB_VERSION},
                                      {"docker", docker},
                                      {"openvswitch", ovs},
                                      {"libvirt", libvirt}}
                           .dump(2));
    return 0;
  }
  fmt::print("ltb {}\ndocker:      {}\nopenvswitch: {}\nlibvirt:     {}\n", LTB_VERSION, docker,
             ovs, libvirt);
  return 0;
}

} // namespace

void add_version(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<VersionOptions>();
  auto *sub = app.add_subcommand("version", "Print ltb's version and those of the services it uses");
  add_format_option(sub, options->format);
  sub->footer("Example:\n  ltb version");
  registry.push_back({sub, [&globals, options] { return run_version(globals, *options); }});
}

} // namespace ltb::cli
