// The topology loader from bytes: YAML text -> model or diagnostics, then what is made from
// either (the rendered diagnostics with their carets; on success the access files and logins.json
// read back). The lab is confined to an empty directory of its own, so no input can make the
// loader read a file of the host (a startup-config of /proc/kcore, an env-file of /dev/zero):
// only the two small files put there.

#include "access/access_files.hpp"
#include "state/store.hpp"
#include "topology/diagnostics.hpp"
#include "topology/loader.hpp"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

std::string base_dir() {
  static const std::string dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "ltb-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::abort();
    }
    std::ofstream(pattern + "/r1.cfg") << "hostname r1\n";
    std::ofstream(pattern + "/lab.env") << "# comment\nA=1\nexport B=\"two\"\n";
    return pattern;
  }();
  return dir;
}

// Fixed variables, so that a run does not depend on the fuzzing machine's environment.
std::optional<std::string> environment(std::string_view name) {
  static const std::map<std::string, std::string, std::less<>> k_vars = {
      {"HOME", "/root"}, {"USER", "root"}, {"IMAGE", "ltb/frr:latest"}, {"EMPTY", ""}};
  if (auto it = k_vars.find(name); it != k_vars.end()) {
    return it->second;
  }
  return std::nullopt;
}

void check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace ltb;
  const std::string text(reinterpret_cast<const char *>(data), size);
  topology::Diagnostics warnings;
  topology::LoadOptions options;
  options.confined = true;
  options.warnings = &warnings;
  options.environment = environment;
  const std::string dir = base_dir();
  auto loaded = topology::load_text(text, dir + "/lab.yaml", dir, options);
  if (!loaded) {
    // A failed load says why.
    check(loaded.error().has_errors());
    const std::string rendered = topology::render(loaded.error(), true);
    check(!rendered.empty());
    return 0;
  }
  (void)topology::render(warnings, false);
  const topology::Topology &lab = *loaded;
  std::vector<state::NodeRecord> records;
  int host = 2;
  for (const auto &node : lab.nodes) {
    state::NodeRecord record;
    record.lab = lab.name;
    record.name = node.name;
    record.kind = node.kind;
    record.mgmt_ipv4 = "172.20.20." + std::to_string(host++ % 250 + 2);
    record.runtime_id = "id-" + node.name;
    records.push_back(record);
  }
  const auto access = access::lab_access(lab, records, dir + "/lab", "ltb-fuzz", "172.20.20.0/24");
  (void)access::ssh_config_text(access);
  (void)access::inventory_text(access);
  (void)access::topology_data_text(access);
  // logins.json reads back as written: every workload's login, nothing else.
  const auto logins = access::parse_logins(access::logins_text(lab));
  for (const auto &node : lab.nodes) {
    const auto it = logins.find(node.name);
    if (!topology::is_workload(node.runtime)) {
      check(it == logins.end());
      continue;
    }
    check(it != logins.end() && it->second.username == node.username &&
          it->second.password == node.password && it->second.ssh_key == node.ssh_key);
  }
  return 0;
}
