#include "topology/model.hpp"

#include "topology/kinds.hpp"
#include "util/hash.hpp"
#include "util/ipv4.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ltb::topology {

const Node *Topology::find_node(const std::string &node_name) const {
  auto it = std::find_if(nodes.begin(), nodes.end(),
                         [&](const Node &node) { return node.name == node_name; });
  return it == nodes.end() ? nullptr : &*it;
}

std::optional<PortMapping> parse_port_mapping(std::string_view text) {
  PortMapping mapping;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    mapping.protocol = std::string(text.substr(slash + 1));
    text = text.substr(0, slash);
  }
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    auto colon = text.find(':', start);
    parts.push_back(text.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) {
      break;
    }
    start = colon + 1;
  }
  auto number = [](std::string_view digits) {
    int value = 0;
    if (digits.empty() || digits.size() > 5) {
      return 0;
    }
    for (char c : digits) {
      if (c < '0' || c > '9') {
        return 0;
      }
      value = value * 10 + (c - '0');
    }
    return value > 65535 ? 0 : value;
  };
  if (parts.size() < 2 || parts.size() > 3 ||
      (mapping.protocol != "tcp" && mapping.protocol != "udp")) {
    return std::nullopt;
  }
  if (parts.size() == 3) {
    if (!util::parse_ipv4(parts[0])) {
      return std::nullopt;
    }
    mapping.host_ip = std::string(parts[0]);
  }
  mapping.host_port = number(parts[parts.size() - 2]);
  mapping.port = number(parts.back());
  if (mapping.host_port == 0 || mapping.port == 0) {
    return std::nullopt;
  }
  return mapping;
}

Login default_login(std::string_view kind) {
  if (const Kind *info = find_kind(kind)) {
    return {std::string(info->username), std::string(info->password)};
  }
  return {};
}

std::string node_config_hash(const Node &node) {
  // nlohmann::json keeps object keys sorted, so the serialisation is canonical. Name, group and
  // position are left out: renaming a group or moving a node in the file changes nothing running.
  nlohmann::json j;
  j["kind"] = node.kind;
  j["image"] = node.image;
  j["cmd"] = node.cmd;
  j["entrypoint"] = node.entrypoint;
  j["env"] = node.env;
  j["labels"] = node.labels;
  j["binds"] = node.binds;
  j["exec"] = node.exec;
  j["mgmt_ipv4"] = node.mgmt_ipv4 ? nlohmann::json(*node.mgmt_ipv4) : nlohmann::json(nullptr);
  j["cpus"] = node.cpus;
  j["memory_bytes"] = node.memory_bytes;
  j["startup_config_text"] = node.startup_config_text;
  j["startup_config_path"] = node.startup_config_path;
  // containerlab's container options, each only when set: the hashes of nodes recorded before
  // ltb knew them stay as they were.
  if (!node.ports.empty()) {
    j["ports"] = node.ports;
  }
  if (!node.network_mode.empty()) {
    j["network_mode"] = node.network_mode;
  }
  if (node.mgmt_ipv6) {
    j["mgmt_ipv6"] = *node.mgmt_ipv6;
  }
  if (node.healthcheck) {
    const auto &h = *node.healthcheck;
    j["healthcheck"] = {{"test", h.test},
                        {"interval", h.interval},
                        {"timeout", h.timeout},
                        {"start_period", h.start_period},
                        {"retries", h.retries}};
  }
  if (!node.dns_servers.empty() || !node.dns_search.empty() || !node.dns_options.empty()) {
    j["dns"] = {
        {"servers", node.dns_servers}, {"search", node.dns_search}, {"options", node.dns_options}};
  }
  if (!node.sysctls.empty()) {
    j["sysctls"] = node.sysctls;
  }
  if (!node.cap_add.empty()) {
    j["cap_add"] = node.cap_add;
  }
  if (!node.devices.empty()) {
    j["devices"] = node.devices;
  }
  if (node.shm_size_bytes > 0) {
    j["shm_size_bytes"] = node.shm_size_bytes;
  }
  // Only when set, so that the hashes of nodes recorded before confinement existed stay as they
  // were.
  if (node.confined) {
    j["confined"] = true;
  }
  // VM fields only for VMs: adding keys for containers would change the hash of every container
  // recorded before VMs existed, and `ltb up` would recreate them all. For a VM, `image` is the
  // absolute path of its base disk, so a different disk means a new VM too.
  if (node.runtime == Runtime::vm) {
    j["runtime"] = "vm"; // a constant of the hash's format, recorded in state: never renamed
    j["kernel"] = node.kernel;
    j["initrd"] = node.initrd;
    j["cmdline"] = node.cmdline;
    j["disk_size_bytes"] = node.disk_size_bytes;
    j["nic_model"] = node.nic_model;
    j["accel"] = node.accel == Accel::kvm ? "kvm" : node.accel == Accel::qemu ? "qemu" : "auto";
  }
  return util::sha256_hex(j.dump());
}

const char *to_string(LinkKind kind) {
  switch (kind) {
  case LinkKind::macvlan:
    return "macvlan";
  case LinkKind::dummy:
    return "dummy";
  case LinkKind::vxlan:
    return "vxlan";
  case LinkKind::vxlan_stitch:
    return "vxlan-stitch";
  case LinkKind::veth:
    break;
  }
  return "veth";
}

std::optional<LinkKind> device_link_kind(std::string_view node) {
  for (auto kind : {LinkKind::macvlan, LinkKind::dummy, LinkKind::vxlan, LinkKind::vxlan_stitch}) {
    if (node == to_string(kind)) {
      return kind;
    }
  }
  return std::nullopt;
}

std::string describe_device(LinkKind kind, const LinkDevice &device, const std::string &parent) {
  std::string out = to_string(kind);
  if (!device.mac.empty()) {
    out += " mac=" + device.mac;
  }
  if (kind == LinkKind::macvlan) {
    out += " parent=" + parent + " mode=" + device.mode;
  }
  if (kind == LinkKind::vxlan || kind == LinkKind::vxlan_stitch) {
    out += fmt::format(" remote={} vni={} dst-port={}", device.remote, device.vni, device.dst_port);
    if (device.src_port != 0) {
      out += fmt::format(" src-port={}", device.src_port);
    }
    if (!device.parent.empty()) {
      out += " parent=" + device.parent;
    }
  }
  return out;
}

std::string link_key(const Link &link) {
  std::string a = link.a.node + ":" + link.a.iface;
  std::string b = link.b.node + ":" + link.b.iface;
  if (b < a) {
    std::swap(a, b);
  }
  return a + "|" + b;
}

} // namespace ltb::topology
