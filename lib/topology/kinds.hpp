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

/// An interface alias of a vendor kind: a name as the network OS writes it (SR Linux's
/// `ethernet-1/1`) and the Linux name of the interface in the node (`e1-1`). `linux` is an fmt
/// format whose arguments are the pattern's groups (numbers), the last one plus `add`.
struct InterfaceAlias {
  std::string_view pattern; // ECMAScript, matched against the whole name
  std::string_view linux;   // "e{}-{}"
  int add = 0;              // added to the last group (vrnetlab's ge-0/0/0 is eth1)
};

/// How a kind's interfaces are named in links. A kind with no linux_pattern takes any valid Linux
/// name; one with a pattern takes its Linux names and its aliases, and nothing else.
struct InterfaceNaming {
  std::string_view linux_pattern; // ECMAScript, whole name; empty: any Linux name
  std::span<const InterfaceAlias> aliases = {};
  std::string_view help = {}; // "ethernet-L/P or ethernet-L/P/C, or e1-1, ..."
};

/// A directory of the node's own, in the lab directory (LAB_DIR/NODE/dir), mounted at target: a
/// vendor image keeps its configuration there (SR Linux's /etc/opt/srlinux).
struct KindMount {
  std::string_view dir;
  std::string_view target;
};

/// An environment variable a kind's containers get unless the file sets it.
struct KindEnv {
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
  // What a vendor's image needs to run (containerlab's kind of the same name does the same), each
  // under what the file sets: the loader fills a node's env, cmd, entrypoint, sysctls, exec and
  // healthcheck from them, and the container driver mounts the node's directories. No code
  // outside this registry branches on a vendor kind.
  /// containerlab's other names of the kind (`srl` for nokia_srlinux); a node's kind is stored
  /// under `name`.
  std::span<const std::string_view> other_names = {};
  std::span<const KindEnv> env = {};
  std::string_view cmd = {};        // the node's cmd when the file sets none
  std::string_view entrypoint = {}; // the node's entrypoint when the file sets none
  std::span<const KindMount> mounts = {};
  std::span<const std::string_view> sysctls = {}; // "name=value", under the file's
  /// Commands run in the node after its links are up, before the file's exec (SONiC's agents,
  /// which must start once the interfaces exist).
  std::span<const std::string_view> exec = {};
  /// A shell command that succeeds once the node's software is ready: the node's healthcheck
  /// when the file gives none, so `ltb status` and `wait-for: healthy` follow it.
  std::string_view readiness = {};
  InterfaceNaming interfaces = {};
  /// A vrnetlab kind (containerlab runs a VM inside a container): ltb runs it as its own VM,
  /// from the qcow2 disk inside the vrnetlab image; a container image given is an error.
  bool vrnetlab = false;
  std::string_view documentation = {}; // containerlab's page of the kind
};

/// A vendor's kind (containerlab's manual has its page): it runs only its vendor's images.
inline bool is_vendor_kind(const Kind &kind) {
  return !kind.documentation.empty();
}

/// Every kind, in the order the documentation lists them.
std::span<const Kind> kinds();

/// The kind named NAME, or nullptr.
const Kind *find_kind(std::string_view name);

/// The runtime of a kind known only by its name (a state record): Runtime::container for a kind
/// this ltb does not know, as a newer ltb may have recorded one.
Runtime runtime_of_kind(std::string_view name);

/// A link end's interface NAME on a node of KIND, as the node's Linux interface: an alias mapped
/// (`ethernet-1/1` -> `e1-1`), a Linux name as it is. `problem` says why NAME fits neither.
struct InterfaceName {
  std::string linux;
  std::string problem;
  bool alias = false;
};
InterfaceName linux_interface(const Kind &kind, std::string_view name);

/// IFACE of a node of the kind named KIND as its Linux name: an alias mapped, anything else as it
/// is (for commands that take NODE:IFACE of a running lab: `ltb capture`, `ltb link`).
std::string linux_interface_name(std::string_view kind, std::string_view iface);

/// The names a kind is known by: its name, then its other names.
std::vector<std::string> names_of(const Kind &kind);

/// The names of every kind (each kind's other names after it), in order.
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
