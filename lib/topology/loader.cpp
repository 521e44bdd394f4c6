// Loading a topology: YAML -> JSON tree with positions -> schema -> the checks a schema cannot
// express (references between parts of the file, addresses, names Linux refuses) -> the model with
// inheritance resolved. Every stage runs even when an earlier one found errors, so that one run
// reports every problem; later stages skip values an earlier stage already reported.

#include "topology/loader.hpp"

#include "topology/detail.hpp"
#include "topology/expand.hpp"
#include "topology/kinds.hpp"
#include "topology/vm_image.hpp"
#include "util/hash.hpp"
#include "util/ipv6.hpp"
#include "util/size.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace ltb::topology {

namespace {

namespace fs = std::filesystem;
using detail::Json;
using detail::pointer_append;
using detail::Reporter;
using detail::SchemaChecker;
using detail::YamlTree;

constexpr std::size_t k_max_ifname = 15; // IFNAMSIZ - 1
constexpr int k_min_mgmt_prefix = 16;
constexpr int k_max_mgmt_prefix = 29;
/// containerlab's default management network, 172.20.20.0/24: a lab whose nodes set mgmt-ipv4
/// without mgmt.ipv4-subnet gets it.
constexpr std::uint32_t k_clab_default_network = (172u << 24) | (20u << 16) | (20u << 8);
/// containerlab's default IPv6 management subnet: a lab whose nodes set mgmt-ipv6 without
/// mgmt.ipv6-subnet gets it.
constexpr std::string_view k_clab_default_ipv6_subnet = "3fff:172:20:20::/64";

// --- files the loader reads --------------------------------------------------------------------

/// A file read whole, at most `limit` bytes of it.
struct BoundedRead {
  std::string text;
  int error = 0;          // errno of a failed open or read
  bool too_large = false; // more than the limit: nothing is kept
  std::uint64_t size = 0; // a regular file's size, known before reading it; 0 for a pipe
};

/// A regular file larger than LIMIT is refused by its size, before a byte is read (a sparse file
/// of terabytes costs nothing); anything else (a pipe, /dev/stdin) is read up to one byte past it.
BoundedRead read_bounded(const std::string &path, std::uint64_t limit) {
  BoundedRead out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    out.error = errno;
    return out;
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    out.size = static_cast<std::uint64_t>(st.st_size);
    if (out.size > limit) {
      out.too_large = true;
      ::close(fd);
      return out;
    }
    out.text.reserve(out.size);
  }
  char buffer[65536];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got < 0) {
      out.error = errno;
      break;
    }
    if (got == 0) {
      break;
    }
    if (out.text.size() + static_cast<std::size_t>(got) > limit) {
      out.too_large = true; // a pipe, or a file that grew while read
      break;
    }
    out.text.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  if (out.too_large || out.error != 0) {
    out.text.clear();
  }
  return out;
}

/// "100.0 MiB", "1.0 GiB", or "more than 4 MiB" for a pipe whose size is only known to pass the
/// limit.
std::string size_text(const BoundedRead &read, std::uint64_t limit) {
  if (read.size > limit) {
    const double size = static_cast<double>(read.size);
    return size >= (1 << 30) ? fmt::format("{:.1f} GiB", size / (1 << 30))
                             : fmt::format("{:.1f} MiB", size / (1 << 20));
  }
  return fmt::format("more than {} MiB", limit >> 20);
}

// --- container images --------------------------------------------------------------------------

/// Whether Docker takes TEXT as an image reference: the grammar of its reference package
/// (github.com/distribution/reference, regexp.go), [REGISTRY[:PORT]/]PATH[:TAG][@DIGEST], with a
/// name of at most 255 characters.
bool image_reference(const std::string &text) {
  static const std::regex k_reference = [] {
    const std::string alnum = "[a-z0-9]+";
    const std::string component = alnum + "(?:(?:[._]|__|-+)" + alnum + ")*";
    const std::string label = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    const std::string domain =
        "(?:" + label + "(?:\\." + label + ")*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?";
    const std::string name = "(?:" + domain + "/)?" + component + "(?:/" + component + ")*";
    const std::string tag = "[\\w][\\w.-]{0,127}";
    const std::string digest =
        "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    return std::regex("(" + name + ")(?::" + tag + ")?(?:@" + digest + ")?");
  }();
  // Longer than any reference Docker takes; and std::regex recurses once per character.
  if (text.size() > 512) {
    return false;
  }
  std::smatch match;
  return std::regex_match(text, match, k_reference) && match.length(1) <= 255;
}

// --- IPv4 ------------------------------------------------------------------------------------

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
  std::uint32_t address = 0;
  int parts = 0;
  std::size_t pos = 0;
  while (parts < 4) {
    std::size_t end = pos;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) {
      ++end;
    }
    const std::size_t digits = end - pos;
    // Leading zeros are refused: some tools read them as octal.
    if (digits == 0 || digits > 3 || (digits > 1 && text[pos] == '0')) {
      return std::nullopt;
    }
    const int value = std::stoi(std::string(text.substr(pos, digits)));
    if (value > 255) {
      return std::nullopt;
    }
    address = (address << 8) | static_cast<std::uint32_t>(value);
    ++parts;
    pos = end;
    if (parts < 4) {
      if (pos >= text.size() || text[pos] != '.') {
        return std::nullopt;
      }
      ++pos;
    }
  }
  if (pos != text.size()) {
    return std::nullopt;
  }
  return address;
}

std::string ipv4_text(std::uint32_t a) {
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

struct Subnet {
  std::uint32_t network = 0;
  int prefix = 0;
  std::uint32_t mask() const { return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix); }
  std::uint32_t broadcast() const { return network | ~mask(); }
  bool contains(std::uint32_t a) const { return (a & mask()) == network; }
  std::string text() const { return fmt::format("{}/{}", ipv4_text(network), prefix); }
};

// --- memory sizes ----------------------------------------------------------------------------

std::optional<std::int64_t> parse_memory(std::string_view text) {
  return util::parse_size(text);
}

// --- interface names -------------------------------------------------------------------------

/// Why Linux would refuse NAME as an interface name; empty when it is fine.
std::string interface_problem(const std::string &name) {
  if (name.empty()) {
    return "empty interface name";
  }
  if (name.size() > k_max_ifname) {
    return fmt::format("interface name '{}' is {} bytes long; Linux allows at most {}", name,
                       name.size(), k_max_ifname);
  }
  if (name == "." || name == "..") {
    return fmt::format("interface name '{}' is refused by Linux", name);
  }
  if (name == "lo") {
    return "interface name 'lo' is taken: it is the loopback interface every network namespace "
           "has";
  }
  for (char c : name) {
    if (c == '/' || c == ':') {
      return fmt::format("interface name '{}' contains '{}', which Linux refuses", name, c);
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      return fmt::format("interface name '{}' contains whitespace, which Linux refuses", name);
    }
  }
  return {};
}

constexpr std::string_view k_interface_help =
    "an interface name is 1 to 15 bytes without '/', ':' or whitespace, for example eth1";

// --- the builder -----------------------------------------------------------------------------

/// One level of inheritance for a node: the node itself, its group, its kind or the defaults.
struct Level {
  const Json *object;
  std::string pointer;
};

struct EndpointPlace {
  SourceLoc node;  // the node name (the whole endpoint in the brief form)
  SourceLoc iface; // the interface name
};

struct MgmtAddress {
  std::string node;
  std::string text;
  std::string pointer;
};

/// The impairments set at one place of the file (a node level, a link, an endpoint), with the
/// pointer of each value given, or several places merged field by field.
struct PartialImpairments {
  Impairments values;
  std::map<std::string, std::string> given; // field -> pointer of its value

  /// MORE's fields replace this one's.
  void overlay(const PartialImpairments &more) {
    for (const auto &[field, pointer] : more.given) {
      copy_impairment_field(values, more.values, field);
      given[field] = pointer;
    }
  }
};

class Builder {
public:
  Builder(const YamlTree &tree, std::string_view source, Reporter &reporter,
          const SchemaChecker &schema, std::vector<std::string> failed, fs::path base_dir,
          const LoadOptions &options)
      : m_tree(tree), m_reporter(reporter), m_schema(schema),
        m_failed(failed.begin(), failed.end()), m_base_dir(std::move(base_dir)), m_options(options),
        m_source(source) {
    m_line_starts.push_back(0);
    for (std::size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\n') {
        m_line_starts.push_back(i + 1);
      }
    }
  }

  Topology build() {
    const Json &root = m_tree.root;
    build_name(root);
    build_prefix(root);
    build_mgmt(member(&root, "mgmt"));
    check_mgmt_gateway(member(&root, "mgmt"));
    build_mgmt_ipv6(member(&root, "mgmt"));
    build_settings(member(&root, "settings"));
    const Json *topology = member(&root, "topology");
    m_defaults = object_member(topology, "defaults");
    m_kinds = object_member(topology, "kinds");
    m_groups = object_member(topology, "groups");
    check_kind_levels();
    m_topology.confined = m_options.confined;
    if (m_options.confined) {
      check_confined_levels(topology);
    }
    if (const Json *nodes = object_member(topology, "nodes")) {
      m_node_names = keys_of(*nodes, "/topology/nodes");
      m_node_set.insert(m_node_names.begin(), m_node_names.end());
      for (const auto &name : m_node_names) {
        build_node(name, pointer_append("/topology/nodes", name));
      }
    }
    check_mgmt_addresses();
    check_mgmt_capacity();
    check_mgmt_ipv6_addresses();
    check_node_references();
    add_implicit_host(member(topology, "links"));
    if (const Json *links = member(topology, "links"); links && links->is_array()) {
      for (std::size_t i = 0; i < links->size(); ++i) {
        build_link(i, (*links)[i], pointer_append("/topology/links", i));
      }
    }
    name_links();
    check_network_mode_links();
    return std::move(m_topology);
  }

