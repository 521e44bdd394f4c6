#pragma once
// The topology model: what a lab file says, after inheritance (node -> group -> kind -> defaults) is
// resolved and paths are made absolute. Loading and validation live beside it (loader.hpp,
// diagnostics.hpp). This folder depends only on util/.

#include "topology/impairments.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::topology {

/// 1-based line and column in the topology file; 0 when unknown.
struct SourceLoc {
  int line = 0;
  int column = 0;
};

/// What runs a node. linux_bridge and host are the host's own: a Linux bridge in its namespace
/// (kind bridge), and the host itself (kind host, the implicit end of `host:IFACE` links).
/// external: a container that ltb did not make, named as the node (kind ext-container).
enum class Runtime { container, ovs_bridge, vm, linux_bridge, host, external };

/// containerlab's implicit nodes of endpoints "host:IFACE" (an interface in the host's
/// namespace) and "mgmt-net:IFACE" (one that is a port of the management network's bridge): the
/// loader adds them, of kind host, when the file has no node of that name.
inline constexpr const char *k_host_node = "host";
inline constexpr const char *k_mgmt_net_node = "mgmt-net";

/// A container or a VM: something ltb runs, with a management address, exec and access. The
/// other runtimes are bridges and the host.
inline bool is_workload(Runtime runtime) {
  return runtime == Runtime::container || runtime == Runtime::vm;
}

/// How a VM is accelerated: KVM, software emulation (TCG), or KVM where it really works.
enum class Accel { automatic, kvm, qemu };

/// One of containerlab's `ports` ("[HOST-IP:]HOST-PORT:PORT[/tcp|udp]", docker run -p's form).
struct PortMapping {
  std::string host_ip; // empty = every IPv4 address
  int host_port = 0;
  int port = 0;
  std::string protocol = "tcp";
  bool operator==(const PortMapping &) const = default;
};

/// The mapping TEXT writes; nullopt when it is not of that form (ports 1 to 65535, tcp or udp,
/// an IPv4 host address).
std::optional<PortMapping> parse_port_mapping(std::string_view text);

/// containerlab's `healthcheck` (Docker's HEALTHCHECK); times in seconds, 0 = Docker's default.
struct Healthcheck {
  std::vector<std::string> test; // ["CMD", argv...] or ["CMD-SHELL", "command"]
  int interval = 0;
  int timeout = 0;
  int start_period = 0;
  int retries = 0;
  bool operator==(const Healthcheck &) const = default;
};

/// One `stages.STAGE.wait-for` entry of containerlab: this node's STAGE begins once NODE has
/// reached (finished) ITS_STAGE.
struct WaitFor {
  std::string stage;     // this node's: create, create-links, configure, healthy
  std::string node;      // the node waited for
  std::string its_stage; // create, create-links, configure, healthy (default create)
  SourceLoc loc;
};

