#include "access/access_files.hpp"

#include "plan/names.hpp"
#include "topology/vm_image.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace ltb::access {

namespace {

using nlohmann::json;

/// A string as a double-quoted scalar; JSON's escapes are YAML's too.
std::string quoted(const std::string &text) {
  return json(text).dump();
}

/// A mapping key left plain when YAML 1.1 (Ansible's reader) would take it as a string.
std::string yaml_key(const std::string &name) {
  static const std::set<std::string> k_special{"y",     "n",  "yes", "no",   "true",
                                               "false", "on", "off", "null", "~"};
  std::string lower;
  for (char c : name) {
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  const bool plain = !name.empty() && std::isalpha(static_cast<unsigned char>(name[0])) &&
                     std::all_of(name.begin(), name.end(),
                                 [](char c) {
                                   return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                                          c == '-' || c == '.';
                                 }) &&
                     !k_special.count(lower);
  return plain ? name : quoted(name);
}

/// An Ansible group name: letters, digits and '_' (Ansible warns about anything else).
std::string group_name(const std::string &name) {
  std::string out;
  for (char c : name) {
    out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  }
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) {
    out.insert(0, "g_");
  }
  return out;
}

/// The private keys a node is reached with, the node's own first.
std::vector<std::string> identity_files(const LabAccess &lab, const NodeAccess &node) {
  std::vector<std::string> files;
  if (!node.login.ssh_key.empty()) {
    files.push_back(node.login.ssh_key);
  }
  files.push_back(lab.paths.private_key());
  return files;
}

/// A VM gets the lab's key on its kernel command line (ltb.sshkey), which only ltb's VM images
/// install; a base disk given by path knows nothing of it.
bool vm_takes_key(const topology::Node &node) {
  const std::string images = topology::detail::vm_images_dir().string() + "/";
  return node.image.starts_with(images) || node.kernel.starts_with(images);
}

} // namespace

LabAccess lab_access(const topology::Topology &desired, const std::vector<state::NodeRecord> &nodes,
                     const std::string &lab_dir, const std::string &mgmt_network,
                     const std::string &mgmt_subnet) {
  LabAccess lab;
  lab.lab = desired.name;
  lab.mgmt_network = mgmt_network;
  lab.mgmt_subnet = mgmt_subnet;
  lab.paths = LabPaths{lab_dir};
  std::map<std::string, const state::NodeRecord *> records;
  for (const auto &record : nodes) {
    records[record.name] = &record;
  }
  std::map<std::string, topology::Runtime> runtimes;
  for (const auto &node : desired.nodes) {
    runtimes[node.name] = node.runtime;
  }
  for (const auto &link : desired.links) {
    const auto either = [&](topology::Runtime runtime) {
      return runtimes[link.a.node] == runtime || runtimes[link.b.node] == runtime;
    };
    const bool segment = either(topology::Runtime::ovs_bridge);
    const bool vm = either(topology::Runtime::vm);
    lab.links.push_back({link.name,
                         segment ? "segment"
                         : vm    ? "tap"
                                 : "veth",
                         link.a.node, link.a.iface, link.b.node, link.b.iface, link.mtu});
  }
  for (const auto &node : desired.nodes) {
    if (node.runtime == topology::Runtime::host) {
      continue; // the host itself: no node to reach
    }
    NodeAccess access;
    access.name = node.name;
    access.kind = node.kind;
    access.image = node.image;
    access.group = node.group;
    access.labels = node.labels;
    access.login = {node.username, node.password, node.ssh_key};
    const bool sshd = has_sshd(node);
    if (node.runtime == topology::Runtime::vm) {
      access.connection = Connection::ssh;
      access.key_login = vm_takes_key(node);
    } else if (node.runtime == topology::Runtime::container) {
      access.connection = sshd ? Connection::ssh : Connection::docker;
      access.key_login = !node.username.empty();
    } else if (node.runtime == topology::Runtime::external) {
      access.connection = Connection::docker;
    }
    access.key_login = access.key_login || !node.ssh_key.empty();
    const bool bridge = !topology::is_workload(node.runtime);
    access.runtime_name =
        node.runtime == topology::Runtime::ovs_bridge ? plan::bridge_name(desired.name, node.name)
        : bridge                                      ? node.name // a Linux bridge's own name
        : node.runtime == topology::Runtime::vm
            ? plan::container_name(desired.name, node.name)
            : plan::container_name(desired.name, node.name, desired.container_prefix);
    if (auto it = records.find(node.name); it != records.end() && !bridge) {
      access.address = it->second->mgmt_ipv4;
      access.address6 = it->second->mgmt_ipv6;
      access.interfaces.push_back({"eth0", "mgmt", "", access.address});
    }
    for (const auto &link : desired.links) {
      if (link.a.node == node.name) {
        access.interfaces.push_back(
            {link.a.iface, link.name, link.b.node + ":" + link.b.iface, ""});
      }
      if (link.b.node == node.name) {
        access.interfaces.push_back(
            {link.b.iface, link.name, link.a.node + ":" + link.a.iface, ""});
      }
    }
    lab.nodes.push_back(std::move(access));
  }
  return lab;
}

