#pragma once
// The files a lab's directory offers other tools once `ltb up` succeeds: an OpenSSH ssh_config
// fragment (`ssh -F`), an Ansible YAML inventory and a JSON description of the topology; and
// logins.json, ltb's own record of each node's login (the file's passwords). Text generation is
// pure; write_*() put the files in place (mode 0600: the inventory and logins hold passwords).

#include "access/keys.hpp"
#include "state/store.hpp"
#include "topology/kinds.hpp"
#include "topology/model.hpp"
#include "util/error.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::access {

/// How to log in to one node, as recorded at `ltb up`.
struct NodeLogin {
  std::string username;
  std::string password; // empty = none
  std::string ssh_key;  // the node's own private key file; empty = the lab's only
  bool sshd = true;     // an ssh server runs in it (has_sshd); false: Docker's exec only
};

/// Whether a node runs an ssh server: a VM, a container of a kind that has one (the kind
/// registry's sshd), or one whose labels say so (ltb-sshd: "true").
bool has_sshd(const topology::Node &node);

struct InterfaceAccess {
  std::string name;
  std::string link;    // link name; "mgmt" for eth0
  std::string peer;    // "node:iface"; empty for eth0
  std::string address; // eth0 only
};

/// How other tools reach a node: OpenSSH (ssh_config, Ansible over ssh), Docker's exec (a
/// container without an ssh server: Ansible's community.docker.docker), or not at all (bridges).
enum class Connection { none, ssh, docker };

/// The node label that says a container's image runs an ssh server its kind does not have.
inline constexpr std::string_view k_sshd_label = "ltb-sshd";
/// containerlab's node label naming one more inventory group.
inline constexpr std::string_view k_ansible_group_label = "ansible-group";

struct NodeAccess {
  std::string name;
  std::string kind;
  std::string image;
  std::string group;
  std::map<std::string, std::string> labels;
  std::string runtime_name; // container or domain name, or the OVS bridge
  std::string address;      // management IPv4; empty for bridges
  std::string address6 = {}; // management IPv6 in a dual-stack lab; else empty
  int port = 22;
  NodeLogin login;
  /// The lab's key (or the node's own ssh-key) logs in, so the password is not needed: a
  /// container's login gets the key as it is made, a VM of an ltb VM image from its command
  /// line.
  bool key_login = false;
  Connection connection = Connection::none;
  std::vector<InterfaceAccess> interfaces;
  bool reachable() const { return connection == Connection::ssh && !address.empty(); }
};

struct LinkAccess {
  std::string name;
  std::string type; // "veth", "segment" (one end an ovs-bridge), "tap" (one end a VM)
  std::string a_node, a_iface, b_node, b_iface;
  int mtu = 0; // 0 = the kernel's default
};

struct LabAccess {
  std::string lab;
  std::string mgmt_network;
  std::string mgmt_subnet;
  LabPaths paths;
  std::vector<NodeAccess> nodes; // in file order
  std::vector<LinkAccess> links; // in file order
};

/// The lab as the access files show it: the file's nodes and links with the addresses and
/// runtime names from state.
LabAccess lab_access(const topology::Topology &desired, const std::vector<state::NodeRecord> &nodes,
                     const std::string &lab_dir, const std::string &mgmt_network,
                     const std::string &mgmt_subnet);

std::string ssh_config_text(const LabAccess &lab);
std::string inventory_text(const LabAccess &lab);
std::string topology_data_text(const LabAccess &lab);

/// logins.json: each node's login from the file (written before the nodes are made, so that a
/// lab whose `ltb up` failed halfway can still be reached).
std::string logins_text(const topology::Topology &desired);
std::map<std::string, NodeLogin> parse_logins(std::string_view text);

Status write_logins(const std::string &lab_dir, const topology::Topology &desired);

/// How to reach one node, for `ltb inspect`.
struct NodeReach {
  std::string user;
  std::string host;
  int port = 22;
  std::vector<std::string> identity_files; // those that exist: the node's own key, the lab's
  bool password = false;
};

/// Each reachable node's login as recorded at `ltb up` (the kind's default for a lab deployed
/// before ltb recorded logins); bridges and nodes without an address are left out.
std::map<std::string, NodeReach> node_reach(const std::string &lab_dir,
                                            const std::vector<state::NodeRecord> &nodes);
/// Writes ssh_config, inventory.yml and topology-data.json.
Status write_access_files(const LabAccess &lab);

} // namespace ltb::access