private:
  // --- access to the tree, tolerant of wrong types (the schema has reported them) ---

  static const Json *member(const Json *object, const char *key) {
    if (!object || !object->is_object()) {
      return nullptr;
    }
    auto it = object->find(key);
    return it == object->end() || it->is_null() ? nullptr : &*it;
  }

  static const Json *object_member(const Json *object, const char *key) {
    const Json *m = member(object, key);
    return m && m->is_object() ? m : nullptr;
  }

  static std::optional<std::string> string_member(const Json *object, const char *key) {
    const Json *m = member(object, key);
    return m && m->is_string() ? std::optional<std::string>(m->get<std::string>()) : std::nullopt;
  }

  std::vector<std::string> keys_of(const Json &object, const std::string &pointer) const {
    if (auto it = m_tree.key_order.find(pointer); it != m_tree.key_order.end()) {
      return it->second;
    }
    std::vector<std::string> keys;
    for (const auto &[key, value] : object.items()) {
      keys.push_back(key);
    }
    return keys;
  }

  bool failed(const std::string &pointer) const { return m_failed.count(pointer) > 0; }

  static bool in_host_namespace(Runtime runtime) {
    return runtime == Runtime::linux_bridge || runtime == Runtime::host;
  }

  /// A host or bridge end needs a container at its other end: the link is a veth with one end
  /// in the container's namespace and the other in the host's.
  void check_host_link(const std::array<Endpoint, 2> &ends,
                       const std::array<EndpointPlace, 2> &places) {
    std::array<Runtime, 2> runtimes{};
    for (std::size_t j = 0; j < 2; ++j) {
      auto runtime = m_node_runtime.find(ends[j].node);
      if (runtime == m_node_runtime.end()) {
        return; // a node whose kind is unknown: that is its error
      }
      runtimes[j] = runtime->second;
    }
    if (runtimes[0] == Runtime::external && runtimes[1] == Runtime::external) {
      m_reporter.error(places[1].node,
                       fmt::format("a link between two ext-container nodes ('{}' and '{}') is "
                                   "not supported",
                                   ends[0].node, ends[1].node),
                       "ltb removes a link with its container, and it removes neither of these: "
                       "join each of them to a node of the lab");
      return;
    }
    for (std::size_t j = 0; j < 2; ++j) {
      if (m_options.confined && in_host_namespace(runtimes[j])) {
        m_reporter.error(places[j].node,
                         is_device_end(ends[j])
                             ? fmt::format("links of type {} reach the host's interfaces or "
                                           "network: they are for admins",
                                           ends[j].node)
                             : fmt::format("'{}:{}' is an interface in the host's namespace: "
                                           "links to the host and to its bridges are for admins",
                                           ends[j].node, ends[j].iface),
                         "join the nodes with a link between them or an ovs-bridge node, or "
                         "ask an ltb admin to deploy this lab");
        return;
      }
    }
    for (std::size_t j = 0; j < 2; ++j) {
      const Runtime other = runtimes[1 - j];
      if (!in_host_namespace(runtimes[j]) || other == Runtime::container ||
          other == Runtime::external) {
        continue;
      }
      m_reporter.error(places[1 - j].node,
                       fmt::format("a link from {} node '{}' to {} node '{}' is not supported",
                                   kind_of(ends[j].node), ends[j].node, kind_of(ends[1 - j].node),
                                   ends[1 - j].node),
                       "host and bridge links join a container's interface to the host: put a "
                       "container at the other end (a VM joins a segment through an ovs-bridge "
                       "node)");
      return;
    }
  }

  std::string kind_of(const std::string &node) const {
    for (const auto &n : m_topology.nodes) {
      if (n.name == node) {
        return n.kind;
      }
    }
    return "a";
  }

  /// containerlab's `host:IFACE` and `mgmt-net:IFACE` endpoints name the host without declaring
  /// it: a node `host` (or `mgmt-net`) of kind host, unless the file has a node of that name.
  void add_implicit_host(const Json *links) {
    if (!links || !links->is_array()) {
      return;
    }
    // And the far ends of containerlab's device links: `macvlan:PARENT`, and the ends that
    // extended_links_as_endpoints gave types dummy, vxlan and vxlan-stitch.
    for (const std::string name :
         {k_host_node, k_mgmt_net_node, "macvlan", "dummy", "vxlan", "vxlan-stitch"}) {
      if (m_node_set.count(name)) {
        continue;
      }
      const bool used = std::any_of(links->begin(), links->end(), [&](const Json &link) {
        const Json *endpoints = member(&link, "endpoints");
        return endpoints && endpoints->is_array() &&
               std::any_of(endpoints->begin(), endpoints->end(), [&](const Json &end) {
                 return (end.is_string() && end.get<std::string>().rfind(name + ":", 0) == 0) ||
                        (end.is_object() && end.contains("node") && end["node"] == name);
               });
      });
      if (!used) {
        continue;
      }
      Node node;
      node.name = name;
      node.kind = "host";
      node.runtime = Runtime::host;
      m_topology.nodes.push_back(std::move(node));
      m_node_set.insert(name);
      m_node_runtime[name] = Runtime::host;
      m_implicit.insert(name);
    }
  }
  SourceLoc at(const std::string &pointer) const { return detail::value_loc(m_tree, pointer); }
  SourceLoc key_at(const std::string &pointer) const { return detail::key_loc(m_tree, pointer); }

  /// A scalar as text: strings as they are, other scalars as written in the file.
  std::string text_of(const Json &value, const std::string &pointer) const {
    if (value.is_string()) {
      return value.get<std::string>();
    }
    if (value.is_null()) {
      return {};
    }
    if (auto it = m_tree.positions.find(pointer);
        it != m_tree.positions.end() && !it->second.raw.empty()) {
      return it->second.raw;
    }
    return value.dump();
  }

  /// The most specific level that sets KEY, with the pointer of the value.
  std::optional<std::pair<const Json *, std::string>> inherited(const std::vector<Level> &levels,
                                                                const char *key) const {
    for (const auto &level : levels) {
      if (const Json *value = member(level.object, key)) {
        return std::make_pair(value, pointer_append(level.pointer, key));
      }
    }
    return std::nullopt;
  }

  // --- top level ---

  void build_name(const Json &root) {
    const Json &rule = m_schema.document()["properties"]["name"];
    if (!m_options.lab_name.empty()) {
      m_topology.name = m_options.lab_name;
      if (m_options.lab_name_is_id) {
        return;
      }
      const std::regex pattern(rule.value("pattern", std::string(".*")));
      const auto max = rule.value("maxLength", std::size_t{40});
      if (!std::regex_search(m_options.lab_name, pattern) || m_options.lab_name.size() > max ||
          m_options.lab_name.find("__") != std::string::npos) {
        m_reporter.error({},
                         fmt::format("invalid lab name '{}' given with --lab", m_options.lab_name),
                         rule.value("description", std::string()));
      }
      return;
    }
    if (const Json *name = member(&root, "name"); name && name->is_string()) {
      m_topology.name = name->get<std::string>();
      if (m_topology.name.find("__") != std::string::npos) {
        m_reporter.error(at("/name"), fmt::format("lab name '{}' contains '__'", m_topology.name),
                         "ltb keeps '__' between a lab's owner and its name: use one '_' or '-'");
      }
    }
  }

  /// containerlab's `prefix` of container names (the schema checked its form).
  void build_prefix(const Json &root) {
    const Json *prefix = member(&root, "prefix");
    if (!prefix || !prefix->is_string() || failed("/prefix")) {
      return;
    }
    m_topology.container_prefix = prefix->get<std::string>();
    m_topology.container_prefix_loc = at("/prefix");
    if (m_options.confined && m_topology.container_prefix->empty()) {
      // A user's containers carry their lab's name, so that they cannot take names of others'.
      m_reporter.error(at("/prefix"),
                       "an empty prefix names containers by their node names alone, which is "
                       "for admins",
                       "remove prefix, or set it (for example prefix: clab); or ask an ltb admin "
                       "to deploy this lab");
    }
  }

  void build_mgmt(const Json *mgmt) {
    Mgmt &out = m_topology.mgmt;
    if (const Json *network = member(mgmt, "network"); network && network->is_string()) {
      out.network = network->get<std::string>();
      out.network_loc = at("/mgmt/network");
      m_network_given = true;
      if (out.network == "host" || out.network == "none") {
        m_reporter.error(
            at("/mgmt/network"),
            fmt::format("mgmt.network '{}' is Docker's network mode {}, not a network nodes can "
                        "join",
                        out.network, out.network),
            fmt::format("give the nodes `network-mode: {}` instead, or name a bridge network "
                        "(such as bridge, or one of your own)",
                        out.network));
      }
    }
    if (out.network.empty()) {
      out.network = "ltb-" + m_topology.name;
    }
    if (const Json *access = member(mgmt, "external-access"); access && access->is_boolean()) {
      out.external_access = access->get<bool>();
    }
    const Json *subnet = member(mgmt, "ipv4-subnet");
    if (!subnet || !subnet->is_string() || subnet->get<std::string>().empty()) {
      return;
    }
    const std::string text = subnet->get<std::string>();
    m_subnet_given = true;
    const SourceLoc loc = at("/mgmt/ipv4-subnet");
    out.ipv4_subnet_loc = loc;
    const std::size_t slash = text.find('/');
    std::optional<std::uint32_t> address;
    int prefix = -1;
    if (slash != std::string::npos) {
      address = parse_ipv4(std::string_view(text).substr(0, slash));
      const std::string length = text.substr(slash + 1);
      if (!length.empty() && length.size() <= 2 &&
          std::all_of(length.begin(), length.end(),
                      [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        prefix = std::stoi(length);
      }
    }
    if (!address || prefix < 0 || prefix > 32) {
      m_reporter.error(loc, fmt::format("mgmt.ipv4-subnet '{}' is not an IPv4 subnet", text),
                       "write ADDRESS/PREFIX-LENGTH, for example 172.20.30.0/24");
      return;
    }
    if (prefix < k_min_mgmt_prefix || prefix > k_max_mgmt_prefix) {
      m_reporter.error(
          loc,
          fmt::format("mgmt.ipv4-subnet '{}' has prefix length {}; ltb accepts {} to {}", text,
                      prefix, k_min_mgmt_prefix, k_max_mgmt_prefix),
          "a /24 such as 172.20.30.0/24 leaves room for 253 nodes");
      return;
    }
    Subnet s{*address, prefix};
    if ((*address & s.mask()) != *address) {
      s.network = *address & s.mask();
      m_reporter.error(loc, fmt::format("mgmt.ipv4-subnet '{}' has host bits set", text),
                       fmt::format("did you mean '{}'?", s.text()));
      return;
    }
    m_subnet = s;
    out.ipv4_subnet = s.text();
  }

  /// containerlab's mgmt.ipv4-gw: Docker gives the gateway the subnet's first host address, so
  /// that address is accepted and any other is an error (nodes would route through another).
  void check_mgmt_gateway(const Json *mgmt) {
    const auto gateway = string_member(mgmt, "ipv4-gw");
    if (!gateway || gateway->empty() || failed("/mgmt/ipv4-gw")) {
      return;
    }
    const SourceLoc loc = at("/mgmt/ipv4-gw");
    if (!m_subnet) {
      if (!m_subnet_given) {
        m_reporter.error(loc, "mgmt.ipv4-gw is set but mgmt.ipv4-subnet is not",
                         "ltb's management gateway is the first host address of the subnet: set "
                         "mgmt.ipv4-subnet to the subnet whose first address it is, or remove "
                         "ipv4-gw");
      }
      return;
    }
    const std::string first = ipv4_text(m_subnet->network + 1);
    if (*gateway != first) {
      m_reporter.error(loc,
                       fmt::format("mgmt.ipv4-gw {} is not the first host address of {}",
                                   *gateway, m_subnet->text()),
                       fmt::format("ltb's management gateway is {}: remove ipv4-gw, or set it "
                                   "to {}",
                                   first, first));
    }
  }

  /// containerlab's dual-stack management: mgmt.ipv6-subnet and mgmt.ipv6-gw.
  void build_mgmt_ipv6(const Json *mgmt) {
    Mgmt &out = m_topology.mgmt;
    const auto text = string_member(mgmt, "ipv6-subnet");
    if (!text || text->empty() || failed("/mgmt/ipv6-subnet")) {
      if (const auto gateway = string_member(mgmt, "ipv6-gw"); gateway && !gateway->empty()) {
        m_reporter.error(at("/mgmt/ipv6-gw"), "mgmt.ipv6-gw is set but mgmt.ipv6-subnet is not",
                         "set mgmt.ipv6-subnet to the subnet the gateway is in, or remove "
                         "ipv6-gw");
      }
      return;
    }
    const SourceLoc loc = at("/mgmt/ipv6-subnet");
    out.ipv6_subnet_loc = loc;
    if (*text == "auto") {
      m_reporter.error(loc, "mgmt.ipv6-subnet 'auto' is not supported",
                       "write the subnet, for example 3fff:172:20:30::/64");
      return;
    }
    const auto loose = util::parse_subnet6(*text, false);
    if (!loose) {
      m_reporter.error(loc, fmt::format("mgmt.ipv6-subnet '{}' is not an IPv6 subnet", *text),
                       "write ADDRESS/PREFIX-LENGTH, for example 3fff:172:20:30::/64");
      return;
    }
    if (loose->prefix < 48 || loose->prefix > 120) {
      m_reporter.error(loc,
                       fmt::format("mgmt.ipv6-subnet '{}' has prefix length {}; ltb accepts 48 "
                                   "to 120",
                                   *text, loose->prefix),
                       "a /64 such as 3fff:172:20:30::/64 is the usual choice");
      return;
    }
    if (!util::parse_subnet6(*text, true)) {
      m_reporter.error(loc, fmt::format("mgmt.ipv6-subnet '{}' has host bits set", *text),
                       fmt::format("did you mean '{}'?", loose->to_string()));
      return;
    }
    m_subnet6 = *loose;
    out.ipv6_subnet = loose->to_string();
    if (const auto gateway = string_member(mgmt, "ipv6-gw"); gateway && !gateway->empty()) {
      const auto address = util::parse_ipv6(*gateway);
      const SourceLoc gateway_loc = at("/mgmt/ipv6-gw");
      if (!address || !loose->contains(*address) || *address == loose->network) {
        m_reporter.error(
            gateway_loc,
            fmt::format("mgmt.ipv6-gw '{}' is not a host address of {}", *gateway, out.ipv6_subnet),
            fmt::format("write an address of the subnet, for example {}, or remove "
                        "ipv6-gw (Docker then takes the first)",
                        util::format_ipv6(loose->host(1))));
        return;
      }
      out.ipv6_gateway = util::format_ipv6(*address);
    }
  }

  /// Nodes' mgmt-ipv6: an IPv6 address in mgmt.ipv6-subnet (containerlab's default
  /// 3fff:172:20:20::/64 without it), not the gateway, each once.
  void check_mgmt_ipv6_addresses() {
    if (m_addresses6.empty()) {
      return;
    }
    Mgmt &mgmt = m_topology.mgmt;
    const bool defaulted = !m_subnet6 && mgmt.ipv6_subnet_loc.line == 0;
    if (defaulted) {
      m_subnet6 = util::parse_subnet6(k_clab_default_ipv6_subnet);
      mgmt.ipv6_subnet = m_subnet6->to_string();
      mgmt.ipv6_subnet_default = true;
    }
    // mgmt.network may name a network that exists with a subnet of its own: the plan checks.
    const bool subnet_unknown = defaulted && m_network_given;
    std::map<util::Ipv6, const MgmtAddress *> used;
    for (const auto &entry : m_addresses6) {
      if (failed(entry.pointer)) {
        continue;
      }
      const SourceLoc loc = at(entry.pointer);
      const auto address = util::parse_ipv6(entry.text);
      if (!address) {
        m_reporter.error(loc, fmt::format("mgmt-ipv6 '{}' is not an IPv6 address", entry.text),
                         "write an address without a prefix length, for example "
                         "3fff:172:20:20::11");
        continue;
      }
      if (auto *node = find_built_node(entry.node)) {
        node->mgmt_ipv6 = util::format_ipv6(*address);
      }
      if (!m_subnet6) {
        continue; // mgmt.ipv6-subnet has its own error
      }
      const std::string gateway =
          mgmt.ipv6_gateway.empty() ? util::format_ipv6(m_subnet6->host(1)) : mgmt.ipv6_gateway;
      if (!subnet_unknown && (!m_subnet6->contains(*address) || *address == m_subnet6->network ||
                              util::format_ipv6(*address) == gateway)) {
        const auto role = !m_subnet6->contains(*address)   ? "is outside"
                          : *address == m_subnet6->network ? "is the network address of"
                                                           : "is the gateway address of";
        m_reporter.error(
            loc,
            fmt::format("mgmt-ipv6 {} of node '{}' {} {}{}", entry.text, entry.node, role,
                        mgmt.ipv6_subnet,
                        defaulted ? " (containerlab's default management subnet)" : ""),
            fmt::format("use an address of {} from {} on, or set mgmt.ipv6-subnet "
                        "to the subnet that holds it",
                        mgmt.ipv6_subnet, util::format_ipv6(m_subnet6->host(2))));
        continue;
      }
      if (auto first = used.emplace(*address, &entry); !first.second) {
        m_reporter.error(loc,
                         fmt::format("mgmt-ipv6 {} of node '{}' is already used by node '{}'",
                                     entry.text, entry.node, first.first->second->node),
                         "each node needs its own management address");
      }
    }
  }

  Node *find_built_node(const std::string &name) {
    for (auto &node : m_topology.nodes) {
      if (node.name == name) {
        return &node;
      }
    }
    return nullptr;
  }

  void build_settings(const Json *settings) {
    if (const Json *datapath = member(settings, "ovs-datapath");
        datapath && datapath->is_string()) {
      const std::string value = datapath->get<std::string>();
      if (value == "system") {
        m_topology.ovs_datapath = OvsDatapath::system;
      } else if (value == "netdev") {
        m_topology.ovs_datapath = OvsDatapath::netdev;
      }
    }
    if (const Json *path = member(settings, "impairments"); path && path->is_string()) {
      const std::string value = path->get<std::string>();
      if (value == "kernel") {
        m_topology.impairment_path = ImpairmentPath::kernel;
      } else if (value == "relay") {
        m_topology.impairment_path = ImpairmentPath::relay;
      }
    }
    if (const Json *failures = member(settings, "exec-failures");
        failures && failures->is_string()) {
      m_topology.exec_failures_fatal = failures->get<std::string>() == "fail";
    }
  }

  // --- nodes ---

  /// Fields set on a node, or on its kind's entry, that the kind does not take (its registry
  /// entry's `fields`). Set on a group or in topology.defaults they are meant for other nodes,
  /// and are left unused without a word. NODE is empty for a kind entry.
  void report_kind_fields(const Json &object, const std::string &pointer, const Kind &kind,
                          const std::string &node) {
    const KindFields &rule = kind.fields;
    const auto known = m_schema.known_keys(m_tree.root, pointer);
    for (const auto &key : keys_of(object, pointer)) {
      const std::string child = pointer_append(pointer, key);
      const bool listed =
          std::find(rule.listed.begin(), rule.listed.end(), key) != rule.listed.end();
      if (listed == rule.only_listed || failed(child) || m_schema.is_ignored(m_tree, child) ||
          std::find(known.begin(), known.end(), key) == known.end()) {
        continue;
      }
      auto text = [&](std::string_view tmpl) {
        return fmt::format(fmt::runtime(tmpl), fmt::arg("field", key), fmt::arg("node", node),
                           fmt::arg("kind", kind.name));
      };
      m_reporter.error(key_at(child),
                       text(node.empty() ? rule.message_on_kind : rule.message_on_node),
                       text(node.empty() ? rule.help_on_kind : rule.help_on_node));
    }
  }

  void check_kind_levels() {
    for (const Kind &kind : kinds()) {
      for (const auto &name : names_of(kind)) {
        if (const Json *entry = object_member(m_kinds, name.c_str())) {
          report_kind_fields(*entry, pointer_append("/topology/kinds", name), kind, {});
        }
      }
    }
  }

  // --- confinement (LoadOptions::confined) ---

  /// Keys that give a node part of the host, errors in a confined lab: binds mount host paths,
  /// devices give host devices, cap-add capabilities beyond the kind's.
  void check_confined_levels(const Json *topology) {
    struct HostKey {
      const char *key;
      const char *what;
      const char *why;
    };
    // network-mode is checked with the nodes (check_node_references): none and a namespace of
    // the lab's own are fine, the host's or an outside container's are not.
    static constexpr std::array<HostKey, 3> k_host_keys{{
        {"binds", "mounts host paths into the node", "bind mounts of host paths are for admins"},
        {"devices", "gives the node host devices", "host devices are for admins"},
        {"cap-add", "gives the node more capabilities", "extra capabilities are for admins"},
    }};
    std::vector<std::pair<const Json *, std::string>> levels;
    if (m_defaults) {
      levels.emplace_back(m_defaults, "/topology/defaults");
    }
    for (const auto &[section, map] : {std::pair{"kinds", m_kinds}, std::pair{"groups", m_groups},
                                       std::pair{"nodes", object_member(topology, "nodes")}}) {
      if (!map) {
        continue;
      }
      const std::string base = pointer_append("/topology", section);
      for (const auto &name : keys_of(*map, base)) {
        if (const Json *object = object_member(map, name.c_str())) {
          levels.emplace_back(object, pointer_append(base, name));
        }
      }
    }
    for (const auto &[object, pointer] : levels) {
      for (const auto &host : k_host_keys) {
        const Json *value = member(object, host.key);
        if (!value || (value->is_array() && value->empty())) {
          continue;
        }
        const bool bind = std::string_view(host.key) == "binds";
        m_reporter.error(
            key_at(pointer_append(pointer, host.key)),
            fmt::format("'{}' {}: {}", host.key, host.what, host.why),
            bind ? "put the file beside the topology file (startup-config copies one into the "
                   "node), or ask an ltb admin to deploy this lab"
                 : "remove it: a non-admin's nodes get their kind's capabilities "
                   "(ltb-topology(5), CONFINEMENT); or ask an ltb admin to deploy this lab");
      }
    }
  }

  /// In a confined lab, a file the topology names (WHAT, written WRITTEN at POINTER) must be in
  /// the topology file's directory or below it: ltb reads it as root, and the daemon's client
  /// sends only those. False after reporting it.
  bool confined_path(const std::string &written, const std::string &pointer,
                     std::string_view what) {
    if (!m_options.confined) {
      return true;
    }
    std::string problem;
    const fs::path path(written);
    if (written.rfind('~', 0) == 0 || path.is_absolute()) {
      problem = "is a host path";
    } else {
      const fs::path joined = (m_base_dir / path).lexically_normal();
      const fs::path inside = joined.lexically_relative(m_base_dir);
      std::error_code ec;
      const fs::path real_base = fs::weakly_canonical(m_base_dir, ec);
      const fs::path real = fs::weakly_canonical(joined, ec);
      const fs::path real_inside = real.lexically_relative(real_base);
      auto outside = [](const fs::path &relative) {
        return relative.empty() || *relative.begin() == "..";
      };
      if (outside(inside)) {
        problem = "leaves the topology file's directory";
      } else if (ec || outside(real_inside)) {
        problem = "leads out of the topology file's directory (a symbolic link)";
      }
    }
    if (problem.empty()) {
      return true;
    }
    if (m_reported_files.insert(pointer + "\nconfined").second) {
      m_reporter.error(at(pointer),
                       fmt::format("{} '{}' {}: files elsewhere on the host are for admins", what,
                                   written, problem),
                       "put the file in the topology file's directory (or below it) and name it "
                       "by a relative path; or ask an ltb admin to deploy this lab");
    }
    return false;
  }

  std::map<std::string, std::string> merged_map(const std::vector<Level> &levels,
                                                const char *key) const {
    std::map<std::string, std::string> out;
    for (auto level = levels.rbegin(); level != levels.rend(); ++level) {
      const Json *map = member(level->object, key);
      if (!map || !map->is_object()) {
        continue;
      }
      const std::string pointer = pointer_append(level->pointer, key);
      for (const auto &[name, value] : map->items()) {
        if (value.is_structured()) {
          continue;
        }
        out[name] = text_of(value, pointer_append(pointer, name));
      }
    }
    return out;
  }

  std::vector<std::string> merged_binds(const std::vector<Level> &levels) const {
    std::vector<std::string> binds;
    std::map<std::string, std::size_t> by_destination;
    for (auto level = levels.rbegin(); level != levels.rend(); ++level) {
      const Json *list = member(level->object, "binds");
      if (!list || !list->is_array()) {
        continue;
      }
      const std::string pointer = pointer_append(level->pointer, "binds");
      for (std::size_t i = 0; i < list->size(); ++i) {
        const Json &item = (*list)[i];
        if (!item.is_string() || failed(pointer_append(pointer, i))) {
          continue;
        }
        const std::string bind = item.get<std::string>();
        const std::size_t colon = bind.find(':');
        if (colon == std::string::npos || colon == 0) {
          continue;
        }
        std::string source = bind.substr(0, colon);
        const std::string rest = bind.substr(colon + 1);
        std::string destination = rest.substr(0, rest.find(':'));
        while (destination.size() > 1 && destination.back() == '/') {
          destination.pop_back();
        }
        const std::string resolved = absolute_source(source) + ":" + rest;
        if (auto it = by_destination.find(destination); it != by_destination.end()) {
          binds[it->second] = resolved;
        } else {
          by_destination.emplace(destination, binds.size());
          binds.push_back(resolved);
        }
      }
    }
    return binds;
  }

  std::string absolute_source(const std::string &source) const {
    if (source.rfind("~/", 0) == 0) {
      if (const char *home = std::getenv("HOME")) {
        return (fs::path(home) / source.substr(2)).lexically_normal().string();
      }
    }
    fs::path path(source);
    if (path.is_absolute()) {
      return path.lexically_normal().string();
    }
    std::string out = (m_base_dir / path).lexically_normal().string();
    while (out.size() > 1 && out.back() == '/') {
      out.pop_back();
    }
    return out;
  }

  void build_node(const std::string &name, const std::string &pointer) {
    const Json *object = detail::navigate_pointer(m_tree.root, pointer);
    if (!object || !object->is_object()) {
      return;
    }
    Node node;
    node.name = name;
    node.loc = key_at(pointer);
    std::vector<Level> levels{{object, pointer}};
    // containerlab's rules (types/topology.go, GetNodeKind and GetNodeGroup): the kind comes
    // from the node, its own group, the group of topology.defaults, then the defaults; the group
    // from the node, its kind's entry under topology.kinds, then the defaults.
    const auto own_group = string_member(object, "group");
    const auto defaults_group = string_member(m_defaults, "group");
    std::vector<Level> kind_sources = levels;
    for (const auto &group : {own_group, defaults_group}) {
      if (const Json *group_object = group ? object_member(m_groups, group->c_str()) : nullptr) {
        kind_sources.push_back({group_object, pointer_append("/topology/groups", *group)});
      }
    }
    if (m_defaults) {
      kind_sources.push_back({m_defaults, "/topology/defaults"});
    }
    // With topology.groups, a group it does not define is an error (most likely a typo, and
    // the node would silently inherit nothing). Without, a group is only a label: containerlab
    // files use it to draw the lab.
    const bool groups_defined = m_groups && !m_groups->empty();
    auto group_unknown = [&](const std::optional<std::string> &group) {
      return groups_defined && group && !object_member(m_groups, group->c_str());
    };
    // Then a missing kind or image is most likely in that group: not reported again.
    const bool own_unknown = group_unknown(own_group);
    const auto kind = inherited(kind_sources, "kind");
    if (!kind) {
      if (own_unknown) {
        report_unknown_group(*own_group, pointer_append(pointer, "group"), name);
        return;
      }
      m_reporter.error(node.loc, fmt::format("node '{}' has no kind", name),
                       fmt::format("set 'kind' on the node, in its group or in topology.defaults; "
                                   "ltb knows {}",
                                   kind_names_text()));
      return;
    }
    const Kind *info =
        kind->first->is_string() ? find_kind(kind->first->get<std::string>()) : nullptr;
    if (!info) {
      return; // the schema reported it
    }
    std::string group_label;
    std::string group_pointer = pointer_append(pointer, "group");
    std::optional<std::string> group = own_group;
    const auto [kind_object, kind_key] = kind_entry(*info);
    if (!group) {
      const std::string kind_pointer = pointer_append("/topology/kinds", kind_key);
      if (auto from_kind = string_member(kind_object, "group")) {
        group = from_kind;
        group_pointer = pointer_append(kind_pointer, "group");
      } else if (defaults_group) {
        group = defaults_group;
        group_pointer = "/topology/defaults/group";
      }
    }
    const bool unknown = group_unknown(group);
    if (group) {
      node.group = *group;
      if (const Json *group_object = object_member(m_groups, group->c_str())) {
        levels.push_back({group_object, pointer_append("/topology/groups", *group)});
        group_label = fmt::format(", in group '{}'", *group);
      } else if (unknown) {
        report_unknown_group(*group, group_pointer, name);
      }
    }
    node.kind = std::string(info->name);
    node.runtime = info->runtime;
    if (kind_object) {
      levels.push_back({kind_object, pointer_append("/topology/kinds", kind_key)});
    }
    if (m_defaults) {
      levels.push_back({m_defaults, "/topology/defaults"});
    }
    m_node_runtime[name] = node.runtime;
    m_node_kind[name] = info;
    node.labels = merged_map(levels, "labels");
    m_node_impairments[name] = merged_impairments(levels);

    report_kind_fields(*object, pointer, *info, name);
    if (node.runtime == Runtime::linux_bridge) {
      if (std::string problem = interface_problem(name); !problem.empty()) {
        m_reporter.error(node.loc, fmt::format("bridge node '{}': {}", name, problem),
                         "a bridge node's name is the Linux bridge's name on the host: use a "
                         "name of 1 to 15 bytes, for example br-lab");
      }
    }
    if (node.runtime == Runtime::external) {
      if (const auto exec = inherited(levels, "exec"); exec && exec->first->is_array()) {
        for (const auto &command : *exec->first) {
          if (command.is_string()) {
            node.exec.push_back(command.get<std::string>());
          }
        }
      }
      if (m_options.confined) {
        m_reporter.error(node.loc,
                         fmt::format("ext-container node '{}' links a container that ltb did not "
                                     "make into the lab: that is for admins",
                                     name),
                         "ask an ltb admin to deploy this lab");
      }
    }
    if (!is_workload(node.runtime)) {
      m_topology.nodes.push_back(std::move(node));
      return;
    }
    build_login(node, levels, *info);
    build_stages(node, levels);

    if (const auto address = inherited(levels, "mgmt-ipv4");
        address && address->first->is_string()) {
      node.mgmt_ipv4 = address->first->get<std::string>();
      node.mgmt_ipv4_loc = at(address->second);
      m_addresses.push_back({name, *node.mgmt_ipv4, address->second});
    }
    if (const auto address = inherited(levels, "mgmt-ipv6");
        address && address->first->is_string() && !address->first->get<std::string>().empty()) {
      node.mgmt_ipv6 = address->first->get<std::string>();
      node.mgmt_ipv6_loc = at(address->second);
      m_addresses6.push_back({name, *node.mgmt_ipv6, address->second});
    }
    const auto cpus = build_cpus(node, levels);
    if (const auto memory = inherited(levels, "memory"); memory && !failed(memory->second)) {
      if (auto bytes = size_value(*memory->first, memory->second, "memory size")) {
        node.memory_bytes = *bytes;
      }
    }
    if (node.cpus == 0) {
      node.cpus = info->default_cpus;
    }
    if (node.memory_bytes == 0) {
      node.memory_bytes = info->default_memory_bytes;
    }
    if (node.runtime == Runtime::vm) {
      build_vm(node, levels, *info, cpus);
      m_topology.nodes.push_back(std::move(node));
      return;
    }

    if (const auto image = inherited(levels, "image")) {
      if (image->first->is_string()) {
        node.image = image->first->get<std::string>();
        auto known = m_image_references.find(node.image);
        if (known == m_image_references.end()) {
          known = m_image_references.emplace(node.image, image_reference(node.image)).first;
        }
        if (!failed(image->second) && !known->second) {
          m_reporter.error(at(image->second),
                           fmt::format("image '{}' of node '{}' is not an image reference "
                                       "Docker takes",
                                       node.image, name),
                           "an image is [REGISTRY/]NAME[:TAG][@DIGEST], NAME of lower-case "
                           "letters, digits and '.', '_', '__' or '-' between them, in parts "
                           "joined by '/': for example ltb/busybox:latest");
        }
      }
    } else if (!info->default_image.empty()) {
      node.image = std::string(info->default_image);
    } else if (!unknown) {
      m_reporter.error(node.loc, fmt::format("node '{}' has no image", name),
                       fmt::format("set 'image' on the node{}, in topology.kinds.{} or in "
                                   "topology.defaults",
                                   group_label, node.kind));
    }
    if (const auto cmd = inherited(levels, "cmd"); cmd && cmd->first->is_string()) {
      node.cmd = cmd->first->get<std::string>();
    }
    if (const auto entrypoint = inherited(levels, "entrypoint");
        entrypoint && entrypoint->first->is_string()) {
      node.entrypoint = entrypoint->first->get<std::string>();
    }
    node.env = merged_map(levels, "env");
    node.binds = merged_binds(levels);
    if (const auto exec = inherited(levels, "exec"); exec && exec->first->is_array()) {
      for (const auto &command : *exec->first) {
        if (command.is_string()) {
          node.exec.push_back(command.get<std::string>());
        }
      }
    }
    build_container_options(node, levels);
    apply_kind_needs(node, *info);
    node.startup_config_path = std::string(info->startup_config_path);
    if (const auto config = inherited(levels, "startup-config");
        config && config->first->is_string() && !failed(config->second)) {
      build_startup_config(node, config->first->get<std::string>(), config->second);
    }
    m_topology.nodes.push_back(std::move(node));
  }

  /// topology.kinds' entry of KIND under its name or one of its other names (containerlab's files
  /// write `kinds: {srl: ...}`), and the key it is under.
  std::pair<const Json *, std::string> kind_entry(const Kind &kind) const {
    for (const auto &name : names_of(kind)) {
      if (const Json *entry = object_member(m_kinds, name.c_str())) {
        return {entry, name};
      }
    }
    return {nullptr, std::string(kind.name)};
  }

  /// What a vendor kind's image needs (kinds.hpp), under what the file sets.
  static void apply_kind_needs(Node &node, const Kind &kind) {
    for (const auto &[name, value] : kind.env) {
      node.env.emplace(name, value); // the file's value stays
    }
    if (node.cmd.empty()) {
      node.cmd = std::string(kind.cmd);
    }
    if (node.entrypoint.empty()) {
      node.entrypoint = std::string(kind.entrypoint);
    }
    for (const auto &sysctl : kind.sysctls) {
      const auto equals = sysctl.find('=');
      node.sysctls.emplace(sysctl.substr(0, equals), sysctl.substr(equals + 1));
    }
    node.exec.insert(node.exec.begin(), kind.exec.begin(), kind.exec.end());
    if (!node.healthcheck && !kind.readiness.empty()) {
      // Checked every 3 s; failures in the first 5 minutes (a NOS booting) do not count, and
      // the first success makes the node healthy.
      node.healthcheck = Healthcheck{{"CMD-SHELL", std::string(kind.readiness)}, 3, 10, 300, 3};
    }
  }

  // --- containerlab's container options ---

  /// A list of strings at the most specific level that sets KEY: (value, pointer) of each.
  std::vector<std::pair<std::string, std::string>>
  inherited_strings(const std::vector<Level> &levels, const char *key) const {
    std::vector<std::pair<std::string, std::string>> out;
    const auto list = inherited(levels, key);
    if (!list || !list->first->is_array() || failed(list->second)) {
      return out;
    }
    for (std::size_t i = 0; i < list->first->size(); ++i) {
      const Json &item = (*list->first)[i];
      const std::string pointer = pointer_append(list->second, i);
      if (item.is_string() && !failed(pointer)) {
        out.emplace_back(item.get<std::string>(), pointer);
      }
    }
    return out;
  }

  /// ports, network-mode, healthcheck, dns, sysctls, cap-add, devices, shm-size and env-files of
  /// a container node, with containerlab's meaning (ltb-topology(5), NODES).
  void build_container_options(Node &node, const std::vector<Level> &levels) {
    const auto ports = inherited_strings(levels, "ports");
    for (const auto &[text, pointer] : ports) {
      // [HOST-IP:]HOST-PORT:PORT[/PROTO]; the schema checked the shape. Docker publishes them
      // from a network with external access; ltb's isolated one gets a docker-proxy per port.
      const auto mapping = parse_port_mapping(text);
      if (!mapping) {
        m_reporter.error(at(pointer), fmt::format("port mapping '{}' is not valid", text),
                         "write [HOST-IP:]HOST-PORT:PORT[/tcp|/udp] with ports 1 to 65535, for "
                         "example 8080:80 or 127.0.0.1:2222:22");
        continue;
      }
      const int host_port = mapping->host_port;
      const auto &protocol = mapping->protocol;
      if (m_options.confined && host_port < 1024) {
        m_reporter.error(
            at(pointer),
            fmt::format("port mapping '{}' publishes privileged host port {}", text, host_port),
            "host ports below 1024 are for admins: use a port from 1024, for "
            "example 8080:80; or ask an ltb admin to deploy this lab");
        continue;
      }
      if (auto first = m_published.find({host_port, protocol}); first != m_published.end()) {
        m_reporter.error(at(pointer),
                         fmt::format("host port {}/{} is already published by node '{}'", host_port,
                                     protocol, first->second),
                         "each published host port belongs to one node: use another host port");
        continue;
      }
      m_published.emplace(std::make_pair(host_port, protocol), node.name);
      node.ports.push_back(text);
    }
    if (const auto mode = inherited(levels, "network-mode");
        mode && mode->first->is_string() && !failed(mode->second)) {
      node.network_mode = mode->first->get<std::string>();
      m_network_modes.push_back({node.name, node.network_mode, mode->second});
    }
    if (const auto health = inherited(levels, "healthcheck");
        health && health->first->is_object() && !failed(health->second)) {
      Healthcheck check;
      const Json &h = *health->first;
      if (const Json *test = member(&h, "test"); test && test->is_array()) {
        for (const auto &word : *test) {
          check.test.push_back(word.is_string() ? word.get<std::string>() : word.dump());
        }
      }
      auto number = [&](const char *key, int &out) {
        if (const Json *value = member(&h, key); value && value->is_number_integer()) {
          out = value->get<int>();
        }
      };
      number("interval", check.interval);
      number("timeout", check.timeout);
      number("start-period", check.start_period);
      number("retries", check.retries);
      static constexpr std::array<std::string_view, 3> k_test_kinds{"CMD", "CMD-SHELL", "NONE"};
      if (!check.test.empty() && std::find(k_test_kinds.begin(), k_test_kinds.end(),
                                           check.test.front()) == k_test_kinds.end()) {
        // containerlab passes test to Docker as it is, which wants the form first.
        m_reporter.error(at(pointer_append(pointer_append(health->second, "test"), 0)),
                         fmt::format("healthcheck test starts with '{}'", check.test.front()),
                         "start it with CMD (then the command and its arguments) or CMD-SHELL "
                         "(then one shell command), for example [CMD-SHELL, 'test -f /ready']");
      } else {
        node.healthcheck = std::move(check);
      }
    }
    if (const auto dns = inherited(levels, "dns"); dns && dns->first->is_object()) {
      auto list = [&](const char *key, std::vector<std::string> &out) {
        if (const Json *items = member(dns->first, key); items && items->is_array()) {
          for (const auto &item : *items) {
            if (item.is_string()) {
              out.push_back(item.get<std::string>());
            }
          }
        }
      };
      list("servers", node.dns_servers);
      list("search", node.dns_search);
      list("options", node.dns_options);
    }
    node.sysctls = merged_map(levels, "sysctls");
    for (const auto &[cap, pointer] : inherited_strings(levels, "cap-add")) {
      std::string name = cap;
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      if (name.rfind("CAP_", 0) == 0) {
        name.erase(0, 4);
      }
      node.cap_add.push_back(name);
    }
    for (const auto &[device, pointer] : inherited_strings(levels, "devices")) {
      std::error_code ec;
      if (!fs::exists(device, ec)) {
        m_reporter.error(at(pointer),
                         fmt::format("device '{}' does not exist on this host", device),
                         "give the path of a device of the host, for example /dev/net/tun");
        continue;
      }
      node.devices.push_back(device);
    }
    if (const auto shm = inherited(levels, "shm-size"); shm && !failed(shm->second)) {
      if (auto bytes = size_value(*shm->first, shm->second, "shm-size")) {
        node.shm_size_bytes = *bytes;
      }
    }
    build_env_files(node, levels);
  }

  /// env-files of every level, the most general first; the node's env wins over them.
  void build_env_files(Node &node, const std::vector<Level> &levels) {
    std::map<std::string, std::string> from_files;
    for (auto level = levels.rbegin(); level != levels.rend(); ++level) {
      const Json *list = member(level->object, "env-files");
      const std::string list_pointer = pointer_append(level->pointer, "env-files");
      if (!list || !list->is_array() || failed(list_pointer)) {
        continue;
      }
      for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string pointer = pointer_append(list_pointer, i);
        if (!(*list)[i].is_string() || failed(pointer)) {
          continue;
        }
        const std::string written = (*list)[i].get<std::string>();
        if (!confined_path(written, pointer, "env-file")) {
          continue;
        }
        const std::string path = absolute_source(written);
        auto report = [&](std::string message, std::string help) {
          if (m_reported_files.insert(pointer + "\nenv-file").second) {
            m_reporter.error(at(pointer), std::move(message), std::move(help));
          }
        };
        // Only a regular file: /dev/zero or a FIFO would be read without end.
        std::error_code ec;
        const auto status = fs::status(path, ec);
        if (ec || !fs::exists(status)) {
          report(fmt::format("env-file '{}' cannot be read: it does not exist", written),
                 fmt::format("looked for {}; a relative path is relative to the topology file's "
                             "directory",
                             path));
          continue;
        }
        if (!fs::is_regular_file(status)) {
          report(fmt::format("env-file '{}' is not a regular file", written),
                 fmt::format("{} must be a file of VAR=value lines", path));
          continue;
        }
        const BoundedRead read = read_bounded(path, k_max_referenced_bytes);
        if (read.too_large) {
          report(fmt::format("env-file '{}' is {}; ltb reads env-files of up to {} MiB", written,
                             size_text(read, k_max_referenced_bytes), k_max_referenced_bytes >> 20),
                 fmt::format("is {} the right file? an env-file holds VAR=value lines", path));
          continue;
        }
        if (read.error != 0) {
          report(
              fmt::format("env-file '{}' cannot be read: {}", written, std::strerror(read.error)),
              "check the file's permissions");
          continue;
        }
        std::istringstream in(read.text);
        for (std::string line; std::getline(in, line);) {
          auto begin = line.find_first_not_of(" \t");
          if (begin == std::string::npos || line[begin] == '#') {
            continue;
          }
          line.erase(0, begin);
          if (line.rfind("export ", 0) == 0) {
            line.erase(0, 7);
          }
          const auto equals = line.find('=');
          if (equals == std::string::npos || equals == 0) {
            continue;
          }
          std::string key = line.substr(0, equals);
          std::string value = line.substr(equals + 1);
          while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) {
            key.pop_back();
          }
          while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) {
            value.pop_back();
          }
          if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
              value.back() == value.front()) {
            value = value.substr(1, value.size() - 2);
          }
          from_files[key] = value;
        }
      }
    }
    for (auto &[key, value] : node.env) {
      from_files[key] = value;
    }
    node.env = std::move(from_files);
  }

  /// stages.STAGE.wait-for and startup-delay, for containers and VMs alike.
  void build_stages(Node &node, const std::vector<Level> &levels) {
    if (const auto delay = inherited(levels, "startup-delay");
        delay && delay->first->is_number_integer() && !failed(delay->second)) {
      node.startup_delay = delay->first->get<int>();
    }
    // Per stage, the most specific level that sets it (as containerlab merges stages).
    for (const char *stage : {"create", "create-links", "configure", "healthy"}) {
      for (const auto &level : levels) {
        const Json *stages = member(level.object, "stages");
        const Json *entry = member(stages, stage);
        const Json *waits = member(entry, "wait-for");
        if (!waits) {
          continue;
        }
        const std::string pointer = pointer_append(
            pointer_append(pointer_append(level.pointer, "stages"), stage), "wait-for");
        if (waits->is_array() && !failed(pointer)) {
          for (std::size_t i = 0; i < waits->size(); ++i) {
            const Json &wait = (*waits)[i];
            const Json *other = member(&wait, "node");
            if (!other || !other->is_string()) {
              continue;
            }
            const Json *its = member(&wait, "stage");
            const std::string item = pointer_append(pointer, i);
            node.wait_for.push_back(
                {stage, other->get<std::string>(),
                 its && its->is_string() ? its->get<std::string>() : std::string("create"),
                 at(pointer_append(item, "node"))});
          }
        }
        break;
      }
    }
  }

  /// A node with a network-mode has no namespace of its own for links (host: the host's), and
  /// no management address.
  void check_network_mode_links() {
    for (const auto &node : m_topology.nodes) {
      if (node.network_mode.empty()) {
        continue;
      }
      if (node.mgmt_ipv4) {
        m_reporter.error(node.loc,
                         fmt::format("node '{}' has network-mode {} and mgmt-ipv4", node.name,
                                     node.network_mode),
                         "a node with a network-mode is not on the management network: remove "
                         "one of them");
      }
      // Docker refuses these with another container's namespace (it has its own), and ports
      // without a network of the node's own (in the host's, Docker drops them with a warning).
      const bool shared = node.network_mode.rfind("container:", 0) == 0;
      if (!node.ports.empty()) {
        m_reporter.error(
            node.loc,
            fmt::format("node '{}' has network-mode {} and ports", node.name, node.network_mode),
            shared ? "publish the ports on the node whose namespace it shares"
            : node.network_mode == "host"
                ? "a node in the host's namespace listens on the host's "
                  "ports itself: remove ports"
                : "a node without a network publishes nothing: remove one");
      }
      if (shared &&
          (!node.dns_servers.empty() || !node.dns_search.empty() || !node.dns_options.empty())) {
        m_reporter.error(
            node.loc,
            fmt::format("node '{}' has network-mode {} and dns", node.name, node.network_mode),
            "it uses the resolver of the node whose namespace it shares: set dns "
            "there");
      }
      for (const auto &link : m_topology.links) {
        for (const Endpoint *end : {&link.a, &link.b}) {
          if (end->node == node.name) {
            m_reporter.error(end->loc,
                             fmt::format("node '{}' has network-mode {}: it has no links of "
                                         "its own",
                                         node.name, node.network_mode),
                             "link the node whose namespace it shares, or remove network-mode");
          }
        }
      }
    }
  }

  /// After every node is built: what network-mode and wait-for name exists, and the waits make
  /// no cycle.
  void check_node_references() {
    std::map<std::string, const Node *> by_name;
    for (const auto &node : m_topology.nodes) {
      by_name[node.name] = &node;
    }
    for (const auto &entry : m_network_modes) {
      const std::string &mode = entry.mode;
      const SourceLoc loc = at(entry.pointer);
      if (mode.rfind("container:", 0) == 0) {
        const std::string other = mode.substr(10);
        if (other == entry.node) {
          m_reporter.error(loc, fmt::format("node '{}' cannot share its own namespace", entry.node),
                           "name another node: network-mode: container:NODE");
          continue;
        }
        auto it = by_name.find(other);
        if (it == by_name.end()) {
          if (m_options.confined) {
            m_reporter.error(loc,
                             fmt::format("network-mode '{}' names no node of this lab", mode),
                             "a confined lab's node shares only the namespace of a node of the "
                             "same lab; or ask an ltb admin to deploy this lab");
          }
          continue; // containerlab allows a container outside the lab: it must exist at up
        }
        if (it->second->runtime != Runtime::container) {
          m_reporter.error(loc, fmt::format("network-mode '{}' names node '{}', which is not a "
                                            "container",
                                            mode, other),
                           "share the network namespace of a container node");
        } else if (!it->second->network_mode.empty() &&
                   it->second->network_mode.rfind("container:", 0) == 0) {
          m_reporter.error(loc,
                           fmt::format("node '{}' itself shares the namespace of another ({})",
                                       other, it->second->network_mode),
                           fmt::format("name that one: network-mode: {}", it->second->network_mode));
        }
      } else if (mode == "host" && m_options.confined) {
        m_reporter.error(loc, "network-mode 'host' puts the node in the host's network namespace",
                         "the host's namespaces are for admins: remove it, or ask an ltb admin "
                         "to deploy this lab");
      }
    }
    // wait-for: the nodes exist, and the graph of "stage after stage" has no cycle.
    std::vector<std::string> names;
    for (const auto &node : m_topology.nodes) {
      names.push_back(node.name);
    }
    std::map<std::string, std::vector<std::string>> after; // node -> nodes it waits for
    for (const auto &node : m_topology.nodes) {
      for (const auto &wait : node.wait_for) {
        auto it = by_name.find(wait.node);
        if (it == by_name.end()) {
          m_reporter.error(wait.loc,
                           fmt::format("node '{}' waits for unknown node '{}'", node.name,
                                       wait.node),
                           detail::suggest(wait.node, names, "the nodes are"));
        } else if (wait.node == node.name) {
          m_reporter.error(wait.loc, fmt::format("node '{}' waits for itself", node.name),
                           "wait-for names other nodes");
        } else if (wait.its_stage == "healthy" && !it->second->healthcheck) {
          m_reporter.error(wait.loc,
                           fmt::format("node '{}' waits for node '{}' to be healthy, but '{}' has "
                                       "no healthcheck",
                                       node.name, wait.node, wait.node),
                           fmt::format("give node '{}' a healthcheck, or wait for its stage "
                                       "create",
                                       wait.node));
        } else {
          after[node.name].push_back(wait.node);
        }
      }
    }
    // Depth-first search for a cycle; each node is reported once.
    std::map<std::string, int> mark; // 1 = on the path, 2 = done
    std::vector<std::string> path;
    std::function<bool(const std::string &)> visit = [&](const std::string &name) {
      mark[name] = 1;
      path.push_back(name);
      for (const auto &next : after[name]) {
        if (mark[next] == 1) {
          std::string cycle;
          auto from = std::find(path.begin(), path.end(), next);
          for (auto it = from; it != path.end(); ++it) {
            cycle += *it + " -> ";
          }
          cycle += next;
          const Node *node = by_name[name];
          SourceLoc loc = node->loc;
          for (const auto &wait : node->wait_for) {
            if (wait.node == next) {
              loc = wait.loc;
            }
          }
          m_reporter.error(loc, fmt::format("wait-for makes a cycle: {}", cycle),
                           "a node cannot wait, directly or not, for a node that waits for it: "
                           "remove one of the waits");
          return true;
        }
        if (mark[next] == 0 && visit(next)) {
          return true;
        }
      }
      path.pop_back();
      mark[name] = 2;
      return false;
    };
    for (const auto &node : m_topology.nodes) {
      if (mark[node.name] == 0 && visit(node.name)) {
        break;
      }
    }
  }

  /// A group topology.groups does not define, named at POINTER (the node's own, or inherited
  /// from its kind's entry or topology.defaults: reported once there).
  void report_unknown_group(const std::string &group, const std::string &pointer,
                            const std::string &node) {
    const bool own = pointer.rfind("/topology/nodes/", 0) == 0;
    if (!own && !m_reported_files.insert(pointer + "\ngroup").second) {
      return;
    }
    m_reporter.error(at(pointer),
                     own ? fmt::format("unknown group '{}' in node '{}'", group, node)
                         : fmt::format("unknown group '{}' in {}", group,
                                       pointer.rfind("/topology/defaults", 0) == 0
                                           ? std::string("topology.defaults")
                                           : "topology.kinds." + detail::pointer_tokens(
                                                                     pointer)[2]),
                     detail::suggest(group, keys_of(*m_groups, "/topology/groups"),
                                     "the groups are"));
  }

  /// username, password and ssh-key from the most specific level; the kind's login otherwise.
  void build_login(Node &node, const std::vector<Level> &levels, const Kind &kind) {
    node.username = std::string(kind.username);
    node.password = std::string(kind.password);
    if (const auto user = inherited(levels, "username");
        user && user->first->is_string() && !failed(user->second)) {
      node.username = user->first->get<std::string>();
    }
    if (const auto password = inherited(levels, "password");
        password && !password->first->is_structured() && !failed(password->second)) {
      node.password = text_of(*password->first, password->second);
    }
    const auto key = inherited(levels, "ssh-key");
    if (!key || !key->first->is_string() || failed(key->second) ||
        !confined_path(key->first->get<std::string>(), key->second, "ssh-key")) {
      return;
    }
    node.ssh_key = absolute_source(key->first->get<std::string>());
    std::error_code ec;
    // A warning, not an error: the lab deploys, and ltb logs in with its own key meanwhile. One
    // warning per value, however many nodes inherit it.
    if (!fs::is_regular_file(node.ssh_key, ec) &&
        m_reported_files.insert(key->second + "\nssh-key").second) {
      m_reporter.warning(at(key->second),
                         fmt::format("ssh-key file '{}' does not exist", node.ssh_key),
                         "ltb ssh and the generated ssh_config use the lab's own key and the "
                         "password instead; a relative path is relative to the topology file's "
                         "directory");
    }
  }

  // --- vm nodes ---

  /// What a vm node's `image` resolves to. The image's boot files apply unless the node sets its
  /// own.
  struct VmSource {
    std::string disk;   // absolute; empty = none
    std::string kernel; // absolute; empty = none
    std::string initrd; // absolute; empty = none
    std::optional<std::string> cmdline;
    std::string image_name; // empty when `image` is a disk path
    std::string json_path;  // the image's image.json; empty when `image` is a disk path
    std::string file_help;  // the help for a file of the image that is missing
  };

  /// False, after reporting it, when the file PATH (ROLE: "base disk", "kernel", "initrd") of a
  /// vm node is missing or is a directory. A value inherited by several nodes is reported once.
  bool check_vm_file(const Node &node, std::string_view role, const std::string &path,
                     SourceLoc loc, const std::string &pointer, const std::string &help) {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    std::string_view problem;
    if (ec || !fs::exists(status)) {
      problem = "does not exist";
    } else if (fs::is_directory(status)) {
      problem = "is a directory";
    } else {
      return true;
    }
    if (pointer.empty() || m_reported_files.insert(pointer + '\n' + path).second) {
      m_reporter.error(loc, fmt::format("{} '{}' of node '{}' {}", role, path, node.name, problem),
                       help);
    }
    return false;
  }

  /// Resolves the `image` of a vm node (at LOC, POINTER; POINTER is empty for the kind's default
  /// image) to a base disk or an ltb VM image. nullopt after an error.
  std::optional<VmSource> resolve_vm_image(const Node &node, const std::string &written,
                                           SourceLoc loc, const std::string &pointer) {
    VmSource source;
    if (detail::is_disk_path(written)) {
      if (!confined_path(written, pointer, "base disk")) {
        return std::nullopt;
      }
      source.disk = absolute_source(written);
      if (!check_vm_file(node, "base disk", source.disk, loc, pointer,
                         "a relative path is relative to the topology file's directory; a value "
                         "without '/' that does not end in .qcow2, .img or .raw names an ltb VM "
                         "image")) {
        return std::nullopt;
      }
      return source;
    }
    const fs::path images_dir = detail::vm_images_dir();
    const std::string key = (images_dir / written).string();
    auto cached = m_vm_images.find(key);
    if (cached == m_vm_images.end()) {
      cached = m_vm_images.emplace(key, detail::read_vm_image(images_dir, written)).first;
    }
    if (!cached->second) {
      const detail::VmImageError &problem = cached->second.error();
      std::string help = problem.help;
      if (problem.not_found) {
        std::string fix;
        if (pointer.empty()) {
          fix = fmt::format("node '{}' uses the default image of kind vm: build it with `make "
                            "images`, or set 'image' to a disk path",
                            node.name);
        } else if (pointer.rfind("/topology/defaults/", 0) == 0) {
          // Most likely a container image meant for the other nodes.
          fix = fmt::format("node '{}' of kind vm takes this image from topology.defaults: set "
                            "'image' under topology.kinds.vm, build the image with `make images`, "
                            "or give a disk path",
                            node.name);
        } else {
          fix = "build it with `make images`, or give a disk path";
        }
        const auto names = detail::vm_image_names(images_dir);
        if (std::string best = did_you_mean(written, names); !best.empty()) {
          help = fmt::format("did you mean '{}'? If not, {}", best, fix);
        } else if (!names.empty()) {
          help = fmt::format("{}; the images there are: {}", fix, detail::list_names(names));
        } else {
          help = fix;
        }
      }
      m_reporter.error(loc, problem.message, help);
      return std::nullopt;
    }
    const detail::VmImage &image = *cached->second;
    source.image_name = image.name;
    source.disk = image.disk;
    source.kernel = image.kernel;
    source.initrd = image.initrd;
    source.cmdline = image.cmdline;
    source.json_path = (image.dir / "image.json").string();
    source.file_help = fmt::format("VM image '{}' names it in {}: rebuild the image with `make "
                                   "images`",
                                   image.name, source.json_path);
    if (!source.disk.empty() &&
        !check_vm_file(node, "base disk", source.disk, loc, pointer, source.file_help)) {
      return std::nullopt;
    }
    return source;
  }

  /// A vm node's kernel or initrd: the node's own (a path relative to the file) or its image's.
  /// Returns the pointer of the node's own value, empty when it comes from the image.
  std::string vm_boot_file(Node &node, const std::vector<Level> &levels, const char *key,
                           const std::optional<VmSource> &source, SourceLoc image_loc,
                           const std::string &image_pointer, std::string &out) {
    if (const auto own = inherited(levels, key)) {
      if (own->first->is_string() && !failed(own->second) &&
          confined_path(own->first->get<std::string>(), own->second, key)) {
        out = absolute_source(own->first->get<std::string>());
        if (!check_vm_file(node, key, out, at(own->second), own->second,
                           "a relative path is relative to the topology file's directory")) {
          out.clear();
        }
      }
      return own->second;
    }
    if (source) {
      out = std::string_view(key) == "kernel" ? source->kernel : source->initrd;
      if (!out.empty() &&
          !check_vm_file(node, key, out, image_loc, image_pointer, source->file_help)) {
        out.clear();
      }
    }
    return {};
  }

  void build_vm(Node &node, const std::vector<Level> &levels, const Kind &info,
                const std::optional<std::string> &cpus_pointer) {
    if (std::floor(node.cpus) != node.cpus && cpus_pointer) {
      const Json *value = detail::navigate_pointer(m_tree.root, *cpus_pointer);
      m_reporter.error(at(*cpus_pointer),
                       fmt::format("a VM has a whole number of CPUs, not {}",
                                   value ? text_of(*value, *cpus_pointer) : std::string()),
                       "set cpus on the vm node or under topology.kinds.vm, for example cpus: 2");
    }
    if (const auto size = inherited(levels, "disk-size"); size && !failed(size->second)) {
      if (auto bytes = size_value(*size->first, size->second, "disk size")) {
        node.disk_size_bytes = *bytes;
      }
    }
    if (const auto model = inherited(levels, "nic-model");
        model && model->first->is_string() && !failed(model->second)) {
      node.nic_model = model->first->get<std::string>();
    }
    if (const auto accel = inherited(levels, "accel");
        accel && accel->first->is_string() && !failed(accel->second)) {
      const std::string value = accel->first->get<std::string>();
      if (value == "kvm") {
        node.accel = Accel::kvm;
      } else if (value == "qemu") {
        node.accel = Accel::qemu;
      }
    }

    std::string written(info.default_image);
    std::string image_pointer;
    SourceLoc image_loc = node.loc;
    bool image_usable = true;
    if (const auto image = inherited(levels, "image")) {
      image_pointer = image->second;
      image_loc = at(image_pointer);
      image_usable = image->first->is_string() && !failed(image_pointer);
      if (image_usable) {
        written = image->first->get<std::string>();
      }
    }
    if (info.vrnetlab && image_usable && !written.ends_with(".qcow2") &&
        !written.ends_with(".img") && !written.ends_with(".raw")) {
      // containerlab runs a vrnetlab image (a VM in a container); ltb runs the VM itself.
      m_reporter.error(
          image_loc,
          written.empty()
              ? fmt::format("node '{}' of kind {} has no image", node.name, info.name)
              : fmt::format("node '{}' of kind {} names the container image '{}': ltb runs "
                            "vrnetlab kinds as VMs from a qcow2 disk",
                            node.name, info.name, written),
          fmt::format("set image to the VM's qcow2 file, for example image: {}.qcow2 (a path "
                      "relative to the topology file); vrnetlab's image holds it: docker create "
                      "IMAGE, then docker cp ID:/FILE.qcow2 .",
                      info.name));
      return;
    }
    std::optional<VmSource> source;
    if (image_usable) {
      source = resolve_vm_image(node, written, image_loc, image_pointer);
    }
    if (source) {
      node.image = source->disk;
    }
    const std::string kernel_pointer =
        vm_boot_file(node, levels, "kernel", source, image_loc, image_pointer, node.kernel);
    const std::string initrd_pointer =
        vm_boot_file(node, levels, "initrd", source, image_loc, image_pointer, node.initrd);
    std::string cmdline_pointer;
    if (const auto cmdline = inherited(levels, "cmdline")) {
      if (!failed(cmdline->second)) {
        cmdline_pointer = cmdline->second;
        node.cmdline = text_of(*cmdline->first, cmdline->second);
        // Booting the image's kernel, the node's words come after the image's (console=ttyS0
        // and the like), so that adding a parameter does not silently drop the console.
        if (kernel_pointer.empty() && source && source->cmdline && !source->cmdline->empty()) {
          node.cmdline = *source->cmdline + " " + node.cmdline;
        }
      }
    } else if (source && source->cmdline) {
      node.cmdline = *source->cmdline;
    }
    if (!source) {
      return; // the image was reported; what follows depends on it
    }
    const bool kernel_given = !kernel_pointer.empty() || !source->kernel.empty();
    if (source->disk.empty() && !kernel_given) {
      m_reporter.error(
          image_loc,
          fmt::format("VM image '{}' has neither a disk nor a kernel", source->image_name),
          fmt::format("{} must name a disk or a kernel; or set 'kernel' on node '{}'",
                      source->json_path, node.name));
      return;
    }
    if (kernel_given) {
      return;
    }
    // No kernel: QEMU boots the disk, and an initrd or a kernel command line would be unused.
    // The image's own are simply not used; the node's are a mistake worth pointing at.
    auto refuse = [&](const std::string &pointer, std::string_view what, std::string_view key) {
      if (!pointer.empty() && m_reported_files.insert(pointer + "\nno kernel").second) {
        m_reporter.error(at(pointer),
                         fmt::format("vm node '{}' has {} but no kernel to boot", node.name, what),
                         fmt::format("QEMU uses it only with a kernel it boots directly: set "
                                     "'kernel', or remove '{}'",
                                     key));
      }
    };
    refuse(initrd_pointer, "an initrd", "initrd");
    refuse(cmdline_pointer, "a kernel command line", "cmdline");
    node.initrd.clear();
    node.cmdline.clear();
  }

  /// Sets node.cpus from the most specific level; returns the pointer of the value used.
  std::optional<std::string> build_cpus(Node &node, const std::vector<Level> &levels) {
    for (const auto &level : levels) {
      const Json *cpus = member(level.object, "cpus");
      const Json *cpu = member(level.object, "cpu");
      if (cpus && cpu) {
        m_reporter.error(key_at(pointer_append(level.pointer, "cpu")),
                         "'cpu' and 'cpus' are both set",
                         "'cpu' is containerlab's spelling of 'cpus': keep one of them");
      }
      const Json *value = cpus ? cpus : cpu;
      if (value) {
        if (value->is_number()) {
          node.cpus = value->get<double>();
        }
        return pointer_append(level.pointer, cpus ? "cpus" : "cpu");
      }
    }
    return std::nullopt;
  }

  /// A size in bytes (memory, disk-size) as a number or a number with a unit.
  std::optional<std::int64_t> size_value(const Json &value, const std::string &pointer,
                                         std::string_view what) {
    if (value.is_number_integer()) {
      return std::max<std::int64_t>(0, value.get<std::int64_t>());
    }
    if (!value.is_string()) {
      return std::nullopt;
    }
    auto bytes = parse_memory(value.get<std::string>());
    if (!bytes) {
      m_reporter.error(at(pointer),
                       fmt::format("{} '{}' is not valid", what, value.get<std::string>()),
                       "write bytes or a number with a unit: 512MiB, 1GB, 1g, 256m");
    }
    return bytes;
  }

  void build_startup_config(Node &node, const std::string &value, const std::string &pointer) {
    if (value.find('\n') != std::string::npos) {
      node.startup_config_text = value;
      return;
    }
    if (const auto scheme = value.find("://"); scheme != std::string::npos &&
                                              scheme > 0 && value.find('/') > scheme) {
      // containerlab downloads such a config (http, https, ftp, scp, sftp) when it deploys.
      m_reporter.error(at(pointer),
                       fmt::format("startup-config '{}' is a URL; ltb reads startup configs "
                                   "from files",
                                   value),
                       "download it beside the topology file (curl -o r1.cfg URL, scp) and give "
                       "the file's path: ltb fetches nothing from the network when it deploys");
      return;
    }
    if (!confined_path(value, pointer, "startup-config")) {
      return;
    }
    const fs::path written(value);
    const fs::path path =
        (written.is_absolute() ? written : m_base_dir / written).lexically_normal();
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (ec || !fs::exists(status)) {
      m_reporter.error(at(pointer), fmt::format("startup-config file '{}' does not exist", value),
                       fmt::format("looked for {}; a relative path is relative to the topology "
                                   "file's directory, and inline text needs several lines "
                                   "(startup-config: |)",
                                   path.string()));
      return;
    }
    if (!fs::is_regular_file(status)) {
      m_reporter.error(
          at(pointer), fmt::format("startup-config '{}' is not a regular file", value),
          fmt::format("{} must be a file whose content is copied into the node", path.string()));
      return;
    }
    BoundedRead read = read_bounded(path.string(), k_max_referenced_bytes);
    if (read.too_large) {
      m_reporter.error(
          at(pointer),
          fmt::format("startup-config '{}' is {}; ltb reads startup configs of up "
                      "to {} MiB",
                      value, size_text(read, k_max_referenced_bytes), k_max_referenced_bytes >> 20),
          fmt::format("is {} the right file? it is copied into the node whole", path.string()));
      return;
    }
    if (read.error != 0) {
      m_reporter.error(
          at(pointer),
          fmt::format("cannot read startup-config file '{}': {}", value, std::strerror(read.error)),
          "check the file's permissions");
      return;
    }
    node.startup_config = path.string();
    node.startup_config_text = std::move(read.text);
  }

  /// The management subnet holds an address for every node on it (as the plan gives them: the
  /// subnet's first host address is the gateway's), or `ltb up` would stop at the first node
  /// without one.
  void check_mgmt_capacity() {
    if (!m_subnet || (m_topology.mgmt.ipv4_subnet_default && m_network_given) ||
        failed("/mgmt/ipv4-subnet")) {
      return;
    }
    const std::size_t on_network =
        std::count_if(m_topology.nodes.begin(), m_topology.nodes.end(), [](const Node &node) {
          return is_workload(node.runtime) && (node.mgmt_ipv4 || node.network_mode.empty());
        });
    const std::uint64_t room = (std::uint64_t{1} << (32 - m_subnet->prefix)) - 3;
    if (on_network <= room) {
      return;
    }
    int fits = 32 - k_max_mgmt_prefix;
    while (fits < 32 - k_min_mgmt_prefix && (std::uint64_t{1} << fits) - 3 < on_network) {
      ++fits;
    }
    const bool fit = (std::uint64_t{1} << fits) - 3 >= on_network;
    const std::string help =
        fit ? fmt::format("use a larger mgmt.ipv4-subnet: a /{} holds {} nodes", 32 - fits,
                          (std::uint64_t{1} << fits) - 3)
            : fmt::format("the largest management subnet, a /{}, holds {} nodes: split the lab, "
                          "or give nodes network-mode: none",
                          k_min_mgmt_prefix, (std::uint64_t{1} << (32 - k_min_mgmt_prefix)) - 3);
    const std::string message =
        fmt::format("{} nodes need an address on the management network, but {}{} has room for {}",
                    on_network, m_subnet->text(),
                    m_topology.mgmt.ipv4_subnet_default ? " (containerlab's default)" : "", room);
    m_reporter.error(m_topology.mgmt.ipv4_subnet_default ? key_at("/topology/nodes")
                                                         : at("/mgmt/ipv4-subnet"),
                     message, help);
  }

  void check_mgmt_addresses() {
    std::map<std::uint32_t, const MgmtAddress *> used;
    // A node's fixed address without a subnet: containerlab's default management network.
    const bool default_subnet = !m_subnet && !m_subnet_given && !m_addresses.empty();
    if (default_subnet) {
      m_subnet = Subnet{k_clab_default_network, 24};
      m_topology.mgmt.ipv4_subnet = m_subnet->text();
      m_topology.mgmt.ipv4_subnet_default = true;
    }
    // mgmt.network may name a network that exists, whose subnet only the plan knows: it checks
    // the addresses then, and here only their form and that no two are the same.
    const bool subnet_unknown = default_subnet && m_network_given;
    for (const auto &entry : m_addresses) {
      if (failed(entry.pointer)) {
        continue;
      }
      const SourceLoc loc = at(entry.pointer);
      const auto address = parse_ipv4(entry.text);
      if (!address) {
        m_reporter.error(loc, fmt::format("mgmt-ipv4 '{}' is not an IPv4 address", entry.text),
                         "write a dotted-quad address without a prefix length, for example "
                         "172.20.30.11");
        continue;
      }
      if (!m_subnet) {
        if (!m_subnet_given) {
          m_reporter.error(
              loc,
              fmt::format("node '{}' sets mgmt-ipv4 but mgmt.ipv4-subnet is not set", entry.node),
              fmt::format("set mgmt.ipv4-subnet to the subnet that holds {}, for "
                          "example {}/24",
                          entry.text, ipv4_text(*address & 0xffffff00u)));
        }
        continue;
      }
      if (subnet_unknown) {
        if (auto first = m_seen_addresses.emplace(*address, &entry); !first.second) {
          m_reporter.error(loc,
                           fmt::format("mgmt-ipv4 {} of node '{}' is already used by node '{}'",
                                       entry.text, entry.node, first.first->second->node),
                           "each node needs its own management address");
        }
        continue;
      }
      const Subnet &s = *m_subnet;
      const std::string range = fmt::format("use an address from {} to {}",
                                            ipv4_text(s.network + 2), ipv4_text(s.broadcast() - 1));
      if (!s.contains(*address)) {
        if (default_subnet) {
          m_reporter.error(
              loc,
              fmt::format("mgmt-ipv4 {} of node '{}' is outside containerlab's default "
                          "management subnet {}",
                          entry.text, entry.node, s.text()),
              fmt::format("without mgmt.ipv4-subnet the lab uses {}: {}, or set "
                          "mgmt.ipv4-subnet to the subnet that holds {}, for example {}/24",
                          s.text(), range, entry.text, ipv4_text(*address & 0xffffff00u)));
          continue;
        }
        m_reporter.error(loc,
                         fmt::format("mgmt-ipv4 {} of node '{}' is outside mgmt.ipv4-subnet {}",
                                     entry.text, entry.node, s.text()),
                         range);
        continue;
      }
      std::string_view role;
      std::string help = range;
      if (*address == s.network) {
        role = "the network address";
      } else if (*address == s.broadcast()) {
        role = "the broadcast address";
      } else if (*address == s.network + 1) {
        role = "the gateway address";
        help = "Docker gives the subnet's first host address to the gateway; " + range;
      }
      if (!role.empty()) {
        m_reporter.error(loc,
                         fmt::format("mgmt-ipv4 {} of node '{}' is {} of {}", entry.text,
                                     entry.node, role, s.text()),
                         help);
        continue;
      }
      if (auto first = used.find(*address); first != used.end()) {
        m_reporter.error(loc,
                         fmt::format("mgmt-ipv4 {} of node '{}' is already used by node '{}'",
                                     entry.text, entry.node, first->second->node),
                         "each node needs its own management address");
        const SourceLoc first_loc = at(first->second->pointer);
        if (first_loc.line != loc.line || first_loc.column != loc.column) {
          m_reporter.note(first_loc, fmt::format("node '{}' has it here", first->second->node));
        }
        continue;
      }
      used.emplace(*address, &entry);
    }
  }

  // --- links ---

  bool parse_endpoint(const Json &value, const std::string &pointer, Endpoint &out,
                      EndpointPlace &place, PartialImpairments &impairments) {
    out.loc = at(pointer);
    place = {out.loc, out.loc};
    if (value.is_string()) {
      const std::string text = value.get<std::string>();
      const std::size_t colon = text.find(':');
      if (failed(pointer) || colon == std::string::npos || colon == 0) {
        return false;
      }
      out.node = text.substr(0, colon);
      out.iface = text.substr(colon + 1);
      // Point at the interface inside "node:iface" when the text is on the line as written.
      const std::string_view line = source_line(out.loc.line);
      std::size_t start = static_cast<std::size_t>(std::max(0, out.loc.column - 1));
      if (start < line.size() && (line[start] == '"' || line[start] == '\'')) {
        ++start;
      }
      if (line.substr(std::min(start, line.size())).substr(0, text.size()) == text) {
        place.iface.column = static_cast<int>(start + colon + 2);
      }
      return true;
    }
    if (value.is_object()) {
      const Json *node = member(&value, "node");
      const Json *iface = member(&value, "interface");
      if (!node || !iface || !node->is_string() || !iface->is_string()) {
        return false;
      }
      out.node = node->get<std::string>();
      out.iface = iface->get<std::string>();
      impairments =
          parse_impairments(member(&value, "impairments"), pointer_append(pointer, "impairments"));
      place.node = at(pointer_append(pointer, "node"));
      place.iface = at(pointer_append(pointer, "interface"));
      return true;
    }
    return false;
  }

  std::string_view source_line(int line) const {
    if (line <= 0 || static_cast<std::size_t>(line) > m_line_starts.size()) {
      return {};
    }
    std::string_view text = m_source.substr(m_line_starts[static_cast<std::size_t>(line) - 1]);
    return text.substr(0, text.find('\n'));
  }

  void build_link(std::size_t index, const Json &value, const std::string &pointer) {
    if (!value.is_object()) {
      return;
    }
    Link link;
    link.loc = at(pointer);
    if (const Json *name = member(&value, "name"); name && name->is_string()) {
      const std::string name_pointer = pointer_append(pointer, "name");
      link.name = name->get<std::string>();
      link.name_given = true;
      if (!failed(name_pointer)) {
        if (auto first = m_link_names.find(link.name); first != m_link_names.end()) {
          m_reporter.error(at(name_pointer), fmt::format("duplicate link name '{}'", link.name),
                           "link names must be unique: rename one of the links");
          m_reporter.note(first->second, fmt::format("link '{}' is first defined here", link.name));
        } else {
          m_link_names.emplace(link.name, at(name_pointer));
        }
      }
    }
    if (const Json *mtu = member(&value, "mtu"); mtu && mtu->is_number_integer()) {
      link.mtu = mtu->get<int>();
    }
    const Json *endpoints = member(&value, "endpoints");
    if (!endpoints || !endpoints->is_array() || endpoints->size() != 2) {
      return;
    }
    const std::string endpoints_pointer = pointer_append(pointer, "endpoints");
    std::array<Endpoint, 2> ends;
    std::array<EndpointPlace, 2> places;
    std::array<bool, 2> parsed{};
    std::array<bool, 2> usable{};
    std::array<PartialImpairments, 2> end_impairments;
    for (std::size_t j = 0; j < 2; ++j) {
      parsed[j] = parse_endpoint((*endpoints)[j], pointer_append(endpoints_pointer, j), ends[j],
                                 places[j], end_impairments[j]);
      if (!parsed[j]) {
        continue;
      }
      const Endpoint &end = ends[j];
      const bool known = m_node_set.count(end.node) > 0;
      if (!known) {
        m_reporter.error(places[j].node,
                         fmt::format("unknown node '{}' in link endpoint", end.node),
                         detail::suggest(end.node, m_node_names, "the nodes are"));
      }
      if (auto kind = m_node_kind.find(end.node); known && kind != m_node_kind.end()) {
        // A vendor kind's alias (ethernet-1/1) becomes the node's Linux name (e1-1) here, so
        // that the plan, the state, status, capture and link commands see only Linux names.
        InterfaceName mapped = linux_interface(*kind->second, end.iface);
        if (!mapped.problem.empty()) {
          m_reporter.error(places[j].iface, mapped.problem,
                           fmt::format("write {} for a node of kind {}",
                                       kind->second->interfaces.help, kind->second->name));
          continue;
        }
        ends[j].iface = mapped.linux;
      }
      if (std::string problem = interface_problem(end.iface); !problem.empty()) {
        m_reporter.error(places[j].iface, problem, std::string(k_interface_help));
        continue;
      }
      if (!known) {
        continue;
      }
      if (is_device_end(end)) {
        usable[j] = true; // a device link's far end names no interface of its own
        continue;
      }
      if (auto runtime = m_node_runtime.find(end.node);
          runtime != m_node_runtime.end() && in_host_namespace(runtime->second)) {
        // Both ends of a host link live in one namespace, the host's: one name, one interface.
        if (auto first = m_host_interfaces.find(end.iface); first != m_host_interfaces.end()) {
          m_reporter.error(
              places[j].iface,
              fmt::format("host interface '{}' is already an end of link {}", end.iface,
                          first->second.second + 1),
              "the ends of host and bridge links are interfaces in the host's namespace: give "
              "each one its own name");
          m_reporter.note(first->second.first, fmt::format("'{}' is first used here", end.iface));
          continue;
        }
        m_host_interfaces.emplace(end.iface, std::make_pair(places[j].iface, index));
      }
      if (auto runtime = m_node_runtime.find(end.node);
          runtime != m_node_runtime.end() && is_workload(runtime->second) && end.iface == "eth0") {
        m_reporter.error(
            places[j].iface,
            fmt::format("interface 'eth0' of node '{}' is its management interface", end.node),
            "use eth1, eth2, ... for links: ltb connects eth0 to the management "
            "network");
        continue;
      }
      usable[j] = true;
    }
    if (parsed[0] && parsed[1] && ends[0].node == ends[1].node && ends[0].iface == ends[1].iface) {
      m_reporter.error(
          places[1].node,
          fmt::format("link {} connects '{}:{}' to itself", index + 1, ends[0].node, ends[0].iface),
          "a link joins two different interfaces: change one of its endpoints");
      usable[1] = false;
    }
    if (usable[0] && usable[1]) {
      check_host_link(ends, places);
    }
    for (std::size_t j = 0; j < 2; ++j) {
      if (!usable[j] || is_device_end(ends[j])) {
        continue;
      }
      const std::string key = ends[j].node + ":" + ends[j].iface;
      if (auto first = m_used_interfaces.find(key); first != m_used_interfaces.end()) {
        m_reporter.error(
            places[j].node,
            fmt::format("interface '{}' is already used by link {}", key, first->second.second + 1),
            "an interface can be in one link only: use another interface");
        m_reporter.note(first->second.first, fmt::format("'{}' is first used here", key));
      } else {
        m_used_interfaces.emplace(key, std::make_pair(places[j].node, index));
      }
    }
    if (!parsed[0] || !parsed[1]) {
      return;
    }
    if (is_device_end(ends[0])) {
      // The brief form's "macvlan:PARENT" may come first: end a is the node's.
      std::swap(ends[0], ends[1]);
      std::swap(end_impairments[0], end_impairments[1]);
    }
    link.a = ends[0];
    link.b = ends[1];
    if (!build_device(value, pointer, link)) {
      return;
    }
    const PartialImpairments both =
        parse_impairments(member(&value, "impairments"), pointer_append(pointer, "impairments"));
    for (std::size_t j = 0; j < 2; ++j) {
      PartialImpairments merged;
      if (auto node = m_node_impairments.find(ends[j].node); node != m_node_impairments.end()) {
        merged = node->second;
      }
      merged.overlay(both);
      merged.overlay(end_impairments[j]);
      check_direction(merged, ends[j]);
      (j == 0 ? link.impair_a : link.impair_b) = merged.values;
      (j == 0 ? link.impair_a_set : link.impair_b_set) = !merged.given.empty();
    }
    if (link.kind != LinkKind::veth && link.impair_b_set) {
      const std::string impairments = pointer_append(pointer, "impairments");
      m_reporter.error(member(&value, "impairments") ? key_at(impairments) : link.loc,
                       fmt::format("a link of type {} shapes only the packets its node sends",
                                   to_string(link.kind)),
                       "set the impairments on the link's endpoint (endpoint: {node, interface, "
                       "impairments}) or on its node, not on the link");
    }
    m_topology.links.push_back(std::move(link));
  }

  /// The far end of a device link: the implicit node of a link type (macvlan:PARENT, dummy:IFACE,
  /// vxlan:vniN), not a node of the file.
  bool is_device_end(const Endpoint &end) const {
    return m_implicit.count(end.node) > 0 && device_link_kind(end.node).has_value();
  }

  /// A link's containerlab type and, for device links, their parameters; end a becomes the
  /// node's. False when the link is not usable (reported).
  bool build_device(const Json &value, const std::string &pointer, Link &link) {
    const std::string type = string_member(&value, "type").value_or("");
    const SourceLoc type_loc = at(pointer_append(pointer, "type"));
    const bool far_device = is_device_end(link.b);
    // Not `far_device ? ... : std::nullopt`: GCC 12 then warns of an uninitialised optional.
    std::optional<LinkKind> kind;
    if (far_device) {
      kind = device_link_kind(link.b.node);
    }
    if (!type.empty() && device_link_kind(type) && !far_device) {
      if (!m_node_set.count(type) || m_implicit.count(type)) {
        return false; // written with endpoints: reported already
      }
      m_reporter.error(type_loc,
                       fmt::format("a node of the file is named '{}', the name of the far end of "
                                   "links of type {}",
                                   type, type),
                       fmt::format("rename node '{}'", type));
      return false;
    }
    if (far_device && type.empty() && kind != LinkKind::macvlan) {
      m_reporter.error(link.b.loc,
                       fmt::format("'{}' is containerlab's link type, not a node", link.b.node),
                       fmt::format("write type: {} and endpoint: {{node: NODE, interface: IFACE}}",
                                   link.b.node));
      return false;
    }
    // Keys of one link type only.
    struct Only {
      const char *key;
      std::vector<LinkKind> kinds;
    };
    const std::vector<Only> only{
        {"mode", {LinkKind::macvlan}},
        {"remote", {LinkKind::vxlan, LinkKind::vxlan_stitch}},
        {"vni", {LinkKind::vxlan, LinkKind::vxlan_stitch}},
        {"dst-port", {LinkKind::vxlan, LinkKind::vxlan_stitch}},
        {"udp-port", {LinkKind::vxlan, LinkKind::vxlan_stitch}},
        {"src-port", {LinkKind::vxlan, LinkKind::vxlan_stitch}},
        {"parent-interface", {LinkKind::vxlan, LinkKind::vxlan_stitch}},
    };
    bool ok = true;
    for (const auto &rule : only) {
      if (member(&value, rule.key) &&
          std::find(rule.kinds.begin(), rule.kinds.end(), kind.value_or(LinkKind::veth)) ==
              rule.kinds.end()) {
        m_reporter.error(
            key_at(pointer_append(pointer, rule.key)),
            fmt::format("'{}' is for links of type {}", rule.key, to_string(rule.kinds.front())),
            rule.kinds.size() > 1 ? "use it with type: vxlan or type: vxlan-stitch, "
                                    "or remove it"
                                  : "use it with type: macvlan, or remove it");
        ok = false;
      }
    }
    const Json *endpoint = member(&value, "endpoint");
    const std::string mac_pointer = pointer_append(pointer_append(pointer, "endpoint"), "mac");
    const Json *mac = member(endpoint, "mac");
    if (!kind) {
      // A veth's ends, given as objects, may carry a MAC that ltb does not set.
      if (const Json *endpoints = member(&value, "endpoints"); endpoints && endpoints->is_array()) {
        for (std::size_t j = 0; j < endpoints->size(); ++j) {
          if (member(&(*endpoints)[j], "mac")) {
            m_reporter.warning(
                key_at(
                    pointer_append(pointer_append(pointer_append(pointer, "endpoints"), j), "mac")),
                "'mac' is a containerlab key ltb ignores",
                "ltb sets the MAC of the interfaces of links of types macvlan, dummy, vxlan "
                "and vxlan-stitch only");
          }
        }
      }
      if (mac) {
        m_reporter.warning(key_at(mac_pointer), "'mac' is a containerlab key ltb ignores",
                           "ltb sets the MAC of the interfaces of links of types macvlan, dummy, "
                           "vxlan and vxlan-stitch only");
      }
      return ok;
    }
    link.kind = *kind;
    if (auto runtime = m_node_runtime.find(link.a.node);
        runtime != m_node_runtime.end() && runtime->second == Runtime::external) {
      m_reporter.error(link.a.loc,
                       fmt::format("a link of type {} into ext-container node '{}' is not "
                                   "supported",
                                   to_string(link.kind), link.a.node),
                       "ltb removes a device link's interface with its container, and it never "
                       "removes an ext-container: put the link on a node of the lab");
      ok = false;
    }
    if (mac && mac->is_string() && !failed(mac_pointer)) {
      link.device.mac = mac->get<std::string>();
      ok = check_mac(link.device.mac, at(mac_pointer), link.a) && ok;
    }
    if (const auto mode = string_member(&value, "mode")) {
      link.device.mode = *mode;
    }
    if (link.kind == LinkKind::macvlan && link.mtu != 0) {
      m_reporter.warning(key_at(pointer_append(pointer, "mtu")),
                         "a macvlan interface has its parent's MTU: 'mtu' is ignored",
                         "as in containerlab; remove mtu, or set the parent's MTU on the host");
      link.mtu = 0;
    }
    if (link.kind == LinkKind::vxlan || link.kind == LinkKind::vxlan_stitch) {
      const std::string remote_pointer = pointer_append(pointer, "remote");
      const auto remote = string_member(&value, "remote").value_or("");
      if (!failed(remote_pointer) && !is_ip_address(remote)) {
        m_reporter.error(at(remote_pointer),
                         fmt::format("remote '{}' is not an IPv4 or IPv6 address", remote),
                         "give the remote tunnel end's address (ltb does not look up host "
                         "names), for example remote: 192.0.2.10");
        ok = false;
      }
      link.device.remote = remote;
      if (const Json *vni = member(&value, "vni"); vni && vni->is_number_integer()) {
        link.device.vni = vni->get<unsigned>();
      }
      for (const char *key : {"udp-port", "dst-port"}) { // dst-port wins
        if (const Json *port = member(&value, key); port && port->is_number_integer()) {
          link.device.dst_port = port->get<int>();
        }
      }
      if (const Json *port = member(&value, "src-port"); port && port->is_number_integer()) {
        link.device.src_port = port->get<int>();
      }
      const std::string parent_pointer = pointer_append(pointer, "parent-interface");
      if (const auto parent = string_member(&value, "parent-interface")) {
        if (std::string problem = interface_problem(*parent); !problem.empty()) {
          m_reporter.error(at(parent_pointer), problem, std::string(k_interface_help));
          ok = false;
        }
        link.device.parent = *parent;
      }
    }
    return ok;
  }

  static bool is_ip_address(const std::string &text) {
    std::array<unsigned char, 16> buffer{};
    return inet_pton(AF_INET, text.c_str(), buffer.data()) == 1 ||
           inet_pton(AF_INET6, text.c_str(), buffer.data()) == 1;
  }

  /// A MAC address Linux gives an interface (unicast, not zero), and not one another interface
  /// of the file has: two on one network make both unreachable.
  bool check_mac(const std::string &mac, SourceLoc loc, const Endpoint &end) {
    std::string key;
    for (char c : mac) {
      key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    const std::string owner = fmt::format("{}:{}", end.node, end.iface);
    if (key == "00:00:00:00:00:00" || (std::stoi(key.substr(0, 2), nullptr, 16) & 1) != 0) {
      m_reporter.error(loc,
                       fmt::format("MAC address {} of {} is {}, which Linux refuses for an "
                                   "interface",
                                   mac, owner,
                                   key == "00:00:00:00:00:00"
                                       ? "all zeros"
                                       : "a multicast address (its first byte is odd)"),
                       "use a unicast address, for example aa:c1:ab:00:00:01 (locally "
                       "administered), or remove 'mac': the kernel then picks one");
      return false;
    }
    auto [first, fresh] = m_macs.emplace(key, std::make_pair(loc, owner));
    if (!fresh) {
      m_reporter.error(loc,
                       fmt::format("MAC address {} of {} is already used by {}", mac, owner,
                                   first->second.second),
                       "each interface needs its own MAC address; change one of them, or remove "
                       "'mac': the kernel then picks one");
      m_reporter.note(first->second.first, fmt::format("{} has it here", first->second.second));
      return false;
    }
    return true;
  }

  // --- impairments ---

  PartialImpairments parse_impairments(const Json *object, const std::string &pointer) {
    PartialImpairments out;
    if (!object || !object->is_object() || failed(pointer)) {
      return out;
    }
    for (const auto &field : keys_of(*object, pointer)) {
      const std::string child = pointer_append(pointer, field);
      const Json *value = member(object, field.c_str());
      if (!value || failed(child) || value->is_structured() || value->is_boolean() ||
          std::find(k_impairment_fields.begin(), k_impairment_fields.end(), field) ==
              k_impairment_fields.end()) {
        continue; // the schema reported it
      }
      if (auto set = set_impairment_field(out.values, field, text_of(*value, child)); !set) {
        m_reporter.error(at(child), fmt::format("{}: {}", field, set.error().message),
                         set.error().help);
        continue;
      }
      out.given[field] = child;
    }
    return out;
  }

  /// A node's impairments: field by field, the most specific level wins.
  PartialImpairments merged_impairments(const std::vector<Level> &levels) {
    PartialImpairments out;
    for (auto level = levels.rbegin(); level != levels.rend(); ++level) {
      out.overlay(parse_impairments(member(level->object, "impairments"),
                                    pointer_append(level->pointer, "impairments")));
    }
    return out;
  }

  /// Rules between fields (jitter needs a delay, ...), once the levels are merged: reported at
  /// the value at fault, whichever level it comes from.
  void check_direction(const PartialImpairments &merged, const Endpoint &from) {
    for (const auto &problem : check_impairments(merged.values)) {
      auto where = merged.given.find(problem.field);
      const SourceLoc loc = where == merged.given.end() ? from.loc : at(where->second);
      m_reporter.error(
          loc,
          fmt::format("{} on the packets leaving {}:{}", problem.message, from.node, from.iface),
          problem.help);
    }
  }

  /// Names for links written without one: "a-b" when that pair of nodes has one link and no
  /// other link takes the name, else "a.ifa-b.ifb".
  void name_links() {
    std::map<std::pair<std::string, std::string>, int> per_pair;
    std::map<std::string, int> per_short_name;
    std::set<std::string> taken;
    auto pair_of = [](const Link &l) { return std::minmax(l.a.node, l.b.node); };
    for (const auto &link : m_topology.links) {
      ++per_pair[pair_of(link)];
      if (link.name_given) {
        taken.insert(link.name);
      } else {
        ++per_short_name[link.a.node + "-" + link.b.node];
      }
    }
    std::size_t index = 0;
    for (auto &link : m_topology.links) {
      ++index;
      if (link.name_given) {
        continue;
      }
      std::string name = link.a.node + "-" + link.b.node;
      if (per_pair[pair_of(link)] > 1 || per_short_name[name] > 1 || taken.count(name)) {
        name = fmt::format("{}.{}-{}.{}", link.a.node, link.a.iface, link.b.node, link.b.iface);
        if (taken.count(name)) {
          name += fmt::format("-{}", index);
        }
      }
      taken.insert(name);
      link.name = name;
    }
  }

  const YamlTree &m_tree;
  Reporter &m_reporter;
  const SchemaChecker &m_schema;
  std::set<std::string> m_failed;
  fs::path m_base_dir;
  const LoadOptions &m_options;
  std::string_view m_source;
  std::vector<std::size_t> m_line_starts; // offset of each line in m_source
  Topology m_topology;
  const Json *m_defaults = nullptr;
  const Json *m_kinds = nullptr;
  const Json *m_groups = nullptr;
  std::optional<Subnet> m_subnet;
  std::optional<util::Subnet6> m_subnet6;
  bool m_subnet_given = false;           // set, valid or not
  std::vector<std::string> m_node_names; // every node key in the file, valid or not
  std::set<std::string> m_node_set;
  std::map<std::string, Runtime> m_node_runtime;
  /// Link ends in the host's namespace (host and bridge nodes' interfaces): name -> where, link.
  std::map<std::string, std::pair<SourceLoc, std::size_t>> m_host_interfaces;
  /// Each node's kind, for its interface names.
  std::map<std::string, const Kind *> m_node_kind;
  std::set<std::string> m_implicit; // the nodes add_implicit_host added
  std::map<std::string, PartialImpairments> m_node_impairments;
  std::vector<MgmtAddress> m_addresses;
  std::map<std::uint32_t, const MgmtAddress *> m_seen_addresses;
  std::vector<MgmtAddress> m_addresses6;
  bool m_network_given = false; // mgmt.network is written in the file
  std::map<std::string, SourceLoc> m_link_names;
  std::map<std::string, tl::expected<detail::VmImage, detail::VmImageError>> m_vm_images;
  std::set<std::string> m_reported_files; // pointer + path of a vm file already reported
  std::map<std::string, std::pair<SourceLoc, std::size_t>> m_used_interfaces;
  std::map<std::string, std::pair<SourceLoc, std::string>> m_macs; // lower case -> where, whose
  std::map<std::string, bool> m_image_references; // image -> whether Docker takes it
  std::map<std::pair<int, std::string>, std::string> m_published; // host port, proto -> node
  struct NetworkModeEntry {
    std::string node;
    std::string mode;
    std::string pointer;
  };
  std::vector<NetworkModeEntry> m_network_modes;
};