struct Node {
  std::string name;
  std::string kind; // a name from the kind registry (kinds.hpp)
  Runtime runtime = Runtime::container;
  std::string group; // empty when none
  std::string image;
  std::string cmd;        // shell-split into Cmd; empty = image default
  std::string entrypoint; // shell-split into Entrypoint; empty = image default
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> labels;
  std::vector<std::string> binds; // "src:dst[:opts]", src made absolute
  std::vector<std::string> exec;  // run with `sh -c` inside the node after its links are wired
  std::optional<std::string> mgmt_ipv4; // as written in the file (validated to be in the subnet)
  SourceLoc mgmt_ipv4_loc;              // where it is written (an existing network's subnet is
                                        // checked when the lab is planned)
  std::optional<std::string> mgmt_ipv6; // containerlab's mgmt-ipv6, canonical (in ipv6_subnet)
  SourceLoc mgmt_ipv6_loc;
  // containerlab's container options (ltb-topology(5), NODES); each part of the hash when set.
  std::vector<std::string> ports; // "[HOST-IP:]HOST-PORT:PORT[/tcp|udp]", as written
  std::string network_mode;       // "" (the management network), host, none, container:NODE
  std::optional<Healthcheck> healthcheck;
  std::vector<std::string> dns_servers;
  std::vector<std::string> dns_search;
  std::vector<std::string> dns_options;
  std::map<std::string, std::string> sysctls;
  std::vector<std::string> cap_add;
  std::vector<std::string> devices; // host paths, mapped to the same path in the node
  std::int64_t shm_size_bytes = 0;  // 0 = Docker's 64 MiB
  std::vector<WaitFor> wait_for;    // stages.*.wait-for
  int startup_delay = 0;            // seconds before the node is created
  double cpus = 0;                      // 0 = no limit
  std::int64_t memory_bytes = 0;        // 0 = no limit
  std::string startup_config;           // absolute path of a file; empty = none
  std::string startup_config_text;      // the file's content (or inline text), part of the hash
  std::string startup_config_path;      // where it is placed inside the node
  // VM nodes (Runtime::vm). `image` is then the absolute path of a base disk, or empty when the
  // VM boots a kernel directly.
  std::string kernel;  // absolute path; empty = boot from the disk
  std::string initrd;  // absolute path
  std::string cmdline; // kernel command line (ltb appends the management address)
  std::int64_t disk_size_bytes = 0; // overlay size; 0 = the base disk's size
  std::string nic_model = "virtio";
  Accel accel = Accel::automatic;
  // How `ltb ssh` and the access files log in: the file's values, else the kind's (default_login).
  // Not part of the node's configuration hash: ltb uses them, the node does not change with them.
  std::string username;
  std::string password; // empty = none: the lab's key (or ssh_key) only
  std::string ssh_key;  // absolute path of a private key file; empty = the lab's key only
  /// The node's lab is confined (deployed for a user who is not an admin): set by the service
  /// from the caller, never from the file. Part of the configuration hash.
  bool confined = false;
  SourceLoc loc;
};

struct Endpoint {
  std::string node;
  std::string iface;
  SourceLoc loc;
};

/// How a link is made, by containerlab's link types. veth stands for every link whose ends decide
/// (a veth pair, a VM's tap, a segment's port, a veth to the host or a Linux bridge); the others
/// are one device in the node at end a, and end b is the implicit node of that name (kind host:
/// `macvlan:PARENT`, `dummy:IFACE`, `vxlan:vniN`, `vxlan-stitch:vniN`).
enum class LinkKind { veth, macvlan, dummy, vxlan, vxlan_stitch };

/// containerlab's name of the type, which is also the implicit node of its far end ("macvlan",
/// "vxlan-stitch"); "veth" for veth.
const char *to_string(LinkKind kind);
/// The device link type whose implicit node is NODE; nullopt for any other name.
std::optional<LinkKind> device_link_kind(std::string_view node);

/// containerlab's default UDP port of its vxlan links (links/link_vxlan.go): not 4789, which
/// firewalls may filter or other overlays use.
inline constexpr int k_vxlan_default_port = 14789;

/// The parameters of a device link (LinkKind other than veth), as containerlab defines them.
struct LinkDevice {
  std::string mac;             // of the node's interface; "" = the kernel's
  std::string mode = "bridge"; // macvlan: private, vepa, bridge, passthru, source
  std::string remote;          // vxlan, vxlan-stitch: the remote tunnel end's address
  unsigned vni = 0;
  int dst_port = k_vxlan_default_port; // dst-port (or udp-port, its old name)
  int src_port = 0;                    // 0 = the kernel's range
  std::string parent;                  // vxlan: parent-interface ("" = by the route to the remote)
  bool operator==(const LinkDevice &) const = default;
};

/// A device link's parameters as one line ("vxlan remote=10.0.0.2 vni=42 ..."), recorded with
/// what is made: a change means making it again.
std::string describe_device(LinkKind kind, const LinkDevice &device, const std::string &parent);

