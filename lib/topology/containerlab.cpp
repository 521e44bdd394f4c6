// containerlab's topology features as data, the report of the ones a file uses, and finding a
// containerlab file in a directory. The rows follow containerlab's documentation
// (https://containerlab.dev/manual/topo-def-file/, /manual/nodes/, /manual/kinds/); a row's
// support changes when ltb learns the feature.

#include "topology/containerlab.hpp"

#include "topology/detail.hpp"
#include "topology/expand.hpp"
#include "topology/kinds.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fmt/format.h>
#include <regex>
#include <tuple>

namespace ltb::topology {

namespace {

constexpr std::string_view k_topo = "https://containerlab.dev/manual/topo-def-file/";
constexpr std::string_view k_nodes = "https://containerlab.dev/manual/nodes/";
constexpr std::string_view k_network = "https://containerlab.dev/manual/network/";
constexpr std::string_view k_kinds = "https://containerlab.dev/manual/kinds/";

using S = Support;

// The table. Keep one row per feature a user would name; a key that only means something
// together with another goes in that one's row.
// clang-format off
const std::vector<ClabFeature> k_features{
    // --- the file ---
    {"name", "lab name (name)", S::yes, "", k_topo, {"/name"}},
    {"prefix", "container name prefix (prefix)", S::yes,
     "<prefix>-<lab>-<node>; without it ltb's ltb-<lab>-<node>", k_topo, {"/prefix"}},
    {"env-vars", "environment variables in the file (${VAR}, ${VAR:=default})", S::yes,
     "expanded from ltb's environment, as containerlab does", k_topo, {}, "env"},
    {"magic-vars", "magic variables (__clabNodeName__, __clabDir__, ...)", S::unsupported,
     "write the values out", k_topo, {}, "magic"},
    {"go-template", "generated topologies (Go templates, {{ ... }})", S::unsupported,
     "render the template with containerlab (--vars) and give ltb the result", k_topo, {},
     "template"},
    // --- management network ---
    {"mgmt-network", "management network name (mgmt.network)", S::yes,
     "an existing network is joined and never changed or removed; a missing one is made by "
     "ltb and removed with the lab", k_network, {"/mgmt/network"}},
    {"mgmt-network-docker", "Docker's default network as management network (mgmt.network: "
     "bridge)", S::yes, "Docker gives the addresses (no mgmt-ipv4)", k_network,
     {"/mgmt/network =bridge"}},
    {"mgmt-network-mode", "Docker's host or none as management network (mgmt.network: host)",
     S::unsupported, "give the nodes network-mode: host (or none) instead", k_network,
     {"/mgmt/network =host", "/mgmt/network =none"}},
    {"mgmt-ipv4-subnet", "management IPv4 subnet (mgmt.ipv4-subnet)", S::yes, "", k_network,
     {"/mgmt/ipv4-subnet"}},
    {"mgmt-ipv4-gw", "management IPv4 gateway (mgmt.ipv4-gw)", S::yes,
     "only the subnet's first host address, which is ltb's gateway", k_network,
     {"/mgmt/ipv4-gw"}},
    {"mgmt-ipv4-range", "dynamic address range (mgmt.ipv4-range)", S::unsupported,
     "set mgmt-ipv4 on the nodes whose address matters", k_network, {"/mgmt/ipv4-range"}},
    {"mgmt-ipv6", "dual-stack management (mgmt.ipv6-subnet, ipv6-gw, node mgmt-ipv6)", S::yes,
     "default subnet 3fff:172:20:20::/64 when only nodes set mgmt-ipv6", k_network,
     {"/mgmt/ipv6-subnet", "/mgmt/ipv6-gw", "@node/mgmt-ipv6"}},
    {"mgmt-ipv6-range", "dynamic IPv6 address range (mgmt.ipv6-range)", S::ignored,
     "Docker gives dynamic addresses from the whole mgmt.ipv6-subnet", k_network,
     {"/mgmt/ipv6-range"}},
    {"mgmt-mtu", "management network MTU (mgmt.mtu)", S::unsupported,
     "set the MTU inside the nodes with exec", k_network, {"/mgmt/mtu"}},
    {"mgmt-bridge", "management bridge name (mgmt.bridge)", S::ignored,
     "ltb names the bridge itself", k_network, {"/mgmt/bridge"}},
    {"mgmt-driver", "management network driver (mgmt.driver)", S::yes, "bridge only", k_network,
     {"/mgmt/driver"}},
    {"mgmt-external-access", "management network reachable from outside (mgmt.external-access)",
     S::yes, "", k_network, {"/mgmt/external-access"}},
    {"certificate-authority", "lab certificate authority (settings.certificate-authority)",
     S::ignored, "", "https://containerlab.dev/manual/cert/",
     {"/settings/certificate-authority"}},
    // --- inheritance ---
    {"defaults", "defaults for every node (topology.defaults)", S::yes, "", k_topo,
     {"/topology/defaults"}},
    {"kinds", "fields per kind (topology.kinds)", S::yes, "", k_topo, {"/topology/kinds"}},
    {"groups", "groups of fields (topology.groups, node group)", S::yes, "", k_topo,
     {"/topology/groups", "/topology/nodes/*/group"}},
    {"group-default", "group in topology.defaults or a kind", S::yes, "", k_topo,
     {"/topology/defaults/group", "/topology/kinds/*/group"}},
    {"empty-node", "a node written as an empty key (node1:)", S::yes, "an empty map", k_topo,
     {"/topology/nodes/* !"}},
    // --- kinds ---
    {"kind-known", "kinds ltb has (linux, bridge, host, ext-container, ovs-bridge, ...)", S::yes,
     "", k_kinds,
     {"@node/kind +registry"}},
    {"kind-vendor", "vendor container kinds (nokia_srlinux/srl, arista_ceos/ceos, "
     "juniper_crpd/crpd, sonic-vs)", S::yes,
     "each kind's environment, command, directories, sysctls, readiness and login; interface "
     "aliases (ethernet-1/1) are Linux names (e1-1)", k_kinds,
     {"@node/kind %vendor"}},
    {"kind-vrnetlab", "vrnetlab kinds (nokia_sros/vr-sros, juniper_vmx/vr-vmx, "
     "cisco_xrv9k/vr-xrv9k, arista_veos/vr-veos)", S::yes,
     "run as ltb's VMs from the qcow2 disk given as image (a container image is an error); "
     "aliases such as 1/1/1 are eth1", "https://containerlab.dev/manual/vrnetlab/",
     {"@node/kind &vrnetlab"}},
    {"kind-unknown", "kinds ltb does not have (other vendor network OSes, ...)",
     S::unsupported, "ltb-topology(5) lists the kinds ltb has", k_kinds,
     {"@node/kind ?registry"}},
    // --- nodes ---
    {"image", "image", S::yes, "", k_nodes, {"@node/image"}},
    {"cmd", "command (cmd, entrypoint)", S::yes, "", k_nodes, {"@node/cmd", "@node/entrypoint"}},
    {"env", "environment (env)", S::yes, "", k_nodes, {"@node/env"}},
    {"env-files", "environment files (env-files)", S::yes, "", k_nodes, {"@node/env-files"}},
    {"labels", "labels", S::yes, "", k_nodes, {"@node/labels"}},
    {"binds", "bind mounts (binds)", S::yes, "", k_nodes, {"@node/binds"}},
    {"exec", "commands run after deployment (exec)", S::yes,
     "a failing one is reported and the rest goes on (settings.exec-failures)", k_nodes,
     {"@node/exec"}},
    {"startup-config", "startup configuration (startup-config)", S::yes, "", k_nodes,
     {"@node/startup-config"}},
    {"mgmt-ipv4", "fixed management address (mgmt-ipv4)", S::yes,
     "without mgmt.ipv4-subnet: containerlab's default 172.20.20.0/24", k_nodes,
     {"@node/mgmt-ipv4"}},
    {"resources", "CPU and memory limits (cpu, memory)", S::yes, "", k_nodes,
     {"@node/cpu", "@node/memory"}},
    {"cpu-set", "CPU pinning (cpu-set)", S::unsupported, "use cpu", k_nodes, {"@node/cpu-set"}},
    {"ports", "published ports (ports)", S::yes,
     "Docker's with external access, else a docker-proxy per port", k_nodes, {"@node/ports"}},
    {"network-mode", "network mode (network-mode)", S::yes, "host, none, container:NAME", k_nodes,
     {"@node/network-mode"}},
    {"healthcheck", "health check (healthcheck)", S::yes, "ltb status shows the health", k_nodes,
     {"@node/healthcheck"}},
    {"dns", "DNS servers (dns)", S::yes, "", k_nodes, {"@node/dns"}},
    {"sysctls", "sysctls", S::yes, "", k_nodes, {"@node/sysctls"}},
    {"cap-add", "extra capabilities (cap-add)", S::yes, "", k_nodes, {"@node/cap-add"}},
    {"devices", "host devices (devices)", S::yes, "", k_nodes, {"@node/devices"}},
    {"shm-size", "shared memory size (shm-size)", S::yes, "", k_nodes, {"@node/shm-size"}},
    {"stages", "stages (wait-for) and startup-delay", S::yes,
     "create and configure stages order the nodes; healthy waits for the health check", k_nodes,
     {"@node/stages", "@node/startup-delay"}},
    {"wait-for", "wait-for directly on a node (an older form)", S::ignored,
     "write stages.create.wait-for", k_nodes, {"@node/wait-for"}},
    {"user", "user the container runs as (user)", S::unsupported, "set USER in the image",
     k_nodes, {"@node/user"}},
    {"aliases", "network aliases (aliases)", S::unsupported, "use the node's name", k_nodes,
     {"@node/aliases"}},
    {"restart-policy", "restart policy, auto-remove", S::unsupported,
     "ltb starts and stops nodes itself", k_nodes,
     {"@node/restart-policy", "@node/auto-remove"}},
    {"publish", "publishing through a tunnel (publish)", S::unsupported, "", k_nodes,
     {"@node/publish"}},
    {"runtime", "container runtime (runtime)", S::yes, "docker only", k_nodes,
     {"@node/runtime"}},
    {"vendor-fields",
     "fields for vendor kinds (type, license, extras, components, config, certificate, "
     "sandbox, enforce-startup-config, suppress-startup-config)",
     S::ignored, "no effect on ltb's kinds", k_nodes,
     {"@node/type", "@node/license", "@node/extras", "@node/components", "@node/config",
      "@node/certificate", "@node/sandbox", "@node/enforce-startup-config",
      "@node/suppress-startup-config"}},
    {"other-node-keys",
     "node keys ltb does not know (hostname, volumes, privileged, pid-mode, cgroupns-mode, "
     "cgroup-parent, tmpfs, security-opts, credentials, identity-file, link-apply-mode)",
     S::unsupported, "each is an unknown key: remove it", k_nodes,
     {"@node/hostname", "@node/volumes", "@node/privileged", "@node/pid-mode",
      "@node/cgroupns-mode", "@node/cgroup-parent", "@node/tmpfs", "@node/security-opts",
      "@node/credentials", "@node/identity-file", "@node/link-apply-mode"}},
    {"image-pull-policy", "image pull policy (image-pull-policy)", S::ignored,
     "ltb pulls an image that is missing", k_nodes, {"@node/image-pull-policy"}},
    {"position", "position in graphs (position)", S::ignored, "", k_nodes, {"@node/position"}},
    // --- links ---
    {"link-brief", "links in the brief form (endpoints: [\"a:eth1\", \"b:eth1\"])", S::yes, "",
     k_topo, {"/topology/links/*/endpoints/* ^"}},
    {"link-veth", "extended links of type veth", S::yes, "", k_topo,
     {"/topology/links/*/type =veth"}},
    {"link-host-types", "extended links of types host and mgmt-net (endpoint, host-interface)",
     S::yes, "a veth whose other end is in the host's namespace (mgmt-net: a port of the "
     "management bridge)", k_topo,
     {"/topology/links/*/type =host", "/topology/links/*/type =mgmt-net"}},
    {"link-macvlan", "extended links of type macvlan (endpoint, host-interface, mode)", S::yes,
     "a macvlan interface in the node on an existing host interface (mode bridge by default)",
     k_topo, {"/topology/links/*/type =macvlan"}},
    {"link-dummy", "extended links of type dummy (endpoint)", S::yes,
     "a dummy interface in the node", k_topo, {"/topology/links/*/type =dummy"}},
    {"link-vxlan", "extended links of type vxlan (endpoint, remote, vni, dst-port, src-port)",
     S::yes, "a VXLAN interface in the node, its tunnel in the host's namespace (dst-port "
     "14789 by default); remote is an address, not a host name", k_topo,
     {"/topology/links/*/type =vxlan"}},
    {"link-vxlan-stitch", "extended links of type vxlan-stitch (endpoint, remote, vni, ...)",
     S::yes, "a VXLAN interface in the host's namespace joined by tc redirects to a veth into "
     "the node", k_topo, {"/topology/links/*/type =vxlan-stitch"}},
    {"link-host-endpoint", "host:IFACE and mgmt-net:IFACE endpoints", S::yes,
     "a veth whose other end is IFACE in the host's namespace (mgmt-net: a port of the "
     "management bridge)", k_topo,
     {"/topology/links/*/endpoints/* ^host:", "/topology/links/*/endpoints/* ^mgmt-net:"}},
    {"link-macvlan-endpoint", "macvlan:IFACE endpoints", S::yes,
     "a macvlan interface (mode bridge) in the node on host interface IFACE", k_topo,
     {"/topology/links/*/endpoints/* ^macvlan:"}},
    {"link-mtu", "link MTU (mtu)", S::yes, "", k_topo, {"/topology/links/*/mtu"}},
    {"link-mac", "interface MAC address of veth ends (endpoints' mac)", S::ignored, "", k_topo,
     {"/topology/links/*/endpoints/*/mac"}},
    {"link-endpoint-mac", "interface MAC address of a single endpoint (endpoint mac)", S::yes,
     "set on the node's interface of macvlan, dummy, vxlan and vxlan-stitch links; ignored "
     "(with a warning) on host and mgmt-net links", k_topo,
     {"/topology/links/*/endpoint/mac"}},
    {"link-vars", "link variables and labels (vars, labels)", S::ignored, "", k_topo,
     {"/topology/links/*/vars", "/topology/links/*/labels"}},
};
// clang-format on

/// The places of node fields, for "@node".
constexpr std::array<std::string_view, 4> k_node_levels{"/topology/defaults", "/topology/kinds/*",
                                                        "/topology/groups/*", "/topology/nodes/*"};

struct Pattern {
  std::vector<std::string> tokens;
  char condition = 0; // 0, '=', '^', '!', '?', '+' (not a vendor's), '%' (vendor), '&' (vrnetlab)
  std::string operand;
};

std::vector<Pattern> patterns_of(std::string_view written) {
  std::string path(written);
  Pattern base;
  if (const auto space = path.find(' '); space != std::string::npos) {
    const std::string condition = path.substr(space + 1);
    path.erase(space);
    if (!condition.empty()) {
      base.condition = condition[0];
      base.operand = condition.substr(1);
    }
  }
  std::vector<std::string> paths;
  if (path.rfind("@node", 0) == 0) {
    for (auto level : k_node_levels) {
      paths.push_back(std::string(level) + path.substr(5));
    }
  } else {
    paths.push_back(path);
  }
  std::vector<Pattern> out;
  for (const auto &p : paths) {
    Pattern pattern = base;
    pattern.tokens = detail::pointer_tokens(p);
    out.push_back(std::move(pattern));
  }
  return out;
}

bool condition_holds(const Pattern &pattern, const detail::Json &value) {
  switch (pattern.condition) {
  case 0:
    return true;
  case '=':
    return value.is_string() && value.get<std::string>() == pattern.operand;
  case '^':
    return value.is_string() && value.get<std::string>().rfind(pattern.operand, 0) == 0;
  case '!':
    return value.is_null();
  case '?':
    return value.is_string() && find_kind(value.get<std::string>()) == nullptr;
  case '+':
  case '%':
  case '&': {
    const Kind *kind = value.is_string() ? find_kind(value.get<std::string>()) : nullptr;
    if (!kind) {
      return false;
    }
    if (pattern.condition == '+') {
      return !is_vendor_kind(*kind);
    }
    return is_vendor_kind(*kind) && kind->vrnetlab == (pattern.condition == '&');
  }
  default:
    return false;
  }
}

void match(const detail::YamlTree &tree, const detail::Json &value, const std::string &pointer,
           const Pattern &pattern, std::size_t depth, std::vector<std::string> &out) {
  if (depth == pattern.tokens.size()) {
    if (condition_holds(pattern, value)) {
      out.push_back(pointer);
    }
    return;
  }
  const std::string &token = pattern.tokens[depth];
  if (value.is_object()) {
    for (const auto &[key, child] : value.items()) {
      if (token == "*" || token == key) {
        match(tree, child, detail::pointer_append(pointer, key), pattern, depth + 1, out);
      }
    }
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (token == "*" || token == std::to_string(i)) {
        match(tree, value[i], detail::pointer_append(pointer, i), pattern, depth + 1, out);
      }
    }
  }
}

/// Where the text itself uses a feature: the first place of each use.
std::vector<SourceLoc> text_places(std::string_view check, const std::string &text,
                                   const Expansion &expansion) {
  std::vector<SourceLoc> places;
  auto loc_of = [&](std::size_t offset) {
    const auto &lines = expansion.in_lines;
    const auto line = std::upper_bound(lines.begin(), lines.end(), offset) - lines.begin();
    return SourceLoc{static_cast<int>(line),
                     static_cast<int>(offset - lines[static_cast<std::size_t>(line) - 1] + 1)};
  };
  if (check == "env") {
    for (const auto &segment : expansion.segments) {
      if (!segment.literal) {
        places.push_back(loc_of(segment.in));
      }
    }
    if (places.empty() && expansion.used) {
      places.push_back({});
    }
  } else if (check == "template") {
    for (std::size_t at = text.find("{{"); at != std::string::npos; at = text.find("{{", at + 2)) {
      places.push_back(loc_of(at));
    }
  } else if (check == "magic") {
    static const std::regex k_magic("__(clab[A-Za-z]+|git(Branch|Hash))__");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), k_magic);
         it != std::sregex_iterator(); ++it) {
      places.push_back(loc_of(static_cast<std::size_t>(it->position())));
    }
  }
  return places;
}

} // namespace

