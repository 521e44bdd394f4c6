#pragma once
// Kinds as data: everything ltb knows about each node kind, in one table (kinds.cpp). The loader,
// the schema check, the model's defaults, the capacity demand and the man page's kind table all
// read it; outside this registry and the runtime drivers, no code branches on a kind's name, only
// on its Runtime. A container kind that needs no code of its own is one entry here plus its line
// in ltb-topology(5) (tests/unit/test_topology_kinds.cpp checks the schema and the man page).

#include "topology/model.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::topology {

/// Which node fields a kind takes. Fields not named here follow the schema. The texts are
/// templates: {field} is the field, {node} the node's name, {kind} the kind's.
struct KindFields {
  /// When true, only `listed` apply and every other field set on such a node is an error (a
  /// bridge has no image, address or processes); when false, `listed` are the fields refused.
  bool only_listed = false;
  std::span<const std::string_view> listed;
  std::string_view message_on_node; // the error for a refused field set on a node
  std::string_view message_on_kind; // ... set under topology.kinds.KIND
  std::string_view help_on_node;
  std::string_view help_on_kind;
};

/// What a node of the kind counts against the host's capacity when it sets no cpus or memory.
struct KindDemand {
  bool none = false;             // needs nothing (a bridge)
  double cpus = 0;               // 0 = `ltb config`'s container-cpus
  std::int64_t memory_bytes = 0; // 0 = `ltb config`'s container-memory
  /// Disk: the node's disk-size, else `ltb config`'s vm-disk when it has a base disk (its image).
  bool disk = false;
};

/// One Ansible variable of a kind's hosts in the lab's inventory.yml; `value` is YAML as written.
struct AnsibleVar {
  std::string_view name;
  std::string_view value;
};

struct Kind {
  std::string_view name;
  Runtime runtime;
  std::string_view default_image;       // empty: the file must give one
  std::string_view startup_config_path; // where startup-config goes in the node; empty = none
  std::string_view username;            // the login of ltb's image for the kind; empty = none
  std::string_view password;            // empty = none (keys only)
  double default_cpus = 0;              // the node's size when the file sets none; 0 = no limit
  std::int64_t default_memory_bytes = 0;
  KindDemand demand;
  KindFields fields;
  std::string_view about;        // what a node of the kind is: "a container running FRRouting"
  std::string_view entry_note;   // said of topology.kinds.KIND in the schema; empty = nothing
  std::string_view runtime_text; // for the man page's table: "container", "VM", ...
  /// `ltb save`: the command that prints the node's running configuration into saved_config
  /// (empty: the startup-config file as the node has it is saved), and one that makes the node
  /// keep that configuration itself (empty: none).
  std::span<const std::string_view> running_config_command = {};
  std::span<const std::string_view> keep_config_command = {};
  /// What keep_config_command prints when it kept the configuration (FRR's `[OK]`: it also
  /// complains that it cannot rename the mounted file aside first, and writes it in place).
  std::string_view keep_config_ok = {};
  std::string_view saved_config = {}; // file name in DIR/NODE/
  /// `ltb inspect`: the command that makes a running node print its software's version (empty:
  /// the kind reports none), and the pattern (ECMAScript, matched against each line of its
  /// output) whose first group is that version.
  std::span<const std::string_view> version_command = {};
  std::string_view version_pattern = {};
  /// A container of the kind in a confined lab (a non-admin's; ltb-topology(5), CONFINEMENT):
  /// every capability is dropped and these (Docker's names, without CAP_) added back; the
  /// sysctls ("net.ipv4.ip_forward=1") are set as it is made, since /proc/sys is read-only in it.
  std::span<const std::string_view> confined_capabilities = {};
  std::span<const std::string_view> confined_sysctls = {};
  /// The access files: whether the kind's image runs an ssh server. Without one (and without
  /// the node label ltb-sshd: "true"), ssh_config leaves the node out and inventory.yml reaches
  /// it through Docker's connection.
  bool sshd = false;
  /// inventory.yml: the variables of the kind's group (ansible_connection, ansible_network_os).
  std::span<const AnsibleVar> ansible_vars = {};
};

/// Every kind, in the order the documentation lists them.
std::span<const Kind> kinds();

/// The kind named NAME, or nullptr.
const Kind *find_kind(std::string_view name);

/// The runtime of a kind known only by its name (a state record): Runtime::container for a kind
/// this ltb does not know, as a newer ltb may have recorded one.
Runtime runtime_of_kind(std::string_view name);

/// The names of every kind, in order.
std::vector<std::string> kind_names();

/// "linux, frr, vm and ovs-bridge".
std::string kind_names_text();

/// For a kind of containerlab that ltb does not have but offers something for: what to use
/// instead (containerlab's `bridge`: ovs-bridge). nullopt for other names.
std::optional<std::string_view> foreign_kind_help(std::string_view name);

/// The login of a kind in words: "root, password ltb", "root, no password" or "none".
std::string login_text(const Kind &kind);

/// The version in the output of KIND's version_command (the first line version_pattern
/// matches); nullopt when none matches or the kind has no pattern.
std::optional<std::string> running_version(const Kind &kind, std::string_view output);

/// "NET_ADMIN, NET_RAW" or "none".
std::string confined_capabilities_text(const Kind &kind);

/// The man page's kind tables (scdoc), generated from the registry: ltb-topology(5) holds it
/// between the comment lines `; kinds table begin` and `; kinds table end`, and a unit
/// test checks that it is current.
std::string kinds_man_table();

} // namespace ltb::topology