std::string ssh_config_text(const LabAccess &lab) {
  std::string out = fmt::format(
      "# How to reach the nodes of lab {} with OpenSSH: ssh -F {} NODE\n"
      "# Written by `ltb up`, removed by `ltb down`. Host keys go to the lab's known_hosts, which\n"
      "# ltb keeps (a node that ltb recreates gets its new key accepted).\n",
      lab.lab, lab.paths.ssh_config());
  std::vector<std::string> without_sshd;
  for (const auto &node : lab.nodes) {
    if (node.connection == Connection::docker) {
      without_sshd.push_back(node.name);
    }
  }
  if (!without_sshd.empty()) {
    out +=
        fmt::format("# Not here, having no ssh server: {} (ltb exec NODE, or Docker's connection "
                    "in inventory.yml).\n",
                    fmt::join(without_sshd, ", "));
  }
  for (const auto &node : lab.nodes) {
    if (!node.reachable()) {
      continue;
    }
    out += fmt::format("\nHost {} {}-{}\n", node.name, lab.lab, node.name);
    out += fmt::format("  HostName {}\n  Port {}\n", node.address, node.port);
    if (!node.login.username.empty()) {
      out += fmt::format("  User {}\n", node.login.username);
    }
    for (const auto &file : identity_files(lab, node)) {
      out += fmt::format("  IdentityFile {}\n", quoted(file));
    }
    out += "  IdentitiesOnly yes\n";
    out += fmt::format("  UserKnownHostsFile {}\n", quoted(lab.paths.known_hosts()));
    out += "  StrictHostKeyChecking accept-new\n"
           "  HashKnownHosts no\n"
           "  UpdateHostKeys no\n"
           "  CheckHostIP no\n"
           "  LogLevel ERROR\n";
  }
  return out;
}

