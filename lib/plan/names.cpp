#include "plan/names.hpp"

#include "util/hash.hpp"

namespace ltb::plan {

namespace {
std::string short_hash(const std::string &text) {
  return util::sha256_hex(text).substr(0, 6);
}
} // namespace

std::string container_name(const std::string &lab, const std::string &node) {
  return "ltb-" + lab + "-" + node;
}

std::string container_name(const std::string &lab, const std::string &node,
                           const std::optional<std::string> &prefix) {
  if (!prefix) {
    return container_name(lab, node);
  }
  if (prefix->empty()) {
    return node;
  }
  if (*prefix == k_prefix_lab_name) {
    return lab + "-" + node;
  }
  return *prefix + "-" + lab + "-" + node;
}

std::string network_name(const std::string &lab) {
  return "ltb-" + lab;
}

std::string mgmt_bridge_name(const std::string &lab) {
  return "lm" + short_hash(lab);
}

std::string bridge_prefix(const std::string &lab) {
  return "lb" + short_hash(lab);
}

std::string veth_prefix(const std::string &lab) {
  return "lv" + short_hash(lab);
}

std::string bridge_name(const std::string &lab, const std::string &node) {
  return bridge_prefix(lab) + short_hash(node);
}

std::string host_veth_name(const std::string &lab, const std::string &link_key,
                           const std::string &end) {
  return veth_prefix(lab) + short_hash(link_key + "#" + end);
}

std::string segment_node_veth_name(const std::string &lab, const std::string &link_key,
                                   const std::string &node) {
  return veth_prefix(lab) + short_hash(link_key + "#" + node + "#joined");
}

std::string park_netns_name(const std::string &lab) {
  return "ltb-park-" + lab;
}

std::string park_iface_name(const std::string &lab, const std::string &link_key,
                            const std::string &end) {
  return "lp" + short_hash(lab) + short_hash(link_key + "#" + end);
}

std::string stopped_netns_name(const std::string &lab, const std::string &node) {
  return container_name(lab, node);
}

std::string vm_mac(const std::string &lab, const std::string &node, int index) {
  auto digest = util::sha256_hex(lab + "/" + node + "/" + std::to_string(index));
  return "52:54:00:" + digest.substr(0, 2) + ":" + digest.substr(2, 2) + ":" + digest.substr(4, 2);
}

} // namespace ltb::plan