struct Link {
  LinkKind kind = LinkKind::veth;
  LinkDevice device; // for kinds other than veth
  std::string name; // as written, or generated (see generated_link_name)
  bool name_given = false;
  Endpoint a;
  Endpoint b;
  int mtu = 0; // 0 = kernel default
  // What the link does to the packets leaving end a (a -> b) and end b (b -> a): the endpoint's
  // `impairments`, over the link's, over the node's (node, group, kind, defaults), field by field.
  Impairments impair_a;
  Impairments impair_b;
  // The file sets impairments for that direction (at any level, even to zero): then the file's
  // values win over a run-time change (`ltb link set`) at the next `ltb up`.
  bool impair_a_set = false;
  bool impair_b_set = false;
  SourceLoc loc;
};

/// The management network. mgmt.network may name a Docker network that exists and that ltb did
/// not make (Docker's `bridge`, a user's network): the nodes join it, and ltb never changes or
/// removes it. A name that no network has is made by ltb and removed with the lab.
struct Mgmt {
  std::string network;     // Docker network name; default "ltb-<lab>"
  SourceLoc network_loc;   // of mgmt.network in the file; 0:0 for the default
  std::string ipv4_subnet; // CIDR; empty = allocated by ltb from 172.20.0.0/16 in /24 steps
  SourceLoc ipv4_subnet_loc; // of mgmt.ipv4-subnet; 0:0 when not written
  /// ipv4_subnet is containerlab's default (172.20.20.0/24, nodes set mgmt-ipv4 without a
  /// subnet), not the file's: an existing network's own subnet replaces it.
  bool ipv4_subnet_default = false;
  /// Dual stack (containerlab's mgmt.ipv6-subnet, canonical): empty = IPv4 only. A node's
  /// mgmt-ipv6 without it: containerlab's default 3fff:172:20:20::/64 (ipv6_subnet_default).
  std::string ipv6_subnet;
  SourceLoc ipv6_subnet_loc;
  bool ipv6_subnet_default = false;
  std::string ipv6_gateway;     // mgmt.ipv6-gw; empty = Docker's (the subnet's first address)
  bool external_access = false; // false = isolated (internal network, no NAT)
};

enum class OvsDatapath { automatic, system, netdev };

/// Who applies link impairments: the kernel's netem and tbf, ltb's userspace relay, or the kernel
/// where it has netem and the relay elsewhere (settings.impairments).
enum class ImpairmentPath { automatic, kernel, relay };

struct Topology {
  std::string name;
  std::string file; // absolute path, or "<stdin>"
  std::string text; // the file's bytes, recorded in state
  std::string hash; // sha256 of text, hex
  Mgmt mgmt;
  OvsDatapath ovs_datapath = OvsDatapath::automatic;
  ImpairmentPath impairment_path = ImpairmentPath::automatic;
  /// settings.exec-failures: fail: a failing exec command fails its node (and `ltb up`);
  /// otherwise it is reported and the rest goes on, as containerlab does.
  bool exec_failures_fatal = false;
  /// containerlab's `prefix` of container names (plan::container_name); nullopt: ltb's own.
  std::optional<std::string> container_prefix;
  SourceLoc container_prefix_loc;
  std::vector<Node> nodes; // in file order
  std::vector<Link> links; // in file order
  /// Loaded for a confined lab (LoadOptions::confined): the file was checked for what only admins
  /// may use.
  bool confined = false;

  const Node *find_node(const std::string &name) const;
};

/// The login of a node of KIND that sets none: what ltb's own images accept (the kind registry's
/// username and password, kinds.hpp). Empty for kinds without one and for unknown kinds.
struct Login {
  std::string username;
  std::string password;
};
Login default_login(std::string_view kind);

/// A stable digest of everything that, when changed, means the node must be recreated.
std::string node_config_hash(const Node &node);

/// The key that identifies a link independent of its name and of endpoint order: "a:x|b:y" sorted.
std::string link_key(const Link &link);

} // namespace ltb::topology