/// containerlab reads `node1:` with nothing after it as a node with no fields of its own (and
/// an empty group or kind entry as an empty map): so does ltb, before the schema sees them.
void empty_entries_as_maps(YamlTree &tree) {
  Json *topology = tree.root.is_object() && tree.root.contains("topology")
                       ? &tree.root["topology"]
                       : nullptr;
  if (!topology || !topology->is_object()) {
    return;
  }
  for (const char *section : {"nodes", "groups", "kinds"}) {
    auto map = topology->find(section);
    if (map == topology->end() || !map->is_object()) {
      continue;
    }
    const std::string base = pointer_append("/topology", section);
    for (auto &[name, value] : map->items()) {
      if (value.is_null()) {
        value = Json::object();
        tree.key_order[pointer_append(base, name)] = {};
      }
    }
  }
}

/// containerlab's extended links with one `endpoint` are made two-ended here, before the links
/// are built, with their far end positioned where the file writes what names it: types host,
/// mgmt-net and macvlan are the brief form's host:IFACE, mgmt-net:IFACE and macvlan:PARENT ends
/// (`host-interface`), and types dummy, vxlan and vxlan-stitch get an end on the implicit node of
/// their type (dummy:IFACE with the endpoint's interface; vxlan:vniN with the `vni`). A link with
/// neither form is an error at its place.
void extended_links_as_endpoints(YamlTree &tree, Reporter &reporter) {
  Json *topology =
      tree.root.is_object() && tree.root.contains("topology") ? &tree.root["topology"] : nullptr;
  if (!topology || !topology->is_object() || !topology->contains("links") ||
      !(*topology)["links"].is_array()) {
    return;
  }
  auto &links = (*topology)["links"];
  for (std::size_t i = 0; i < links.size(); ++i) {
    auto &link = links[i];
    if (!link.is_object()) {
      continue;
    }
    const std::string pointer = pointer_append("/topology/links", i);
    const auto loc = detail::value_loc(tree, pointer);
    const std::string type =
        link.contains("type") && link["type"].is_string() ? link["type"].get<std::string>() : "";
    const bool host_interface = type == "host" || type == "mgmt-net" || type == "macvlan";
    const bool one_end = host_interface || device_link_kind(type).has_value();
    if (!one_end) {
      if (!link.contains("endpoints")) {
        reporter.error(loc, fmt::format("link {} has no endpoints", i + 1),
                       "a link joins two endpoints: endpoints: [\"r1:eth1\", \"r2:eth1\"] "
                       "(containerlab's types host, mgmt-net, macvlan, dummy, vxlan and "
                       "vxlan-stitch take one endpoint instead)");
      }
      continue;
    }
    const std::string needs = host_interface    ? "endpoint and host-interface"
                              : type == "dummy" ? "an endpoint"
                                                : "endpoint, remote and vni";
    if (link.contains("endpoints")) {
      reporter.error(detail::key_loc(tree, pointer_append(pointer, "endpoints")),
                     fmt::format("a link of type {} has one endpoint, not endpoints", type),
                     fmt::format("write {}: endpoint: {{node: NODE, interface: IFACE}}", needs));
      continue;
    }
    const bool has_end = link.contains("endpoint") && link["endpoint"].is_object();
    const bool has_other =
        host_interface ? link.contains("host-interface") && link["host-interface"].is_string()
        : type == "dummy"
            ? true
            : link.contains("remote") && link.contains("vni") && link["vni"].is_number_integer();
    if (!has_end || !has_other) {
      reporter.error(
          loc,
          fmt::format("link {} of type {} needs {}", i + 1, type,
                      !has_end         ? "an endpoint"
                      : host_interface ? "a host-interface"
                                       : "remote and vni"),
          host_interface
              ? "write endpoint: {node: NODE, interface: IFACE} and host-interface: "
                "NAME (the interface's name in the host's namespace)"
              : fmt::format("write {}: endpoint: {{node: NODE, interface: IFACE}}", needs));
      continue;
    }
    const std::string from = pointer_append(pointer, "endpoint");
    const std::string to = pointer_append(pointer_append(pointer, "endpoints"), std::size_t{0});
    // What names the far end, and where the file writes it.
    std::string other_pointer;
    Json other_iface;
    if (host_interface) {
      other_pointer = pointer_append(pointer, "host-interface");
      other_iface = link["host-interface"];
    } else if (type == "dummy") {
      if (!link["endpoint"].contains("interface") || !link["endpoint"]["interface"].is_string()) {
        continue; // the schema reported it
      }
      other_pointer = pointer_append(from, "interface");
      other_iface = link["endpoint"]["interface"];
    } else {
      other_pointer = pointer_append(pointer, "vni");
      other_iface = fmt::format("vni{}", link["vni"].get<long long>());
    }
    const std::string other_end =
        pointer_append(pointer_append(pointer, "endpoints"), std::size_t{1});
    Json node_end = link["endpoint"];
    node_end.erase("mac"); // the link's: read from "endpoint"
    link["endpoints"] = Json::array({node_end, Json{{"node", type}, {"interface", other_iface}}});
    std::vector<std::pair<std::string, detail::Position>> copies;
    for (const auto &[known, position] : tree.positions) {
      if (known == from || known.rfind(from + "/", 0) == 0) {
        copies.emplace_back(to + known.substr(from.size()), position);
      }
    }
    for (auto &[name, position] : copies) {
      tree.positions[name] = position;
    }
    if (auto order = tree.key_order.find(from); order != tree.key_order.end()) {
      auto keys = order->second;
      keys.erase(std::remove(keys.begin(), keys.end(), "mac"), keys.end());
      tree.key_order[to] = keys;
    }
    if (auto it = tree.positions.find(other_pointer); it != tree.positions.end()) {
      const auto position = it->second;
      tree.positions[pointer_append(pointer, "endpoints")] = tree.positions[from];
      for (const auto *child : {"", "/node", "/interface"}) {
        tree.positions[other_end + child] = position;
      }
    }
    tree.key_order[other_end] = {"node", "interface"};
  }
}