std::string_view support_name(Support support) {
  switch (support) {
  case Support::yes:
    return "yes";
  case Support::ignored:
    return "ignored";
  case Support::unsupported:
    return "no";
  }
  return "no";
}

const std::vector<ClabFeature> &containerlab_features() {
  return k_features;
}

bool ClabReport::all_supported() const {
  return parsed && std::all_of(used.begin(), used.end(), [](const FeatureUse &use) {
           return use.feature->support != Support::unsupported;
         });
}

ClabReport containerlab_report(const std::string &text, const std::string &file) {
  ClabReport report;
  report.problems.source_text = text;
  const Expansion expansion = expand_environment(text, file, process_environment());
  detail::Reporter reporter(file, report.problems.items);
  detail::YamlTree tree = detail::parse_yaml(expansion.text, reporter);
  for (auto &item : report.problems.items) {
    item.loc = expansion.original(item.loc);
  }
  if (!tree.parsed) {
    return report;
  }
  report.parsed = true;
  for (const auto &feature : k_features) {
    FeatureUse use{&feature, {}};
    if (!feature.text_check.empty()) {
      use.places = text_places(feature.text_check, text, expansion);
    }
    std::vector<std::string> pointers;
    for (auto written : feature.patterns) {
      for (const auto &pattern : patterns_of(written)) {
        match(tree, tree.root, "", pattern, 0, pointers);
      }
    }
    for (const auto &pointer : pointers) {
      use.places.push_back(expansion.original(detail::key_loc(tree, pointer)));
    }
    std::sort(use.places.begin(), use.places.end(), [](SourceLoc a, SourceLoc b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    if (!use.places.empty()) {
      report.used.push_back(std::move(use));
    }
  }
  return report;
}

Result<std::string> find_topology_file(const std::string &argument) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!argument.empty() && !fs::is_directory(argument, ec)) {
    return argument;
  }
  const fs::path dir = argument.empty() ? fs::path(".") : fs::path(argument);
  // containerlab's glob, *.clab.y*ml: .clab.yml and .clab.yaml.
  static const std::regex k_clab_name(R"(.+\.clab\.y.*ml)");
  std::vector<std::string> found;
  for (const auto &entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, k_clab_name) && !entry.is_directory(ec)) {
      found.push_back(name);
    }
  }
  std::sort(found.begin(), found.end());
  const std::string where =
      argument.empty() ? std::string("the current directory") : fmt::format("'{}'", argument);
  if (found.empty()) {
    return tl::unexpected(
        Error{fmt::format("no topology file given, and none named *.clab.yml or *.clab.yaml in {}",
                          where),
              "give the topology FILE, or run the command where one lab's .clab.yml file is",
              ExitCode::usage});
  }
  if (found.size() > 1) {
    std::string names;
    for (const auto &name : found) {
      names += (names.empty() ? "" : ", ") + name;
    }
    return tl::unexpected(Error{fmt::format("{} files named *.clab.yml or *.clab.yaml in {}: {}",
                                            found.size(), where, names),
                                "say which one: give the topology FILE", ExitCode::usage});
  }
  return argument.empty() ? found.front() : (dir / found.front()).string();
}

} // namespace ltb::topology