std::string inventory_text(const LabAccess &lab) {
  std::string out = fmt::format(
      "# Ansible inventory of lab {}: ansible -i {} GROUP -m MODULE\n"
      "# Written by `ltb up`, removed by `ltb down`. Groups: one per kind (with the kind's\n"
      "# connection: FRR takes network modules such as ansible.netcommon.cli_command), one per\n"
      "# topology group and ansible-group label. Nodes without an ssh server go through Docker\n"
      "# (community.docker.docker); without Python in a node, use -m raw.\n"
      "all:\n"
      "  vars:\n"
      "    ansible_ssh_private_key_file: {}\n"
      "    ansible_ssh_common_args: {}\n"
      "  hosts:\n",
      lab.lab, lab.paths.inventory(), quoted(lab.paths.private_key()),
      quoted(fmt::format("-o UserKnownHostsFile={} -o StrictHostKeyChecking=accept-new "
                         "-o HashKnownHosts=no",
                         lab.paths.known_hosts())));
  std::map<std::string, std::vector<std::string>> groups;
  std::map<std::string, const topology::Kind *> kind_groups;
  bool any = false;
  for (const auto &node : lab.nodes) {
    if (node.connection == Connection::docker) {
      out += fmt::format("    {}:\n      ansible_connection: community.docker.docker\n"
                         "      ansible_host: {}\n",
                         yaml_key(node.name), quoted(node.runtime_name));
    } else if (node.reachable()) {
      out += fmt::format("    {}:\n      ansible_host: {}\n      ansible_port: {}\n",
                         yaml_key(node.name), node.address, node.port);
      if (!node.login.username.empty()) {
        out += fmt::format("      ansible_user: {}\n", quoted(node.login.username));
      }
      if (!node.login.password.empty() && !node.key_login) {
        out += fmt::format("      ansible_password: {}\n", quoted(node.login.password));
      }
      if (!node.login.ssh_key.empty()) {
        out += fmt::format("      ansible_ssh_private_key_file: {}\n", quoted(node.login.ssh_key));
      }
    } else {
      continue;
    }
    any = true;
    if (!node.address6.empty()) {
      out += fmt::format("      ltb_mgmt_ipv6: {}\n", quoted(node.address6));
    }
    out += fmt::format("      ltb_kind: {}\n      ltb_image: {}\n", node.kind, quoted(node.image));
    const std::string kind_group = group_name(node.kind);
    groups[kind_group].push_back(node.name);
    kind_groups[kind_group] = topology::find_kind(node.kind);
    std::vector<std::string> more{node.group};
    if (auto label = node.labels.find(std::string(k_ansible_group_label));
        label != node.labels.end()) {
      more.push_back(label->second);
    }
    for (const auto &group : more) {
      if (group.empty()) {
        continue;
      }
      auto &members = groups[group_name(group)];
      if (std::find(members.begin(), members.end(), node.name) == members.end()) {
        members.push_back(node.name);
      }
    }
  }
  if (!any) {
    out += "    {}\n";
  }
  groups.erase("all");
  groups.erase("ungrouped");
  if (!groups.empty()) {
    out += "  children:\n";
    for (const auto &[group, members] : groups) {
      out += fmt::format("    {}:\n", group);
      const auto kind = kind_groups.find(group);
      if (kind != kind_groups.end() && kind->second && !kind->second->ansible_vars.empty()) {
        out += "      vars:\n";
        for (const auto &var : kind->second->ansible_vars) {
          out += fmt::format("        {}: {}\n", var.name, var.value);
        }
      }
      out += "      hosts:\n";
      for (const auto &member : members) {
        out += fmt::format("        {}:\n", yaml_key(member));
      }
    }
  }
  return out;
}

std::string topology_data_text(const LabAccess &lab) {
  json nodes = json::array();
  for (const auto &node : lab.nodes) {
    json interfaces = json::array();
    for (const auto &iface : node.interfaces) {
      json entry{{"name", iface.name}, {"link", iface.link}};
      if (!iface.peer.empty()) {
        entry["peer"] = iface.peer;
      }
      if (!iface.address.empty()) {
        entry["ipv4"] = iface.address;
      }
      if (iface.link == "mgmt" && !node.address6.empty()) {
        entry["ipv6"] = node.address6;
      }
      interfaces.push_back(std::move(entry));
    }
    json entry{{"name", node.name},
               {"kind", node.kind},
               {"image", node.image},
               {"group", node.group},
               {"labels", node.labels},
               {"runtime_name", node.runtime_name},
               {"mgmt_ipv4", node.address.empty() ? json(nullptr) : json(node.address)},
               {"mgmt_ipv6", node.address6.empty() ? json(nullptr) : json(node.address6)},
               {"interfaces", interfaces}};
    entry["connection"] = node.connection == Connection::ssh      ? json("ssh")
                          : node.connection == Connection::docker ? json("docker")
                                                                  : json(nullptr);
    if (node.reachable()) {
      entry["ssh"] = {{"user", node.login.username},
                      {"port", node.port},
                      {"identity_files", identity_files(lab, node)},
                      {"password", !node.login.password.empty()}};
    }
    nodes.push_back(std::move(entry));
  }
  json links = json::array();
  for (const auto &link : lab.links) {
    links.push_back({{"name", link.name},
                     {"type", link.type},
                     {"endpoints",
                      {{{"node", link.a_node}, {"interface", link.a_iface}},
                       {{"node", link.b_node}, {"interface", link.b_iface}}}},
                     {"mtu", link.mtu > 0 ? json(link.mtu) : json(nullptr)}});
  }
  json out{{"lab", lab.lab},
           {"mgmt", {{"network", lab.mgmt_network}, {"ipv4_subnet", lab.mgmt_subnet}}},
           {"access",
            {{"ssh_config", lab.paths.ssh_config()},
             {"inventory", lab.paths.inventory()},
             {"private_key", lab.paths.private_key()},
             {"known_hosts", lab.paths.known_hosts()}}},
           {"nodes", nodes},
           {"links", links}};
  return out.dump(2) + "\n";
}