constexpr std::string_view k_too_large_help =
    "is this the right file? a lab of 4,096 nodes takes about 150 KiB; keep long startup "
    "configurations in files of their own (startup-config: FILE)";

Diagnostics single_error(const std::string &file, std::string message, std::string help) {
  Diagnostics d;
  d.items.push_back(Diagnostic{Severity::error, file, {}, std::move(message), std::move(help)});
  return d;
}

} // namespace

namespace {

LoadResult load_any_size(const std::string &text, const std::string &file,
                         const std::string &base_dir, const LoadOptions &options) {
  Diagnostics diagnostics;
  diagnostics.source_text = text;
  Reporter reporter(file, diagnostics.items);
  try {
    const SchemaChecker &schema = SchemaChecker::instance();
    // containerlab expands the environment in the text before it reads the YAML; so does ltb,
    // and every position found in the expanded text is mapped back to the file as written.
    std::optional<Expansion> expansion;
    if (options.expand_environment) {
      expansion = expand_environment(
          text, file, options.environment ? options.environment : process_environment());
      for (auto &diagnostic : expansion->diagnostics) {
        diagnostics.items.push_back(std::move(diagnostic));
      }
    }
    const std::string &expanded = expansion ? expansion->text : text;
    const std::size_t before_parse = diagnostics.items.size();
    YamlTree tree = detail::parse_yaml(expanded, reporter);
    if (expansion && expansion->used) {
      for (std::size_t i = before_parse; i < diagnostics.items.size(); ++i) {
        diagnostics.items[i].loc = expansion->original(diagnostics.items[i].loc);
      }
      for (auto &[pointer, position] : tree.positions) {
        position.key = expansion->original(position.key);
        position.value = expansion->original(position.value);
      }
    }
    if (!tree.parsed) {
      return tl::unexpected(std::move(diagnostics));
    }
    empty_entries_as_maps(tree);
    auto failed = schema.validate(tree, reporter, !options.lab_name.empty());
    schema.warn_ignored(tree, reporter);
    extended_links_as_endpoints(tree, reporter);
    std::error_code ec;
    fs::path base = base_dir.empty() ? fs::current_path(ec) : fs::absolute(base_dir, ec);
    Builder builder(tree, text, reporter, schema, std::move(failed), base.lexically_normal(),
                    options);
    Topology topology = builder.build();
    if (diagnostics.has_errors()) {
      return tl::unexpected(std::move(diagnostics));
    }
    // The expanded text is what the lab was made from: loaded again later (ltb down, status, a
    // confined redeploy) it gives the same lab whatever the environment is then.
    topology.text = expanded;
    topology.hash = util::sha256_hex(expanded);
    topology.file = file == "<stdin>" ? file : fs::absolute(file, ec).lexically_normal().string();
    if (options.warnings) {
      *options.warnings = std::move(diagnostics);
    }
    return topology;
  } catch (const std::exception &e) {
    // Only a broken build gets here (the compiled-in schema does not parse, a bad regex).
    reporter.error({}, fmt::format("internal error while loading the topology: {}", e.what()),
                   "please report this as a bug in ltb");
    return tl::unexpected(std::move(diagnostics));
  }
}

} // namespace