bool has_sshd(const topology::Node &node) {
  if (node.runtime == topology::Runtime::vm) {
    return true;
  }
  const topology::Kind *kind = topology::find_kind(node.kind);
  const auto label = node.labels.find(std::string(k_sshd_label));
  return (kind && kind->sshd) || (label != node.labels.end() && label->second == "true");
}

std::string logins_text(const topology::Topology &desired) {
  json nodes = json::object();
  for (const auto &node : desired.nodes) {
    if (!topology::is_workload(node.runtime)) {
      continue;
    }
    nodes[node.name] = {{"username", node.username},
                        {"password", node.password},
                        {"ssh_key", node.ssh_key},
                        {"sshd", has_sshd(node)}};
  }
  return json{{"nodes", nodes}}.dump(2) + "\n";
}

std::map<std::string, NodeLogin> parse_logins(std::string_view text) {
  std::map<std::string, NodeLogin> out;
  const json doc = json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("nodes") || !doc["nodes"].is_object()) {
    return out;
  }
  auto text_of = [](const json &entry, const char *key) {
    auto it = entry.find(key);
    return it != entry.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  for (const auto &[name, entry] : doc["nodes"].items()) {
    if (entry.is_object()) {
      // Files of an older ltb say nothing of sshd: they are taken as having it.
      auto sshd = entry.find("sshd");
      out[name] = {text_of(entry, "username"), text_of(entry, "password"),
                   text_of(entry, "ssh_key"),
                   sshd == entry.end() || !sshd->is_boolean() || sshd->get<bool>()};
    }
  }
  return out;
}

Status write_logins(const std::string &lab_dir, const topology::Topology &desired) {
  std::error_code ec;
  std::filesystem::create_directories(lab_dir, ec);
  return write_private_file(LabPaths{lab_dir}.logins(), logins_text(desired));
}

std::map<std::string, NodeReach> node_reach(const std::string &lab_dir,
                                            const std::vector<state::NodeRecord> &nodes) {
  const LabPaths paths{lab_dir};
  std::ifstream in(paths.logins(), std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const auto logins = parse_logins(text.str());
  std::error_code ec;
  const bool lab_key = std::filesystem::exists(paths.private_key(), ec);
  std::map<std::string, NodeReach> out;
  for (const auto &node : nodes) {
    if (!topology::is_workload(topology::runtime_of_kind(node.kind)) || node.mgmt_ipv4.empty()) {
      continue;
    }
    NodeLogin login;
    if (auto it = logins.find(node.name); it != logins.end()) {
      login = it->second;
      if (!login.sshd) {
        continue; // reached by Docker's exec only
      }
    } else {
      const auto fallback = topology::default_login(node.kind);
      login = {fallback.username, fallback.password, {}};
    }
    NodeReach reach;
    reach.user = login.username.empty() ? "root" : login.username;
    reach.host = node.mgmt_ipv4;
    if (!login.ssh_key.empty() && std::filesystem::exists(login.ssh_key, ec)) {
      reach.identity_files.push_back(login.ssh_key);
    }
    if (lab_key) {
      reach.identity_files.push_back(paths.private_key());
    }
    reach.password = !login.password.empty();
    out[node.name] = std::move(reach);
  }
  return out;
}

Status write_access_files(const LabAccess &lab) {
  LTB_CHECK(write_private_file(lab.paths.ssh_config(), ssh_config_text(lab), 0600));
  LTB_CHECK(write_private_file(lab.paths.inventory(), inventory_text(lab), 0600));
  return write_private_file(lab.paths.topology_data(), topology_data_text(lab), 0600);
}

} // namespace ltb::access