LoadResult load_text(const std::string &text, const std::string &file, const std::string &base_dir,
                     const LoadOptions &options) {
  if (text.size() > k_max_topology_bytes) {
    // Text from a template or a daemon's request: refused before it is parsed.
    return tl::unexpected(single_error(
        file,
        fmt::format("the topology is {:.1f} MiB; ltb reads topology files of up to {} MiB",
                    static_cast<double>(text.size()) / (1 << 20), k_max_topology_bytes >> 20),
        std::string(k_too_large_help)));
  }
  return load_any_size(text, file, base_dir, options);
}

LoadResult load_recorded(const std::string &text, const std::string &file, const std::string &id,
                         const std::string &fallback_dir, LoadOptions options) {
  options.lab_name = id;
  options.lab_name_is_id = !id.empty();
  options.expand_environment = false; // recorded after expansion
  const std::string base =
      file.empty() || file.front() != '/' ? fallback_dir : fs::path(file).parent_path().string();
  // Without the size limit: a lab recorded by an ltb that had none must still come down.
  return load_any_size(text, file.empty() ? std::string("<recorded topology>") : file, base,
                       options);
}

tl::expected<std::string, Diagnostics> read_topology_file(const std::string &path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return tl::unexpected(single_error(path, "cannot read the topology file: it is a directory",
                                       "give the path of a YAML file"));
  }
  BoundedRead read = read_bounded(path, k_max_topology_bytes);
  if (read.too_large) {
    return tl::unexpected(
        single_error(path,
                     fmt::format("the file is {}; ltb reads topology files of up to {} MiB",
                                 size_text(read, k_max_topology_bytes), k_max_topology_bytes >> 20),
                     std::string(k_too_large_help)));
  }
  if (read.error != 0) {
    return tl::unexpected(single_error(
        path, fmt::format("cannot read the topology file: {}", std::strerror(read.error)),
        "check the path and the file's permissions"));
  }
  return std::move(read.text);
}

LoadResult load_file(const std::string &path, const LoadOptions &options) {
  auto content = read_topology_file(path);
  if (!content) {
    return tl::unexpected(std::move(content.error()));
  }
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec).lexically_normal();
  auto result = load_text(*content, path, absolute.parent_path().string(), options);
  if (result) {
    result->file = absolute.string();
  }
  return result;
}

} // namespace ltb::topology
